//! Edge rules: deterministic conditions owners attach to a device or to all
//! their devices of a model, evaluated by every validator on verified readings.
//!
//! Kinds (values are fixed point, compared exactly):
//! - `above` / `below`: the measurement is above / below `value`;
//! - `rate_of_change`: it changed faster than `value` per second between two
//!   consecutive readings (by device timestamps);
//! - `above_for`: it has stayed above `value` for at least `duration_ms`
//!   (device time);
//! - `missing_heartbeat`: no batch anchored for `duration_ms` of block time;
//! - `device_signed`: readings must be signed by the device itself: a
//!   gateway-attested batch of the target is refused
//!   (`telemetry.device_signature_required`) instead of anchored.
//!
//! A rule emits `rule` events on transitions only: `fired` when its condition
//! becomes true, `cleared` when it stops holding — so a contract reacting to
//! `fired` acts once per incident. Per (device, rule) the state is kept at
//! `telemetry/rulestate/<device>/<target>#<id>`.
//!
//! Missing heartbeats are found at the end of blocks: each anchored batch of a
//! device with a heartbeat rule schedules a check at `now + duration` in a
//! per-second bucket (`telemetry/hb/<second>/<chunk>`); [`check_heartbeats`]
//! walks the buckets up to block time (at most [`MAX_CATCHUP_S`] per block, so
//! a long-stalled chain catches up over several blocks with bounded work).
//! A stale entry (the device reported again) finds its condition false.

use super::{load_summary, NAME};
use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_module::{event, reject, BlockContext, CallError, Store, TxContext};
use ingot_module_device as device;
use ingot_types::{
    telemetry::{
        align, cmp_fixed, format_fixed, Reading, MAX_ANCHOR_BATCHES, MAX_DEVICE_ID_LEN,
        MAX_MEASUREMENT_NAME, MAX_SCALE,
    },
    Event,
};
use serde_json::{json, Value};
use std::{cmp::Ordering, collections::BTreeMap};

/// Most rules per target (one device, or one owner's model).
pub const MAX_RULES: usize = 16;
pub const MAX_RULE_ID: usize = 64;
const MAX_TARGET: usize = 300;
/// Most seconds of heartbeat schedule one block walks.
pub const MAX_CATCHUP_S: u64 = 3_600;

pub const KINDS: &[&str] = &[
    "above",
    "below",
    "rate_of_change",
    "above_for",
    "missing_heartbeat",
    "device_signed",
];
const HEARTBEAT: u8 = 4;
const DEVICE_SIGNED: u8 = 5;

ingot_types::record! {
    /// One owner rule. `target` is `device:<id>` or `model:<owner org>/<model>`.
    pub struct Rule {
        pub id: String = MAX_RULE_ID,
        pub target: String = MAX_TARGET,
        pub measurement: String = MAX_MEASUREMENT_NAME,
        /// Index into [`KINDS`].
        pub kind: u8 = (),
        pub value: i64 = (),
        pub scale: u8 = (),
        pub duration_ms: u64 = (),
        pub owner_org: String = 256,
        pub set_by: [u8; 32] = (),
        pub set_ms: u64 = (),
        pub height: u64 = (),
    }
}

ingot_types::record! {
    pub struct RuleSet { pub rules: Vec<Rule> = (MAX_RULES, ()) }
}

ingot_types::record! {
    /// Where one rule stands for one device.
    pub struct RuleState {
        pub active: bool = (),
        /// `above_for`: since when (device time) the value has been above.
        pub since_ms: Option<u64> = (),
        pub changed_height: u64 = (),
    }
}

ingot_types::record! {
    /// telemetry.set_rule (`target`: `device:<id>` or `model:<model>`).
    pub struct SetRuleArg {
        pub id: String = MAX_RULE_ID,
        pub target: String = MAX_TARGET,
        pub measurement: String = MAX_MEASUREMENT_NAME,
        pub kind: String = 32,
        pub value: i64 = (),
        pub scale: u8 = (),
        pub duration_ms: u64 = (),
    }
}

