//! `telemetry`: signed device readings anchored with bounded state growth
//! (white paper 二.1 安全的数据连接 / 智能的边缘计算, 三.4 设备运营状态监管).
//!
//! - `anchor`: a gateway (any member) submits [`ReadingBatch`]es of any
//!   devices. Every batch is judged on its own — one bad device never sinks the
//!   others: the device must be registered and active with an unrevoked,
//!   unexpired certificate; its signature must verify (all batches of a
//!   transaction in one deterministic batch check); its sequence numbers must
//!   continue the device's (a lower one is a replay or reorder and is refused,
//!   a higher one is accepted and the skipped numbers become a `gap` event);
//!   timestamps may not go backwards or lie in the future. Plant equipment
//!   that cannot sign (`device.register_equipment`) reports through its
//!   gateway device: the gateway's key signs the batch, the commitment
//!   records the gateway (`attested_by`), and every proof and API answer
//!   says `gateway_attested`; a `device_signed` rule refuses such batches.
//! - State keeps, per accepted batch, its [`BatchCommitment`] and, per device,
//!   a [`DeviceSummary`] (last sequence, last seen, counts, latest values).
//!   The readings themselves stay in the block and go to the node's telemetry
//!   store; the receipt's `anchored` event carries the Merkle root of the
//!   transaction's commitments, so each reading is provable back to a
//!   finalized header (reading → batch root → commitment → receipt).
//! - `set_rule` / `remove_rule`: owners' deterministic edge rules, evaluated
//!   here on verified readings (see [`rules`]); missing heartbeats are found
//!   by block time at the end of every block ([`end_block`]).
//!
//! State: `telemetry/summary/<device>`, `telemetry/batch/<device>/<seq hex>`,
//! `telemetry/rules/<target>`, `telemetry/rulestate/<device>/<rule>`,
//! `telemetry/hb/...` (heartbeat schedule).

pub mod api;
mod module;
pub mod rules;
pub mod store;

pub use module::TelemetryModule;

use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_crypto::batch::{verify_all_deterministic, Item};
use ingot_module::{
    decode_args, event, reject, unknown_method, BlockContext, CallError, Store, TxContext,
};
use ingot_module_device::{self as device, DeviceStatus};
use ingot_types::{
    merkle,
    telemetry::{AnchorArg, BatchCommitment, ReadingBatch, MAX_DEVICE_ID_LEN, MAX_SCALE},
    Call, Digest, Event, Failure,
};
use rules::Rule;
use std::collections::BTreeMap;

pub const NAME: &str = "telemetry";

/// The access-control operation that lets a non-owner read a device's
/// readings, summary and rule events (granted with `access.set_policy`).
pub const READ_OPERATION: &str = "telemetry.read";

/// How far a reading's timestamp may lie ahead of block time.
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;
/// Distinct measurements whose latest value a summary keeps.
pub const MAX_LATEST: usize = 32;
/// Work charged per reading (hashing) and per batch (a signature check).
const WORK_PER_READING: u64 = 30;
const WORK_PER_BATCH: u64 = 3_000;

ingot_types::record! {
    /// The latest value of one measurement of a device.
    pub struct Latest {
        pub name: String = 32,
        pub value: i64 = (),
        pub scale: u8 = (),
        pub unit: String = 16,
        pub ts_ms: u64 = (),
        pub seq: u64 = (),
    }
}

ingot_types::record! {
    /// What consensus state remembers about a device's telemetry.
    pub struct DeviceSummary {
        pub device_id: String = MAX_DEVICE_ID_LEN,
        /// Highest anchored sequence number.
        pub last_seq: u64 = (),
        /// Device timestamp of the last reading.
        pub last_ts_ms: u64 = (),
        pub last_height: u64 = (),
        /// Block time when the device was last heard of (for heartbeats).
        pub last_block_ms: u64 = (),
        pub batches: u64 = (),
        pub readings: u64 = (),
        /// Sequence numbers skipped in total, and gaps seen.
        pub missing: u64 = (),
        pub gaps: u64 = (),
        pub latest: Vec<Latest> = (MAX_LATEST, ()),
    }
}

