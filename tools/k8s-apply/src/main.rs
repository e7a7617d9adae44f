//! `k8s-apply`: the command-line entry point; everything else is in the library.

use stage::{Need, Tool};

fn main() -> std::process::ExitCode {
    stage::main(
        Tool::new("k8s-apply", env!("CARGO_CRATE_NAME")),
        Need::None,
        k8s_apply::run,
    )
}
