//! Canonical arguments of `notary` calls and their JSON forms.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use ingot_types::codec_util::{read_str, str_size, write_str};
use serde_json::Value;

/// Longest notary metadata.
pub const MAX_METADATA_LEN: usize = 4096;

/// notary.record
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordArg {
    pub document_hash: [u8; 32],
    pub metadata: String,
}

impl Write for RecordArg {
    fn write(&self, buf: &mut impl BufMut) {
        self.document_hash.write(buf);
        write_str(&self.metadata, buf);
    }
}
impl EncodeSize for RecordArg {
    fn encode_size(&self) -> usize {
        32 + str_size(&self.metadata)
    }
}
impl Read for RecordArg {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            document_hash: <[u8; 32]>::read(buf)?,
            metadata: read_str(buf, MAX_METADATA_LEN)?,
        })
    }
}

/// notary.transfer
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferArg {
    pub document_hash: [u8; 32],
    /// Member id of the new owner (`ingot_crypto::member_id`).
    pub new_owner: [u8; 32],
}

impl Write for TransferArg {
    fn write(&self, buf: &mut impl BufMut) {
        self.document_hash.write(buf);
        self.new_owner.write(buf);
    }
}
impl commonware_codec::FixedSize for TransferArg {
    const SIZE: usize = 64;
}
impl Read for TransferArg {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            document_hash: <[u8; 32]>::read(buf)?,
            new_owner: <[u8; 32]>::read(buf)?,
        })
    }
}

/// A 32-byte hex field of a JSON object.
pub fn hex32(v: &Value, field: &str) -> Result<[u8; 32], String> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field `{field}`"))?;
    let raw = hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("`{field}`: {e}"))?;
    raw.try_into()
        .map_err(|_| format!("`{field}` must be 32 bytes (64 hex characters)"))
}
