//! Who signs: the credentials piped in by `oidc-creds` (a `credential_process` document on stdin),
//! else the standard AWS chain; then, with `--role-arn`, a role assumed with those. And where the
//! signed request points: the regional STS endpoint, unless `AWS_ENDPOINT_URL_STS` or
//! `AWS_ENDPOINT_URL` (or the profile's `endpoint_url`) says otherwise.

use std::time::SystemTime;

use aws_config::Region;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_types::SdkConfig;
use pipewright_aws::{AwsArgs, ProcessCredentials};
use serde::Deserialize;
use stage::{Ctx, Secret, StageError};

/// The upstream document eks-token reads: any document with `credential_process` fields
/// (`oidc-creds` prints one, with its envelope and `AssumedRoleArn` beside them; other fields are
/// ignored). Its `Region`, when there is one, is the default region.
#[derive(Debug, Clone, Deserialize)]
pub struct Upstream {
    #[serde(flatten)]
    pub credentials: ProcessCredentials,
    #[serde(rename = "Region", default)]
    pub region: Option<String>,
}

/// The session name of `--role-arn` sessions, as it shows in `CloudTrail`.
pub const ROLE_SESSION_NAME: &str = "pipewright-eks-token";

/// An SDK configuration with its resolved region and credentials.
#[derive(Debug)]
pub struct Aws {
    pub sdk: SdkConfig,
    pub region: String,
    pub credentials: Credentials,
    pub expires: Option<jiff::Timestamp>,
    /// Where the credentials came from, for `-v`.
    pub source: &'static str,
}

/// Loads the SDK configuration and resolves the credentials once (the cache key needs their
/// identity before anything is signed). Every secret is registered before anything could print it.
pub async fn connect(
    ctx: &Ctx,
    args: &AwsArgs,
    upstream: Option<&Upstream>,
) -> Result<Aws, StageError> {
    let mut args = args.clone();
    if let Some(upstream) = upstream {
        upstream.credentials.register_secrets(ctx);
        upstream.credentials.validate()?;
        if args.region.is_none() {
            args.region.clone_from(&upstream.region);
        }
    }
    let from_env = if upstream.is_none() {
        environment_credentials(ctx)
    } else {
        None
    };
    let document = upstream.map(|u| &u.credentials).or(from_env.as_ref());
    let sdk = pipewright_aws::load_config(ctx, &args, document).await?;
    let region = sdk.region().map(Region::to_string).ok_or_else(|| {
        StageError::usage("no AWS region configured").with_hint("pass --region or set AWS_REGION")
    })?;
    let provider = sdk.credentials_provider().ok_or_else(no_credentials)?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| credentials_error(&e))?;
    register(ctx, &credentials);
    let source = if upstream.is_some() {
        "the credential document on stdin"
    } else if from_env.is_some() {
        "the environment (AWS_ACCESS_KEY_ID)"
    } else {
        "the standard AWS credential chain"
    };
    Ok(Aws {
        expires: credentials.expiry().and_then(timestamp),
        sdk,
        region,
        credentials,
        source,
    })
}

/// The environment's keys, exactly as the standard chain's first provider would take them.
///
/// Taking them here rather than through the chain is about speed: building aws-config's default
/// chain builds its web-identity provider's STS client, and with it an HTTPS client that loads
/// every system root certificate, a few milliseconds per run even though the keys are right there
/// and nothing is sent. An exec plugin runs on every kubectl command, so those milliseconds count.
fn environment_credentials(ctx: &Ctx) -> Option<ProcessCredentials> {
    let access_key_id = ctx.env("AWS_ACCESS_KEY_ID")?;
    let secret_access_key = ctx.env("AWS_SECRET_ACCESS_KEY")?;
    Some(ProcessCredentials {
        version: 1,
        access_key_id: Secret::new(access_key_id),
        secret_access_key: Secret::new(secret_access_key),
        session_token: ctx.env("AWS_SESSION_TOKEN").map(Secret::new),
        // As the SDK's environment provider: an expiry that does not parse is no expiry.
        expiration: ctx
            .env("AWS_CREDENTIAL_EXPIRATION")
            .filter(|t| t.parse::<jiff::Timestamp>().is_ok())
            .map(str::to_owned),
    })
}

