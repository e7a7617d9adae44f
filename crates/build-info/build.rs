//! Finds the commit this workspace is built from and hands it to the crate as `env!` values.
//!
//! Order: `PIPEWRIGHT_BUILD_COMMIT` (builds without `.git`), then `git`, then `unknown`. Cargo
//! reruns this script when the override changes or when the checkout's HEAD moves: the files
//! watched are the ones git itself would read to resolve HEAD, which for a worktree live in two
//! places (its own gitdir for HEAD, the common dir for refs and packed-refs).

use std::path::{Path, PathBuf};
use std::process::Command;

const COMMIT_VAR: &str = "PIPEWRIGHT_BUILD_COMMIT";
const DATE_VAR: &str = "PIPEWRIGHT_BUILD_DATE";
/// Long enough to be unambiguous in practice, short enough to read.
const SHORT: usize = 7;

fn main() {
    println!("cargo::rerun-if-env-changed={COMMIT_VAR}");
    println!("cargo::rerun-if-env-changed={DATE_VAR}");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());

    let (commit, date) = match non_empty_var(COMMIT_VAR) {
        Some(commit) => {
            let short: String = commit.chars().take(SHORT).collect();
            (short, non_empty_var(DATE_VAR).unwrap_or_default())
        }
        None => match from_git(&manifest_dir) {
            Some(found) => found,
            None => ("unknown".to_owned(), String::new()),
        },
    };
    let label = if date.is_empty() {
        commit.clone()
    } else {
        format!("{commit} {date}")
    };
    println!("cargo::rustc-env=PIPEWRIGHT_COMMIT={commit}");
    println!("cargo::rustc-env=PIPEWRIGHT_COMMIT_DATE={date}");
    println!("cargo::rustc-env=PIPEWRIGHT_COMMIT_LABEL={label}");
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The abbreviated commit and its date, watching the files that decide them.
fn from_git(dir: &Path) -> Option<(String, String)> {
    watch_head(dir);
    let short = format!("--short={SHORT}");
    let commit = git(dir, &["rev-parse", &short, "HEAD"])?;
    let date = git(dir, &["show", "-s", "--format=%cs", "HEAD"]).unwrap_or_default();
    Some((commit, date))
}

/// Tells cargo which files move when HEAD does. A watched path that does not exist makes cargo
/// rerun the script on every build, so only existing paths are named; a branch whose ref is only
/// in packed-refs gets its loose file on the next commit, so its directory is watched instead.
fn watch_head(dir: &Path) {
    let Some(paths) = git(
        dir,
        &[
            "rev-parse",
            "--git-path",
            "HEAD",
            "--git-path",
            "packed-refs",
        ],
    ) else {
        return;
    };
    for path in paths.lines() {
        watch_existing(&dir.join(path));
    }
    let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) else {
        // Detached HEAD: the HEAD file itself holds the commit.
        return;
    };
    let Some(loose) = git(dir, &["rev-parse", "--git-path", &branch]) else {
        return;
    };
    // `--git-path` answers relative to `dir` unless the path lies outside it; join handles both.
    let loose = dir.join(loose);
    if loose.exists() {
        watch_existing(&loose);
    } else if let Some(parent) = loose.ancestors().skip(1).find(|p| p.exists()) {
        watch_existing(parent);
    }
}

fn watch_existing(path: &Path) {
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
    }
}
