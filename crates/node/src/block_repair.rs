//! Refetching damaged blocks from peers (the repair half of
//! [`crate::archive_guard`]).
//!
//! Every [`REPAIR_INTERVAL`], each height found damaged is asked of every
//! peer on the repair channel. A peer answers from its own archives (through
//! marshal, so its own damage is guarded too) with the block and, when it
//! holds one, the block's finalization certificate. A copy is kept only if it
//! is *the* finalized block of that height, judged by what this node already
//! trusts, in this order: the digest its execution journal recorded for the
//! height; its own certificate of the height; the parent link of its own
//! next block; and only failing all three, the certificate that came with
//! the copy, verified against the genesis validator set. Anything else is
//! dropped, so a lying peer can waste a little bandwidth but never plant a
//! block.

use crate::{
    archive_guard::ArchiveRepairs, engine::FinalizationOf, engine::MarshalMailbox, Shared,
    CONSENSUS_NAMESPACE,
};
use bytes::{BufMut, Bytes};
use commonware_codec::{
    Buf, Decode, Encode, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write,
};
use commonware_consensus::{simplex::scheme::ed25519, types::Height, Epochable};
use commonware_cryptography::{ed25519::PublicKey, Digestible};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_types::{limits::MAX_BLOCK_BYTES, Block, Digest};
use std::{sync::Arc, time::Duration};
use tracing::{debug, warn};

/// How often damaged heights are asked of peers.
pub const REPAIR_INTERVAL: Duration = Duration::from_secs(1);
/// Most damaged heights asked for per interval.
pub const MAX_REPAIRS_PER_INTERVAL: usize = 8;
/// Most repair answers a node sends per interval (each can be a whole
/// block): a peer asking for more is ignored until the next interval.
pub const MAX_ANSWERS_PER_INTERVAL: usize = 4 * MAX_REPAIRS_PER_INTERVAL;
// A node answers at least as many asks as one peer sends per interval.
const _: () = assert!(MAX_ANSWERS_PER_INTERVAL >= MAX_REPAIRS_PER_INTERVAL);
/// Largest encoded finalization certificate accepted from a peer.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;
/// Largest repair message (an answer: height, block, certificate).
pub const MAX_REPAIR_MESSAGE_BYTES: u32 = (MAX_BLOCK_BYTES + MAX_CERTIFICATE_BYTES + 64) as u32;

/// A message on the repair channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepairMessage {
    /// "Send me your finalized block of this height."
    Ask { height: u64 },
    /// A block (encoded) and, when the sender holds it, its certificate
    /// (encoded).
    Answer {
        height: u64,
        block: Bytes,
        certificate: Option<Bytes>,
    },
}

const ASK: u8 = 0;
const ANSWER: u8 = 1;

impl Write for RepairMessage {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            RepairMessage::Ask { height } => {
                ASK.write(buf);
                height.write(buf);
            }
            RepairMessage::Answer {
                height,
                block,
                certificate,
            } => {
                ANSWER.write(buf);
                height.write(buf);
                block.write(buf);
                certificate.write(buf);
            }
        }
    }
}

impl EncodeSize for RepairMessage {
    fn encode_size(&self) -> usize {
        match self {
            RepairMessage::Ask { height } => 1 + height.encode_size(),
            RepairMessage::Answer {
                height,
                block,
                certificate,
            } => 1 + height.encode_size() + block.encode_size() + certificate.encode_size(),
        }
    }
}

impl Read for RepairMessage {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            ASK => Ok(RepairMessage::Ask {
                height: u64::read(buf)?,
            }),
            ANSWER => Ok(RepairMessage::Answer {
                height: u64::read(buf)?,
                block: Bytes::read_cfg(buf, &RangeCfg::from(0..=MAX_BLOCK_BYTES))?,
                certificate: Option::<Bytes>::read_cfg(
                    buf,
                    &RangeCfg::from(0..=MAX_CERTIFICATE_BYTES),
                )?,
            }),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// Ask peers for every damaged height, forever.
pub async fn ask_loop<E, C, S>(clock: C, repairs: Arc<ArchiveRepairs<E>>, mut sender: S)
where
    E: Storage + Clock + Metrics,
    C: Clock,
    S: Sender<PublicKey = PublicKey>,
{
    loop {
        clock.sleep(REPAIR_INTERVAL).await;
        for height in repairs.damaged(MAX_REPAIRS_PER_INTERVAL) {
            let msg: Bytes = RepairMessage::Ask { height }.encode();
            let _ = sender.send(Recipients::All, msg, false);
        }
    }
}

/// Answer peers' asks and take verified answers to ours.
pub async fn receive_loop<E, C, S, R>(
    clock: C,
    shared: Arc<Shared<E>>,
    marshal: MarshalMailbox,
    mut sender: S,
    mut receiver: R,
) where
    E: Storage + Clock + Metrics + Spawner,
    C: Clock,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let mut window_start = clock.current();
    let mut answered = 0usize;
    while let Ok((peer, msg)) = receiver.recv().await {
        let msg = match RepairMessage::decode_cfg(msg.as_ref().to_vec(), &()) {
            Ok(msg) => msg,
            Err(e) => {
                debug!(?peer, error = %e, "malformed repair message");
                continue;
            }
        };
        match msg {
            RepairMessage::Ask { height } => {
                let now = clock.current();
                if now
                    .duration_since(window_start)
                    .is_ok_and(|elapsed| elapsed >= REPAIR_INTERVAL)
                {
                    window_start = now;
                    answered = 0;
                }
                if answered >= MAX_ANSWERS_PER_INTERVAL {
                    continue;
                }
                let Some(answer) = answer(&marshal, height).await else {
                    continue;
                };
                answered += 1;
                let _ = sender.send(Recipients::One(peer), answer.encode(), false);
            }
            RepairMessage::Answer {
                height,
                block,
                certificate,
            } => {
                if !shared.repairs.is_damaged(height) {
                    continue;
                }
                match accept(&shared, &marshal, height, &block, certificate.as_ref()).await {
                    Ok((digest, block, certificate)) => {
                        if let Err(e) = shared
                            .repairs
                            .store(height, digest, block, certificate)
                            .await
                        {
                            warn!(height, error = %e, "cannot keep the repaired block");
                        }
                    }
                    Err(reason) => warn!(?peer, height, reason, "repair answer refused"),
                }
            }
        }
    }
}

