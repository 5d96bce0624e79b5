//! `notary`: record a document hash with metadata and an owner — the simplest
//! useful industrial record (a test report, a certificate of conformity, a
//! delivery note) — and transfer its ownership.
//!
//! State: `notary/doc/<document hash>` → [`NotaryRecord`].

pub mod args;
mod module;

pub use args::{RecordArg, TransferArg, MAX_METADATA_LEN};
use bytes::BufMut;
use commonware_codec::{Buf, Decode, Encode, EncodeSize, Error, Read, ReadExt, Write};
use ingot_module::{
    corrupt, decode_args, event, reject, unknown_method, CallError, Store, TxContext,
};
use ingot_types::{
    codec_util::{read_str, str_size, write_str},
    Call, Event,
};
pub use module::NotaryModule;

pub const NAME: &str = "notary";

pub fn doc_key(document_hash: &[u8; 32]) -> Vec<u8> {
    format!("notary/doc/{}", hex::encode(document_hash)).into_bytes()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotaryRecord {
    pub document_hash: [u8; 32],
    pub metadata: String,
    /// Certificate hash of the owner.
    pub owner: [u8; 32],
    pub recorded_by_org: String,
    pub height: u64,
    pub timestamp_ms: u64,
    pub tx_hash: [u8; 32],
}

impl Write for NotaryRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.document_hash.write(buf);
        write_str(&self.metadata, buf);
        self.owner.write(buf);
        write_str(&self.recorded_by_org, buf);
        self.height.write(buf);
        self.timestamp_ms.write(buf);
        self.tx_hash.write(buf);
    }
}
impl EncodeSize for NotaryRecord {
    fn encode_size(&self) -> usize {
        32 + str_size(&self.metadata) + 32 + str_size(&self.recorded_by_org) + 8 + 8 + 32
    }
}
impl Read for NotaryRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            document_hash: <[u8; 32]>::read(buf)?,
            metadata: read_str(buf, MAX_METADATA_LEN)?,
            owner: <[u8; 32]>::read(buf)?,
            recorded_by_org: read_str(buf, 256)?,
            height: u64::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            tx_hash: <[u8; 32]>::read(buf)?,
        })
    }
}

impl NotaryRecord {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "document_hash": hex::encode(self.document_hash),
            "metadata": self.metadata,
            "owner": hex::encode(self.owner),
            "recorded_by_org": self.recorded_by_org,
            "height": self.height,
            "timestamp_ms": self.timestamp_ms,
            "tx_hash": hex::encode(self.tx_hash),
        })
    }
}

/// Why a notary call fails (see [`crate::failure`]).
pub mod failures {
    ingot_module::failures! { super::NAME;
        ALREADY_RECORDED = 1, "already_recorded", "document already recorded";
        NO_SUCH_DOCUMENT = 2, "no_such_document", "no such document";
        NOT_OWNER = 3, "not_owner", "only the current owner may transfer a document";
    }
}

pub async fn call(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call.method.as_str() {
        "record" => {
            let arg: RecordArg = decode_args(call)?;
            let key = doc_key(&arg.document_hash);
            if state.exists(&key).await? {
                return reject(failures::ALREADY_RECORDED.bare());
            }
            let record = NotaryRecord {
                document_hash: arg.document_hash,
                metadata: arg.metadata,
                owner: ctx.sender.id,
                recorded_by_org: ctx.sender.org.clone(),
                height: ctx.block.height,
                timestamp_ms: ctx.block.timestamp_ms,
                tx_hash: ctx.tx_hash,
            };
            state.put(key, record.encode().to_vec());
            Ok(vec![event(
                NAME,
                "recorded",
                &[
                    ("document_hash", hex::encode(arg.document_hash)),
                    ("owner", hex::encode(ctx.sender.id)),
                    ("org", ctx.sender.org.clone()),
                ],
            )])
        }
        "transfer" => {
            let arg: TransferArg = decode_args(call)?;
            let key = doc_key(&arg.document_hash);
            let Some(raw) = state.get(&key).await? else {
                return reject(failures::NO_SUCH_DOCUMENT.bare());
            };
            let mut record = NotaryRecord::decode_cfg(raw.as_slice().to_vec(), &())
                .map_err(corrupt("notary record"))?;
            if record.owner != ctx.sender.id {
                return reject(failures::NOT_OWNER.bare());
            }
            record.owner = arg.new_owner;
            state.put(key, record.encode().to_vec());
            Ok(vec![event(
                NAME,
                "transferred",
                &[
                    ("document_hash", hex::encode(arg.document_hash)),
                    ("from", hex::encode(ctx.sender.id)),
                    ("to", hex::encode(arg.new_owner)),
                ],
            )])
        }
        _ => unknown_method(call),
    }
}

/// The key prefixes this module owns and who reads each: a notarised record
/// exists to be checked by other parties (a customer holding the document
/// verifies it was recorded, and when), so every member reads it; anonymous
/// callers do not.
pub const KEYS: &[ingot_module::visibility::KeyDecl] = &[ingot_module::visibility::KeyDecl::new(
    "notary/doc/",
    ingot_module::visibility::Rule::Members,
)];
