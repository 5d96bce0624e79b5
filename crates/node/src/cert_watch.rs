//! Every certificate the consortium relies on, as it stands now: each
//! organisation's CAs (genesis's and those governance added; an old CA in
//! its grace period too) and each validator's certificate (genesis's, or
//! the one renewed on chain with `identity.renew_validator`). `/v1/status`,
//! `/metrics` and the log warn `certificate_warning_days` (node.toml,
//! default [`ingot_consortium::EXPIRY_WARNING_DAYS`]) ahead of an end.
//!
//! Dates are judged by the wall clock: a warning for operators, never chain
//! logic (execution judges a sender's certificate by block time).

use crate::Shared;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_consortium::CertSummary;
use ingot_crypto::CertInfo;
use std::{sync::Arc, time::Duration};

/// Days ahead of an end that a certificate is reported when `node.toml`
/// does not say.
pub const DEFAULT_WARNING_DAYS: i64 = ingot_consortium::EXPIRY_WARNING_DAYS;

/// How often the consortium's certificates are looked at: a CA admitted by
/// vote that is near its end is logged within this, not hours later.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// How often certificates near their end are logged again while nothing
/// about them changes.
pub const REPEAT_INTERVAL: Duration = Duration::from_secs(6 * 3600);
const _: () = assert!(REPEAT_INTERVAL
    .as_secs()
    .is_multiple_of(CHECK_INTERVAL.as_secs()));

/// The consortium's certificates at the executed state.
pub async fn consortium_certificates<E>(sh: &Shared<E>) -> Vec<CertSummary>
where
    E: Storage + Clock + Metrics + Spawner,
{
    let consortium = sh.trust.current();
    let mut out = Vec::new();
    for entry in consortium.entries() {
        for trusted in &entry.cas {
            let subject = match trusted.until {
                None => format!("CA of {}", entry.name),
                Some(until) => format!("CA of {} (trusted up to height {until})", entry.name),
            };
            out.push(CertSummary::of(subject, &entry.name, &trusted.ca));
        }
    }
    // Stored renewals are read under the state lock, parsed after it.
    let mut stored = Vec::new();
    {
        let state = sh.state.read().await;
        for key in consortium.validators().keys() {
            let at = ingot_execution::modules::identity::validator_cert_key(key);
            match state.get(&at).await {
                Ok(der) => stored.push(der),
                Err(e) => {
                    tracing::warn!(error = %e, "a renewed validator certificate could not be read");
                    stored.push(None);
                }
            }
        }
    }
    for ((key, seat), der) in consortium.validators().iter().zip(stored) {
        let renewed = der.and_then(|der| match CertInfo::from_der(&der) {
            Ok(cert) => Some(cert),
            Err(e) => {
                tracing::warn!(validator = %seat.name, error = %e, "a renewed validator certificate in state does not parse");
                None
            }
        });
        let cert = renewed.or_else(|| {
            sh.genesis
                .validators
                .iter()
                .find(|v| hex::decode(&v.public_key).is_ok_and(|listed| listed == key))
                .and_then(|v| CertInfo::from_pem(&v.cert_pem).ok())
        });
        if let Some(cert) = cert {
            let subject = format!("validator {} of {}", seat.name, seat.org);
            out.push(CertSummary::of(subject, &seat.org, &cert));
        }
    }
    out
}

/// Log each certificate of the consortium that ends within the warning
/// days (or has ended): at start, whenever that list changes (a CA admitted
/// or rotated by vote, a validator's certificate renewed, a certificate
/// coming within the warning days), and every [`REPEAT_INTERVAL`] while it
/// does not.
pub async fn watch_loop<E, C>(clock: C, shared: Arc<Shared<E>>)
where
    E: Storage + Clock + Metrics + Spawner,
    C: Clock,
{
    let repeat_every = REPEAT_INTERVAL.as_secs() / CHECK_INTERVAL.as_secs();
    let mut last: Option<Vec<(String, i64)>> = None;
    let mut checks_since_logged = 0u64;
    loop {
        let certificates = consortium_certificates(&shared).await;
        let now = ingot_crypto::unix_now();
        let days = shared.certificate_warning_days;
        let expiring = ingot_consortium::expiring_within(&certificates, now, days);
        let seen: Vec<(String, i64)> = expiring
            .iter()
            .map(|c| (c.subject.clone(), c.not_after))
            .collect();
        checks_since_logged += 1;
        if last.as_ref() != Some(&seen) || checks_since_logged >= repeat_every {
            for cert in &expiring {
                tracing::warn!(
                    certificate = %cert.subject,
                    org = %cert.org,
                    not_after = cert.not_after,
                    expired = cert.not_after < now,
                    "a certificate of the consortium ends within {days} days: renew it (same key: no vote; a validator's with identity.renew_validator) or rotate the CA by vote",
                );
            }
            last = Some(seen);
            checks_since_logged = 0;
        }
        clock.sleep(CHECK_INTERVAL).await;
    }
}
