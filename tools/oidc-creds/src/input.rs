//! Checks of what the user gave us, done locally before anything is sent: a malformed role ARN,
//! session name, duration or policy is a usage error (exit 2) that says where and how to fix it,
//! instead of a round trip to STS and its terser `ValidationError`.

use std::path::Path;

use stage::StageError;

/// STS's limits on `DurationSeconds`: 15 minutes to 12 hours (the role's own maximum may be lower;
/// STS says so when it is).
pub const MIN_DURATION: u32 = 900;
pub const MAX_DURATION: u32 = 43_200;

/// STS's limit on the inline session policy, in characters of the compacted JSON.
const MAX_POLICY_CHARS: usize = 2048;

/// A parsed IAM role ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub arn: String,
    pub partition: String,
    pub account: String,
    pub name: String,
}

fn is_partition(p: &str) -> bool {
    matches!(p, "aws" | "aws-cn" | "aws-us-gov")
        || (p.starts_with("aws-iso") && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        || p == "aws-eusc"
}

/// STS's character class for names: `[\w+=,.@-]`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Parses `arn:<partition>:iam::<12-digit account>:role/<optional/path/><name>`.
pub fn parse_role_arn(flag: &str, text: &str) -> Result<RoleArn, StageError> {
    let bad = |why: &str| {
        StageError::usage(format!("{flag} {text:?} is not an IAM role ARN: {why}")).with_hint(
            "role ARNs look like arn:aws:iam::123456789012:role/deploy (copy it from the role's page in the IAM console)",
        )
    };
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(bad("it needs six ':'-separated parts"));
    };
    if *arn != "arn" {
        return Err(bad("it must start with arn:"));
    }
    if !is_partition(partition) {
        return Err(bad(
            "unknown partition (expected aws, aws-cn or aws-us-gov)",
        ));
    }
    if *service != "iam" {
        return Err(bad("the service part must be iam"));
    }
    if !region.is_empty() {
        return Err(bad(
            "IAM ARNs have no region (arn:aws:iam::ACCOUNT:role/NAME)",
        ));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the account must be 12 digits"));
    }
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Err(bad("the resource must be role/NAME"));
    };
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name.len() > 64 || !name.chars().all(is_name_char) {
        return Err(bad("the role name must be 1-64 letters, digits or +=,.@_-"));
    }
    if path_and_name.len() > 512 + 64 || !path_and_name.chars().all(|c| is_name_char(c) || c == '/')
    {
        return Err(bad("the role path has characters IAM does not allow"));
    }
    Ok(RoleArn {
        arn: text.to_owned(),
        partition: (*partition).to_owned(),
        account: (*account).to_owned(),
        name: name.to_owned(),
    })
}

/// Checks a managed policy ARN (`arn:aws:iam::aws:policy/ReadOnlyAccess`,
/// `arn:aws:iam::123456789012:policy/deploy-scope`).
pub fn check_policy_arn(text: &str) -> Result<(), StageError> {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let ok = match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource] => {
            is_partition(partition)
                && (*account == "aws"
                    || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
                && resource.strip_prefix("policy/").is_some_and(|n| {
                    !n.is_empty() && n.chars().all(|c| is_name_char(c) || c == '/')
                })
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(StageError::usage(format!("--policy-arn {text:?} is not an IAM managed policy ARN"))
            .with_hint("policy ARNs look like arn:aws:iam::aws:policy/ReadOnlyAccess or arn:aws:iam::123456789012:policy/NAME"))
    }
}

/// Turns any text into a valid STS role session name: characters outside `[\w+=,.@-]` become
/// `-`, the result is cut to 64 characters, and a too-short result is padded.
pub fn sanitize_session_name(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| if is_name_char(c) { c } else { '-' })
        .take(64)
        .collect();
    if name.is_empty() {
        name.push_str("oidc-creds");
    } else if name.len() < 2 {
        name.push_str("-session");
    }
    name
}

/// Whether STS accepts `name` as a role session name.
pub fn is_valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len()) && name.chars().all(is_name_char)
}