ingot_types::record! {
    /// A batch commitment as stored in state, with where it was anchored.
    pub struct StoredCommitment {
        pub commitment: BatchCommitment = (),
        pub height: u64 = (),
        pub tx_hash: [u8; 32] = (),
    }
}

pub fn summary_key(device_id: &str) -> Vec<u8> {
    format!("telemetry/summary/{device_id}").into_bytes()
}
pub fn batch_key(device_id: &str, first_seq: u64) -> Vec<u8> {
    format!("telemetry/batch/{device_id}/{first_seq:016x}").into_bytes()
}

/// Why a telemetry call fails, or why one batch of an anchor is refused
/// (see [`crate::failure`]).
pub mod failures {
    ingot_module::failures! { super::NAME;
        NO_BATCHES = 1, "no_batches", "no batches";
        EMPTY_BATCH = 2, "empty_batch", "empty batch";
        SEQUENCE_STARTS_AT_ONE = 3, "sequence_starts_at_one", "sequence numbers start at 1";
        SEQUENCE_OVERFLOW = 4, "sequence_overflow", "sequence number overflows";
        TIME_BACKWARDS_IN_BATCH = 5, "time_backwards_in_batch", "timestamps go backwards within the batch";
        SCALE_TOO_LARGE = 6, "scale_too_large", "scale above {max}";
        FUTURE_TIMESTAMP = 7, "future_timestamp", "timestamp lies in the future";
        UNKNOWN_DEVICE = 8, "unknown_device", "unknown device {device}";
        CERTIFICATE_REVOKED = 9, "certificate_revoked", "device certificate is revoked";
        CERTIFICATE_EXPIRED = 10, "certificate_expired", "device certificate expired";
        CERTIFICATE_REFUSED = 11, "certificate_refused", "device certificate refused: {cause}";
        DEVICE_NOT_ACTIVE = 12, "device_not_active", "device is {status}";
        BAD_SIGNATURE = 13, "bad_signature", "device signature does not verify";
        ALREADY_ANCHORED = 14, "already_anchored", "sequence {first_seq} already anchored (last is {last_seq}): replayed or reordered";
        TIME_BEFORE_LAST = 15, "time_before_last", "timestamp {first_ts} is before the device's last reading at {last_ts}";
        BAD_RULE_ID = 16, "bad_rule_id", "rule id `{id}` must be 1 to {max} of a-z 0-9 - _ .";
        DEVICE_CANNOT_SET_RULES = 17, "device_cannot_set_rules", "a device cannot set rules";
        NOT_OWNER = 18, "not_owner", "only the owner organisation {owner} may set rules on {device}";
        BAD_TARGET = 19, "bad_target", "target must be device:<id> or model:<model>";
        UNKNOWN_RULE_KIND = 20, "unknown_rule_kind", "unknown rule kind `{kind}`; one of {kinds}";
        MEASUREMENT_REQUIRED = 21, "measurement_required", "a measurement is required";
        DURATION_REQUIRED = 22, "duration_required", "duration_ms must be positive";
        RATE_NOT_POSITIVE = 23, "rate_not_positive", "a rate limit must be positive";
        TOO_MANY_RULES = 24, "too_many_rules", "at most {max} rules per target";
        NO_SUCH_RULE = 25, "no_such_rule", "no rule {id} on {target}";
        NO_GATEWAY = 26, "no_gateway", "equipment {device} has no gateway to attest its readings";
        GATEWAY_NOT_USABLE = 27, "gateway_not_usable", "gateway {gateway} cannot attest: {why}";
        DEVICE_SIGNATURE_REQUIRED = 28, "device_signature_required", "a rule requires readings of {device} signed by the device itself, not attested by a gateway";
    }
}

