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

/// A binary of another workspace package, built beside the running test (for pipeline tests that
/// chain tools: Cargo gives a test only its own package's binaries through `CARGO_BIN_EXE_*`).
/// `cargo test --workspace`, `cargo nextest run --workspace` and `scripts/test.sh` build them all.
///
/// # Panics
/// When the binary has not been built, with the command that builds it.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // Test executables live in target/<profile>/deps; binaries in target/<profile>.
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built; run `cargo build -p {name}` (or the whole suite with scripts/test.sh)",
        path.display()
    );
    path
}
