//! Separate hosts for the formation test (issue 16 item 6): each node in a
//! Linux network namespace of its own with its own address on one bridge
//! (`10.231.0.0/24`, veth pairs), so nodes reach each other only over the
//! network, by address, as on separate machines. The test talks to them from
//! the root namespace through the bridge (`10.231.0.254`).
//!
//! Needs root and iproute2 (CI runs as root; `.ci/run` installs iproute2).
//! `INGOT_E2E_LOOPBACK=1` runs every node on 127.0.0.1 instead, for a
//! developer without root — never in CI.

use std::process::Command;

const BRIDGE: &str = "ingot-f-br";
const SUBNET: &str = "10.231.0";
const NAMESPACE_PREFIX: &str = "ingot-f-";
/// Loopback ports when there are no namespaces (hosts share one address).
const LOOPBACK_API: u16 = 19_280;
const LOOPBACK_P2P: u16 = 32_280;

pub struct Hosts {
    count: usize,
    namespaces: bool,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn namespace(i: usize) -> String {
    format!("{NAMESPACE_PREFIX}{i}")
}

/// Remove what an earlier run (killed before its cleanup) may have left.
fn remove_stale(count: usize) {
    for i in 0..count {
        let _ = ip(&["netns", "del", &namespace(i)]);
    }
    let _ = ip(&["link", "del", BRIDGE]);
}

impl Hosts {
    /// `count` hosts: namespaces unless `INGOT_E2E_LOOPBACK=1`.
    pub fn new(count: usize) -> Self {
        assert!(count < 250);
        if std::env::var_os("INGOT_E2E_LOOPBACK").is_some() {
            return Self {
                count,
                namespaces: false,
            };
        }
        remove_stale(count + 2);
        let hosts = Self {
            count,
            namespaces: true,
        };
        if let Err(e) = hosts.build() {
            panic!(
                "cannot make network namespaces ({e}); this test runs each node on its own host and needs root and iproute2 (set INGOT_E2E_LOOPBACK=1 to run it on 127.0.0.1)"
            );
        }
        hosts
    }

    fn build(&self) -> Result<(), String> {
        ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{SUBNET}.254/24"), "dev", BRIDGE])?;
        ip(&["link", "set", BRIDGE, "up"])?;
        for i in 0..self.count {
            let ns = namespace(i);
            let host_end = format!("{NAMESPACE_PREFIX}{i}h");
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &host_end, "master", BRIDGE])?;
            ip(&["link", "set", &host_end, "up"])?;
            let exec = |args: &[&str]| {
                let mut all = vec!["netns", "exec", ns.as_str(), "ip"];
                all.extend_from_slice(args);
                ip(&all)
            };
            exec(&["addr", "add", &format!("{}/24", self.ip(i)), "dev", "eth0"])?;
            exec(&["link", "set", "eth0", "up"])?;
            exec(&["link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Host `i`'s address.
    pub fn ip(&self, i: usize) -> String {
        assert!(i < self.count);
        if self.namespaces {
            format!("{SUBNET}.{}", i + 1)
        } else {
            "127.0.0.1".into()
        }
    }

    /// Where host `i`'s node listens for peers.
    pub fn p2p(&self, i: usize) -> String {
        if self.namespaces {
            format!("{}:30300", self.ip(i))
        } else {
            format!("127.0.0.1:{}", LOOPBACK_P2P as usize + i)
        }
    }

    /// Where host `i`'s node serves its API.
    pub fn api(&self, i: usize) -> String {
        if self.namespaces {
            format!("{}:8080", self.ip(i))
        } else {
            format!("127.0.0.1:{}", LOOPBACK_API as usize + i)
        }
    }

    /// `ingot` as run on host `i`.
    pub fn ingot(&self, i: usize) -> Command {
        if self.namespaces {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &namespace(i), crate::common::BIN]);
            cmd
        } else {
            Command::new(crate::common::BIN)
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if self.namespaces {
            remove_stale(self.count);
        }
    }
}
