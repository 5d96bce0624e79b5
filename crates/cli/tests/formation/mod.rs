//! Forming a consortium the way independent organisations do (issue 16,
//! item 1): each organisation prepares its own directory — one with a CA,
//! validator and member certificate made entirely by OpenSSL (Ed25519), one
//! importing an OpenSSL P-256 CA, one importing an OpenSSL SM2 CA, a
//! regulator with an `ingot`-made CA — and sends only its descriptor.
//! The genesis assembled in any order is the same; each organisation checks it
//! against its own descriptor and gets the same chain id; a tampered genesis
//! is refused by `genesis verify` and by `node run` before any storage is
//! opened; the four validators, started separately — each on a host of its
//! own (a network namespace with its own address, `hosts.rs`) — finalize
//! transactions of members certified by the OpenSSL-made CAs. Then, under a
//! continuous load (`load.rs`), with the regulator's observer node following
//! (`observer.rs`): certificates renewed (`renewal.rs`), an organisation
//! admitted and removed and a parameter changed by vote (`governance.rs`), a
//! CA rotated (`rotation.rs`), the observer withdrawn, a fifth organisation
//! and its validator added and another validator removed by vote with
//! crashes around the boundaries
//! (`validators.rs`); every transaction the chain acknowledged as final is
//! final at its height on every validator of the final set.

mod governance;
mod hosts;
mod load;
mod observer;
mod renewal;
mod rotation;
mod validators;

use crate::common::{load, openssl, run_json, signed_get, try_call, BIN};
use serde_json::Value;
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Hosts: the four validators, the regulator's archive (observer) node, a
/// node nobody admitted, and a validator added by vote
/// (`validators::NEW_VALIDATOR_HOST`).
const HOSTS: usize = 7;
const ARCHIVE_HOST: usize = 4;
const SPY_HOST: usize = 5;

/// The organisations: (name, how its CA is made).
const ORGS: [&str; 4] = ["forge", "bolt", "cast", "watch"];

fn ingot(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ingot_ok(dir: &Path, args: &[&str]) -> Value {
    let mut cmd = Command::new(BIN);
    cmd.arg("--json").args(args).current_dir(dir);
    run_json(&mut cmd)
}

/// An OpenSSL CA: `<stem>.key` and `<stem>.pem` with subject O=`org`.
fn openssl_ca(dir: &Path, stem: &str, org: &str, keygen: &[&str], sign: &[&str]) {
    let key = format!("{stem}.key");
    let pem = format!("{stem}.pem");
    let mut gen = vec!["genpkey"];
    gen.extend_from_slice(keygen);
    gen.extend_from_slice(&["-out", &key]);
    openssl(dir, &gen);
    let subject = format!("/C=CN/O={org}/CN={org} Root CA");
    let mut req = vec!["req", "-x509", "-new", "-key", &key, "-subj", &subject];
    req.extend_from_slice(sign);
    req.extend_from_slice(&[
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        &pem,
    ]);
    openssl(dir, &req);
}

/// An end-entity certificate made by OpenSSL for a new key.
fn openssl_leaf(dir: &Path, ca: &str, stem: &str, subject: &str, keygen: &[&str], days: &str) {
    let key = format!("{stem}.key");
    let mut gen = vec!["genpkey"];
    gen.extend_from_slice(keygen);
    gen.extend_from_slice(&["-out", &key]);
    openssl(dir, &gen);
    openssl_certify(dir, ca, &key, subject, days, &format!("{stem}.pem"));
}

/// OpenSSL's CA `ca` certifies the existing key `key` as `subject` for
/// `days` into `pem` (a first certificate, or a renewal on the same key).
fn openssl_certify(dir: &Path, ca: &str, key: &str, subject: &str, days: &str, pem: &str) {
    let csr = format!("{pem}.csr");
    openssl(
        dir,
        &["req", "-new", "-key", key, "-subj", subject, "-out", &csr],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            days,
            "-extfile",
            "leaf.ext",
            "-out",
            pem,
        ],
    );
}

