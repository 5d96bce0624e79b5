//! `device`: registration, naming and lifecycle of industrial devices
//! (white paper 三.1 device identity, 三.3 device registration).
//!
//! A device is certified at manufacture by its manufacturer's CA (OU=device,
//! SAN `urn:ingot:device:<org>:<serial>` + `urn:ingot:model:<model>`); its id
//! is `<org>:<serial>`. Its owner registers it on chain under a hierarchical
//! name in a namespace the owner's organisation holds: every organisation
//! holds the namespace named after it, and can delegate sub-namespaces
//! (`acme/plant-3` → supplier). Every lifecycle stage is appended to the
//! device's history, the basis of its "portrait".
//!
//! Ownership is held by an organisation (any of its members or admins act for
//! it); the member who registered or accepted it is recorded.
//!
//! State (all keys start with `device/`):
//! - `device/rec/<id>` → [`DeviceRecord`]
//! - `device/name/<name>` → device id
//! - `device/cert/<cert hash hex>` → device id, for the *current* certificate only
//! - `device/hist/<id>/<seq as 16 hex digits>` → [`HistoryEntry`]
//! - `device/ns/<namespace>` → organisation the namespace is delegated to

pub mod api;
mod module;
pub mod names;

use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_module::{
    decode, decode_args, event, reject, unknown_method, CallError, Store, TxContext,
};
use ingot_types::{limits::MAX_CERT_BYTES, Call, Event};
pub use module::DeviceModule;
use serde_json::{json, Value};

pub const NAME: &str = "device";

/// Longest device id (`<org>:<serial>`).
pub const MAX_ID_LEN: usize = 200;
/// Longest hierarchical device name (not a module or method name:
/// `ingot_types::limits::MAX_NAME_LEN`).
pub const MAX_DEVICE_NAME_LEN: usize = 256;
/// Most segments in a name.
pub const MAX_NAME_DEPTH: usize = 8;
/// Longest metadata (a JSON object) and free-text fields.
pub const MAX_METADATA_LEN: usize = 4096;
// A device's id and name travel as event attributes and failure detail.
const _: () = assert!(MAX_ID_LEN <= ingot_types::limits::MAX_TEXT_LEN);
const _: () = assert!(MAX_DEVICE_NAME_LEN <= ingot_types::limits::MAX_TEXT_LEN);
// A name's segments each hold at least one character and a separator.
const _: () = assert!(MAX_NAME_DEPTH * 2 <= MAX_DEVICE_NAME_LEN);
/// Longest serial (the part of a device id after `<org>:`), as in certificates.
pub const MAX_SERIAL_LEN: usize = 128;
/// Longest model name.
pub const MAX_MODEL_LEN: usize = 256;
// An id is `<org>:<serial>`; organisation names are at most 64 bytes.
const _: () = assert!(MAX_SERIAL_LEN + 1 + 64 <= MAX_ID_LEN);
/// Longest firmware version string.
pub const MAX_VERSION_LEN: usize = 64;
/// Longest a transfer offer may stay open, in blocks.
pub const MAX_OFFER_BLOCKS: u64 = 1_000_000;

/// Methods of this module a device may call with its own key; every other
/// module declares its own (`Module::device_methods`), and the executor
/// collects them into the list [`authorize_device_sender`] checks.
pub const DEVICE_METHODS: &[&str] = &["report_state", "request_maintenance", "rotate_key"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    Registered = 0,
    Active = 1,
    Suspended = 2,
    Decommissioned = 3,
}

impl DeviceStatus {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::Registered,
            1 => Self::Active,
            2 => Self::Suspended,
            3 => Self::Decommissioned,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Decommissioned => "decommissioned",
        }
    }
}

ingot_types::record! {
    /// An open two-step ownership transfer.
    pub struct Offer {
        pub to_org: String = 256,
        pub expires_height: u64 = (),
    }
}

ingot_types::record! {
    /// A registered device.
    pub struct DeviceRecord {
        pub id: String = MAX_ID_LEN,
        pub model: String = 256,
        /// Organisation whose CA certified the device (its manufacturer).
        pub issuer_org: String = 256,
        /// Current certificate (DER) and its hash; key rotation replaces both.
        pub certificate: Bytes = MAX_CERT_BYTES,
        pub cert_hash: [u8; 32] = (),
        pub name: String = MAX_DEVICE_NAME_LEN,
        pub owner_org: String = 256,
        /// Member who registered it or accepted its transfer.
        pub owner_member: [u8; 32] = (),
        /// [`DeviceStatus`] as a byte.
        pub status: u8 = (),
        /// JSON object: firmware, capabilities / service interfaces, network address, location, ...
        pub metadata: String = MAX_METADATA_LEN,
        pub firmware_version: String = MAX_VERSION_LEN,
        pub firmware_hash: Option<[u8; 32]> = (),
        pub registered_height: u64 = (),
        pub history_len: u64 = (),
        pub offer: Option<Offer> = (),
        /// Plant equipment that cannot sign (no certificate): the gateway
        /// device that reads it and signs its readings, empty when none is
        /// set. Always empty for a device with its own certificate.
        pub attested_by: String = MAX_ID_LEN,
    }
}

ingot_types::record! {
    /// One lifecycle stage of a device.
    pub struct HistoryEntry {
        pub seq: u64 = (),
        pub height: u64 = (),
        pub timestamp_ms: u64 = (),
        pub tx_hash: [u8; 32] = (),
        pub kind: String = 64,
        /// Certificate hash of who caused it (a person or the device itself).
        pub actor: [u8; 32] = (),
        pub actor_org: String = 256,
        /// JSON object with the stage's details.
        pub detail: String = MAX_METADATA_LEN,
    }
}

