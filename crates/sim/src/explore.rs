//! The fault-schedule explorer: from one seed, a whole history — validators,
//! Byzantine ones, a workload and a schedule of crashes, partitions and
//! degraded links — run in the deterministic runtime, with the invariants
//! checked during and after it. A failing schedule can be shrunk to the
//! fewest faults that still fail.
//!
//! Fault model (what BFT promises to tolerate): at most f = ⌊(n−1)/3⌋
//! Byzantine validators for the whole run; any number of crashes (each
//! restarts from its own storage), partitions of any shape and lossy, slow
//! links — all healed by the end of the schedule.
//!
//! Invariants: no panic anywhere; every honest node has the same block and
//! the same execution results (state and receipts roots) at every height it
//! executed; every transaction any honest node executed is executed by all,
//! at the same place; after the last fault heals, the chain finalizes new
//! blocks and every honest node catches up within [`LIVENESS_BOUND`].

use crate::{
    consortium, network, start_byzantine, start_node_skewed, Byzantine, Consortium, Ctx, Node, LINK,
};
use commonware_cryptography::{ed25519, Signer as _};
use commonware_p2p::simulated::{Link, Oracle};
use commonware_runtime::{
    deterministic::{PartialWriteMode, WriteConfig},
    Clock,
};
use commonware_utils::Probability;
use std::{collections::BTreeMap, time::Duration};

/// After the last fault heals, how long (simulated) the honest nodes have to
/// finalize new blocks and all catch up.
pub const LIVENESS_BOUND: Duration = Duration::from_secs(120);
/// Blocks beyond the highest height at heal time every honest node must reach.
const LIVENESS_BLOCKS: u64 = 3;
/// Faults happen within this span (simulated).
const SPAN_MS: u64 = 30_000;
/// How long a workload transaction stays valid, in blocks from the tip of
/// the validator it is submitted to.
const VALIDITY_BLOCKS: u64 = 500;
const _: () = assert!(VALIDITY_BLOCKS <= ingot_types::limits::MAX_VALIDITY_BLOCKS);
/// Longest spell of disk errors, and the highest rate of failed
/// operations in it (per mille): every validator meets some failure within
/// a second at these rates, so longer spells would only stop them again.
const MAX_DISK_ERRORS_MS: u64 = 3_000;
const MAX_DISK_ERROR_PM: u64 = 20;
/// How far a validator's clock may read from true time: two such clocks
/// disagree by at most the drift verifiers accept in block timestamps.
pub const MAX_SKEW_MS: i64 = ingot_node::app::MAX_CLOCK_DRIFT_MS as i64 / 2;
const _: () = assert!(2 * MAX_SKEW_MS <= ingot_node::app::MAX_CLOCK_DRIFT_MS as i64);

/// One fault of a schedule; times are simulated milliseconds from the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Validator `node` is killed at `at_ms` and restarted `down_ms` later.
    Crash {
        node: usize,
        at_ms: u64,
        down_ms: u64,
    },
    /// The validators in `side` and the others cannot reach each other.
    Partition {
        side: Vec<usize>,
        at_ms: u64,
        for_ms: u64,
    },
    /// Every validator loses power at `at_ms` at once: what a validator
    /// had not synced is lost, except a random part of each write
    /// (`retained_pct` of its bytes, a prefix or a random `subset`: torn
    /// writes), then all restart from their own storage.
    PowerLoss {
        at_ms: u64,
        retained_pct: u8,
        subset: bool,
    },
    /// Every validator's disk fails a share of operations (per mille of
    /// reads, writes and syncs) for a while. A validator that meets a failure
    /// stops (fail-stop: a component fails, the validator with it, as the
    /// process exits on a real host) and is restarted at once, as a
    /// supervisor would.
    DiskErrors {
        at_ms: u64,
        for_ms: u64,
        read_pm: u16,
        write_pm: u16,
        sync_pm: u16,
    },
    /// The link between `a` and `b` (both ways) loses and delays messages.
    Degrade {
        a: usize,
        b: usize,
        at_ms: u64,
        for_ms: u64,
        delivered_pct: u8,
        latency_ms: u64,
    },
}

/// A whole history to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub validators: usize,
    pub byzantine: Vec<(usize, Byzantine)>,
    /// How far each validator's clock reads from true time (ms), within
    /// ±[`MAX_SKEW_MS`]; empty when every clock is true.
    pub skews: Vec<i64>,
    pub faults: Vec<Fault>,
    /// Transactions submitted, spread over the span, in groups of eight:
    /// a device registration, its activation, an anchored batch of its
    /// readings, an access policy for it, an access request, the device's
    /// redemption of the one-time token, a workflow deployment (every fourth
    /// group) or instance with a timer, and a maintenance record, a
    /// suspension, a decommissioning or a notary record.
    pub transactions: u64,
    /// Blocks per consensus epoch (`None`: one epoch). With epochs, the
    /// faults above land around epoch boundaries too.
    pub epoch_length: Option<u64>,
}

/// splitmix64: a tiny, well-known generator, so a schedule depends on the
/// seed alone.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

