//! The one client of an Ingot node's HTTP API, used by the CLI, the edge
//! gateway, `ingot bench` and the end-to-end tests.
//!
//! Request signing lives here and nowhere else ([`Signer`]): the layout is
//! `ingot_types::api_request`, documented with test vectors in
//! `docs/api-auth.md`. Every error a node returns is JSON `{code, error}`;
//! [`ClientError::Api`] keeps both.

mod signer;

pub use signer::Signer;

use serde_json::Value;
use std::time::Duration;

/// Largest response body read (a block of 5,000 transactions is a few MiB).
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// Longest one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{method} {url}: {source}")]
    Transport {
        method: &'static str,
        url: String,
        source: Box<ureq::Error>,
    },
    /// The node answered with a client or server error.
    #[error("{message} ({status}, {code})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("signing the request: {0}")]
    Signing(String),
    /// A 2xx answer that is not the documented body (a node of another
    /// version, or a bug).
    #[error("unexpected answer to {what}: {message}")]
    Decode { what: &'static str, message: String },
}

/// The request target (path and query) of an absolute URL, as it goes on
/// the request line and into the signature.
pub fn target_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) => &after_scheme[i..],
        None => "/",
    }
}

/// An answer: status and JSON body (a non-JSON body becomes a JSON string).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The body of a 2xx answer, or the node's error.
    pub fn ok(self) -> Result<Value, ClientError> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let text = |k: &str| self.body.get(k).and_then(Value::as_str).map(str::to_owned);
        Err(ClientError::Api {
            status: self.status,
            code: text("code").unwrap_or_else(|| "unknown".into()),
            message: text("error").unwrap_or_else(|| "request failed".into()),
        })
    }
}

impl Answer {
    /// The body of a 2xx answer as the API type `what` documents, or the
    /// node's error.
    pub fn ok_as<T: serde::de::DeserializeOwned>(
        self,
        what: &'static str,
    ) -> Result<T, ClientError> {
        serde_json::from_value(self.ok()?).map_err(|e| ClientError::Decode {
            what,
            message: e.to_string(),
        })
    }
}

/// Environment variable naming a PEM file of CA certificates to trust for
/// HTTPS instead of the public web roots: a consortium's own CA that
/// issued its nodes' API certificates (`api_tls_cert`).
pub const CA_CERT_ENV: &str = "INGOT_CA_CERT";

/// An HTTP agent: every status is an answer, requests time out, and HTTPS
/// trusts the CAs in [`CA_CERT_ENV`] when it is set.
fn agent(timeout: Duration) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout));
    if let Some(path) = std::env::var_os(CA_CERT_ENV) {
        match std::fs::read(&path) {
            Ok(pem) => {
                let roots: Vec<_> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                        _ => None,
                    })
                    .collect();
                config = config.tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
                        .build(),
                );
            }
            // The TLS handshake then fails with its own clear error.
            Err(e) => eprintln!(
                "{CA_CERT_ENV}={}: cannot read: {e}",
                std::path::Path::new(&path).display()
            ),
        }
    }
    config.build().into()
}

/// A keep-alive connection to one node, optionally signing every request.
/// Reuse one per thread: a fresh connection per request costs the node a TCP
/// handshake and teardown each time.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    signer: Option<Signer>,
}

impl Client {
    /// An anonymous client of the node at `base` (e.g. `http://127.0.0.1:8080`;
    /// empty: every path given is an absolute URL).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent: agent(REQUEST_TIMEOUT),
            signer: None,
        }
    }

    /// Give up on a request after `timeout` (connection included).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.agent = agent(timeout);
        self
    }

    /// Sign every request as `signer`.
    pub fn signed(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }

    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET `path_and_query`; any status is an [`Answer`].
    pub fn get_answer(&self, path_and_query: &str) -> Result<Answer, ClientError> {
        self.send("GET", path_and_query, None)
    }

    /// POST JSON; any status is an [`Answer`].
    pub fn post_answer(&self, path_and_query: &str, body: &Value) -> Result<Answer, ClientError> {
        self.send("POST", path_and_query, Some(body.to_string().into_bytes()))
    }

    /// GET, the body of a 2xx answer or the node's error.
    pub fn get(&self, path_and_query: &str) -> Result<Value, ClientError> {
        self.get_answer(path_and_query)?.ok()
    }

    /// POST JSON, the body of a 2xx answer or the node's error.
    pub fn post(&self, path_and_query: &str, body: &Value) -> Result<Value, ClientError> {
        self.post_answer(path_and_query, body)?.ok()
    }

    /// GET returning the raw body (e.g. BPMN XML) of a 2xx answer.
    /// `GET /health`.
    pub fn health(&self) -> Result<ingot_api::core::Health, ClientError> {
        self.get_answer("/health")?.ok_as("GET /health")
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<ingot_api::core::NodeStatus, ClientError> {
        self.get_answer("/v1/status")?.ok_as("GET /v1/status")
    }

    /// `POST /v1/txs`: hex-encoded signed transactions; a result per
    /// transaction, in order.
    pub fn submit_txs(&self, txs: &[String]) -> Result<ingot_api::core::Submitted, ClientError> {
        let body = serde_json::to_value(ingot_api::core::SubmitTxs { txs: txs.to_vec() })
            .expect("serialisable");
        let submitted: ingot_api::core::Submitted =
            self.post_answer("/v1/txs", &body)?.ok_as("POST /v1/txs")?;
        if submitted.results.len() != txs.len() {
            return Err(ClientError::Decode {
                what: "POST /v1/txs",
                message: format!(
                    "{} results for {} transactions",
                    submitted.results.len(),
                    txs.len()
                ),
            });
        }
        Ok(submitted)
    }

    pub fn get_text(&self, path_and_query: &str) -> Result<String, ClientError> {
        let (status, text) = self.exchange("GET", path_and_query, None)?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
        .ok()
        .map(|_| String::new())
    }

    fn send(
        &self,
        method: &'static str,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, ClientError> {
        let (status, text) = self.exchange(method, path_and_query, body)?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }

    fn exchange(
        &self,
        method: &'static str,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, String), ClientError> {
        let url = format!("{}{path_and_query}", self.base);
        let headers = match &self.signer {
            Some(s) => s.headers(method, target_of(&url), body.as_deref().unwrap_or_default())?,
            None => Vec::new(),
        };
        let transport = |e: ureq::Error| ClientError::Transport {
            method,
            url: url.clone(),
            source: Box::new(e),
        };
        let resp = match body {
            None => {
                let mut req = self.agent.get(&url);
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                req.call()
            }
            Some(body) => {
                let mut req = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json");
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                req.send(&body[..])
            }
        };
        let mut resp = resp.map_err(transport)?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(transport)?;
        Ok((status, text))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signed_target_is_path_and_query() {
        assert_eq!(
            super::target_of("http://127.0.0.1:8080/v1/x?a=1&b=2"),
            "/v1/x?a=1&b=2"
        );
        assert_eq!(super::target_of("http://h:1"), "/");
        assert_eq!(super::target_of("/v1/whoami"), "/v1/whoami");
    }
}
