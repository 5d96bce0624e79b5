//! The gateway's view of the chain: one node's HTTP API, with requests signed
//! by the gateway's member certificate (so it sees its organisation's
//! devices in full: certificate, status, revocation).

use anyhow::anyhow;
use commonware_codec::Encode;
use ingot_crypto::{CertInfo, PrivateKey, PublicKey};
use ingot_types::{parse_digest, Call, Digest, SignedTransaction};
use serde_json::Value;
use std::time::Duration;

/// Largest request body the gateway sends (the node accepts 4 MiB batches).
const SUBMIT_BODY_BUDGET: usize = 3 * 1024 * 1024;

/// Consecutive ranges of `items` whose JSON (item plus quotes and comma)
/// stays within `budget` bytes; an item larger than the budget goes alone.
pub fn request_ranges(items: &[String], budget: usize) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < items.len() {
        let (mut end, mut size) = (start, 0);
        while end < items.len() && (end == start || size + items[end].len() + 3 <= budget) {
            size += items[end].len() + 3;
            end += 1;
        }
        ranges.push((start, end));
        start = end;
    }
    ranges
}

#[cfg(test)]
mod tests {
    /// The 2026-11-24 benchmark found 64 full anchoring transactions (6 MiB of
    /// hex) sent in one request the node refuses with 413, stalling the
    /// gateway; requests are now split under the budget.
    #[test]
    fn requests_stay_under_the_body_budget() {
        let items: Vec<String> = (0..64).map(|_| "a".repeat(98_000)).collect();
        let ranges = super::request_ranges(&items, 3 * 1024 * 1024);
        assert!(ranges.len() >= 2);
        assert_eq!(ranges.first().unwrap().0, 0);
        assert_eq!(ranges.last().unwrap().1, 64);
        for w in ranges.windows(2) {
            assert_eq!(w[0].1, w[1].0, "contiguous, in order");
        }
        for (a, b) in &ranges {
            assert!((b - a) * 98_003 <= 3 * 1024 * 1024);
        }
        assert_eq!(super::request_ranges(&["x".repeat(10)], 5), vec![(0, 1)]);
        assert!(super::request_ranges(&[], 5).is_empty());
    }
}

/// What the chain says about a device.
#[derive(Clone, Debug)]
pub enum DeviceInfo {
    /// Registered: its current key, and why it may not report, if so.
    Known {
        key: Box<PublicKey>,
        refusal: Option<String>,
    },
    /// Registered, but nothing can sign for it now: plant equipment whose
    /// gateway is missing or unusable.
    Barred(String),
    Unknown,
}

pub struct NodeClient {
    client: ingot_client::Client,
    key: PrivateKey,
    cert_der: Vec<u8>,
}