impl Schedule {
    /// The schedule of `seed`.
    pub fn draw(seed: u64) -> Self {
        let mut d = Draw(seed);
        let validators = if d.below(4) == 0 { 7 } else { 4 };
        let f = (validators - 1) / 3;
        let kinds = Byzantine::ALL;
        let mut byzantine = Vec::new();
        for _ in 0..d.below(f as u64 + 1) {
            let node = d.below(validators as u64) as usize;
            if byzantine.iter().all(|(n, _)| *n != node) {
                byzantine.push((node, kinds[d.below(kinds.len() as u64) as usize]));
            }
        }
        let skews = if d.below(2) == 0 {
            Vec::new()
        } else {
            (0..validators)
                .map(|_| d.below(2 * MAX_SKEW_MS as u64 + 1) as i64 - MAX_SKEW_MS)
                .collect()
        };
        let mut faults = Vec::new();
        for _ in 0..d.below(6) {
            let at_ms = d.below(SPAN_MS);
            let room = SPAN_MS - at_ms;
            faults.push(match d.below(3) {
                0 => Fault::Crash {
                    node: d.below(validators as u64) as usize,
                    at_ms,
                    down_ms: 1 + d.below(room),
                },
                1 => {
                    let mut side: Vec<usize> =
                        (0..validators).filter(|_| d.below(2) == 0).collect();
                    if side.is_empty() {
                        side.push(0);
                    }
                    Fault::Partition {
                        side,
                        at_ms,
                        for_ms: 1 + d.below(room),
                    }
                }
                _ => {
                    let a = d.below(validators as u64) as usize;
                    let b = (a + 1 + d.below(validators as u64 - 1) as usize) % validators;
                    Fault::Degrade {
                        a,
                        b,
                        at_ms,
                        for_ms: 1 + d.below(room),
                        delivered_pct: 50 + d.below(50) as u8,
                        latency_ms: 5 + d.below(500),
                    }
                }
            });
        }
        // One history in four loses power once (after the others: the
        // draws above stay what they were).
        if d.below(4) == 0 {
            faults.push(Fault::PowerLoss {
                at_ms: d.below(SPAN_MS),
                retained_pct: d.below(101) as u8,
                subset: d.below(2) == 0,
            });
        }
        // One history in four has a spell of disk errors.
        if d.below(4) == 0 {
            let at_ms = d.below(SPAN_MS);
            faults.push(Fault::DiskErrors {
                at_ms,
                for_ms: 1 + d.below((SPAN_MS - at_ms).min(MAX_DISK_ERRORS_MS)),
                read_pm: d.below(MAX_DISK_ERROR_PM + 1) as u16,
                write_pm: d.below(MAX_DISK_ERROR_PM + 1) as u16,
                sync_pm: d.below(MAX_DISK_ERROR_PM + 1) as u16,
            });
        }
        let transactions = 20 + d.below(100);
        // One history in two runs the shortest epochs genesis allows
        // (drawn last, so the draws above stay what they were).
        let epoch_length = (d.below(2) == 0).then_some(ingot_types::genesis::MIN_EPOCH_LENGTH);
        Schedule {
            validators,
            byzantine,
            skews,
            faults,
            transactions,
            epoch_length,
        }
    }

    /// Smaller schedules to try when shrinking: one fault, one Byzantine
    /// validator fewer, or half the transactions.
    fn smaller(&self) -> Vec<Schedule> {
        let mut out = Vec::new();
        for i in 0..self.faults.len() {
            let mut s = self.clone();
            s.faults.remove(i);
            out.push(s);
        }
        for i in 0..self.byzantine.len() {
            let mut s = self.clone();
            s.byzantine.remove(i);
            out.push(s);
        }
        if !self.skews.is_empty() {
            let mut s = self.clone();
            s.skews.clear();
            out.push(s);
        }
        if self.transactions > 1 {
            let mut s = self.clone();
            s.transactions /= 2;
            out.push(s);
        }
        out
    }

    fn is_byzantine(&self, node: usize) -> bool {
        self.byzantine.iter().any(|(n, _)| *n == node)
    }

    /// Validator `node`'s clock skew (ms).
    fn skew(&self, node: usize) -> i64 {
        self.skews.get(node).copied().unwrap_or(0)
    }
}

/// What a run does at one moment.
#[derive(Clone)]
enum Action {
    Crash(usize),
    Restart(usize),
    Cut(Vec<usize>),
    Mend(Vec<usize>),
    Degrade(usize, usize, Link),
    Restore(usize, usize),
    Submit(u64),
    PowerLoss,
    DiskErrors {
        read_pm: u16,
        write_pm: u16,
        sync_pm: u16,
    },
    DisksHealed,
}

fn timeline(s: &Schedule) -> Vec<(u64, Action)> {
    let mut t = Vec::new();
    for f in &s.faults {
        match f {
            Fault::Crash {
                node,
                at_ms,
                down_ms,
            } => {
                t.push((*at_ms, Action::Crash(*node)));
                t.push((at_ms + down_ms, Action::Restart(*node)));
            }
            Fault::Partition {
                side,
                at_ms,
                for_ms,
            } => {
                t.push((*at_ms, Action::Cut(side.clone())));
                t.push((at_ms + for_ms, Action::Mend(side.clone())));
            }
            Fault::Degrade {
                a,
                b,
                at_ms,
                for_ms,
                delivered_pct,
                latency_ms,
            } => {
                let link = Link {
                    latency: Duration::from_millis(*latency_ms),
                    jitter: Duration::from_millis(latency_ms / 4),
                    success_rate: Probability::new(u64::from(*delivered_pct), 100)
                        .expect("a percentage"),
                };
                t.push((*at_ms, Action::Degrade(*a, *b, link)));
                t.push((at_ms + for_ms, Action::Restore(*a, *b)));
            }
            Fault::PowerLoss { at_ms, .. } => t.push((*at_ms, Action::PowerLoss)),
            Fault::DiskErrors {
                at_ms,
                for_ms,
                read_pm,
                write_pm,
                sync_pm,
            } => {
                t.push((
                    *at_ms,
                    Action::DiskErrors {
                        read_pm: *read_pm,
                        write_pm: *write_pm,
                        sync_pm: *sync_pm,
                    },
                ));
                t.push((at_ms + for_ms, Action::DisksHealed));
            }
        }
    }
    for k in 0..s.transactions {
        t.push((k * SPAN_MS / s.transactions.max(1), Action::Submit(k)));
    }
    // Stable: actions at one moment keep the order above.
    t.sort_by_key(|(at, _)| *at);
    t
}

/// The links between validators: cut while any partition separates them,
/// else degraded while any degradation lasts, else normal.
#[derive(Clone)]
struct Links {
    keys: Vec<ed25519::PublicKey>,
    cuts: BTreeMap<(usize, usize), usize>,
    degraded: BTreeMap<(usize, usize), Vec<Link>>,
}

