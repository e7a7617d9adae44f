//! `oidc-creds`: keyless AWS credentials for a CI job. It takes the job's OIDC token (from GitHub
//! Actions' token service or a file), exchanges it with STS `AssumeRoleWithWebIdentity` for
//! temporary credentials of a role, optionally chains into further roles, confirms the result
//! with `GetCallerIdentity`, and hands the credentials on: as AWS's `credential_process` document
//! (also what `eks-token` reads), `export` lines, `$GITHUB_ENV`, or an AWS config profile that
//! refreshes itself.
//!
//! Modules: [`input`] checks arguments locally, [`token`] finds the web identity token (over
//! [`http`]), [`sts`] makes the STS calls and explains refusals with the token's claims ([`jwt`]),
//! [`output`] writes the formats, [`revoke`] is the `revoke-sessions` subcommand.

pub mod http;
pub mod input;
pub mod jwt;
pub mod output;
pub mod revoke;
pub mod sts;
pub mod token;

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use pipewright_aws::{AwsArgs, ProcessCredentials};
use schemars::JsonSchema;
use serde::Serialize;
use stage::{CommonArgs, Ctx, Secret, StageCli, StageError, StageResult};

pub use output::Format;

const EXAMPLES: &str = "\
Examples:
  # In a GitHub Actions job with `permissions: id-token: write`: credentials for later steps
  oidc-creds --role-arn arn:aws:iam::123456789012:role/deploy --region eu-west-1 --format github-env

  # Pipe them into eks-token
  oidc-creds --role-arn \"$ROLE\" --region eu-west-1 | eks-token token --cluster prod

  # Long jobs: a profile whose credentials the AWS SDKs and CLI refresh by themselves
  oidc-creds --role-arn \"$ROLE\" --region eu-west-1 --format aws-config --profile deploy
  AWS_PROFILE=deploy aws sts get-caller-identity

  # Least privilege and a cross-account hop, only into the expected account
  oidc-creds --role-arn \"$ROLE\" --policy @deploy-policy.json \\
    --chain-role-arn arn:aws:iam::210987654321:role/deployer --allowed-account-id 210987654321

  # At the end of the pipeline: invalidate every session of the role issued until now
  oidc-creds revoke-sessions --role-name deploy";

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "oidc-creds",
    version = build_info::VERSION,
    about = "Exchange a CI job's OIDC token for temporary AWS credentials (STS AssumeRoleWithWebIdentity)",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub obtain: ObtainArgs,
}

impl StageCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }

    fn nested(&self) -> bool {
        self.obtain.credential_process
    }
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Revoke every session of a role issued until now (an inline deny policy on
    /// aws:TokenIssueTime, as the IAM console's "Revoke active sessions"); needs iam:PutRolePolicy
    RevokeSessions(RevokeArgs),
}

/// `revoke-sessions` flags.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The role whose sessions to revoke: its name or ARN
    #[arg(long, value_name = "NAME")]
    pub role_name: String,
    /// The inline policy's name (the IAM console uses the same one)
    #[arg(long, value_name = "NAME", default_value = revoke::DEFAULT_POLICY_NAME)]
    pub policy_name: String,
    /// Retries for throttling, 5xx answers and network errors
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub retries: u32,
}

/// Flags for obtaining credentials (the command without a subcommand).
#[derive(Args, Debug, Clone)]
pub struct ObtainArgs {
    /// The role to assume with the web identity token
    #[arg(long, env = "AWS_ROLE_ARN", value_name = "ARN")]
    pub role_arn: Option<String>,
    /// Read the web identity token from this file instead of GitHub's token service
    #[arg(long, env = "AWS_WEB_IDENTITY_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// The audience to request the GitHub token for (the aud claim the role's trust policy tests)
    #[arg(long, value_name = "AUD", default_value = "sts.amazonaws.com")]
    pub audience: String,
    /// The role session name (default from `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`, `GITHUB_RUN_ATTEMPT`).
    #[arg(
        long,
        env = "AWS_ROLE_SESSION_NAME",
        value_name = "NAME",
        help = "The role session name, shown in CloudTrail [default: OWNER-REPO-RUNID-ATTEMPT from GITHUB_REPOSITORY, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT]"
    )]
    pub session_name: Option<String>,
    /// How long the credentials last, in seconds (900 to 43200; chained roles at most 3600)
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub duration: u32,
    /// An inline session policy narrowing the role's permissions: JSON, or @FILE / a path to one
    #[arg(long, value_name = "JSON|@FILE")]
    pub policy: Option<String>,
    /// A managed policy narrowing the role's permissions (repeatable)
    #[arg(long = "policy-arn", value_name = "ARN")]
    pub policy_arns: Vec<String>,
    /// Assume this role next with the credentials just obtained (repeatable, in order)
    #[arg(long = "chain-role-arn", value_name = "ARN")]
    pub chain_role_arns: Vec<String>,
    /// Fail unless the final credentials belong to this account (repeatable)
    #[arg(
        long = "allowed-account-id",
        value_name = "ACCOUNT",
        value_delimiter = ','
    )]
    pub allowed_account_ids: Vec<String>,
    /// Retries for transient failures of STS and the token service.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 4,
        help = "Retries for throttling, 5xx answers, network errors, IDPCommunicationError and the GitHub token service's failures"
    )]
    pub retries: u32,
    /// Where the credentials go
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Write the credentials (json or env format) to this file, mode 0600, instead of stdout
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
    /// Run as an AWS SDK's `credential_process` (what `--format aws-config` profiles pass): the
    /// SDK quotes our stderr in its own errors, so no GitHub Actions workflow commands are written.
    #[arg(long, hide = true)]
    pub credential_process: bool,
}

