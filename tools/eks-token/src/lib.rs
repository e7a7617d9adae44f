//! eks-token: bearer tokens for Amazon EKS, and kubeconfigs that use them.
//!
//! - `eks-token token --cluster NAME` prints an ExecCredential whose token is exactly what
//!   `aws eks get-token` would make (`k8s-aws-v1.` + a presigned STS `GetCallerIdentity` URL),
//!   signed with the credentials piped in from `oidc-creds` or the standard AWS chain, optionally
//!   after assuming `--role-arn`; tokens are cached on disk so kubectl's exec calls are cheap.
//! - `eks-token kubeconfig --cluster NAME` describes the cluster and writes (or merges) a
//!   kubeconfig whose user runs `eks-token token` as its exec plugin.
//!
//! The stdout document is the stage envelope (`ok`, `tool`, `schema`) with the command's report
//! beside it; for `token` that report is the ExecCredential itself, so the one document serves
//! both pipelines and kubectl (see `docs/eks-token.md`).

mod cache;
mod clock;
mod cluster;
mod credentials;
mod exec_credential;
mod kubeconfig;
mod names;
mod presign;
mod token;

use clap::{Parser, Subcommand};
use schemars::JsonSchema;
use serde::Serialize;
use stage::{CommonArgs, Ctx, Need, StageCli, StageError, StageResult};

pub use cache::{Cache, CacheKey, Cached, REFRESH_MARGIN};
pub use clock::FROZEN_TIME_VAR;
pub use cluster::{Action, ClusterReport, ExecReport, KubeconfigArgs, KubeconfigReport};
pub use credentials::{ROLE_SESSION_NAME, Upstream};
pub use exec_credential::{ApiVersion, ExecCredential, negotiate};
pub use presign::{TOKEN_PREFIX, TokenRequest, presigned_url, token_from_url, url_from_token};
pub use token::{TOKEN_LIFETIME, TokenArgs};

/// The variable kubectl (client-go) and kube-rs set when they run a credential plugin.
pub const EXEC_INFO_VAR: &str = "KUBERNETES_EXEC_INFO";

const EXAMPLES: &str = "\
Examples:
  # A token for kubectl or curl, with credentials from the environment or profile
  eks-token token --cluster prod --region eu-west-1

  # Keyless in GitHub Actions: web identity -> STS -> token
  oidc-creds --role-arn arn:aws:iam::123456789012:role/deploy --region eu-west-1 | eks-token token --cluster prod

  # Sign as another role
  eks-token token --cluster prod --role-arn arn:aws:iam::123456789012:role/eks-admin

  # Add the cluster to ~/.kube/config (or the first $KUBECONFIG file) and use it
  eks-token kubeconfig --cluster prod --region eu-west-1 --alias prod
  kubectl --context prod get pods

  # A separate kubeconfig, ExecCredential v1
  eks-token kubeconfig --cluster prod --out ./kubeconfig --exec-api-version v1

Exit codes: 0 done, 1 failed (cluster not ACTIVE), 2 bad usage or input, 3 AWS unreachable or
refused the credentials. See docs/eks-token.md.";

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "eks-token",
    version,
    about = "EKS bearer tokens (ExecCredential, as `aws eks get-token`) and kubeconfigs that use them",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print an ExecCredential with a token for the cluster (kubeconfig exec plugin)
    #[command(
        after_help = "Examples:\n  eks-token token --cluster prod --region eu-west-1\n  \
        oidc-creds --role-arn arn:aws:iam::123456789012:role/deploy --region eu-west-1 | eks-token token --cluster prod\n\n\
        The token is cached under $XDG_CACHE_HOME/pipewright/eks-token (or ~/.cache/…) until a minute \
        before it expires; --no-cache signs a fresh one."
    )]
    Token(TokenArgs),
    /// Write a kubeconfig for the cluster whose user runs `eks-token token`
    #[command(
        after_help = "Examples:\n  eks-token kubeconfig --cluster prod --region eu-west-1 --alias prod\n  \
        eks-token kubeconfig --cluster prod --out ./kubeconfig --exec-api-version v1"
    )]
    Kubeconfig(KubeconfigArgs),
}

impl StageCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

/// The report beside the envelope: the ExecCredential for `token`, what was written for
/// `kubeconfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Report {
    Token(ExecCredential),
    Kubeconfig(Box<KubeconfigReport>),
}

/// Whether to read an upstream document from stdin.
///
/// Not when run as a credential plugin (`KUBERNETES_EXEC_INFO` is set): the stdin a Kubernetes
/// client hands its plugin is its own (a manifest piped into `kubectl apply -f -`), never a
/// document for us. Otherwise a piped `credential_process` document (from `oidc-creds`) supplies
/// the credentials, and a terminal or empty stdin means the standard chain.
pub fn stdin_need() -> Need {
    if std::env::var_os(EXEC_INFO_VAR).is_some() {
        Need::None
    } else {
        Need::Optional
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli, ctx: Ctx, upstream: Option<Upstream>) -> StageResult<Report> {
    let outcome: Result<Report, StageError> = match cli.command {
        Command::Token(args) => token::run(args, &ctx, upstream).await.map(Report::Token),
        Command::Kubeconfig(args) => cluster::run(args, &ctx, upstream)
            .await
            .map(|report| Report::Kubeconfig(Box::new(report))),
    };
    outcome.map_err(Into::into)
}

/// Progress for stderr: at info level from a shell or a workflow step, at debug level under a
/// Kubernetes client, which shows its plugin's stderr to its user on every command (the AWS CLI
/// says nothing there either). Warnings and errors are shown in both cases.
pub(crate) fn progress(ctx: &Ctx, message: &str) {
    if ctx.env(EXEC_INFO_VAR).is_some() {
        tracing::debug!("{message}");
    } else {
        tracing::info!("{message}");
    }
}