impl Links {
    fn pair(a: usize, b: usize) -> (usize, usize) {
        (a.min(b), a.max(b))
    }

    /// The pairs whose link is not the normal one now.
    fn altered(&self) -> Vec<(usize, usize)> {
        let cut = self.cuts.iter().filter(|(_, n)| **n > 0).map(|(p, _)| *p);
        let degraded = self
            .degraded
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(p, _)| *p);
        let mut pairs: Vec<_> = cut.chain(degraded).collect();
        pairs.sort();
        pairs.dedup();
        pairs
    }

    fn desired(&self, a: usize, b: usize) -> Option<Link> {
        let p = Self::pair(a, b);
        if self.cuts.get(&p).copied().unwrap_or(0) > 0 {
            return None;
        }
        Some(
            self.degraded
                .get(&p)
                .and_then(|l| l.last().cloned())
                .unwrap_or(LINK),
        )
    }

    async fn apply(&self, oracle: &Oracle<ed25519::PublicKey, Ctx>, a: usize, b: usize) {
        for (x, y) in [(a, b), (b, a)] {
            let _ = oracle
                .remove_link(self.keys[x].clone(), self.keys[y].clone())
                .await;
            if let Some(link) = self.desired(a, b) {
                oracle
                    .add_link(self.keys[x].clone(), self.keys[y].clone(), link)
                    .await
                    .expect("a link between two validators");
            }
        }
    }
}

/// What a run that kept every invariant did: events of successful
/// transactions by `module.kind` (on the first honest validator), so a
/// sweep can tell its workload really ran.
pub type Report = BTreeMap<String, u64>;

/// Run `schedule` in the deterministic runtime from `seed`. `Err` carries
/// the violated invariant (or the panic) for the report.
pub fn run_schedule(
    seed: u64,
    consortium: &Consortium,
    schedule: &Schedule,
) -> Result<Report, String> {
    run_schedule_traced(seed, consortium, schedule).outcome
}

/// A run's outcome and its trace.
pub struct Traced {
    pub outcome: Result<Report, String>,
    /// The deterministic runtime's audit digest (hex): a CRC-32 chained over
    /// every event of the run — tasks, messages, storage operations, random
    /// draws, each with its bytes. Runs with different traces certainly did
    /// different things; one trace is strong evidence of the same run (a
    /// checksum, not a cryptographic hash).
    pub trace: String,
}

/// [`run_schedule`], with the run's trace.
pub fn run_schedule_traced(seed: u64, consortium: &Consortium, schedule: &Schedule) -> Traced {
    use commonware_runtime::deterministic::{self, FaultConfig};
    let mut cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(900)));
    // Torn writes: the share of an unsynced write that survives a power
    // loss is decided when the write is made, so it is set from the start.
    if let Some(Fault::PowerLoss {
        retained_pct,
        subset,
        ..
    }) = schedule
        .faults
        .iter()
        .find(|f| matches!(f, Fault::PowerLoss { .. }))
    {
        cfg = cfg.with_storage_fault_config(FaultConfig::default().write(WriteConfig {
            failure_rate: Probability::new(0, 100).expect("zero"),
            retention_rate: Probability::new(u64::from(*retained_pct), 100).expect("a percentage"),
            mode: if *subset {
                PartialWriteMode::Subset
            } else {
                PartialWriteMode::Prefix
            },
        }));
    }
    // A validator whose disk fails stops by itself (its failed component's
    // panic is caught and stops the rest, as the process exit does on a real
    // host); any other panic is a violation (`watch_panics`).
    cfg = cfg.with_catch_panics(true);
    watch_panics();
    PANICS.with(|p| p.borrow_mut().clear());
    FAIL_STOP_PANICS.with(|n| n.set(0));
    DISKS_FAILING.with(|f| f.set(false));
    let auditor = std::sync::Arc::new(std::sync::Mutex::new(None));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let timeline = timeline(schedule);
        let mut runner = deterministic::Runner::new(cfg);
        let mut consortium = consortium.clone();
        consortium.genesis.epoch_length = schedule.epoch_length;
        let mut carry = Carry::new(&consortium);
        loop {
            let (c, s, t) = (consortium.clone(), schedule.clone(), timeline.clone());
            let slot = auditor.clone();
            let (end, checkpoint) = runner.start_and_recover(|ctx| async move {
                *slot.lock().expect("auditor slot") = Some(ctx.auditor());
                phase(ctx, c, s, t, carry).await
            });
            match end {
                // The runtime crashed its storage as it stopped: the power
                // loss. The next phase restarts every validator from it.
                PhaseEnd::PowerLoss(next) => {
                    carry = *next;
                    runner = deterministic::Runner::from(checkpoint);
                }
                PhaseEnd::Done(result) => return result,
            }
        }
    }));
    let unexpected = PANICS.with(|p| p.borrow().first().cloned());
    let outcome = match outcome {
        Ok(_) if unexpected.is_some() => Err(format!("a panic: {}", unexpected.expect("checked"))),
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into())),
    };
    let trace = auditor
        .lock()
        .expect("auditor slot")
        .as_ref()
        .map(|a| a.state())
        .unwrap_or_default();
    Traced { outcome, trace }
}

thread_local! {
    /// Whether the disks of this thread's run are failing now.
    static DISKS_FAILING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Panics of this thread's run that no disk failure explains.
    static PANICS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Panics a disk failure explains, not yet answered by restarts.
    static FAIL_STOP_PANICS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Record every panic of a run (the runtime catches them so a validator can
/// fail-stop): those a failed disk explains — during a spell of disk errors,
/// or carrying the injected error — are a validator stopping as it should;
/// any other is kept for the run's verdict and printed as usual.
fn watch_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let message = match info.location() {
                Some(at) => format!("{message} (at {at})"),
                None => message,
            };
            let explained =
                DISKS_FAILING.with(|f| f.get()) || message.contains("injected storage fault");
            if !explained {
                PANICS.with(|p| p.borrow_mut().push(message));
                previous(info);
                return;
            }
            FAIL_STOP_PANICS.with(|n| n.set(n.get() + 1));
            if std::env::var_os("INGOT_EXPLORE_SHOW_FAIL_STOPS").is_some() {
                eprintln!("fail-stop: {message}");
            }
        }));
    });
}

