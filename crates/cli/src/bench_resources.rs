//! CPU and memory of each validator process during a benchmark, read from
//! `/proc` (Linux): the validators `ingot up` started from the benchmark's
//! data directory, found by their `node run --config <data>/node-i/...`
//! command lines.

use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// A validator process: its node directory name and pid.
#[derive(Clone, Debug)]
struct Validator {
    name: String,
    pid: u32,
}

/// The validator processes whose config lies under `data`.
fn find(data: &Path) -> Vec<Validator> {
    let data = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        let is_node = args.windows(2).any(|w| w[0] == "node" && w[1] == "run");
        let config = args
            .windows(2)
            .find(|w| w[0] == "--config")
            .map(|w| PathBuf::from(&w[1]));
        if let (true, Some(config)) = (is_node, config) {
            let config = std::fs::canonicalize(&config).unwrap_or(config);
            if config.starts_with(&data) {
                let name = config
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_else(|| pid.to_string());
                out.push(Validator { name, pid });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// User + system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Resident set size in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Samples every validator's CPU and memory while a benchmark runs.
pub struct Sampler {
    validators: Vec<Validator>,
    start: Instant,
    start_ticks: Vec<Option<u64>>,
    /// Per validator: (min, max, last) RSS in KiB seen by the sampling thread.
    rss: Arc<Mutex<Vec<(u64, u64, u64)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(data: &Path) -> Self {
        let validators = find(data);
        let start_ticks = validators.iter().map(|v| cpu_ticks(v.pid)).collect();
        let rss = Arc::new(Mutex::new(vec![(u64::MAX, 0, 0); validators.len()]));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (pids, rss, stop) = (
                validators.iter().map(|v| v.pid).collect::<Vec<_>>(),
                rss.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    {
                        let mut r = rss.lock().unwrap();
                        for (i, pid) in pids.iter().enumerate() {
                            if let Some(kib) = rss_kib(*pid) {
                                r[i] = (r[i].0.min(kib), r[i].1.max(kib), kib);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            })
        };
        Self {
            validators,
            start: Instant::now(),
            start_ticks,
            rss,
            stop,
            thread: Some(thread),
        }
    }

    /// Per validator: CPU seconds and share of one core over the run, RSS
    /// at the end, lowest and highest seen.
    pub fn finish(mut self) -> Value {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let seconds = self.start.elapsed().as_secs_f64();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let rss = self.rss.lock().unwrap();
        let per: Vec<Value> = self
            .validators
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let cpu = match (self.start_ticks[i], cpu_ticks(v.pid)) {
                    (Some(a), Some(b)) => (b.saturating_sub(a)) as f64 / hz,
                    _ => 0.0,
                };
                let (lo, hi, last) = rss[i];
                json!({
                    "validator": v.name,
                    "pid": v.pid,
                    "cpu_seconds": cpu,
                    "cpu_percent_of_one_core": 100.0 * cpu / seconds.max(1e-9),
                    "rss_mib_end": last as f64 / 1024.0,
                    "rss_mib_min": if lo == u64::MAX { 0.0 } else { lo as f64 / 1024.0 },
                    "rss_mib_max": hi as f64 / 1024.0,
                })
            })
            .collect();
        json!({"seconds": seconds, "validators": per})
    }
}

/// Markdown rows of a [`Sampler::finish`] report.
pub fn rows(report: &Value) -> Vec<String> {
    report["validators"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            format!(
                "| {} | {:.1} | {:.0} % | {:.0} | {:.0}–{:.0} |",
                v["validator"].as_str().unwrap_or(""),
                v["cpu_seconds"].as_f64().unwrap_or(0.0),
                v["cpu_percent_of_one_core"].as_f64().unwrap_or(0.0),
                v["rss_mib_end"].as_f64().unwrap_or(0.0),
                v["rss_mib_min"].as_f64().unwrap_or(0.0),
                v["rss_mib_max"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let me = std::process::id();
        // Burn a little CPU so the counter moves.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_ticks(me).is_some());
        assert!(rss_kib(me).unwrap() > 0);
        // No validators under a directory that has none.
        assert!(find(Path::new("/nonexistent-ingot-data")).is_empty());
    }
}