ingot_types::record! {
    /// device.register
    pub struct RegisterArg {
        pub certificate: Bytes = MAX_CERT_BYTES,
        pub name: String = MAX_DEVICE_NAME_LEN,
        pub metadata: String = MAX_METADATA_LEN,
        /// The device's consent when the registrant's organisation did not
        /// certify it: its signature over
        /// `ingot_types::consent::possession_message`.
        pub possession: Option<Bytes> = ingot_types::limits::MAX_SIGNATURE_BYTES,
    }
}
ingot_types::record! {
    /// device.register_equipment: plant equipment without a key of its own
    /// (white paper 二.1: most equipment has only a traditional identifier),
    /// registered as `<registrant org>:<serial>` and read by `gateway`.
    pub struct EquipmentArg {
        // Decoded up to an id's length so that a long serial is refused as
        // `bad_serial`, not as malformed arguments.
        pub serial: String = MAX_ID_LEN,
        pub model: String = MAX_MODEL_LEN,
        pub name: String = MAX_DEVICE_NAME_LEN,
        pub metadata: String = MAX_METADATA_LEN,
        pub gateway: String = MAX_ID_LEN,
    }
}
ingot_types::record! {
    /// device.set_gateway: the gateway device that attests an equipment's readings.
    pub struct GatewayArg {
        pub device_id: String = MAX_ID_LEN,
        pub gateway: String = MAX_ID_LEN,
    }
}
ingot_types::record! {
    /// device.activate / reactivate / withdraw_offer / accept_transfer
    pub struct DeviceArg { pub device_id: String = MAX_ID_LEN }
}
ingot_types::record! {
    /// device.suspend / decommission / record_maintenance / update_metadata /
    /// report_state / request_maintenance: a device and a text.
    pub struct DeviceTextArg {
        pub device_id: String = MAX_ID_LEN,
        pub text: String = MAX_METADATA_LEN,
    }
}
ingot_types::record! {
    /// device.offer_transfer
    pub struct OfferArg {
        pub device_id: String = MAX_ID_LEN,
        pub to_org: String = 256,
        pub expires_height: u64 = (),
    }
}
ingot_types::record! {
    /// device.update_firmware
    pub struct FirmwareArg {
        pub device_id: String = MAX_ID_LEN,
        pub version: String = MAX_VERSION_LEN,
        pub image_hash: [u8; 32] = (),
    }
}
ingot_types::record! {
    /// device.rotate_key
    pub struct RotateArg {
        pub device_id: String = MAX_ID_LEN,
        pub certificate: Bytes = MAX_CERT_BYTES,
    }
}
ingot_types::record! {
    /// device.delegate_namespace
    pub struct DelegateArg {
        pub namespace: String = MAX_DEVICE_NAME_LEN,
        pub to_org: String = 256,
    }
}

pub fn record_key(id: &str) -> Vec<u8> {
    format!("device/rec/{id}").into_bytes()
}
pub fn name_key(name: &str) -> Vec<u8> {
    format!("device/name/{name}").into_bytes()
}
pub fn cert_key(cert_hash: &[u8; 32]) -> Vec<u8> {
    format!("device/cert/{}", hex::encode(cert_hash)).into_bytes()
}
pub fn history_key(id: &str, seq: u64) -> Vec<u8> {
    format!("device/hist/{id}/{seq:016x}").into_bytes()
}
pub fn namespace_key(namespace: &str) -> Vec<u8> {
    format!("device/ns/{namespace}").into_bytes()
}

/// Why a device call fails (see [`crate::failure`]).
pub mod failures {
    ingot_module::failures! { super::NAME;
        NAME_TOO_LONG = 1, "name_too_long", "name longer than {max} bytes";
        NAME_SEGMENTS = 2, "name_segments", "name `{name}` must have {min} to {max} segments";
        NAME_SEGMENT_CHARS = 3, "name_segment_chars", "name segment `{segment}` must be non-empty lowercase letters, digits, '-', '_' or '.'";
        UNKNOWN_DEVICE = 4, "unknown_device", "unknown device {device}";
        NOT_OWNER = 5, "not_owner", "only the owner organisation {owner} may do this";
        WRONG_STATUS = 6, "wrong_status", "device {device} is {status}";
        NOT_SELF = 7, "not_self", "only the device itself, with its current key, may do this";
        DEVICE_CALL_NOT_ALLOWED = 8, "device_call_not_allowed", "a device may only call {allowed}";
        KEY_NOT_REGISTERED = 9, "key_not_registered", "device {device} is not registered with this key";
        KEY_OF_ANOTHER_DEVICE = 10, "key_of_another_device", "certificate is registered to another device";
        DEVICE_CANNOT_REGISTER = 11, "device_cannot_register", "a device cannot register devices";
        METADATA_NOT_OBJECT = 12, "metadata_not_object", "metadata must be a JSON object";
        CERTIFICATE_REFUSED = 13, "certificate_refused", "device certificate refused: {reason}";
        NOT_A_DEVICE = 14, "not_a_device", "not a device certificate (OU=device with urn:ingot:device URI)";
        CERTIFICATE_NOT_VALID_NOW = 15, "certificate_not_valid_now", "device certificate is not valid at this block's time";
        CERTIFICATE_REVOKED = 16, "certificate_revoked", "device certificate is revoked";
        NEEDS_CONSENT = 17, "needs_consent", "device {device} was certified by {issuer}: only {issuer} registers it, or the registrant proves possession (a signature of the device key over the possession message)";
        BAD_POSSESSION_PROOF = 18, "bad_possession_proof", "proof of possession does not verify for this chain, registrant and device certificate";
        ALREADY_REGISTERED = 19, "already_registered", "device {device} is already registered, held by {holder}";
        CERTIFICATE_IN_USE = 20, "certificate_in_use", "this certificate is already the key of device {device}";
        NAME_TAKEN = 21, "name_taken", "name {name} is taken by {device}";
        NAMESPACE_NOT_HELD = 22, "namespace_not_held", "namespace of {name} is not held by {org} (held by {holder})";
        UNKNOWN_ORGANISATION = 23, "unknown_organisation", "unknown organisation {org}";
        ALREADY_OWNED = 24, "already_owned", "the device already belongs to that organisation";
        OFFER_EXPIRY = 25, "offer_expiry", "offer must expire after this block and within {max} blocks";
        NO_OFFER = 26, "no_offer", "no open transfer offer";
        DEVICE_CANNOT_ACCEPT = 27, "device_cannot_accept", "a device cannot accept transfers";
        OFFER_TO_OTHER = 28, "offer_to_other", "the offer is made to {to}, not {org}";
        OFFER_EXPIRED = 29, "offer_expired", "the offer expired at height {height}";
        NOT_MANUFACTURER = 30, "not_manufacturer", "only the manufacturer {issuer} may publish firmware for this device";
        EMPTY_FIRMWARE_VERSION = 31, "empty_firmware_version", "empty firmware version";
        ROTATION_NOT_ALLOWED = 32, "rotation_not_allowed", "a key is rotated by the device's current key or by an admin of its issuing organisation";
        NEW_CERTIFICATE_REFUSED = 33, "new_certificate_refused", "new certificate refused: {reason}";
        NEW_CERTIFICATE_OTHER_DEVICE = 34, "new_certificate_other_device", "the new certificate names another device";
        NEW_CERTIFICATE_SAME = 35, "new_certificate_same", "the new certificate is the current one";
        NEW_CERTIFICATE_UNUSABLE = 36, "new_certificate_unusable", "the new certificate is revoked or already used";
        NOT_ADMIN = 37, "not_admin", "only an organisation admin may delegate namespaces";
        DELEGATOR_NOT_HOLDER = 38, "delegator_not_holder", "namespace {namespace} is not held by {org}";
        BAD_SERIAL = 39, "bad_serial", "serial must be 1 to {max} of A-Z a-z 0-9 - _ .";
        EMPTY_MODEL = 40, "empty_model", "a model is required";
        GATEWAY_UNUSABLE = 41, "gateway_unusable", "gateway {gateway} cannot attest for {org}: {why}";
        NOT_EQUIPMENT = 42, "not_equipment", "device {device} signs with its own key; only equipment without one has a gateway";
        EQUIPMENT_HAS_NO_KEY = 43, "equipment_has_no_key", "device {device} is equipment without a key of its own; its gateway signs for it";
    }
}

