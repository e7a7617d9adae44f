//! `eks-token`: the command-line entry point; everything else is in the library.

use stage::Tool;

fn main() -> std::process::ExitCode {
    stage::main(
        Tool::new("eks-token", env!("CARGO_CRATE_NAME")).carrying_credentials(),
        eks_token::stdin_need(),
        eks_token::run,
    )
}
