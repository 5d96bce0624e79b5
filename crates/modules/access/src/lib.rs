//! `access`: device access control, the white paper's flows (三.2).
//!
//! - *Policy creation / update* (`set_policy`): a device's owner grants an
//!   accessor — a member (`member:<member id>`), a whole organisation
//!   (`org:<name>`) or another device (`device:<id>`) — a set of operations on
//!   one device (`device:<id>`) or on every device it owns under a name prefix
//!   (`name:<prefix>`), with optional conditions: validity window (block time),
//!   maximum uses, hours of the day (UTC, block time). Setting it again
//!   replaces it (chain order decides); an empty operation set revokes it.
//! - *Access request* (`request`): the chain evaluates the policies and
//!   answers with a one-time [`Token`] (bound to accessor, device, operation,
//!   expiry and nonce, carrying the device's address from its metadata) or a
//!   denial with the reason. Both outcomes are logged per device; the request
//!   transaction itself succeeds so a denial is on the record too.
//! - *Redemption* (`redeem`): an online device may burn a token on chain; an
//!   offline device or gateway verifies the token with `ingot-access-token`
//!   and keeps its own used-nonce set.
//!
//! State: `access/policy/<target>/<accessor>` → [`Policy`];
//! `access/token/<token id hex>` → [`Token`]; `access/used/<token id hex>` →
//! redemption height; `access/log/<device id>/<seq>` → [`LogEntry`];
//! `access/loglen/<device id>` → count.

use ingot_module::{
    decode, decode_args, event, reject, unknown_method, CallError, Store, TxContext,
};
use ingot_module_device::{self as device, DeviceRecord, DeviceStatus};

pub mod api;
mod module;

use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_types::{Call, Event};
pub use module::AccessModule;
use serde_json::{json, Value};

pub const NAME: &str = "access";

/// Most operations in one policy, and longest operation name.
pub const MAX_OPERATIONS: usize = 32;
pub const MAX_OPERATION_LEN: usize = 64;
/// Longest a token stays valid after its grant (ms of block time).
pub const TOKEN_TTL_MS: u64 = 5 * 60 * 1000;
const MAX_SUBJECT_LEN: usize = 300;

pub use ingot_types::access::Token;

ingot_types::record! {
    /// A grant of operations on a device or a group of devices to an accessor.
    pub struct Policy {
        pub target: String = MAX_SUBJECT_LEN,
        pub accessor: String = MAX_SUBJECT_LEN,
        pub operations: Vec<String> = (MAX_OPERATIONS, MAX_OPERATION_LEN),
        pub not_before_ms: Option<u64> = (),
        pub not_after_ms: Option<u64> = (),
        pub max_uses: Option<u64> = (),
        pub used: u64 = (),
        /// Allowed hours of the day `[from, to)` in UTC; `from > to` wraps midnight.
        pub hour_from: Option<u8> = (),
        pub hour_to: Option<u8> = (),
        pub granted_by: [u8; 32] = (),
        pub granted_by_org: String = 256,
        pub height: u64 = (),
    }
}

ingot_types::record! {
    /// access.set_policy
    pub struct SetPolicyArg {
        pub target: String = MAX_SUBJECT_LEN,
        pub accessor: String = MAX_SUBJECT_LEN,
        pub operations: Vec<String> = (MAX_OPERATIONS, MAX_OPERATION_LEN),
        pub not_before_ms: Option<u64> = (),
        pub not_after_ms: Option<u64> = (),
        pub max_uses: Option<u64> = (),
        pub hour_from: Option<u8> = (),
        pub hour_to: Option<u8> = (),
    }
}

ingot_types::record! {
    /// access.request
    pub struct RequestArg {
        pub device_id: String = device::MAX_ID_LEN,
        pub operation: String = MAX_OPERATION_LEN,
    }
}

ingot_types::record! {
    /// access.redeem
    pub struct RedeemArg { pub token_id: [u8; 32] = () }
}

