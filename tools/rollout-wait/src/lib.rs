//! rollout-wait: watch a release until it is healthy, fail fast with the reason, and settle its
//! revision so that a rollback can follow (issue 6).
//!
//! [`Cli`] is the command line and [`run`] the entry point `main` hands to the stage runner. The
//! modules, each with one purpose:
//!
//! - [`target`]: what to watch (the upstream document, `KIND/NAME` arguments, a selector);
//! - [`plan`]: resolving the input into targets and the revision to settle;
//! - [`health`]: each kind's health rule, kubectl's `rollout status` for the workloads;
//! - [`pods`]: the pod-level fail-fast rules (image pull errors, crash loops, OOM kills, …);
//! - [`revision`]: which pods belong to a workload's current revision;
//! - [`job`]: a Job past its backoffLimit, by the Job controller's rule;
//! - [`json`]: reading fields of objects as the API returns them;
//! - [`watch`]: one watch per kind and namespace into a store that survives dropped watches;
//! - [`wait`]: the loop that judges every target on each change;
//! - [`progress`]: progress on stderr;
//! - [`diagnose`]: the evidence for an unhealthy object (pods, logs, events);
//! - [`limits`]: how much evidence a report carries;
//! - [`secrets`]: the values of the Secrets the workloads use, registered for masking;
//! - [`release`]: the deploy lock and the revision's `deployed`/`failed` status;
//! - [`report`]: the output document;
//! - [`outcome`]: the error and the step summary a wait ends with.

pub mod diagnose;
pub mod health;
pub mod job;
pub mod json;
pub mod limits;
pub mod outcome;
pub mod plan;
pub mod pods;
pub mod progress;
pub mod release;
pub mod report;
pub mod revision;
pub mod secrets;
pub mod target;
pub mod wait;
pub mod watch;

use std::time::{Duration, Instant};

use clap::Parser;
use stage::{CommonArgs, Ctx, Failed, Received, StageCli, StageError, StageResult};

use outcome::{degraded_error, summary, timeout_error};
use plan::{Plan, from_args, from_release, from_upstream};
use release::Session;
pub use report::{ObjectReport, Report, Status};
use target::{Arg, Upstream};
use wait::Ending;

const EXAMPLES: &str = "\
Examples:
  # Wait for what k8s-apply just applied; mark the revision deployed or failed
  k8s-apply -f app.yaml --release web -n shop | rollout-wait

  # The whole loop: roll back when the new version does not become healthy; a healthy rollback
  # still exits 1 (the deploy did not happen), unless --rollback-ok
  k8s-apply -f app.yaml --release web -n shop | rollout-wait \\
    || (k8s-apply rollback --release web -n shop | rollout-wait)

  # Like kubectl rollout status, for several objects at once
  rollout-wait deployment/api statefulset/postgres -n shop --timeout 10m

  # Every Deployment and StatefulSet labelled app=web
  rollout-wait deployments,statefulsets -l app=web -n shop

  # The latest revision of a release, without the upstream document
  rollout-wait --release web -n shop

  # On a cluster recorded by `k8s-apply init-cluster`, settling a revision names its environment
  k8s-apply -f app.yaml --release web -n shop --env production | rollout-wait --env production