/// Each organisation's own preparation, on "its own host" (its directory).
fn prepare(root: &Path, hosts: &hosts::Hosts) {
    let ed25519 = ["-algorithm", "ed25519"];
    let p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let sm2 = ["-algorithm", "SM2"];
    let address = |i: usize| hosts.p2p(i);
    let api = |i: usize| hosts.api(i);
    let pki = root.join("pki");
    std::fs::create_dir_all(&pki).unwrap();

    // forge: its PKI is OpenSSL and keeps its CA key to itself; the
    // validator key and certificate are OpenSSL's too.
    openssl_ca(&pki, "forge-ca", "forge", &ed25519, &[]);
    openssl_leaf(
        &pki,
        "forge-ca",
        "forge-v1",
        "/O=forge/OU=validator/CN=forge-v1",
        &ed25519,
        // Close to expiry: every check warns about it, none refuses it.
        "10",
    );
    openssl_leaf(
        &pki,
        "forge-ca",
        "forge-alice",
        "/O=forge/OU=member/CN=alice",
        &p256,
        "800",
    );
    ingot_ok(
        root,
        &[
            "org",
            "init",
            "--dir",
            "forge",
            "--ca-cert",
            "pki/forge-ca.pem",
        ],
    );
    let out = ingot(
        root,
        &[
            "org",
            "add-validator",
            "--dir",
            "forge",
            "--name",
            "forge-v1",
            "--p2p-address",
            &address(0),
        ],
    );
    assert!(
        !out.status.success(),
        "without the CA key ingot cannot issue"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--key and --cert"),
        "the refusal says what to do: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ingot_ok(
        root,
        &[
            "org",
            "add-validator",
            "--dir",
            "forge",
            "--name",
            "forge-v1",
            "--p2p-address",
            &address(0),
            "--api-listen",
            &api(0),
            "--key",
            "pki/forge-v1.key",
            "--cert",
            "pki/forge-v1.pem",
        ],
    );

    // bolt: an OpenSSL P-256 CA whose key ingot may use.
    openssl_ca(&pki, "bolt-ca", "bolt", &p256, &["-sha256"]);
    ingot_ok(
        root,
        &[
            "org",
            "init",
            "--dir",
            "bolt",
            "--ca-cert",
            "pki/bolt-ca.pem",
            "--ca-key",
            "pki/bolt-ca.key",
        ],
    );
    ingot_ok(
        root,
        &[
            "org",
            "add-validator",
            "--dir",
            "bolt",
            "--name",
            "bolt-v1",
            "--p2p-address",
            &address(1),
            "--api-listen",
            &api(1),
        ],
    );

    // cast: an OpenSSL SM2 CA (signed with the standard distinguishing ID).
    openssl_ca(
        &pki,
        "cast-ca",
        "cast",
        &sm2,
        &["-sm3", "-sigopt", "distid:1234567812345678"],
    );
    // The wrong key for the CA is refused before anything is written.
    let out = ingot(
        root,
        &[
            "org",
            "init",
            "--dir",
            "cast",
            "--ca-cert",
            "pki/cast-ca.pem",
            "--ca-key",
            "pki/bolt-ca.key",
        ],
    );
    assert!(!out.status.success());
    assert!(!root.join("cast/descriptor.json").exists());
    ingot_ok(
        root,
        &[
            "org",
            "init",
            "--dir",
            "cast",
            "--ca-cert",
            "pki/cast-ca.pem",
            "--ca-key",
            "pki/cast-ca.key",
        ],
    );
    ingot_ok(
        root,
        &[
            "org",
            "add-validator",
            "--dir",
            "cast",
            "--name",
            "cast-v1",
            "--p2p-address",
            &address(2),
            "--api-listen",
            &api(2),
        ],
    );

    // watch: a regulator whose CA ingot makes (SM2).
    ingot_ok(
        root,
        &[
            "org",
            "init",
            "--dir",
            "watch",
            "--name",
            "watch",
            "--kind",
            "regulator",
            "--scheme",
            "sm2",
        ],
    );
    ingot_ok(
        root,
        &[
            "org",
            "add-validator",
            "--dir",
            "watch",
            "--name",
            "watch-v1",
            "--p2p-address",
            &address(3),
            "--api-listen",
            &api(3),
        ],
    );
    // Initialising an organisation twice changes nothing.
    let out = ingot(root, &["org", "init", "--dir", "watch", "--name", "watch"]);
    assert!(!out.status.success());
}

fn descriptors(order: &[&str]) -> Vec<String> {
    order
        .iter()
        .flat_map(|o| ["--descriptor".to_string(), format!("{o}/descriptor.json")])
        .collect()
}

/// Blocks per epoch of the formed chain.
const EPOCH_LENGTH: u64 = 20;

fn create_genesis(root: &Path, order: &[&str], out: &str) -> Value {
    let epoch_length = EPOCH_LENGTH.to_string();
    let mut args: Vec<String> = [
        "genesis",
        "create",
        "--chain-name",
        "plant",
        "--timestamp-ms",
        "1796000000000",
        "--proposal-ttl",
        "600",
        // Short epochs: the run crosses many boundaries between real
        // processes, with observers, renewals and rotations on the way.
        "--epoch-length",
        &epoch_length,
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec();
    args.extend(descriptors(order));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ingot_ok(root, &args)
}

pub(super) struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        // Not one that already exited: its pid may be another process's.
        for c in &mut self.0 {
            if matches!(c.try_wait(), Ok(None)) {
                crate::common::interrupt(c);
            }
        }
    }
}