ingot_types::record! {
    /// One access request and its decision.
    pub struct LogEntry {
        pub seq: u64 = (),
        pub height: u64 = (),
        pub timestamp_ms: u64 = (),
        pub tx_hash: [u8; 32] = (),
        pub accessor: String = MAX_SUBJECT_LEN,
        pub accessor_org: String = 256,
        pub operation: String = MAX_OPERATION_LEN,
        pub granted: bool = (),
        /// Why it was denied (a failure code with its detail, never prose).
        pub denial: Option<ingot_types::Failure> = (),
    }
}

pub fn policy_key(target: &str, accessor: &str) -> Vec<u8> {
    format!("access/policy/{target}/{accessor}").into_bytes()
}
pub fn token_key(id: &[u8; 32]) -> Vec<u8> {
    format!("access/token/{}", hex::encode(id)).into_bytes()
}
pub fn used_key(id: &[u8; 32]) -> Vec<u8> {
    format!("access/used/{}", hex::encode(id)).into_bytes()
}
pub fn log_key(device_id: &str, seq: u64) -> Vec<u8> {
    format!("access/log/{device_id}/{seq:016x}").into_bytes()
}
pub fn log_len_key(device_id: &str) -> Vec<u8> {
    format!("access/loglen/{device_id}").into_bytes()
}

/// The accessor names a sender answers to, most specific first.
fn accessor_names(ctx: &TxContext<'_>) -> Vec<String> {
    accessor_names_of(&ctx.sender)
}

/// The accessor names a policy may grant `who` under, most specific first.
pub fn accessor_names_of(who: &ingot_crypto::Identity) -> Vec<String> {
    let mut names = Vec::with_capacity(2);
    match &who.device {
        Some(d) => names.push(format!("device:{}", d.id)),
        None => names.push(format!("member:{}", hex::encode(who.id))),
    }
    names.push(format!("org:{}", who.org));
    names
}

/// Why an access call fails, or why a request is denied (see [`crate::failure`]).
pub mod failures {
    ingot_module::failures! { super::NAME;
        BAD_OPERATION = 1, "bad_operation", "bad operation name `{operation}`";
        NOT_GRANTED = 2, "not_granted", "operation {operation} is not granted";
        NOT_YET_VALID = 3, "not_yet_valid", "policy not yet valid";
        POLICY_EXPIRED = 4, "policy_expired", "policy expired";
        USES_EXHAUSTED = 5, "uses_exhausted", "policy's uses are exhausted";
        OUTSIDE_HOURS = 6, "outside_hours", "outside allowed hours {from}:00-{to}:00 UTC";
        UNKNOWN_TOKEN = 7, "unknown_token", "unknown token";
        NOT_TOKEN_DEVICE = 8, "not_token_device", "only the device the token is for may redeem it";
        TOKEN_EXPIRED = 9, "token_expired", "token expired";
        TOKEN_USED = 10, "token_used", "token already used at height {height}";
        DEVICE_CANNOT_GRANT = 11, "device_cannot_grant", "a device cannot grant access";
        BAD_ACCESSOR = 12, "bad_accessor", "accessor `{accessor}` must be member:<member id>, org:<genesis organisation> or device:<id>";
        BAD_WINDOW = 13, "bad_window", "not_before_ms must be before not_after_ms";
        BAD_HOURS = 14, "bad_hours", "hours need both hour_from and hour_to in 0..24, different";
        NOT_OWNER = 15, "not_owner", "only the owner organisation {owner} may grant access to {device}";
        NAMESPACE_NOT_HELD = 16, "namespace_not_held", "namespace {namespace} is not held by {org}";
        BAD_TARGET = 17, "bad_target", "target must be device:<id> or name:<prefix>";
        NO_POLICY = 18, "no_policy", "no policy to revoke";
        NO_POLICY_FOR = 19, "no_policy_for", "no policy grants {accessor} access to {device}";
        DEVICE_NOT_ACTIVE = 20, "device_not_active", "device is {status}";
    }
}

fn check_operation(op: &str) -> Result<(), ingot_types::Failure> {
    let ok = !op.is_empty()
        && op.len() <= MAX_OPERATION_LEN
        && op
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(failures::BAD_OPERATION.with(&[("operation", op.to_string())]))
    }
}