/// A simulated device of the workload.
struct Device {
    id: String,
    signer: ingot_device::DeviceSigner,
    /// Its key and certificate (DER), for the transactions it signs itself.
    key: ingot_crypto::PrivateKey,
    der: bytes::Bytes,
    pem: String,
    /// The member's access request for it: its hash is the token's id.
    request: Option<ingot_types::Digest>,
}

/// Transactions per device in the workload (see [`Schedule::transactions`]).
const GROUP: u64 = 8;
/// The workflow of the workload: a round (a subprocess waiting on block
/// time) with a deadline on its boundary, a decision table grading it, then
/// a service task that records the instance's report with the notary. The
/// deadline's timer is disarmed when the round ends first (or fires when a
/// partition holds block time back), so both timer paths run under faults.
const PATROL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Patrol" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:subProcess id="Round">
      <bpmn:startEvent id="RS"/>
      <bpmn:intermediateCatchEvent id="Wait">
        <bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition>
      </bpmn:intermediateCatchEvent>
      <bpmn:endEvent id="RE"/>
      <bpmn:sequenceFlow id="r1" sourceRef="RS" targetRef="Wait"/>
      <bpmn:sequenceFlow id="r2" sourceRef="Wait" targetRef="RE"/>
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="Overdue" attachedToRef="Round">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT3S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:businessRuleTask id="Grade"/>
    <bpmn:serviceTask id="Record"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Round"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Round" targetRef="Grade"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Overdue" targetRef="Grade"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Grade" targetRef="Record"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Record" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// The part of the telemetry gateway a deterministic simulation can run: it
/// judges each published payload as the gateway does
/// (`ingot_edge::shape::judge_shape`) and packs the accepted batches,
/// several devices' in one transaction, as its forwarder does
/// (`ingot_edge::forward::pack`). Its MQTT server, durable queue and HTTP
/// client run on tokio and the host's disk, outside the simulation.
#[derive(Default)]
struct Gateway {
    /// Accepted payloads waiting to be anchored, oldest first.
    waiting: Vec<(String, bytes::Bytes)>,
}

impl Gateway {
    /// A device publishes `payload` on its topic: accepted, or why not.
    fn publish(
        &mut self,
        device: &str,
        payload: bytes::Bytes,
        now_ms: u64,
    ) -> Result<(), &'static str> {
        let topic = ingot_device::topic(device);
        match ingot_edge::shape::judge_shape(
            &topic,
            &payload,
            ingot_edge::DEFAULT_MAX_PACKET,
            now_ms,
        ) {
            Ok(_) => {
                self.waiting.push((device.to_string(), payload));
                Ok(())
            }
            Err((kind, _)) => Err(kind.label()),
        }
    }

    /// The arguments of the next anchoring transaction: as many waiting
    /// batches as one carries, each device's in order.
    fn anchor_args(&mut self) -> Option<bytes::Bytes> {
        let items = self
            .waiting
            .iter()
            .enumerate()
            .map(|(i, (device, payload))| (i as u64, device.as_str(), payload.len()));
        let packed = ingot_edge::forward::pack(items, 1, |_| false);
        let ids: std::collections::BTreeSet<u64> = packed.into_iter().next()?.into_iter().collect();
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        for (i, item) in std::mem::take(&mut self.waiting).into_iter().enumerate() {
            if ids.contains(&(i as u64)) {
                taken.push(item.1);
            } else {
                kept.push(item);
            }
        }
        self.waiting = kept;
        let encoded: Vec<&[u8]> = taken.iter().map(|b| b.as_ref()).collect();
        Some(ingot_types::telemetry::anchor_args(&encoded))
    }
}

