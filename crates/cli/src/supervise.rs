//! `ingot up`'s supervisor: one `ingot node run` process per validator. A
//! validator that exits is restarted after a backoff (1 s, doubling to
//! 30 s, back to 1 s after a minute of uptime) and the others keep running;
//! Ctrl-C stops them all. Only a validator that keeps failing before the
//! network ever came up stops `ingot up` (a configuration error, not a
//! crash).

use anyhow::Context;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

/// First wait before restarting a validator that exited.
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Uptime after which a validator's backoff starts again from the minimum.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// Exits before the network first finalizes that stop `ingot up`.
pub const MAX_EARLY_EXITS: u32 = 3;
const _: () = assert!(MIN_BACKOFF.as_millis() <= MAX_BACKOFF.as_millis());

struct Validator {
    child: Option<Child>,
    started: Instant,
    backoff: Duration,
    restart_at: Option<Instant>,
    early_exits: u32,
}

pub struct Supervisor {
    exe: PathBuf,
    data: PathBuf,
    validators: Vec<Validator>,
}

impl Supervisor {
    /// Start `n` validators from `data/node-<i>/node.toml` (fresh logs).
    pub fn start(data: &Path, n: usize) -> anyhow::Result<Self> {
        let mut s = Self {
            exe: std::env::current_exe()?,
            data: data.to_path_buf(),
            validators: Vec::with_capacity(n),
        };
        for i in 0..n {
            let child = s.spawn(i, false)?;
            s.validators.push(Validator {
                child: Some(child),
                started: Instant::now(),
                backoff: MIN_BACKOFF,
                restart_at: None,
                early_exits: 0,
            });
        }
        Ok(s)
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.data.join(format!("node-{i}/node.log"))
    }

    /// Start validator `i`; a restart appends to its log (the crash stays
    /// readable above the new start).
    fn spawn(&self, i: usize, append: bool) -> anyhow::Result<Child> {
        let dir = self.data.join(format!("node-{i}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(self.log_path(i))?;
        Command::new(&self.exe)
            .args(["node", "run", "--config"])
            .arg(dir.join("node.toml"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {i}"))
    }

    /// Notice validators that exited and restart those whose backoff has
    /// passed. `network_up`: the network has finalized since `ingot up`
    /// started (before that, repeated exits are a configuration error).
    pub fn poll(&mut self, network_up: bool) -> anyhow::Result<()> {
        for i in 0..self.validators.len() {
            let now = Instant::now();
            let exited = match self.validators[i].child.as_mut() {
                Some(c) => c.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                let log = self.log_path(i);
                let v = &mut self.validators[i];
                v.child = None;
                if !network_up {
                    v.early_exits += 1;
                    anyhow::ensure!(
                        v.early_exits < MAX_EARLY_EXITS,
                        "node {i} exited {} times before the network came up ({status}); see {}",
                        v.early_exits,
                        log.display()
                    );
                }
                if now.duration_since(v.started) >= HEALTHY_AFTER {
                    v.backoff = MIN_BACKOFF;
                }
                v.restart_at = Some(now + v.backoff);
                println!(
                    "node {i} exited ({status}); restarting in {} s (see {})",
                    v.backoff.as_secs(),
                    log.display()
                );
                v.backoff = (v.backoff * 2).min(MAX_BACKOFF);
            }
            let due = self.validators[i].restart_at.is_some_and(|at| now >= at);
            if due {
                let child = self.spawn(i, true)?;
                let v = &mut self.validators[i];
                v.child = Some(child);
                v.started = now;
                v.restart_at = None;
                println!("node {i} restarted");
            }
        }
        Ok(())
    }

    /// Stop every validator: SIGINT for a clean shutdown, then kill what is
    /// still running after 10 s.
    pub fn stop(&mut self) {
        for c in self.validators.iter().filter_map(|v| v.child.as_ref()) {
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for c in self.validators.iter_mut().filter_map(|v| v.child.as_mut()) {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
