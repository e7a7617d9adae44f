//! The pipewright stage contract, shared by every tool.
//!
//! A pipewright tool is one step of a deploy pipeline. Whatever happens, it prints exactly one JSON
//! [`Document`] on stdout, keeps humans informed on stderr, and exits with a code that says what
//! kind of outcome it was ([`ErrorKind::exit_code`]). Steps chain with pipes: a tool that consumes
//! an upstream document reads it from stdin, and when that document says `"ok": false` the tool
//! does nothing and passes it on, so `a | b | c || rollback` behaves as a shell user expects.
//!
//! A tool's `main` is a few lines:
//!
//! ```no_run
//! use clap::Parser;
//! use stage::{Ctx, Need, StageCli, StageResult, Tool};
//!
//! #[derive(Parser, Debug)]
//! struct Cli {
//!     #[command(flatten)]
//!     common: stage::CommonArgs,
//! }
//! impl StageCli for Cli {
//!     fn common(&self) -> &stage::CommonArgs { &self.common }
//! }
//!
//! #[derive(serde::Serialize)]
//! struct Report { greeted: u32 }
//!
//! async fn run(_cli: Cli, _ctx: Ctx, _upstream: Option<serde_json::Value>) -> StageResult<Report> {
//!     tracing::info!("hello");
//!     Ok(Report { greeted: 1 })
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     stage::main(Tool::new("hello", env!("CARGO_CRATE_NAME")), Need::None, run)
//! }
//! ```

mod ctx;
mod document;
pub mod duration;
mod error;
pub mod github;
mod log;
pub mod private_file;
mod runner;
pub mod secret;
mod upstream;

pub use ctx::Ctx;
pub use document::{Document, Envelope, ErrorBody, Received, Tool};
pub use error::{ErrorKind, Failed, StageError, StageResult};
pub use runner::{CommonArgs, EXEC_INFO_VAR, Env, Io, StageCli, TimeoutArg, main, run_with};
pub use secret::Secret;
pub use upstream::{DEFAULT_MAX_INPUT_BYTES, Need};