ingot_types::record! {
    /// telemetry.remove_rule
    pub struct RemoveRuleArg {
        pub target: String = MAX_TARGET,
        pub id: String = MAX_RULE_ID,
    }
}

impl Rule {
    pub fn is_heartbeat(&self) -> bool {
        self.kind == HEARTBEAT
    }
    /// A requirement on who signs, not a condition on values.
    pub fn requires_device_signature(&self) -> bool {
        self.kind == DEVICE_SIGNED
    }
    fn kind_name(&self) -> &'static str {
        KINDS.get(self.kind as usize).copied().unwrap_or("unknown")
    }
    /// The key that names this rule in rule-state keys.
    fn handle(&self) -> String {
        format!("{}#{}", self.target, self.id)
    }
}

pub fn rules_key(target: &str) -> Vec<u8> {
    format!("telemetry/rules/{target}").into_bytes()
}
pub fn rule_state_key(device_id: &str, handle: &str) -> Vec<u8> {
    format!("telemetry/rulestate/{device_id}/{handle}").into_bytes()
}
fn hb_count_key(second: u64) -> Vec<u8> {
    format!("telemetry/hbn/{second:016x}").into_bytes()
}
fn hb_chunk_key(second: u64, chunk: u32) -> Vec<u8> {
    format!("telemetry/hb/{second:016x}/{chunk:08x}").into_bytes()
}
const HB_CURSOR: &[u8] = b"telemetry/hbcursor";

use super::failures;
use ingot_module::corrupt;

async fn load_set(state: &mut dyn Store, target: &str) -> Result<RuleSet, CallError> {
    Ok(match state.get(&rules_key(target)).await? {
        Some(raw) => RuleSet::decode_cfg(raw, &()).map_err(corrupt("rule set"))?,
        None => RuleSet { rules: vec![] },
    })
}

/// Rules that apply to a device: its own, then its owner's for its model.
pub async fn rules_for(
    state: &mut dyn Store,
    device_id: &str,
    model: &str,
    owner: &str,
) -> Result<Vec<(String, Rule)>, CallError> {
    let mut out = Vec::new();
    for target in [
        format!("device:{device_id}"),
        format!("model:{owner}/{model}"),
    ] {
        for rule in load_set(state, &target).await?.rules {
            out.push((rule.handle(), rule));
        }
    }
    Ok(out)
}

/// Evaluates a device's rules over its readings, in order.
pub struct Evaluator {
    device_id: String,
    rules: Vec<(String, Rule)>,
    states: Vec<RuleState>,
    dirty: Vec<bool>,
    height: u64,
}

fn rule_event(rule: &Rule, device_id: &str, fired: bool, detail: &[(&str, String)]) -> Event {
    let mut attrs = vec![
        ("rule_id", rule.id.clone()),
        ("target", rule.target.clone()),
        ("device_id", device_id.to_string()),
        ("kind", rule.kind_name().to_string()),
        ("state", if fired { "fired" } else { "cleared" }.to_string()),
        ("owner", rule.owner_org.clone()),
    ];
    attrs.extend(detail.iter().cloned());
    event(NAME, "rule", &attrs)
}

impl Evaluator {
    pub async fn load(
        state: &mut dyn Store,
        device_id: &str,
        rules: &[(String, Rule)],
        height: u64,
    ) -> Result<Self, CallError> {
        let mut states = Vec::with_capacity(rules.len());
        for (handle, _) in rules {
            states.push(match state.get(&rule_state_key(device_id, handle)).await? {
                Some(raw) => RuleState::decode_cfg(raw, &()).map_err(corrupt("rule state"))?,
                None => RuleState {
                    active: false,
                    since_ms: None,
                    changed_height: 0,
                },
            });
        }
        Ok(Self {
            device_id: device_id.to_string(),
            rules: rules.to_vec(),
            dirty: vec![false; states.len()],
            states,
            height,
        })
    }

