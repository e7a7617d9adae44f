//! Real peers for tests, started on loopback on free ports and stopped when dropped.
//!
//! Tests here never talk to mocks of our own code: they talk to moto (AWS), PostgreSQL, and small
//! HTTP servers built from a closure (a stand-in for GitHub's OIDC token service). Every launcher
//! works on a fresh machine with no system service configured, and many can run at once, so the
//! suite runs in parallel. This crate is for tests and scripts only; no tool depends on it.
//!
//! - [`Moto`]: `moto_server` from a pinned Python venv ([`venv`]), with the env vars an AWS SDK needs.
//! - [`Postgres`]: a throwaway cluster made by `initdb` in a temporary directory.
//! - [`HttpServer`]: an HTTP/1.1 server that answers with a closure and records requests.
//! - [`schema`]: checks a tool's JSON output against `schemas/`, and the committed schemas
//!   against the types they are generated from.
//! - [`GitHubOidc`]: GitHub Actions' OIDC token service, with real RS256-signed JWTs and JWKS.
//! - [`Bed`]: moto + kube-sim in EKS-token mode + the token service, wired as the demo runs them
//!   (`testbed bed --dir DIR` from a shell).
//! - [`SharedBuf`]: a `Write` whose bytes a test can read afterwards (captured stdout/stderr).

// Test helpers fail loudly by design: a panic with a clear message is the test's failure report.
#![allow(clippy::missing_panics_doc)]

mod bed;
mod capture;
mod http;
mod moto;
mod oidc;
mod paths;
mod postgres;
mod process;
pub mod schema;
pub mod venv;
mod wait;

pub use bed::{ACCOUNT, Bed, BedOptions, OPERATOR_PROFILE};
pub use capture::SharedBuf;
pub use http::{HttpServer, Request, Response};
pub use moto::{Moto, REGION};
pub use oidc::{GitHubOidc, Workflow};
pub use paths::{cache_dir, workspace_bin, workspace_root};
pub use postgres::Postgres;
pub use process::LEAK_MARKER;
pub use wait::wait_until;