/// Why `policy` does not let its accessor perform `operation` now, if it does not.
/// Why `policy` does not grant `operation` at `now_ms`, or `None` if it does.
pub fn refusal(policy: &Policy, operation: &str, now_ms: u64) -> Option<ingot_types::Failure> {
    if !policy.operations.iter().any(|o| o == operation) {
        return Some(failures::NOT_GRANTED.with(&[("operation", operation.to_string())]));
    }
    if policy.not_before_ms.is_some_and(|t| now_ms < t) {
        return Some(failures::NOT_YET_VALID.bare());
    }
    if policy.not_after_ms.is_some_and(|t| now_ms >= t) {
        return Some(failures::POLICY_EXPIRED.bare());
    }
    if policy.max_uses.is_some_and(|max| policy.used >= max) {
        return Some(failures::USES_EXHAUSTED.bare());
    }
    if let (Some(from), Some(to)) = (policy.hour_from, policy.hour_to) {
        let hour = ((now_ms / 3_600_000) % 24) as u8;
        let inside = if from < to {
            from <= hour && hour < to
        } else {
            hour >= from || hour < to
        };
        if !inside {
            return Some(
                failures::OUTSIDE_HOURS.with(&[("from", from.to_string()), ("to", to.to_string())]),
            );
        }
    }
    None
}

pub async fn call(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call.method.as_str() {
        "set_policy" => {
            let a: SetPolicyArg = decode_args(call)?;
            set_policy(ctx, state, a).await
        }
        "request" => {
            let a: RequestArg = decode_args(call)?;
            request(ctx, state, a).await
        }
        "redeem" => {
            let a: RedeemArg = decode_args(call)?;
            let Some(raw) = state.get(&token_key(&a.token_id)).await? else {
                return reject(failures::UNKNOWN_TOKEN.bare());
            };
            let token = Token::decode_cfg(raw, &()).map_err(ingot_module::corrupt("token"))?;
            if ctx.sender.device.as_ref().map(|d| d.id.as_str()) != Some(token.device_id.as_str()) {
                return reject(failures::NOT_TOKEN_DEVICE.bare());
            }
            if ctx.block.timestamp_ms >= token.expires_ms {
                return reject(failures::TOKEN_EXPIRED.bare());
            }
            if let Some(at) = state.get(&used_key(&a.token_id)).await? {
                let at = u64::from_be_bytes(at.try_into().unwrap_or_default());
                return reject(failures::TOKEN_USED.with(&[("height", at.to_string())]));
            }
            state.put(
                used_key(&a.token_id),
                ctx.block.height.to_be_bytes().to_vec(),
            );
            // The owner reads its device's redemptions (read model).
            let owner = device::load(state, &token.device_id).await?.owner_org;
            Ok(vec![event(
                NAME,
                "redeemed",
                &[
                    ("token_id", hex::encode(a.token_id)),
                    ("device_id", token.device_id),
                    ("operation", token.operation),
                    ("owner", owner),
                ],
            )])
        }
        _ => unknown_method(call),
    }
}

