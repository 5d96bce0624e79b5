//! Early checks and durable acceptance of published batches.
//!
//! Messages from every MQTT connection (or the external broker) meet in one
//! pipeline that takes them in groups: decode, topic/device match, device key
//! and status (cached from the chain), one batched signature check, sequence
//! numbers against what this gateway already accepted, then a single durable
//! append for the whole group — and only then the verdicts go back, so a PUBACK
//! always means "on disk". Nothing here is trusted by the chain, which checks
//! it all again; the point is to refuse early, with a reason, and keep junk
//! out of blocks.

use crate::node::{DeviceInfo, NodeClient};
use crate::queue::{batch_digest, DeviceMark, Queue};
pub use crate::shape::{RefusalKind, TOPIC_PREFIX};
use bytes::Bytes;

use ingot_crypto::batch::{verify_all, Item};
use ingot_types::telemetry::ReadingBatch;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};

/// How long a device's key and status are trusted from cache.
const KEY_TTL: Duration = Duration::from_secs(30);
/// Most devices whose key and status, or chain mark, the gateway caches.
/// Topics name devices, so anyone who can publish could otherwise grow the
/// caches without bound; past the limit, expired entries go first, then the
/// whole cache (it is refilled from the chain on demand).
pub const MAX_CACHED_DEVICES: usize = 200_000;
/// Most messages judged (and committed) together.
const MAX_GROUP: usize = 4096;
/// Parallel lookups of devices new to the gateway.
const PREFETCH_THREADS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// On disk; will be forwarded.
    Accepted,
    /// The same batch was accepted before (a QoS 1 redelivery).
    Duplicate,
    Refused(RefusalKind, String),
    /// The gateway could not store it; the device should retry.
    Unavailable(String),
}

/// One published message and where its verdict goes.
pub struct Incoming {
    pub topic: String,
    pub payload: Bytes,
    pub reply: oneshot::Sender<Verdict>,
}

/// Counters for `/status` and tests.
#[derive(Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub accepted_readings: AtomicU64,
    pub duplicates: AtomicU64,
    /// Accepted while the chain was unreachable and the device not yet known:
    /// not checked early (the chain still checks).
    pub unverified: AtomicU64,
    pub refused: Mutex<BTreeMap<&'static str, u64>>,
    pub forwarded_batches: AtomicU64,
    pub forwarded_readings: AtomicU64,
    /// Batches the chain refused (reason → count).
    pub chain_refused: Mutex<BTreeMap<String, u64>>,
    pub transactions: AtomicU64,
    pub node_reachable: AtomicBool,
    pub last_error: Mutex<String>,
    /// MQTT connections closed at once for being over a connection cap.
    pub connections_refused: AtomicU64,
    /// Batches moved to the dead letters since the gateway started.
    pub dead_lettered: AtomicU64,
    /// Plant equipment read by this gateway (`--plant`).
    pub plant: Arc<crate::plant::PlantStats>,
}

impl Stats {
    pub fn refuse(&self, kind: RefusalKind) {
        *self
            .refused
            .lock()
            .unwrap()
            .entry(kind.label())
            .or_default() += 1;
    }

    pub fn to_json(&self, queued: u64, dead_letters: u64) -> serde_json::Value {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "queued": queued,
            "accepted": load(&self.accepted),
            "accepted_readings": load(&self.accepted_readings),
            "duplicates": load(&self.duplicates),
            "unverified": load(&self.unverified),
            "refused": *self.refused.lock().unwrap(),
            "forwarded_batches": load(&self.forwarded_batches),
            "forwarded_readings": load(&self.forwarded_readings),
            "transactions": load(&self.transactions),
            "chain_refused": *self.chain_refused.lock().unwrap(),
            "node_reachable": self.node_reachable.load(Ordering::Relaxed),
            "last_error": *self.last_error.lock().unwrap(),
            "connections_refused": load(&self.connections_refused),
            "dead_letters": dead_letters,
            "dead_lettered": load(&self.dead_lettered),
            "plant": self.plant.to_json(),
        })
    }
}

