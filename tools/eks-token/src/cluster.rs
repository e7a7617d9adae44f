//! `eks-token kubeconfig`: describe the cluster (`eks:DescribeCluster`), refuse one that cannot
//! serve yet, and write a kubeconfig whose user runs `eks-token token` as its exec plugin.

use std::path::PathBuf;

use pipewright_aws::AwsArgs;
use schemars::JsonSchema;
use serde::Serialize;
use stage::{Ctx, StageError};

use crate::credentials::{self, Upstream};
use crate::endpoint;
use crate::exec_credential::ApiVersion;
use crate::kubeconfig::{self, Entries, Exec};
use crate::names;

/// `eks-token kubeconfig`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct KubeconfigArgs {
    /// Name of the EKS cluster
    #[arg(long, env = "EKS_CLUSTER_NAME", value_name = "NAME")]
    pub cluster: String,
    /// Name of the context (default: the cluster's ARN, as `aws eks update-kubeconfig`)
    #[arg(long, value_name = "NAME")]
    pub alias: Option<String>,
    /// Name of the user entry (default: the cluster's ARN)
    #[arg(long, value_name = "NAME")]
    pub user_alias: Option<String>,
    /// Write this file instead of the first $KUBECONFIG path or ~/.kube/config
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Role the exec plugin assumes before signing (passed on as `eks-token token --role-arn`)
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// ExecCredential version the kubeconfig asks for: v1beta1 (default) or v1
    #[arg(long, value_name = "VERSION", value_parser = ApiVersion::parse, default_value = "v1beta1")]
    pub exec_api_version: ApiVersion,
    /// Program the kubeconfig runs for tokens (a name on PATH or an absolute path)
    #[arg(long, value_name = "PROGRAM", default_value = "eks-token")]
    pub exec_command: String,
    /// API server URL to write instead of the cluster's endpoint: the local end of a tunnel or
    /// proxy to a private endpoint (https://HOST:PORT)
    #[arg(long, env = "EKS_SERVER_URL", value_name = "URL")]
    pub server: Option<String>,
    /// PEM file of the CA to trust instead of the cluster's (with --server: the CA that signed
    /// the tunnel's or proxy's certificate); embedded in the kubeconfig
    #[arg(long, env = "EKS_CA_FILE", value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// What `eks-token kubeconfig` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigReport {
    /// The file written.
    pub kubeconfig: String,
    /// `created` for a new file, `updated` when merged into an existing one.
    pub action: Action,
    /// The context written and made current.
    pub context: String,
    /// The user entry written.
    pub user: String,
    /// The cluster, as EKS described it.
    pub cluster: ClusterReport,
    /// The exec plugin the user entry runs.
    pub exec: ExecReport,
}

/// Whether the kubeconfig file was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Created,
    Updated,
}

/// The cluster a kubeconfig was written for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    pub name: String,
    pub arn: String,
    pub region: String,
    /// The API server URL.
    pub endpoint: String,
    /// `ACTIVE` or `UPDATING`.
    pub status: String,
    /// The Kubernetes version, e.g. `1.32`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The exec plugin of the user entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecReport {
    pub api_version: ApiVersion,
    pub command: String,
    pub args: Vec<String>,
}

/// What `DescribeCluster` told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub arn: String,
    pub endpoint: Option<String>,
    pub certificate_authority_data: Option<String>,
    pub status: String,
    pub version: Option<String>,
    /// The id by which `eks-token token` must name an EKS local cluster on Outposts.
    pub outpost_id: Option<String>,
}

pub async fn run(
    args: KubeconfigArgs,
    ctx: &Ctx,
    upstream: Option<Upstream>,
) -> Result<KubeconfigReport, StageError> {
    names::check_cluster(&args.cluster)?;
    if let Some(role) = &args.role_arn {
        names::check_role_arn(role)?;
    }
    let overrides = endpoint::Overrides::from_args(&args)?;
    let aws = credentials::connect(ctx, &args.aws, upstream.as_ref()).await?;
    tracing::debug!("credentials: {}", aws.source);
    crate::progress(
        ctx,
        &format!("describing EKS cluster {} in {}", args.cluster, aws.region),
    );
    let described = describe(&aws, &args.cluster).await?;
    let (described_endpoint, described_ca) = check_usable(&args.cluster, &described)?;
    let (endpoint, ca) = overrides.apply(ctx, described_endpoint, described_ca);

    let mut token_args = vec![
        "token".to_owned(),
        "--cluster".to_owned(),
        described
            .outpost_id
            .clone()
            .unwrap_or_else(|| args.cluster.clone()),
        "--region".to_owned(),
        aws.region.clone(),
    ];
    if let Some(profile) = args.aws.profile.as_deref().filter(|p| !p.is_empty()) {
        token_args.extend(["--profile".to_owned(), profile.to_owned()]);
    }
    if let Some(role) = &args.role_arn {
        token_args.extend(["--role-arn".to_owned(), role.clone()]);
    }
    let entries = Entries {
        cluster_name: described.arn.clone(),
        server: endpoint.clone(),
        certificate_authority_data: ca,
        user_name: args
            .user_alias
            .clone()
            .unwrap_or_else(|| described.arn.clone()),
        context_name: args.alias.clone().unwrap_or_else(|| described.arn.clone()),
        exec: Exec {
            api_version: args.exec_api_version,
            command: args.exec_command.clone(),
            args: token_args,
        },
    };

    let path = kubeconfig::choose_path(ctx, args.out.as_deref(), &entries.cluster_name)?;
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(StageError::invalid_input(format!(
                "cannot read the kubeconfig {}: {e}",
                path.display()
            ))
            .with_hint("fix its permissions, or write elsewhere with --out"));
        }
    };
    let action = if existing.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    let text = kubeconfig::merge(existing.as_deref(), &entries, &path)?;
    let written = kubeconfig::write(&path, &text)?;
    crate::progress(
        ctx,
        &format!(
            "{} context {} in {}",
            if action == Action::Created {
                "added"
            } else {
                "updated"
            },
            entries.context_name,
            written.display()
        ),
    );
    Ok(KubeconfigReport {
        kubeconfig: written.display().to_string(),
        action,
        context: entries.context_name,
        user: entries.user_name,
        cluster: ClusterReport {
            name: args.cluster,
            arn: described.arn,
            region: aws.region,
            endpoint,
            status: described.status,
            version: described.version,
        },
        exec: ExecReport {
            api_version: entries.exec.api_version,
            command: entries.exec.command,
            args: entries.exec.args,
        },
    })
}