/// The workload's transaction `k` (see [`Schedule::transactions`]), or
/// none (a payload the gateway refused, nothing to anchor).
fn workload_tx(
    c: &Consortium,
    devices: &mut BTreeMap<u64, Device>,
    gateway: &mut Gateway,
    refused: &mut Vec<&'static str>,
    k: u64,
    now_ms: u64,
    valid_until: u64,
) -> Option<ingot_types::SignedTransaction> {
    let json_args = |module: &str, method: &str, args: serde_json::Value| {
        ingot_execution::args::from_json(module, method, &args).expect("workload args")
    };
    let json_tx = |module: &str, method: &str, args: serde_json::Value| {
        c.call_tx(
            module,
            method,
            json_args(module, method, args),
            k,
            valid_until,
        )
    };
    let d = k / GROUP;
    Some(match (k % GROUP, devices.get_mut(&d)) {
        (0, _) => {
            let serial = format!("X{d}");
            let (key, pem) = c.device(&serial);
            let id = format!("acme:{serial}");
            let device = Device {
                signer: ingot_device::DeviceSigner::new(&id, key.clone(), 1),
                key,
                der: ingot_crypto::CertInfo::from_pem(&pem)
                    .expect("a simulated certificate")
                    .der
                    .into(),
                id,
                pem,
                request: None,
            };
            let tx = json_tx(
                "device",
                "register",
                serde_json::json!({"certificate_pem": device.pem, "name": format!("acme/explore/x{d}")}),
            );
            devices.insert(d, device);
            tx
        }
        (1, Some(device)) => json_tx(
            "device",
            "activate",
            serde_json::json!({"device_id": device.id}),
        ),
        // The device publishes a signed batch of readings to the gateway,
        // which anchors what waits every other group (two devices' batches
        // in one transaction; a notary record in between).
        (2, Some(device)) => {
            let batch = device
                .signer
                .sign(vec![ingot_device::Reading {
                    timestamp_ms: now_ms,
                    measurements: vec![ingot_device::measurement("temp", k as i64, 1, "C")],
                }])
                .expect("one small reading");
            let payload = commonware_codec::Encode::encode(&batch);
            if let Err(why) = gateway.publish(&device.id, payload, now_ms) {
                refused.push(why);
            }
            if d.is_multiple_of(2) {
                return Some(c.notary_tx(k, valid_until));
            }
            let args = gateway.anchor_args()?;
            c.call_tx("telemetry", "anchor", args, k, valid_until)
        }
        // The owner lets its own members read the device, twice.
        (3, Some(device)) => json_tx(
            "access",
            "set_policy",
            serde_json::json!({"target": format!("device:{}", device.id), "accessor": "org:acme", "operations": ["read"], "max_uses": 2}),
        ),
        (4, Some(device)) => {
            let tx = json_tx(
                "access",
                "request",
                serde_json::json!({"device_id": device.id, "operation": "read"}),
            );
            device.request = Some(tx.hash());
            tx
        }
        // The device redeems the one-time token its owner's request got
        // (refused if the request was lost, denied or not executed yet).
        (5, Some(device)) => {
            let token_id = device.request.map_or([0; 32], |h| h.0);
            ingot_execution::sign_call(
                &device.key,
                device.der.clone(),
                c.genesis.chain_id(),
                valid_until,
                k,
                ingot_types::Call {
                    module: "access".into(),
                    method: "redeem".into(),
                    args: json_args(
                        "access",
                        "redeem",
                        serde_json::json!({"token_id": hex::encode(token_id)}),
                    ),
                },
            )
            .expect("a device signs its redemption")
        }
        // Every fourth group deploys (a new version of) the workflow; the
        // others start an instance, whose timer then fires on block time.
        (6, _) if d.is_multiple_of(4) => json_tx(
            "workflow",
            "deploy",
            serde_json::json!({"xml": PATROL, "bindings": {
                "name": "patrol",
                "participants": {"Patrol": "org:acme"},
                "variables": {"report": "string", "grade": "string"},
                "outputs": {"S": ["report"]},
                "decisions": {"Grade": {"hit": "first", "rules": [{"when": "true", "then": {"grade": "'checked'"}}]}},
                "services": {"Record": {"call": "notary.record", "args": {"document_hash": "report", "metadata": "'patrol report ' + grade"}}}
            }}),
        ),
        (6, _) => json_tx(
            "workflow",
            "start",
            serde_json::json!({"definition": "patrol", "vars": {"report": hex::encode(ingot_types::sha256(&[b"patrol", &k.to_be_bytes()]))}}),
        ),
        // The end of the device's group: a maintenance record, a
        // suspension or a decommissioning, or a notary record.
        (7, Some(device)) if !d.is_multiple_of(4) => {
            let (method, args) = match d % 4 {
                1 => (
                    "record_maintenance",
                    serde_json::json!({"device_id": device.id, "note": "bearing replaced"}),
                ),
                2 => (
                    "suspend",
                    serde_json::json!({"device_id": device.id, "reason": "inspection"}),
                ),
                _ => (
                    "decommission",
                    serde_json::json!({"device_id": device.id, "reason": "end of life"}),
                ),
            };
            json_tx("device", method, args)
        }
        _ => c.notary_tx(k, valid_until),
    })
}

/// What a history carries from one power loss to the next: everything but
/// the running validators.
struct Carry {
    /// The next action of the timeline.
    next: usize,
    /// When the history began (the runtime's clock survives a power loss).
    start: Option<std::time::SystemTime>,
    links: Links,
    /// Honest validators crashed and not restarted yet.
    down: std::collections::BTreeSet<usize>,
    submitted: Vec<ingot_types::Digest>,
    refused: Vec<&'static str>,
    /// Validators restarted after stopping on a failed disk.
    fail_stops: u64,
    devices: BTreeMap<u64, Device>,
    gateway: Gateway,
    /// Transactions some honest validator had executed before a power loss:
    /// acknowledged final, so they must be where they were after it.
    acknowledged: BTreeMap<ingot_types::Digest, ingot_node::ledger_index::TxLocation>,
}

impl Carry {
    fn new(c: &Consortium) -> Self {
        Carry {
            next: 0,
            start: None,
            links: Links {
                keys: c.keys.iter().map(|k| k.public_key()).collect(),
                cuts: BTreeMap::new(),
                degraded: BTreeMap::new(),
            },
            down: Default::default(),
            submitted: Vec::new(),
            refused: Vec::new(),
            fail_stops: 0,
            devices: BTreeMap::new(),
            gateway: Gateway::default(),
            acknowledged: BTreeMap::new(),
        }
    }
}

/// How a phase of a history ends.
enum PhaseEnd {
    PowerLoss(Box<Carry>),
    Done(Result<Report, String>),
}

