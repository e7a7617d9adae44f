//! `oidc-creds revoke-sessions`: what the IAM console's "Revoke active sessions" does. An inline
//! policy on the role denies everything to sessions whose token was issued before now, so every
//! credential handed out so far stops working while new sessions are unaffected.
//!
//! Needs `iam:PutRolePolicy` on the role, with credentials from the standard chain.

use pipewright_aws::{AwsArgs, load_config, retry_config, sdk_error};
use stage::{Ctx, StageError};

/// The inline policy's name, the one the IAM console uses, so both tools manage the same policy.
pub const DEFAULT_POLICY_NAME: &str = "AWSRevokeOlderSessions";

/// The deny-all policy for sessions issued before `cutoff`.
pub fn policy_document(cutoff: jiff::Timestamp) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": { "DateLessThan": { "aws:TokenIssueTime": cutoff.to_string() } }
        }]
    })
    .to_string()
}

/// A role name, or the name part of a role ARN.
pub fn role_name(arg: &str) -> Result<String, StageError> {
    if arg.starts_with("arn:") {
        return crate::input::parse_role_arn("--role-name", arg).map(|arn| arn.name);
    }
    if arg.is_empty() || arg.len() > 64 || !arg.chars().all(crate::input::is_name_char) {
        return Err(StageError::usage(format!(
            "--role-name {arg:?} is not an IAM role name (1-64 letters, digits or +=,.@_-)"
        ))
        .with_hint(
            "pass the role's name (deploy) or its ARN (arn:aws:iam::123456789012:role/deploy)",
        ));
    }
    Ok(arg.to_owned())
}

/// Puts the policy; returns the cutoff time it used.
pub async fn revoke(
    ctx: &Ctx,
    aws: &AwsArgs,
    role: &str,
    policy_name: &str,
    attempts: u32,
) -> Result<jiff::Timestamp, StageError> {
    let config = load_config(ctx, aws, None).await?;
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&config)
            .retry_config(retry_config(attempts))
            .build(),
    );
    // Whole seconds: IAM compares with second precision, and a cutoff in the past by a fraction
    // of a second would spare a session issued in that fraction.
    let now = jiff::Timestamp::now();
    let cutoff = jiff::Timestamp::from_second(now.as_second() + 1).unwrap_or(now);
    tracing::info!("revoking sessions of role {role} issued before {cutoff}");
    iam.put_role_policy()
        .role_name(role)
        .policy_name(policy_name)
        .policy_document(policy_document(cutoff))
        .send()
        .await
        .map_err(|e| {
            let error = sdk_error("iam:PutRolePolicy", &e);
            if error.kind() == stage::ErrorKind::Unauthorized {
                let hint = format!(
                    "revoking needs iam:PutRolePolicy on arn:aws:iam::ACCOUNT:role/{role} for the identity in use"
                );
                error.with_hint(hint)
            } else {
                error
            }
        })?;
    Ok(cutoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_denies_everything_issued_before_the_cutoff() {
        let cutoff: jiff::Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&policy_document(cutoff)).unwrap();
        let statement = &doc["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(statement["Action"][0], "*");
        assert_eq!(
            statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2030-01-01T00:00:00Z"
        );
    }

    #[test]
    fn role_names_and_arns() {
        assert_eq!(role_name("deploy").unwrap(), "deploy");
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/ci/deploy").unwrap(),
            "deploy"
        );
        assert_eq!(role_name("has space").unwrap_err().exit_code(), 2);
    }
}