struct CachedDevice {
    info: DeviceInfo,
    fetched: Instant,
}

pub struct Ingest {
    pub queue: Arc<Queue>,
    pub node: Arc<NodeClient>,
    pub stats: Arc<Stats>,
    pub max_payload: usize,
    /// Per-device rate and queue quota.
    rate: crate::quota::RateLimiter,
    devices: Mutex<HashMap<String, CachedDevice>>,
    /// Marks (sequence, last timestamp) of devices the queue has not seen
    /// yet, from the chain.
    chain_marks: Mutex<HashMap<String, (u64, u64)>>,
}

impl Ingest {
    pub fn new(
        queue: Arc<Queue>,
        node: Arc<NodeClient>,
        stats: Arc<Stats>,
        max_payload: usize,
        limits: crate::quota::DeviceLimits,
    ) -> Self {
        Self {
            queue,
            node,
            stats,
            max_payload,
            rate: crate::quota::RateLimiter::new(limits),
            devices: Mutex::default(),
            chain_marks: Mutex::default(),
        }
    }

    /// The device's key and status (cached for 30 s), for authenticating its
    /// CONNECT. `None` when the chain cannot be asked.
    pub fn device_info(&self, id: &str) -> Option<DeviceInfo> {
        self.device(id)
    }

    /// The device's key and status: cached, else from the chain. `None` when
    /// the chain cannot be asked.
    fn device(&self, id: &str) -> Option<DeviceInfo> {
        if let Some(c) = self.devices.lock().unwrap().get(id) {
            if c.fetched.elapsed() < KEY_TTL {
                return Some(c.info.clone());
            }
        }
        match self.node.device(id) {
            Ok(info) => {
                self.stats.node_reachable.store(true, Ordering::Relaxed);
                let mut cache = self.devices.lock().unwrap();
                if cache.len() >= MAX_CACHED_DEVICES {
                    cache.retain(|_, c| c.fetched.elapsed() < KEY_TTL);
                    if cache.len() >= MAX_CACHED_DEVICES {
                        cache.clear();
                    }
                }
                cache.insert(
                    id.to_string(),
                    CachedDevice {
                        info: info.clone(),
                        fetched: Instant::now(),
                    },
                );
                Some(info)
            }
            Err(e) => {
                *self.stats.last_error.lock().unwrap() = format!("{e:#}");
                // Unreachable: an expired cache entry is better than nothing.
                self.devices.lock().unwrap().get(id).map(|c| c.info.clone())
            }
        }
    }

    /// Highest sequence accepted for a device: the queue's mark, else what the
    /// chain anchored (0 if unknown or unreachable).
    fn last_seq(&self, id: &str) -> anyhow::Result<Mark> {
        if let Some(m) = self.queue.mark(id)? {
            return Ok(Mark::from_queue(m));
        }
        if let Some((seq, ts)) = self.chain_marks.lock().unwrap().get(id) {
            return Ok(Mark {
                seq: *seq,
                last_ts_ms: *ts,
                queue: None,
            });
        }
        let (seq, ts) = self.node.last_seq(id).unwrap_or((0, 0));
        let mut marks = self.chain_marks.lock().unwrap();
        if marks.len() >= MAX_CACHED_DEVICES {
            marks.clear(); // refetched from the chain on demand
        }
        marks.insert(id.to_string(), (seq, ts));
        Ok(Mark {
            seq,
            last_ts_ms: ts,
            queue: None,
        })
    }

