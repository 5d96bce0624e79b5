//! `identity`: an organisation's admin registers and revokes member
//! certificates of its own organisation.
//!
//! State: `identity/member/<cert hash>` → [`MemberRecord`];
//! `identity/revoked/<cert hash>` → revocation height (u64). A revoked
//! certificate can sign nothing from the block after its revocation on.

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

/// Whether a certificate is revoked on chain: the published service other
/// modules and the executor use instead of the `identity/revoked/` layout.
pub async fn is_revoked(
    state: &mut dyn Store,
    cert_hash: &[u8; 32],
) -> Result<bool, ingot_state::StateError> {
    state.exists(&revoked_key(cert_hash)).await
}

/// [`is_revoked`] on committed state (the node's authentication and
/// admission, outside execution).
pub async fn is_revoked_committed(
    state: &dyn ingot_module::StateRead,
    cert_hash: &[u8; 32],
) -> Result<bool, ingot_state::StateError> {
    Ok(state.get(&revoked_key(cert_hash)).await?.is_some())
}

/// Why an identity call fails (see [`crate::failure`]).
pub mod failures {
    ingot_module::failures! { super::NAME;
        NOT_ADMIN = 1, "not_admin", "only an organisation admin may manage identities";
        CERTIFICATE_REFUSED = 2, "certificate_refused", "certificate refused: {reason}";
        OTHER_ORGANISATION = 3, "other_organisation", "certificate belongs to {org}, not to the admin's organisation {admin_org}";
        ALREADY_REGISTERED = 4, "already_registered", "certificate already registered";
        REVOKED = 5, "revoked", "certificate is revoked";
        ALREADY_REVOKED = 6, "already_revoked", "certificate already revoked";
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
            if state.exists(&revoked_key(&subject.cert_hash)).await? {
                return reject(failures::REVOKED.bare());
            }
            let record = MemberRecord {
                org: subject.org.clone(),
                role: subject.role.clone(),
                common_name: subject.common_name.clone(),
                registered_by: ctx.sender.cert_hash,
                height: ctx.block.height,
            };
            state.put(key, record.encode().to_vec());
            Ok(vec![event(
                NAME,
                "registered",
                &[
                    ("certificate", hash_hex),
                    ("org", subject.org.clone()),
                    ("common_name", subject.common_name.clone()),
                    ("role", subject.role.clone()),
                ],
            )])
        }
        "revoke" => {
            let key = revoked_key(&subject.cert_hash);
            if state.exists(&key).await? {
                return reject(failures::ALREADY_REVOKED.bare());
            }
            state.put(key, ctx.block.height.to_be_bytes().to_vec());
            Ok(vec![event(
                NAME,
                "revoked",
                &[("certificate", hash_hex), ("org", subject.org.clone())],
            )])
        }
        _ => unknown_method(call),
    }
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
];
