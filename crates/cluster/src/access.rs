//! Cluster access exactly as kubectl users expect: `--kubeconfig`, `KUBECONFIG`, `--context`,
//! `-n/--namespace`, in-cluster config, and errors that say which file and which contexts.
//!
//! [`connect`] also asks the API server for its version before returning, so that a wrong
//! address, a refused credential or a CA that does not match ends the step at once with exit 3
//! and a clear message, instead of surfacing as the first apply's failure.

use std::path::PathBuf;

use kube::config::KubeConfigOptions;
use stage::{Ctx, Env, StageError};

use crate::error::api_error;
use crate::kubeconfig::{self, Found};
use crate::retry::retry;

/// The cluster-access flags of every tool that talks to Kubernetes. Flatten it into the tool's
/// `Cli` with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Kubeconfig file [default: $KUBECONFIG (a ':' list, merged as kubectl does), then
    /// ~/.kube/config, then the pod's service account]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use [default: its current-context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace for objects that name none [default: the context's, else "default"]
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// Where a connection's configuration came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    Kubeconfig(Vec<PathBuf>),
    InCluster,
}

/// A client for one cluster, and what to call it in messages. Holds no credential of its own:
/// the client keeps those, and neither `Debug` nor any message shows them.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    /// From `--namespace`, else the context's namespace, else `default`.
    pub namespace: String,
    /// The API server's URL.
    pub server: String,
    /// The kubeconfig context; `None` in a cluster.
    pub context: Option<String>,
    pub source: ConfigSource,
    /// The server's `gitVersion` (e.g. `v1.33.1-eks-…`).
    pub server_version: String,
}

impl Connection {
    /// `context kube-sim (https://127.0.0.1:41231)`, for messages.
    pub fn describe(&self) -> String {
        match &self.context {
            Some(context) => format!("context {context} ({})", self.server),
            None => format!("in-cluster ({})", self.server),
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .field("context", &self.context)
            .field("source", &self.source)
            .field("server_version", &self.server_version)
            .finish_non_exhaustive()
    }
}

/// Connects as the run's flags and environment say; see [`connect_with`].
pub async fn connect(ctx: &Ctx, args: &ClusterArgs) -> Result<Connection, StageError> {
    connect_with(ctx.environment(), args).await
}

/// Sets up the client as [`connect`] does, without asking the API server anything yet: for a
/// caller that sends [`Connection::check`] together with its first reads (against a remote API
/// server each request in a row costs a round trip), and reports the check's error first.
pub async fn connect_unchecked(ctx: &Ctx, args: &ClusterArgs) -> Result<Connection, StageError> {
    client_for(ctx.environment(), args).await
}

/// Connects with an explicit environment (for callers without a `Ctx`: benchmarks, tests).
///
/// Errors: a missing or unreadable kubeconfig, an unknown context or an incomplete in-cluster
/// setup is `invalid-input` (exit 2); a server that cannot be reached after retries is
/// `unavailable` and one that refuses the credentials `unauthorized` (exit 3).
pub async fn connect_with(env: &Env, args: &ClusterArgs) -> Result<Connection, StageError> {
    let mut connection = client_for(env, args).await?;
    connection.server_version = connection.check().await?;
    Ok(connection)
}

async fn client_for(env: &Env, args: &ClusterArgs) -> Result<Connection, StageError> {
    let (mut config, context, source) = match kubeconfig::locate(env, args.kubeconfig.as_deref())? {
        Found::Files { paths, config } => {
            let context = kubeconfig::choose_context(&config, args.context.as_deref(), &paths)?;
            let options = KubeConfigOptions {
                context: Some(context.clone()),
                ..KubeConfigOptions::default()
            };
            let config = kube::Config::from_custom_kubeconfig(*config, &options)
                .await
                .map_err(|e| {
                    StageError::invalid_input(format!(
                        "kubeconfig {}, context {context}: {e}",
                        kubeconfig::describe(&paths)
                    ))
                })?;
            (config, Some(context), ConfigSource::Kubeconfig(paths))
        }
        Found::InCluster => {
            if args.context.is_some() {
                return Err(StageError::usage(
                    "--context needs a kubeconfig, and none was found (running in a cluster)",
                ));
            }
            let config = kube::Config::incluster()
                .map_err(|e| StageError::invalid_input(format!("in-cluster configuration: {e}")))?;
            (config, None, ConfigSource::InCluster)
        }
    };
    // Our own retry policy is the one (see `retry`): no second loop inside the client.
    config.default_retry = false;
    if config.accept_invalid_certs {
        // Anyone on the network path can then act as the API server and receive our token.
        tracing::warn!(
            "the kubeconfig sets insecure-skip-tls-verify for {}: the API server's certificate is              not checked, so anyone on the network path can impersonate it and read the              credentials sent to it; set certificate-authority-data instead",
            config.cluster_url
        );
    }
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let server = config.cluster_url.to_string();
    let server = server.trim_end_matches('/').to_owned();
    let client = kube::Client::try_from(config).map_err(|e| {
        StageError::invalid_input(format!("cannot set up a client for {server}: {e}"))
    })?;
    Ok(Connection {
        client,
        namespace,
        server,
        context,
        source,
        server_version: String::new(),
    })
}

impl Connection {
    /// Asks the API server for its version: a wrong address, a refused credential or a CA that
    /// does not match fails here, with exit 3 and a message naming the server. Returns the
    /// server's `gitVersion`.
    pub async fn check(&self) -> Result<String, StageError> {
        let what = format!("contacting the API server, {}", self.describe());
        let info = retry(&what, || self.client.apiserver_version())
            .await
            .map_err(|e| api_error(&what, &e))?;
        tracing::debug!(
            "connected to {} (Kubernetes {}), namespace {}",
            self.describe(),
            info.git_version,
            self.namespace
        );
        Ok(info.git_version)
    }
}