    /// Look up devices not in the cache (and their anchored sequence), in
    /// parallel: a fleet coming online must not wait on one request at a time.
    fn prefetch<'a>(&self, ids: impl Iterator<Item = &'a str>) {
        let mut missing: Vec<&str> = {
            let cache = self.devices.lock().unwrap();
            ids.filter(|id| {
                cache
                    .get(*id)
                    .is_none_or(|c| c.fetched.elapsed() >= KEY_TTL)
            })
            .collect()
        };
        missing.sort_unstable();
        missing.dedup();
        if missing.len() < 2 {
            return;
        }
        let per_thread = missing.len().div_ceil(PREFETCH_THREADS);
        std::thread::scope(|scope| {
            for chunk in missing.chunks(per_thread) {
                scope.spawn(move || {
                    for id in chunk {
                        let _ = self.device(id);
                        let _ = self.last_seq(id);
                    }
                });
            }
        });
    }

    /// Judge a group of messages and store the accepted ones durably.
    pub fn process(&self, msgs: &[(String, Bytes)]) -> Vec<Verdict> {
        let mut verdicts: Vec<Option<Verdict>> = vec![None; msgs.len()];
        let mut batches: Vec<Option<ReadingBatch>> = Vec::with_capacity(msgs.len());
        let now = now_ms();
        for (i, (topic, payload)) in msgs.iter().enumerate() {
            match crate::shape::judge_shape(topic, payload, self.max_payload, now) {
                Ok(batch) => batches.push(Some(batch)),
                Err((kind, why)) => {
                    verdicts[i] = Some(Verdict::Refused(kind, why));
                    batches.push(None);
                }
            }
        }

        // Keys and status (new devices looked up in parallel), then one
        // signature check for the group.
        self.prefetch(batches.iter().flatten().map(|b| b.device_id.as_str()));
        let mut infos: HashMap<String, Option<DeviceInfo>> = HashMap::new();
        for (i, b) in batches.iter().enumerate() {
            let (Some(b), None) = (b, &verdicts[i]) else {
                continue;
            };
            let info = infos
                .entry(b.device_id.clone())
                .or_insert_with(|| self.device(&b.device_id));
            match info {
                Some(DeviceInfo::Unknown) => {
                    verdicts[i] = Some(Verdict::Refused(
                        RefusalKind::UnknownDevice,
                        format!("unknown device {}", b.device_id),
                    ))
                }
                Some(DeviceInfo::Known {
                    refusal: Some(why), ..
                })
                | Some(DeviceInfo::Barred(why)) => {
                    verdicts[i] = Some(Verdict::Refused(RefusalKind::Inactive, why.clone()))
                }
                _ => {}
            }
        }
        let messages: Vec<Option<Vec<u8>>> = batches
            .iter()
            .enumerate()
            .map(|(i, b)| match (b, &verdicts[i]) {
                (Some(b), None) => Some(b.root_and_message().1),
                _ => None,
            })
            .collect();
        let (positions, items): (Vec<usize>, Vec<Item>) = batches
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let b = b.as_ref()?;
                let msg = messages[i].as_ref()?;
                match infos.get(&b.device_id)? {
                    Some(DeviceInfo::Known { key, refusal: None }) => Some((
                        i,
                        Item {
                            key,
                            message: msg,
                            signature: &b.signature,
                        },
                    )),
                    _ => None,
                }
            })
            .unzip();
        let valid = verify_all(&items);
        drop(items);
        for (i, ok) in positions.into_iter().zip(valid) {
            if !ok {
                verdicts[i] = Some(Verdict::Refused(
                    RefusalKind::BadSignature,
                    "device signature does not verify".into(),
                ));
            }
        }

        // Sequence numbers, in arrival order, across the group.
        let mut marks: HashMap<String, Mark> = HashMap::new();
        let mut accepted = Vec::new();
        let mut accepted_at = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            let (Some(b), None) = (b, &verdicts[i]) else {
                continue;
            };
            let mark = match marks.get(&b.device_id) {
                Some(m) => m.clone(),
                None => match self.last_seq(&b.device_id) {
                    Ok(m) => m,
                    Err(e) => {
                        verdicts[i] = Some(Verdict::Unavailable(e.to_string()));
                        continue;
                    }
                },
            };
            if b.first_seq <= mark.seq {
                let digest = batch_digest(b);
                let known = mark.queue.as_ref().is_some_and(|q| q.remembers(&digest));
                verdicts[i] = Some(if known {
                    Verdict::Duplicate
                } else {
                    Verdict::Refused(
                        RefusalKind::Replay,
                        format!(
                            "sequence {} already received (last is {}): replayed or reordered",
                            b.first_seq, mark.seq
                        ),
                    )
                });
                continue;
            }
            let first_ts = b.readings[0].timestamp_ms;
            if first_ts < mark.last_ts_ms {
                verdicts[i] = Some(Verdict::Refused(
                    RefusalKind::TimeBeforeLast,
                    format!(
                        "first reading at {first_ts} ms is before the device's last accepted reading at {} ms (clock reset?): the chain would refuse it",
                        mark.last_ts_ms
                    ),
                ));
                continue;
            }
            // The device's own limits, counted only for batches that would
            // otherwise be accepted (junk on its topic costs it nothing).
            let limits = self.rate.limits();
            let waiting = self.queue.queued_for(&b.device_id)
                + accepted
                    .iter()
                    .filter(|a: &&ReadingBatch| a.device_id == b.device_id)
                    .count() as u64;
            if waiting >= limits.queued_batches {
                verdicts[i] = Some(Verdict::Refused(
                    RefusalKind::QueueQuota,
                    format!("{waiting} batches of this device are waiting to be anchored (at most {}): resend later", limits.queued_batches),
                ));
                continue;
            }
            if !self.rate.allow(&b.device_id, Instant::now()) {
                verdicts[i] = Some(Verdict::Refused(
                    RefusalKind::RateLimited,
                    format!("more than {} batches a minute from this device (burst {}): wait and resend", limits.batches_per_minute, limits.burst),
                ));
                continue;
            }
            if matches!(infos.get(&b.device_id), Some(None)) {
                self.stats.unverified.fetch_add(1, Ordering::Relaxed);
            }
            marks.insert(
                b.device_id.clone(),
                Mark::from_queue(DeviceMark::after(mark.queue.as_ref(), b)),
            );
            accepted.push(b.clone());
            accepted_at.push(i);
        }
        match self.queue.append(&accepted) {
            Ok(()) => {
                for (i, b) in accepted_at.iter().zip(&accepted) {
                    verdicts[*i] = Some(Verdict::Accepted);
                    self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .accepted_readings
                        .fetch_add(b.readings.len() as u64, Ordering::Relaxed);
                }
            }
            Err(e) => {
                for i in accepted_at {
                    verdicts[i] = Some(Verdict::Unavailable(e.to_string()));
                }
            }
        }
        verdicts
            .into_iter()
            .map(|v| {
                let v = v.expect("every message judged");
                match &v {
                    Verdict::Refused(kind, _) => self.stats.refuse(*kind),
                    Verdict::Duplicate => {
                        self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
                v
            })
            .collect()
    }
}

