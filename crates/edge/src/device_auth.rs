//! Who may publish: a device proves its identity in the MQTT CONNECT.
//!
//! With `ingot edge --require-device-auth`, a CONNECT must carry the device
//! id as its user name and, as its password, `<time_ms>:<nonce>:<signature>`
//! where the signature (hex, the scheme's usual encoding) is the device's
//! registered key over
//!
//! ```text
//! ingot/mqtt-connect/v1 \n <device id> \n <time_ms> \n <nonce>
//! ```
//!
//! (lines joined by `\n`, no trailing newline; `time_ms` canonical decimal
//! within 60 s of the gateway's clock; `nonce` 16–64 characters `[0-9a-f]`,
//! fresh per connection). It works for every scheme, SM2 included, which
//! TLS client certificates through rustls would not. The connection is then
//! bound to that device: it may publish only on its own topic. A signature
//! that verified is remembered with its nonce until it expires, so a
//! captured CONNECT cannot be replayed.

use crate::{ingest::Ingest, node::DeviceInfo};
use ingot_crypto::PrivateKey;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// The first line of the signed CONNECT message.
pub const CONNECT_DOMAIN: &str = "ingot/mqtt-connect/v1";
/// How far a CONNECT's time may be from the gateway's clock.
pub const MAX_CONNECT_SKEW_MS: u64 = 60_000;
pub const MIN_NONCE_LEN: usize = 16;
pub const MAX_NONCE_LEN: usize = 64;
/// Most (device, nonce) pairs remembered; expired ones go first, and past
/// the bound new connections are refused until some expire (a flood of
/// valid signatures can only come from registered devices' keys).
const MAX_REMEMBERED: usize = 1_000_000;

/// The bytes a device signs to connect.
pub fn connect_message(device_id: &str, time_ms: u64, nonce: &str) -> Vec<u8> {
    format!("{CONNECT_DOMAIN}\n{device_id}\n{time_ms}\n{nonce}").into_bytes()
}

/// The CONNECT password a device sends (for Rust devices and tests).
pub fn connect_password(
    key: &PrivateKey,
    device_id: &str,
    time_ms: u64,
    nonce: &str,
) -> anyhow::Result<String> {
    let signature = key.sign(&connect_message(device_id, time_ms, nonce))?;
    Ok(format!("{time_ms}:{nonce}:{}", hex::encode(signature)))
}

/// Why a CONNECT was refused; `label` is the stable code in the CONNACK's
/// reason string and the gateway's `/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRefusal {
    /// No user name or password.
    Missing,
    /// The password is not `<time_ms>:<nonce>:<hex signature>`.
    Malformed,
    /// The time is more than 60 s from the gateway's clock.
    Time,
    /// This nonce was already used by this device.
    Replay,
    UnknownDevice,
    /// Registered but not allowed to report (not active, revoked, expired).
    Inactive,
    BadSignature,
    /// The chain could not be asked about an uncached device, or the nonce
    /// memory is full: try again later.
    Unavailable,
}

impl AuthRefusal {
    pub fn label(self) -> &'static str {
        match self {
            Self::Missing => "auth_missing",
            Self::Malformed => "auth_malformed",
            Self::Time => "auth_time",
            Self::Replay => "auth_replay",
            Self::UnknownDevice => "auth_unknown_device",
            Self::Inactive => "auth_inactive_device",
            Self::BadSignature => "auth_signature",
            Self::Unavailable => "auth_unavailable",
        }
    }
}

/// Checks signed CONNECTs against the devices' registered keys.
pub struct DeviceAuth {
    ingest: Option<Arc<Ingest>>,
    /// (device, nonce) → when it may be forgotten (ms).
    seen: Mutex<HashMap<(String, String), u64>>,
}

impl DeviceAuth {
    pub fn new(ingest: Arc<Ingest>) -> Self {
        Self {
            ingest: Some(ingest),
            seen: Mutex::default(),
        }
    }

    /// The device a CONNECT authenticates, or why not. Blocking: it may ask
    /// the chain for the device's key.
    pub fn check(
        &self,
        username: Option<&str>,
        password: Option<&str>,
        now_ms: u64,
    ) -> Result<String, AuthRefusal> {
        let ingest = self.ingest.as_ref().ok_or(AuthRefusal::Unavailable)?;
        self.check_with(|id| ingest.device_info(id), username, password, now_ms)
    }

