//! `oidc-creds`: the command-line entry point; everything else is in the library.

fn main() -> std::process::ExitCode {
    stage::main(
        stage::Tool::new("oidc-creds", env!("CARGO_CRATE_NAME")).carrying_credentials(),
        stage::Need::None,
        oidc_creds::run,
    )
}