async fn set_policy(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    a: SetPolicyArg,
) -> Result<Vec<Event>, CallError> {
    if ctx.sender.device.is_some() {
        return reject(failures::DEVICE_CANNOT_GRANT.bare());
    }
    for op in &a.operations {
        check_operation(op).map_err(CallError::Rejected)?;
    }
    match a.accessor.split_once(':') {
        Some(("member", h)) if h.len() == 64 && hex::decode(h).is_ok() => {}
        Some(("org", org)) if ctx.trust.ca(org).is_some() => {}
        Some(("device", id)) if !id.is_empty() && id.len() <= device::MAX_ID_LEN => {}
        _ => return reject(failures::BAD_ACCESSOR.with(&[("accessor", a.accessor.clone())])),
    }
    if let (Some(b), Some(e)) = (a.not_before_ms, a.not_after_ms) {
        if b >= e {
            return reject(failures::BAD_WINDOW.bare());
        }
    }
    match (a.hour_from, a.hour_to) {
        (None, None) => {}
        (Some(f), Some(t)) if f < 24 && t <= 24 && f != t => {}
        _ => return reject(failures::BAD_HOURS.bare()),
    }
    // Only the owner may grant: of the device, or of the namespace of a group.
    match a.target.split_once(':') {
        Some(("device", id)) => {
            let record = device::load(state, id).await?;
            if record.owner_org != ctx.sender.org {
                return reject(failures::NOT_OWNER.with(&[
                    ("owner", record.owner_org.clone()),
                    ("device", id.to_string()),
                ]));
            }
        }
        Some(("name", prefix)) => {
            device::check_name(prefix, 1).map_err(CallError::Rejected)?;
            match device::namespace_holder(ctx, state, prefix).await? {
                Some(org) if org == ctx.sender.org => {}
                _ => {
                    return reject(failures::NAMESPACE_NOT_HELD.with(&[
                        ("namespace", prefix.to_string()),
                        ("org", ctx.sender.org.clone()),
                    ]))
                }
            }
        }
        _ => return reject(failures::BAD_TARGET.bare()),
    }
    let key = policy_key(&a.target, &a.accessor);
    let attrs = |kind: &str| {
        event(
            NAME,
            kind,
            &[
                ("target", a.target.clone()),
                ("accessor", a.accessor.clone()),
                ("operations", a.operations.join(",")),
                ("owner", ctx.sender.org.clone()),
            ],
        )
    };
    if a.operations.is_empty() {
        if !state.exists(&key).await? {
            return reject(failures::NO_POLICY.bare());
        }
        state.delete(key);
        return Ok(vec![attrs("policy_revoked")]);
    }
    let policy = Policy {
        target: a.target.clone(),
        accessor: a.accessor.clone(),
        operations: a.operations.clone(),
        not_before_ms: a.not_before_ms,
        not_after_ms: a.not_after_ms,
        max_uses: a.max_uses,
        used: 0,
        hour_from: a.hour_from,
        hour_to: a.hour_to,
        granted_by: ctx.sender.id,
        granted_by_org: ctx.sender.org.clone(),
        height: ctx.block.height,
    };
    state.put(key, policy.encode().to_vec());
    Ok(vec![attrs("policy_set")])
}

/// Targets that may cover `record`, most specific first: the device, then
/// its name and every shorter prefix of it.
pub fn targets(record: &DeviceRecord) -> Vec<String> {
    let mut out = vec![format!("device:{}", record.id)];
    let segments: Vec<&str> = record.name.split('/').collect();
    for depth in (1..=segments.len()).rev() {
        out.push(format!("name:{}", segments[..depth].join("/")));
    }
    out
}