/// A valid hierarchical name: 2..=8 `/`-separated segments of lowercase
/// letters, digits, `-`, `_` and `.`, the first naming an organisation.
pub fn check_name(name: &str, min_segments: usize) -> Result<(), ingot_types::Failure> {
    if name.len() > MAX_DEVICE_NAME_LEN {
        return Err(failures::NAME_TOO_LONG.with(&[("max", MAX_DEVICE_NAME_LEN.to_string())]));
    }
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() < min_segments || segments.len() > MAX_NAME_DEPTH {
        return Err(failures::NAME_SEGMENTS.with(&[
            ("name", name.to_string()),
            ("min", min_segments.to_string()),
            ("max", MAX_NAME_DEPTH.to_string()),
        ]));
    }
    for s in segments {
        let ok = !s.is_empty()
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if !ok {
            return Err(failures::NAME_SEGMENT_CHARS.with(&[("segment", s.to_string())]));
        }
    }
    Ok(())
}

/// The organisation that holds the namespace `name` falls in: the one the
/// longest delegated prefix was given to, else the organisation named by the
/// first segment (organisation names are compared lowercased).
pub async fn namespace_holder(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    name: &str,
) -> Result<Option<String>, CallError> {
    let segments: Vec<&str> = name.split('/').collect();
    for depth in (2..=segments.len()).rev() {
        let prefix = segments[..depth].join("/");
        if let Some(org) = state.get(&namespace_key(&prefix)).await? {
            return Ok(Some(String::from_utf8_lossy(&org).into_owned()));
        }
    }
    Ok(ctx.trust.org_by_lowercase(segments[0]))
}

/// A registered device, or `None` (the published read service other modules
/// use during execution instead of the `device/rec/` layout).
pub async fn find(state: &mut dyn Store, id: &str) -> Result<Option<DeviceRecord>, CallError> {
    match state.get(&record_key(id)).await? {
        Some(raw) => Ok(Some(
            DeviceRecord::decode_cfg(raw, &()).map_err(ingot_module::corrupt("device record"))?,
        )),
        None => Ok(None),
    }
}

/// A registered device, or the `unknown_device` failure.
pub async fn load(state: &mut dyn Store, id: &str) -> Result<DeviceRecord, CallError> {
    match find(state, id).await? {
        Some(record) => Ok(record),
        None => reject(failures::UNKNOWN_DEVICE.with(&[("device", id.to_string())])),
    }
}

pub fn status(record: &DeviceRecord) -> DeviceStatus {
    DeviceStatus::from_u8(record.status).unwrap_or(DeviceStatus::Decommissioned)
}

/// Append a history entry, store the record, and return the matching event.
fn append(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    mut record: DeviceRecord,
    kind: &str,
    detail: Value,
) -> Event {
    let entry = HistoryEntry {
        seq: record.history_len,
        height: ctx.block.height,
        timestamp_ms: ctx.block.timestamp_ms,
        tx_hash: ctx.tx_hash,
        kind: kind.into(),
        actor: ctx.sender.cert_hash,
        actor_org: ctx.sender.org.clone(),
        detail: detail.to_string(),
    };
    state.put(history_key(&record.id, entry.seq), entry.encode().to_vec());
    record.history_len += 1;
    let attrs = [
        ("device_id", record.id.clone()),
        ("name", record.name.clone()),
        ("owner", record.owner_org.clone()),
        ("status", status(&record).as_str().to_string()),
        ("detail", entry.detail.clone()),
    ];
    state.put(record_key(&record.id), record.encode().to_vec());
    event(NAME, kind, &attrs)
}

fn require_owner(ctx: &TxContext<'_>, record: &DeviceRecord) -> Result<(), CallError> {
    if ctx.sender.device.is_some() || ctx.sender.org != record.owner_org {
        return reject(failures::NOT_OWNER.with(&[("owner", record.owner_org.clone())]));
    }
    Ok(())
}

fn require_status(record: &DeviceRecord, allowed: &[DeviceStatus]) -> Result<(), CallError> {
    let s = status(record);
    if !allowed.contains(&s) {
        return reject(failures::WRONG_STATUS.with(&[
            ("device", record.id.clone()),
            ("status", s.as_str().to_string()),
        ]));
    }
    Ok(())
}