/// The history from `carry.next` to the end or to the next power loss.
async fn phase(
    ctx: Ctx,
    c: Consortium,
    s: Schedule,
    timeline: Vec<(u64, Action)>,
    mut carry: Carry,
) -> PhaseEnd {
    let oracle = network(&ctx, &c).await;
    let mut nodes: Vec<Option<Node>> = Vec::new();
    let mut _byzantine = Vec::new();
    for i in 0..s.validators {
        match s.byzantine.iter().find(|(n, _)| *n == i) {
            Some((_, kind)) => {
                _byzantine.push(start_byzantine(&ctx, &oracle, &c, i, *kind).await);
                nodes.push(None);
            }
            None if carry.down.contains(&i) => nodes.push(None),
            None => nodes.push(Some(
                start_node_skewed(&ctx, &oracle, &c, i, s.skew(i)).await,
            )),
        }
    }
    // Partitions and degraded links outlive a power loss.
    for (a, b) in carry.links.altered() {
        carry.links.apply(&oracle, a, b).await;
    }
    let honest: Vec<usize> = (0..s.validators).filter(|i| !s.is_byzantine(*i)).collect();
    let start = *carry.start.get_or_insert(ctx.current());
    while let Some((at_ms, action)) = timeline.get(carry.next).cloned() {
        carry.next += 1;
        let due = start + Duration::from_millis(at_ms);
        if let Ok(wait) = due.duration_since(ctx.current()) {
            ctx.sleep(wait).await;
        }
        carry.fail_stops += revive(&ctx, &oracle, &c, &s, &mut nodes).await;
        let links = &mut carry.links;
        match action {
            Action::PowerLoss => {
                for node in honest.iter().filter_map(|i| nodes[*i].as_ref()) {
                    let Some(shared) = node.shared() else {
                        continue;
                    };
                    let ledger = shared.ledger.lock().await;
                    for hash in &carry.submitted {
                        if let Ok(Some(place)) = ledger.locate(hash) {
                            carry.acknowledged.entry(*hash).or_insert(place);
                        }
                    }
                }
                return PhaseEnd::PowerLoss(Box::new(carry));
            }
            Action::DiskErrors {
                read_pm,
                write_pm,
                sync_pm,
            } => {
                let per_mille =
                    |pm: u16| Probability::new(u64::from(pm), 1_000).expect("per mille");
                let faults = ctx.storage_fault_config();
                let mut faults = faults.write();
                faults.read_rate = Some(per_mille(read_pm));
                faults.sync_rate = Some(per_mille(sync_pm));
                // Torn-write retention (a power loss's) stays as it is.
                let write = faults.write_rate.get_or_insert(WriteConfig {
                    failure_rate: per_mille(0),
                    retention_rate: per_mille(0),
                    mode: PartialWriteMode::Prefix,
                });
                write.failure_rate = per_mille(write_pm);
                DISKS_FAILING.with(|f| f.set(true));
            }
            Action::DisksHealed => {
                let faults = ctx.storage_fault_config();
                let mut faults = faults.write();
                faults.read_rate = None;
                faults.sync_rate = None;
                if let Some(write) = faults.write_rate.as_mut() {
                    write.failure_rate = Probability::new(0, 1_000).expect("zero");
                }
                DISKS_FAILING.with(|f| f.set(false));
            }
            Action::Crash(i) => {
                if let Some(node) = nodes[i].take() {
                    node.kill().await;
                }
                if !s.is_byzantine(i) {
                    carry.down.insert(i);
                }
            }
            Action::Restart(i) => {
                // A Byzantine validator stays what it is; an honest one that
                // is already up (two overlapping crashes) stays up.
                if !s.is_byzantine(i) && nodes[i].is_none() {
                    nodes[i] = Some(start_node_skewed(&ctx, &oracle, &c, i, s.skew(i)).await);
                }
                carry.down.remove(&i);
            }
            Action::Cut(side) | Action::Mend(side) if side.len() == s.validators => {}
            Action::Cut(side) => {
                for a in side.iter().copied() {
                    for b in (0..s.validators).filter(|b| !side.contains(b)) {
                        *links.cuts.entry(Links::pair(a, b)).or_default() += 1;
                        links.apply(&oracle, a, b).await;
                    }
                }
            }
            Action::Mend(side) => {
                for a in side.iter().copied() {
                    for b in (0..s.validators).filter(|b| !side.contains(b)) {
                        if let Some(n) = links.cuts.get_mut(&Links::pair(a, b)) {
                            *n -= 1;
                        }
                        links.apply(&oracle, a, b).await;
                    }
                }
            }
            Action::Degrade(a, b, link) => {
                links
                    .degraded
                    .entry(Links::pair(a, b))
                    .or_default()
                    .push(link);
                links.apply(&oracle, a, b).await;
            }
            Action::Restore(a, b) => {
                if let Some(l) = links.degraded.get_mut(&Links::pair(a, b)) {
                    l.remove(0);
                }
                links.apply(&oracle, a, b).await;
            }
            Action::Submit(k) => {
                // To whichever honest validator is up, in turn; a refusal
                // (node down, mempool full) is a client's ordinary retry.
                let up: Vec<&Node> = honest.iter().filter_map(|i| nodes[*i].as_ref()).collect();
                let now_ms = ctx
                    .current()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                if let Some(node) = up.get(k as usize % up.len().max(1)) {
                    if let Some(shared) = node.shared() {
                        // Valid for a while from this node's tip (a client
                        // must stay inside the chain's validity window).
                        let valid_until = shared.executed_height() + VALIDITY_BLOCKS;
                        let tx = workload_tx(
                            &c,
                            &mut carry.devices,
                            &mut carry.gateway,
                            &mut carry.refused,
                            k,
                            now_ms,
                            valid_until,
                        );
                        match tx.map(|tx| shared.submit(tx, false)) {
                            Some(Ok(hash)) => carry.submitted.push(hash),
                            Some(Err(e)) => carry.refused.push(e.code()),
                            None => {}
                        }
                    }
                }
            }
        }
    }
    // Every fault has healed (restarts, mends and the end of disk errors are
    // in the timeline). Liveness: new blocks, and every honest node catches
    // up — validators that stopped on a failed disk restarted.
    if honest.iter().any(|i| nodes[*i].is_none()) {
        return PhaseEnd::Done(Err("an honest validator was not restarted".into()));
    }
    carry.fail_stops += revive(&ctx, &oracle, &c, &s, &mut nodes).await;
    let height = |nodes: &[Option<Node>]| -> Vec<Option<u64>> {
        honest
            .iter()
            .filter_map(|i| nodes[*i].as_ref())
            .map(|n| n.shared().map(|s| s.executed_height()))
            .collect()
    };
    // A validator still opening its storage has no height yet: the target
    // is set once every honest validator is open, from the best of them
    // (set earlier, a seed whose validators were all still opening got a
    // target of 0 + LIVENESS_BLOCKS and checked a validator mid catch-up).
    let deadline = ctx.current() + LIVENESS_BOUND;
    let mut target = None;
    let target = loop {
        let heights = height(&nodes);
        let all_open = heights.len() == honest.len() && heights.iter().all(Option::is_some);
        if all_open {
            let heights: Vec<u64> = heights.iter().flatten().copied().collect();
            let t =
                *target.get_or_insert(heights.iter().max().copied().unwrap_or(0) + LIVENESS_BLOCKS);
            if heights.iter().all(|h| *h >= t) {
                break t;
            }
        }
        if ctx.current() >= deadline {
            return PhaseEnd::Done(Err(format!(
                "liveness: {}s after the last fault healed, honest heights {heights:?} (None: still opening) have not all reached {target:?}",
                LIVENESS_BOUND.as_secs()
            )));
        }
        ctx.sleep(Duration::from_millis(200)).await;
        carry.fail_stops += revive(&ctx, &oracle, &c, &s, &mut nodes).await;
    };
    let alive: Vec<&Node> = honest.iter().filter_map(|i| nodes[*i].as_ref()).collect();
    PhaseEnd::Done(check_healed(&ctx, &c.genesis, &alive, target, &carry).await)
}

