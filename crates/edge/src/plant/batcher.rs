//! Samples → readings → batches signed by the gateway device → the ingest.
//!
//! Per equipment, samples of the same instant become one [`Reading`] with
//! several measurements; every `batch_ms` the readings waiting are sorted by
//! time, cut into batches that fit one anchoring transaction, numbered after
//! the equipment's last sequence number (the higher of the gateway's queue
//! mark and the chain's summary) and signed with the gateway device's key.
//! Each batch goes through the ingest like a device's publication and is
//! dropped from memory only once the ingest has it on disk.
//!
//! Before anything is signed the batcher checks, with the node, that its key
//! is the gateway device's and that the chain names this gateway for each
//! equipment; readings of equipment it may not report are dropped, logged
//! once and counted, and the equipment is looked up again every [`RECHECK`].

use super::{PlantStats, Sample};
use crate::{
    ingest::{Incoming, RefusalKind, Verdict},
    node::NodeClient,
    queue::Queue,
};
use commonware_codec::{Encode, EncodeSize};
use ingot_device::{DeviceSigner, PrivateKey};
use ingot_types::telemetry::{Reading, MAX_BATCH_BYTES, MAX_BATCH_READINGS, MAX_MEASUREMENTS};
use std::{
    collections::BTreeMap,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// Readings one equipment may have waiting in memory (the ingest or the
/// node unavailable); beyond it the oldest are dropped and counted.
pub const MAX_PENDING_READINGS: usize = 100_000;
/// Bytes of a batch kept for its head (device id, sequence number, count)
/// and signature: readings fill the rest of [`MAX_BATCH_BYTES`].
const BATCH_HEAD_BYTES: usize = 512;
const _: () = assert!(BATCH_HEAD_BYTES < MAX_BATCH_BYTES);
const _: () = assert!(MAX_PENDING_READINGS >= MAX_BATCH_READINGS);
/// How often an equipment this gateway may not report is looked up again.
pub const RECHECK: Duration = Duration::from_secs(30);
/// Equipment looked up on the node per second at most (two requests each):
/// a gateway starting with a thousand equipment stays well under the node's
/// per-caller request rate (default 500/s), which it shares with its
/// forwarder.
pub const LOOKUPS_PER_SECOND: u64 = 100;

/// Where an equipment's numbering stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resume {
    next_seq: u64,
    last_ts_ms: u64,
}

#[derive(Default)]
struct Pending {
    readings: Vec<Reading>,
    resume: Option<Resume>,
    /// Why this gateway may not report the equipment, as last found, and
    /// when: a fixed registration is noticed, a wrong one logged once.
    barred: Option<(String, Instant)>,
}

pub struct Batcher {
    pub gateway_device: String,
    pub key: PrivateKey,
    pub batch_ms: u64,
    pub queue: Arc<Queue>,
    pub node: Arc<NodeClient>,
    pub ingest: mpsc::Sender<Incoming>,
    pub stats: Arc<PlantStats>,
    /// Whether the key was found to be the gateway device's (at start when
    /// the node answered, else before the first batch).
    pub key_checked: bool,
    /// Whether equipment readings are waiting for the node to answer (logged
    /// when it starts and when it ends, not per equipment).
    pub waiting_for_node: Option<String>,
}

/// Whether `gateway`'s key may sign for `equipment` per the chain's record
/// of it, or why not. `Err` when the node cannot be asked.
pub fn equipment_refusal(
    node: &NodeClient,
    equipment: &str,
    gateway: &str,
) -> anyhow::Result<Option<String>> {
    let Some(v) = node.device_record(equipment)? else {
        return Ok(Some(format!(
            "{equipment} is not registered (device.register_equipment)"
        )));
    };
    if v["trust"] != "gateway_attested" {
        return Ok(Some(format!(
            "{equipment} is a device with its own key, not equipment"
        )));
    }
    Ok(match (v["attested_by"].as_str(), v.get("owner_org")) {
        (Some(g), _) if g == gateway => None,
        (Some(g), _) => Some(format!(
            "{equipment} is attested by {g}, not by this gateway {gateway} (device.set_gateway)"
        )),
        // Only the owner (and regulators) see an equipment's gateway.
        (None, None) => Some(format!("{equipment} belongs to another organisation")),
        (None, Some(_)) => Some(format!("{equipment} has no gateway (device.set_gateway)")),
    })
}