async fn request(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    a: RequestArg,
) -> Result<Vec<Event>, CallError> {
    check_operation(&a.operation).map_err(CallError::Rejected)?;
    let record = device::load(state, &a.device_id).await?;
    let now = ctx.block.timestamp_ms;
    let accessors = accessor_names(ctx);
    let mut decision: Result<(String, Policy), ingot_types::Failure> = Err(failures::NO_POLICY_FOR
        .with(&[
            ("accessor", accessors[0].clone()),
            ("device", record.id.clone()),
        ]));
    if device::status(&record) != DeviceStatus::Active {
        decision = Err(failures::DEVICE_NOT_ACTIVE
            .with(&[("status", device::status(&record).as_str().to_string())]));
    } else {
        let mut first_refusal = None;
        'search: for target in targets(&record) {
            for accessor in &accessors {
                let key = policy_key(&target, accessor);
                let Some(raw) = state.get(&key).await? else {
                    continue;
                };
                let policy =
                    Policy::decode_cfg(raw, &()).map_err(ingot_module::corrupt("policy"))?;
                // A group grant covers only devices its grantor still owns.
                if policy.granted_by_org != record.owner_org {
                    continue;
                }
                match refusal(&policy, &a.operation, now) {
                    None => {
                        decision = Ok((target.clone(), policy));
                        break 'search;
                    }
                    Some(why) => {
                        first_refusal.get_or_insert(why);
                    }
                }
            }
        }
        if let (Err(_), Some(why)) = (&decision, first_refusal) {
            decision = Err(why);
        }
    }

    let seq = match state.get(&log_len_key(&record.id)).await? {
        Some(raw) => u64::from_be_bytes(raw.try_into().unwrap_or_default()),
        None => 0,
    };
    let entry = LogEntry {
        seq,
        height: ctx.block.height,
        timestamp_ms: now,
        tx_hash: ctx.tx_hash,
        accessor: accessors[0].clone(),
        accessor_org: ctx.sender.org.clone(),
        operation: a.operation.clone(),
        granted: decision.is_ok(),
        denial: decision.as_ref().err().cloned(),
    };
    state.put(log_key(&record.id, seq), entry.encode().to_vec());
    state.put(log_len_key(&record.id), (seq + 1).to_be_bytes().to_vec());

    let mut attrs = vec![
        ("device_id", record.id.clone()),
        ("operation", a.operation.clone()),
        ("accessor", accessors[0].clone()),
        ("owner", record.owner_org.clone()),
    ];
    match decision {
        Err(denial) => {
            // The stable name of the denial (its detail is in the other
            // attributes and in the access log); text is rendered at the API.
            attrs.push((
                "reason",
                ingot_module::failure::own_name(failures::ALL, &denial),
            ));
            Ok(vec![event(NAME, "denied", &attrs)])
        }
        Ok((target, mut policy)) => {
            policy.used += 1;
            state.put(
                policy_key(&target, &policy.accessor),
                policy.encode().to_vec(),
            );
            let expires_ms = policy
                .not_after_ms
                .map_or(now + TOKEN_TTL_MS, |end| end.min(now + TOKEN_TTL_MS));
            let address = serde_json::from_str::<Value>(&record.metadata)
                .ok()
                .and_then(|m| m.get("address").and_then(Value::as_str).map(String::from))
                .unwrap_or_default();
            let token = Token {
                token_id: ctx.tx_hash,
                device_id: record.id.clone(),
                operation: a.operation.clone(),
                accessor: accessors[0].clone(),
                accessor_cert: ctx.sender.cert_hash,
                issued_height: ctx.block.height,
                issued_ms: now,
                expires_ms,
                device_address: address.clone(),
            };
            state.put(token_key(&token.token_id), token.encode().to_vec());
            attrs.extend([
                ("token_id", hex::encode(token.token_id)),
                ("token", hex::encode(token.encode())),
                ("expires_ms", expires_ms.to_string()),
                ("address", address),
            ]);
            Ok(vec![event(NAME, "granted", &attrs)])
        }
    }
}

fn text(v: &Value, field: &str) -> Result<String, String> {
    v.get(field)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| format!("missing string field `{field}`"))
}

/// Canonical arguments from JSON (API and CLI).
pub fn args_from_json(method: &str, v: &Value) -> Result<Bytes, String> {
    let u64_opt = |f: &str| v.get(f).and_then(Value::as_u64);
    let hour = |f: &str| -> Result<Option<u8>, String> {
        u64_opt(f)
            .map(|h| u8::try_from(h).map_err(|_| format!("`{f}` out of range")))
            .transpose()
    };
    Ok(match method {
        "set_policy" => SetPolicyArg {
            target: text(v, "target")?,
            accessor: text(v, "accessor")?,
            operations: v
                .get("operations")
                .and_then(Value::as_array)
                .ok_or("missing array field `operations`")?
                .iter()
                .map(|o| {
                    o.as_str()
                        .map(String::from)
                        .ok_or("operations must be strings")
                })
                .collect::<Result<_, _>>()?,
            not_before_ms: u64_opt("not_before_ms"),
            not_after_ms: u64_opt("not_after_ms"),
            max_uses: u64_opt("max_uses"),
            hour_from: hour("hour_from")?,
            hour_to: hour("hour_to")?,
        }
        .encode(),
        "request" => RequestArg {
            device_id: text(v, "device_id")?,
            operation: text(v, "operation")?,
        }
        .encode(),
        "redeem" => {
            let raw = hex::decode(text(v, "token_id")?).map_err(|e| format!("`token_id`: {e}"))?;
            RedeemArg {
                token_id: raw.try_into().map_err(|_| "`token_id` must be 32 bytes")?,
            }
            .encode()
        }
        _ => return Err(format!("unknown call access.{method}")),
    })
}