    /// Evaluate one verified reading. `summary` is the device's state before it.
    pub fn observe(
        &mut self,
        summary: &super::DeviceSummary,
        seq: u64,
        reading: &Reading,
        events: &mut Vec<Event>,
    ) {
        for (i, (_, rule)) in self.rules.iter().enumerate() {
            if rule.is_heartbeat() || rule.requires_device_signature() {
                continue;
            }
            let Some(m) = reading
                .measurements
                .iter()
                .find(|m| m.name == rule.measurement)
            else {
                continue;
            };
            let st = &mut self.states[i];
            let above = cmp_fixed(m.value, m.scale, rule.value, rule.scale) == Ordering::Greater;
            let holds = match rule.kind {
                0 => above,
                1 => cmp_fixed(m.value, m.scale, rule.value, rule.scale) == Ordering::Less,
                2 => {
                    let Some(prev) = summary.latest.iter().find(|l| l.name == m.name) else {
                        continue;
                    };
                    let dt = reading.timestamp_ms.saturating_sub(prev.ts_ms);
                    if dt == 0 {
                        continue;
                    }
                    // |Δ| × 1000 / dt > limit, with no division: both sides at
                    // the larger of the three scales.
                    let (now, before) = align(m.value, m.scale, prev.value, prev.scale);
                    let delta_scale = m.scale.max(prev.scale).min(MAX_SCALE);
                    let delta = (now - before).abs();
                    let s = delta_scale.max(rule.scale.min(MAX_SCALE));
                    let lhs = delta
                        .saturating_mul(10i128.pow((s - delta_scale) as u32))
                        .saturating_mul(1000);
                    let rhs = (rule.value as i128)
                        .saturating_mul(10i128.pow((s - rule.scale.min(MAX_SCALE)) as u32))
                        .saturating_mul(dt as i128);
                    lhs > rhs
                }
                3 => {
                    if above {
                        let since = *st.since_ms.get_or_insert(reading.timestamp_ms);
                        self.dirty[i] |= since == reading.timestamp_ms;
                        reading.timestamp_ms - since >= rule.duration_ms
                    } else {
                        if st.since_ms.take().is_some() {
                            self.dirty[i] = true;
                        }
                        false
                    }
                }
                _ => continue,
            };
            if holds != st.active {
                st.active = holds;
                st.changed_height = self.height;
                self.dirty[i] = true;
                events.push(rule_event(
                    rule,
                    &self.device_id,
                    holds,
                    &[
                        ("measurement", m.name.clone()),
                        ("value", format_fixed(m.value, m.scale)),
                        ("unit", m.unit.clone()),
                        ("at_ms", reading.timestamp_ms.to_string()),
                        ("seq", seq.to_string()),
                    ],
                ));
            }
        }
    }

    /// The device was heard of at block time `now_ms`: active heartbeat
    /// alarms clear.
    pub fn heard(&mut self, now_ms: u64, events: &mut Vec<Event>) {
        for (i, (_, rule)) in self.rules.iter().enumerate() {
            if rule.is_heartbeat() && self.states[i].active {
                self.states[i].active = false;
                self.dirty[i] = true;
                events.push(rule_event(
                    rule,
                    &self.device_id,
                    false,
                    &[("at_ms", now_ms.to_string())],
                ));
            }
        }
    }

    pub fn store(self, state: &mut dyn Store) {
        for (i, (handle, _)) in self.rules.iter().enumerate() {
            if self.dirty[i] {
                state.put(
                    rule_state_key(&self.device_id, handle),
                    self.states[i].encode().to_vec(),
                );
            }
        }
    }
}