/// The default session name: `<owner>-<repo>-<run id>-<attempt>` under GitHub Actions, so
/// `CloudTrail` shows which run did what; `oidc-creds` elsewhere. The run id is kept whole and the
/// repository shortened when the result would exceed STS's 64 characters.
pub fn default_session_name(
    repository: Option<&str>,
    run_id: Option<&str>,
    attempt: Option<&str>,
) -> String {
    let mut suffix = String::new();
    if let Some(run) = run_id {
        suffix.push('-');
        suffix.push_str(run);
    }
    if let Some(attempt) = attempt {
        suffix.push('-');
        suffix.push_str(attempt);
    }
    let suffix = sanitize_session_name(&suffix);
    let Some(repository) = repository else {
        return if run_id.is_some() {
            sanitize_session_name(&format!("gh{suffix}"))
        } else {
            "oidc-creds".to_owned()
        };
    };
    let room = 64usize.saturating_sub(if run_id.is_some() { suffix.len() } else { 0 });
    let repo: String = sanitize_session_name(repository)
        .chars()
        .take(room.max(2))
        .collect();
    if run_id.is_some() {
        sanitize_session_name(&format!("{repo}{suffix}"))
    } else {
        repo
    }
}

/// Checks the session name the user chose; an invalid one is refused (with a valid suggestion)
/// rather than silently changed.
pub fn check_session_name(name: &str) -> Result<(), StageError> {
    if is_valid_session_name(name) {
        return Ok(());
    }
    Err(StageError::usage(format!(
        "--session-name {name:?} is not a valid STS session name (2-64 letters, digits or +=,.@_-)"
    ))
    .with_hint(format!(
        "for example --session-name {}",
        sanitize_session_name(name)
    )))
}

/// Checks `--duration` against STS's limits.
pub fn check_duration(seconds: u32) -> Result<(), StageError> {
    if seconds < MIN_DURATION {
        return Err(StageError::usage(format!(
            "--duration {seconds} is below STS's minimum of {MIN_DURATION} seconds (15 minutes)"
        ))
        .with_hint("pass --duration 900 or more; the default is 3600"));
    }
    if seconds > MAX_DURATION {
        return Err(StageError::usage(format!(
            "--duration {seconds} is above STS's maximum of {MAX_DURATION} seconds (12 hours)"
        ))
        .with_hint("pass at most the role's MaxSessionDuration (1 hour unless raised)"));
    }
    Ok(())
}

