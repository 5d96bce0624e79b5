//! `workflow.diagram`: a deployed version's diagram interchange (BPMNDI),
//! attached after the deployment in chunks (see `ingot_bpmn::diagram`).
//!
//! The layout of a real modeler's file is most of its bytes but changes
//! nothing the process does, so it does not count toward the deployable
//! size. The deployer's organisation sends it in order, chunk 0 first (which
//! also restarts an unfinished upload); the last chunk completes it, and the
//! chain then checks the digest declared with every chunk and that the bytes
//! are layout only, inserted whole between children of `<definitions>`. An
//! attached diagram is final: the readers' file (`GET .../xml`) is the
//! designer's file, byte for byte.
//!
//! State: `workflow/diagram/<name>/<version>` → [`DiagramRecord`];
//! `workflow/diagchunk/<name>/<version>/<index>` → the chunks' text.

use crate::{def_key, failures, xml_key, Definition, MAX_DEF_NAME, NAME};
use commonware_codec::{Decode, Encode};
use ingot_bpmn::diagram::{check_joined, MAX_DIAGRAM_BYTES, MAX_DIAGRAM_CHUNK_BYTES};
use ingot_module::{corrupt, event, reject, CallError, Store, TxContext};
use ingot_types::Event;

ingot_types::record! {
    /// workflow.diagram: one chunk of a deployed version's diagram.
    pub struct DiagramArg {
        pub definition: String = MAX_DEF_NAME,
        pub version: u32 = (),
        /// Where the diagram goes in the deployed document (byte offset).
        pub offset: u32 = (),
        /// Bytes of the whole diagram.
        pub total: u32 = (),
        /// SHA-256 of the whole diagram.
        pub sha256: [u8; 32] = (),
        pub index: u16 = (),
        pub chunk: String = MAX_DIAGRAM_CHUNK_BYTES,
    }
}

ingot_types::record! {
    /// What has arrived of a version's diagram.
    pub struct DiagramRecord {
        pub offset: u32 = (),
        pub total: u32 = (),
        pub sha256: [u8; 32] = (),
        pub chunks: u16 = (),
        pub received: u32 = (),
        /// Complete and checked; nothing may change it any more.
        pub attached: bool = (),
    }
}

pub fn diagram_key(name: &str, version: u32) -> Vec<u8> {
    format!("workflow/diagram/{name}/{version:010}").into_bytes()
}
fn chunk_key(name: &str, version: u32, index: u16) -> Vec<u8> {
    format!("workflow/diagchunk/{name}/{version:010}/{index:05}").into_bytes()
}

fn damaged(what: &str) -> CallError {
    CallError::Rejected(
        ingot_module::failure::tx::CORRUPT_STATE.with(&[("what", what.to_string())]),
    )
}

fn invalid(arg: &DiagramArg, reason: String) -> CallError {
    CallError::Rejected(failures::DIAGRAM_INVALID.with(&[
        ("definition", arg.definition.clone()),
        ("version", arg.version.to_string()),
        ("reason", reason),
    ]))
}