pub async fn call(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call.method.as_str() {
        "anchor" => anchor(ctx, state, decode_args(call)?).await,
        "set_rule" => rules::set_rule(ctx, state, decode_args(call)?).await,
        "remove_rule" => rules::remove_rule(ctx, state, decode_args(call)?).await,
        _ => unknown_method(call),
    }
}

/// Why one batch is refused before its signature is checked, or `None`.
fn shape_refusal(batch: &ReadingBatch, block: BlockContext) -> Option<Failure> {
    batch_refusal(batch, block.timestamp_ms)
}

/// [`shape_refusal`] at block time `block_time_ms`: what needs no state.
/// A gateway calls it with its own clock before it acknowledges a batch,
/// so a batch the chain would refuse for its shape or its timestamps is
/// refused at PUBACK instead of being lost after it.
pub fn batch_refusal(batch: &ReadingBatch, block_time_ms: u64) -> Option<Failure> {
    if batch.readings.is_empty() {
        return Some(failures::EMPTY_BATCH.bare());
    }
    if batch.first_seq == 0 {
        return Some(failures::SEQUENCE_STARTS_AT_ONE.bare());
    }
    if batch
        .first_seq
        .checked_add(batch.readings.len() as u64)
        .is_none()
    {
        return Some(failures::SEQUENCE_OVERFLOW.bare());
    }
    let mut prev = 0;
    for r in &batch.readings {
        if r.timestamp_ms < prev {
            return Some(failures::TIME_BACKWARDS_IN_BATCH.bare());
        }
        prev = r.timestamp_ms;
        if r.measurements.iter().any(|m| m.scale > MAX_SCALE) {
            return Some(failures::SCALE_TOO_LARGE.with(&[("max", MAX_SCALE.to_string())]));
        }
    }
    if prev > block_time_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Some(failures::FUTURE_TIMESTAMP.bare());
    }
    None
}

/// A device as the anchor sees it: the key its batches must be signed
/// with (its own, or its gateway's for equipment), or why it may not report.
struct Reporter {
    key: Result<ingot_crypto::PublicKey, Failure>,
    model: String,
    owner: String,
    /// The attesting gateway's id for equipment; empty for a device.
    attested_by: String,
}

async fn reporter(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    id: &str,
) -> Result<Reporter, CallError> {
    let Some(record) = device::find(state, id).await? else {
        return Ok(Reporter {
            key: Err(failures::UNKNOWN_DEVICE.with(&[("device", id.to_string())])),
            model: String::new(),
            owner: String::new(),
            attested_by: String::new(),
        });
    };
    let key = match device::status(&record) {
        DeviceStatus::Active if record.is_equipment() => gateway_key(ctx, state, &record).await?,
        DeviceStatus::Active => signing_key(ctx, state, &record).await?,
        other => Err(failures::DEVICE_NOT_ACTIVE.with(&[("status", other.as_str().to_string())])),
    };
    Ok(Reporter {
        key,
        model: record.model,
        owner: record.owner_org,
        attested_by: record.attested_by,
    })
}

/// The key of an active device with its own certificate, or why it is unusable.
async fn signing_key(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    record: &device::DeviceRecord,
) -> Result<Result<ingot_crypto::PublicKey, Failure>, CallError> {
    if ingot_module_identity::is_certificate_revoked(state, &record.cert_hash).await? {
        return Ok(Err(failures::CERTIFICATE_REVOKED.bare()));
    }
    let id = match ctx.trust.identify(&record.certificate) {
        Ok(id) => id,
        Err(e) => {
            return Ok(Err(
                failures::CERTIFICATE_REFUSED.with(&[("cause", e.kind().to_string())])
            ))
        }
    };
    // Its key may have been revoked through another certificate on it.
    if ingot_module_identity::is_revoked(state, &id).await? {
        return Ok(Err(failures::CERTIFICATE_REVOKED.bare()));
    }
    Ok(if (ctx.block.timestamp_ms / 1000) as i64 > id.not_after {
        Err(failures::CERTIFICATE_EXPIRED.bare())
    } else {
        Ok(id.public_key.clone())
    })
}