async fn describe(aws: &credentials::Aws, name: &str) -> Result<Described, StageError> {
    let config = aws_sdk_eks::config::Builder::from(&aws.sdk)
        .credentials_provider(aws.credentials.clone())
        .build();
    let client = aws_sdk_eks::Client::from_conf(config);
    let answer = client
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(aws_sdk_eks::operation::describe_cluster::DescribeClusterError::is_resource_not_found_exception)
            {
                StageError::invalid_input(format!(
                    "there is no EKS cluster named {name:?} in {}",
                    aws.region
                ))
                .with_hint(format!(
                    "check --cluster and --region; `aws eks list-clusters --region {}` lists them",
                    aws.region
                ))
            } else {
                pipewright_aws::sdk_error("eks:DescribeCluster", &e)
            }
        })?;
    let cluster = answer.cluster().ok_or_else(|| {
        StageError::failed(format!(
            "eks:DescribeCluster answered without cluster {name}"
        ))
    })?;
    Ok(Described {
        arn: cluster.arn().unwrap_or_default().to_owned(),
        endpoint: cluster.endpoint().map(str::to_owned),
        certificate_authority_data: cluster
            .certificate_authority()
            .and_then(|ca| ca.data())
            .map(str::to_owned),
        status: cluster
            .status()
            .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
        version: cluster.version().map(str::to_owned),
        outpost_id: cluster
            .outpost_config()
            .and(cluster.id())
            .map(str::to_owned),
    })
}

/// The endpoint and CA of a cluster that can serve: ACTIVE, or UPDATING (which still serves), as
/// `aws eks update-kubeconfig` requires. Anything else would write a kubeconfig that cannot work.
pub fn check_usable(name: &str, cluster: &Described) -> Result<(String, String), StageError> {
    if !matches!(cluster.status.as_str(), "ACTIVE" | "UPDATING") {
        let hint = match cluster.status.as_str() {
            "CREATING" | "PENDING" => format!(
                "wait until it is ACTIVE (`aws eks wait cluster-active --name {name}`), then run this again"
            ),
            "DELETING" => "the cluster is being deleted; pick another with --cluster".to_owned(),
            _ => "see the cluster's health in the EKS console or `aws eks describe-cluster`"
                .to_owned(),
        };
        return Err(StageError::failed(format!(
            "EKS cluster {name} is {}, not ACTIVE or UPDATING: no kubeconfig written",
            cluster.status
        ))
        .with_hint(hint));
    }
    let missing = |what: &str| {
        StageError::failed(format!(
            "EKS cluster {name} is {} but has no {what} yet: no kubeconfig written",
            cluster.status
        ))
        .with_hint("try again in a minute")
    };
    let endpoint = cluster
        .endpoint
        .clone()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| missing("API endpoint"))?;
    let ca = cluster
        .certificate_authority_data
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| missing("certificate authority"))?;
    if cluster.arn.is_empty() {
        return Err(missing("ARN"));
    }
    Ok((endpoint, ca))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(status: &str) -> Described {
        Described {
            arn: "arn:aws:eks:eu-west-1:123456789012:cluster/prod".to_owned(),
            endpoint: Some("https://x.eks.amazonaws.com".to_owned()),
            certificate_authority_data: Some("Q0E=".to_owned()),
            status: status.to_owned(),
            version: Some("1.32".to_owned()),
            outpost_id: None,
        }
    }

    #[test]
    fn only_active_or_updating_clusters_get_a_kubeconfig() {
        for ok in ["ACTIVE", "UPDATING"] {
            assert!(check_usable("prod", &described(ok)).is_ok());
        }
        for (status, hint) in [
            ("CREATING", "wait"),
            ("PENDING", "wait"),
            ("DELETING", "deleted"),
            ("FAILED", "health"),
        ] {
            let err = check_usable("prod", &described(status)).unwrap_err();
            assert_eq!(err.exit_code(), 1);
            assert!(err.message().contains(status), "{}", err.message());
            assert!(err.hint().unwrap().contains(hint), "{status}");
        }
    }

    #[test]
    fn an_active_cluster_without_endpoint_or_ca_is_refused() {
        let mut c = described("ACTIVE");
        c.endpoint = None;
        assert!(
            check_usable("prod", &c)
                .unwrap_err()
                .message()
                .contains("API endpoint")
        );
        let mut c = described("ACTIVE");
        c.certificate_authority_data = Some(String::new());
        assert!(
            check_usable("prod", &c)
                .unwrap_err()
                .message()
                .contains("certificate authority")
        );
    }
}
