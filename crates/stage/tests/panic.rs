//! A panic's message goes through the run's mask registry (issue 12, Secrets 3). A panic hook is
//! process-wide, so the tool runs as a real process: this test executable again, running only
//! `panicking_tool` with `STAGE_PANIC_CHILD` set.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use clap::Parser;
use stage::{CommonArgs, Ctx, Need, Secret, StageCli, StageResult, Tool};

const SECRET: &str = "s3cr3t-panic-value-123";

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// The test harness's own arguments (`panicking_tool --exact …`), which `stage::main` sees too.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    _harness: Vec<String>,
}

impl StageCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

#[allow(clippy::unused_async, clippy::panic)]
async fn run(_cli: Cli, ctx: Ctx, _upstream: Option<serde_json::Value>) -> StageResult<()> {
    ctx.register_secret(&Secret::new(SECRET));
    let held = SECRET.to_owned();
    panic!("unexpected state while holding {held}");
}

/// The child: a tool that registers a secret, then panics with it in the payload. Without
/// `STAGE_PANIC_CHILD` it does nothing.
#[test]
fn panicking_tool() {
    if std::env::var_os("STAGE_PANIC_CHILD").is_none() {
        return;
    }
    let _ = stage::main(Tool::new("panicky", "panic"), Need::None, run);
}

#[test]
fn a_panic_payload_is_masked_on_stderr_and_in_the_document() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "panicking_tool",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STAGE_PANIC_CHILD", "1")
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(r#""message":"pipewright bug: panicked at"#),
        "the panic's document is printed: {stdout}"
    );
    assert!(
        stderr.contains("unexpected state while holding ***"),
        "the panic is reported on stderr, masked: {stderr}"
    );
    // The value appears once legitimately: in the `::add-mask::` line the runner needs.
    let unmasked = stderr.replace(&format!("::add-mask::{SECRET}"), "");
    assert!(!unmasked.contains(SECRET), "stderr: {stderr}");
    assert!(!stdout.contains(SECRET), "stdout: {stdout}");
}