/// The key that signs for an equipment: its gateway's, while the gateway is
/// an active device of the equipment's owner with a valid certificate.
async fn gateway_key(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    equipment: &device::DeviceRecord,
) -> Result<Result<ingot_crypto::PublicKey, Failure>, CallError> {
    let gateway = &equipment.attested_by;
    if gateway.is_empty() {
        return Ok(Err(
            failures::NO_GATEWAY.with(&[("device", equipment.id.clone())])
        ));
    }
    let unusable = |why: String| {
        Ok(Err(
            failures::GATEWAY_NOT_USABLE.with(&[("gateway", gateway.clone()), ("why", why)])
        ))
    };
    let Some(g) = device::find(state, gateway).await? else {
        return unusable("unknown device".into());
    };
    if g.is_equipment() || g.owner_org != equipment.owner_org {
        return unusable("not a device of the equipment's owner".into());
    }
    match device::status(&g) {
        DeviceStatus::Active => {}
        other => return unusable(format!("it is {}", other.as_str())),
    }
    match signing_key(ctx, state, &g).await? {
        Ok(key) => Ok(Ok(key)),
        Err(why) => unusable(ingot_module::failure::own_name(failures::ALL, &why)),
    }
}

async fn load_summary(state: &mut dyn Store, id: &str) -> Result<DeviceSummary, CallError> {
    Ok(match state.get(&summary_key(id)).await? {
        Some(raw) => DeviceSummary::decode_cfg(raw, &())
            .map_err(ingot_module::corrupt("telemetry summary"))?,
        None => DeviceSummary {
            device_id: id.to_string(),
            last_seq: 0,
            last_ts_ms: 0,
            last_height: 0,
            last_block_ms: 0,
            batches: 0,
            readings: 0,
            missing: 0,
            gaps: 0,
            latest: Vec::new(),
        },
    })
}

/// The event of one refused batch: `reason` is the failure's stable name
/// (`telemetry.already_anchored`), its detail fields follow as attributes;
/// no prose enters the receipt.
fn refused(index: usize, batch: &ReadingBatch, why: &Failure) -> Event {
    let mut attrs = vec![
        ("index", index.to_string()),
        ("device_id", batch.device_id.clone()),
        ("first_seq", batch.first_seq.to_string()),
        ("count", batch.readings.len().to_string()),
        (
            "reason",
            ingot_module::failure::own_name(failures::ALL, why),
        ),
    ];
    for (k, v) in &why.detail {
        match attrs.iter().find(|(a, _)| a == k) {
            // The same fact under the same name (e.g. the batch's first_seq).
            Some((_, shown)) => debug_assert_eq!(
                shown, v,
                "a telemetry refusal's `{k}` would be hidden by the event's own attribute"
            ),
            None => attrs.push((k.as_str(), v.clone())),
        }
    }
    event(NAME, "refused", &attrs)
}

