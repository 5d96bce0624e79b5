//! Derived files: damaged ones are set aside and rebuilt, never trusted.

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
