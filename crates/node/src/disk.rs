//! Free space of the data directory's filesystem, and the admission pause
//! below a threshold (issue 14: a full disk crashed the node inside the
//! storage engine). Below `min_free_disk_mib` the API refuses new
//! transactions with 503 `disk_low`, the node keeps following and executing
//! the chain, and admission resumes by itself when space returns. Below the
//! much lower `halt_free_disk_mib` the node stops on its own, cleanly and
//! saying why, before the storage engine's next write could fail (it would
//! panic), and refuses to start until space is freed: nothing is lost, the
//! node resumes from its storage.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};
use tracing::{info, warn};

/// How often free space is measured.
pub const DISK_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

pub struct DiskGuard {
    dir: PathBuf,
    min_free_bytes: u64,
    halt_free_bytes: u64,
    free_bytes: AtomicU64,
    low: AtomicBool,
}

impl DiskGuard {
    /// Guard `dir`, pausing admission below `min_free_bytes` and stopping
    /// the node below `halt_free_bytes`; measures once now.
    pub fn new(dir: PathBuf, min_free_bytes: u64, halt_free_bytes: u64) -> Self {
        assert!(
            halt_free_bytes <= min_free_bytes,
            "admission pauses before the node halts"
        );
        let guard = Self {
            dir,
            min_free_bytes,
            halt_free_bytes,
            free_bytes: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
        };
        guard.refresh();
        guard
    }

    /// Measure free space again; log when admission pauses or resumes.
    pub fn refresh(&self) {
        let Some(free) = free_bytes(&self.dir) else {
            return;
        };
        self.free_bytes.store(free, Ordering::Relaxed);
        let low = free < self.min_free_bytes;
        let was = self.low.swap(low, Ordering::Relaxed);
        if low && !was {
            warn!(
                free_mib = free >> 20,
                min_free_mib = self.min_free_bytes >> 20,
                dir = %self.dir.display(),
                "disk space low: refusing new transactions until space returns"
            );
        } else if was && !low {
            info!(
                free_mib = free >> 20,
                "disk space back: admitting transactions again"
            );
        }
    }

    /// Whether new transactions are refused now.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    pub fn free_bytes(&self) -> u64 {
        self.free_bytes.load(Ordering::Relaxed)
    }

    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_bytes
    }

    /// Why the node must stop now (free space under the halt threshold).
    pub fn halt_reason(&self) -> Option<String> {
        let free = self.free_bytes();
        (free < self.halt_free_bytes).then(|| {
            format!(
                "disk nearly full: {} MiB free on {}, below halt_free_disk_mib ({} MiB): the node stops before a storage write can fail. Nothing is lost; free space, then start it again",
                free >> 20,
                self.dir.display(),
                self.halt_free_bytes >> 20
            )
        })
    }
}

/// Bytes available to this (unprivileged) process on `dir`'s filesystem.
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes only into the struct we pass, for a valid C path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::DiskGuard;

    #[test]
    fn pauses_below_the_threshold_only() {
        let dir = tempfile::tempdir().unwrap();
        let roomy = DiskGuard::new(dir.path().to_path_buf(), 0, 0);
        assert!(!roomy.is_low());
        assert!(roomy.halt_reason().is_none());
        assert!(roomy.free_bytes() > 0 && roomy.free_bytes() < u64::MAX);
        let low = DiskGuard::new(dir.path().to_path_buf(), u64::MAX, 0);
        assert!(low.is_low());
        assert!(low.halt_reason().is_none(), "low is not yet full");
        let full = DiskGuard::new(dir.path().to_path_buf(), u64::MAX, u64::MAX);
        assert!(full.halt_reason().unwrap().contains("halt_free_disk_mib"));
    }
}
