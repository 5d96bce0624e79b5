//! One process per data directory. A node, `verify-chain` and
//! `rebuild-derived` take an exclusive lock on `<data_dir>/LOCK` before
//! touching storage; a second one fails at once, naming the holder, instead
//! of waiting forever on the storage engine or writing under a live node.

use std::{fs::File, io::Write, path::Path};

/// The lock file's name inside a data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Holds the data directory until dropped (or the process exits).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("data directory {dir} is in use by another process ({holder}); stop it first")]
    Held { dir: String, holder: String },
    #[error("cannot lock data directory {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
}

/// Lock `data_dir` for this process, as `what` (recorded for the message a
/// second process gets).
pub fn lock(data_dir: &Path, what: &str) -> Result<DataDirLock, LockError> {
    let dir = data_dir.display().to_string();
    let io = |source| LockError::Io {
        dir: dir.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let path = data_dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(LockError::Held {
                dir,
                holder: if holder.trim().is_empty() {
                    "unknown".into()
                } else {
                    holder.trim().to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    write!(file, "{what}, pid {}", std::process::id()).map_err(io)?;
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_holder_is_refused_and_the_lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let held = super::lock(dir.path(), "ingot node run").unwrap();
        // flock locks are per open file description: a second open in the
        // same process conflicts like another process would.
        let err = super::lock(dir.path(), "ingot verify-chain").unwrap_err();
        assert!(err.to_string().contains("ingot node run, pid"), "{err}");
        drop(held);
        super::lock(dir.path(), "ingot verify-chain").unwrap();
    }
}
