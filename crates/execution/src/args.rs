//! Canonical argument and record encodings of the native modules, and their
//! JSON forms for the API and CLI.

use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, Decode, Encode, EncodeSize, Error, Read, ReadExt, Write};
use ingot_types::{
    codec_util::{read_bytes, read_str, str_size, write_str},
    limits::MAX_CERT_BYTES,
};
use serde_json::{json, Value};

/// Longest notary metadata.
pub const MAX_METADATA_LEN: usize = 4096;

/// identity.register / identity.revoke
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateArg {
    pub certificate: Bytes,
}

impl Write for CertificateArg {
    fn write(&self, buf: &mut impl BufMut) {
        self.certificate.write(buf);
    }
}
impl EncodeSize for CertificateArg {
    fn encode_size(&self) -> usize {
        self.certificate.encode_size()
    }
}
impl Read for CertificateArg {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            certificate: read_bytes(buf, MAX_CERT_BYTES)?,
        })
    }
}

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
    /// Certificate hash of the new owner.
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

/// Decode canonical arguments, requiring every byte to be consumed.
pub fn decode<T: Decode<Cfg = ()>>(args: &Bytes) -> Result<T, String> {
    T::decode_cfg(args.clone(), &()).map_err(|e| format!("malformed arguments: {e}"))
}

fn hex32(v: &Value, field: &str) -> Result<[u8; 32], String> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field `{field}`"))?;
    let raw = hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("`{field}`: {e}"))?;
    raw.try_into()
        .map_err(|_| format!("`{field}` must be 32 bytes (64 hex characters)"))
}

fn cert_der(v: &Value) -> Result<Bytes, String> {
    let pem = v
        .get("certificate_pem")
        .and_then(Value::as_str)
        .ok_or("missing string field `certificate_pem`")?;
    let info = ingot_crypto::CertInfo::from_pem(pem).map_err(|e| e.to_string())?;
    Ok(Bytes::from(info.der))
}

/// Build canonical arguments from their JSON form.
pub fn from_json(module: &str, method: &str, v: &Value) -> Result<Bytes, String> {
    let bytes = match (module, method) {
        ("device", method) => crate::modules::device::args_from_json(method, v)?,
        ("access", method) => crate::modules::access::args_from_json(method, v)?,
        ("telemetry", method) => crate::modules::telemetry::args_from_json(method, v)?,
        ("workflow", method) => crate::modules::workflow::args_from_json(method, v)?,
        ("identity", "register" | "revoke") => CertificateArg {
            certificate: cert_der(v)?,
        }
        .encode(),
        ("notary", "record") => {
            let metadata = v
                .get("metadata")
                .map(|m| match m {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            if metadata.len() > MAX_METADATA_LEN {
                return Err(format!("metadata longer than {MAX_METADATA_LEN} bytes"));
            }
            RecordArg {
                document_hash: hex32(v, "document_hash")?,
                metadata,
            }
            .encode()
        }
        ("notary", "transfer") => TransferArg {
            document_hash: hex32(v, "document_hash")?,
            new_owner: hex32(v, "new_owner")?,
        }
        .encode(),
        _ => return Err(format!("unknown call {module}.{method}")),
    };
    Ok(bytes)
}

/// Human-readable form of canonical arguments (for block explorers and the CLI).
pub fn to_json(module: &str, method: &str, args: &Bytes) -> Value {
    let parsed = match (module, method) {
        ("device", method) => crate::modules::device::args_to_json(method, args),
        ("access", method) => crate::modules::access::args_to_json(method, args),
        ("telemetry", method) => crate::modules::telemetry::args_to_json(method, args),
        ("workflow", method) => crate::modules::workflow::args_to_json(method, args),
        ("identity", "register" | "revoke") => decode::<CertificateArg>(args)
            .map(|a| json!({"certificate_hash": hex::encode(ingot_crypto::cert_hash(&a.certificate))})),
        ("notary", "record") => decode::<RecordArg>(args).map(|a| {
            json!({"document_hash": hex::encode(a.document_hash), "metadata": a.metadata})
        }),
        ("notary", "transfer") => decode::<TransferArg>(args).map(|a| {
            json!({"document_hash": hex::encode(a.document_hash), "new_owner": hex::encode(a.new_owner)})
        }),
        _ => Err(String::new()),
    };
    parsed.unwrap_or_else(|_| json!({"raw": hex::encode(args)}))
}