/// Credentials for `role_arn`, assumed with `aws`'s (`sts:AssumeRole`).
pub async fn assume_role(
    ctx: &Ctx,
    aws: &Aws,
    role_arn: &str,
) -> Result<(Credentials, Option<jiff::Timestamp>), StageError> {
    // The credentials already resolved sign the call: the chain is not walked a second time.
    let config = aws_sdk_sts::config::Builder::from(&aws.sdk)
        .credentials_provider(aws.credentials.clone())
        .build();
    let client = aws_sdk_sts::Client::from_conf(config);
    let answer = client
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(ROLE_SESSION_NAME)
        .send()
        .await
        .map_err(|e| pipewright_aws::sdk_error("sts:AssumeRole", &e))?;
    let Some(creds) = answer.credentials() else {
        return Err(StageError::failed(format!(
            "sts:AssumeRole for {role_arn} answered without credentials"
        )));
    };
    let expires = jiff::Timestamp::from_second(creds.expiration().secs()).ok();
    let credentials = Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        expires.map(SystemTime::from),
        "AssumeRole",
    );
    register(ctx, &credentials);
    Ok((credentials, expires))
}

/// The STS endpoint the token's URL points at. `AWS_ENDPOINT_URL_STS` first, then the general
/// override (`AWS_ENDPOINT_URL` or the profile's `endpoint_url`, which aws-config put in `sdk`),
/// unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`; else STS's own endpoint rules for the region
/// with the global endpoint off: `https://sts.<region>.amazonaws.com`, the partition's domain in
/// China and ISO regions, FIPS and dual-stack when configured.
pub async fn sts_endpoint(ctx: &Ctx, sdk: &SdkConfig, region: &str) -> Result<String, StageError> {
    let ignore = ctx
        .env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !ignore {
        let configured = ctx
            .env("AWS_ENDPOINT_URL_STS")
            .map(|url| (url.to_owned(), "AWS_ENDPOINT_URL_STS"))
            .or_else(|| {
                sdk.endpoint_url()
                    .map(|url| (url.to_owned(), "AWS_ENDPOINT_URL"))
            });
        if let Some((url, source)) = configured {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(
                    StageError::usage(format!("{source}={url:?} is not an http(s) URL"))
                        .with_hint("e.g. https://sts.eu-west-1.amazonaws.com, or unset it"),
                );
            }
            return Ok(url);
        }
    }
    let params = Params::builder()
        .region(region)
        .use_fips(sdk.use_fips().unwrap_or(false))
        .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
        .use_global_endpoint(false)
        .build()
        .map_err(|e| StageError::usage(format!("no STS endpoint for region {region}: {e}")))?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| {
            StageError::usage(format!("no STS endpoint for region {region}: {e}"))
                .with_hint("check --region / AWS_REGION, or set AWS_ENDPOINT_URL_STS")
        })?;
    Ok(endpoint.url().to_owned())
}

fn register(ctx: &Ctx, credentials: &Credentials) {
    ctx.register_secret(&Secret::new(credentials.access_key_id()));
    ctx.register_secret(&Secret::new(credentials.secret_access_key()));
    if let Some(token) = credentials.session_token() {
        ctx.register_secret(&Secret::new(token));
    }
}

fn timestamp(time: SystemTime) -> Option<jiff::Timestamp> {
    jiff::Timestamp::try_from(time).ok()
}

const CHAIN_HINT: &str = "pipe in the output of `oidc-creds`, or give the standard chain something: \
     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (with SSO or credential_process), \
     AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, or an instance role";

fn no_credentials() -> StageError {
    StageError::usage("no AWS credentials found").with_hint(CHAIN_HINT)
}

fn credentials_error(err: &CredentialsError) -> StageError {
    let mut detail = err.to_string();
    let mut next = std::error::Error::source(err);
    while let Some(e) = next {
        detail.push_str(": ");
        detail.push_str(&e.to_string());
        next = e.source();
    }
    match err {
        CredentialsError::CredentialsNotLoaded(_) => {
            StageError::usage(format!("no AWS credentials found: {detail}")).with_hint(CHAIN_HINT)
        }
        CredentialsError::InvalidConfiguration(_) => StageError::usage(format!(
            "the AWS credential configuration is invalid: {detail}"
        ))
        .with_hint("check the profile in ~/.aws/config (AWS_PROFILE, --profile)"),
        CredentialsError::ProviderTimedOut(_) => StageError::unavailable(format!(
            "the AWS credential source did not answer in time: {detail}"
        )),
        CredentialsError::ProviderError(_) => StageError::unauthorized(format!(
            "the AWS credential source failed: {detail}"
        ))
        .with_hint(
            "for SSO profiles run `aws sso login`; otherwise check the profile's credential source",
        ),
        _ => StageError::unavailable(format!("could not load AWS credentials: {detail}")),
    }
}
