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

/// A field of a [`record!`](crate::record) struct: how it is written, sized and
/// read back, with the bound `cfg` on anything variable-length.
pub trait Field: Sized {
    type Bound: Copy;
    fn write_field(&self, buf: &mut impl BufMut);
    fn field_size(&self) -> usize;
    fn read_field(buf: &mut impl Buf, bound: Self::Bound) -> Result<Self, Error>;
}

/// UTF-8 text of at most `bound` bytes.
impl Field for String {
    type Bound = usize;
    fn write_field(&self, buf: &mut impl BufMut) {
        write_str(self, buf)
    }
    fn field_size(&self) -> usize {
        str_size(self)
    }
    fn read_field(buf: &mut impl Buf, max: usize) -> Result<Self, Error> {
        read_str(buf, max)
    }
}

/// Bytes of at most `bound` length.
impl Field for Bytes {
    type Bound = usize;
    fn write_field(&self, buf: &mut impl BufMut) {
        self.write(buf)
    }
    fn field_size(&self) -> usize {
        self.encode_size()
    }
    fn read_field(buf: &mut impl Buf, max: usize) -> Result<Self, Error> {
        read_bytes(buf, max)
    }
}

macro_rules! fixed_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            type Bound = ();
            fn write_field(&self, buf: &mut impl BufMut) {
                self.write(buf)
            }
            fn field_size(&self) -> usize {
                self.encode_size()
            }
            fn read_field(buf: &mut impl Buf, _: ()) -> Result<Self, Error> {
                <$t as commonware_codec::ReadExt>::read(buf)
            }
        }
    )*};
}
fixed_field!(u8, u16, u32, u64, i64, bool, [u8; 32]);

/// An optional field; the bound applies to the value.
impl<T: Field> Field for Option<T> {
    type Bound = T::Bound;
    fn write_field(&self, buf: &mut impl BufMut) {
        self.is_some().write(buf);
        if let Some(v) = self {
            v.write_field(buf);
        }
    }
    fn field_size(&self) -> usize {
        1 + self.as_ref().map_or(0, Field::field_size)
    }
    fn read_field(buf: &mut impl Buf, bound: T::Bound) -> Result<Self, Error> {
        if <bool as commonware_codec::ReadExt>::read(buf)? {
            Ok(Some(T::read_field(buf, bound)?))
        } else {
            Ok(None)
        }
    }
}

/// A list of at most `bound.0` items, each within `bound.1`.
impl<T: Field> Field for Vec<T> {
    type Bound = (usize, T::Bound);
    fn write_field(&self, buf: &mut impl BufMut) {
        commonware_codec::varint::UInt(self.len() as u32).write(buf);
        for item in self {
            item.write_field(buf);
        }
    }
    fn field_size(&self) -> usize {
        commonware_codec::varint::UInt(self.len() as u32).encode_size()
            + self.iter().map(Field::field_size).sum::<usize>()
    }
    fn read_field(buf: &mut impl Buf, (max, item): Self::Bound) -> Result<Self, Error> {
        let len: u32 =
            <commonware_codec::varint::UInt<u32> as commonware_codec::ReadExt>::read(buf)?.into();
        if len as usize > max {
            return Err(Error::InvalidLength(len as usize));
        }
        (0..len).map(|_| T::read_field(buf, item)).collect()
    }
}

/// A struct with a canonical encoding: fields in declaration order, each with
/// its bound (`= max bytes` for text/bytes, `= ()` for fixed-size fields).
///
/// ```ignore
/// ingot_types::record! {
///     /// device.suspend
///     pub struct ReasonArg { pub device_id: String = 160, pub reason: String = 1024 }
/// }
/// ```
#[macro_export]
macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $bound:expr ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name { $( $(#[$fmeta])* pub $field: $ty ),* }

        impl $crate::codec_util::reexport::Write for $name {
            fn write(&self, buf: &mut impl $crate::codec_util::reexport::BufMut) {
                $( $crate::codec_util::Field::write_field(&self.$field, buf); )*
            }
        }
        impl $crate::codec_util::reexport::EncodeSize for $name {
            fn encode_size(&self) -> usize {
                0 $( + $crate::codec_util::Field::field_size(&self.$field) )*
            }
        }
        impl $crate::codec_util::reexport::Read for $name {
            type Cfg = ();
            fn read_cfg(
                buf: &mut impl $crate::codec_util::reexport::Buf,
                _: &(),
            ) -> Result<Self, $crate::codec_util::reexport::Error> {
                Ok(Self { $( $field: <$ty as $crate::codec_util::Field>::read_field(buf, $bound)?, )* })
            }
        }
        impl $crate::codec_util::Field for $name {
            type Bound = ();
            fn write_field(&self, buf: &mut impl $crate::codec_util::reexport::BufMut) {
                $crate::codec_util::reexport::Write::write(self, buf)
            }
            fn field_size(&self) -> usize {
                $crate::codec_util::reexport::EncodeSize::encode_size(self)
            }
            fn read_field(
                buf: &mut impl $crate::codec_util::reexport::Buf,
                _: (),
            ) -> Result<Self, $crate::codec_util::reexport::Error> {
                <Self as $crate::codec_util::reexport::Read>::read_cfg(buf, &())
            }
        }
    };
}

/// What [`record!`](crate::record) expands to refers to through here.
pub mod reexport {
    pub use bytes::BufMut;
    pub use commonware_codec::{Buf, EncodeSize, Error, Read, Write};
}

#[cfg(test)]
mod tests {
    use commonware_codec::{Decode, Encode};

    crate::record! {
        /// A sample of every field kind.
        pub struct Sample {
            pub name: String = 8,
            pub n: u64 = (),
            pub id: [u8; 32] = (),
            pub note: Option<String> = 4,
            pub tags: Vec<String> = (2, 3),
        }
    }

    #[test]
    fn record_roundtrips_and_enforces_bounds() {
        let s = Sample {
            name: "cnc".into(),
            n: 7,
            id: [3; 32],
            note: Some("ok".into()),
            tags: vec!["a".into(), "bcd".into()],
        };
        let enc = s.encode();
        assert_eq!(enc.len(), commonware_codec::EncodeSize::encode_size(&s));
        assert_eq!(Sample::decode_cfg(enc.clone(), &()).unwrap(), s);
        for cut in 0..enc.len() {
            assert!(Sample::decode_cfg(enc.slice(..cut), &()).is_err());
        }
        let long = Sample {
            name: "123456789".into(),
            ..s.clone()
        };
        assert!(Sample::decode_cfg(long.encode(), &()).is_err());
        let many = Sample {
            tags: vec!["a".into(); 3],
            ..s.clone()
        };
        assert!(Sample::decode_cfg(many.encode(), &()).is_err());
        let wide = Sample {
            tags: vec!["abcd".into()],
            ..s
        };
        assert!(Sample::decode_cfg(wide.encode(), &()).is_err());
    }
}
