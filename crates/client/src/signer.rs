//! Signing API requests (layout: `ingot_types::api_request`).

use crate::ClientError;
use ingot_crypto::{CertInfo, PrivateKey};
use ingot_types::api_request::{
    request_message, HEADER_CERT, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIME, MIN_NONCE_HEX,
};
use rand::RngCore;

/// A member's (or device's) key and certificate, signing requests.
pub struct Signer {
    key: PrivateKey,
    cert_der: Vec<u8>,
}

impl Signer {
    pub fn new(key: PrivateKey, cert_der: Vec<u8>) -> Self {
        Self { key, cert_der }
    }

    /// From PKCS#8 and certificate PEM text.
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> Result<Self, ClientError> {
        let key =
            PrivateKey::from_pkcs8_pem(key_pem).map_err(|e| ClientError::Signing(e.to_string()))?;
        let cert = CertInfo::from_pem(cert_pem).map_err(|e| ClientError::Signing(e.to_string()))?;
        Ok(Self::new(key, cert.der))
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The four authentication headers of one request, with a fresh nonce and
    /// the current time.
    pub fn headers(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<Vec<(&'static str, String)>, ClientError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut nonce = [0u8; MIN_NONCE_HEX];
        rand::thread_rng().fill_bytes(&mut nonce);
        self.headers_at(method, path_and_query, body, now_ms, &hex::encode(nonce))
    }

    /// [`Self::headers`] with a given time and nonce (test vectors, replays in tests).
    pub fn headers_at(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        time_ms: u64,
        nonce: &str,
    ) -> Result<Vec<(&'static str, String)>, ClientError> {
        let message = request_message(method, path_and_query, body, time_ms, nonce);
        let signature = self
            .key
            .sign(&message)
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        Ok(vec![
            (HEADER_CERT, hex::encode(&self.cert_der)),
            (HEADER_TIME, time_ms.to_string()),
            (HEADER_NONCE, nonce.to_string()),
            (HEADER_SIGNATURE, hex::encode(signature)),
        ])
    }
}