/// Restart every honest validator that stopped by itself, as a supervisor
/// (systemd, `ingot up`) would; how many.
///
/// On a host any panic ends the validator's process. Here the runtime
/// catches it, and a panic in a task no validator component watches (a
/// durability task marshal spawned, say) would leave that validator half
/// running, which no host can. The panic cannot tell whose task it was, so
/// after a panic on a failed disk every validator that is up restarts: the
/// one that failed, and crash-restarts of the others, which the fault model
/// tolerates anyway.
async fn revive(
    ctx: &Ctx,
    oracle: &Oracle<ed25519::PublicKey, Ctx>,
    c: &Consortium,
    s: &Schedule,
    nodes: &mut [Option<Node>],
) -> u64 {
    let panicked = FAIL_STOP_PANICS.with(|n| n.replace(0)) > 0;
    let mut revived = 0;
    for (i, node) in nodes.iter_mut().enumerate() {
        if node.as_ref().is_some_and(|n| panicked || n.has_stopped()) {
            if let Some(old) = node.take() {
                old.kill().await;
            }
            *node = Some(start_node_skewed(ctx, oracle, c, i, s.skew(i)).await);
            revived += 1;
        }
    }
    revived
}

/// The invariants at the end of a history, once every fault has healed
/// (restarts and mends are in the timeline).
async fn check_healed(
    ctx: &Ctx,
    genesis: &ingot_types::Genesis,
    alive: &[&Node],
    target: u64,
    carry: &Carry,
) -> Result<Report, String> {
    // Agreement on every executed height.
    crate::agreement(alive, target).await?;
    // Every transaction executed by one honest node is executed by all, at
    // the same place — up to the height all have executed (the chain goes
    // on while we look).
    let common = alive
        .iter()
        .map(|n| n.shared().map_or(0, |s| s.executed_height()))
        .min()
        .unwrap_or(0);
    for hash in &carry.submitted {
        let mut places = Vec::new();
        for node in alive {
            let shared = node.shared().expect("running");
            let ledger = shared.ledger.lock().await;
            let place = ledger.locate(hash).map_err(|e| e.to_string())?;
            places.push(place.filter(|p| p.height <= common));
        }
        if places.iter().any(|p| p.is_some()) && places.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!(
                "transaction {} is located differently: {places:?}",
                ingot_types::hex_digest(hash)
            ));
        }
    }
    // Nothing acknowledged final before a power loss moved or vanished.
    for (hash, place) in &carry.acknowledged {
        for (i, node) in alive.iter().enumerate() {
            let shared = node.shared().expect("running");
            let now = shared
                .ledger
                .lock()
                .await
                .locate(hash)
                .map_err(|e| e.to_string())?;
            if now != Some(*place) {
                return Err(format!(
                    "transaction {} was final at {place:?} before the power loss; honest node {i} now has it at {now:?}",
                    ingot_types::hex_digest(hash)
                ));
            }
        }
    }
    // A failed transaction changed no state (on one node: all agree).
    let with_failures = failures_changed_nothing(ctx, alive[0], genesis, common)
        .await
        .map_err(|e| format!("honest node 0: {e}"))?;
    // Every node's derived stores agree with its chain.
    for (i, node) in alive.iter().enumerate() {
        derived_agree(node, common)
            .await
            .map_err(|e| format!("honest node {i}: {e}"))?;
    }
    let mut report = Report::new();
    if with_failures > 0 {
        report.insert("heights_with_failures_rechecked".into(), with_failures);
    }
    if carry.fail_stops > 0 {
        report.insert("fail_stops".into(), carry.fail_stops);
    }
    if !carry.acknowledged.is_empty() {
        report.insert(
            "final_before_power_loss".into(),
            carry.acknowledged.len() as u64,
        );
    }
    for code in &carry.refused {
        *report.entry(format!("refused.{code}")).or_default() += 1;
    }
    // Exactly once: no transaction succeeds twice (a repeat in a later block
    // is a replay and must fail).
    let mut succeeded = std::collections::BTreeMap::new();
    let shared = alive[0].shared().expect("running");
    let ledger = shared.ledger.lock().await;
    for h in 1..=target {
        let record = ledger
            .record(h)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no execution record at {h}"))?;
        for receipt in record
            .receipts
            .iter()
            .filter(|r| r.status == ingot_types::receipt::Status::Success)
        {
            if let Some(first) = succeeded.insert(receipt.tx_hash, h) {
                return Err(format!(
                    "transaction {} succeeded twice, at heights {first} and {h}",
                    ingot_types::hex_digest(&receipt.tx_hash)
                ));
            }
            for e in &receipt.events {
                *report
                    .entry(format!("{}.{}", e.module, e.kind))
                    .or_default() += 1;
                // Batches per anchoring transaction (the gateway packs
                // several devices' batches into one).
                if (e.module.as_str(), e.kind.as_str()) == ("telemetry", "anchored") {
                    let batches = e
                        .attributes
                        .iter()
                        .find(|(k, _)| k == "batches")
                        .and_then(|(_, v)| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    *report.entry("telemetry.batches".into()).or_default() += batches;
                }
            }
        }
    }
    Ok(report)
}