/// The stdout document.
///
/// Its fields are in AWS's Pascal case, because the credentials document is AWS's format and
/// the others sit beside its fields.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Report {
    Credentials(CredentialsReport),
    Revoked(RevokeReport),
}

/// Credentials obtained. With the default format this is a valid `credential_process` document
/// (AWS SDKs and the CLI ignore the extra fields); when the keys were written elsewhere
/// (`--output-file`, `github-env`, `aws-config`) they are left out.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsReport {
    /// AWS's `credential_process` format version: always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u8,
    /// The keys, when this document carries them.
    #[serde(flatten)]
    pub keys: Option<Keys>,
    /// When the credentials expire (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// The session's ARN, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub assumed_role_arn: String,
    /// The account the credentials act in, as `GetCallerIdentity` reported it.
    pub account_id: String,
    /// The region used for STS, and the one `env`/`github-env`/`aws-config` pass on.
    pub region: String,
    /// The role session name.
    pub session_name: String,
    /// Where the keys were written instead of this document, when they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_to: Option<String>,
    /// The AWS config profile written (`--format aws-config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// The secret part of the credentials, revealed: carrying it is this document's purpose.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Keys {
    #[serde(serialize_with = "stage::secret::reveal")]
    pub access_key_id: Secret,
    #[serde(serialize_with = "stage::secret::reveal")]
    pub secret_access_key: Secret,
    #[serde(serialize_with = "stage::secret::reveal")]
    pub session_token: Secret,
}

/// Sessions revoked.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeReport {
    /// The role whose older sessions no longer work.
    pub role_name: String,
    /// The inline policy that does it.
    pub policy_name: String,
    /// Sessions issued before this time are denied everything (RFC 3339).
    pub revoked_before: String,
}

/// The tool: `oidc-creds [flags]` or `oidc-creds revoke-sessions …`.
pub async fn run(cli: Cli, ctx: Ctx, _upstream: Option<serde_json::Value>) -> StageResult<Report> {
    match &cli.command {
        Some(Command::RevokeSessions(args)) => {
            let role = revoke::role_name(&args.role_name)?;
            let cutoff =
                revoke::revoke(&ctx, &cli.aws, &role, &args.policy_name, args.retries + 1).await?;
            tracing::info!("sessions of {role} issued before {cutoff} are revoked");
            ctx.step_summary(&stage::github::markdown_table(
                &["role", "sessions revoked before"],
                [[role.as_str(), cutoff.to_string().as_str()]],
            ));
            Ok(Report::Revoked(RevokeReport {
                role_name: role,
                policy_name: args.policy_name.clone(),
                revoked_before: cutoff.to_string(),
            }))
        }
        None => obtain(&ctx, &cli.aws, &cli.obtain)
            .await
            .map(Report::Credentials)
            .map_err(Into::into),
    }
}

/// Everything checked locally before any request.
struct Plan {
    role: input::RoleArn,
    chain: Vec<input::RoleArn>,
    session_name: String,
    policy: Option<String>,
    policy_file: Option<PathBuf>,
    region: String,
}

