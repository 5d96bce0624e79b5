//! Receipts: the outcome of executing one transaction.

use crate::{
    codec_util::{read_str, str_size, write_str},
    limits::*,
    Digest,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

/// Whether a transaction took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Success,
    /// The transaction was included but changed no state; the failure says why.
    Failed(Failure),
}

/// Why a transaction failed, as consensus records it: a numeric code scoped
/// by the module that refused it (`tx` for the executor's own checks) and
/// structured detail made of chain data only (ids, names, heights) — never
/// text from a library, and never prose. People read a message rendered from
/// these outside consensus (`ingot_execution::failure::render`), so a
/// reworded message or an upgraded dependency leaves `receipts_root` as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub module: String,
    pub code: u16,
    pub detail: Vec<(String, String)>,
}

impl Failure {
    /// The value of a detail field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.detail
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Something a module announces; clients subscribe to these by module and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub module: String,
    pub kind: String,
    pub attributes: Vec<(String, String)>,
}

/// The outcome of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub tx_hash: Digest,
    pub status: Status,
    pub events: Vec<Event>,
    /// Deterministic work units charged (bytes touched plus a per-operation base).
    pub work_used: u64,
}

impl Write for Failure {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.module, buf);
        self.code.write(buf);
        (self.detail.len() as u8).write(buf);
        for (k, v) in &self.detail {
            write_str(k, buf);
            write_str(v, buf);
        }
    }
}

impl EncodeSize for Failure {
    fn encode_size(&self) -> usize {
        str_size(&self.module)
            + 2
            + 1
            + self
                .detail
                .iter()
                .map(|(k, v)| str_size(k) + str_size(v))
                .sum::<usize>()
    }
}

impl Read for Failure {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let module = read_str(buf, MAX_NAME_LEN)?;
        let code = u16::read(buf)?;
        let n = u8::read(buf)? as usize;
        if n > MAX_FAILURE_DETAILS {
            return Err(Error::InvalidLength(n));
        }
        let mut detail = Vec::with_capacity(n);
        for _ in 0..n {
            detail.push((read_str(buf, MAX_NAME_LEN)?, read_str(buf, MAX_TEXT_LEN)?));
        }
        Ok(Self {
            module,
            code,
            detail,
        })
    }
}

/// A failure can be a field of a stored record (e.g. an access log entry's
/// denial): its own limits apply.
impl crate::codec_util::Field for Failure {
    type Bound = ();
    fn write_field(&self, buf: &mut impl BufMut) {
        self.write(buf)
    }
    fn field_size(&self) -> usize {
        self.encode_size()
    }
    fn read_field(buf: &mut impl Buf, _: ()) -> Result<Self, Error> {
        Self::read(buf)
    }
}

impl Write for Status {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Status::Success => 0u8.write(buf),
            Status::Failed(failure) => {
                1u8.write(buf);
                failure.write(buf);
            }
        }
    }
}

impl EncodeSize for Status {
    fn encode_size(&self) -> usize {
        1 + match self {
            Status::Success => 0,
            Status::Failed(f) => f.encode_size(),
        }
    }
}

impl Read for Status {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Status::Success),
            1 => Ok(Status::Failed(Failure::read(buf)?)),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for Event {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.module, buf);
        write_str(&self.kind, buf);
        (self.attributes.len() as u32).write(buf);
        for (k, v) in &self.attributes {
            write_str(k, buf);
            write_str(v, buf);
        }
    }
}

impl EncodeSize for Event {
    fn encode_size(&self) -> usize {
        str_size(&self.module)
            + str_size(&self.kind)
            + 4
            + self
                .attributes
                .iter()
                .map(|(k, v)| str_size(k) + str_size(v))
                .sum::<usize>()
    }
}

impl Read for Event {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let module = read_str(buf, MAX_NAME_LEN)?;
        let kind = read_str(buf, MAX_NAME_LEN)?;
        let n = u32::read(buf)? as usize;
        if n > MAX_EVENT_ATTRS {
            return Err(Error::InvalidLength(n));
        }
        let mut attributes = Vec::with_capacity(n);
        for _ in 0..n {
            attributes.push((read_str(buf, MAX_TEXT_LEN)?, read_str(buf, MAX_TEXT_LEN)?));
        }
        Ok(Self {
            module,
            kind,
            attributes,
        })
    }
}

impl Write for Receipt {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx_hash.write(buf);
        self.status.write(buf);
        self.events.write(buf);
        self.work_used.write(buf);
    }
}

impl EncodeSize for Receipt {
    fn encode_size(&self) -> usize {
        self.tx_hash.encode_size()
            + self.status.encode_size()
            + self.events.encode_size()
            + self.work_used.encode_size()
    }
}

impl Read for Receipt {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            tx_hash: Digest::read(buf)?,
            status: Status::read(buf)?,
            events: Vec::<Event>::read_cfg(buf, &(RangeCfg::from(0..=MAX_EVENTS), ()))?,
            work_used: u64::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode, Encode};

    #[test]
    fn roundtrip() {
        let r = Receipt {
            tx_hash: crate::sha256(&[b"x"]),
            status: Status::Failed(Failure {
                module: "device".into(),
                code: 7,
                detail: vec![("device".into(), "acme:1".into())],
            }),
            events: vec![Event {
                module: "notary".into(),
                kind: "recorded".into(),
                attributes: vec![("id".into(), "1".into())],
            }],
            work_used: 42,
        };
        let enc = r.encode();
        assert_eq!(enc.len(), r.encode_size());
        assert_eq!(Receipt::decode_cfg(enc, &()).unwrap(), r);
    }
}
