//! Blocks: a header committing to everything, and the ordered transactions.
//!
//! ## Deferred execution roots
//!
//! Blocks are ordered by consensus first and executed once finalized. A header
//! therefore does not carry the state root *after itself*: it carries the
//! results (state root and receipts root) of every block its proposer has
//! executed since the parent's last anchored height: `results[i]` belongs to
//! height `parent.exec_height + 1 + i`, and `exec_height` is the last of them.
//! Every executed height is thus anchored in exactly one finalized header, and a
//! verifier checks each root against its own execution of that (already
//! finalized) height. This keeps execution
//! off the consensus critical path (proposals and votes never wait for
//! execution, which can then be pipelined and batched), and there is no
//! speculative state to roll back when a proposal is dropped. The cost is a lag
//! of a few blocks before a block's effects are committed in a finalized header;
//! proofs are served against the header that carries the root.

use crate::{
    limits::{MAX_BLOCK_BYTES, MAX_BLOCK_TXS},
    merkle, sha256,
    tx::SignedTransaction,
    Digest,
};
use bytes::BufMut;
use commonware_codec::{Buf, Encode, EncodeSize, Error, Read, ReadExt, Write};
use commonware_consensus::{types::Height, Heightable};
use commonware_cryptography::Digestible;

pub const HEADER_VERSION: u8 = 1;
/// The version of a boundary header: the last block of an epoch, which
/// also names the next epoch's validators.
pub const BOUNDARY_HEADER_VERSION: u8 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub parent: Digest,
    pub height: u64,
    /// Milliseconds since the Unix epoch; strictly greater than the parent's and
    /// not more than the allowed drift ahead of the verifier's clock.
    pub timestamp_ms: u64,
    /// Ed25519 consensus key of the validator that proposed this block.
    pub proposer: [u8; 32],
    pub tx_count: u32,
    /// Binary Merkle root over the transaction hashes, in block order.
    pub tx_root: Digest,
    /// Last executed height anchored by this header (or inherited from the parent).
    pub exec_height: u64,
    /// Execution results for heights `exec_height - results.len() + 1 ..= exec_height`.
    pub results: Vec<ExecResult>,
    /// On the last block of an epoch only (`BOUNDARY_HEADER_VERSION`): the
    /// raw Ed25519 keys of the next epoch's validators, ascending. Signed
    /// by this epoch's quorum, so anyone holding genesis and the boundary
    /// headers knows every epoch's set.
    pub next_validators: Option<Vec<[u8; 32]>>,
}

/// What executing one finalized block produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecResult {
    /// Authenticated world-state root after executing the block.
    pub state_root: Digest,
    /// Binary Merkle root over the hashes of the block's receipts.
    pub receipts_root: Digest,
}

impl Write for ExecResult {
    fn write(&self, buf: &mut impl BufMut) {
        self.state_root.write(buf);
        self.receipts_root.write(buf);
    }
}

impl commonware_codec::FixedSize for ExecResult {
    const SIZE: usize = 64;
}

impl Read for ExecResult {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            state_root: Digest::read(buf)?,
            receipts_root: Digest::read(buf)?,
        })
    }
}

/// Most execution results one header may anchor.
pub const MAX_RESULTS_PER_HEADER: usize = 256;

impl Write for Header {
    fn write(&self, buf: &mut impl BufMut) {
        self.version.write(buf);
        self.parent.write(buf);
        self.height.write(buf);
        self.timestamp_ms.write(buf);
        self.proposer.write(buf);
        self.tx_count.write(buf);
        self.tx_root.write(buf);
        self.exec_height.write(buf);
        self.results.write(buf);
        if let Some(next) = &self.next_validators {
            next.write(buf);
        }
    }
}

impl EncodeSize for Header {
    fn encode_size(&self) -> usize {
        1 + 32
            + 8
            + 8
            + 32
            + 4
            + 32
            + 8
            + self.results.encode_size()
            + self.next_validators.as_ref().map_or(0, |v| v.encode_size())
    }
}

impl Read for Header {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let version = u8::read(buf)?;
        if version != HEADER_VERSION && version != BOUNDARY_HEADER_VERSION {
            return Err(Error::Invalid("Header", "unknown version"));
        }
        let mut header = Self {
            version,
            parent: Digest::read(buf)?,
            height: u64::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            proposer: <[u8; 32]>::read(buf)?,
            tx_count: u32::read(buf)?,
            tx_root: Digest::read(buf)?,
            exec_height: u64::read(buf)?,
            results: Vec::<ExecResult>::read_cfg(
                buf,
                &(
                    commonware_codec::RangeCfg::from(0..=MAX_RESULTS_PER_HEADER),
                    (),
                ),
            )?,
            next_validators: None,
        };
        if version == BOUNDARY_HEADER_VERSION {
            header.next_validators = Some(Vec::<[u8; 32]>::read_cfg(
                buf,
                &(
                    commonware_codec::RangeCfg::from(1..=crate::limits::MAX_VALIDATORS),
                    (),
                ),
            )?);
        }
        Ok(header)
    }
}

