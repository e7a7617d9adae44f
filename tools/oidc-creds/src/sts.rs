//! The STS calls: `AssumeRoleWithWebIdentity` (unsigned: the token is the credential), then
//! `AssumeRole` for each `--chain-role-arn` with the credentials just obtained, then
//! `GetCallerIdentity` to confirm them and check the account.
//!
//! Retries are the SDK's standard ones (throttling, 5xx, timeouts and `IDPCommunicationError`,
//! which the STS model marks transient), bounded by `--retries`. Refusals are not retried: for
//! those we explain, showing the token's claims beside the role they were presented to.

use std::fmt::Write as _;

use aws_sdk_sts::types::PolicyDescriptorType;
use aws_types::SdkConfig;
use pipewright_aws::{AwsArgs, ProcessCredentials, retry_config, sdk_error};
use stage::{Ctx, ErrorKind, Secret, StageError};

use crate::jwt::Claims;

/// What every assume call shares.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub session_name: &'a str,
    pub duration: u32,
    pub policy: Option<&'a str>,
    pub policy_arns: &'a [String],
    pub attempts: u32,
}

/// Credentials and who they belong to.
#[derive(Debug, Clone)]
pub struct Session {
    pub credentials: ProcessCredentials,
    pub assumed_role_arn: String,
}

fn client(config: &SdkConfig, attempts: u32) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(config)
            .retry_config(retry_config(attempts))
            .build(),
    )
}

fn policy_descriptors(arns: &[String]) -> Vec<PolicyDescriptorType> {
    arns.iter()
        .map(|arn| PolicyDescriptorType::builder().arn(arn).build())
        .collect()
}

fn session_from(
    ctx: &Ctx,
    what: &str,
    credentials: Option<&aws_sdk_sts::types::Credentials>,
    user: Option<&aws_sdk_sts::types::AssumedRoleUser>,
) -> Result<Session, StageError> {
    let Some(c) = credentials else {
        return Err(StageError::unavailable(format!(
            "{what}: STS answered without credentials"
        )));
    };
    let expiration = jiff::Timestamp::new(c.expiration().secs(), 0).ok();
    let credentials = ProcessCredentials::temporary(
        c.access_key_id(),
        c.secret_access_key(),
        c.session_token(),
        expiration,
    );
    // Masked before anything else can print them (GitHub Actions masks them job-wide).
    credentials.register_secrets(ctx);
    Ok(Session {
        credentials,
        assumed_role_arn: user.map(|u| u.arn().to_owned()).unwrap_or_default(),
    })
}

/// `AssumeRoleWithWebIdentity`.
pub async fn assume_with_web_identity(
    ctx: &Ctx,
    aws: &AwsArgs,
    role_arn: &str,
    token: &Secret,
    request: &Request<'_>,
) -> Result<Session, StageError> {
    const WHAT: &str = "sts:AssumeRoleWithWebIdentity";
    let config = pipewright_aws::load_config_unsigned(ctx, aws).await?;
    let sts = client(&config, request.attempts);
    tracing::info!(
        "assuming {role_arn} with the web identity token (session {})",
        request.session_name
    );
    let out = sts
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(request.session_name)
        .web_identity_token(token.expose())
        .duration_seconds(i32::try_from(request.duration).unwrap_or(i32::MAX))
        .set_policy(request.policy.map(str::to_owned))
        .set_policy_arns(Some(policy_descriptors(request.policy_arns)).filter(|p| !p.is_empty()))
        .send()
        .await
        .map_err(|e| explain(sdk_error(WHAT, &e), role_arn, token))?;
    session_from(ctx, WHAT, out.credentials(), out.assumed_role_user())
}

/// `AssumeRole` with the credentials of the previous session (a chained role).
pub async fn assume_chained(
    ctx: &Ctx,
    aws: &AwsArgs,
    previous: &Session,
    role_arn: &str,
    request: &Request<'_>,
) -> Result<Session, StageError> {
    const WHAT: &str = "sts:AssumeRole";
    let config = pipewright_aws::load_config(ctx, aws, Some(&previous.credentials)).await?;
    let sts = client(&config, request.attempts);
    tracing::info!("assuming {role_arn} as {}", previous.assumed_role_arn);
    // Role chaining caps sessions at one hour, whatever the role allows.
    let duration = request.duration.min(3600);
    if duration < request.duration {
        tracing::warn!("a chained role session lasts at most 3600 s; asking {role_arn} for 3600 s");
    }
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(request.session_name)
        .duration_seconds(i32::try_from(duration).unwrap_or(3600))
        .send()
        .await
        .map_err(|e| {
            let error = sdk_error(WHAT, &e);
            if error.kind() == ErrorKind::Unauthorized {
                let hint = format!(
                    "{role_arn}'s trust policy must allow sts:AssumeRole (and sts:TagSession if used) by {}, \
                     and that role's permissions must allow sts:AssumeRole on {role_arn}",
                    previous.assumed_role_arn
                );
                error.with_hint(hint)
            } else {
                error
            }
        })?;
    session_from(ctx, WHAT, out.credentials(), out.assumed_role_user())
}

/// `GetCallerIdentity`: the account and ARN the credentials really act as.
pub async fn caller_identity(
    ctx: &Ctx,
    aws: &AwsArgs,
    session: &Session,
    attempts: u32,
) -> Result<(String, String), StageError> {
    let config = pipewright_aws::load_config(ctx, aws, Some(&session.credentials)).await?;
    let out = client(&config, attempts)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error("sts:GetCallerIdentity", &e))?;
    Ok((
        out.account().unwrap_or_default().to_owned(),
        out.arn().unwrap_or_default().to_owned(),
    ))
}

/// When STS refuses the token, show what the token claims beside the role it was presented to,
/// so the trust policy's conditions can be compared line by line. Claims are not secret; the
/// token is never shown.
fn explain(error: StageError, role_arn: &str, token: &Secret) -> StageError {
    if error.kind() != ErrorKind::Unauthorized {
        return error;
    }
    let Some(claims) = Claims::decode(token.expose()) else {
        return error.with_hint(
            "the web identity token is not a JWT: check --token-file / AWS_WEB_IDENTITY_TOKEN_FILE",
        );
    };
    let lines = claims.explanation();
    for line in &lines {
        tracing::error!("token claim {line}");
    }
    let mut message = format!(
        "{}; the token's claims: {}",
        error.message(),
        lines.join("; ")
    );
    if let Some(exp) = claims.expires()
        && exp <= jiff::Timestamp::now()
    {
        let _ = write!(message, "; the token expired at {exp}");
    }
    let hint = format!(
        "compare these claims with the trust policy of {role_arn}: its Principal.Federated must be \
         the OIDC provider for iss, token.actions.githubusercontent.com:aud must match aud \
         (default sts.amazonaws.com, see --audience), and the :sub condition must match sub \
         (e.g. repo:OWNER/REPO:ref:refs/heads/main or repo:OWNER/REPO:environment:NAME); \
         the provider must exist in the role's account"
    );
    StageError::new(error.kind(), message).with_hint(hint)
}
