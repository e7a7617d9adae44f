//! `testbed prepare`: installs what the tests need ahead of the run (the Python venv with moto),
//! so that the first test does not pay for it and a missing registry shows up as one clear error.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args != ["prepare"] {
        eprintln!(
            "usage: testbed prepare\n  creates (or reuses) the Python venv with the pinned test packages"
        );
        return ExitCode::from(2);
    }
    match testbed::venv::ensure() {
        Ok(venv) => {
            eprintln!("testbed: Python venv ready at {}", venv.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("testbed: {e}");
            ExitCode::FAILURE
        }
    }
}