async fn plan(ctx: &Ctx, aws: &AwsArgs, args: &ObtainArgs) -> Result<Plan, StageError> {
    let Some(role_arn) = args.role_arn.as_deref().filter(|r| !r.is_empty()) else {
        return Err(StageError::usage("no role to assume")
            .with_hint("pass --role-arn arn:aws:iam::ACCOUNT:role/NAME or set AWS_ROLE_ARN"));
    };
    let role = input::parse_role_arn("--role-arn", role_arn)?;
    let chain = args
        .chain_role_arns
        .iter()
        .map(|arn| input::parse_role_arn("--chain-role-arn", arn))
        .collect::<Result<Vec<_>, _>>()?;
    for arn in &args.policy_arns {
        input::check_policy_arn(arn)?;
    }
    for account in &args.allowed_account_ids {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StageError::usage(format!(
                "--allowed-account-id {account:?} is not an AWS account id (12 digits)"
            )));
        }
    }
    input::check_duration(args.duration)?;
    let session_name = match &args.session_name {
        Some(name) => {
            input::check_session_name(name)?;
            name.clone()
        }
        None => input::default_session_name(
            ctx.env("GITHUB_REPOSITORY"),
            ctx.env("GITHUB_RUN_ID"),
            ctx.env("GITHUB_RUN_ATTEMPT"),
        ),
    };
    let (policy, policy_file) = match &args.policy {
        Some(arg) => {
            let (policy, file) = input::load_policy(arg)?;
            (Some(policy), file)
        }
        None => (None, None),
    };
    match args.format {
        Format::Env if args.output_file.is_none() => {
            return Err(StageError::usage(
                "--format env writes export lines to --output-file (stdout carries the JSON document)",
            )
            .with_hint("oidc-creds … --format env --output-file creds.env && . ./creds.env"));
        }
        Format::GithubEnv | Format::AwsConfig if args.output_file.is_some() => {
            return Err(StageError::usage(
                "--output-file goes with --format json or env; github-env and aws-config write their own files",
            ));
        }
        Format::AwsConfig if aws.profile.as_deref().is_none_or(str::is_empty) => {
            return Err(
                StageError::usage("--format aws-config needs the profile to write")
                    .with_hint("pass --profile NAME (or set AWS_PROFILE)"),
            );
        }
        _ => {}
    }
    let region = pipewright_aws::resolve_region(ctx, aws).await?;
    Ok(Plan {
        role,
        chain,
        session_name,
        policy,
        policy_file,
        region,
    })
}

async fn obtain(
    ctx: &Ctx,
    aws: &AwsArgs,
    args: &ObtainArgs,
) -> Result<CredentialsReport, StageError> {
    let plan = plan(ctx, aws, args).await?;
    // The region resolved once is the region used for every call.
    let aws = AwsArgs {
        region: Some(plan.region.clone()),
        profile: aws.profile.clone(),
    };
    let attempts = args.retries.saturating_add(1);
    let (token, source) = {
        let _group = ctx.group("OIDC token");
        token::obtain(ctx, args.token_file.as_deref(), &args.audience, attempts).await?
    };
    tracing::info!("web identity token from {source}");
    let request = sts::Request {
        session_name: &plan.session_name,
        duration: args.duration,
        policy: plan.policy.as_deref(),
        policy_arns: &args.policy_arns,
        attempts,
    };
    let mut session = {
        let _group = ctx.group("STS");
        let mut session =
            sts::assume_with_web_identity(ctx, &aws, &plan.role.arn, &token, &request).await?;
        for role in &plan.chain {
            session = sts::assume_chained(ctx, &aws, &session, &role.arn, &request).await?;
        }
        session
    };
    let (account, caller_arn) = sts::caller_identity(ctx, &aws, &session, attempts).await?;
    tracing::info!("credentials confirmed: {caller_arn} in account {account}");
    if !args.allowed_account_ids.is_empty() && !args.allowed_account_ids.contains(&account) {
        return Err(StageError::failed(format!(
            "the credentials belong to account {account}, which is not allowed (--allowed-account-id {})",
            args.allowed_account_ids.join(", ")
        ))
        .with_hint(format!(
            "check --role-arn / --chain-role-arn (the final role is {}), or allow account {account}",
            session.assumed_role_arn
        )));
    }
    if session.assumed_role_arn.is_empty() {
        session.assumed_role_arn = caller_arn;
    }
    let mut report = CredentialsReport {
        version: 1,
        keys: None,
        expiration: session.credentials.expiration.clone(),
        assumed_role_arn: session.assumed_role_arn.clone(),
        account_id: account,
        region: plan.region.clone(),
        session_name: plan.session_name.clone(),
        written_to: None,
        profile: None,
    };
    deliver(ctx, &aws, args, &plan, &session.credentials, &mut report)?;
    summary(ctx, &report);
    Ok(report)
}

fn keys(credentials: &ProcessCredentials) -> Keys {
    Keys {
        access_key_id: credentials.access_key_id.clone(),
        secret_access_key: credentials.secret_access_key.clone(),
        session_token: credentials.session_token.clone().unwrap_or_default(),
    }
}

