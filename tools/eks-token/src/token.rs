//! `eks-token token`: an ExecCredential for one cluster, from the cache when a fresh enough token
//! is there, else signed now (after assuming `--role-arn` when given).

use pipewright_aws::AwsArgs;
use stage::{Ctx, StageError};

use crate::cache::{Cache, CacheKey, Cached};
use crate::clock;
use crate::credentials::{self, Upstream};
use crate::exec_credential::{ApiVersion, ExecCredential, negotiate};
use crate::names;
use crate::presign::{TokenRequest, presigned_url, token_from_url};

/// How long a client may use a token before asking again: the AWS CLI's 14 minutes, one under
/// the 15 EKS accepts, so a client never presents a token in its last minute.
pub const TOKEN_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_mins(14);

/// `eks-token token`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct TokenArgs {
    /// Name of the EKS cluster the token is for (signed into it as x-k8s-aws-id)
    #[arg(long, env = "EKS_CLUSTER_NAME", value_name = "NAME")]
    pub cluster: String,
    /// Assume this IAM role (sts:AssumeRole) and sign the token as it
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// ExecCredential version when the client does not say (kubectl says, in `KUBERNETES_EXEC_INFO`,
    /// and wins): v1beta1 (default) or v1
    #[arg(long, value_name = "VERSION", value_parser = ApiVersion::parse)]
    pub api_version: Option<ApiVersion>,
    /// Neither read nor write the token cache
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub async fn run(
    args: TokenArgs,
    ctx: &Ctx,
    upstream: Option<Upstream>,
) -> Result<ExecCredential, StageError> {
    names::check_cluster(&args.cluster)?;
    if let Some(role) = &args.role_arn {
        names::check_role_arn(role)?;
    }
    let (api_version, warning) = negotiate(args.api_version, ctx.env("KUBERNETES_EXEC_INFO"));
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    let now = clock::now(ctx)?;

    let aws = credentials::connect(ctx, &args.aws, upstream.as_ref()).await?;
    tracing::debug!("credentials: {}", aws.source);
    if aws.expires.is_some_and(|at| at <= now) {
        return Err(expired(aws.source));
    }
    let endpoint = credentials::sts_endpoint(ctx, &aws.sdk, &aws.region).await?;
    tracing::debug!("STS endpoint: {endpoint}");

    let key = CacheKey {
        cluster: args.cluster.clone(),
        region: aws.region.clone(),
        endpoint: endpoint.clone(),
        role_arn: args.role_arn.clone(),
        access_key_id: aws.credentials.access_key_id().to_owned(),
    };
    let cache = if args.no_cache {
        None
    } else {
        let cache = Cache::locate(ctx);
        if cache.is_none() {
            tracing::debug!("token cache: off (neither XDG_CACHE_HOME nor HOME is set)");
        }
        cache
    };
    let hit = cache.as_ref().and_then(|c| c.load(&key, now));
    let (token, expiration, from_cache) = if let Some(hit) = hit {
        ctx.register_secret(&hit.token);
        (hit.token, hit.expiration, true)
    } else {
        let fresh = sign(ctx, &args, &aws, &endpoint, now).await?;
        if let Some(cache) = &cache {
            match cache.store(&key, &fresh) {
                Ok(path) => tracing::debug!("token cache: saved {}", path.display()),
                Err(e) => tracing::warn!(
                    "could not write the token cache in {} ({e}); every call will sign a new token",
                    cache.dir().display()
                ),
            }
        }
        (fresh.token, fresh.expiration, false)
    };
    crate::progress(
        ctx,
        &format!(
            "token for cluster {} ({}){}, valid until {}",
            args.cluster,
            aws.region,
            if from_cache { " from the cache" } else { "" },
            clock::format_rfc3339(expiration)
        ),
    );
    Ok(ExecCredential::new(
        api_version,
        token,
        clock::format_rfc3339(expiration),
    ))
}

/// A new token signed at `now`, as `--role-arn` when given.
async fn sign(
    ctx: &Ctx,
    args: &TokenArgs,
    aws: &credentials::Aws,
    endpoint: &str,
    now: jiff::Timestamp,
) -> Result<Cached, StageError> {
    let (signer, signer_expires) = match &args.role_arn {
        Some(role) => {
            crate::progress(ctx, &format!("assuming {role}"));
            credentials::assume_role(ctx, aws, role).await?
        }
        None => (aws.credentials.clone(), aws.expires),
    };
    let url = presigned_url(&TokenRequest {
        cluster: &args.cluster,
        region: &aws.region,
        endpoint,
        credentials: &signer,
        time: now.into(),
    })?;
    ctx.register_secret(&url);
    let token = token_from_url(&url);
    ctx.register_secret(&token);

    let mut expiration = now
        .checked_add(TOKEN_LIFETIME)
        .map_err(|e| StageError::usage(format!("the signing time is out of range: {e}")))?;
    if let Some(at) = signer_expires.filter(|at| *at < expiration) {
        // A token is only as good as the session that signed it: tell the client to come back
        // when the credentials run out rather than let it hold a token STS will refuse.
        tracing::debug!("the signing credentials expire before 14 minutes are up, at {at}");
        expiration = at;
    }
    Ok(Cached {
        token,
        signed_at: now,
        expiration,
    })
}

fn expired(source: &str) -> StageError {
    StageError::unauthorized(format!("the AWS credentials from {source} have expired"))
        .with_hint("get fresh ones: run `oidc-creds` again (or refresh the profile's session)")
}
