//! What the tests share: finding kubectl and the linters (skip with a reason when missing, fail
//! under `CI=true`), and the rendered overlays.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// True under CI, where a missing tool fails the test rather than skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (returns `None`, printing why) or, under CI, fails.
#[track_caller]
pub fn missing(what: &str, how: &str) -> Option<PathBuf> {
    assert!(!in_ci(), "{what} is missing under CI=true: {how}");
    eprintln!("skipped: {what} is missing ({how})");
    None
}

/// kubectl (`$KUBECTL` or on PATH), or a skip.
pub fn kubectl() -> Option<PathBuf> {
    manifests::kubectl().or_else(|| {
        missing(
            "kubectl",
            "install it or set KUBECTL; scripts/test.sh installs kubectl 1.35",
        )
    })
}

/// A linter from the venv scripts/test.sh makes (`$PIPEWRIGHT_LINT_BIN`), or a skip.
pub fn linter(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PIPEWRIGHT_LINT_BIN")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(name))
        .filter(|p| p.is_file());
    found.or_else(|| {
        missing(
            name,
            "PIPEWRIGHT_LINT_BIN names no directory holding it; scripts/test.sh creates the venv from scripts/lint-requirements.txt and exports it",
        )
    })
}

/// The overlay of `environment`, rendered.
pub fn rendered(kubectl: &std::path::Path, environment: &str) -> Vec<Value> {
    manifests::render(kubectl, &manifests::overlay_dir(environment))
        .unwrap_or_else(|e| panic!("{environment}: {e}"))
}

/// Every overlay, rendered: `(environment, objects)`.
pub fn all_rendered(kubectl: &std::path::Path) -> Vec<(&'static str, Vec<Value>)> {
    manifests::OVERLAYS
        .iter()
        .map(|env| (*env, rendered(kubectl, env)))
        .collect()
}