fn deliver(
    ctx: &Ctx,
    aws: &AwsArgs,
    args: &ObtainArgs,
    plan: &Plan,
    credentials: &ProcessCredentials,
    report: &mut CredentialsReport,
) -> Result<(), StageError> {
    match (args.format, &args.output_file) {
        (Format::Json, None) => report.keys = Some(keys(credentials)),
        (Format::Json, Some(path)) => {
            let text = serde_json::to_string(credentials).map_err(|e| {
                StageError::new(
                    stage::ErrorKind::Internal,
                    format!("cannot serialise the credentials: {e}"),
                )
            })?;
            output::write_private(path, &(text + "\n"))?;
            report.written_to = Some(path.display().to_string());
        }
        (Format::Env, Some(path)) => {
            output::write_private(path, &output::env_lines(credentials, &plan.region))?;
            report.written_to = Some(path.display().to_string());
        }
        (Format::GithubEnv, _) => {
            let path = output::append_github_env(
                ctx,
                &output::github_env_entries(credentials, &plan.region),
            )?;
            tracing::info!("AWS credentials and region exported to later steps of this job");
            report.written_to = Some(path.display().to_string());
        }
        (Format::AwsConfig, _) => {
            let profile = aws.profile.clone().unwrap_or_default();
            let path = output::aws_config_path(ctx)?;
            let body = profile_body(args, plan)?;
            output::write_profile(&path, &profile, &body)?;
            tracing::info!(
                "profile {profile} in {} now runs oidc-creds as its credential_process",
                path.display()
            );
            report.written_to = Some(path.display().to_string());
            report.profile = Some(profile);
        }
        (Format::Env, None) => {
            return Err(StageError::usage("--format env needs --output-file"));
        }
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The profile section: `credential_process` runs this very binary with the same role settings
/// (paths made absolute, as SDKs run it from anywhere), so SDKs call it again whenever the
/// credentials near expiry; the GitHub runtime variables it needs stay valid for the whole job.
fn profile_body(args: &ObtainArgs, plan: &Plan) -> Result<String, StageError> {
    let exe = std::env::current_exe().map_err(|e| {
        StageError::new(
            stage::ErrorKind::Internal,
            format!("cannot find the oidc-creds executable: {e}"),
        )
    })?;
    let mut command = vec![
        absolute(&exe).display().to_string(),
        "--role-arn".to_owned(),
        plan.role.arn.clone(),
        "--region".to_owned(),
        plan.region.clone(),
        "--audience".to_owned(),
        args.audience.clone(),
        "--duration".to_owned(),
        args.duration.to_string(),
        "--retries".to_owned(),
        args.retries.to_string(),
    ];
    if let Some(name) = &args.session_name {
        command.extend(["--session-name".to_owned(), name.clone()]);
    }
    if let Some(file) = &args.token_file {
        command.extend([
            "--token-file".to_owned(),
            absolute(file).display().to_string(),
        ]);
    }
    match (&plan.policy_file, &plan.policy) {
        (Some(file), _) => command.extend([
            "--policy".to_owned(),
            format!("@{}", absolute(file).display()),
        ]),
        (None, Some(policy)) => command.extend(["--policy".to_owned(), policy.clone()]),
        (None, None) => {}
    }
    for arn in &args.policy_arns {
        command.extend(["--policy-arn".to_owned(), arn.clone()]);
    }
    for role in &plan.chain {
        command.extend(["--chain-role-arn".to_owned(), role.arn.clone()]);
    }
    for account in &args.allowed_account_ids {
        command.extend(["--allowed-account-id".to_owned(), account.clone()]);
    }
    // SDKs show a failing credential_process's stderr; progress lines would only be noise there,
    // and workflow commands (`::add-mask::VALUE`) quoted in an SDK's error would show the value.
    command.push("--quiet".to_owned());
    command.push("--credential-process".to_owned());
    let line: Vec<String> = command.iter().map(|a| output::shell_quote(a)).collect();
    Ok(format!(
        "credential_process = {}\nregion = {}\n",
        line.join(" "),
        plan.region
    ))
}

fn summary(ctx: &Ctx, report: &CredentialsReport) {
    let expiration = report.expiration.clone().unwrap_or_default();
    ctx.step_summary(&stage::github::markdown_table(
        &["role session", "account", "region", "expires"],
        [[
            report.assumed_role_arn.as_str(),
            report.account_id.as_str(),
            report.region.as_str(),
            expiration.as_str(),
        ]],
    ));
}
