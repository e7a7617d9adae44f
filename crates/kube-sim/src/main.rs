//! `kube-sim serve`: runs the simulator until interrupted, for the demo and for dry-running a
//! pipeline from a shell. Prints one JSON line (server URL, kubeconfig path, pid) once ready.

use std::process::ExitCode;

use clap::Parser;
use kube_sim::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Serve {
        port,
        kubeconfig_out,
        scenario,
        pace,
    } = cli.command;
    let mut scenario = match scenario
        .as_deref()
        .map(kube_sim::Scenario::load)
        .transpose()
    {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            eprintln!("kube-sim: {e}");
            return ExitCode::from(2);
        }
    };
    if pace.is_some() {
        scenario.pace = pace;
    }
    let config = kube_sim::Config {
        port,
        kubeconfig_path: kubeconfig_out,
        scenario,
        ..kube_sim::Config::default()
    };
    let sim = match kube_sim::KubeSim::start(config) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("kube-sim: cannot start: {e}");
            return ExitCode::from(3);
        }
    };
    let ready = serde_json::json!({
        "server": sim.url(),
        "kubeconfig": sim.kubeconfig_path(),
        "pid": std::process::id(),
    });
    // The ready line is this program's output, for scripts to read.
    #[allow(clippy::print_stdout)]
    {
        println!("{ready}");
    }
    eprintln!(
        "kube-sim: serving {} (kubeconfig {}); Ctrl-C to stop",
        sim.url(),
        sim.kubeconfig_path().display()
    );
    wait_for_signal();
    drop(sim);
    ExitCode::SUCCESS
}

fn wait_for_signal() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    });
}