impl Header {
    /// Whether the version matches what the header carries (a boundary
    /// header, and only it, names the next validators).
    pub fn version_consistent(&self) -> bool {
        match self.next_validators {
            None => self.version == HEADER_VERSION,
            Some(_) => self.version == BOUNDARY_HEADER_VERSION,
        }
    }

    pub fn digest(&self) -> Digest {
        sha256(&[&self.encode()])
    }

    /// The execution result this header anchors for `height`, if any.
    pub fn result_for(&self, height: u64) -> Option<&ExecResult> {
        let first = self.exec_height + 1 - self.results.len() as u64;
        if height < first || height > self.exec_height {
            return None;
        }
        self.results.get((height - first) as usize)
    }
}

/// A block with its digest computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub header: Header,
    /// Private so the hashes below always describe them.
    txs: Vec<SignedTransaction>,
    /// Transaction hashes, computed once: admission, verification, execution
    /// and mempool cleanup all need them, and each costs a full encode + SHA-256.
    tx_hashes: Vec<Digest>,
    digest: Digest,
}

impl Block {
    pub fn new(header: Header, txs: Vec<SignedTransaction>) -> Self {
        let digest = header.digest();
        let tx_hashes = txs.iter().map(SignedTransaction::hash).collect();
        Self {
            header,
            txs,
            tx_hashes,
            digest,
        }
    }

    pub fn txs(&self) -> &[SignedTransaction] {
        &self.txs
    }

    /// `tx_hashes()[i]` is `txs()[i].hash()`.
    pub fn tx_hashes(&self) -> &[Digest] {
        &self.tx_hashes
    }

    /// Recompute the transaction root from the body.
    pub fn compute_tx_root(txs: &[SignedTransaction]) -> Digest {
        let hashes: Vec<Digest> = txs.iter().map(|t| t.hash()).collect();
        merkle::root(&hashes)
    }

    /// Check that the header commits to exactly this body.
    pub fn body_matches_header(&self) -> bool {
        self.header.tx_count as usize == self.txs.len()
            && merkle::root(&self.tx_hashes) == self.header.tx_root
    }

    pub fn height(&self) -> u64 {
        self.header.height
    }

    pub fn hash(&self) -> Digest {
        self.digest
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.txs.write(buf);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.header.encode_size() + self.txs.encode_size()
    }
}

impl Read for Block {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        if buf.remaining() > MAX_BLOCK_BYTES {
            return Err(Error::Invalid("Block", "too large"));
        }
        let header = Header::read(buf)?;
        let txs = Vec::<SignedTransaction>::read_cfg(
            buf,
            &(commonware_codec::RangeCfg::from(0..=MAX_BLOCK_TXS), ()),
        )?;
        Ok(Self::new(header, txs))
    }
}

impl Digestible for Block {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.header.height)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.header.parent
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use commonware_codec::Decode;

    pub(crate) fn header() -> Header {
        Header {
            version: HEADER_VERSION,
            parent: sha256(&[b"p"]),
            height: 3,
            timestamp_ms: 1_700_000_000_000,
            proposer: [7; 32],
            tx_count: 0,
            tx_root: Block::compute_tx_root(&[]),
            exec_height: 2,
            results: vec![ExecResult {
                state_root: sha256(&[b"s"]),
                receipts_root: sha256(&[b"r"]),
            }],
            next_validators: None,
        }
    }

    #[test]
    fn roundtrip_and_digest() {
        let b = Block::new(header(), vec![]);
        let enc = b.encode();
        let d = Block::decode_cfg(enc, &()).unwrap();
        assert_eq!(d, b);
        assert_eq!(d.digest(), b.header.digest());
        assert!(d.body_matches_header());
    }

    #[test]
    fn any_header_change_changes_digest() {
        let a = header();
        let mut b = header();
        b.results[0].state_root = sha256(&[b"t"]);
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.result_for(2), Some(&a.results[0]));
        assert_eq!(a.result_for(1), None);
        assert_eq!(a.result_for(3), None);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use commonware_codec::Decode;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decode_never_panics_and_is_canonical(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(b) = Block::decode_cfg(bytes::Bytes::from(raw.clone()), &()) {
                prop_assert_eq!(b.encode().to_vec(), raw);
            }
        }

        #[test]
        fn truncated_valid_blocks_fail(cut in 0usize..300) {
            let b = Block::new(tests::header(), vec![]);
            let enc = b.encode().to_vec();
            let cut = cut.min(enc.len() - 1);
            prop_assert!(Block::decode_cfg(bytes::Bytes::from(enc[..cut].to_vec()), &()).is_err());
        }
    }
}