/// Whether `key` is the key of the registered gateway device `gateway`, or
/// why not. `Err` when the node cannot be asked.
pub fn gateway_refusal(
    node: &NodeClient,
    gateway: &str,
    key: &PrivateKey,
) -> anyhow::Result<Option<String>> {
    let Some(v) = node.device_record(gateway)? else {
        return Ok(Some(format!("gateway device {gateway} is not registered")));
    };
    if v["trust"] == "gateway_attested" {
        return Ok(Some(format!(
            "{gateway} is equipment; a gateway is a device with its own certificate"
        )));
    }
    let registered = crate::node::device_key(gateway, &v)?;
    Ok((registered != key.public_key())
        .then(|| format!("the gateway key is not the key of {gateway}'s registered certificate")))
}

/// Add a sample to the readings waiting: into the last reading when it is of
/// the same instant and has room, else as a new reading.
fn add(readings: &mut Vec<Reading>, s: Sample) {
    if let Some(last) = readings.last_mut() {
        if last.timestamp_ms == s.timestamp_ms
            && last.measurements.len() < MAX_MEASUREMENTS
            && !last
                .measurements
                .iter()
                .any(|m| m.name == s.measurement.name)
        {
            last.measurements.push(s.measurement);
            return;
        }
    }
    readings.push(Reading {
        timestamp_ms: s.timestamp_ms,
        measurements: vec![s.measurement],
    });
}

/// How many of `readings` (from the front) fill one batch.
fn batch_len(readings: &[Reading]) -> usize {
    let mut bytes = BATCH_HEAD_BYTES;
    let mut n = 0;
    for r in readings.iter().take(MAX_BATCH_READINGS) {
        bytes += r.encode_size();
        if bytes > MAX_BATCH_BYTES {
            break;
        }
        n += 1;
    }
    n.max(1)
}