/// JSON form of canonical arguments.
pub fn args_to_json(method: &str, args: &Bytes) -> Result<Value, String> {
    Ok(match method {
        "set_policy" => {
            let a: SetPolicyArg = decode(args)?;
            json!({"target": a.target, "accessor": a.accessor, "operations": a.operations,
                "not_before_ms": a.not_before_ms, "not_after_ms": a.not_after_ms,
                "max_uses": a.max_uses, "hour_from": a.hour_from, "hour_to": a.hour_to})
        }
        "request" => {
            let a: RequestArg = decode(args)?;
            json!({"device_id": a.device_id, "operation": a.operation})
        }
        "redeem" => json!({"token_id": hex::encode(decode::<RedeemArg>(args)?.token_id)}),
        _ => return Err(String::new()),
    })
}

impl LogEntry {
    pub fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "height": self.height,
            "timestamp_ms": self.timestamp_ms,
            "tx_hash": hex::encode(self.tx_hash),
            "accessor": self.accessor,
            "accessor_org": self.accessor_org,
            "operation": self.operation,
            "decision": if self.granted { "granted" } else { "denied" },
            "reason": self.denial.as_ref().map(|f| ingot_module::failure::own_render(failures::ALL, f)),
            "reason_code": self.denial.as_ref().map(|f| ingot_module::failure::own_name(failures::ALL, f)),
        })
    }
}

// ---- Read model (see `crate::visibility`) ---------------------------------
//
// A policy is read by its grantor organisation, its accessor and regulators.
// A device's access log by the device's owner and regulators. A one-time
// token (and the receipt and event that carry it) only by its requester and
// the device's owner: it is a bearer credential, so not even regulators see
// it; they audit the decision in the access log instead.

/// The parties an accessor name (`member:<hash>`, `org:<name>`, `device:<id>`) denotes.
fn accessor_parties(accessor: &str, into: &mut ingot_module::visibility::Parties) {
    if let Some(org) = accessor.strip_prefix("org:") {
        into.orgs.insert(org.to_string());
    } else if let Some(h) = accessor.strip_prefix("member:") {
        if let Some(hash) = hex::decode(h)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            into.members.insert(hash);
        }
    } else if let Some(id) = accessor.strip_prefix("device:") {
        into.devices.insert(id.to_string());
    }
}

