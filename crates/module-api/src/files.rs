//! Derived files: damaged ones are set aside and rebuilt, never trusted.

/// Open a module's derived store `name`: the file `<dir>/<name>.redb` (set
/// aside and started anew if it does not open), or in memory without a
/// `dir` (simulations).
pub fn open_store<T, E: std::fmt::Display>(
    dir: Option<&std::path::Path>,
    name: &str,
    open: impl Fn(Option<&std::path::Path>) -> Result<T, E>,
) -> Result<T, String> {
    match dir {
        Some(dir) => Ok(open_or_set_aside(&dir.join(format!("{name}.redb")), |p| {
            open(Some(p)).map_err(|e| e.to_string())
        })?
        .0),
        None => open(None).map_err(|e| e.to_string()),
    }
}

/// Open the derived file at `path`; if it does not open (damaged, or written
/// by an incompatible version), set it aside as `<name>.damaged-<unix
/// seconds>` and open a new, empty one: derived data is rebuilt, never
/// trusted blindly and never a reason to stop. Returns where the old file
/// went, if it was set aside.
pub fn open_or_set_aside<T>(
    path: &std::path::Path,
    open: impl Fn(&std::path::Path) -> Result<T, String>,
) -> Result<(T, Option<std::path::PathBuf>), String> {
    let error = match open(path) {
        Ok(store) => return Ok((store, None)),
        Err(e) => e,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = path.with_file_name(format!("{file_name}.damaged-{now}"));
    std::fs::rename(path, &aside).map_err(|e| {
        format!(
            "{} does not open ({error}) and cannot be set aside: {e}",
            path.display()
        )
    })?;
    tracing::warn!(
        file = %path.display(),
        set_aside = %aside.display(),
        %error,
        "derived file does not open: set aside, rebuilding from the node's own blocks"
    );
    Ok((open(path)?, Some(aside)))
}