/// Schedule heartbeat checks for devices heard of at `now_ms`.
pub async fn schedule_heartbeats(
    state: &mut dyn Store,
    now_ms: u64,
    rules: &BTreeMap<String, Vec<(String, Rule)>>,
    devices: &[String],
) -> Result<(), CallError> {
    let mut due: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for id in devices {
        for (_, rule) in rules.get(id).into_iter().flatten() {
            if rule.is_heartbeat() {
                let second = now_ms.saturating_add(rule.duration_ms) / 1000 + 1;
                due.entry(second).or_default().push(id.clone());
            }
        }
    }
    for (second, mut ids) in due {
        ids.dedup();
        schedule(state, second, ids).await?;
    }
    Ok(())
}

async fn schedule(state: &mut dyn Store, second: u64, ids: Vec<String>) -> Result<(), CallError> {
    let count = read_u32(state, &hb_count_key(second)).await?;
    let list = HeartbeatChunk { devices: ids };
    state.put(hb_chunk_key(second, count), list.encode().to_vec());
    state.put(hb_count_key(second), (count + 1).to_be_bytes().to_vec());
    Ok(())
}

ingot_types::record! {
    /// Devices whose heartbeat is due in one second of block time.
    pub struct HeartbeatChunk {
        pub devices: Vec<String> = (MAX_ANCHOR_BATCHES, MAX_DEVICE_ID_LEN),
    }
}

async fn read_u32(state: &mut dyn Store, key: &[u8]) -> Result<u32, CallError> {
    Ok(state
        .get(key)
        .await?
        .map(|v| u32::from_be_bytes(v.try_into().unwrap_or_default()))
        .unwrap_or(0))
}

/// Fire `missing_heartbeat` rules whose silence has lasted long enough.
pub async fn check_heartbeats(
    block: BlockContext,
    state: &mut dyn Store,
) -> Result<Vec<Event>, CallError> {
    let now_s = block.timestamp_ms / 1000;
    let cursor = match state.get(HB_CURSOR).await? {
        Some(raw) => u64::from_be_bytes(raw.try_into().unwrap_or_default()),
        None => {
            state.put(HB_CURSOR.to_vec(), now_s.to_be_bytes().to_vec());
            return Ok(vec![]);
        }
    };
    if now_s <= cursor {
        return Ok(vec![]);
    }
    let end = now_s.min(cursor + MAX_CATCHUP_S);
    let mut events = Vec::new();
    for second in cursor + 1..=end {
        let count = read_u32(state, &hb_count_key(second)).await?;
        let mut due = std::collections::BTreeSet::new();
        for chunk in 0..count {
            let key = hb_chunk_key(second, chunk);
            if let Some(raw) = state.get(&key).await? {
                let list =
                    HeartbeatChunk::decode_cfg(raw, &()).map_err(corrupt("heartbeat list"))?;
                due.extend(list.devices);
            }
            state.delete(key);
        }
        if count > 0 {
            state.delete(hb_count_key(second));
        }
        for id in due {
            check_device(block, state, &id, &mut events).await?;
        }
    }
    state.put(HB_CURSOR.to_vec(), end.to_be_bytes().to_vec());
    Ok(events)
}

async fn check_device(
    block: BlockContext,
    state: &mut dyn Store,
    id: &str,
    events: &mut Vec<Event>,
) -> Result<(), CallError> {
    let Some(record) = device::find(state, id).await? else {
        return Ok(());
    };
    if device::status(&record) == device::DeviceStatus::Decommissioned {
        return Ok(());
    }
    let rules = rules_for(state, id, &record.model, &record.owner_org).await?;
    if !rules.iter().any(|(_, r)| r.is_heartbeat()) {
        return Ok(());
    }
    let summary = load_summary(state, id).await?;
    let mut ev = Evaluator::load(state, id, &rules, block.height).await?;
    for (i, (_, rule)) in ev.rules.iter().enumerate() {
        if !rule.is_heartbeat() || ev.states[i].active {
            continue;
        }
        let last = summary.last_block_ms.max(rule.set_ms);
        if block.timestamp_ms >= last.saturating_add(rule.duration_ms) {
            ev.states[i].active = true;
            ev.states[i].changed_height = block.height;
            ev.dirty[i] = true;
            events.push(rule_event(
                rule,
                id,
                true,
                &[
                    ("silent_since_ms", last.to_string()),
                    ("at_ms", block.timestamp_ms.to_string()),
                ],
            ));
        }
    }
    ev.store(state);
    Ok(())
}

