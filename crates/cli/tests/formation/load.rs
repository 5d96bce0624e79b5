//! A load that runs through everything the consortium does after formation
//! (renewals, votes, an observer coming and going, a CA rotation): bolt's
//! member notarises one document after another through each validator in
//! turn, waiting for finality. Every "final" it is told is a promise; at the
//! end each must be final, at the same height, on every validator.

use crate::common::{load as load_member, signed_get};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
};

/// A transaction the chain acknowledged as final: hash and height.
pub type Acked = (String, u64);

pub struct Load {
    stop: Arc<AtomicBool>,
    apis: Arc<Mutex<Vec<String>>>,
    acked: Arc<Mutex<Vec<Acked>>>,
    refused: Arc<Mutex<Vec<String>>>,
    handle: Option<JoinHandle<()>>,
}

impl Load {
    pub fn start(root: &Path, apis: &[String]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let apis = Arc::new(Mutex::new(apis.to_vec()));
        let root: PathBuf = root.to_path_buf();
        let handle = {
            let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
            let apis = apis.clone();
            std::thread::spawn(move || {
                let mut k = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let api = {
                        let apis = apis.lock().unwrap();
                        apis[k as usize % apis.len()].clone()
                    };
                    let doc = hex::encode(ingot_types::sha256(&[b"load", &k.to_be_bytes()]));
                    let args = format!("{{\"document_hash\":\"{doc}\",\"metadata\":\"load\"}}");
                    let out = super::tx_send(
                        &root,
                        &api,
                        ("bolt/member.key", "bolt/member.pem"),
                        "notary",
                        "record",
                        &args,
                    );
                    match serde_json::from_slice::<Value>(&out.stdout) {
                        Ok(r) if out.status.success() && r["final"] == true => {
                            let hash = r["hash"].as_str().unwrap().to_string();
                            let height = r["height"].as_u64().unwrap();
                            acked.lock().unwrap().push((hash, height));
                        }
                        _ => refused
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&out.stderr).into_owned()),
                    }
                    k += 1;
                }
            })
        };
        Self {
            stop,
            apis,
            acked,
            refused,
            handle: Some(handle),
        }
    }

    /// From the next transaction on, send through `apis` (as a client
    /// does when the consortium's validators change).
    pub fn send_through(&self, apis: &[String]) {
        assert!(!apis.is_empty());
        *self.apis.lock().unwrap() = apis.to_vec();
    }

    /// What was acknowledged as final so far.
    pub fn acked(&self) -> Vec<Acked> {
        self.acked.lock().unwrap().clone()
    }

    /// Stop; what was acknowledged as final.
    pub fn stop(mut self) -> Vec<Acked> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
        let acked = self.acked();
        let refused = self.refused.lock().unwrap().clone();
        // A node may refuse at its door for a moment (its rate or mempool
        // limits); the load is only real if most of it went through.
        assert!(
            acked.len() >= 20 && refused.len() * 10 <= acked.len(),
            "the load did not run: {} final, {} refused; first refusal: {:?}",
            acked.len(),
            refused.len(),
            refused.first()
        );
        acked
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Every acknowledged transaction is final at its height on `api`.
pub fn all_final_on(root: &Path, api: &str, acked: &[Acked]) -> Result<(), String> {
    let bolt = load_member(&root.join("bolt"), "member");
    for (hash, height) in acked {
        let (code, r) = signed_get(api, Some(&bolt), &format!("/v1/tx/{hash}"));
        if code != 200 || r["final"] != true || r["height"].as_u64() != Some(*height) {
            return Err(format!(
                "{api}: transaction {hash}, final at {height}, reads {code} {r}"
            ));
        }
    }
    Ok(())
}
