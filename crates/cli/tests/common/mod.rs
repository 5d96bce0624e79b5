//! Helpers shared by the end-to-end tests: start real `ingot` networks,
//! talk to them over HTTP, sign transactions and requests.
#![allow(dead_code)]

use bytes::Bytes;
use commonware_codec::Encode;
use ingot_crypto::{CertInfo, PrivateKey};
use ingot_types::{tx::TX_VERSION, Call, Digest, SignedTransaction, Transaction};
use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_ingot");

pub struct Net {
    pub up: Child,
    pub data: PathBuf,
    pub api: String,
    /// Keep the data directory when dropped (the network is restarted).
    pub keep: bool,
}

/// Raise this process's descriptor limit to its hard limit (floods open a
/// descriptor per connection here too).
pub fn raise_descriptor_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// Stop a child process as Ctrl-C would, and wait for it.
pub fn interrupt(child: &mut Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
}

impl Drop for Net {
    fn drop(&mut self) {
        interrupt(&mut self.up);
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

pub fn try_call(method: &str, url: &str, body: Option<&str>) -> Result<(u16, Value), ureq::Error> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut resp = match (method, body) {
        ("GET", _) => agent.get(url).call()?,
        (_, Some(b)) => agent
            .post(url)
            .header("content-type", "application/json")
            .send(b)?,
        _ => agent.post(url).send_empty()?,
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

pub fn call(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    try_call(method, url, body).unwrap()
}

/// A network of `validators` started with `ingot up` on the given base ports.
pub fn start_net(name: &str, validators: usize, api_port: u16, p2p_port: u16) -> Net {
    let data = std::env::temp_dir().join(format!("ingot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let net = Net {
        up: spawn_up(&data, validators, api_port, p2p_port),
        data,
        api: format!("http://127.0.0.1:{api_port}"),
        keep: false,
    };
    wait_up(&net.api);
    net
}

/// Run `ingot up` on `data` (creating the network there if missing).
pub fn spawn_up(data: &Path, validators: usize, api_port: u16, p2p_port: u16) -> Child {
    Command::new(BIN)
        .args(["up", "--validators", &validators.to_string()])
        .args(["--api-port", &api_port.to_string()])
        .args(["--p2p-port", &p2p_port.to_string()])
        .arg("--data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Wait until the node at `api` has executed a block.
pub fn wait_up(api: &str) {
    let start = Instant::now();
    loop {
        let (s, v) = try_call("GET", &format!("{api}/health"), None).unwrap_or((0, Value::Null));
        if s == 200 && v["executed_height"].as_u64() >= Some(1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "network did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub struct Member {
    pub key: PrivateKey,
    pub der: Bytes,
    pub pem: String,
}

impl Member {
    /// The member id its certificate gives it on chain (organisation and key).
    pub fn member_id(&self) -> [u8; 32] {
        let cert = CertInfo::from_der(&self.der).unwrap();
        ingot_crypto::member_id(cert.subject_o.as_deref().unwrap(), &self.key.public_key()).unwrap()
    }
}

pub fn load(dir: &Path, name: &str) -> Member {
    let key = PrivateKey::from_pkcs8_pem(
        &std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap(),
    )
    .unwrap();
    let pem = std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap();
    Member {
        key,
        der: CertInfo::from_pem(&pem).unwrap().der.into(),
        pem,
    }
}

pub fn tx(
    m: &Member,
    chain: Digest,
    valid_until: u64,
    salt: u64,
    module: &str,
    method: &str,
    args: Value,
) -> SignedTransaction {
    ingot_execution::sign_transaction(
        &m.key,
        Transaction {
            version: TX_VERSION,
            chain_id: chain,
            certificate: m.der.clone(),
            valid_until,
            salt,
            call: Call {
                module: module.into(),
                method: method.into(),
                args: ingot_execution::args::from_json(module, method, &args).unwrap(),
            },
        },
    )
    .unwrap()
}

pub fn record(m: &Member, chain: Digest, height: u64, n: u64) -> SignedTransaction {
    tx(
        m,
        chain,
        height + 100,
        n,
        "notary",
        "record",
        json!({"document_hash": format!("{n:064x}"), "metadata": "x"}),
    )
}

pub fn post_tx(api: &str, t: &SignedTransaction, wait: bool) -> (u16, Value) {
    let body = json!({"tx": hex::encode(t.encode())}).to_string();
    call(
        "POST",
        &format!("{api}/v1/tx{}", if wait { "?wait=true" } else { "" }),
        Some(&body),
    )
}

/// The request signer of a member (signing lives in `ingot-client`).
pub fn signer(m: &Member) -> ingot_client::Signer {
    ingot_client::Signer::new(m.key.clone(), m.der.to_vec())
}

/// `method` `api``path` (path with query), signed by `who` (anonymous if
/// `None`), with an optional JSON body.
pub fn signed_call(
    method: &str,
    api: &str,
    path: &str,
    body: Option<&str>,
    who: Option<&Member>,
) -> (u16, Value) {
    let headers = match who {
        Some(m) => signer(m)
            .headers(method, path, body.unwrap_or_default().as_bytes())
            .unwrap(),
        None => Vec::new(),
    };
    raw_call(method, &format!("{api}{path}"), body, &headers)
}

/// A request with exactly these headers (replays, tampering, partial sets).
pub fn raw_call(
    method: &str,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, String)],
) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut r = match (method, body) {
        ("GET", _) => {
            let mut req = agent.get(url);
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            req.call().unwrap()
        }
        (_, body) => {
            let mut req = agent.post(url).header("content-type", "application/json");
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            req.send(body.unwrap_or_default()).unwrap()
        }
    };
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn signed_get(api: &str, who: Option<&Member>, path: &str) -> (u16, Value) {
    signed_call("GET", api, path, None, who)
}

/// Run an `ingot` command (with `--json`), require success, and parse the
/// JSON it prints.
pub fn run_json(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Run the `openssl` command-line tool in `dir` (as an operator would to
/// make CAs and certificates elsewhere) and require success.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command-line tool (`.ci/run` installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The element of the JSON array `list` whose `name` is `name`.
pub fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}
