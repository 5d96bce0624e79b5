//! `ingot workflow`: BPMN processes on chain (docs/workflows.md).

use crate::client::ReadAs;
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Check a BPMN file and its bindings locally; lists every problem.
    Validate {
        file: PathBuf,
        /// Bindings JSON (default: FILE with `.bindings.json`, or
        /// `bindings.json` beside it, if present).
        #[arg(long)]
        bindings: Option<PathBuf>,
        #[command(flatten)]
        dmn: DmnArgs,
    },
    /// Print bindings to start from for a BPMN file: every pool bound to a
    /// placeholder organisation, variables typed from their conditions,
    /// service tasks and unfed message events bound to placeholders.
    Bindings {
        file: PathBuf,
        #[command(flatten)]
        dmn: DmnArgs,
    },
    /// Deploy a BPMN file as the next version of its definition.
    Deploy {
        file: PathBuf,
        #[arg(long)]
        bindings: Option<PathBuf>,
        #[command(flatten)]
        dmn: DmnArgs,
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Start an instance of a definition.
    Start {
        definition: String,
        /// Version (default: latest).
        #[arg(long)]
        version: Option<u32>,
        /// Start variables as a JSON object.
        #[arg(long, default_value = "{}")]
        vars: String,
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Complete an active task with its output variables.
    Complete {
        instance: String,
        element: String,
        #[arg(long, default_value = "{}")]
        vars: String,
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Cancel a running instance.
    Cancel {
        instance: String,
        #[command(flatten)]
        signer: SignerArgs,
    },
    /// Show an instance (state, active elements, variables, history) or, given
    /// a definition name, the definition and its instances.
    Show {
        id: String,
        /// With a definition: only instances in this state.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        node: String,
        #[command(flatten)]
        read_as: ReadAs,
    },
}

#[derive(Args)]
pub struct DmnArgs {
    /// DMN files whose decision tables bind the business rule tasks that
    /// refer to them (`decisionRef`), where the bindings do not already;
    /// converted here into the compact tables of `bindings.decisions`.
    #[arg(long = "dmn", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl DmnArgs {
    /// `bindings` with the decision tables of the DMN files filled in.
    fn fill(&self, xml: &str, bindings: &mut Value) -> anyhow::Result<()> {
        if self.files.is_empty() {
            return Ok(());
        }
        let mut tables = std::collections::BTreeMap::new();
        for f in &self.files {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let found = ingot_bpmn::dmn::decision_tables(&text)
                .map_err(|e| anyhow!("{}: {e}", f.display()))?;
            tables.extend(found);
        }
        let filled = ingot_bpmn::dmn::fill_decisions_xml(xml, bindings, &tables)
            .map_err(|p| anyhow!("the process: {p}"))?;
        if filled.is_empty() {
            bail!(
                "no business rule task refers (decisionRef) to a decision of the DMN file(s): {}",
                tables.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(())
    }
}

pub use crate::client::SignerArgs;

fn bindings_for(file: &Path, explicit: Option<PathBuf>) -> anyhow::Result<Value> {
    let path = explicit.or_else(|| {
        let sibling = file.with_extension("bindings.json");
        let beside = file.with_file_name("bindings.json");
        [sibling, beside].into_iter().find(|p| p.exists())
    });
    match path {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{} is not JSON", p.display())),
        None => Ok(json!({})),
    }
}

fn read_xml(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

fn vars(text: &str) -> anyhow::Result<Value> {
    let v: Value = serde_json::from_str(text).context("--vars is not JSON")?;
    if !v.is_object() {
        bail!("--vars must be a JSON object");
    }
    Ok(v)
}

/// Sign, submit, wait for execution, print the receipt; a refused call is
/// an error.
fn submit(signer: &SignerArgs, method: &str, args: Value, json_out: bool) -> anyhow::Result<Value> {
    let receipt = send(signer, method, args)?;
    print_receipt(&receipt, json_out);
    crate::client::refused(&receipt)?;
    Ok(receipt)
}

/// Sign, submit and wait for execution; the receipt.
fn send(signer: &SignerArgs, method: &str, args: Value) -> anyhow::Result<Value> {
    crate::client::send_and_wait(signer, "workflow", method, &args)
}

fn print_receipt(receipt: &Value, json_out: bool) {
    if json_out {
        println!("{receipt}");
    } else {
        for e in receipt["events"].as_array().into_iter().flatten() {
            let a = &e["attributes"];
            match e["kind"].as_str() {
                Some("step") => println!(
                    "{:<10} {} {}{}",
                    a["action"].as_str().unwrap_or(""),
                    a["element"].as_str().unwrap_or(""),
                    a["name"]
                        .as_str()
                        .map(|n| format!("\"{n}\""))
                        .unwrap_or_default(),
                    a["detail"]
                        .as_str()
                        .filter(|d| !d.is_empty())
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default(),
                ),
                Some(kind) => {
                    println!("{}.{kind} {}", e["module"].as_str().unwrap_or(""), a)
                }
                None => {}
            }
        }
    }
}

/// Deploy a document too large to go whole: the process in one
/// transaction, then its diagram interchange in order, chunk by chunk
/// (`workflow.diagram`; see `ingot_bpmn::diagram`).
fn deploy_apart(
    signer: &SignerArgs,
    split: &ingot_bpmn::diagram::Split,
    bindings: &Value,
    json_out: bool,
) -> anyhow::Result<()> {
    let deployed = send(
        signer,
        "deploy",
        json!({"xml": split.process, "bindings": bindings}),
    )?;
    let version = deployed["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "deployed")
        .map(|e| &e["attributes"]);
    let (Some(name), Some(version)) = (
        version.and_then(|a| a["definition"].as_str()),
        version
            .and_then(|a| a["version"].as_str())
            .and_then(|v| v.parse::<u32>().ok()),
    ) else {
        bail!("the deployment's receipt names no definition and version: {deployed}");
    };
    if !json_out {
        print_receipt(&deployed, false);
    }
    let sha256 = hex::encode(ingot_types::sha256(&[split.diagram.as_bytes()]));
    let chunks = ingot_bpmn::diagram::chunks(&split.diagram);
    let mut last = Value::Null;
    for (index, chunk) in chunks.iter().enumerate() {
        last = send(
            signer,
            "diagram",
            json!({"definition": name, "version": version, "offset": split.offset, "total": split.diagram.len(), "sha256": sha256, "index": index, "chunk": chunk}),
        )
        .with_context(|| {
            format!(
                "`{name}` version {version} is deployed, but attaching its diagram failed at chunk {index} of {}",
                chunks.len()
            )
        })?;
    }
    if json_out {
        println!(
            "{}",
            json!({"deployed": deployed, "diagram": {"bytes": split.diagram.len(), "transactions": chunks.len(), "sha256": sha256, "receipt": last}})
        );
    } else {
        println!(
            "diagram attached: {} bytes in {} transaction(s), sha256 {sha256}",
            split.diagram.len(),
            chunks.len()
        );
    }
    Ok(())
}

pub fn run(cmd: WorkflowCommand, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        WorkflowCommand::Validate {
            file,
            bindings,
            dmn,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut b = bindings_for(&file, bindings)?;
            if let Ok(xml) = std::str::from_utf8(&bytes) {
                dmn.fill(xml, &mut b)?;
            }
            // A file that is not UTF-8 is a problem of the document like any
            // other (reported as such, also with --json), not a crash of the
            // command.
            let mut warnings = Vec::new();
            let compiled = match String::from_utf8(bytes) {
                Ok(xml) => {
                    warnings = ingot_bpmn::warnings_xml(&xml);
                    let compiled = ingot_bpmn::validate_xml(&xml, &b);
                    if let Ok(m) = &compiled {
                        warnings.extend(ingot_bpmn::compiled_warnings(m));
                    }
                    compiled
                }
                Err(e) => Err(ingot_bpmn::Problems(vec![ingot_bpmn::Problem::new(
                    ingot_bpmn::ErrorKind::MalformedXml,
                    "",
                    "",
                    format!(
                        "the document is not UTF-8 (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    ),
                )])),
            };
            let warnings_json: Vec<Value> = warnings.iter().map(|w| w.to_json()).collect();
            if !json_out {
                for w in &warnings {
                    eprintln!(
                        "{}: warning ({}) at `{}`: {}",
                        file.display(),
                        w.code,
                        w.element,
                        w.message
                    );
                }
            }
            match compiled {
                Ok(m) => {
                    if json_out {
                        println!(
                            "{}",
                            json!({"valid": true, "name": m.name, "elements": m.nodes.len(), "warnings": warnings_json})
                        );
                    } else {
                        println!(
                            "valid: `{}` — {} elements, {} flows, {} variables, {} bytes compiled",
                            m.name,
                            m.nodes.len(),
                            m.flows.len(),
                            m.variables.len(),
                            commonware_codec::EncodeSize::encode_size(&m)
                        );
                    }
                    Ok(())
                }
                Err(ps) => {
                    if json_out {
                        println!(
                            "{}",
                            json!({"valid": false, "problems": ps.0.iter().map(|p| p.to_json()).collect::<Vec<_>>(), "warnings": warnings_json})
                        );
                    } else {
                        for p in &ps.0 {
                            eprintln!("{}: {p}", file.display());
                        }
                    }
                    bail!("{} problem(s) in {}", ps.0.len(), file.display())
                }
            }
        }
        WorkflowCommand::Bindings { file, dmn } => {
            let xml = read_xml(&file)?;
            let skeleton = ingot_bpmn::skeleton::skeleton_xml(&xml).and_then(|mut b| {
                dmn.fill(&xml, &mut b).map_err(|e| {
                    ingot_bpmn::Problem::new(ingot_bpmn::ErrorKind::Bindings, "", "", e.to_string())
                })?;
                Ok(b)
            });
            match skeleton {
                Ok(b) if json_out => {
                    println!("{b}");
                    Ok(())
                }
                Ok(b) => {
                    println!("{}", serde_json::to_string_pretty(&b)?);
                    Ok(())
                }
                Err(p) => bail!("{}: {p}", file.display()),
            }
        }
        WorkflowCommand::Deploy {
            file,
            bindings,
            dmn,
            signer,
        } => {
            let xml = read_xml(&file)?;
            let mut b = bindings_for(&file, bindings)?;
            dmn.fill(&xml, &mut b)?;
            // Validate locally first: the same checks the chain makes, with
            // every problem listed instead of the first in a receipt.
            if let Err(ps) = ingot_bpmn::validate_xml(&xml, &b) {
                for p in &ps.0 {
                    eprintln!("{}: {p}", file.display());
                }
                bail!("{} problem(s); nothing deployed", ps.0.len());
            }
            // Too large whole: the layout goes apart and does not count.
            if xml.len() > ingot_bpmn::xml::MAX_XML_BYTES {
                let split = ingot_bpmn::diagram::split(&xml)
                    .context("validation passed, so the diagram can be set apart")?;
                return deploy_apart(&signer, &split, &b, json_out);
            }
            submit(
                &signer,
                "deploy",
                json!({"xml": xml, "bindings": b}),
                json_out,
            )?;
            Ok(())
        }
        WorkflowCommand::Start {
            definition,
            version,
            vars: v,
            signer,
        } => {
            let mut args = json!({"definition": definition, "vars": vars(&v)?});
            if let Some(version) = version {
                args["version"] = json!(version);
            }
            let receipt = submit(&signer, "start", args, json_out)?;
            if !json_out {
                if let Some(id) = receipt["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|e| e["attributes"]["instance"].as_str())
                {
                    println!("instance {id}");
                }
            }
            Ok(())
        }
        WorkflowCommand::Complete {
            instance,
            element,
            vars: v,
            signer,
        } => {
            submit(
                &signer,
                "complete",
                json!({"instance": instance, "element": element, "vars": vars(&v)?}),
                json_out,
            )?;
            Ok(())
        }
        WorkflowCommand::Cancel { instance, signer } => {
            submit(&signer, "cancel", json!({"instance": instance}), json_out)?;
            Ok(())
        }
        WorkflowCommand::Show {
            id,
            state,
            node,
            read_as,
        } => {
            let http = read_as.http()?;
            let get = |url: &str| http.get(url);
            let v = match get(&format!("{node}/v1/workflow/instances/{id}")) {
                Ok(v) => v,
                // The node answers 403 for an instance the caller may not
                // read, and for one that is not there (so as not to say
                // which): `id` may be a definition either way.
                Err(instance_error) => match get(&format!("{node}/v1/workflow/definitions/{id}")) {
                    Ok(mut def) => {
                        let filter = state.map(|s| format!("?state={s}")).unwrap_or_default();
                        def["instances"] = get(&format!(
                            "{node}/v1/workflow/definitions/{id}/instances{filter}"
                        ))?["instances"]
                            .clone();
                        def
                    }
                    Err(_) if format!("{instance_error:#}").contains("403") => {
                        return Err(instance_error.context(format!(
                            "`{id}` is no definition, and no instance you may read"
                        )))
                    }
                    Err(_) => {
                        return Err(instance_error
                            .context(format!("`{id}` is neither an instance nor a definition")))
                    }
                },
            };
            if json_out {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            Ok(())
        }
    }
}