async fn anchor(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    arg: AnchorArg,
) -> Result<Vec<Event>, CallError> {
    if arg.batches.is_empty() {
        return reject(failures::NO_BATCHES.bare());
    }
    let readings: usize = arg.batches.iter().map(|b| b.readings.len()).sum();
    state.charge(WORK_PER_BATCH * arg.batches.len() as u64 + WORK_PER_READING * readings as u64);

    // 1. Who reports, in what shape; then every signature in one check.
    let mut reporters: BTreeMap<String, Reporter> = BTreeMap::new();
    let mut verdict: Vec<Result<(Digest, Vec<u8>), Failure>> = Vec::new();
    for batch in &arg.batches {
        if let Some(why) = shape_refusal(batch, ctx.block) {
            verdict.push(Err(why));
            continue;
        }
        if !reporters.contains_key(&batch.device_id) {
            let r = reporter(ctx, state, &batch.device_id).await?;
            reporters.insert(batch.device_id.clone(), r);
        }
        match &reporters[&batch.device_id].key {
            Err(why) => verdict.push(Err(why.clone())),
            Ok(_) => verdict.push(Ok(batch.root_and_message())),
        }
    }
    let (positions, items): (Vec<usize>, Vec<Item>) = verdict
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let (_, msg) = v.as_ref().ok()?;
            let batch = &arg.batches[i];
            let key = reporters[&batch.device_id].key.as_ref().ok()?;
            Some((
                i,
                Item {
                    key,
                    message: msg,
                    signature: &batch.signature,
                },
            ))
        })
        .unzip();
    let valid = verify_all_deterministic(&items);
    drop(items);
    let bad: Vec<usize> = positions
        .into_iter()
        .zip(valid)
        .filter(|(_, ok)| !ok)
        .map(|(i, _)| i)
        .collect();
    for i in bad {
        verdict[i] = Err(failures::BAD_SIGNATURE.bare());
    }

    // 2. In order: sequence continuity, commitments, summaries, rules.
    let mut events = Vec::new();
    let mut summaries: BTreeMap<String, DeviceSummary> = BTreeMap::new();
    let mut rule_cache: BTreeMap<String, Vec<(String, Rule)>> = BTreeMap::new();
    let mut commitments = Vec::new();
    let mut accepted = Vec::new();
    let mut heartbeat_devices = Vec::new();
    for (i, batch) in arg.batches.iter().enumerate() {
        let root = match &verdict[i] {
            Err(why) => {
                events.push(refused(i, batch, why));
                continue;
            }
            Ok((root, _)) => *root,
        };
        if !summaries.contains_key(&batch.device_id) {
            let s = load_summary(state, &batch.device_id).await?;
            summaries.insert(batch.device_id.clone(), s);
        }
        let attested_by = &reporters[&batch.device_id].attested_by;
        if !attested_by.is_empty() {
            load_rules(state, &mut rule_cache, batch, &reporters[&batch.device_id]).await?;
            if rule_cache[&batch.device_id]
                .iter()
                .any(|(_, r)| r.requires_device_signature())
            {
                let why = failures::DEVICE_SIGNATURE_REQUIRED
                    .with(&[("device", batch.device_id.clone())]);
                events.push(refused(i, batch, &why));
                continue;
            }
        }
        let summary = summaries.get_mut(&batch.device_id).expect("just loaded");
        if batch.first_seq <= summary.last_seq {
            let why = failures::ALREADY_ANCHORED.with(&[
                ("first_seq", batch.first_seq.to_string()),
                ("last_seq", summary.last_seq.to_string()),
            ]);
            events.push(refused(i, batch, &why));
            continue;
        }
        let first_ts = batch.readings[0].timestamp_ms;
        if first_ts < summary.last_ts_ms {
            let why = failures::TIME_BEFORE_LAST.with(&[
                ("first_ts", first_ts.to_string()),
                ("last_ts", summary.last_ts_ms.to_string()),
            ]);
            events.push(refused(i, batch, &why));
            continue;
        }
        if batch.first_seq > summary.last_seq + 1 {
            let (from, to) = (summary.last_seq + 1, batch.first_seq - 1);
            summary.missing += to - from + 1;
            summary.gaps += 1;
            events.push(event(
                NAME,
                "gap",
                &[
                    ("device_id", batch.device_id.clone()),
                    ("from_seq", from.to_string()),
                    ("to_seq", to.to_string()),
                    ("missing", (to - from + 1).to_string()),
                    ("owner", reporters[&batch.device_id].owner.clone()),
                ],
            ));
        }
        let commitment = batch.commitment(&root, attested_by);
        if !attested_by.is_empty() {
            // Readers of the receipt alone (the node's reading store after a
            // restart, an auditor) learn who signed without the registry.
            events.push(event(
                NAME,
                "attested",
                &[
                    ("index", i.to_string()),
                    ("device_id", batch.device_id.clone()),
                    ("gateway", attested_by.clone()),
                    ("owner", reporters[&batch.device_id].owner.clone()),
                ],
            ));
        }
        state.put(
            batch_key(&batch.device_id, batch.first_seq),
            StoredCommitment {
                commitment: commitment.clone(),
                height: ctx.block.height,
                tx_hash: ctx.tx_hash,
            }
            .encode()
            .to_vec(),
        );
        commitments.push(commitment.leaf());
        accepted.push((i, commitment));

        // Rules see each reading against the summary before it.
        load_rules(state, &mut rule_cache, batch, &reporters[&batch.device_id]).await?;
        let device_rules = &rule_cache[&batch.device_id];
        if !device_rules.is_empty() {
            let mut evaluator =
                rules::Evaluator::load(state, &batch.device_id, device_rules, ctx.block.height)
                    .await?;
            for (k, reading) in batch.readings.iter().enumerate() {
                let seq = batch.first_seq + k as u64;
                evaluator.observe(summary, seq, reading, &mut events);
                update_latest(summary, seq, reading);
            }
            evaluator.heard(ctx.block.timestamp_ms, &mut events);
            evaluator.store(state);
            if device_rules.iter().any(|(_, r)| r.is_heartbeat()) {
                heartbeat_devices.push(batch.device_id.clone());
            }
        } else {
            for (k, reading) in batch.readings.iter().enumerate() {
                update_latest(summary, batch.first_seq + k as u64, reading);
            }
        }
        summary.last_seq = batch.last_seq();
        summary.last_ts_ms = batch.readings.last().expect("non-empty").timestamp_ms;
        summary.last_height = ctx.block.height;
        summary.last_block_ms = ctx.block.timestamp_ms;
        summary.batches += 1;
        summary.readings += batch.readings.len() as u64;
    }
    for (id, summary) in summaries {
        state.put(summary_key(&id), summary.encode().to_vec());
    }
    if !heartbeat_devices.is_empty() {
        heartbeat_devices.dedup();
        rules::schedule_heartbeats(
            state,
            ctx.block.timestamp_ms,
            &rule_cache,
            &heartbeat_devices,
        )
        .await?;
    }
    let refused_count = events.iter().filter(|e| e.kind == "refused").count();
    let accepted_readings: usize = accepted
        .iter()
        .map(|(i, _)| arg.batches[*i].readings.len())
        .sum();
    events.insert(
        0,
        event(
            NAME,
            "anchored",
            &[
                ("batches", commitments.len().to_string()),
                ("refused", refused_count.to_string()),
                ("readings", accepted_readings.to_string()),
                ("commitments_root", hex::encode(merkle::root(&commitments))),
            ],
        ),
    );
    // Hand the accepted batches (moved, not copied) to the reading store.
    let mut taken = accepted.into_iter().peekable();
    for (i, batch) in arg.batches.into_iter().enumerate() {
        if let Some((_, commitment)) = taken.next_if(|(j, _)| *j == i) {
            state.record_anchored(batch, commitment);
        }
    }
    Ok(events)
}