/// Longest one request to the node may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl NodeClient {
    pub fn new(base: &str, key: PrivateKey, cert_pem: &str) -> anyhow::Result<Self> {
        let cert = CertInfo::from_pem(cert_pem)?;
        let client = ingot_client::Client::new(base)
            .with_timeout(REQUEST_TIMEOUT)
            .signed(ingot_client::Signer::new(key.clone(), cert.der.clone()));
        Ok(Self {
            client,
            key,
            cert_der: cert.der,
        })
    }

    /// GET `path`, signed. Errors only when the node cannot be reached.
    pub fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let a = self.client.get_answer(path)?;
        Ok((a.status, a.body))
    }

    /// POST `path`, signed. Errors only when the node cannot be reached.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let a = self.client.post_answer(path, body)?;
        Ok((a.status, a.body))
    }

    /// Chain id and executed height.
    pub fn status(&self) -> anyhow::Result<(Digest, u64)> {
        let status = self.client.status()?;
        let chain = parse_digest(&status.chain_id).map_err(|e| anyhow!(e))?;
        Ok((chain, status.executed_height))
    }

    /// What the chain says about a device: the key its batches must be
    /// signed with and whether it may report. Plant equipment (no key of its
    /// own) is signed for by its gateway device: the gateway's key, refused
    /// while either is not active.
    pub fn device(&self, id: &str) -> anyhow::Result<DeviceInfo> {
        let Some(v) = self.device_record(id)? else {
            return Ok(DeviceInfo::Unknown);
        };
        if v["trust"] != "gateway_attested" {
            return Ok(DeviceInfo::Known {
                key: Box::new(device_key(id, &v)?),
                refusal: reporting_refusal(&v),
            });
        }
        if let Some(why) = reporting_refusal(&v) {
            return Ok(DeviceInfo::Barred(why));
        }
        let Some(gateway) = v["attested_by"].as_str() else {
            return Ok(DeviceInfo::Barred(format!(
                "equipment {id} has no gateway to attest its readings"
            )));
        };
        let Some(g) = self.device_record(gateway)? else {
            return Ok(DeviceInfo::Barred(format!("gateway {gateway} is unknown")));
        };
        if g["owner_org"] != v["owner_org"] {
            return Ok(DeviceInfo::Barred(format!(
                "gateway {gateway} is not a device of the equipment's owner"
            )));
        }
        if let Some(why) = reporting_refusal(&g) {
            return Ok(DeviceInfo::Barred(format!("gateway {gateway}: {why}")));
        }
        Ok(DeviceInfo::Known {
            key: Box::new(device_key(gateway, &g)?),
            refusal: None,
        })
    }

    /// A device's record as the node shows it to this gateway, or `None`.
    pub fn device_record(&self, id: &str) -> anyhow::Result<Option<Value>> {
        let (status, v) = self.get(&format!("/v1/devices/{id}"))?;
        if status == 404 {
            return Ok(None);
        }
        anyhow::ensure!(status == 200, "device lookup: HTTP {status}: {v}");
        Ok(Some(v))
    }

    /// The highest sequence number the chain has anchored for a device.
    /// (Errors when the node cannot be reached or answers otherwise.)
    /// The device's last anchored sequence number and reading timestamp.
    pub fn last_seq(&self, id: &str) -> anyhow::Result<(u64, u64)> {
        let (status, v) = self.get(&format!("/v1/telemetry/devices/{id}"))?;
        anyhow::ensure!(status == 200, "summary lookup: HTTP {status}");
        Ok((
            v["summary"]["last_seq"].as_u64().unwrap_or(0),
            v["summary"]["last_ts_ms"].as_u64().unwrap_or(0),
        ))
    }

    pub fn sign(
        &self,
        chain: Digest,
        valid_until: u64,
        salt: u64,
        call: Call,
    ) -> anyhow::Result<SignedTransaction> {
        Ok(ingot_execution::sign_call(
            &self.key,
            self.cert_der.clone().into(),
            chain,
            valid_until,
            salt,
            call,
        )?)
    }

    /// Submit transactions; per transaction, `None` if admitted or the reason.
    /// Split into requests that stay under the node's batch body limit.
    pub fn submit(&self, txs: &[SignedTransaction]) -> anyhow::Result<Vec<Option<String>>> {
        let encoded: Vec<String> = txs.iter().map(|t| hex::encode(t.encode())).collect();
        let mut out = Vec::with_capacity(txs.len());
        let mut start = 0;
        while start < encoded.len() {
            let mut end = start;
            let mut size = 0;
            while end < encoded.len()
                && (end == start || size + encoded[end].len() + 4 <= SUBMIT_BODY_BUDGET)
            {
                size += encoded[end].len() + 4;
                end += 1;
            }
            let submitted = self.client.submit_txs(&encoded[start..end])?;
            out.extend(submitted.results.into_iter().map(|r| r.error));
            start = end;
        }
        Ok(out)
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

/// The public key of a device's current certificate, as the node shows it.
pub fn device_key(id: &str, v: &Value) -> anyhow::Result<PublicKey> {
    let der = v["certificate"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .filter(|der| !der.is_empty())
        .ok_or_else(|| anyhow!("the node does not show device {id}'s certificate to this gateway (is the gateway of the owner organisation?)"))?;
    CertInfo::from_der(&der)?.public_key().map_err(Into::into)
}

/// Why a device may not report now (status, revoked certificate), or `None`.
fn reporting_refusal(v: &Value) -> Option<String> {
    match (v["status"].as_str(), v["certificate_revoked"].as_bool()) {
        (_, Some(true)) => Some("device certificate is revoked".to_string()),
        (Some("active"), _) => None,
        (Some(other), _) => Some(format!("device is {other}")),
        (None, _) => Some("device status unknown".into()),
    }
}