/// Whether a policy grants `who` `operation` on the device `device_id` at
/// `now_ms` (the published service the read model and other modules use).
pub async fn grants(
    state: &dyn ingot_module::StateRead,
    device_id: &str,
    who: &ingot_crypto::Identity,
    operation: &str,
    now_ms: u64,
) -> Result<bool, ingot_state::StateError> {
    let Some(record) = ingot_module_device::find_committed(state, device_id).await? else {
        return Ok(false);
    };
    for target in targets(&record) {
        for accessor in accessor_names_of(who) {
            let Some(raw) = state.get(&policy_key(&target, &accessor)).await? else {
                continue;
            };
            let Ok(policy) = Policy::decode_cfg(raw, &()) else {
                continue;
            };
            if policy.granted_by_org == record.owner_org
                && refusal(&policy, operation, now_ms).is_none()
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The key prefixes this module owns and who reads each (see
/// [`ingot_module::visibility::KeyDecl`]).
pub const KEYS: &[ingot_module::visibility::KeyDecl] = {
    use ingot_module::visibility::{IdAt, KeyDecl, Rule};
    &[
        KeyDecl::new("access/policy/", Rule::Policy),
        KeyDecl::new("access/token/", Rule::Token),
        KeyDecl::new("access/used/", Rule::Token),
        KeyDecl::new("access/log/", Rule::DeviceOwner(IdAt::BeforeLastSegment)),
        KeyDecl::new("access/loglen/", Rule::DeviceOwner(IdAt::Whole)),
    ]
};

/// A policy's grantor organisation, its accessor and regulators (regulators
/// alone for a policy that does not exist).
pub async fn policy_audience(
    state: &dyn ingot_module::StateRead,
    key: &str,
) -> Result<ingot_module::visibility::Audience, ingot_state::StateError> {
    use ingot_module::visibility::{Audience, Parties};
    Ok(match state.get(key.as_bytes()).await? {
        Some(raw) => match Policy::decode_cfg(raw, &()) {
            Ok(p) => {
                let mut parties = Parties::org_and_regulators(p.granted_by_org);
                accessor_parties(&p.accessor, &mut parties);
                Audience::Parties(parties)
            }
            Err(_) => Audience::regulators_only(),
        },
        None => Audience::regulators_only(),
    })
}

/// A token's requester and the device's owner (nobody for an unknown token).
pub async fn token_parties(
    state: &dyn ingot_module::StateRead,
    id: &[u8; 32],
) -> Result<ingot_module::visibility::Parties, ingot_state::StateError> {
    let mut parties = ingot_module::visibility::Parties::default();
    if let Some(token) = state
        .get(&token_key(id))
        .await?
        .and_then(|raw| Token::decode_cfg(raw, &()).ok())
    {
        accessor_parties(&token.accessor, &mut parties);
        if let Some(owner) = ingot_module_device::owner_org(state, &token.device_id).await? {
            parties.orgs.insert(owner);
        }
    }
    Ok(parties)
}

/// Who reads the content of an access call: requests and redemptions carry
/// (or burn) a bearer token — the requester and the device's owner only;
/// policy changes — the grantor, the accessor and regulators.
pub fn call_audience(
    call: &Call,
    sender: &ingot_crypto::Identity,
    events: &[Event],
) -> ingot_module::visibility::Audience {
    use ingot_module::visibility::{attribute, Audience, Parties};
    let mut parties = if matches!(call.method.as_str(), "request" | "redeem") {
        let mut p = Parties::default();
        match &sender.device {
            Some(d) => p.devices.insert(d.id.clone()),
            None => p.members.insert(sender.id),
        };
        p
    } else {
        Parties::org_and_regulators(sender.org.clone())
    };
    for e in events {
        if let Some(owner) = attribute(e, "owner") {
            parties.orgs.insert(owner.to_string());
        }
        if call.method != "request" {
            if let Some(accessor) = attribute(e, "accessor") {
                accessor_parties(accessor, &mut parties);
            }
        }
    }
    Audience::Parties(parties)
}

/// Who receives an access event: a `granted` event carries the token — its
/// accessor and the device's owner only; other events also regulators.
pub fn event_audience(e: &Event) -> ingot_module::visibility::Audience {
    use ingot_module::visibility::{attribute, Audience, Parties};
    let mut parties = Parties {
        regulators: e.kind != "granted" && e.kind != "redeemed",
        ..Parties::default()
    };
    if let Some(owner) = attribute(e, "owner") {
        parties.orgs.insert(owner.to_string());
    }
    if let Some(accessor) = attribute(e, "accessor") {
        accessor_parties(accessor, &mut parties);
    }
    // A redemption is the device's own act: the device sees it.
    if let Some(device) = attribute(e, "device_id") {
        parties.devices.insert(device.to_string());
    }
    Audience::Parties(parties)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never_panics(raw: &[u8]) {
        let b = || Bytes::copy_from_slice(raw);
        let _ = Policy::decode_cfg(b(), &());
        let _ = SetPolicyArg::decode_cfg(b(), &());
        let _ = RequestArg::decode_cfg(b(), &());
        let _ = RedeemArg::decode_cfg(b(), &());
        let _ = LogEntry::decode_cfg(b(), &());
        let _ = Token::decode_cfg(b(), &());
        for method in ["set_policy", "request", "redeem"] {
            let _ = args_to_json(method, &b());
        }
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            never_panics(&raw);
        }
    }
}
