//! The `kube-sim` command line, in the library so that man pages and shell completions can be
//! generated from it (crates/docgen) as they are for the tools.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A Kubernetes API simulator over HTTPS, with controllers, scripted failures and fault injection.
#[derive(Parser, Debug)]
#[command(
    name = "kube-sim",
    version = build_info::VERSION,
    after_help = "Example:\n  kube-sim serve --kubeconfig-out /tmp/kube-sim.yaml > /tmp/kube-sim.ready &\n  until [ -s /tmp/kube-sim.ready ]; do sleep 0.2; done\n  kubectl --kubeconfig /tmp/kube-sim.yaml apply --server-side -f examples/shop.yaml\n  kubectl --kubeconfig /tmp/kube-sim.yaml -n shop rollout status deployment/api"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
        /// EKS-token mode: accept only EKS bearer tokens (`eks-token token`) made for this
        /// cluster name, as an EKS cluster does; the kubeconfig's static token is not written
        #[arg(long, value_name = "NAME", requires = "sts_endpoint")]
        eks_cluster: Option<String>,
        /// EKS-token mode: the STS stand-in (e.g. moto) that verifies tokens, `http://HOST:PORT`
        #[arg(long, value_name = "URL", requires = "eks_cluster")]
        sts_endpoint: Option<String>,
        /// Append every request answered (method, path, status, arrival and answer times in
        /// microseconds) to FILE, one JSON object a line: for counting a client's round trips
        #[arg(long, value_name = "FILE")]
        request_log: Option<PathBuf>,
    },
}