/// Receive one chunk; the last one attaches the diagram.
pub async fn attach(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    arg: DiagramArg,
) -> Result<Vec<Event>, CallError> {
    let (name, version) = (arg.definition.clone(), arg.version);
    let Some(raw) = state.get(&def_key(&name, version)).await? else {
        return reject(
            failures::NO_DEFINITION.with(&[("definition", name), ("version", version.to_string())]),
        );
    };
    let def = Definition::decode_cfg(raw, &()).map_err(corrupt("definition"))?;
    if def.owner_org != ctx.sender.org {
        return reject(failures::NOT_DIAGRAM_OWNER.with(&[
            ("definition", name),
            ("owner", def.owner_org),
            ("org", ctx.sender.org.clone()),
        ]));
    }
    let existing = load(state, &name, version).await?;
    if existing.as_ref().is_some_and(|r| r.attached) {
        return reject(
            failures::DIAGRAM_ATTACHED
                .with(&[("definition", name), ("version", version.to_string())]),
        );
    }
    let total = arg.total as usize;
    if total > MAX_DIAGRAM_BYTES || arg.chunk.is_empty() {
        return Err(invalid(
            &arg,
            format!("a diagram is 1 to {MAX_DIAGRAM_BYTES} bytes, sent in non-empty chunks"),
        ));
    }
    let mut record = match existing {
        _ if arg.index == 0 => DiagramRecord {
            offset: arg.offset,
            total: arg.total,
            sha256: arg.sha256,
            chunks: 0,
            received: 0,
            attached: false,
        },
        Some(r)
            if r.chunks == arg.index
                && (r.offset, r.total, r.sha256) == (arg.offset, arg.total, arg.sha256) =>
        {
            r
        }
        other => {
            return reject(failures::DIAGRAM_OUT_OF_ORDER.with(&[
                ("definition", name),
                ("version", version.to_string()),
                ("index", arg.index.to_string()),
                ("expected", other.map_or(0, |r| r.chunks).to_string()),
            ]))
        }
    };
    let received = record.received as usize + arg.chunk.len();
    if received > total {
        return Err(invalid(
            &arg,
            format!("chunks add up to {received} bytes, more than the declared {total}"),
        ));
    }
    state.put(
        chunk_key(&name, version, arg.index),
        arg.chunk.clone().into_bytes(),
    );
    record.chunks += 1;
    record.received = received as u32;
    let mut events = Vec::new();
    if received == total {
        let diagram = assemble(state, &name, version, &record, &arg).await?;
        let digest = ingot_types::sha256(&[diagram.as_bytes()]);
        if digest.as_ref() != arg.sha256 {
            return Err(invalid(
                &arg,
                format!(
                    "the chunks' SHA-256 is {}, not the declared {}",
                    hex::encode(digest),
                    hex::encode(arg.sha256)
                ),
            ));
        }
        let process = state
            .get(&xml_key(&name, version))
            .await?
            .ok_or_else(|| damaged("deployed XML (missing)"))?;
        let process = String::from_utf8(process).map_err(|_| damaged("deployed XML"))?;
        // Parsing is charged like reading the joined document several times over.
        state.charge(4 * (process.len() + diagram.len()) as u64);
        check_joined(&process, record.offset as usize, &diagram)
            .map_err(|p| invalid(&arg, p.message))?;
        record.attached = true;
        events.push(event(
            NAME,
            "diagram_attached",
            &[
                ("definition", name.clone()),
                ("version", version.to_string()),
                ("bytes", total.to_string()),
                ("sha256", hex::encode(arg.sha256)),
            ],
        ));
    }
    state.put(diagram_key(&name, version), record.encode().to_vec());
    Ok(events)
}

async fn load(
    state: &mut dyn Store,
    name: &str,
    version: u32,
) -> Result<Option<DiagramRecord>, CallError> {
    state
        .get(&diagram_key(name, version))
        .await?
        .map(|raw| DiagramRecord::decode_cfg(raw, &()).map_err(corrupt("diagram record")))
        .transpose()
}

/// The chunks received so far, in order, as one text (the current one is
/// already in the write set).
async fn assemble(
    state: &mut dyn Store,
    name: &str,
    version: u32,
    record: &DiagramRecord,
    arg: &DiagramArg,
) -> Result<String, CallError> {
    let mut diagram = String::with_capacity(record.total as usize);
    for i in 0..record.chunks {
        let raw = state
            .get(&chunk_key(name, version, i))
            .await?
            .ok_or_else(|| invalid(arg, format!("chunk {i} is missing")))?;
        diagram.push_str(std::str::from_utf8(&raw).map_err(|_| damaged("diagram chunk"))?);
    }
    Ok(diagram)
}

/// The document as the designer saved it: the deployed process with its
/// attached diagram, or the process alone while no diagram is attached.
/// Also reports what is attached, for the definition's view.
/// `get` reads committed state; `damaged_state` makes the caller's error
/// for state that cannot be what the chain wrote.
pub async fn stored_document<F, E>(
    get: impl Fn(Vec<u8>) -> F,
    damaged_state: fn(String) -> E,
    name: &str,
    version: u32,
) -> Result<Option<(Vec<u8>, Option<DiagramRecord>)>, E>
where
    F: std::future::Future<Output = Result<Option<Vec<u8>>, E>>,
{
    let Some(process) = get(xml_key(name, version)).await? else {
        return Ok(None);
    };
    let Some(raw) = get(diagram_key(name, version)).await? else {
        return Ok(Some((process, None)));
    };
    let record = DiagramRecord::decode_cfg(raw, &())
        .map_err(|e| damaged_state(format!("diagram record of {name} v{version}: {e}")))?;
    if !record.attached {
        return Ok(Some((process, Some(record))));
    }
    let mut diagram = Vec::with_capacity(record.total as usize);
    for i in 0..record.chunks {
        diagram.extend(get(chunk_key(name, version, i)).await?.ok_or_else(|| {
            damaged_state(format!("diagram chunk {i} of {name} v{version} is missing"))
        })?);
    }
    let offset = record.offset as usize;
    if offset > process.len() {
        return Err(damaged_state(format!(
            "diagram offset of {name} v{version} is past the document"
        )));
    }
    let mut whole = process[..offset].to_vec();
    whole.extend(diagram);
    whole.extend_from_slice(&process[offset..]);
    Ok(Some((whole, Some(record))))
}
