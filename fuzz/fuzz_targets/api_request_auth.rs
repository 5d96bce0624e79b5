#![no_main]
//! Signed API requests: any anonymous client sends a certificate and a
//! signature in headers. Whatever the bytes, identifying the certificate
//! against the consortium's CAs and checking the signature over the request
//! answer yes or no — never panic. The fixture CA and certificates are in
//! `fuzz/fixtures` (see the README there); the corpus starts from valid ones.
//!
//! Input: two bytes (big endian) giving the certificate's length, the DER
//! certificate, then the signature.
use ingot_crypto::trust::TrustStore;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static TRUST: LazyLock<TrustStore> = LazyLock::new(|| {
    TrustStore::new([("FuzzOrg", include_str!("../fixtures/ca.pem"))]).expect("fixture CA")
});

fuzz_target!(|data: &[u8]| {
    let [hi, lo, rest @ ..] = data else { return };
    let len = (u16::from_be_bytes([*hi, *lo]) as usize).min(rest.len());
    let (der, signature) = rest.split_at(len);
    let Ok(identity) = TRUST.identify(der) else {
        return;
    };
    let message = ingot_types::api_request::request_message(
        "POST",
        "/v1/transactions?wait=true",
        b"{}",
        1_780_000_000_000,
        "00112233445566778899aabbccddeeff",
    );
    let _ = identity.public_key.verify(&message, signature);
});