/// The rules that apply to `batch`'s device, loaded once per anchor.
async fn load_rules(
    state: &mut dyn Store,
    cache: &mut BTreeMap<String, Vec<(String, Rule)>>,
    batch: &ReadingBatch,
    reporter: &Reporter,
) -> Result<(), CallError> {
    if !cache.contains_key(&batch.device_id) {
        let set =
            rules::rules_for(state, &batch.device_id, &reporter.model, &reporter.owner).await?;
        cache.insert(batch.device_id.clone(), set);
    }
    Ok(())
}

fn update_latest(summary: &mut DeviceSummary, seq: u64, reading: &ingot_types::telemetry::Reading) {
    for m in &reading.measurements {
        let latest = Latest {
            name: m.name.clone(),
            value: m.value,
            scale: m.scale,
            unit: m.unit.clone(),
            ts_ms: reading.timestamp_ms,
            seq,
        };
        match summary.latest.iter().position(|l| l.name == m.name) {
            Some(i) => summary.latest[i] = latest,
            None if summary.latest.len() < MAX_LATEST => summary.latest.push(latest),
            None => {} // more distinct measurements than a summary keeps
        }
    }
}

/// Block-level work after the transactions: missing-heartbeat rules.
pub async fn end_block(
    block: BlockContext,
    state: &mut dyn Store,
) -> Result<Vec<Event>, CallError> {
    rules::check_heartbeats(block, state).await
}

