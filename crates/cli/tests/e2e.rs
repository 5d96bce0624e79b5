//! End to end with real `ingot` processes on localhost: create a consortium
//! with `ingot up`, run four validators as separate processes, submit over
//! HTTP, kill -9 one validator, keep submitting, restart it, and check that
//! every node converges and every transaction acknowledged final is present.
//! An anonymous client floods one validator's API with half-sent requests
//! and a slow body: the flood is refused and timed out, and the chain keeps
//! finalizing.

mod common;
mod formation;

use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_ingot");

fn get(url: &str) -> Option<Value> {
    let mut resp = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .ok()?;
    resp.body_mut().read_json().ok()
}

/// GET a members-only URL, signed as the regulator's member (who may read
/// every receipt).
fn get_as_regulator(data: &Path, url: &str) -> Option<Value> {
    read_as_regulator(data, url).ok()
}

/// [`get_as_regulator`] with the node's refusal when there is one.
fn read_as_regulator(data: &Path, url: &str) -> Result<Value, ingot_client::ClientError> {
    let dir = data.join("orgs/regulator");
    let signer = ingot_client::Signer::from_pem(
        &std::fs::read_to_string(dir.join("member.key")).unwrap(),
        &std::fs::read_to_string(dir.join("member.pem")).unwrap(),
    )
    .unwrap();
    ingot_client::Client::new("").signed(signer).get(url)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

struct Nodes(Vec<Option<Child>>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in self.0.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start(data: &Path, i: usize) -> Child {
    let log = std::fs::File::create(data.join(format!("node-{i}/e2e.log"))).unwrap();
    Command::new(BIN)
        .args(["node", "run", "--config"])
        .arg(data.join(format!("node-{i}/node.toml")))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn send(data: &Path, api: &str, n: u64, org: &str) -> Value {
    send_with(data, api, n, org, &[])
}

/// [`send`] with extra environment variables for the CLI.
fn send_with(data: &Path, api: &str, n: u64, org: &str, env: &[(&str, &Path)]) -> Value {
    let out = Command::new(BIN)
        .envs(env.iter().copied())
        .args([
            "--json", "tx", "send", "--node", api, "--module", "notary", "--method", "record",
            "--wait",
        ])
        .arg("--key")
        .arg(data.join(format!("orgs/{org}/member.key")))
        .arg("--cert")
        .arg(data.join(format!("orgs/{org}/member.pem")))
        .arg("--args")
        .arg(
            json!({"document_hash": format!("{n:064x}"), "metadata": format!("report {n}")})
                .to_string(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tx send failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn four_processes_survive_kill_and_converge() {
    let data: PathBuf = std::env::temp_dir().join(format!("ingot-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (api, p2p) = (18_480u16, 31_480u16);
    // `ingot up` creates the consortium and brings it to finality; stop it.
    let mut up = Command::new(BIN)
        .args([
            "up",
            "--api-port",
            &api.to_string(),
            "--p2p-port",
            &p2p.to_string(),
            "--data",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let apis: Vec<String> = (0..4)
        .map(|i| format!("http://127.0.0.1:{}", api + i))
        .collect();
    wait_for("ingot up", Duration::from_secs(120), || {
        get(&format!("{}/health", apis[0]))
            .is_some_and(|v| v["executed_height"].as_u64() >= Some(1))
    });
    // kill -9 one validator under `ingot up`: it is restarted, the others
    // keep running, and `ingot up` itself keeps going.
    let lock = std::fs::read_to_string(data.join("node-3/data/LOCK")).unwrap();
    let pid: i32 = lock.rsplit("pid ").next().unwrap().trim().parse().unwrap();
    let height_before = get(&format!("{}/health", apis[0])).unwrap()["executed_height"]
        .as_u64()
        .unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_for(
        "validator 3 restarted by ingot up",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(data.join("node-3/data/LOCK"))
                .is_ok_and(|l| !l.ends_with(&format!("pid {pid}")))
                && get(&format!("{}/health", apis[3]))
                    .is_some_and(|v| v["executed_height"].as_u64() > Some(height_before))
        },
    );
    assert!(
        up.try_wait().unwrap().is_none(),
        "ingot up stopped with a validator"
    );
    unsafe { libc::kill(up.id() as i32, libc::SIGINT) };
    let out = up.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ingot up did not stop cleanly: {}",
        out.status
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("node 3 exited") && said.contains("node 3 restarted"),
        "{said}"
    );

    // Node 0 gets small API limits, so the flood below reaches them quickly.
    let mut toml = std::fs::read_to_string(data.join("node-0/node.toml")).unwrap();
    toml.push_str(&format!(
        "api_max_connections = {FLOOD_CAP}\napi_max_connections_per_ip = {FLOOD_PER_IP}\n\
         api_header_timeout_ms = 2000\napi_body_timeout_ms = 2000\n\
         api_requests_per_second_per_ip = {FLOOD_RATE}\n\
         api_requests_per_second_per_caller = {CALLER_RATE}\n"
    ));
    std::fs::write(data.join("node-0/node.toml"), toml).unwrap();

    // Now run the four validators ourselves.
    let mut nodes = Nodes((0..4).map(|i| Some(start(&data, i))).collect());
    wait_for("resumed chain", Duration::from_secs(60), || {
        apis.iter().all(|a| {
            get(&format!("{a}/health")).is_some_and(|v| v["executed_height"].as_u64() >= Some(2))
        })
    });

    let mut acknowledged = Vec::new();
    for n in 0..5u64 {
        let r = send(
            &data,
            &apis[(n % 4) as usize],
            n,
            ["manufacturer", "supplier", "logistics", "regulator"][(n % 4) as usize],
        );
        assert_eq!(r["status"], "success", "{r}");
        acknowledged.push(r["hash"].as_str().unwrap().to_string());
    }

    flood_is_refused_and_the_chain_goes_on(&data, &apis);
    rate_is_limited_per_caller(&data, &apis[0]);
    std::thread::sleep(Duration::from_millis(2_100));
    rate_is_limited_per_address(&apis[0]);

    // Offline tools refuse a live node's data directory at once, naming the
    // holder (they used to wait forever on the storage engine).
    let started = Instant::now();
    let live = Command::new(BIN)
        .args(["--json", "verify-chain", "--data"])
        .arg(data.join("node-2/data"))
        .arg("--genesis")
        .arg(data.join("genesis.json"))
        .output()
        .unwrap();
    assert!(!live.status.success());
    let refusal: Value = serde_json::from_slice(&live.stdout).unwrap();
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("in use by another process (ingot node run, pid"),
        "{refusal}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let second = Command::new(BIN)
        .args(["node", "run", "--config"])
        .arg(data.join("node-2/node.toml"))
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("in use by another process"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    // kill -9 validator 3, keep submitting to the others.
    let mut victim = nodes.0[3].take().unwrap();
    victim.kill().unwrap();
    victim.wait().unwrap();
    for n in 5..10u64 {
        let r = send(&data, &apis[(n % 3) as usize], n, "supplier");
        assert_eq!(r["status"], "success", "{r}");
        acknowledged.push(r["hash"].as_str().unwrap().to_string());
    }

    // Restart it: it recovers from its storage and catches up.
    nodes.0[3] = Some(start(&data, 3));
    let target = get(&format!("{}/health", apis[0])).unwrap()["executed_height"]
        .as_u64()
        .unwrap();
    wait_for(
        "restarted node to catch up",
        Duration::from_secs(120),
        || {
            get(&format!("{}/health", apis[3]))
                .is_some_and(|v| v["executed_height"].as_u64() >= Some(target))
        },
    );
    // Every acknowledged transaction is on every node with the same outcome,
    // and every node has the same block at the target height.
    for hash in &acknowledged {
        for a in &apis {
            let r = get_as_regulator(&data, &format!("{a}/v1/tx/{hash}")).unwrap();
            assert_eq!(r["status"], "success", "{a}: {r}");
        }
    }
    let blocks: Vec<Value> = apis
        .iter()
        .map(|a| {
            get_as_regulator(&data, &format!("{a}/v1/blocks/{target}")).unwrap()["hash"].clone()
        })
        .collect();
    assert!(
        blocks.iter().all(|b| b == &blocks[0] && b.is_string()),
        "{blocks:?}"
    );

    // A client mistake is a 4xx with a JSON error, never a 5xx.
    let resp = ureq::post(&format!("{}/v1/tx", apis[0]))
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", "application/json")
        .send("{not json")
        .unwrap();
    assert_eq!(resp.status(), 400);

    // verify-chain: a cleanly stopped node's chain verifies; one flipped byte
    // in its stored blocks is found and its height named.
    let mut node1 = nodes.0[1].take().unwrap();
    unsafe { libc::kill(node1.id() as i32, libc::SIGINT) };
    node1.wait().unwrap();
    let verify = |dir: &Path| {
        Command::new(BIN)
            .args(["--json", "verify-chain", "--data"])
            .arg(dir)
            .arg("--genesis")
            .arg(data.join("genesis.json"))
            .output()
            .unwrap()
    };
    let node_data = data.join("node-1/data");
    let ok = verify(&node_data);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert!(report["transactions"].as_u64().unwrap() >= 10, "{report}");
    let verified_transactions = report["transactions"].as_u64().unwrap();
    let copy = data.join("tampered");
    copy_dir(&node_data, &copy);
    flip_middle_byte(&copy.join("storage/ingot-blocks-freezer-value"));
    let bad = verify(&copy);
    let _ = std::fs::remove_dir_all(&copy);
    assert!(!bad.status.success());
    let report: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(
        report["error"].as_str().unwrap().starts_with("height "),
        "{report}"
    );

    // rebuild-derived: node 1's ledger index is damaged (its header
    // overwritten, so it no longer opens); the rebuild sets it aside, builds
    // a new one from the node's own journal, and the restarted node answers
    // every acknowledged transaction from it.
    let index = node_data.join("ledger-index.redb");
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[..64].fill(0xAB);
    std::fs::write(&index, bytes).unwrap();
    let out = Command::new(BIN)
        .args(["--json", "rebuild-derived", "--data"])
        .arg(&node_data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rebuilt["set_aside"].as_array().unwrap().len(),
        1,
        "{rebuilt}"
    );
    assert!(
        rebuilt["transactions"].as_u64().unwrap() >= verified_transactions,
        "{rebuilt}: verify-chain saw {verified_transactions}"
    );
    assert!(rebuilt["height"].as_u64() >= Some(target), "{rebuilt}");
    nodes.0[1] = Some(start(&data, 1));
    wait_for("node 1 back", Duration::from_secs(60), || {
        get(&format!("{}/health", apis[1]))
            .is_some_and(|v| v["executed_height"].as_u64() >= Some(target))
    });
    for hash in &acknowledged {
        let r = get_as_regulator(&data, &format!("{}/v1/tx/{hash}", apis[1])).unwrap();
        assert_eq!(r["status"], "success", "{r}");
    }

    // Without the operator: node 2's derived files are damaged while it is
    // stopped, and a byte of its block archive flips; it sets the derived
    // files aside and rebuilds them from its own journal and blocks, and
    // refetches the damaged blocks from its peers (verified against what it
    // already trusts). Meanwhile anyone may read any height: a damaged one
    // answers 503 block_damaged, never a crash.
    let mut node2 = nodes.0[2].take().unwrap();
    unsafe { libc::kill(node2.id() as i32, libc::SIGINT) };
    node2.wait().unwrap();
    let node2_data = data.join("node-2/data");
    for file in ["ledger-index.redb", "telemetry.redb"] {
        let path = node2_data.join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[..64].fill(0xCD);
        std::fs::write(&path, bytes).unwrap();
    }
    flip_middle_byte(&node2_data.join("storage/ingot-blocks-freezer-value"));
    nodes.0[2] = Some(start(&data, 2));
    wait_for("node 2 API", Duration::from_secs(60), || {
        get(&format!("{}/health", apis[2])).is_some()
    });
    let mut damaged_seen = 0;
    for height in 1..=target {
        let reference = get_as_regulator(&data, &format!("{}/v1/blocks/{height}", apis[0]))
            .unwrap()["hash"]
            .clone();
        assert!(
            reference.is_string(),
            "block {height} on node 0: {reference}"
        );
        wait_for(
            &format!("node 2 to serve block {height}"),
            Duration::from_secs(60),
            || match read_as_regulator(&data, &format!("{}/v1/blocks/{height}", apis[2])) {
                Ok(r) => {
                    assert_eq!(r["hash"], reference, "block {height}: {r}");
                    true
                }
                Err(ingot_client::ClientError::Api { status, code, .. })
                    if status == 503 && code == "block_damaged" =>
                {
                    damaged_seen += 1;
                    false
                }
                Err(e) => panic!("node 2, block {height}: {e} (it must answer every read)"),
            },
        );
    }
    let metrics = ureq::get(&format!("{}/metrics", apis[2]))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        damaged_seen > 0 || !metrics.contains("ingot_archive_repaired_total 0"),
        "the flipped byte damaged no block"
    );
    assert!(
        metrics.contains("ingot_archive_damaged_heights 0"),
        "{metrics}"
    );
    wait_for("node 2 repaired", Duration::from_secs(60), || {
        get(&format!("{}/health", apis[2]))
            .is_some_and(|v| v["executed_height"].as_u64() >= Some(target))
    });
    for hash in &acknowledged {
        let r = get_as_regulator(&data, &format!("{}/v1/tx/{hash}", apis[2])).unwrap();
        assert_eq!(r["status"], "success", "{r}");
    }
    let aside: Vec<String> = std::fs::read_dir(&node2_data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".damaged-"))
        .collect();
    assert_eq!(aside.len(), 2, "{aside:?}");

    // Low disk: node 3 restarts believing its disk is below the minimum; it
    // refuses new transactions with 503 disk_low and says so in its metrics,
    // while it keeps following the chain.
    let mut node3 = nodes.0[3].take().unwrap();
    unsafe { libc::kill(node3.id() as i32, libc::SIGINT) };
    node3.wait().unwrap();
    let mut toml = std::fs::read_to_string(data.join("node-3/node.toml")).unwrap();
    let toml_before_disk_low = toml.clone();
    toml.push_str("min_free_disk_mib = 1000000000000\n");
    std::fs::write(data.join("node-3/node.toml"), toml).unwrap();
    nodes.0[3] = Some(start(&data, 3));
    wait_for("node 3 back", Duration::from_secs(60), || {
        get(&format!("{}/health", apis[3])).is_some()
    });
    let (s, r) = post_json(&format!("{}/v1/tx", apis[3]), &json!({"tx": "00"}));
    assert_eq!((s, r["code"].as_str()), (503, Some("disk_low")), "{r}");
    let metrics = ureq::get(&format!("{}/metrics", apis[3]))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(metrics.contains("ingot_admission_paused 1"), "{metrics}");
    let followed = get(&format!("{}/health", apis[3])).unwrap()["executed_height"]
        .as_u64()
        .unwrap();
    let r = send(&data, &apis[0], 99, "manufacturer");
    assert_eq!(r["status"], "success", "{r}");
    wait_for(
        "node 3 follows while paused",
        Duration::from_secs(30),
        || {
            get(&format!("{}/health", apis[3]))
                .is_some_and(|v| v["executed_height"].as_u64() > Some(followed))
        },
    );

    // After its repair, node 2's chain verifies offline (the repaired copies
    // are read where the damaged records fail).
    let mut node2 = nodes.0[2].take().unwrap();
    unsafe { libc::kill(node2.id() as i32, libc::SIGINT) };
    node2.wait().unwrap();
    let repaired = verify(&node2_data);
    assert!(
        repaired.status.success(),
        "{}",
        String::from_utf8_lossy(&repaired.stdout)
    );

    disk_nearly_full_stops_cleanly(&data, &mut nodes);
    api_over_tls(&data, &mut nodes, api + 3, toml_before_disk_low);
    nodes.0[2] = Some(start(&data, 2));
    disk_fills_up(&data, &mut nodes, &apis);
    let _ = std::fs::remove_dir_all(&data);
}

/// A real full disk: node 1's data directory moves to a small tmpfs, a
/// filler file leaves it just above its halt threshold, and load arrives.
/// The node pauses admission, then stops cleanly with a message before any
/// storage write fails (no panic); once space is freed it starts, catches
/// up, and its chain verifies. Skipped (loudly) where tmpfs cannot be
/// mounted (no privilege).
fn disk_fills_up(data: &Path, nodes: &mut Nodes, apis: &[String]) {
    let mount = data.with_extension("tmpfs");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256m", "tmpfs"])
        .arg(&mount)
        .output()
        .unwrap();
    if !mounted.status.success() {
        eprintln!(
            "SKIPPED disk_fills_up: cannot mount a tmpfs here: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _unmount = Unmount(mount.clone());
    let mut node1 = nodes.0[1].take().unwrap();
    unsafe { libc::kill(node1.id() as i32, libc::SIGINT) };
    node1.wait().unwrap();
    let small = mount.join("data");
    copy_dir(&data.join("node-1/data"), &small);
    let path = data.join("node-1/node.toml");
    let toml = std::fs::read_to_string(&path).unwrap().replace(
        "data_dir = \"data\"",
        &format!("data_dir = {:?}", small.display().to_string()),
    );
    std::fs::write(
        &path,
        format!("{toml}min_free_disk_mib = 100\nhalt_free_disk_mib = 80\n"),
    )
    .unwrap();
    let free_mib = || {
        let out = Command::new("df")
            .args(["-m", "--output=avail"])
            .arg(&mount)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::fs::write(
        mount.join("filler"),
        vec![0u8; ((free_mib() - 90) << 20) as usize],
    )
    .unwrap();
    nodes.0[1] = Some(start(data, 1));
    wait_for("node 1 on the small disk", Duration::from_secs(60), || {
        get(&format!("{}/health", apis[1])).is_some()
    });
    let (s, r) = post_json(&format!("{}/v1/tx", apis[1]), &json!({"tx": "00"}));
    assert_eq!((s, r["code"].as_str()), (503, Some("disk_low")), "{r}");
    // Load through node 0 until node 1 stops.
    let node1 = nodes.0[1].as_mut().unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        let _ = Command::new(BIN)
            .args([
                "bench",
                "--txs",
                "2000",
                "--senders",
                "20",
                "--concurrency",
                "2",
                "--batch",
                "100",
            ])
            .arg("--nodes")
            .arg(&apis[0])
            .arg("--data")
            .arg(data)
            .output()
            .unwrap();
        if let Some(status) = node1.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "node 1 never stopped: {} MiB free",
            free_mib()
        );
    };
    assert!(!status.success());
    let log = std::fs::read_to_string(data.join("node-1/e2e.log")).unwrap();
    assert!(log.contains("disk nearly full"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    // The operator checks the stopped node's chain while its disk is full
    // to the last byte, the scratch state kept elsewhere.
    let rest = free_mib().saturating_sub(1) << 20;
    std::fs::write(mount.join("filler-2"), vec![0u8; rest as usize]).unwrap();
    let scratch = data.join("verify-scratch");
    let verified = Command::new(BIN)
        .args(["--json", "verify-chain", "--data"])
        .arg(&small)
        .arg("--genesis")
        .arg(data.join("genesis.json"))
        .arg("--scratch")
        .arg(&scratch)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "verify-chain on a full disk with scratch elsewhere: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "scratch state left behind"
    );
    // Space returns: it starts, catches up with the chain, and verifies.
    std::fs::remove_file(mount.join("filler")).unwrap();
    std::fs::remove_file(mount.join("filler-2")).unwrap();
    nodes.0[1] = Some(start(data, 1));
    let target = top_height(&apis[..1]);
    wait_for(
        "node 1 after space returned",
        Duration::from_secs(120),
        || {
            get(&format!("{}/health", apis[1]))
                .is_some_and(|v| v["executed_height"].as_u64() >= Some(target))
        },
    );
    let mut node1 = nodes.0[1].take().unwrap();
    unsafe { libc::kill(node1.id() as i32, libc::SIGINT) };
    node1.wait().unwrap();
    let verified = Command::new(BIN)
        .args(["--json", "verify-chain", "--data"])
        .arg(&small)
        .arg("--genesis")
        .arg(data.join("genesis.json"))
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

/// Node 3's disk is (as far as its thresholds say) nearly full: it does not
/// start, exits with an error, and says why; nothing in its storage is
/// touched.
fn disk_nearly_full_stops_cleanly(data: &Path, nodes: &mut Nodes) {
    let mut node3 = nodes.0[3].take().unwrap();
    unsafe { libc::kill(node3.id() as i32, libc::SIGINT) };
    node3.wait().unwrap();
    let path = data.join("node-3/node.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    toml.push_str("halt_free_disk_mib = 1000000000000\n");
    std::fs::write(&path, toml).unwrap();
    let mut refused = start(data, 3);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = refused.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "a node with a full disk kept running"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let log = std::fs::read_to_string(data.join("node-3/e2e.log")).unwrap();
    assert!(log.contains("disk nearly full"), "{log}");
    nodes.0[3] = Some(refused);
}

/// Node 3 serves its API over TLS with a certificate from the consortium's
/// own CA (made here with openssl, as an operator would): a client trusting
/// that CA (`INGOT_CA_CERT`) submits and reads over HTTPS, a client
/// trusting only the public web roots fails the handshake, and plain HTTP
/// on that port gets no HTTP answer.
fn api_over_tls(data: &Path, nodes: &mut Nodes, port: u16, toml: String) {
    let mut node3 = nodes.0[3].take().unwrap();
    unsafe { libc::kill(node3.id() as i32, libc::SIGINT) };
    node3.wait().unwrap();
    let tls = data.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let (ca, cert, key) = (tls.join("ca.pem"), tls.join("api.pem"), tls.join("api.key"));
    std::fs::write(
        tls.join("api.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for step in [
        vec![
            "req",
            "-x509",
            "-days",
            "1",
            "-subj",
            "/CN=consortium CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        vec![
            "req",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "api.key",
            "-out",
            "api.csr",
        ],
        vec![
            "x509",
            "-req",
            "-in",
            "api.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "api.ext",
            "-out",
            "api.pem",
        ],
    ] {
        let mut args = step.clone();
        if step[0] == "req" {
            args.splice(1..1, ec);
        }
        common::openssl(&tls, &args);
    }
    let toml = format!(
        "{toml}api_tls_cert = {:?}\napi_tls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    std::fs::write(data.join("node-3/node.toml"), toml).unwrap();
    nodes.0[3] = Some(start(data, 3));

    let root = ureq::tls::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let trusting: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[root]))
                .build(),
        )
        .build()
        .into();
    let https = format!("https://127.0.0.1:{port}");
    wait_for("node 3 over TLS", Duration::from_secs(60), || {
        trusting
            .get(&format!("{https}/health"))
            .call()
            .is_ok_and(|r| r.status() == 200)
    });
    let r = send_with(data, &https, 7_000, "supplier", &[("INGOT_CA_CERT", &ca)]);
    assert_eq!(r["status"], "success", "over TLS: {r}");
    assert!(
        ureq::get(&format!("{https}/health")).call().is_err(),
        "a client that does not trust the consortium's CA must fail the handshake"
    );
    assert!(
        get(&format!("http://127.0.0.1:{port}/health")).is_none(),
        "plain HTTP on the TLS port must get no HTTP answer"
    );
}

/// Flip one byte in the middle of the (first) blob of a storage partition.
fn flip_middle_byte(partition: &Path) {
    let blob = std::fs::read_dir(partition)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
}

/// POST a JSON body; status and JSON answer, whatever the status.
fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let mut resp = ureq::post(url)
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or(Value::Null))
}

const FLOOD_CAP: usize = 200;
const FLOOD_PER_IP: usize = 100;
const FLOOD_PORT: u16 = 18_480;
/// Node 0's p2p port.
const FLOOD_P2P_PORT: u16 = 31_480;
const FLOOD_RATE: u32 = 50;
/// Node 0's signed requests per second per certificate (under the address
/// rate, so one caller's limit shows before the address's).
const CALLER_RATE: u32 = 10;

/// The highest executed height any node reports.
fn top_height(apis: &[String]) -> u64 {
    apis.iter()
        .filter_map(|a| get(&format!("{a}/health"))?["executed_height"].as_u64())
        .max()
        .unwrap_or(0)
}

/// An anonymous adversary opens 1,000 connections to node 0, each with a
/// request whose headers never end, and one request whose body never
/// arrives. Only the per-address cap of them is held (the rest get a 503
/// and are closed at once), the chain keeps finalizing, the held ones are
/// closed after the header timeout, the slow body gets an answer, and node
/// 0 serves again.
fn flood_is_refused_and_the_chain_goes_on(data: &Path, apis: &[String]) {
    use std::io::{ErrorKind, Read, Write};
    // The flood needs a descriptor per connection in this process too.
    common::raise_descriptor_limit();
    let before = top_height(apis);
    let mut slow_body = std::net::TcpStream::connect(("127.0.0.1", FLOOD_PORT)).unwrap();
    slow_body
        .write_all(b"POST /v1/tx HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"tx\":")
        .unwrap();
    // The same adversary opens 600 connections to node 0's p2p port and
    // never starts a handshake: at most P2P_MAX_HANDSHAKES are held, each
    // for the handshake timeout; consensus between the validators goes on.
    let p2p_flood: Vec<std::net::TcpStream> = (0..600)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", FLOOD_P2P_PORT)).ok())
        .collect();
    let mut flood = Vec::new();
    for _ in 0..1_000 {
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", FLOOD_PORT)) else {
            continue;
        };
        let _ = c.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n");
        flood.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut held = 0;
    let mut refused = 0;
    for c in &mut flood {
        c.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        match c.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => held += 1,
            Ok(n) => {
                assert!(
                    n == 0 || buf[..n].starts_with(b"HTTP/1.1 503"),
                    "{:?}",
                    String::from_utf8_lossy(&buf[..n])
                );
                refused += 1;
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        (1..=FLOOD_PER_IP).contains(&held),
        "{held} flood connections held open, {refused} refused"
    );
    assert!(
        refused >= flood.len() - FLOOD_PER_IP,
        "{refused} refused of {}",
        flood.len()
    );
    // Consensus goes on meanwhile: transactions sent to the others become
    // final (an idle chain makes blocks only for work and heartbeats).
    for k in 0..3u64 {
        let r = send(data, &apis[1 + k as usize], 5_000 + k, "manufacturer");
        assert_eq!(r["status"], "success", "during the flood: {r}");
    }
    assert!(top_height(&apis[1..]) > before);
    drop(p2p_flood);
    // The header timeout closes every held connection.
    std::thread::sleep(Duration::from_millis(2_500));
    let mut still_open = 0;
    for c in &mut flood {
        let mut buf = [0u8; 256];
        if let Err(e) = c.read(&mut buf) {
            if e.kind() == ErrorKind::WouldBlock {
                still_open += 1;
            }
        }
    }
    assert_eq!(still_open, 0, "connections outlived the header timeout");
    // The request whose body never came was answered, not left hanging.
    slow_body
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = slow_body.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "slow body: {answer:?}");
    drop(flood);
    // Node 0 serves again and kept up with the chain.
    let target = top_height(&apis[1..]);
    wait_for("node 0 after the flood", Duration::from_secs(20), || {
        get(&format!("{}/health", apis[0]))
            .and_then(|v| v["executed_height"].as_u64())
            .is_some_and(|h| h >= target)
    });
}

/// A client over node 0's request rate gets 429 `rate_limited` with
/// `retry-after`, and is served again a second later.
/// One member over node 0's per-certificate rate gets 429 `rate_limited`;
/// another member from the same address is still served.
fn rate_is_limited_per_caller(data: &Path, api: &str) {
    let client = |org: &str| {
        let dir = data.join(format!("orgs/{org}"));
        ingot_client::Client::new(api).signed(
            ingot_client::Signer::from_pem(
                &std::fs::read_to_string(dir.join("member.key")).unwrap(),
                &std::fs::read_to_string(dir.join("member.pem")).unwrap(),
            )
            .unwrap(),
        )
    };
    let (busy, other) = (client("supplier"), client("logistics"));
    let mut limited = None;
    for _ in 0..CALLER_RATE * 4 {
        if let Err(ingot_client::ClientError::Api { status, code, .. }) = busy.get("/v1/blocks/1") {
            limited = Some((status, code));
            break;
        }
    }
    assert_eq!(
        limited,
        Some((429, "rate_limited".to_string())),
        "no 429 within four seconds' worth of one caller's requests"
    );
    other
        .get("/v1/blocks/1")
        .expect("another caller from the same address is served");
}

fn rate_is_limited_per_address(api: &str) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut limited = None;
    for _ in 0..(FLOOD_RATE * 8) {
        let resp = agent.get(&format!("{api}/health")).call().unwrap();
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
    }
    let mut resp = limited.expect("no 429 within eight seconds' worth of requests");
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    std::thread::sleep(Duration::from_millis(1_100));
    let again = agent.get(&format!("{api}/health")).call().unwrap();
    assert_eq!(again.status(), 200);
}