fn require_self(ctx: &TxContext<'_>, record: &DeviceRecord) -> Result<(), CallError> {
    if ctx.sender.cert_hash != record.cert_hash {
        return reject(failures::NOT_SELF.bare());
    }
    Ok(())
}

/// Checks made before any call signed by a device: it may only call the
/// `allowed` methods (`(module, method)`, every module's `device_methods`),
/// with its current registered key, while active.
pub async fn authorize_device_sender(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    call: &Call,
    allowed: &[(&str, &str)],
) -> Result<(), CallError> {
    let Some(device) = &ctx.sender.device else {
        return Ok(());
    };
    if !allowed
        .iter()
        .any(|(m, f)| *m == call.module && *f == call.method)
    {
        let allowed: Vec<String> = allowed.iter().map(|(m, f)| format!("{m}.{f}")).collect();
        return reject(failures::DEVICE_CALL_NOT_ALLOWED.with(&[("allowed", allowed.join(", "))]));
    }
    let Some(current) = state.get(&cert_key(&ctx.sender.cert_hash)).await? else {
        return reject(failures::KEY_NOT_REGISTERED.with(&[("device", device.id.clone())]));
    };
    if current != device.id.as_bytes() {
        return reject(failures::KEY_OF_ANOTHER_DEVICE.bare());
    }
    let record = load(state, &device.id).await?;
    require_status(&record, &[DeviceStatus::Active])
}