    /// [`check`](Self::check) with the device lookup given.
    fn check_with(
        &self,
        lookup: impl Fn(&str) -> Option<DeviceInfo>,
        username: Option<&str>,
        password: Option<&str>,
        now_ms: u64,
    ) -> Result<String, AuthRefusal> {
        let (Some(device), Some(password)) = (username, password) else {
            return Err(AuthRefusal::Missing);
        };
        let mut parts = password.splitn(3, ':');
        let (Some(time), Some(nonce), Some(signature)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthRefusal::Malformed);
        };
        let time_ms: u64 = time.parse().map_err(|_| AuthRefusal::Malformed)?;
        let nonce_ok = (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len())
            && nonce
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if time_ms.to_string() != time || !nonce_ok || device.is_empty() {
            return Err(AuthRefusal::Malformed);
        }
        let signature = hex::decode(signature).map_err(|_| AuthRefusal::Malformed)?;
        if time_ms.abs_diff(now_ms) > MAX_CONNECT_SKEW_MS {
            return Err(AuthRefusal::Time);
        }
        let key = match lookup(device) {
            None => return Err(AuthRefusal::Unavailable),
            Some(DeviceInfo::Unknown) => return Err(AuthRefusal::UnknownDevice),
            Some(DeviceInfo::Known {
                refusal: Some(_), ..
            })
            | Some(DeviceInfo::Barred(_)) => return Err(AuthRefusal::Inactive),
            Some(DeviceInfo::Known { key, refusal: None }) => key,
        };
        key.verify(&connect_message(device, time_ms, nonce), &signature)
            .map_err(|_| AuthRefusal::BadSignature)?;
        let mut seen = self.seen.lock().unwrap();
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, until| *until > now_ms);
            if seen.len() >= MAX_REMEMBERED {
                return Err(AuthRefusal::Unavailable);
            }
        }
        let until = time_ms + MAX_CONNECT_SKEW_MS + 1;
        if seen
            .insert((device.to_string(), nonce.to_string()), until)
            .is_some()
        {
            return Err(AuthRefusal::Replay);
        }
        Ok(device.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_crypto::Scheme;

    #[test]
    fn signed_connects_for_every_scheme_and_each_refusal() {
        let now = 1_800_000_000_000;
        for scheme in Scheme::ALL {
            let key = PrivateKey::generate(scheme).unwrap();
            let known = DeviceInfo::Known {
                key: Box::new(key.public_key()),
                refusal: None,
            };
            let lookup = |id: &str| match id {
                "acme:p1" => Some(known.clone()),
                "acme:off" => Some(DeviceInfo::Known {
                    key: Box::new(key.public_key()),
                    refusal: Some("device is suspended".into()),
                }),
                "acme:far" => None,
                // Equipment whose gateway is unusable: nothing signs for it.
                "acme:eq" => Some(DeviceInfo::Barred(
                    "gateway acme:gw: device is suspended".into(),
                )),
                _ => Some(DeviceInfo::Unknown),
            };
            let auth = DeviceAuth {
                ingest: None,
                seen: Mutex::default(),
            };
            let nonce = "0123456789abcdef";
            let good = connect_password(&key, "acme:p1", now, nonce).unwrap();
            let check = |user: Option<&str>, password: Option<&str>, at: u64| {
                auth.check_with(lookup, user, password, at)
            };
            assert_eq!(
                check(Some("acme:p1"), Some(&good), now + 1_000),
                Ok("acme:p1".into())
            );
            assert_eq!(
                check(Some("acme:p1"), Some(&good), now),
                Err(AuthRefusal::Replay)
            );
            let fresh = |n: &str, at: u64| connect_password(&key, "acme:p1", at, n).unwrap();
            let cases: Vec<(Option<&str>, String, AuthRefusal)> = vec![
                (None, fresh("1111111111111111", now), AuthRefusal::Missing),
                (Some("acme:p1"), "no-colons".into(), AuthRefusal::Malformed),
                (
                    Some("acme:p1"),
                    format!("0{now}:{nonce}:00"),
                    AuthRefusal::Malformed,
                ),
                (Some("acme:p1"), fresh("SHORT", now), AuthRefusal::Malformed),
                (
                    Some("acme:p1"),
                    fresh("ABCDEF0123456789", now),
                    AuthRefusal::Malformed,
                ),
                (
                    Some("acme:p1"),
                    fresh("2222222222222222", now - 61_000),
                    AuthRefusal::Time,
                ),
                (
                    Some("acme:other"),
                    fresh("3333333333333333", now),
                    AuthRefusal::UnknownDevice,
                ),
                (
                    Some("acme:off"),
                    fresh("4444444444444444", now),
                    AuthRefusal::Inactive,
                ),
                (
                    Some("acme:far"),
                    fresh("5555555555555555", now),
                    AuthRefusal::Unavailable,
                ),
                (
                    Some("acme:eq"),
                    connect_password(&key, "acme:eq", now, "7777777777777777").unwrap(),
                    AuthRefusal::Inactive,
                ),
                // Signed for another device id.
                (
                    Some("acme:p1"),
                    connect_password(&key, "acme:p2", now, "6666666666666666").unwrap(),
                    AuthRefusal::BadSignature,
                ),
            ];
            for (user, password, want) in cases {
                assert_eq!(
                    check(user, Some(&password), now),
                    Err(want),
                    "{scheme:?} {password}"
                );
            }
            assert_eq!(check(Some("acme:p1"), None, now), Err(AuthRefusal::Missing));
        }
    }
}
