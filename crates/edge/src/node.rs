//! The gateway's view of the chain: one node's HTTP API, with requests signed
//! by the gateway's member certificate (so it sees its organisation's
//! devices in full: certificate, status, revocation).

use anyhow::{anyhow, Context};
use commonware_codec::Encode;
use ingot_crypto::{CertInfo, PrivateKey, PublicKey};
use ingot_types::{parse_digest, tx::TX_VERSION, Call, Digest, SignedTransaction, Transaction};
use serde_json::Value;
use std::time::Duration;

/// What the chain says about a device.
#[derive(Clone, Debug)]
pub enum DeviceInfo {
    /// Registered: its current key, and why it may not report, if so.
    Known {
        key: Box<PublicKey>,
        refusal: Option<String>,
    },
    Unknown,
}

pub struct NodeClient {
    base: String,
    http: ureq::Agent,
    key: PrivateKey,
    cert_der: Vec<u8>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

impl NodeClient {
    pub fn new(base: &str, key: PrivateKey, cert_pem: &str) -> anyhow::Result<Self> {
        let cert = CertInfo::from_pem(cert_pem)?;
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
            key,
            cert_der: cert.der,
        })
    }

    fn signed(&self, method: &str, path: &str) -> anyhow::Result<[(String, String); 3]> {
        let time = now_ms();
        let path_only = path.split('?').next().unwrap_or(path);
        let sig = self
            .key
            .sign(&ingot_light::request_message(method, path_only, time))?;
        Ok([
            ("x-ingot-cert".into(), hex::encode(&self.cert_der)),
            ("x-ingot-time".into(), time.to_string()),
            ("x-ingot-signature".into(), hex::encode(sig)),
        ])
    }

    fn read(resp: ureq::http::Response<ureq::Body>) -> anyhow::Result<(u16, Value)> {
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string()?;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, v))
    }

    /// GET `path`, signed. Errors only when the node cannot be reached.
    pub fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        for (k, v) in self.signed("GET", path)? {
            req = req.header(k, v);
        }
        Self::read(req.call().with_context(|| format!("GET {path}"))?)
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let req = self.http.post(format!("{}{path}", self.base));
        Self::read(
            req.send_json(body)
                .with_context(|| format!("POST {path}"))?,
        )
    }

    /// Chain id and executed height.
    pub fn status(&self) -> anyhow::Result<(Digest, u64)> {
        let (_, v) = self.get("/v1/status")?;
        let chain =
            parse_digest(v["chain_id"].as_str().unwrap_or_default()).map_err(|e| anyhow!(e))?;
        Ok((chain, v["executed_height"].as_u64().unwrap_or(0)))
    }

    pub fn device(&self, id: &str) -> anyhow::Result<DeviceInfo> {
        let (status, v) = self.get(&format!("/v1/devices/{id}"))?;
        if status == 404 {
            return Ok(DeviceInfo::Unknown);
        }
        anyhow::ensure!(status == 200, "device lookup: HTTP {status}: {v}");
        let der = v["certificate"]
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| anyhow!("the node does not show this gateway device {id}'s certificate (is the gateway of the owner organisation?)"))?;
        let key = CertInfo::from_der(&der)?.public_key()?;
        let refusal = match (v["status"].as_str(), v["certificate_revoked"].as_bool()) {
            (_, Some(true)) => Some("device certificate is revoked".to_string()),
            (Some("active"), _) => None,
            (Some(other), _) => Some(format!("device is {other}")),
            (None, _) => Some("device status unknown".into()),
        };
        Ok(DeviceInfo::Known {
            key: Box::new(key),
            refusal,
        })
    }

    /// The highest sequence number the chain has anchored for a device.
    pub fn last_seq(&self, id: &str) -> anyhow::Result<u64> {
        let (status, v) = self.get(&format!("/v1/telemetry/devices/{id}"))?;
        anyhow::ensure!(status == 200, "summary lookup: HTTP {status}");
        Ok(v["summary"]["last_seq"].as_u64().unwrap_or(0))
    }

    pub fn sign(
        &self,
        chain: Digest,
        valid_until: u64,
        salt: u64,
        call: Call,
    ) -> anyhow::Result<SignedTransaction> {
        Ok(ingot_execution::sign_transaction(
            &self.key,
            Transaction {
                version: TX_VERSION,
                chain_id: chain,
                certificate: self.cert_der.clone().into(),
                valid_until,
                salt,
                call,
            },
        )?)
    }

    /// Submit transactions; per transaction, `None` if admitted or the reason.
    pub fn submit(&self, txs: &[SignedTransaction]) -> anyhow::Result<Vec<Option<String>>> {
        let body = serde_json::json!({
            "txs": txs.iter().map(|t| hex::encode(t.encode())).collect::<Vec<_>>()
        });
        let (status, v) = self.post("/v1/txs", &body)?;
        anyhow::ensure!(status == 200, "submit: HTTP {status}: {v}");
        let results = v["results"].as_array().cloned().unwrap_or_default();
        Ok(results
            .iter()
            .map(|r| r["error"].as_str().map(String::from))
            .collect())
    }

    /// The receipt of `hash` once executed; `Ok(None)` while pending or unknown.
    pub fn receipt(&self, hash: &Digest) -> anyhow::Result<Option<Value>> {
        let (status, v) = self.get(&format!("/v1/tx/{}", ingot_types::hex_digest(hash)))?;
        Ok(
            (status == 200 && v.get("status").and_then(Value::as_str) != Some("pending"))
                .then_some(v),
        )
    }
}