/// Start the node in `dir` on host `host`.
fn start_on(hosts: &hosts::Hosts, host: usize, dir: &Path) -> Child {
    // Appended: a restarted node's log follows its earlier run's.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("node.log"))
        .unwrap();
    hosts
        .ingot(host)
        .args(["node", "run", "--config", "node.toml"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn start(root: &Path, hosts: &hosts::Hosts, i: usize) -> Child {
    let org = ORGS[i];
    start_on(hosts, i, &root.join(org).join(format!("{org}-v1")))
}

/// `ingot --json tx send ... --wait` as the holder of `key`/`cert`.
fn tx_send(
    root: &Path,
    api: &str,
    (key, cert): (&str, &str),
    module: &str,
    method: &str,
    args: &str,
) -> std::process::Output {
    ingot(
        root,
        &[
            "--json", "tx", "send", "--node", api, "--key", key, "--cert", cert, "--module",
            module, "--method", method, "--args", args, "--wait",
        ],
    )
}

fn notarise(root: &Path, api: &str, key: &str, cert: &str, n: u8) -> Value {
    let doc = format!("{n:02x}").repeat(32);
    ingot_ok(
        root,
        &[
            "tx",
            "send",
            "--node",
            api,
            "--key",
            key,
            "--cert",
            cert,
            "--module",
            "notary",
            "--method",
            "record",
            "--args",
            &format!("{{\"document_hash\":\"{doc}\",\"metadata\":\"formation\"}}"),
            "--wait",
        ],
    )
}

#[test]
fn organisations_form_a_consortium_from_descriptors_with_openssl_made_cas() {
    let root = std::env::temp_dir().join(format!("ingot-e2e-formation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    // Dropped last: the nodes stop before their hosts go.
    let hosts = hosts::Hosts::new(HOSTS);
    prepare(&root, &hosts);

    let a = create_genesis(&root, &ORGS, "genesis.json");
    let mut reversed = ORGS;
    reversed.reverse();
    let b = create_genesis(&root, &reversed, "genesis-2.json");
    assert_eq!(
        a["chain_id"], b["chain_id"],
        "the order of descriptors does not matter"
    );
    assert_eq!(
        a["expiring"][0]["certificate"], "validator forge-v1 of forge",
        "{a}"
    );
    assert_eq!(a["expiring"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(
        std::fs::read(root.join("genesis.json")).unwrap(),
        std::fs::read(root.join("genesis-2.json")).unwrap()
    );
    // Each organisation checks the genesis against what it sent.
    for org in ORGS {
        std::fs::copy(
            root.join("genesis.json"),
            root.join(org).join("genesis.json"),
        )
        .unwrap();
        let seen = ingot_ok(
            &root,
            &[
                "genesis",
                "verify",
                "--genesis",
                &format!("{org}/genesis.json"),
                "--descriptor",
                &format!("{org}/descriptor.json"),
            ],
        );
        assert_eq!(seen["chain_id"], a["chain_id"]);
        assert_eq!(seen["organisations"].as_array().unwrap().len(), 4);
    }

    // A genesis where forge's validator is certified by bolt's CA.
    let mut bad: Value =
        serde_json::from_slice(&std::fs::read(root.join("genesis.json")).unwrap()).unwrap();
    let bolt_cert = bad["validators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["org"] == "bolt")
        .unwrap()["cert_pem"]
        .clone();
    for v in bad["validators"].as_array_mut().unwrap() {
        if v["org"] == "forge" {
            v["cert_pem"] = bolt_cert.clone();
        }
    }
    std::fs::write(root.join("bad.json"), bad.to_string()).unwrap();
    let out = ingot(&root, &["genesis", "verify", "--genesis", "bad.json"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("validator_not_certified"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A genesis that changed bolt's validator address fails bolt's check.
    let mut moved: Value =
        serde_json::from_slice(&std::fs::read(root.join("genesis.json")).unwrap()).unwrap();
    for v in moved["validators"].as_array_mut().unwrap() {
        if v["org"] == "bolt" {
            v["p2p_address"] = "203.0.113.9:30300".into();
        }
    }
    std::fs::write(root.join("moved.json"), moved.to_string()).unwrap();
    let out = ingot(
        &root,
        &[
            "genesis",
            "verify",
            "--genesis",
            "moved.json",
            "--descriptor",
            "bolt/descriptor.json",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("descriptor_mismatch"));
    // A node given the forged genesis refuses before opening any storage.
    std::fs::copy(root.join("bad.json"), root.join("forge/genesis.json")).unwrap();
    let out = Command::new(BIN)
        .args(["node", "run", "--config", "node.toml"])
        .current_dir(root.join("forge/forge-v1"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("validator_not_certified"));
    assert!(!root.join("forge/forge-v1/data").exists());
    std::fs::copy(root.join("genesis.json"), root.join("forge/genesis.json")).unwrap();

    // watch's operator wants 5 days' notice, not 30: forge-v1's certificate
    // (10 days left) is no warning on its node.
    let watch_toml = root.join("watch/watch-v1/node.toml");
    let mut toml = std::fs::read_to_string(&watch_toml).unwrap();
    toml.push_str("certificate_warning_days = 5\n");
    std::fs::write(&watch_toml, toml).unwrap();
    // Each organisation starts its own validator.
    let mut nodes = Nodes((0..ORGS.len()).map(|i| start(&root, &hosts, i)).collect());
    let apis: Vec<String> = (0..ORGS.len())
        .map(|i| format!("http://{}", hosts.api(i)))
        .collect();
    let started = Instant::now();
    while !apis.iter().all(|api| {
        try_call("GET", &format!("{api}/health"), None)
            .ok()
            .and_then(|(_, v)| v["executed_height"].as_u64())
            >= Some(1)
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the consortium did not start; see {}/*/*-v1/node.log",
            root.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A member certified by OpenSSL under forge's OpenSSL CA, and one
    // certified by ingot under cast's OpenSSL SM2 CA, both reach finality.
    let r = notarise(
        &root,
        &apis[2],
        "pki/forge-alice.key",
        "pki/forge-alice.pem",
        1,
    );
    assert_eq!(r["final"], true, "{r}");
    assert_eq!(r["sender_org"], "forge");
    let r = notarise(&root, &apis[0], "cast/member.key", "cast/member.pem", 2);
    assert_eq!(r["final"], true, "{r}");
    assert_eq!(r["sender_org"], "cast");
    // Every node reports the same chain id.
    for api in &apis {
        let (_, status) = try_call("GET", &format!("{api}/v1/status"), None).unwrap();
        assert_eq!(status["chain_id"], a["chain_id"], "{status}");
        let warnings = status["certificate_warnings"].as_array().unwrap();
        if api == &apis[3] {
            assert!(warnings.is_empty(), "{status}");
            continue;
        }
        assert_eq!(warnings.len(), 1, "{status}");
        assert_eq!(warnings[0]["certificate"], "validator forge-v1 of forge");
        assert_eq!(warnings[0]["expired"], false);
    }
    // The log says it too (checked at start, then every 6 hours).
    let log =
        |org: &str| std::fs::read_to_string(root.join(format!("{org}/{org}-v1/node.log"))).unwrap();
    assert!(
        log("bolt").contains("ends within 30 days") && log("bolt").contains("forge-v1"),
        "{}",
        log("bolt")
    );
    assert!(!log("watch").contains("ends within"), "{}", log("watch"));
    let member = load(&root.join("cast"), "member");
    let (code, metrics) = signed_get(&apis[1], Some(&member), "/metrics");
    assert_eq!(code, 200);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains("ingot_certificates_expiring 1\n"),
        "{metrics}"
    );
    let seconds: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ingot_certificate_seconds_to_first_expiry "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((9 * 86_400..=10 * 86_400).contains(&seconds), "{seconds}");
    // From here on a load runs throughout, and the regulator's archive
    // node follows everything.
    let load = load::Load::start(&root, &apis);
    let archive = observer::admit(&root, &apis, &hosts);
    renewal::renew(&root, &apis);
    governance::govern(&root, &apis);
    rotation::rotate(&root, &apis);
    observer::withdraw(&root, &apis, archive, &load.acked());
    // From here on the validators are those the votes left.
    let apis = validators::add_and_remove(&root, &hosts, &mut nodes, &apis, &load);
    let acked = load.stop();
    for api in &apis {
        // A validator may be a block or two behind the one that answered.
        governance::eventually(|| load::all_final_on(&root, api, &acked));
    }
    // The consortium crossed many epoch boundaries on the way.
    for api in &apis {
        let (_, status) = try_call("GET", &format!("{api}/v1/status"), None).unwrap();
        assert_eq!(status["epoch_length"], EPOCH_LENGTH, "{status}");
        assert!(status["epoch"].as_u64().unwrap() >= 3, "{status}");
    }
    drop(nodes);
    // Offline, every certificate of every epoch checks out against its
    // epoch's validators, as they changed: on a genesis validator and on
    // the validator added by vote, which fetched the chain from its peers.
    for data in ["bolt/bolt-v1/data", "gear/gear-v1/data"] {
        let verified = Command::new(BIN)
            .args(["--json", "verify-chain", "--data"])
            .arg(root.join(data))
            .arg("--genesis")
            .arg(root.join("genesis.json"))
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "{data}: {}{}",
            String::from_utf8_lossy(&verified.stdout),
            String::from_utf8_lossy(&verified.stderr)
        );
        let report: Value = serde_json::from_slice(&verified.stdout).unwrap();
        assert!(
            report["blocks"].as_u64().unwrap() > 3 * EPOCH_LENGTH,
            "{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