fn check_rule_id(id: &str) -> Result<(), ingot_types::Failure> {
    let ok = !id.is_empty()
        && id.len() <= MAX_RULE_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(failures::BAD_RULE_ID.with(&[("id", id.to_string()), ("max", MAX_RULE_ID.to_string())]))
    }
}

/// The stored target of `target` for `ctx`'s organisation, after checking it
/// may set rules there.
async fn own_target(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    target: &str,
) -> Result<String, CallError> {
    if ctx.sender.device.is_some() {
        return reject(failures::DEVICE_CANNOT_SET_RULES.bare());
    }
    match target.split_once(':') {
        Some(("device", id)) => {
            let record = device::load(state, id).await?;
            if record.owner_org != ctx.sender.org {
                return reject(failures::NOT_OWNER.with(&[
                    ("owner", record.owner_org.clone()),
                    ("device", id.to_string()),
                ]));
            }
            Ok(target.to_string())
        }
        Some(("model", model)) if !model.is_empty() && !model.contains('/') => {
            Ok(format!("model:{}/{model}", ctx.sender.org))
        }
        _ => reject(failures::BAD_TARGET.bare()),
    }
}

pub async fn set_rule(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    a: SetRuleArg,
) -> Result<Vec<Event>, CallError> {
    check_rule_id(&a.id).map_err(CallError::Rejected)?;
    let Some(kind) = KINDS.iter().position(|k| *k == a.kind) else {
        return reject(
            failures::UNKNOWN_RULE_KIND
                .with(&[("kind", a.kind.clone()), ("kinds", KINDS.join(", "))]),
        );
    };
    let kind = kind as u8;
    if a.scale > MAX_SCALE {
        return reject(failures::SCALE_TOO_LARGE.with(&[("max", MAX_SCALE.to_string())]));
    }
    if kind != HEARTBEAT && kind != DEVICE_SIGNED && a.measurement.is_empty() {
        return reject(failures::MEASUREMENT_REQUIRED.bare());
    }
    if (kind == 3 || kind == HEARTBEAT) && a.duration_ms == 0 {
        return reject(failures::DURATION_REQUIRED.bare());
    }
    if kind == 2 && a.value <= 0 {
        return reject(failures::RATE_NOT_POSITIVE.bare());
    }
    let target = own_target(ctx, state, &a.target).await?;
    let mut set = load_set(state, &target).await?;
    let rule = Rule {
        id: a.id.clone(),
        target: target.clone(),
        measurement: a.measurement.clone(),
        kind,
        value: a.value,
        scale: a.scale,
        duration_ms: a.duration_ms,
        owner_org: ctx.sender.org.clone(),
        set_by: ctx.sender.cert_hash,
        set_ms: ctx.block.timestamp_ms,
        height: ctx.block.height,
    };
    match set.rules.iter().position(|r| r.id == a.id) {
        Some(i) => set.rules[i] = rule,
        None if set.rules.len() < MAX_RULES => set.rules.push(rule),
        None => return reject(failures::TOO_MANY_RULES.with(&[("max", MAX_RULES.to_string())])),
    }
    state.put(rules_key(&target), set.encode().to_vec());
    if kind == HEARTBEAT {
        if let Some(id) = target.strip_prefix("device:") {
            let second = ctx.block.timestamp_ms.saturating_add(a.duration_ms) / 1000 + 1;
            schedule(state, second, vec![id.to_string()]).await?;
        }
    }
    Ok(vec![event(
        NAME,
        "rule_set",
        &[
            ("rule_id", a.id),
            ("target", target),
            ("kind", a.kind),
            ("measurement", a.measurement),
            ("value", format_fixed(a.value, a.scale)),
            ("duration_ms", a.duration_ms.to_string()),
            ("owner", ctx.sender.org.clone()),
        ],
    )])
}