impl Batcher {
    /// Take samples until every source is gone; flush every `batch_ms`.
    pub async fn run(mut self, mut samples: mpsc::Receiver<Sample>) {
        let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(self.batch_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                sample = samples.recv() => match sample {
                    Some(s) => {
                        let p = pending.entry(s.equipment.clone()).or_default();
                        add(&mut p.readings, s);
                        if p.readings.len() > MAX_PENDING_READINGS {
                            let over = p.readings.len() - MAX_PENDING_READINGS;
                            p.readings.drain(..over);
                            self.dropped(over);
                        }
                    }
                    None => {
                        self.flush(&mut pending).await;
                        return;
                    }
                },
                _ = tick.tick() => self.flush(&mut pending).await,
            }
        }
    }

    fn dropped(&self, readings: usize) {
        self.stats
            .readings_dropped
            .fetch_add(readings as u64, Ordering::Relaxed);
    }

    /// Whether the key is the gateway device's: `false` while unknown (the
    /// node unreachable) or when it is not (then every reading is dropped).
    async fn key_is_the_gateways(&mut self, pending: &mut BTreeMap<String, Pending>) -> bool {
        if self.key_checked {
            return true;
        }
        let (node, gateway, key) = (
            self.node.clone(),
            self.gateway_device.clone(),
            self.key.clone(),
        );
        match tokio::task::spawn_blocking(move || gateway_refusal(&node, &gateway, &key)).await {
            Ok(Ok(None)) => self.key_checked = true,
            Ok(Ok(Some(why))) => {
                error!(gateway = %self.gateway_device, %why, "equipment readings cannot be signed; dropped");
                for p in pending.values_mut() {
                    self.dropped(p.readings.len());
                    p.readings.clear();
                }
            }
            _ => {} // the node is unreachable: readings wait
        }
        self.key_checked
    }

    async fn flush(&mut self, pending: &mut BTreeMap<String, Pending>) {
        if pending.values().all(|p| p.readings.is_empty())
            || !self.key_is_the_gateways(pending).await
        {
            return;
        }
        let mut lookups = (LOOKUPS_PER_SECOND * self.batch_ms / 1000).max(1);
        let mut unreachable = None;
        for (equipment, p) in pending.iter_mut() {
            if p.readings.is_empty() {
                continue;
            }
            if let Some((why, at)) = &p.barred {
                if at.elapsed() < RECHECK {
                    debug!(%equipment, %why, dropped = p.readings.len(), "equipment readings dropped");
                    self.dropped(p.readings.len());
                    p.readings.clear();
                    continue;
                }
            }
            if p.resume.is_none() || p.barred.is_some() {
                if lookups == 0 {
                    continue; // looked up in a later round; readings wait
                }
                lookups -= 1;
                match self.prepare(equipment).await {
                    Ok(resume) => {
                        if p.barred.take().is_some() {
                            info!(%equipment, "this gateway may report the equipment again");
                        }
                        p.resume = Some(resume);
                    }
                    Err(Lookup::Barred(why)) => {
                        if p.barred.as_ref().is_none_or(|(was, _)| *was != why) {
                            warn!(%equipment, gateway = %self.gateway_device, %why,
                                "this gateway may not report the equipment; its readings are dropped (looked up again every 30 s)");
                        }
                        self.dropped(p.readings.len());
                        p.readings.clear();
                        p.resume = None;
                        p.barred = Some((why, Instant::now()));
                        continue;
                    }
                    Err(Lookup::Unreachable(e)) => {
                        unreachable = Some(e);
                        continue; // readings wait
                    }
                }
            }
            let Some(mut at) = p.resume else { continue };
            p.readings.sort_by_key(|r| r.timestamp_ms);
            let stale = p
                .readings
                .partition_point(|r| r.timestamp_ms < at.last_ts_ms);
            if stale > 0 {
                // E.g. an OPC UA server's unchanged values, sent again with
                // their old source time on every new subscription.
                p.readings.drain(..stale);
                self.dropped(stale);
                debug!(%equipment, stale, "readings older than the equipment's last anchored reading dropped");
            }
            while !p.readings.is_empty() {
                let n = batch_len(&p.readings);
                let chunk: Vec<Reading> = p.readings[..n].to_vec();
                let signed = DeviceSigner::new(equipment.as_str(), self.key.clone(), at.next_seq)
                    .sign(chunk);
                let batch = match signed {
                    Ok(b) => b,
                    Err(e) => {
                        error!(%equipment, error = %e, "cannot sign readings; dropped");
                        p.readings.drain(..n);
                        self.dropped(n);
                        continue;
                    }
                };
                match self.submit(equipment, batch.encode().to_vec()).await {
                    Some(Verdict::Accepted) | Some(Verdict::Duplicate) => {
                        at = Resume {
                            next_seq: batch.last_seq() + 1,
                            last_ts_ms: batch.readings.last().map_or(0, |r| r.timestamp_ms),
                        };
                        p.resume = Some(at);
                        p.readings.drain(..n);
                        self.stats.batches_accepted.fetch_add(1, Ordering::Relaxed);
                        self.stats
                            .readings_accepted
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                    // Not stored now: the same readings go again next round.
                    None
                    | Some(Verdict::Unavailable(_))
                    | Some(Verdict::Refused(
                        RefusalKind::RateLimited | RefusalKind::QueueQuota,
                        _,
                    )) => break,
                    Some(Verdict::Refused(kind, why)) => {
                        error!(%equipment, gateway = %self.gateway_device, refusal = kind.label(), %why,
                            "the gateway refused equipment readings it signed; dropped");
                        self.stats.batches_refused.fetch_add(1, Ordering::Relaxed);
                        self.dropped(n);
                        p.readings.drain(..n);
                        // Numbering or registration moved on: ask again.
                        p.resume = None;
                        break;
                    }
                }
            }
        }
        match (unreachable, self.waiting_for_node.is_some()) {
            (Some(e), false) => {
                warn!(error = %e, "the node cannot be asked about equipment; their readings wait");
                self.waiting_for_node = Some(e);
            }
            (None, true) if lookups > 0 => {
                info!("the node answers again; equipment readings go on");
                self.waiting_for_node = None;
            }
            _ => {}
        }
        pending.retain(|_, p| !p.readings.is_empty() || p.resume.is_some() || p.barred.is_some());
    }

    /// Hand one signed batch to the ingest and wait for its verdict (`None`
    /// if the ingest is gone).
    async fn submit(&self, equipment: &str, payload: Vec<u8>) -> Option<Verdict> {
        let (reply, verdict) = oneshot::channel();
        let incoming = Incoming {
            topic: ingot_device::topic(equipment),
            payload: payload.into(),
            reply,
        };
        self.ingest.send(incoming).await.ok()?;
        verdict.await.ok()
    }

    /// Whether this gateway may report the equipment and, if so, where its
    /// numbering stands: after the higher of the queue's mark and the
    /// chain's summary (another gateway may have reported it meanwhile).
    /// Unreachable while the node cannot be asked (or is busy): the queue
    /// alone may be behind the chain, and its numbers refused as replays.
    async fn prepare(&self, equipment: &str) -> Result<Resume, Lookup> {
        let (queue, node, id) = (self.queue.clone(), self.node.clone(), equipment.to_string());
        let gateway = self.gateway_device.clone();
        let found =
            tokio::task::spawn_blocking(move || -> anyhow::Result<Result<Resume, String>> {
                if let Some(why) = equipment_refusal(&node, &id, &gateway)? {
                    return Ok(Err(why));
                }
                let (chain_seq, chain_ts) = node.last_seq(&id)?;
                let (queue_seq, queue_ts) = queue
                    .mark(&id)?
                    .map_or((0, 0), |m| (m.last_seq, m.last_ts_ms));
                Ok(Ok(Resume {
                    next_seq: chain_seq.max(queue_seq) + 1,
                    last_ts_ms: chain_ts.max(queue_ts),
                }))
            })
            .await;
        match found {
            Ok(Ok(Ok(r))) => {
                debug!(%equipment, next_seq = r.next_seq, "equipment numbering resumed");
                Ok(r)
            }
            Ok(Ok(Err(why))) => Err(Lookup::Barred(why)),
            Ok(Err(e)) => Err(Lookup::Unreachable(format!("{e:#}"))),
            Err(e) => Err(Lookup::Unreachable(e.to_string())),
        }
    }
}

