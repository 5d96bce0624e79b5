//! The signed transaction envelope.
//!
//! Replay protection is an *expiry window plus deduplication*, not a per-sender
//! nonce: a transaction names the last height at which it may be included
//! (`valid_until`, at most [`MAX_VALIDITY_BLOCKS`] ahead), and the chain refuses a
//! second transaction with the same hash inside that window. A nonce sequence
//! would force an IoT sender (a gateway submitting for many devices, or a device
//! with several threads) to serialise its submissions and would stall every later
//! transaction behind one lost in transit; with an expiry window senders submit
//! in parallel and a lost transaction simply expires. The `salt` field lets a
//! sender issue the same call twice on purpose.
//!
//! The transaction hash covers the unsigned body only, so a malleated signature
//! (ECDSA and SM2 signatures have two valid forms) cannot create a second hash
//! for the same transaction.

use crate::{
    codec_util::{read_bytes, read_str, str_size, write_str},
    limits::*,
    sha256, Digest,
};
use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};

/// Domain separator for transaction signatures, so a signature over a
/// transaction can never be replayed as a signature over anything else.
pub const TX_SIGNING_DOMAIN: &[u8] = b"ingot/tx/v1";

/// A call into a module: which module, which method, and its canonical arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub module: String,
    pub method: String,
    pub args: Bytes,
}

impl Write for Call {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.module, buf);
        write_str(&self.method, buf);
        self.args.write(buf);
    }
}

impl EncodeSize for Call {
    fn encode_size(&self) -> usize {
        str_size(&self.module) + str_size(&self.method) + self.args.encode_size()
    }
}

impl Read for Call {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            module: read_str(buf, MAX_NAME_LEN)?,
            method: read_str(buf, MAX_NAME_LEN)?,
            args: read_bytes(buf, MAX_ARGS_BYTES)?,
        })
    }
}

/// The unsigned body of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Layout version of this envelope (currently 1).
    pub version: u8,
    /// The chain this transaction is meant for (hash of the genesis).
    pub chain_id: Digest,
    /// The sender's X.509 certificate (DER). It must chain to its organisation's
    /// CA in genesis and must not be revoked on chain.
    pub certificate: Bytes,
    /// Last block height at which this transaction may be included.
    pub valid_until: u64,
    /// Free value chosen by the sender to make otherwise identical calls distinct.
    pub salt: u64,
    pub call: Call,
}

pub const TX_VERSION: u8 = 1;

impl Transaction {
    /// The transaction's identity: SHA-256 of the canonical unsigned body.
    pub fn hash(&self) -> Digest {
        use commonware_codec::Encode;
        sha256(&[&self.encode()])
    }

    /// The exact bytes a sender signs.
    pub fn signing_message(&self) -> Vec<u8> {
        use commonware_codec::Encode;
        let body = self.encode();
        let mut msg = Vec::with_capacity(TX_SIGNING_DOMAIN.len() + body.len());
        msg.extend_from_slice(TX_SIGNING_DOMAIN);
        msg.extend_from_slice(&body);
        msg
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.version.write(buf);
        self.chain_id.write(buf);
        self.certificate.write(buf);
        self.valid_until.write(buf);
        self.salt.write(buf);
        self.call.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        self.version.encode_size()
            + self.chain_id.encode_size()
            + self.certificate.encode_size()
            + self.valid_until.encode_size()
            + self.salt.encode_size()
            + self.call.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let version = u8::read(buf)?;
        if version != TX_VERSION {
            return Err(Error::Invalid("Transaction", "unknown version"));
        }
        Ok(Self {
            version,
            chain_id: Digest::read(buf)?,
            certificate: read_bytes(buf, MAX_CERT_BYTES)?,
            valid_until: u64::read(buf)?,
            salt: u64::read(buf)?,
            call: Call::read(buf)?,
        })
    }
}

/// A transaction with its sender's signature over [`Transaction::signing_message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: Bytes,
}

impl SignedTransaction {
    pub fn hash(&self) -> Digest {
        self.tx.hash()
    }

    /// Decode from untrusted bytes, enforcing the overall size limit first.
    pub fn decode_untrusted(raw: &[u8]) -> Result<Self, Error> {
        use commonware_codec::Decode;
        if raw.len() > MAX_TX_BYTES {
            return Err(Error::InvalidLength(raw.len()));
        }
        Self::decode_cfg(Bytes::copy_from_slice(raw), &())
    }
}

impl Write for SignedTransaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTransaction {
    fn encode_size(&self) -> usize {
        self.tx.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedTransaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            tx: Transaction::read(buf)?,
            signature: read_bytes(buf, MAX_SIGNATURE_BYTES)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode, Encode};

    fn sample() -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                version: TX_VERSION,
                chain_id: sha256(&[b"chain"]),
                certificate: Bytes::from_static(b"cert"),
                valid_until: 10,
                salt: 7,
                call: Call {
                    module: "notary".into(),
                    method: "record".into(),
                    args: Bytes::from_static(b"args"),
                },
            },
            signature: Bytes::from_static(&[1; 64]),
        }
    }

    #[test]
    fn roundtrip() {
        let tx = sample();
        let enc = tx.encode();
        assert_eq!(enc.len(), tx.encode_size());
        assert_eq!(SignedTransaction::decode_cfg(enc, &()).unwrap(), tx);
    }

    #[test]
    fn hash_ignores_signature() {
        let a = sample();
        let mut b = sample();
        b.signature = Bytes::from_static(&[2; 64]);
        assert_eq!(a.hash(), b.hash());
        b.tx.salt += 1;
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn oversized_fields_rejected() {
        let mut tx = sample();
        tx.tx.call.module = "m".repeat(MAX_NAME_LEN + 1);
        assert!(SignedTransaction::decode_untrusted(&tx.encode()).is_err());
        let mut tx = sample();
        tx.signature = Bytes::from(vec![0u8; MAX_SIGNATURE_BYTES + 1]);
        assert!(SignedTransaction::decode_untrusted(&tx.encode()).is_err());
        assert!(SignedTransaction::decode_untrusted(&vec![0u8; MAX_TX_BYTES + 1]).is_err());
    }

    #[test]
    fn truncated_and_trailing_rejected() {
        let enc = sample().encode().to_vec();
        for cut in 0..enc.len() {
            assert!(SignedTransaction::decode_untrusted(&enc[..cut]).is_err());
        }
        let mut longer = enc.clone();
        longer.push(0);
        assert!(SignedTransaction::decode_untrusted(&longer).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = SignedTransaction::decode_untrusted(&raw);
        }
    }
}