Exit codes: 0 healthy (or a dry run: nothing to wait for); 1 an object failed (the reason, pods,
log lines and events are printed), a rollback became healthy (without --rollback-ok), or the
upstream step had failed; 2 bad usage or input; 3 the cluster could not be reached or
refused the credentials; 124 --timeout ran out (each object's last state is in the report).
See docs/rollout-wait.md.";

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "rollout-wait",
    version = build_info::VERSION,
    about = "Wait until a release's objects are healthy; fail fast with the reason when they cannot be",
    after_help = EXAMPLES
)]
// Independent switches, as kubectl's are.
#[allow(clippy::struct_excessive_bools)]
pub struct Cli {
    /// Objects to watch as KIND/NAME (deployment/api, sts/db, ds/agent, job/migrate, svc/web),
    /// or kinds with --selector; default: the objects of the upstream document on stdin
    #[arg(value_name = "KIND/NAME")]
    pub objects: Vec<String>,
    /// With kinds as arguments: watch the objects matching this label selector
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
    /// Without an upstream document: wait for this release's latest revision (or --revision)
    #[arg(long, value_name = "NAME", env = "PIPEWRIGHT_RELEASE")]
    pub release: Option<String>,
    /// With --release: the revision to wait for [default: the latest]
    #[arg(long, value_name = "N", requires = "release")]
    pub revision: Option<u32>,
    /// Give up after this long: exit 124 with each object's last state
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = stage::duration::parse)]
    pub timeout: Duration,
    /// A crash-looping container fails the rollout once it has restarted more than this often
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_restarts: u32,
    /// How long a pod may stay unschedulable before the rollout fails (a cluster autoscaler may
    /// be adding a node meanwhile)
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = stage::duration::parse)]
    pub unschedulable_grace: Duration,
    /// Log lines of each failing container to show (its previous run's when it restarted), 0 to
    /// 1000; each line is cut at 2 KiB
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(limits::MAX_LOG_LINES)))]
    pub log_lines: u32,
    #[command(flatten)]
    pub lock: cluster::LockArgs,
    /// The environment the cluster is recorded as (see `k8s-apply init-cluster`): settling a
    /// revision on a cluster with an environment record needs it; another one is refused (exit 2)
    #[arg(long = "env", value_name = "NAME", env = "PIPEWRIGHT_ENV")]
    pub environment: Option<String>,
    /// Exit 0 when the upstream document is a rollback that became healthy (by default that
    /// exits 1: the release is not at the version the run set out to deploy)
    // Boolish: CI variables are written `1`, `true`, `yes`; unset or `0`/`false` is off.
    #[arg(long, env = "PIPEWRIGHT_ROLLBACK_OK", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub rollback_ok: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl StageCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }

    // `--timeout` is applied by `run` itself, not by the runner: on a timeout the report still
    // lists every object's last state and the revision is still marked failed.
}

/// Runs a parsed command line.
pub async fn run(cli: Cli, ctx: Ctx, upstream: Option<Received<Upstream>>) -> StageResult<Report> {
    let started = Instant::now();
    let deadline = started + cli.timeout;
    let upstream = upstream.map(|doc| doc.body);
    let args = check_usage(&cli, upstream.is_some())?;
    if let Some(doc) = upstream.as_ref() {
        release::check_document(doc)?;
    }
    let piped = upstream.is_some();

    let connection = cluster::connect(&ctx, &cli.cluster).await?;
    let client = connection.client.clone();
    let namespace = connection.namespace.clone();
    let plan = match upstream {
        Some(doc) => from_upstream(&client, &namespace, &cli, doc).await?,
        None if !args.is_empty() => from_args(&client, &namespace, &cli, &args).await?,
        None => from_release(&client, &namespace, &cli).await?,
    };
    if plan.targets.is_empty() {
        tracing::info!("nothing to wait for: the upstream document lists no objects");
    }
    if plan.release.is_some() && !plan.dry_run {
        // Settling writes the revision's status under the deploy lock: like every write, only
        // on the cluster the run named (issue 12 item 8).
        cluster::environment::guard(&connection, cli.environment.as_deref()).await?;
    }
    // Before anything about their pods can be printed, in every mode.
    let read = secrets::register_referenced(&ctx, &client, &plan.targets).await;
    tracing::debug!("{read} Secret(s) used by the workloads registered for masking");
    let (mut report, session) = begin_release(&ctx, &client, &cli, &plan, deadline).await?;
    // Only a rollback piped in from k8s-apply ends the whole loop's command line; `--release`
    // names a revision to check, whatever made it.
    let rollback_of = session
        .as_ref()
        .and_then(|s| s.source_revision)
        .filter(|_| piped && !cli.rollback_ok);

    let rules = pods::Rules {
        max_restarts: i64::from(cli.max_restarts),
        unschedulable_grace: cli.unschedulable_grace,
    };
    let waited = {
        let _group = ctx.group(&format!(
            "rollout-wait: {} object{}",
            plan.targets.len(),
            if plan.targets.len() == 1 { "" } else { "s" }
        ));
        wait::wait(
            &ctx,
            &client,
            &plan.targets,
            rules,
            cli.common.quiet,
            (started, deadline),
        )
        .await
    };
    let (ending, verdicts) = match waited {
        Ok(done) => done,
        Err(error) => {
            if let Some(session) = session {
                session.abandon().await;
            }
            return Err(error.into());
        }
    };
    report.objects = diagnose::object_reports(
        &ctx,
        &client,
        i64::from(cli.log_lines),
        &plan.targets,
        &verdicts,
        ending,
    )
    .await;

    let failure = match ending {
        Ending::Healthy => None,
        Ending::Degraded => Some(degraded_error(&report)),
        Ending::Timeout => Some(timeout_error(&report, cli.timeout)),
    };
    settle(session, failure.as_ref(), &mut report).await?;
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    ctx.step_summary(&summary(&report));
    let Some(error) = failure else {
        tracing::info!(
            "{} healthy after {}",
            match report.objects.len() {
                1 => "the object is".to_owned(),
                n => format!("all {n} objects are"),
            },
            stage::duration::format(started.elapsed())
        );
        if let (Some(source), Some(revision)) = (rollback_of, report.revision) {
            return Err(Failed::with_report(rolled_back(revision, source), report));
        }
        return Ok(report);
    };
    let error = with_rollback_hint(error, &report);
    Err(Failed::with_report(error, report))
}