pub async fn call(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    let h = ctx.block.height;
    let ev = match call.method.as_str() {
        "register" => {
            if ctx.sender.device.is_some() {
                return reject(failures::DEVICE_CANNOT_REGISTER.bare());
            }
            let a: RegisterArg = decode_args(call)?;
            check_metadata(&a.metadata).map_err(CallError::Rejected)?;
            check_name(&a.name, 2).map_err(CallError::Rejected)?;
            let subject = ctx.trust.identify(&a.certificate).map_err(|e| {
                CallError::Rejected(
                    failures::CERTIFICATE_REFUSED.with(&[("reason", e.kind().to_string())]),
                )
            })?;
            let Some(device) = subject.device.clone() else {
                return reject(failures::NOT_A_DEVICE.bare());
            };
            let now = (ctx.block.timestamp_ms / 1000) as i64;
            if now > subject.not_after || now < subject.not_before {
                return reject(failures::CERTIFICATE_NOT_VALID_NOW.bare());
            }
            if ingot_module_identity::is_revoked(state, &subject).await? {
                return reject(failures::CERTIFICATE_REVOKED.bare());
            }
            // Consent (白皮书 三.3): the organisation that certified the device
            // registers it (and may transfer it later), or the registrant
            // proves it holds the device: the device key signed the chain,
            // the registrant's certificate and its own.
            if subject.org != ctx.sender.org {
                let Some(proof) = &a.possession else {
                    return reject(failures::NEEDS_CONSENT.with(&[
                        ("device", device.id.clone()),
                        ("issuer", subject.org.clone()),
                    ]));
                };
                let message = ingot_types::consent::possession_message(
                    &ctx.chain_id,
                    &ctx.sender.cert_hash,
                    &subject.cert_hash,
                );
                if subject.public_key.verify(&message, proof).is_err() {
                    return reject(failures::BAD_POSSESSION_PROOF.bare());
                }
            }
            if let Some(raw) = state.get(&record_key(&device.id)).await? {
                let holder = DeviceRecord::decode_cfg(raw, &())
                    .map(|r| r.owner_org)
                    .unwrap_or_default();
                return reject(
                    failures::ALREADY_REGISTERED
                        .with(&[("device", device.id.clone()), ("holder", holder)]),
                );
            }
            if let Some(other) = state.get(&cert_key(&subject.cert_hash)).await? {
                return reject(
                    failures::CERTIFICATE_IN_USE
                        .with(&[("device", String::from_utf8_lossy(&other).into_owned())]),
                );
            }
            claim_name(ctx, state, &a.name, &device.id).await?;
            state.put(cert_key(&subject.cert_hash), device.id.clone().into_bytes());
            let record = DeviceRecord {
                id: device.id.clone(),
                model: device.model.clone(),
                issuer_org: subject.org.clone(),
                certificate: a.certificate.clone(),
                cert_hash: subject.cert_hash,
                name: a.name.clone(),
                owner_org: ctx.sender.org.clone(),
                owner_member: ctx.sender.id,
                status: DeviceStatus::Registered as u8,
                metadata: a.metadata.clone(),
                firmware_version: String::new(),
                firmware_hash: None,
                registered_height: h,
                history_len: 0,
                offer: None,
                attested_by: String::new(),
            };
            append(
                ctx,
                state,
                record,
                "registered",
                json!({"name": a.name, "model": device.model, "issuer": subject.org}),
            )
        }
        "register_equipment" => register_equipment(ctx, state, decode_args(call)?).await?,
        "set_gateway" => {
            let a: GatewayArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            require_owner(ctx, &r)?;
            if !r.is_equipment() {
                return reject(failures::NOT_EQUIPMENT.with(&[("device", r.id.clone())]));
            }
            check_gateway(state, &a.gateway, &r.owner_org).await?;
            let from = std::mem::replace(&mut r.attested_by, a.gateway.clone());
            append(
                ctx,
                state,
                r,
                "gateway_set",
                json!({"from": from, "to": a.gateway}),
            )
        }
        "activate" | "reactivate" => {
            let a: DeviceArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            require_owner(ctx, &r)?;
            let from = if call.method == "activate" {
                DeviceStatus::Registered
            } else {
                DeviceStatus::Suspended
            };
            require_status(&r, &[from])?;
            r.status = DeviceStatus::Active as u8;
            let kind = if call.method == "activate" {
                "activated"
            } else {
                "reactivated"
            };
            append(ctx, state, r, kind, json!({}))
        }
        "suspend" | "decommission" => {
            let a: DeviceTextArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            require_owner(ctx, &r)?;
            let (allowed, to, kind): (&[DeviceStatus], _, _) = if call.method == "suspend" {
                (
                    &[DeviceStatus::Active],
                    DeviceStatus::Suspended,
                    "suspended",
                )
            } else {
                (
                    &[
                        DeviceStatus::Registered,
                        DeviceStatus::Active,
                        DeviceStatus::Suspended,
                    ],
                    DeviceStatus::Decommissioned,
                    "decommissioned",
                )
            };
            require_status(&r, allowed)?;
            r.status = to as u8;
            r.offer = None;
            append(ctx, state, r, kind, json!({"reason": a.text}))
        }
        "record_maintenance" | "update_metadata" => {
            let a: DeviceTextArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            require_owner(ctx, &r)?;
            require_status(
                &r,
                &[
                    DeviceStatus::Registered,
                    DeviceStatus::Active,
                    DeviceStatus::Suspended,
                ],
            )?;
            if call.method == "update_metadata" {
                check_metadata(&a.text).map_err(CallError::Rejected)?;
                r.metadata = a.text.clone();
                append(
                    ctx,
                    state,
                    r,
                    "metadata_updated",
                    json!({"metadata": a.text}),
                )
            } else {
                append(
                    ctx,
                    state,
                    r,
                    "maintenance_recorded",
                    json!({"note": a.text}),
                )
            }
        }
        "report_state" | "request_maintenance" => {
            let a: DeviceTextArg = decode_args(call)?;
            let r = load(state, &a.device_id).await?;
            require_self(ctx, &r)?;
            require_status(&r, &[DeviceStatus::Active])?;
            if call.method == "report_state" {
                append(ctx, state, r, "state_reported", json!({"state": a.text}))
            } else {
                append(
                    ctx,
                    state,
                    r,
                    "maintenance_requested",
                    json!({"reason": a.text}),
                )
            }
        }
        "offer_transfer" => {
            let a: OfferArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            require_owner(ctx, &r)?;
            require_status(
                &r,
                &[
                    DeviceStatus::Registered,
                    DeviceStatus::Active,
                    DeviceStatus::Suspended,
                ],
            )?;
            if ctx.trust.ca(&a.to_org).is_none() {
                return reject(failures::UNKNOWN_ORGANISATION.with(&[("org", a.to_org.clone())]));
            }
            if a.to_org == r.owner_org {
                return reject(failures::ALREADY_OWNED.bare());
            }
            if a.expires_height <= h || a.expires_height > h + MAX_OFFER_BLOCKS {
                return reject(
                    failures::OFFER_EXPIRY.with(&[("max", MAX_OFFER_BLOCKS.to_string())]),
                );
            }
            r.offer = Some(Offer {
                to_org: a.to_org.clone(),
                expires_height: a.expires_height,
            });
            append(
                ctx,
                state,
                r,
                "transfer_offered",
                json!({"to": a.to_org, "expires_height": a.expires_height}),
            )
        }
        "withdraw_offer" => {
            let a: DeviceArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            require_owner(ctx, &r)?;
            let Some(offer) = r.offer.take() else {
                return reject(failures::NO_OFFER.bare());
            };
            append(
                ctx,
                state,
                r,
                "transfer_withdrawn",
                json!({"to": offer.to_org}),
            )
        }
        "accept_transfer" => {
            let a: DeviceArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            if ctx.sender.device.is_some() {
                return reject(failures::DEVICE_CANNOT_ACCEPT.bare());
            }
            let offer = match &r.offer {
                None => return reject(failures::NO_OFFER.bare()),
                Some(o) if o.to_org != ctx.sender.org => {
                    return reject(
                        failures::OFFER_TO_OTHER
                            .with(&[("to", o.to_org.clone()), ("org", ctx.sender.org.clone())]),
                    )
                }
                Some(o) if h > o.expires_height => {
                    return reject(
                        failures::OFFER_EXPIRED.with(&[("height", o.expires_height.to_string())]),
                    )
                }
                Some(o) => o.clone(),
            };
            let from = std::mem::replace(&mut r.owner_org, offer.to_org.clone());
            r.owner_member = ctx.sender.id;
            r.offer = None;
            // The old owner's gateway must not go on attesting equipment it
            // no longer holds: the new owner names its own (`set_gateway`).
            let gateway_cleared = std::mem::take(&mut r.attested_by);
            let mut detail = json!({"from": from, "to": offer.to_org});
            if !gateway_cleared.is_empty() {
                detail["gateway_cleared"] = json!(gateway_cleared);
            }
            append(ctx, state, r, "ownership_transferred", detail)
        }
        "update_firmware" => {
            let a: FirmwareArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            if ctx.sender.device.is_some() || ctx.sender.org != r.issuer_org {
                return reject(
                    failures::NOT_MANUFACTURER.with(&[("issuer", r.issuer_org.clone())]),
                );
            }
            if a.version.is_empty() {
                return reject(failures::EMPTY_FIRMWARE_VERSION.bare());
            }
            require_status(
                &r,
                &[
                    DeviceStatus::Registered,
                    DeviceStatus::Active,
                    DeviceStatus::Suspended,
                ],
            )?;
            r.firmware_version = a.version.clone();
            r.firmware_hash = Some(a.image_hash);
            append(
                ctx,
                state,
                r,
                "firmware_updated",
                json!({"version": a.version, "image_hash": hex::encode(a.image_hash)}),
            )
        }
        "rotate_key" => {
            let a: RotateArg = decode_args(call)?;
            let mut r = load(state, &a.device_id).await?;
            if r.is_equipment() {
                return reject(failures::EQUIPMENT_HAS_NO_KEY.with(&[("device", r.id.clone())]));
            }
            let by_device = ctx.sender.cert_hash == r.cert_hash;
            let by_issuer = ctx.sender.device.is_none()
                && ctx.sender.role == "admin"
                && ctx.sender.org == r.issuer_org;
            if !by_device && !by_issuer {
                return reject(failures::ROTATION_NOT_ALLOWED.bare());
            }
            require_status(
                &r,
                &[
                    DeviceStatus::Registered,
                    DeviceStatus::Active,
                    DeviceStatus::Suspended,
                ],
            )?;
            let subject = ctx.trust.identify(&a.certificate).map_err(|e| {
                CallError::Rejected(
                    failures::NEW_CERTIFICATE_REFUSED.with(&[("reason", e.kind().to_string())]),
                )
            })?;
            if subject.device.as_ref().map(|d| d.id.as_str()) != Some(r.id.as_str()) {
                return reject(failures::NEW_CERTIFICATE_OTHER_DEVICE.bare());
            }
            if subject.cert_hash == r.cert_hash {
                return reject(failures::NEW_CERTIFICATE_SAME.bare());
            }
            if ingot_module_identity::is_revoked(state, &subject).await?
                || state.exists(&cert_key(&subject.cert_hash)).await?
            {
                return reject(failures::NEW_CERTIFICATE_UNUSABLE.bare());
            }
            state.delete(cert_key(&r.cert_hash));
            state.put(cert_key(&subject.cert_hash), r.id.clone().into_bytes());
            let old = std::mem::replace(&mut r.cert_hash, subject.cert_hash);
            r.certificate = a.certificate.clone();
            append(
                ctx,
                state,
                r,
                "key_rotated",
                json!({"old_certificate": hex::encode(old), "new_certificate": hex::encode(subject.cert_hash), "by": if by_device { "device" } else { "issuer" }}),
            )
        }
        "delegate_namespace" => {
            let a: DelegateArg = decode_args(call)?;
            check_name(&a.namespace, 2).map_err(CallError::Rejected)?;
            if ctx.sender.role != "admin" || ctx.sender.device.is_some() {
                return reject(failures::NOT_ADMIN.bare());
            }
            if ctx.trust.ca(&a.to_org).is_none() {
                return reject(failures::UNKNOWN_ORGANISATION.with(&[("org", a.to_org.clone())]));
            }
            match namespace_holder(ctx, state, &a.namespace).await? {
                Some(org) if org == ctx.sender.org => {}
                _ => {
                    return reject(failures::DELEGATOR_NOT_HOLDER.with(&[
                        ("namespace", a.namespace.clone()),
                        ("org", ctx.sender.org.clone()),
                    ]))
                }
            }
            state.put(namespace_key(&a.namespace), a.to_org.clone().into_bytes());
            event(
                NAME,
                "namespace_delegated",
                &[
                    ("namespace", a.namespace),
                    ("from", ctx.sender.org.clone()),
                    ("to", a.to_org),
                ],
            )
        }
        _ => return unknown_method(call),
    };
    Ok(vec![ev])
}