/// The gateway's clock, ms since the epoch (block time is close to it).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the gateway knows of a device's accepted batches.
#[derive(Clone)]
struct Mark {
    /// Highest sequence number accepted (here or, failing that, on chain).
    seq: u64,
    /// Timestamp of the last accepted reading.
    last_ts_ms: u64,
    /// This gateway's own mark (digests of recent batches), if it accepted
    /// any from the device.
    queue: Option<DeviceMark>,
}

impl Mark {
    fn from_queue(m: DeviceMark) -> Self {
        Self {
            seq: m.last_seq,
            last_ts_ms: m.last_ts_ms,
            queue: Some(m),
        }
    }
}

/// Run the pipeline until every sender is gone.
pub async fn run(ingest: Arc<Ingest>, mut rx: mpsc::Receiver<Incoming>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(m) => group.push(m),
                Err(_) => break,
            }
        }
        let msgs: Vec<(String, Bytes)> = group
            .iter()
            .map(|m| (m.topic.clone(), m.payload.clone()))
            .collect();
        let ing = ingest.clone();
        let verdicts = match tokio::task::spawn_blocking(move || ing.process(&msgs)).await {
            Ok(v) => v,
            Err(e) => vec![Verdict::Unavailable(e.to_string()); group.len()],
        };
        for (m, v) in group.into_iter().zip(verdicts) {
            let _ = m.reply.send(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::DeviceLimits;
    use commonware_codec::Encode;
    use ingot_crypto::{issue_ca, issue_end_entity, CertSpec, PrivateKey, Role, Scheme};
    use ingot_types::telemetry::{Measurement, Reading};

    /// A gateway whose chain is unreachable: devices are accepted unverified
    /// (the chain checks them later), which is all the limits need.
    fn offline_ingest(dir: &std::path::Path, limits: DeviceLimits) -> Ingest {
        let spec = |cn: &str, role| CertSpec {
            common_name: cn.into(),
            organization: "acme".into(),
            san_uris: vec![],
            not_before: 0,
            not_after: 4_000_000_000,
            role,
        };
        let ca = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let ca_pem = issue_ca(&ca, &spec("ca", Role::Ca)).unwrap();
        let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let pem =
            issue_end_entity(&ca, &ca_pem, &key.public_key(), &spec("gw", Role::Member)).unwrap();
        let node = NodeClient::new("http://127.0.0.1:9", key, &pem).unwrap();
        Ingest::new(
            Arc::new(Queue::open(&dir.join("q.redb")).unwrap()),
            Arc::new(node),
            Arc::new(Stats::default()),
            1 << 20,
            limits,
        )
    }

    fn message(device: &str, seq: u64) -> (String, Bytes) {
        let batch = ReadingBatch {
            device_id: device.into(),
            first_seq: seq,
            readings: vec![Reading {
                timestamp_ms: 1_000 + seq,
                measurements: vec![Measurement {
                    name: "t".into(),
                    value: 1,
                    scale: 0,
                    unit: "C".into(),
                }],
            }],
            signature: Bytes::from_static(&[1; 64]),
        };
        (format!("{TOPIC_PREFIX}{device}"), batch.encode())
    }

    fn kinds(verdicts: &[Verdict]) -> Vec<&'static str> {
        verdicts
            .iter()
            .map(|v| match v {
                Verdict::Accepted => "accepted",
                Verdict::Duplicate => "duplicate",
                Verdict::Refused(kind, _) => kind.label(),
                Verdict::Unavailable(_) => "unavailable",
            })
            .collect()
    }

    #[test]
    fn a_device_over_its_rate_is_refused_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let ingest = offline_ingest(
            dir.path(),
            DeviceLimits {
                batches_per_minute: 1,
                burst: 2,
                queued_batches: 100,
            },
        );
        let group: Vec<_> = (1..=3)
            .map(|s| message("acme:a", s))
            .chain([message("acme:b", 1)])
            .collect();
        let verdicts = ingest.process(&group);
        assert_eq!(
            kinds(&verdicts),
            ["accepted", "accepted", "rate_limited", "accepted"]
        );
        // The refused batch was not stored: its sequence number is still free.
        assert_eq!(ingest.queue.queued_for("acme:a"), 2);
        assert_eq!(ingest.stats.refused.lock().unwrap()["rate_limited"], 1);
    }

    #[test]
    fn a_device_with_too_many_waiting_batches_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ingest = offline_ingest(
            dir.path(),
            DeviceLimits {
                batches_per_minute: 1_000,
                burst: 100,
                queued_batches: 2,
            },
        );
        let first = ingest.process(&[message("acme:a", 1)]);
        assert_eq!(kinds(&first), ["accepted"]);
        let next = ingest.process(&[
            message("acme:a", 2),
            message("acme:a", 3),
            message("acme:b", 1),
        ]);
        assert_eq!(kinds(&next), ["accepted", "queue_quota", "accepted"]);
        // Once the forwarder has delivered, the device may send again.
        let ids: Vec<u64> = ingest
            .queue
            .head(10)
            .unwrap()
            .iter()
            .map(|(i, _)| *i)
            .collect();
        ingest.queue.remove(&ids).unwrap();
        assert_eq!(
            kinds(&ingest.process(&[message("acme:a", 3)])),
            ["accepted"]
        );
    }
}