/// Adds how to return to the last healthy revision to a failure's hint, when there is a release.
fn with_rollback_hint(error: StageError, report: &Report) -> StageError {
    let (Some(release), Some(ns)) = (&report.release, &report.release_namespace) else {
        return error;
    };
    let hint = format!(
        "{}; to return to the last healthy revision: k8s-apply rollback --release {release} -n {ns} | rollout-wait",
        error
            .hint()
            .unwrap_or("see the pods, log lines and events above")
    );
    error.with_hint(hint)
}

/// Settles the revision (when there is one) and puts its status in the report.
async fn settle(
    session: Option<Session>,
    failure: Option<&StageError>,
    report: &mut Report,
) -> Result<(), Failed<Report>> {
    let Some(session) = session else {
        return Ok(());
    };
    let (status, written) = session
        .finish(failure.is_none(), failure.map(StageError::message))
        .await
        .map_err(|e| Failed::with_report(e, report.clone()))?;
    report.release_status = Some(status);
    report.status_written = Some(written);
    Ok(())
}

/// The error of a rollback that worked: the job must still fail, as `helm upgrade --atomic`
/// does, since the release is not at the version the run deployed. The deploy's own failure
/// was printed by the rollout-wait before the rollback; it is not repeated here.
fn rolled_back(revision: u32, source: u32) -> StageError {
    StageError::failed(format!(
        "rolled back: revision {revision} restores revision {source} and is healthy; \
         the release is not at the version this run deployed"
    ))
    .with_hint(
        "fix the failure and deploy again; pass --rollback-ok when the rollback itself is what you wanted",
    )
}

/// Refuses contradictory or empty command lines before anything is contacted.
fn check_usage(cli: &Cli, has_upstream: bool) -> Result<Vec<Arg>, StageError> {
    if has_upstream && !cli.objects.is_empty() {
        return Err(StageError::usage(
            "objects were given both on stdin (the upstream document) and as arguments",
        )
        .with_hint("pipe k8s-apply's document in, or name the objects, not both"));
    }
    if cli.selector.is_some() && cli.objects.is_empty() {
        return Err(StageError::usage(
            "--selector needs kinds as arguments, e.g. `rollout-wait deployments -l app=web`",
        ));
    }
    let args = target::parse_args(&cli.objects, cli.selector.is_some())?;
    if !has_upstream && args.is_empty() && cli.release.is_none() {
        return Err(StageError::usage("nothing to wait for").with_hint(
            "pipe in k8s-apply's document (`k8s-apply … | rollout-wait`), name objects \
             (`rollout-wait deployment/api`), or give --release",
        ));
    }
    Ok(args)
}

/// The report's release fields, and the lock when there is a revision to settle.
async fn begin_release(
    ctx: &Ctx,
    client: &kube::Client,
    cli: &Cli,
    plan: &Plan,
    deadline: Instant,
) -> Result<(Report, Option<Session>), StageError> {
    let mut report = Report {
        dry_run: plan.dry_run,
        ..Report::default()
    };
    let Some((release, revision)) = &plan.release else {
        return Ok((report, None));
    };
    report.release = Some(release.clone());
    report.revision = Some(*revision);
    if plan.dry_run {
        return Ok((report, None));
    }
    let (ns, history) =
        release::find_namespace(client, release, *revision, &plan.release_namespaces).await?;
    report.release_namespace = Some(ns.clone());
    let wait = cli
        .lock
        .lock_timeout
        .min(deadline.saturating_duration_since(Instant::now()));
    let session = release::begin(
        ctx,
        client,
        history,
        *revision,
        &cli.lock,
        wait,
        plan.named.as_deref(),
    )
    .await?;
    Ok((report, Some(session)))
}