/// Why an equipment cannot be reported now.
enum Lookup {
    /// This gateway may not report it (the reason).
    Barred(String),
    /// The node could not be asked (or refused the request for its rate).
    Unreachable(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_device::measurement;

    fn sample(ts: u64, name: &str, v: i64) -> Sample {
        Sample {
            equipment: "acme:P".into(),
            timestamp_ms: ts,
            measurement: measurement(name, v, 0, ""),
        }
    }

    #[test]
    fn samples_of_one_instant_share_a_reading() {
        let mut r = Vec::new();
        add(&mut r, sample(1, "a", 1));
        add(&mut r, sample(1, "b", 2));
        add(&mut r, sample(1, "a", 3)); // same name again: a new reading
        add(&mut r, sample(2, "a", 4));
        let shape: Vec<(u64, usize)> = r
            .iter()
            .map(|x| (x.timestamp_ms, x.measurements.len()))
            .collect();
        assert_eq!(shape, [(1, 2), (1, 1), (2, 1)]);
    }

    #[test]
    fn a_batch_fits_one_anchoring_transaction() {
        let wide = Reading {
            timestamp_ms: 1,
            measurements: (0..MAX_MEASUREMENTS)
                .map(|i| {
                    measurement(
                        &format!("measurement-number-{i:02}"),
                        i64::MAX,
                        18,
                        "unit-of-sixteen!",
                    )
                })
                .collect(),
        };
        let readings = vec![wide; 2_000];
        let n = batch_len(&readings);
        assert!(n < readings.len());
        let key = PrivateKey::generate(ingot_crypto::Scheme::Ed25519).unwrap();
        let batch = DeviceSigner::new("acme:P", key, 1)
            .sign(readings[..n].to_vec())
            .unwrap();
        assert!(
            batch.encode().len() <= MAX_BATCH_BYTES,
            "{}",
            batch.encode().len()
        );
        let one_more = DeviceSigner::new(
            "acme:P",
            PrivateKey::generate(ingot_crypto::Scheme::Ed25519).unwrap(),
            1,
        )
        .sign(readings[..n + 1].to_vec())
        .unwrap();
        assert!(one_more.encode().len() > MAX_BATCH_BYTES - BATCH_HEAD_BYTES);
    }
}
