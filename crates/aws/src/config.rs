//! The `SdkConfig` every AWS tool builds its clients from: which credentials, which region, and
//! one retry and timeout policy, so every tool behaves the same way when AWS is slow or throttles.
//!
//! Endpoints need nothing here: aws-config itself honours `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>` (and `endpoint_url` in the profile), which is how the tests point
//! the tools at moto.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::ProvideRegion;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use stage::{Ctx, StageError};

use crate::credentials::ProcessCredentials;

/// Attempts per request, the first included, unless a tool says otherwise: enough to ride out a
/// burst of throttling (about 3 s of backoff in total), few enough that an outage fails quickly.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// How long to wait for a TCP/TLS connection. AWS endpoints answer in milliseconds; a few seconds
/// without an answer means a network problem, better retried than waited on.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a response may stall between bytes.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The most one attempt may take, connection and response together.
pub const OPERATION_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The region and profile flags of every AWS tool. Flatten into the tool's `Cli`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AwsArgs {
    /// The region (`--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`).
    #[arg(
        long,
        env = "AWS_REGION",
        value_name = "REGION",
        global = true,
        hide_env = true,
        help = "AWS region, e.g. eu-west-1 [env: AWS_REGION, then AWS_DEFAULT_REGION, then the profile's region]"
    )]
    pub region: Option<String>,
    /// A named profile of the AWS config files, for region and credentials.
    #[arg(long, env = "AWS_PROFILE", value_name = "NAME", global = true)]
    pub profile: Option<String>,
}

/// The standard retry policy: exponential backoff with full jitter from 200 ms up to 20 s, retrying
/// throttling, 5xx answers, timeouts and connection failures, at most `max_attempts` attempts
/// (the first included; 1 disables retries).
pub fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20))
}

/// Connect, read and per-attempt timeouts (see the constants).
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .operation_attempt_timeout(OPERATION_ATTEMPT_TIMEOUT)
        .build()
}

/// The region to use: `--region` (or `AWS_REGION`), else `AWS_DEFAULT_REGION`, else the profile's
/// `region`. Instance metadata is deliberately not asked: off EC2 that lookup costs a timeout on
/// every run, and a CI job always knows its region.
pub async fn resolve_region(ctx: &Ctx, args: &AwsArgs) -> Result<String, StageError> {
    let given = args
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| (r.to_owned(), "--region"))
        .or_else(|| {
            ctx.env("AWS_DEFAULT_REGION")
                .map(|r| (r.trim().to_owned(), "AWS_DEFAULT_REGION"))
        });
    let (region, source) = if let Some(found) = given {
        found
    } else {
        let mut provider = aws_config::profile::ProfileFileRegionProvider::builder();
        if let Some(profile) = &args.profile {
            provider = provider.profile_name(profile);
        }
        match provider.build().region().await {
            Some(region) => (region.as_ref().to_owned(), "the AWS profile"),
            None => {
                return Err(StageError::usage("no AWS region configured")
                    .with_hint("pass --region or set AWS_REGION (e.g. AWS_REGION=eu-west-1)"));
            }
        }
    };
    if !is_region_name(&region) {
        return Err(StageError::usage(format!(
            "AWS region {region:?} (from {source}) is not a region name"
        ))
        .with_hint(
            "region names look like us-east-1 or eu-west-2; pass --region or set AWS_REGION",
        ));
    }
    Ok(region)
}

/// Region names are lower-case letters, digits and dashes (`us-gov-west-1`, `eu-central-2`).
/// Checking locally turns a typo into a usage error instead of a failed endpoint lookup.
fn is_region_name(region: &str) -> bool {
    (2..=50).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-')
}

/// The `SdkConfig` for an AWS tool: `credentials` when given (a document from `oidc-creds`), else
/// the standard chain (environment, profile with SSO and `credential_process`, web identity,
/// container and instance metadata); the region from [`resolve_region`]; the standard retry
/// policy ([`retry_config`] with [`DEFAULT_MAX_ATTEMPTS`]) and [`timeout_config`].
///
/// A tool that needs a different number of attempts rebuilds it:
/// `config.to_builder().retry_config(retry_config(n)).build()`.
pub async fn load_config(
    ctx: &Ctx,
    args: &AwsArgs,
    credentials: Option<&ProcessCredentials>,
) -> Result<SdkConfig, StageError> {
    let loader = loader(ctx, args).await?;
    let loader = if let Some(credentials) = credentials {
        credentials.register_secrets(ctx);
        tracing::debug!("AWS credentials: from the credential document given");
        loader.credentials_provider(credentials.to_sdk())
    } else {
        tracing::debug!(
            "AWS credentials: the standard chain (environment, profile, web identity, instance metadata)"
        );
        loader
    };
    Ok(loader.load().await)
}

/// Like [`load_config`] but without any credentials: requests go out unsigned. For the few calls
/// that authenticate by their payload, such as STS `AssumeRoleWithWebIdentity`, where looking for
/// credentials would only cost time (and, on a machine with keys, sign with the wrong identity).
pub async fn load_config_unsigned(ctx: &Ctx, args: &AwsArgs) -> Result<SdkConfig, StageError> {
    Ok(loader(ctx, args).await?.no_credentials().load().await)
}

async fn loader(ctx: &Ctx, args: &AwsArgs) -> Result<aws_config::ConfigLoader, StageError> {
    let region = resolve_region(ctx, args).await?;
    tracing::debug!("AWS region: {region}");
    for name in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"] {
        if let Some(url) = ctx.env(name) {
            tracing::debug!("AWS endpoint override: {name}={url}");
        }
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .retry_config(retry_config(DEFAULT_MAX_ATTEMPTS))
        .timeout_config(timeout_config());
    if let Some(profile) = args.profile.as_deref().filter(|p| !p.is_empty()) {
        loader = loader.profile_name(profile);
    }
    Ok(loader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for good in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1"] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "US-EAST-1",
            "us east 1",
            "-us-east-1",
            "us-east-1-",
            "x",
            "eu_west_1",
        ] {
            assert!(!is_region_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn retry_policy_is_standard_bounded_and_never_zero() {
        let rc = retry_config(DEFAULT_MAX_ATTEMPTS);
        assert_eq!(rc.mode(), aws_smithy_types::retry::RetryMode::Standard);
        assert_eq!(rc.max_attempts(), 5);
        assert!(!rc.use_static_exponential_base(), "jitter stays on");
        assert_eq!(retry_config(0).max_attempts(), 1);
    }

    #[test]
    fn timeouts_are_all_set() {
        let t = timeout_config();
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.read_timeout(), Some(READ_TIMEOUT));
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(OPERATION_ATTEMPT_TIMEOUT)
        );
    }
}