impl DeviceSummary {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "device_id": self.device_id,
            "last_seq": self.last_seq,
            "last_ts_ms": self.last_ts_ms,
            "last_height": self.last_height,
            "last_block_ms": self.last_block_ms,
            "batches": self.batches,
            "readings": self.readings,
            "missing": self.missing,
            "gaps": self.gaps,
            "latest": self.latest.iter().map(|l| serde_json::json!({
                "name": l.name,
                "value": ingot_types::telemetry::format_fixed(l.value, l.scale),
                "unit": l.unit,
                "ts_ms": l.ts_ms,
                "seq": l.seq,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Signed telemetry arguments arrive binary from gateways; only rules have a
/// JSON form.
pub fn args_from_json(method: &str, v: &serde_json::Value) -> Result<Bytes, String> {
    rules::args_from_json(method, v)
}

pub fn args_to_json(method: &str, args: &Bytes) -> Result<serde_json::Value, String> {
    match method {
        "anchor" => {
            let a = AnchorArg::decode_cfg(args.clone(), &()).map_err(|e| e.to_string())?;
            Ok(serde_json::json!({
                "batches": a.batches.iter().map(|b| serde_json::json!({
                    "device_id": b.device_id,
                    "first_seq": b.first_seq,
                    "readings": b.readings.len(),
                })).collect::<Vec<_>>()
            }))
        }
        other => rules::args_to_json(other, args),
    }
}

// ---- Read model (see `crate::visibility`) ---------------------------------
//
// A device's summary, batch commitments and rule states are its owner's, the
// regulators' and those an `access` policy grants `telemetry.read` on it.
// Rules on a target are the target owner's and the regulators'. Heartbeat
// schedules are bookkeeping: regulators only.

/// The key prefixes this module owns and who reads each (see
/// [`ingot_module::visibility::KeyDecl`]).
pub const KEYS: &[ingot_module::visibility::KeyDecl] = {
    use ingot_module::visibility::{IdAt, KeyDecl, Rule};
    &[
        KeyDecl::new("telemetry/summary/", Rule::Telemetry(IdAt::Whole)),
        KeyDecl::new("telemetry/batch/", Rule::Telemetry(IdAt::BeforeLastSegment)),
        KeyDecl::new(
            "telemetry/rulestate/",
            Rule::Telemetry(IdAt::BeforeLastSegment),
        ),
        KeyDecl::new("telemetry/rules/", Rule::RuleTarget),
        KeyDecl::new("telemetry/hbn/", Rule::RegulatorsOnly),
        KeyDecl::new("telemetry/hb/", Rule::RegulatorsOnly),
    ]
};

/// The owner of a rule target (`device:<id>`: the device's owner;
/// `model:<organisation>/<model>`: that organisation) and regulators.
pub async fn rule_target_audience(
    state: &dyn ingot_module::StateRead,
    target: &str,
) -> Result<ingot_module::visibility::Parties, ingot_state::StateError> {
    use ingot_module::visibility::Parties;
    Ok(if let Some(id) = target.strip_prefix("device:") {
        ingot_module_device::owner_audience(state, id).await?
    } else if let Some(model) = target.strip_prefix("model:") {
        // `model:<organisation>/<model>`: the organisation that set it.
        Parties::org_and_regulators(model.split('/').next().unwrap_or_default())
    } else {
        Parties::regulators_only()
    })
}
