//! Where the credentials go: the stdout document (the default), a file written 0600, `export`
//! lines, the job's `$GITHUB_ENV`, or an AWS config profile that runs `oidc-creds` itself as its
//! `credential_process` so SDKs refresh credentials on their own.
//!
//! Whenever the secrets go somewhere other than stdout, the stdout document leaves them out.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use pipewright_aws::ProcessCredentials;
use stage::{Ctx, StageError};

/// The output formats.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The stage document with the `credential_process` fields.
    #[default]
    #[value(
        help = "The stage document with AWS's credential_process fields (also what credential_process and eks-token read)"
    )]
    Json,
    /// `export AWS_…=…` lines for a POSIX shell, written to --output-file
    Env,
    /// Appended to `$GITHUB_ENV`.
    #[value(help = "Append the credentials and region to the job's $GITHUB_ENV for later steps")]
    GithubEnv,
    /// An AWS config profile running `oidc-creds`.
    #[value(
        help = "Write a profile to the AWS config file whose credential_process runs oidc-creds"
    )]
    AwsConfig,
}

/// Writes `contents` to `path`, readable by the owner only, with the one private-file writer
/// ([`stage::private_file`]): a new 0600 file renamed over the target, never through a symlink.
pub fn write_private(path: &Path, contents: &str) -> Result<(), StageError> {
    stage::private_file::write(
        path,
        contents.as_bytes(),
        stage::private_file::Links::Refuse,
        stage::private_file::Dir::Any,
    )
    .map(drop)
    .map_err(|e| {
        StageError::invalid_input(format!("--output-file: cannot write it: {e}"))
            .with_hint("choose a path in a directory you can write to, not a symbolic link")
    })
}

/// Single-quotes a value for a POSIX shell (and for AWS config's `credential_process`, which
/// SDKs split with shell rules).
pub fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b))
    {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `export` lines for the credentials and region.
pub fn env_lines(credentials: &ProcessCredentials, region: &str) -> String {
    let mut out = String::new();
    for (name, value) in variables(credentials, region) {
        let _ = writeln!(out, "export {name}={}", shell_quote(&value));
    }
    out
}

fn variables(credentials: &ProcessCredentials, region: &str) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        (
            "AWS_ACCESS_KEY_ID",
            credentials.access_key_id.expose().to_owned(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key.expose().to_owned(),
        ),
    ];
    if let Some(token) = &credentials.session_token {
        vars.push(("AWS_SESSION_TOKEN", token.expose().to_owned()));
    }
    vars.push(("AWS_REGION", region.to_owned()));
    vars.push(("AWS_DEFAULT_REGION", region.to_owned()));
    vars
}

