//! Device registration consent: proof that the registrant holds the device.
//!
//! An organisation other than the one whose CA certified a device may
//! register it only with a signature by the device's own key over
//! [`possession_message`]: the chain, the registrant's certificate and the
//! device's certificate. The message names the registrant, so a proof made
//! for one organisation's member cannot be used by another, and the chain, so
//! it cannot be carried to another consortium.

use crate::Digest;

/// Domain (and version) of possession proofs.
pub const POSSESSION_DOMAIN: &[u8] = b"ingot/device-possession/v1";

/// The bytes a device signs to consent to registration by `registrant`.
pub fn possession_message(
    chain_id: &Digest,
    registrant_cert_hash: &[u8; 32],
    device_cert_hash: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(POSSESSION_DOMAIN.len() + 96);
    m.extend_from_slice(POSSESSION_DOMAIN);
    m.extend_from_slice(chain_id.as_ref());
    m.extend_from_slice(registrant_cert_hash);
    m.extend_from_slice(device_cert_hash);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden: device firmware signs these bytes; changing them breaks every
    /// device SDK.
    #[test]
    fn golden_possession_message() {
        let m = possession_message(&crate::sha256(&[b"chain"]), &[1; 32], &[2; 32]);
        assert_eq!(m.len(), POSSESSION_DOMAIN.len() + 96);
        assert_eq!(
            hex::encode(crate::sha256(&[&m])),
            "6d681b733cbf573f9a1054ef719eb1bff8f97a39e029440725b11bf2f8174d18",
            "BREAKING CHANGE for device firmware: the possession proof layout changed"
        );
    }
}
