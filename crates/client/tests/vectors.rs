//! The test vectors of docs/api-auth.md: a client in any language that
//! reproduces these bytes and signature signs requests the node accepts.

use ingot_client::Signer;
use ingot_crypto::PrivateKey;
use ingot_types::api_request::request_message;

/// The Ed25519 key of the worked example (PKCS#8 PEM, as in the doc).
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAeYREmDbXt02FsHrZpDT0M7ZtQEs/FUTwwUxGWKlRrK
-----END PRIVATE KEY-----
";

#[test]
fn worked_example_matches_the_documentation() {
    let key = PrivateKey::from_pkcs8_pem(KEY).unwrap();
    let body = br#"{"xml":"<a/>"}"#;
    let target = "/v1/telemetry/devices/acme:SN-1/readings?from_ms=0&limit=10";
    let message = request_message(
        "POST",
        target,
        body,
        1_767_225_600_000,
        "00112233445566778899aabbccddeeff",
    );
    assert_eq!(
        String::from_utf8(message.clone()).unwrap(),
        "ingot/api/v2\nPOST\n/v1/telemetry/devices/acme:SN-1/readings?from_ms=0&limit=10\n\
         d2604d70940199e8d49a14c0653b65515570afb01dacc85afcddc67ea6494e57\n1767225600000\n00112233445566778899aabbccddeeff"
    );
    let signature = hex::encode(key.sign(&message).unwrap());
    assert_eq!(signature, "4f1c21a44aeb2572136e210dba9f55431dbefe089dec0e3beca70cb2b42f5717ca31858ebeb9d0452767089844c1e449ce376c069739ab8fe80a0a59bac8f206", "Ed25519 signatures are deterministic");
    assert_eq!(
        hex::encode(key.public_key().raw_bytes().unwrap()),
        "4c0e0e03fffba859d14aa5c5116979a57027a1bb6a46af8796ec1cb4581e0316"
    );
    // The signer puts exactly these values in the four headers.
    let headers = Signer::new(key, b"cert-der".to_vec())
        .headers_at(
            "POST",
            target,
            body,
            1_767_225_600_000,
            "00112233445566778899aabbccddeeff",
        )
        .unwrap();
    assert_eq!(headers[0], ("x-ingot-cert", hex::encode(b"cert-der")));
    assert_eq!(headers[1], ("x-ingot-time", "1767225600000".to_string()));
    assert_eq!(
        headers[2],
        (
            "x-ingot-nonce",
            "00112233445566778899aabbccddeeff".to_string()
        )
    );
    assert_eq!(headers[3], ("x-ingot-signature", signature));
}
