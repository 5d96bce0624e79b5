//! `identity`: an organisation's admin registers and revokes member
//! certificates of its own organisation.
//!
//! State: `identity/member/<cert hash>` → [`MemberRecord`];
//! `identity/revoked/<cert hash>` and `identity/revoked-key/<member id>` →
//! revocation height (u64). Revoking a certificate revokes its key in its
//! organisation: the certificate, and every certificate on the same key
//! (renewed before or after), signs nothing from the transaction after the
//! revocation on (execution reads the block's earlier writes; the node's
//! API refuses it once the block is executed). A member renews on the same key without any transaction
//! (its member id, [`ingot_crypto::member_id`], is unchanged); to drop a
//! key, revoke it and issue the member a certificate on a new one.

pub mod args;
mod module;

pub use args::CertificateArg;
use bytes::BufMut;
use commonware_codec::{Buf, Encode, EncodeSize, Error, Read, ReadExt, Write};
use ingot_module::{decode_args, event, reject, unknown_method, CallError, Store, TxContext};
use ingot_types::{
    codec_util::{read_str, str_size, write_str},
    Call, Event,
};
pub use module::IdentityModule;

pub const NAME: &str = "identity";

pub fn member_key(cert_hash: &[u8; 32]) -> Vec<u8> {
    format!("identity/member/{}", hex::encode(cert_hash)).into_bytes()
}

pub fn revoked_key(cert_hash: &[u8; 32]) -> Vec<u8> {
    format!("identity/revoked/{}", hex::encode(cert_hash)).into_bytes()
}

/// A validator's certificate renewed on chain (by its raw consensus key),
/// in place of the one genesis lists: the DER.
pub fn validator_cert_key(consensus_key: &[u8; 32]) -> Vec<u8> {
    format!("identity/validator/{}", hex::encode(consensus_key)).into_bytes()
}

/// A revoked key (by member id): every certificate on it is refused.
pub fn revoked_member_key(member_id: &[u8; 32]) -> Vec<u8> {
    format!("identity/revoked-key/{}", hex::encode(member_id)).into_bytes()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub org: String,
    pub role: String,
    pub common_name: String,
    pub registered_by: [u8; 32],
    pub height: u64,
}

impl Write for MemberRecord {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.org, buf);
        write_str(&self.role, buf);
        write_str(&self.common_name, buf);
        self.registered_by.write(buf);
        self.height.write(buf);
    }
}
impl EncodeSize for MemberRecord {
    fn encode_size(&self) -> usize {
        str_size(&self.org) + str_size(&self.role) + str_size(&self.common_name) + 32 + 8
    }
}
impl Read for MemberRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            org: read_str(buf, 256)?,
            role: read_str(buf, 256)?,
            common_name: read_str(buf, 256)?,
            registered_by: <[u8; 32]>::read(buf)?,
            height: u64::read(buf)?,
        })
    }
}

/// Whether a certificate may no longer sign: it, or its key, is revoked
/// on chain. The published service other modules and the executor use
/// instead of the `identity/revoked*/` layout.
pub async fn is_revoked(
    state: &mut dyn Store,
    holder: &ingot_crypto::Identity,
) -> Result<bool, ingot_state::StateError> {
    Ok(state.exists(&revoked_key(&holder.cert_hash)).await?
        || state.exists(&revoked_member_key(&holder.id)).await?)
}

/// Whether the certificate of hash `cert_hash` was revoked (a device's
/// bound certificate, known by its hash alone; revoking it revoked the
/// certificate and its key together).
pub async fn is_certificate_revoked(
    state: &mut dyn Store,
    cert_hash: &[u8; 32],
) -> Result<bool, ingot_state::StateError> {
    state.exists(&revoked_key(cert_hash)).await
}

