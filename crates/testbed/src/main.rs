//! `testbed`: the test bed from a shell.
//!
//! - `testbed prepare` installs what the tests need ahead of the run (the Python venv with moto),
//!   so that the first test does not pay for it and a missing registry shows up as one clear error.
//! - `testbed bed --dir DIR` starts the demo's bed (moto, kube-sim in EKS-token mode, the GitHub
//!   OIDC stand-in), writes `DIR/env` and friends, prints one JSON ready line, and runs until
//!   SIGINT or SIGTERM, when it stops every process it started.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Real peers for tests and the demo, on loopback.
#[derive(Parser, Debug)]
#[command(name = "testbed")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create (or reuse) the Python venv with the pinned test packages (moto)
    Prepare,
    /// Start moto, kube-sim in EKS-token mode and a GitHub OIDC stand-in until SIGINT/SIGTERM
    #[command(after_help = "Writes into DIR (mode 0700):\n  \
        env          the variables scripts/deploy.sh reads, as a deploy job has them (`. DIR/env`)\n  \
        aws-config   a profile `operator` with moto's static keys (an operator's laptop)\n  \
        ca.crt       the API server's CA (EKS_CA_FILE)\n\
        and prints one JSON line on stdout once everything answers.")]
    Bed {
        /// Directory for the files above
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The kube-sim binary (default: $PIPEWRIGHT_BIN/kube-sim, else beside this program,
        /// else kube-sim on PATH)
        #[arg(long, value_name = "PATH")]
        kube_sim: Option<PathBuf>,
        /// The environment the cluster serves: names the cluster cloudtolocalllm-ENV and the role
        #[arg(long, value_name = "ENV", default_value = "development")]
        environment: String,
        /// A kube-sim scenario file (pace, nodes, pod behaviours)
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Prepare => match testbed::venv::ensure() {
            Ok(venv) => {
                eprintln!("testbed: Python venv ready at {}", venv.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("testbed: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Bed {
            dir,
            kube_sim,
            environment,
            scenario,
        } => bed(
            &dir,
            kube_sim.unwrap_or_else(find_kube_sim),
            environment,
            scenario,
        ),
    }
}

fn bed(dir: &Path, kube_sim: PathBuf, environment: String, scenario: Option<PathBuf>) -> ExitCode {
    let valid = !environment.is_empty()
        && environment.len() <= 40
        && environment
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        eprintln!(
            "testbed: --environment {environment:?}: use a DNS label such as development or staging"
        );
        return ExitCode::from(2);
    }
    let options = testbed::BedOptions {
        kube_sim,
        environment,
        scenario,
    };
    eprintln!("testbed: starting moto, kube-sim (EKS-token mode) and the GitHub OIDC stand-in");
    let bed = match testbed::Bed::start(options) {
        Ok(bed) => bed,
        Err(e) => {
            eprintln!("testbed: the bed did not start: {e}");
            return ExitCode::from(3);
        }
    };
    if let Err(e) = bed.write_files(dir) {
        eprintln!("testbed: cannot write into {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let ready = serde_json::json!({
        "ok": true,
        "env": dir.join("env"),
        "cluster": bed.options().cluster(),
        "server": bed.server(),
        "aws": bed.moto().endpoint(),
        "oidcIssuer": bed.oidc().issuer(),
        "pid": std::process::id(),
    });
    // The ready line is this program's output, for scripts to read.
    #[allow(clippy::print_stdout)]
    {
        println!("{ready}");
    }
    eprintln!(
        "testbed: ready: API server {} (cluster {}), AWS {}, OIDC issuer {}; variables in {}",
        bed.server(),
        bed.options().cluster(),
        bed.moto().endpoint(),
        bed.oidc().issuer(),
        dir.join("env").display()
    );
    wait_for_signal();
    eprintln!("testbed: stopping");
    drop(bed);
    ExitCode::SUCCESS
}

/// `$PIPEWRIGHT_BIN/kube-sim`, else the one built beside this program, else `kube-sim` on PATH.
fn find_kube_sim() -> PathBuf {
    if let Some(bin) = std::env::var_os("PIPEWRIGHT_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin).join("kube-sim");
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("kube-sim")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("kube-sim"))
}

fn wait_for_signal() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    });
}