/// The inline session policy: `--policy` is JSON itself, or `@PATH` / a path to a file holding it.
/// Returned compacted, as STS counts its size that way.
pub fn load_policy(arg: &str) -> Result<(String, Option<std::path::PathBuf>), StageError> {
    let trimmed = arg.trim_start();
    let (text, path) = if trimmed.starts_with('{') {
        (arg.to_owned(), None)
    } else {
        let path = Path::new(arg.strip_prefix('@').unwrap_or(arg));
        let text = std::fs::read_to_string(path).map_err(|e| {
            StageError::usage(format!(
                "--policy {}: cannot read the file: {e}",
                path.display()
            ))
            .with_hint("pass the policy JSON itself, or @FILE / a path to a file holding it")
        })?;
        (text, Some(path.to_path_buf()))
    };
    let where_ = path.as_ref().map_or_else(
        || "--policy".to_owned(),
        |p| format!("--policy {}", p.display()),
    );
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        StageError::invalid_input(format!(
            "{where_}: not JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
        .with_hint(
            "a session policy is IAM policy JSON: {\"Version\":\"2012-10-17\",\"Statement\":[…]}",
        )
    })?;
    if value.get("Statement").is_none() {
        return Err(StageError::invalid_input(format!(
            "{where_}: the policy has no Statement"
        ))
        .with_hint("a session policy is IAM policy JSON: {\"Version\":\"2012-10-17\",\"Statement\":[…]}"));
    }
    let compact = value.to_string();
    if compact.len() > MAX_POLICY_CHARS {
        return Err(StageError::invalid_input(format!(
            "{where_}: the policy is {} characters once compacted; STS takes at most {MAX_POLICY_CHARS}",
            compact.len()
        ))
        .with_hint("move permissions into managed policies and pass them with --policy-arn"));
    }
    Ok((compact, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn role_arns() {
        let arn = parse_role_arn("--role-arn", "arn:aws:iam::123456789012:role/deploy").unwrap();
        assert_eq!(arn.account, "123456789012");
        assert_eq!(arn.name, "deploy");
        let arn = parse_role_arn(
            "--role-arn",
            "arn:aws-us-gov:iam::123456789012:role/ci/gh/deploy@x",
        )
        .unwrap();
        assert_eq!(arn.name, "deploy@x");
        for bad in [
            "",
            "deploy",
            "arn:aws:iam::123456789012:user/deploy",
            "arn:aws:iam::12345:role/deploy",
            "arn:aws:sts::123456789012:role/deploy",
            "arn:aws:iam:us-east-1:123456789012:role/deploy",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/has space",
            "arn:azure:iam::123456789012:role/deploy",
        ] {
            let err = parse_role_arn("--role-arn", bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.message().contains("--role-arn"), "{}", err.message());
        }
    }

    #[test]
    fn policy_arns() {
        check_policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap();
        check_policy_arn("arn:aws:iam::123456789012:policy/team/deploy").unwrap();
        assert!(check_policy_arn("arn:aws:iam::aws:role/x").is_err());
        assert!(check_policy_arn("ReadOnlyAccess").is_err());
    }

    #[test]
    fn default_session_names() {
        assert_eq!(
            default_session_name(Some("octo/web"), Some("123456"), Some("2")),
            "octo-web-123456-2"
        );
        assert_eq!(default_session_name(None, None, None), "oidc-creds");
        let long = format!("org/{}", "r".repeat(100));
        let name = default_session_name(Some(&long), Some("9876543210"), Some("1"));
        assert!(is_valid_session_name(&name), "{name}");
        assert!(
            name.ends_with("-9876543210-1"),
            "the run id survives: {name}"
        );
    }

    #[test]
    fn durations() {
        check_duration(900).unwrap();
        check_duration(3600).unwrap();
        assert!(check_duration(899).unwrap_err().message().contains("900"));
        assert!(check_duration(43_201).is_err());
    }

    #[test]
    fn inline_and_file_policies() {
        let (p, path) = load_policy(r#"{ "Version": "2012-10-17", "Statement": [] }"#).unwrap();
        assert_eq!(p, r#"{"Statement":[],"Version":"2012-10-17"}"#);
        assert!(path.is_none());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#).unwrap();
        let (_, path) = load_policy(&format!("@{}", file.display())).unwrap();
        assert_eq!(path.as_deref(), Some(file.as_path()));
        assert_eq!(load_policy("{not json").unwrap_err().exit_code(), 2);
        assert!(
            load_policy("@/nonexistent/p.json")
                .unwrap_err()
                .message()
                .contains("cannot read")
        );
        assert!(
            load_policy(r#"{"Version":"2012-10-17"}"#)
                .unwrap_err()
                .message()
                .contains("Statement")
        );
    }

    proptest! {
        #[test]
        fn sanitised_session_names_are_always_valid(text in ".{0,200}") {
            let name = sanitize_session_name(&text);
            prop_assert!(is_valid_session_name(&name), "{:?} -> {:?}", text, name);
        }

        #[test]
        fn default_session_names_are_always_valid(
            repo in proptest::option::of(".{0,120}"),
            run in proptest::option::of("[0-9]{1,20}"),
            attempt in proptest::option::of(".{0,5}"),
        ) {
            let name = default_session_name(repo.as_deref(), run.as_deref(), attempt.as_deref());
            prop_assert!(is_valid_session_name(&name), "{:?}", name);
        }

        #[test]
        fn valid_names_pass_through_unchanged(name in "[A-Za-z0-9_+=,.@-]{2,64}") {
            prop_assert_eq!(sanitize_session_name(&name), name);
        }
    }
}