/// [`is_revoked`] on committed state (the node's authentication and
/// admission, outside execution).
pub async fn is_revoked_committed(
    state: &dyn ingot_module::StateRead,
    holder: &ingot_crypto::Identity,
) -> Result<bool, ingot_state::StateError> {
    Ok(state.get(&revoked_key(&holder.cert_hash)).await?.is_some()
        || state.get(&revoked_member_key(&holder.id)).await?.is_some())
}

/// [`is_revoked_committed`] for a certificate known only by its DER (a
/// device's bound certificate, as the API shows it): the certificate by its
/// hash, its key by the member id of its subject O and public key.
pub async fn is_der_revoked_committed(
    state: &dyn ingot_module::StateRead,
    der: &[u8],
) -> Result<bool, ingot_state::StateError> {
    if state
        .get(&revoked_key(&ingot_crypto::cert_hash(der)))
        .await?
        .is_some()
    {
        return Ok(true);
    }
    let member = ingot_crypto::CertInfo::from_der(der).ok().and_then(|c| {
        let org = c.subject_o.clone()?;
        ingot_crypto::member_id(&org, &c.public_key().ok()?).ok()
    });
    Ok(match member {
        Some(id) => state.get(&revoked_member_key(&id)).await?.is_some(),
        None => false,
    })
}

/// Why an identity call fails (see [`crate::failure`]).
pub mod failures {
    ingot_module::failures! { super::NAME;
        NOT_ADMIN = 1, "not_admin", "only an organisation admin may manage identities";
        CERTIFICATE_REFUSED = 2, "certificate_refused", "certificate refused: {reason}";
        OTHER_ORGANISATION = 3, "other_organisation", "certificate belongs to {org}, not to the admin's organisation {admin_org}";
        ALREADY_REGISTERED = 4, "already_registered", "certificate already registered";
        REVOKED = 5, "revoked", "certificate is revoked";
        ALREADY_REVOKED = 6, "already_revoked", "certificate already revoked (it, or its key through another certificate)";
        NOT_A_VALIDATOR_CERTIFICATE = 7, "not_a_validator_certificate", "a validator certificate has role validator, not {role}";
        NOT_A_VALIDATOR_KEY = 8, "not_a_validator_key", "the certificate's key is not the consensus key of a validator of {org}";
        NOT_VALID_NOW = 9, "not_valid_now", "the certificate is not valid at this block's time";
        NOT_NEWER = 10, "not_newer", "the certificate ends at {not_after} (UNIX seconds), not after the validator's current one ({current}): certify the key for longer";
    }
}

pub async fn call(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    if ctx.sender.role != "admin" {
        return reject(failures::NOT_ADMIN.bare());
    }
    let arg: CertificateArg = decode_args(call)?;
    let subject = match ctx.trust.identify(&arg.certificate) {
        Ok(id) => id,
        Err(e) => {
            return reject(failures::CERTIFICATE_REFUSED.with(&[("reason", e.kind().to_string())]))
        }
    };
    if subject.org != ctx.sender.org {
        return reject(failures::OTHER_ORGANISATION.with(&[
            ("org", subject.org.clone()),
            ("admin_org", ctx.sender.org.clone()),
        ]));
    }
    let hash_hex = hex::encode(subject.cert_hash);
    match call.method.as_str() {
        "register" => {
            let key = member_key(&subject.cert_hash);
            if state.exists(&key).await? {
                return reject(failures::ALREADY_REGISTERED.bare());
            }
            if is_revoked(state, &subject).await? {
                return reject(failures::REVOKED.bare());
            }
            let record = MemberRecord {
                org: subject.org.clone(),
                role: subject.role.clone(),
                common_name: subject.common_name.clone(),
                registered_by: ctx.sender.id,
                height: ctx.block.height,
            };
            state.put(key, record.encode().to_vec());
            Ok(vec![event(
                NAME,
                "registered",
                &[
                    ("certificate", hash_hex),
                    ("member", hex::encode(subject.id)),
                    ("org", subject.org.clone()),
                    ("common_name", subject.common_name.clone()),
                    ("role", subject.role.clone()),
                ],
            )])
        }
        "revoke" => {
            if is_revoked(state, &subject).await? {
                return reject(failures::ALREADY_REVOKED.bare());
            }
            let height = ctx.block.height.to_be_bytes().to_vec();
            state.put(revoked_key(&subject.cert_hash), height.clone());
            state.put(revoked_member_key(&subject.id), height);
            Ok(vec![event(
                NAME,
                "revoked",
                &[
                    ("certificate", hash_hex),
                    ("member", hex::encode(subject.id)),
                    ("org", subject.org.clone()),
                ],
            )])
        }
        "renew_validator" => renew_validator(ctx, state, &arg.certificate, &subject).await,
        _ => unknown_method(call),
    }
}

