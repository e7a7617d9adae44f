//! `rollout-wait`: the command-line entry point; everything else is in the library.

use stage::{Need, Tool};

fn main() -> std::process::ExitCode {
    stage::main(
        Tool::new("rollout-wait", env!("CARGO_CRATE_NAME")),
        Need::Optional,
        rollout_wait::run,
    )
}
