//! `kube-sim serve`: runs the simulator until interrupted, for the demo and for dry-running a
//! pipeline from a shell. Prints one JSON line (server URL, kubeconfig path, pid) once ready.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A Kubernetes API simulator over HTTPS, with controllers, scripted failures and fault injection.
#[derive(Parser, Debug)]
#[command(
    name = "kube-sim",
    version,
    after_help = "Example:\n  kube-sim serve --kubeconfig-out /tmp/kube-sim.yaml &\n  kubectl --kubeconfig /tmp/kube-sim.yaml apply --server-side -f manifests/\n  kubectl --kubeconfig /tmp/kube-sim.yaml rollout status deployment/web"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API until interrupted (SIGINT/SIGTERM)
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one)
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Write the kubeconfig here (mode 0600) instead of a temporary file
        #[arg(long, value_name = "PATH")]
        kubeconfig_out: Option<PathBuf>,
        /// Scenario file (YAML or JSON): pace, nodes, faults, pod behaviours; see docs/kube-sim.md
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Simulated seconds per real second (overrides the scenario's pace)
        #[arg(long)]
        pace: Option<f64>,
        /// Append every request answered (method, path, status, arrival and answer times in
        /// microseconds) to FILE, one JSON object a line: for counting a client's round trips
        #[arg(long, value_name = "FILE")]
        request_log: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Serve {
        port,
        kubeconfig_out,
        scenario,
        pace,
        request_log,
    } = cli.command;
    let request_log = match request_log
        .as_deref()
        .map(std::fs::File::create)
        .transpose()
    {
        Ok(file) => file,
        Err(e) => {
            eprintln!("kube-sim: cannot write the request log: {e}");
            return ExitCode::from(2);
        }
    };
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
    if let Some(file) = request_log {
        sim.sim().requests.write_to(file);
    }
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
