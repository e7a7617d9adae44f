//! `kube-sim serve`: runs the simulator until interrupted, for the demo and for dry-running a
//! pipeline from a shell. Prints one JSON line (server URL, kubeconfig path, CA, pid) once ready.
//! With `--eks-cluster` it authenticates as an EKS cluster does (tokens from `eks-token`,
//! checked against an STS stand-in) instead of with the kubeconfig's static token.

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
        eks_cluster,
        sts_endpoint,
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
    let eks = match (eks_cluster, sts_endpoint) {
        (Some(cluster_name), Some(sts_endpoint)) => {
            if !sts_endpoint.starts_with("http://") {
                eprintln!(
                    "kube-sim: --sts-endpoint {sts_endpoint:?} must be an http:// URL of a local STS stand-in (e.g. moto's http://127.0.0.1:PORT)"
                );
                return ExitCode::from(2);
            }
            if scenario.cluster_name.is_none() {
                scenario.cluster_name = Some(cluster_name.clone());
            }
            Some(kube_sim::EksAuth {
                cluster_name,
                sts_endpoint,
            })
        }
        _ => None,
    };
    let config = kube_sim::Config {
        port,
        kubeconfig_path: kubeconfig_out,
        scenario,
        // As on EKS, an EKS token is the only way in: no static token to leak.
        token: if eks.is_some() {
            None
        } else {
            kube_sim::Config::default().token
        },
        eks,
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
        // The CA is public; a caller writing its own kubeconfig (EKS mode) needs it.
        "ca": sim.ca_pem(),
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