/// Our finalized block of `height` (and its certificate) for a peer.
async fn answer(marshal: &MarshalMailbox, height: u64) -> Option<RepairMessage> {
    let block = marshal.get_block(Height::new(height)).await?;
    let certificate = marshal.get_finalization(Height::new(height)).await;
    Some(RepairMessage::Answer {
        height,
        block: block.inner().encode(),
        certificate: certificate.map(|c| c.encode()),
    })
}

/// Decode and judge a peer's copy of the block of `height` (see the module
/// comment for whose word counts).
async fn accept<E: Storage + Clock + Metrics + Spawner>(
    shared: &Shared<E>,
    marshal: &MarshalMailbox,
    height: u64,
    block: &Bytes,
    certificate: Option<&Bytes>,
) -> Result<(Digest, Arc<Block>, Option<FinalizationOf>), &'static str> {
    let block = Block::decode_cfg(block.clone(), &()).map_err(|_| "block does not decode")?;
    if block.header.height != height {
        return Err("block is of another height");
    }
    let digest = block.digest();
    // The epoch's set: named by the stored boundary block before it, else
    // as this node's state decided it once executed far enough (a repair
    // that cannot be judged yet is asked for again later).
    let epocher = crate::epochs::epocher(&shared.genesis);
    let epoch = commonware_consensus::types::Epoch::new(height / shared.genesis.epoch_length());
    let set = crate::orchestrator::known_set(shared, marshal, &epocher, epoch)
        .await
        .ok_or("the validator set of the block's epoch is not known yet")?;
    let verifier = ed25519::Scheme::verifier(CONSENSUS_NAMESPACE, set);
    let certificate = match certificate {
        Some(raw) => {
            let cfg =
                commonware_cryptography::certificate::Verifier::certificate_codec_config(&verifier);
            let fin = FinalizationOf::decode_cfg(raw.clone(), &cfg)
                .map_err(|_| "certificate does not decode")?;
            let mut rng = rand10::rng();
            if fin.epoch() != epoch
                || fin.proposal.payload != digest
                || !fin.verify(&mut rng, &verifier, &Sequential)
            {
                return Err("certificate does not certify this block");
            }
            Some(fin)
        }
        None => None,
    };
    let expected = match trusted_digest(shared, marshal, height).await {
        Some(expected) => expected,
        None if certificate.is_some() => digest,
        None => return Err("nothing local vouches for the block and no certificate came with it"),
    };
    if expected != digest {
        return Err("not the block this chain finalized at that height");
    }
    Ok((digest, Arc::new(block), certificate))
}

/// The digest of the finalized block of `height` by this node's own
/// records, when it has one that is readable.
async fn trusted_digest<E: Storage + Clock + Metrics + Spawner>(
    shared: &Shared<E>,
    marshal: &MarshalMailbox,
    height: u64,
) -> Option<Digest> {
    if let Ok(Some(record)) = shared.ledger.lock().await.record(height).await {
        return Some(record.block);
    }
    if let Some(fin) = marshal.get_finalization(Height::new(height)).await {
        return Some(fin.proposal.payload);
    }
    let child = marshal.get_block(Height::new(height + 1)).await?;
    Some(child.inner().header.parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for msg in [
            RepairMessage::Ask { height: 7 },
            RepairMessage::Answer {
                height: 9,
                block: Bytes::from_static(b"block"),
                certificate: None,
            },
            RepairMessage::Answer {
                height: u64::MAX,
                block: Bytes::new(),
                certificate: Some(Bytes::from_static(b"cert")),
            },
        ] {
            let bytes = msg.encode();
            assert_eq!(bytes.len(), msg.encode_size());
            assert_eq!(RepairMessage::decode_cfg(bytes, &()).unwrap(), msg);
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        // Unknown kind, truncated height, trailing bytes.
        for raw in [vec![2u8, 0, 0], vec![ASK, 1, 2], {
            let mut v = RepairMessage::Ask { height: 1 }.encode().to_vec();
            v.push(0);
            v
        }] {
            assert!(RepairMessage::decode_cfg(raw.as_slice().to_vec(), &()).is_err());
        }
        // A certificate over the bound.
        let oversized = RepairMessage::Answer {
            height: 1,
            block: Bytes::new(),
            certificate: Some(Bytes::from(vec![0u8; MAX_CERTIFICATE_BYTES + 1])),
        };
        assert!(RepairMessage::decode_cfg(oversized.encode(), &()).is_err());
    }

    #[test]
    fn limits_fit_the_p2p_message_bound() {
        assert!(
            crate::engine::max_message_size(4) >= MAX_REPAIR_MESSAGE_BYTES,
            "a whole repair answer must fit one p2p message"
        );
    }
}