/// `device.register_equipment`: a record without a certificate, its readings
/// signed by `gateway` (a device of the registrant's own organisation).
async fn register_equipment(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    a: EquipmentArg,
) -> Result<Event, CallError> {
    if ctx.sender.device.is_some() {
        return reject(failures::DEVICE_CANNOT_REGISTER.bare());
    }
    let serial_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if a.serial.is_empty() || a.serial.len() > MAX_SERIAL_LEN || !a.serial.chars().all(serial_chars)
    {
        return reject(failures::BAD_SERIAL.with(&[("max", MAX_SERIAL_LEN.to_string())]));
    }
    check_metadata(&a.metadata).map_err(CallError::Rejected)?;
    check_name(&a.name, 2).map_err(CallError::Rejected)?;
    if a.model.is_empty() {
        return reject(failures::EMPTY_MODEL.bare());
    }
    let id = format!("{}:{}", ctx.sender.org, a.serial);
    if let Some(holder) = find(state, &id).await? {
        return reject(
            failures::ALREADY_REGISTERED.with(&[("device", id), ("holder", holder.owner_org)]),
        );
    }
    check_gateway(state, &a.gateway, &ctx.sender.org).await?;
    claim_name(ctx, state, &a.name, &id).await?;
    let record = DeviceRecord {
        id,
        model: a.model.clone(),
        issuer_org: ctx.sender.org.clone(),
        certificate: Bytes::new(),
        cert_hash: [0; 32],
        name: a.name.clone(),
        owner_org: ctx.sender.org.clone(),
        owner_member: ctx.sender.id,
        status: DeviceStatus::Registered as u8,
        metadata: a.metadata,
        firmware_version: String::new(),
        firmware_hash: None,
        registered_height: ctx.block.height,
        history_len: 0,
        offer: None,
        attested_by: a.gateway.clone(),
    };
    Ok(append(
        ctx,
        state,
        record,
        "registered",
        json!({"name": a.name, "model": a.model, "issuer": ctx.sender.org, "attested_by": a.gateway}),
    ))
}

/// Give `name` to device `id`: free, and in a namespace the sender's
/// organisation holds (white paper 三.3, registration and naming).
async fn claim_name(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    name: &str,
    id: &str,
) -> Result<(), CallError> {
    if let Some(taken) = state.get(&name_key(name)).await? {
        return reject(failures::NAME_TAKEN.with(&[
            ("name", name.to_string()),
            ("device", String::from_utf8_lossy(&taken).into_owned()),
        ]));
    }
    match namespace_holder(ctx, state, name).await? {
        Some(org) if org == ctx.sender.org => {}
        holder => {
            return reject(failures::NAMESPACE_NOT_HELD.with(&[
                ("name", name.to_string()),
                ("org", ctx.sender.org.clone()),
                ("holder", holder.unwrap_or_else(|| "nobody".into())),
            ]))
        }
    }
    state.put(name_key(name), id.as_bytes().to_vec());
    Ok(())
}

/// `gateway` may attest readings of `org`'s equipment: a registered device
/// with its own certificate, held by `org`, not decommissioned. (Whether it
/// is active and its certificate valid is judged at every anchor.)
async fn check_gateway(state: &mut dyn Store, gateway: &str, org: &str) -> Result<(), CallError> {
    let unusable = |why: &str| {
        reject(failures::GATEWAY_UNUSABLE.with(&[
            ("gateway", gateway.to_string()),
            ("org", org.to_string()),
            ("why", why.to_string()),
        ]))
    };
    let Some(g) = find(state, gateway).await? else {
        return unusable("no such device");
    };
    if g.is_equipment() {
        return unusable("it is equipment without a key");
    }
    if g.owner_org != org {
        return unusable("it belongs to another organisation");
    }
    if status(&g) == DeviceStatus::Decommissioned {
        return unusable("it is decommissioned");
    }
    Ok(())
}