pub async fn remove_rule(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    a: RemoveRuleArg,
) -> Result<Vec<Event>, CallError> {
    let target = own_target(ctx, state, &a.target).await?;
    let mut set = load_set(state, &target).await?;
    let before = set.rules.len();
    set.rules.retain(|r| r.id != a.id);
    if set.rules.len() == before {
        return reject(
            failures::NO_SUCH_RULE.with(&[("id", a.id.clone()), ("target", target.clone())]),
        );
    }
    if set.rules.is_empty() {
        state.delete(rules_key(&target));
    } else {
        state.put(rules_key(&target), set.encode().to_vec());
    }
    Ok(vec![event(
        NAME,
        "rule_removed",
        &[
            ("rule_id", a.id),
            ("target", target),
            ("owner", ctx.sender.org.clone()),
        ],
    )])
}

/// Parse a decimal like `-12.345` into a fixed-point value and scale.
pub fn parse_fixed(s: &str) -> Result<(i64, u8), String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > MAX_SCALE as usize || (int.is_empty() || int == "-") && frac.is_empty() {
        return Err(format!(
            "`{s}` is not a decimal with at most {MAX_SCALE} places"
        ));
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not a decimal"));
    }
    let digits = format!("{int}{frac}");
    let value: i64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a decimal within range"))?;
    Ok((value, frac.len() as u8))
}

fn text(v: &Value, field: &str) -> Result<String, String> {
    v.get(field)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| format!("`{field}` (string) is required"))
}

pub fn args_from_json(method: &str, v: &Value) -> Result<Bytes, String> {
    Ok(match method {
        "set_rule" => {
            let (value, scale) = match v.get("value") {
                None => (0, 0),
                Some(Value::String(s)) => parse_fixed(s)?,
                Some(Value::Number(n)) => parse_fixed(&n.to_string())?,
                Some(_) => return Err("`value` must be a decimal".into()),
            };
            SetRuleArg {
                id: text(v, "id")?,
                target: text(v, "target")?,
                measurement: v
                    .get("measurement")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                kind: text(v, "kind")?,
                value,
                scale,
                duration_ms: v.get("duration_ms").and_then(Value::as_u64).unwrap_or(0),
            }
            .encode()
        }
        "remove_rule" => RemoveRuleArg {
            target: text(v, "target")?,
            id: text(v, "id")?,
        }
        .encode(),
        other => return Err(format!("telemetry.{other} has no JSON form")),
    })
}

pub fn args_to_json(method: &str, args: &Bytes) -> Result<Value, String> {
    match method {
        "set_rule" => {
            let a = SetRuleArg::decode_cfg(args.clone(), &()).map_err(|e| e.to_string())?;
            Ok(
                json!({"id": a.id, "target": a.target, "measurement": a.measurement,
                "kind": a.kind, "value": format_fixed(a.value, a.scale), "duration_ms": a.duration_ms}),
            )
        }
        "remove_rule" => {
            let a = RemoveRuleArg::decode_cfg(args.clone(), &()).map_err(|e| e.to_string())?;
            Ok(json!({"target": a.target, "id": a.id}))
        }
        other => Err(format!("unknown method telemetry.{other}")),
    }
}

impl Rule {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "target": self.target, "measurement": self.measurement,
            "kind": self.kind_name(), "value": format_fixed(self.value, self.scale),
            "duration_ms": self.duration_ms, "owner": self.owner_org, "height": self.height,
        })
    }
}