/// Replay `node`'s finalized blocks up to `height` into a fresh state (a
/// shadow replica, partition prefix `shadow`): every height must give the
/// results the node recorded (execution depends on blocks alone), and at
/// every height with failed transactions, executing only its successful
/// ones from the same state must give the same state root — a failed
/// transaction changed no state. How many heights had failures.
pub async fn failures_changed_nothing(
    ctx: &Ctx,
    node: &Node,
    genesis: &ingot_types::Genesis,
    height: u64,
) -> Result<u64, String> {
    use commonware_runtime::Supervisor as _;
    use ingot_types::receipt::Status;
    let shared = node.shared().ok_or("not running")?;
    let marshal = node.marshal().ok_or("not running")?;
    let trust = ingot_execution::Consortium::from_genesis(genesis).map_err(|e| e.to_string())?;
    let executor = ingot_execution::Executor::new(std::sync::Arc::new(
        ingot_execution::LiveConsortium::new(trust),
    ));
    let mut state = ingot_state::StateStore::open_sized(
        ctx.child("shadow"),
        "shadow",
        ingot_state::IoSizes::COMPACT,
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut with_failures = 0;
    for h in 1..=height {
        let record = shared
            .ledger
            .lock()
            .await
            .record(h)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no execution record at {h}"))?;
        let block = marshal
            .get_block(commonware_consensus::types::Height::new(h))
            .await
            .ok_or_else(|| format!("no finalized block at {h}"))?
            .inner()
            .clone();
        let (outcome, prepared) = executor
            .prepare_block(&state, &block)
            .await
            .map_err(|e| e.to_string())?;
        if outcome.result != record.result {
            return Err(format!(
                "re-executing block {h} from blocks alone gives other results than the node recorded"
            ));
        }
        let successful: Vec<_> = block
            .txs()
            .iter()
            .zip(&record.receipts)
            .filter(|(_, r)| r.status == Status::Success)
            .map(|(tx, _)| tx.clone())
            .collect();
        if successful.len() < block.txs().len() {
            with_failures += 1;
            let only = ingot_types::Block::new(block.header.clone(), successful);
            let (without, _) = executor
                .prepare_block(&state, &only)
                .await
                .map_err(|e| e.to_string())?;
            if without.result.state_root != outcome.result.state_root {
                return Err(format!(
                    "a failed transaction changed state at height {h}: its successful transactions alone give another state root"
                ));
            }
        }
        state.commit(prepared).await.map_err(|e| e.to_string())?;
        executor.install(&outcome.next_consortium);
        executor.recent().record(h, outcome.included);
    }
    state.destroy().await.map_err(|e| e.to_string())?;
    Ok(with_failures)
}

/// A node's derived stores agree with its chain up to `height`: the ledger
/// index locates every transaction where its block has it (the first time,
/// should a block repeat one), and the telemetry store holds, byte for byte,
/// every batch the blocks anchored (recovered from block and receipts the way
/// a rebuild would, `anchored_batches`).
pub async fn derived_agree(node: &crate::Node, height: u64) -> Result<(), String> {
    use commonware_codec::Encode as _;
    use ingot_execution::modules::telemetry::store::{TelemetryStore, STORE};
    let shared = node.shared().ok_or("not running")?;
    let marshal = node.marshal().ok_or("not running")?;
    let telemetry = shared
        .module_store::<TelemetryStore>(STORE)
        .ok_or("no telemetry store")?;
    let ledger = shared.ledger.lock().await;
    let mut seen = std::collections::BTreeSet::new();
    for h in 1..=height {
        let record = ledger
            .record(h)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no execution record at {h}"))?;
        for (index, receipt) in record.receipts.iter().enumerate() {
            if !seen.insert(receipt.tx_hash) {
                continue;
            }
            let located = ledger.locate(&receipt.tx_hash).map_err(|e| e.to_string())?;
            let expected = ingot_node::ledger_index::TxLocation {
                height: h,
                index: index as u32,
            };
            if located != Some(expected) {
                return Err(format!(
                    "ledger index locates transaction {} at {located:?}; block {h} has it at {index}",
                    ingot_types::hex_digest(&receipt.tx_hash)
                ));
            }
        }
        let block = marshal
            .get_block(commonware_consensus::types::Height::new(h))
            .await
            .ok_or_else(|| format!("no finalized block at {h}"))?;
        for anchored in ingot_execution::modules::telemetry::store::anchored_batches(
            block.inner(),
            &record.receipts,
        ) {
            let (device, seq) = (&anchored.batch.device_id, anchored.batch.first_seq);
            let held = telemetry
                .batch_with(device, seq)
                .map_err(|e| e.to_string())?;
            if held.map(|b| b.encode()) != Some(anchored.encode()) {
                return Err(format!(
                    "telemetry store does not hold batch {device}#{seq} anchored at height {h} as anchored"
                ));
            }
        }
    }
    Ok(())
}

/// Shrink a failing schedule: repeatedly take the first smaller schedule
/// that still fails, until none does.
pub fn shrink(seed: u64, consortium: &dyn Fn(usize) -> Consortium, failing: Schedule) -> Schedule {
    let mut current = failing;
    'outer: loop {
        for candidate in current.smaller() {
            if run_schedule(seed, &consortium(candidate.validators), &candidate).is_err() {
                current = candidate;
                continue 'outer;
            }
        }
        return current;
    }
}

/// The consortia of 4 and 7 validators, built once per process (building
/// certificates is the slow part of a short run).
pub fn consortium_of(n: usize) -> Consortium {
    use std::sync::OnceLock;
    static FOUR: OnceLock<Consortium> = OnceLock::new();
    static SEVEN: OnceLock<Consortium> = OnceLock::new();
    match n {
        4 => FOUR.get_or_init(|| consortium(4)).clone(),
        7 => SEVEN.get_or_init(|| consortium(7)).clone(),
        other => consortium(other),
    }
}