/// The `$GITHUB_ENV` entries, each in the runner's multi-line form
/// `NAME<<DELIMITER\nVALUE\nDELIMITER`, whose delimiter cannot occur in the value: a value can
/// then never inject a variable of its own, whatever characters it holds.
pub fn github_env_entries(credentials: &ProcessCredentials, region: &str) -> String {
    let mut out = String::new();
    for (name, value) in variables(credentials, region) {
        let mut delimiter = format!("ghadelimiter_{}", crate::token::backoff(20).as_nanos());
        while value.contains(&delimiter) {
            delimiter.push('_');
        }
        let _ = write!(out, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
    }
    out
}

/// Appends to the file named by `$GITHUB_ENV`.
pub fn append_github_env(ctx: &Ctx, entries: &str) -> Result<PathBuf, StageError> {
    let Some(path) = ctx.env("GITHUB_ENV").map(PathBuf::from) else {
        return Err(StageError::usage(
            "--format github-env needs $GITHUB_ENV, which only GitHub Actions steps have",
        )
        .with_hint("outside GitHub Actions use --format env --output-file FILE, then `. FILE`"));
    };
    let fail = |e: std::io::Error| {
        StageError::invalid_input(format!(
            "$GITHUB_ENV {}: cannot append to it: {e}",
            path.display()
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(fail)?;
    file.write_all(entries.as_bytes()).map_err(fail)?;
    Ok(path)
}

/// The AWS config file: `$AWS_CONFIG_FILE`, else `~/.aws/config`.
pub fn aws_config_path(ctx: &Ctx) -> Result<PathBuf, StageError> {
    if let Some(path) = ctx.env("AWS_CONFIG_FILE") {
        return Ok(PathBuf::from(path));
    }
    let home = ctx
        .env("HOME")
        .or_else(|| ctx.env("USERPROFILE"))
        .ok_or_else(|| {
            StageError::usage(
                "cannot find the AWS config file: neither AWS_CONFIG_FILE nor HOME is set",
            )
            .with_hint("set AWS_CONFIG_FILE to the file to write the profile into")
        })?;
    Ok(Path::new(home).join(".aws").join("config"))
}

/// The section header of a profile in the config file.
fn section_name(profile: &str) -> String {
    if profile == "default" {
        "[default]".to_owned()
    } else {
        format!("[profile {profile}]")
    }
}

/// `existing` config text with the profile's section replaced by (or extended with) `body`;
/// every other section and comment stays as it was.
pub fn upsert_profile(existing: &str, profile: &str, body: &str) -> String {
    let header = section_name(profile);
    let is_header = |line: &str| {
        let t = line.trim();
        t.starts_with('[') && t.ends_with(']')
    };
    let same = |line: &str| {
        let t = line.trim();
        let inner = t.trim_start_matches('[').trim_end_matches(']');
        let words: Vec<&str> = inner.split_whitespace().collect();
        t == header || (profile == "default" && words == ["profile", "default"])
    };
    let mut out = String::new();
    let mut skipping = false;
    let mut replaced = false;
    for line in existing.lines() {
        if is_header(line) {
            skipping = same(line);
            if skipping && !replaced {
                let _ = write!(out, "{header}\n{body}");
                replaced = true;
            }
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        let _ = write!(out, "{header}\n{body}");
    }
    out
}

/// Writes the profile into the AWS config file, creating the file (0600) and its directory when
/// missing.
pub fn write_profile(path: &Path, profile: &str, body: &str) -> Result<(), StageError> {
    let fail = |e: std::io::Error| {
        StageError::invalid_input(format!(
            "AWS config file {}: cannot update it: {e}",
            path.display()
        ))
        .with_hint("set AWS_CONFIG_FILE to a file you can write")
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(fail)?;
            }
            String::new()
        }
        Err(e) => return Err(fail(e)),
    };
    let updated = upsert_profile(&existing, profile, body);
    // Written whole and renamed over (a crash never leaves half a config), 0600 (the profile names
    // the role and the command that gets its keys), never through a symbolic link.
    stage::private_file::write(
        path,
        updated.as_bytes(),
        stage::private_file::Links::Refuse,
        stage::private_file::Dir::Any,
    )
    .map(drop)
    .map_err(|e| {
        StageError::invalid_input(format!("AWS config file: cannot update it: {e}"))
            .with_hint("set AWS_CONFIG_FILE to a regular file you can write")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> ProcessCredentials {
        ProcessCredentials::temporary("ASIAKEY", "sec'ret", "tok\nen", None)
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("eu-west-1"), "eu-west-1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn export_lines() {
        let text = env_lines(&creds(), "eu-west-1");
        assert_eq!(
            text,
            "export AWS_ACCESS_KEY_ID=ASIAKEY\nexport AWS_SECRET_ACCESS_KEY='sec'\\''ret'\nexport AWS_SESSION_TOKEN='tok\nen'\nexport AWS_REGION=eu-west-1\nexport AWS_DEFAULT_REGION=eu-west-1\n"
        );
    }

    #[test]
    fn github_env_uses_delimiters_absent_from_values() {
        let text = github_env_entries(&creds(), "eu-west-1");
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        let (name, delimiter) = first.split_once("<<").unwrap();
        assert_eq!(name, "AWS_ACCESS_KEY_ID");
        assert_eq!(lines.next(), Some("ASIAKEY"));
        assert_eq!(lines.next(), Some(delimiter));
        assert!(text.contains("AWS_SESSION_TOKEN<<"));
        assert!(text.contains("\ntok\nen\n"));
    }

    #[test]
    fn profiles_are_replaced_in_place_and_others_kept() {
        let existing = "# mine\n[default]\nregion = us-east-1\n\n[profile deploy]\nregion = old\ncredential_process = old\n[profile other]\nregion = x\n";
        let out = upsert_profile(existing, "deploy", "region = new\n");
        assert_eq!(
            out,
            "# mine\n[default]\nregion = us-east-1\n\n[profile deploy]\nregion = new\n[profile other]\nregion = x\n"
        );
        let out = upsert_profile("", "ci", "region = r\n");
        assert_eq!(out, "[profile ci]\nregion = r\n");
        let out = upsert_profile("[default]\nregion = a\n", "default", "region = b\n");
        assert_eq!(out, "[default]\nregion = b\n");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_even_when_they_existed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&file, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
