//! Where things are: the workspace, and the cache that outlives a test run.

use std::path::PathBuf;

/// The workspace root (the directory of the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map_or(here.clone(), PathBuf::from)
}

/// A cache directory that survives between runs (the Python venv lives here):
/// `$PIPEWRIGHT_CACHE_DIR`, else `$XDG_CACHE_HOME/pipewright`, else `~/.cache/pipewright`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = non_empty_env("PIPEWRIGHT_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = non_empty_env("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("pipewright");
    }
    if let Some(home) = non_empty_env("HOME") {
        return PathBuf::from(home).join(".cache").join("pipewright");
    }
    workspace_root().join("target").join("pipewright-cache")
}

pub(crate) fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
