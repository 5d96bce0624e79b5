//! Small helpers for encoding bounded strings and byte fields with commonware-codec.

use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, Write};

/// Write a UTF-8 string as length-prefixed bytes.
pub fn write_str(s: &str, buf: &mut impl BufMut) {
    Bytes::copy_from_slice(s.as_bytes()).write(buf);
}

/// Encoded size of a string written with [`write_str`].
pub fn str_size(s: &str) -> usize {
    // The length prefix is the same varint that `Bytes` uses.
    commonware_codec::varint::UInt(s.len() as u32).encode_size() + s.len()
}

/// Read a string of at most `max` bytes that must be valid UTF-8.
pub fn read_str(buf: &mut impl Buf, max: usize) -> Result<String, Error> {
    let raw = Bytes::read_cfg(buf, &RangeCfg::from(0..=max))?;
    String::from_utf8(raw.to_vec()).map_err(|_| Error::Invalid("string", "not UTF-8"))
}

/// Read bytes of at most `max` length.
pub fn read_bytes(buf: &mut impl Buf, max: usize) -> Result<Bytes, Error> {
    Bytes::read_cfg(buf, &RangeCfg::from(0..=max))
}
