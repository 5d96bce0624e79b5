//! Transaction gossip: what a node admits from a client it sends to every
//! peer, in small batches; what it receives from a peer it authenticates and
//! admits without forwarding again (every validator is a direct peer).

use crate::Shared;
use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, Decode, Encode, EncodeSize, Error, RangeCfg, Read, Write};
use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use futures::{channel::mpsc, StreamExt};
use ingot_types::SignedTransaction;
use std::{sync::Arc, time::Duration};
use tracing::debug;

/// Most transactions in one gossip message.
pub const MAX_GOSSIP_BATCH: usize = 256;
/// How long a transaction may wait to be batched.
const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// A batch of transactions on the wire.
pub struct Batch(pub Vec<SignedTransaction>);

impl Write for Batch {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}
impl EncodeSize for Batch {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}
impl Read for Batch {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Batch(Vec::read_cfg(
            buf,
            &(RangeCfg::from(0..=MAX_GOSSIP_BATCH), ()),
        )?))
    }
}

/// Largest encoded gossip message.
pub const MAX_GOSSIP_BYTES: u32 =
    (MAX_GOSSIP_BATCH * ingot_types::limits::MAX_TX_BYTES + 16) as u32;

pub async fn send_loop<C: Clock, S: Sender<PublicKey = PublicKey>>(
    clock: C,
    mut sender: S,
    mut outbound: mpsc::UnboundedReceiver<SignedTransaction>,
) {
    let mut pending = Vec::new();
    loop {
        // Wait for the first transaction, then give others a moment to join it.
        let Some(first) = outbound.next().await else {
            return;
        };
        pending.push(first);
        clock.sleep(FLUSH_INTERVAL).await;
        while pending.len() < MAX_GOSSIP_BATCH {
            match outbound.try_recv() {
                Ok(tx) => pending.push(tx),
                _ => break,
            }
        }
        let msg: Bytes = Batch(std::mem::take(&mut pending)).encode();
        let _ = sender.send(Recipients::All, msg, false);
    }
}

pub async fn receive_loop<E, R>(shared: Arc<Shared<E>>, mut receiver: R)
where
    E: Storage + Clock + Metrics + Spawner,
    R: Receiver<PublicKey = PublicKey>,
{
    while let Ok((peer, msg)) = receiver.recv().await {
        let Ok(batch) = Batch::decode_cfg(msg.as_ref().to_vec(), &()) else {
            debug!(?peer, "malformed gossip");
            continue;
        };
        shared.submit_all(batch.0, true);
    }
}