fn check_metadata(m: &str) -> Result<(), ingot_types::Failure> {
    if m.is_empty() {
        return Ok(());
    }
    match serde_json::from_str::<Value>(m) {
        Ok(Value::Object(_)) => Ok(()),
        _ => Err(failures::METADATA_NOT_OBJECT.bare()),
    }
}

fn text(v: &Value, field: &str) -> Result<String, String> {
    match v.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(format!("missing string field `{field}`")),
        Some(other) => Ok(other.to_string()),
    }
}

fn optional_text(v: &Value, field: &str) -> String {
    match v.get(field) {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

fn certificate(v: &Value) -> Result<Bytes, String> {
    let pem = text(v, "certificate_pem")?;
    let info = ingot_crypto::CertInfo::from_one_pem(&pem)
        .map_err(|e| format!("`certificate_pem`: {e}"))?;
    Ok(Bytes::from(info.der))
}

/// Canonical arguments from JSON (API and CLI).
pub fn args_from_json(method: &str, v: &Value) -> Result<Bytes, String> {
    let id = || text(v, "device_id");
    Ok(match method {
        "register" => RegisterArg {
            certificate: certificate(v)?,
            name: text(v, "name")?,
            metadata: optional_text(v, "metadata"),
            possession: match v.get("possession_signature") {
                None | Some(Value::Null) => None,
                Some(Value::String(h)) => {
                    Some(Bytes::from(hex::decode(h).map_err(|e| {
                        format!("`possession_signature` is not hex: {e}")
                    })?))
                }
                Some(_) => return Err("`possession_signature` must be a hex string".into()),
            },
        }
        .encode(),
        "register_equipment" => EquipmentArg {
            serial: text(v, "serial")?,
            model: text(v, "model")?,
            name: text(v, "name")?,
            metadata: optional_text(v, "metadata"),
            gateway: text(v, "gateway")?,
        }
        .encode(),
        "set_gateway" => GatewayArg {
            device_id: id()?,
            gateway: text(v, "gateway")?,
        }
        .encode(),
        "activate" | "reactivate" | "withdraw_offer" | "accept_transfer" => {
            DeviceArg { device_id: id()? }.encode()
        }
        "suspend"
        | "decommission"
        | "record_maintenance"
        | "update_metadata"
        | "report_state"
        | "request_maintenance" => DeviceTextArg {
            device_id: id()?,
            text: optional_text(v, text_field(method)),
        }
        .encode(),
        "offer_transfer" => OfferArg {
            device_id: id()?,
            to_org: text(v, "to_org")?,
            expires_height: v
                .get("expires_height")
                .and_then(Value::as_u64)
                .ok_or("missing integer field `expires_height`")?,
        }
        .encode(),
        "update_firmware" => {
            let hash =
                hex::decode(text(v, "image_hash")?).map_err(|e| format!("`image_hash`: {e}"))?;
            FirmwareArg {
                device_id: id()?,
                version: text(v, "version")?,
                image_hash: hash
                    .try_into()
                    .map_err(|_| "`image_hash` must be 32 bytes")?,
            }
            .encode()
        }
        "rotate_key" => RotateArg {
            device_id: id()?,
            certificate: certificate(v)?,
        }
        .encode(),
        "delegate_namespace" => DelegateArg {
            namespace: text(v, "namespace")?,
            to_org: text(v, "to_org")?,
        }
        .encode(),
        _ => return Err(format!("unknown call device.{method}")),
    })
}

/// JSON form of canonical arguments.
/// The JSON field that carries a text argument's text, in requests and in
/// what readers are shown alike (the fuzz target `module_call_args` found the
/// rendering called it `text`, which a request ignores).
fn text_field(method: &str) -> &'static str {
    match method {
        "record_maintenance" => "note",
        "update_metadata" => "metadata",
        "report_state" => "state",
        _ => "reason",
    }
}

pub fn args_to_json(method: &str, args: &Bytes) -> Result<Value, String> {
    Ok(match method {
        "register" => {
            let a: RegisterArg = decode(args)?;
            json!({"certificate_hash": hex::encode(ingot_crypto::cert_hash(&a.certificate)), "name": a.name, "metadata": a.metadata, "possession_signature": a.possession.map(hex::encode)})
        }
        "register_equipment" => {
            let a: EquipmentArg = decode(args)?;
            json!({"serial": a.serial, "model": a.model, "name": a.name, "metadata": a.metadata, "gateway": a.gateway})
        }
        "set_gateway" => {
            let a: GatewayArg = decode(args)?;
            json!({"device_id": a.device_id, "gateway": a.gateway})
        }
        "activate" | "reactivate" | "withdraw_offer" | "accept_transfer" => {
            json!({"device_id": decode::<DeviceArg>(args)?.device_id})
        }
        "suspend"
        | "decommission"
        | "record_maintenance"
        | "update_metadata"
        | "report_state"
        | "request_maintenance" => {
            let a: DeviceTextArg = decode(args)?;
            json!({"device_id": a.device_id, text_field(method): a.text})
        }
        "offer_transfer" => {
            let a: OfferArg = decode(args)?;
            json!({"device_id": a.device_id, "to_org": a.to_org, "expires_height": a.expires_height})
        }
        "update_firmware" => {
            let a: FirmwareArg = decode(args)?;
            json!({"device_id": a.device_id, "version": a.version, "image_hash": hex::encode(a.image_hash)})
        }
        "rotate_key" => {
            let a: RotateArg = decode(args)?;
            json!({"device_id": a.device_id, "certificate_hash": hex::encode(ingot_crypto::cert_hash(&a.certificate))})
        }
        "delegate_namespace" => {
            let a: DelegateArg = decode(args)?;
            json!({"namespace": a.namespace, "to_org": a.to_org})
        }
        _ => return Err(String::new()),
    })
}

impl DeviceRecord {
    /// Plant equipment without a key of its own: a gateway signs for it.
    pub fn is_equipment(&self) -> bool {
        self.certificate.is_empty()
    }

    /// How far its readings can be trusted: `device_signed` or
    /// `gateway_attested` ([`ingot_types::telemetry::Trust`]).
    pub fn trust(&self) -> ingot_types::telemetry::Trust {
        if self.is_equipment() {
            ingot_types::telemetry::Trust::GatewayAttested
        } else {
            ingot_types::telemetry::Trust::DeviceSigned
        }
    }

    /// What anyone may see.
    pub fn public_json(&self) -> Value {
        json!({
            "device_id": self.id,
            "name": self.name,
            "model": self.model,
            "status": status(self).as_str(),
            "trust": self.trust().as_str(),
        })
    }

    /// What the owner and the regulator see.
    pub fn full_json(&self) -> Value {
        let mut v = self.public_json();
        let public_key = ingot_crypto::CertInfo::from_der(&self.certificate)
            .ok()
            .and_then(|c| c.public_key().ok())
            .and_then(|k| k.raw_bytes().ok())
            .map(hex::encode);
        let extra = json!({
            "issuer_org": self.issuer_org,
            "owner_org": self.owner_org,
            "owner_member": hex::encode(self.owner_member),
            "certificate_hash": hex::encode(self.cert_hash),
            "public_key": public_key,
            "metadata": serde_json::from_str::<Value>(&self.metadata).unwrap_or(Value::Null),
            "firmware_version": self.firmware_version,
            "firmware_hash": self.firmware_hash.map(hex::encode),
            "registered_height": self.registered_height,
            "history_len": self.history_len,
            "offer": self.offer.as_ref().map(|o| json!({"to_org": o.to_org, "expires_height": o.expires_height})),
            "attested_by": (!self.attested_by.is_empty()).then_some(&self.attested_by),
        });
        if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
            a.extend(b);
        }
        v
    }
}

