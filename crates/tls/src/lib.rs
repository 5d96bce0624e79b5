//! Server TLS (rustls, ring) from a certificate chain and key in PEM files:
//! the node's HTTP API (`api_tls_cert`/`api_tls_key` in node.toml) and the
//! edge gateway's MQTT endpoint (`ingot edge --tls-cert/--tls-key`). Without
//! them both speak in the clear, which `ingot up` uses on 127.0.0.1; a server
//! reachable from other hosts should set both (signatures authenticate
//! callers and readings, but without TLS what they carry travels in the clear).

use std::{path::Path, sync::Arc};
pub use tokio_rustls;
use tokio_rustls::rustls::{
    self,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
};

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("TLS certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("TLS key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("TLS: the certificate and key do not form a usable server identity: {0}")]
    Config(rustls::Error),
}

/// A server configuration from a PEM certificate chain (leaf first) and a
/// PEM private key (PKCS#8, PKCS#1 or SEC1), offering the `alpn` protocols
/// (`http/1.1`, `mqtt`).
pub fn server_config(
    cert: &Path,
    key: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let cert_error = |reason: String| TlsSetupError::Certificate {
        path: cert.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no CERTIFICATE block in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsSetupError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsSetupError::Config)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_malformed_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("api.pem");
        let key = dir.path().join("api.key");
        let e = server_config(&cert, &key, &[]).unwrap_err().to_string();
        assert!(e.contains("api.pem"), "{e}");
        std::fs::write(&cert, "not pem").unwrap();
        let e = server_config(&cert, &key, &[]).unwrap_err().to_string();
        assert!(e.contains("no CERTIFICATE"), "{e}");
    }
}
