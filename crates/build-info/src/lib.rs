//! The one place that decides what `--version` says: the workspace version and the commit the
//! binary was built from, e.g. `0.1.0 (abc1234 2026-12-02)`.
//!
//! `build.rs` asks git for the commit; builds without a `.git` (a source tarball, a container
//! build context) pass it in `PIPEWRIGHT_BUILD_COMMIT` (and optionally `PIPEWRIGHT_BUILD_DATE`),
//! and a build with neither says `unknown`. Every tool's clap `Cli` sets
//! `#[command(version = build_info::VERSION)]`.

/// The commit, abbreviated, or `unknown`.
pub const COMMIT: &str = env!("PIPEWRIGHT_COMMIT");

/// The commit's date (`YYYY-MM-DD`, committer date), or empty when it is not known.
pub const COMMIT_DATE: &str = env!("PIPEWRIGHT_COMMIT_DATE");

/// What `--version` prints after the tool's name: `0.1.0 (abc1234 2026-12-02)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PIPEWRIGHT_COMMIT_LABEL"),
    ")"
);