impl HistoryEntry {
    pub fn to_json(&self) -> Value {
        json!({
            "seq": self.seq,
            "kind": self.kind,
            "height": self.height,
            "timestamp_ms": self.timestamp_ms,
            "tx_hash": hex::encode(self.tx_hash),
            "actor": hex::encode(self.actor),
            "actor_org": self.actor_org,
            "detail": serde_json::from_str::<Value>(&self.detail).unwrap_or(Value::Null),
        })
    }
}

// ---- Read model (see `crate::visibility`) ---------------------------------
//
// Names, certificate hashes and the public part of a record (id, name, model,
// status) are the identifier-resolution service (white paper 三.3): public.
// A device's record and lifecycle history are its owner organisation's and
// the regulators'. Delegated namespaces are consortium-wide: members.

/// The owner organisation of a registered device: the published service other
/// modules use instead of reading `device/rec/` themselves.
pub async fn owner_org(
    state: &dyn ingot_module::StateRead,
    device_id: &str,
) -> Result<Option<String>, ingot_state::StateError> {
    Ok(find_committed(state, device_id).await?.map(|r| r.owner_org))
}

/// A registered device in committed state (the published read service for
/// the read model and other modules' published services), or `None`.
pub async fn find_committed(
    state: &dyn ingot_module::StateRead,
    device_id: &str,
) -> Result<Option<DeviceRecord>, ingot_state::StateError> {
    if device_id.len() > MAX_ID_LEN {
        return Ok(None);
    }
    Ok(state
        .get(&record_key(device_id))
        .await?
        .and_then(|raw| DeviceRecord::decode_cfg(raw, &()).ok()))
}

/// The device's owner and the regulators (regulators alone for an unknown device).
pub async fn owner_audience(
    state: &dyn ingot_module::StateRead,
    device_id: &str,
) -> Result<ingot_module::visibility::Parties, ingot_state::StateError> {
    use ingot_module::visibility::Parties;
    Ok(match owner_org(state, device_id).await? {
        Some(owner) => Parties::org_and_regulators(owner),
        None => Parties::regulators_only(),
    })
}

/// The key prefixes this module owns and who reads each (see
/// [`ingot_module::visibility::KeyDecl`]).
pub const KEYS: &[ingot_module::visibility::KeyDecl] = {
    use ingot_module::visibility::{IdAt, KeyDecl, Rule};
    &[
        KeyDecl::new("device/name/", Rule::Public),
        KeyDecl::new("device/cert/", Rule::Public),
        KeyDecl::new("device/ns/", Rule::Members),
        KeyDecl::new("device/rec/", Rule::DeviceOwner(IdAt::Whole)),
        KeyDecl::new("device/hist/", Rule::DeviceOwner(IdAt::BeforeLastSegment)),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    /// What a reader is shown of a text call is a request that means the
    /// same: sent back, it builds the same arguments.
    #[test]
    fn rendered_text_calls_read_back_as_the_same_call() {
        for method in [
            "suspend",
            "decommission",
            "record_maintenance",
            "update_metadata",
            "report_state",
            "request_maintenance",
        ] {
            let args = DeviceTextArg {
                device_id: "acme:7".into(),
                text: "bearing replaced".into(),
            }
            .encode();
            let json = args_to_json(method, &args).unwrap();
            assert_eq!(
                args_from_json(method, &json).unwrap(),
                args,
                "{method}: {json}"
            );
        }
    }

    fn never_panics(raw: &[u8]) {
        let b = || Bytes::copy_from_slice(raw);
        let _ = DeviceRecord::decode_cfg(b(), &());
        let _ = HistoryEntry::decode_cfg(b(), &());
        let _ = RegisterArg::decode_cfg(b(), &());
        let _ = OfferArg::decode_cfg(b(), &());
        let _ = FirmwareArg::decode_cfg(b(), &());
        let _ = RotateArg::decode_cfg(b(), &());
        let _ = args_to_json("register", &b());
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            never_panics(&raw);
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("acme/plant-3/cnc-07", 2).is_ok());
        for bad in [
            "acme",
            "Acme/x",
            "acme//x",
            "acme/x y",
            "a/b/c/d/e/f/g/h/i",
            "",
        ] {
            assert!(check_name(bad, 2).is_err(), "{bad}");
        }
    }
}
