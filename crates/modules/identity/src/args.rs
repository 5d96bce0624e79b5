//! Canonical arguments of `identity` calls and their JSON forms.

use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error, Read, Write};
use ingot_types::{codec_util::read_bytes, limits::MAX_CERT_BYTES};
use serde_json::Value;

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

/// The DER of the `certificate_pem` field.
pub fn cert_der(v: &Value) -> Result<Bytes, String> {
    let pem = v
        .get("certificate_pem")
        .and_then(Value::as_str)
        .ok_or("missing string field `certificate_pem`")?;
    let info =
        ingot_crypto::CertInfo::from_one_pem(pem).map_err(|e| format!("`certificate_pem`: {e}"))?;
    Ok(Bytes::from(info.der))
}