/// A validator's certificate renewed on the same consensus key: recorded at
/// once, no vote (its organisation's CA vouches for it, and the key — what
/// consensus counts — is unchanged). It must end later than the one it
/// replaces, so an old certificate cannot be replayed over a newer one.
async fn renew_validator(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    der: &[u8],
    subject: &ingot_crypto::Identity,
) -> Result<Vec<Event>, CallError> {
    if subject.role != "validator" {
        return reject(
            failures::NOT_A_VALIDATOR_CERTIFICATE.with(&[("role", subject.role.clone())]),
        );
    }
    let seat = subject
        .public_key
        .raw_bytes()
        .ok()
        .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
        .filter(|_| subject.public_key.scheme() == ingot_crypto::Scheme::Ed25519)
        .and_then(|key| Some((key, ctx.trust.validator(&key)?.clone())))
        .filter(|(_, seat)| seat.org == subject.org);
    let Some((key, seat)) = seat else {
        return reject(failures::NOT_A_VALIDATOR_KEY.with(&[("org", subject.org.clone())]));
    };
    let now = (ctx.block.timestamp_ms / 1000) as i64;
    if now < subject.not_before || now > subject.not_after {
        return reject(failures::NOT_VALID_NOW.bare());
    }
    // A revoked key is not re-certified behind the revocation's back.
    if is_revoked(state, subject).await? {
        return reject(failures::REVOKED.bare());
    }
    let current = match state.get(&validator_cert_key(&key)).await? {
        Some(der) => {
            ingot_crypto::CertInfo::from_der(&der)
                .map_err(|_| {
                    CallError::Rejected(
                        ingot_module::failure::tx::CORRUPT_STATE
                            .with(&[("what", "renewed validator certificate".to_string())]),
                    )
                })?
                .not_after
        }
        None => seat.genesis_not_after,
    };
    if subject.not_after <= current {
        return reject(failures::NOT_NEWER.with(&[
            ("not_after", subject.not_after.to_string()),
            ("current", current.to_string()),
        ]));
    }
    state.put(validator_cert_key(&key), der.to_vec());
    Ok(vec![event(
        NAME,
        "validator_renewed",
        &[
            ("validator", seat.name.clone()),
            ("org", subject.org.clone()),
            ("certificate", hex::encode(subject.cert_hash)),
            ("not_after", subject.not_after.to_string()),
        ],
    )])
}

/// The key prefixes this module owns and who reads each: membership records
/// and revocations are the consortium's shared registry — every member
/// reads them (a verifier must be able to check any signer), anonymous
/// callers do not.
pub const KEYS: &[ingot_module::visibility::KeyDecl] = &[
    ingot_module::visibility::KeyDecl::new(
        "identity/member/",
        ingot_module::visibility::Rule::Members,
    ),
    ingot_module::visibility::KeyDecl::new(
        "identity/revoked/",
        ingot_module::visibility::Rule::Members,
    ),
    ingot_module::visibility::KeyDecl::new(
        "identity/validator/",
        ingot_module::visibility::Rule::Members,
    ),
    ingot_module::visibility::KeyDecl::new(
        "identity/revoked-key/",
        ingot_module::visibility::Rule::Members,
    ),
];
