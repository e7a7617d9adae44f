//! k8s-apply: server-side apply of a release (issue 5).
//!
//! [`Cli`] is the command line and [`run`] the entry point `main` hands to the stage runner.
//! These modules talk to the cluster: [`apply`] (server-side apply phase by phase),
//! [`cluster::kinds`] (discovery), [`release`] (deploy lock, revisions), [`applyset`] (KEP-3659
//! membership), [`prune`] (deleting what earlier revisions had and the new set has not),
//! [`rollback`] (a recorded revision as the set), [`environment`] (`init-cluster`),
//! [`mod@history`] (`k8s-apply history`) and [`uninstall`]. What they all print is in
//! [`report`] (the [`Report`] and its objects), which imports none of them.
//!
//! The rest holds the parts that need no cluster, each a pure function over the manifest set, so
//! that they are tested without a test bed and every input error is found before anything is
//! sent:
//!
//! - [`manifest`]: reading `-f FILE|DIR|-` into a checked [`ManifestSet`], every problem reported
//!   together with the file and document it is in;
//! - [`names`]: Kubernetes' rules for object names;
//! - [`limits`]: what the input may not exceed (the revision record's size), checked before the
//!   first write;
//! - [`builtin`]: what we know about built-in kinds without discovery;
//! - [`order`]: the phases objects are applied (and pruned) in;
//! - [`images`]: image references, `--set-image` and `--expect-tag`;
//! - [`normalize`], [`mod@diff`] and [`linediff`]: what `--dry-run=server` and `k8s-apply diff`
//!   show, with server-side noise removed and Secret data redacted.

pub mod apply;
pub mod applyset;
pub mod builtin;
pub mod diff;
pub mod environment;
pub mod history;
pub mod images;
pub mod limits;
pub mod linediff;
pub mod manifest;
pub mod names;
pub mod normalize;
pub mod order;
pub mod prune;
pub mod release;
pub mod report;
pub mod rollback;
pub mod secrets;
pub mod snapshot;
pub mod uninstall;

pub use diff::{Change, ChangeOp, ObjectDiff, diff};
pub use images::{ImageRef, ImageUse, SetImage};
pub use manifest::{
    Input, Loaded, Manifest, ManifestErrors, ManifestSet, Namespacing, ObjectRef, Origin, Source,
};
pub use order::{Phase, Step, deletion_phases, phases};

use clap::{Args, Parser, Subcommand};
use stage::{CommonArgs, Ctx, StageCli, StageResult, TimeoutArg};

pub use apply::{Mode, SetSource};
pub use report::{Action, AppliedObject, Report};

const EXAMPLES: &str = "\
Examples:
  # Apply every manifest under a directory with the kubeconfig's current context
  k8s-apply -f examples/ -R

  # A kustomize overlay on stdin, with the images the pipeline just built; every image from
  # the app's registry namespace must carry the tag (postgres keeps its own)
  kubectl kustomize manifests/k8s/overlays/production \\
    | k8s-apply -f - --set-image web=docker.io/cloudtolocalllm/web:1.4.2 \\
        --set-image api=docker.io/cloudtolocalllm/api:1.4.2 \\
        --expect-tag 1.4.2 --expect-tag-for docker.io/cloudtolocalllm/

  # Take over fields another manager (kubectl, helm) owns
  k8s-apply -f app.yaml --force-conflicts

  # As a release: deploy lock, a recorded revision, ApplySet membership labels
  k8s-apply -f app.yaml --release web -n shop --env production | rollout-wait

  # What would change, as a diff (exit 1 when something would)
  k8s-apply diff -f app.yaml

  # The recorded revisions of a release, and a return to the last deployed one
  k8s-apply history --release web -n shop
  k8s-apply rollback --release web -n shop | rollout-wait

  # Record once that this cluster is production; --env then refuses any other cluster
  k8s-apply init-cluster --env production

  # Delete a release (objects, revisions, lock), like helm uninstall
  k8s-apply uninstall --release web -n shop --dry-run

Exit codes: 0 applied, 1 the API server refused a change (e.g. a field-manager conflict),
2 bad usage or manifests (nothing was applied), 3 the cluster could not be reached or refused the
credentials, 124 --timeout ran out. See docs/k8s-apply.md.";

/// The command line: `k8s-apply [FLAGS]` applies; `k8s-apply diff [FLAGS]` shows what would
/// change.
#[derive(Parser, Debug)]
#[command(
    name = "k8s-apply",
    version = build_info::VERSION,
    about = "Server-side apply of a set of Kubernetes manifests, in dependency order",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub apply: ApplyArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The subcommands besides the default, apply.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what applying would change, per object, from the server's dry run (exit 1 when
    /// something would change, like `diff`)
    #[command(after_help = "Examples:\n  k8s-apply diff -f examples/shop.yaml\n  \
        kubectl kustomize manifests/k8s/overlays/production | k8s-apply diff -f -\n\n\
        Secret values are never shown: a changed value reads as (changed).")]
    Diff(Box<ApplyArgs>),
    /// List the recorded revisions of a release (JSON on stdout, a table on stderr)
    #[command(after_help = "Examples:\n  k8s-apply history --release web -n shop")]
    History(HistoryArgs),
    /// Re-apply the last deployed revision of a release (or --to REVISION) as a new revision,
    /// ConfigMaps, Secrets and pruning included
    #[command(after_help = ROLLBACK_EXAMPLES)]
    Rollback(Box<RollbackArgs>),
    /// Record once which environment this cluster is, for `--env` to check
    #[command(after_help = INIT_EXAMPLES)]
    InitCluster(InitArgs),
    /// Delete a release: its objects, its recorded revisions, its `ApplySet` parent and its
    /// deploy lock (like `helm uninstall`)
    #[command(after_help = UNINSTALL_EXAMPLES)]
    Uninstall(UninstallArgs),
}

const UNINSTALL_EXAMPLES: &str = "\
Examples:
  # What would be deleted, without deleting anything
  k8s-apply uninstall --release web -n shop --dry-run

  # Delete the release under its deploy lock
  k8s-apply uninstall --release web -n shop --env staging

  # Keep the revisions (history shows it uninstalled; `rollback` brings it back)
  k8s-apply uninstall --release web -n shop --keep-history

Namespaces and CustomResourceDefinitions the release applied are kept unless
--delete-namespaces / --delete-crds say otherwise: deleting either takes along objects that
are not the release's. Objects are deleted only while they carry the release's ApplySet label
and the uid a revision recorded, as pruning does.

Exit codes: 0 uninstalled (or, with --ignore-not-found, nothing to uninstall), 1 no such release
or the API server refused a deletion, 2 bad usage, 3 cluster unreachable, 124 --timeout.";

const ROLLBACK_EXAMPLES: &str = "\
Examples:
  # In a pipeline: deploy, wait, and on failure return to the last healthy revision (the
  # pipeline still exits 1: rollout-wait fails a rollback's wait, like helm --atomic)
  k8s-apply -f app.yaml --release web -n shop | rollout-wait \\
    || (k8s-apply rollback --release web -n shop | rollout-wait)

  # Return to a revision named in `k8s-apply history`
  k8s-apply rollback --release web -n shop --to 3

  # What a rollback would change, without changing anything
  k8s-apply rollback --release web -n shop --dry-run=server

Exit codes: 0 rolled back (or nothing differed), 1 nothing to roll back to or the API server
refused a change, 2 bad usage (e.g. no such revision), 3 cluster unreachable, 124 --timeout.";

const INIT_EXAMPLES: &str = "\
Examples:
  # Once per cluster, by whoever creates it
  k8s-apply init-cluster --env production --context prod-admin

  # Every deploy then names the environment it means; another cluster refuses (exit 2)
  k8s-apply -f app.yaml --release web -n shop --env production

The record is the ConfigMap kube-system/pipewright-environment. Recording another environment
over an existing one needs --overwrite.";

/// What `history` reads.
#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    /// The release whose revisions to list
    #[arg(long, value_name = "NAME", env = "PIPEWRIGHT_RELEASE")]
    pub release: String,
    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
    #[command(flatten)]
    pub timeout: TimeoutArg,
}

/// What to apply and how; shared by apply and `diff`.
#[derive(Args, Debug, Clone)]
pub struct ApplyArgs {
    /// Manifest file or directory, `-` for standard input (repeatable)
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    pub filename: Vec<String>,
    /// Read directories recursively
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Replace the image of containers named NAME or using repository NAME (repeatable)
    #[arg(long, value_name = "NAME=IMAGE")]
    pub set_image: Vec<SetImage>,
    /// Fail before applying unless every image has this tag
    #[arg(long, value_name = "TAG")]
    pub expect_tag: Option<String>,
    /// Check --expect-tag only on images from this repository or under it (repeatable), e.g. the
    /// registry namespace the pipeline pushes to; third-party images keep their own tags
    #[arg(long, value_name = "REPOSITORY", requires = "expect_tag")]
    pub expect_tag_for: Vec<String>,
    /// Apply the set as this release: deploy lock, a recorded revision, applyset membership labels
    #[arg(long, value_name = "NAME", env = "PIPEWRIGHT_RELEASE")]
    pub release: Option<String>,
    #[command(flatten)]
    pub flags: ApplyFlags,
}

/// The flags apply, `diff` and `rollback` share: where, as whom, and the release's guards.
#[derive(Args, Debug, Clone)]
pub struct ApplyFlags {
    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
    /// The field manager named in server-side apply
    #[arg(long, value_name = "NAME", default_value = "pipewright")]
    pub field_manager: String,
    /// Take over fields another field manager owns instead of failing
    #[arg(long)]
    pub force_conflicts: bool,
    /// Revisions of the release to keep (the last deployed one is always kept)
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub history_max: usize,
    /// With --release: do not delete the objects earlier revisions had and this set has not
    #[arg(long)]
    pub no_prune: bool,
    /// With --release: refuse (exit 1, nothing changed) when more objects than this would be pruned
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_prune: usize,
    #[command(flatten)]
    pub lock: cluster::LockArgs,
    /// Refuse (exit 2, nothing changed) unless the cluster is recorded as this environment
    /// (see `init-cluster`)
    #[arg(long = "env", value_name = "NAME", env = "PIPEWRIGHT_ENV")]
    pub environment: Option<String>,
    /// Ask the server what would change without changing anything (only `server`)
    #[arg(long, value_name = "MODE", value_parser = ["server"])]
    pub dry_run: Option<String>,
    #[command(flatten)]
    pub timeout: TimeoutArg,
}

// The shared flags read as the apply's own (`args.release`, `args.dry_run`): one set of flags,
// three commands.
impl std::ops::Deref for ApplyArgs {
    type Target = ApplyFlags;

    fn deref(&self) -> &ApplyFlags {
        &self.flags
    }
}

impl std::ops::DerefMut for ApplyArgs {
    fn deref_mut(&mut self) -> &mut ApplyFlags {
        &mut self.flags
    }
}

/// What `rollback` re-applies, and how.
#[derive(Args, Debug, Clone)]
pub struct RollbackArgs {
    /// The release to roll back
    #[arg(long, value_name = "NAME", env = "PIPEWRIGHT_RELEASE")]
    pub release: String,
    /// The revision to return to [default: the last deployed one]
    #[arg(long, value_name = "REVISION")]
    pub to: Option<u32>,
    #[command(flatten)]
    pub flags: ApplyFlags,
}

impl RollbackArgs {
    /// The apply a rollback is: the release's own set, no input, no image changes.
    pub fn to_apply_args(&self) -> ApplyArgs {
        ApplyArgs {
            filename: Vec::new(),
            recursive: false,
            set_image: Vec::new(),
            expect_tag: None,
            expect_tag_for: Vec::new(),
            release: Some(self.release.clone()),
            flags: self.flags.clone(),
        }
    }
}

/// What `uninstall` deletes, and how.
#[derive(Args, Debug, Clone)]
pub struct UninstallArgs {
    /// The release to delete
    #[arg(long, value_name = "NAME", env = "PIPEWRIGHT_RELEASE")]
    pub release: String,
    /// List what would be deleted; change nothing and take no lock
    #[arg(long)]
    pub dry_run: bool,
    /// Keep the recorded revisions, and record the uninstall as a revision of its own
    #[arg(long)]
    pub keep_history: bool,
    #[command(flatten)]
    pub delete: prune::Reach,
    /// Exit 0 when the release has nothing in the namespace
    #[arg(long)]
    pub ignore_not_found: bool,
    #[command(flatten)]
    pub lock: cluster::LockArgs,
    /// Refuse (exit 2, nothing changed) unless the cluster is recorded as this environment
    #[arg(long = "env", value_name = "NAME", env = "PIPEWRIGHT_ENV")]
    pub environment: Option<String>,
    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
    #[command(flatten)]
    pub timeout: TimeoutArg,
}

/// What `init-cluster` records.
#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// The environment this cluster is (e.g. production)
    #[arg(long = "env", value_name = "NAME", env = "PIPEWRIGHT_ENV")]
    pub environment: String,
    /// Replace an environment recorded before
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
    #[command(flatten)]
    pub timeout: TimeoutArg,
}

impl ApplyArgs {
    /// The `-f` arguments as inputs.
    pub fn inputs(&self) -> Vec<Input> {
        self.filename
            .iter()
            .map(|arg| Input::from_arg(arg))
            .collect()
    }

    /// Whether `-f -` asks for standard input.
    pub fn reads_stdin(&self) -> bool {
        self.filename.iter().any(|arg| arg == "-")
    }
}

impl StageCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }

    fn timeout(&self) -> Option<std::time::Duration> {
        match &self.command {
            Some(Command::Diff(args)) => args.timeout.timeout,
            Some(Command::History(args)) => args.timeout.timeout,
            Some(Command::Rollback(args)) => args.flags.timeout.timeout,
            Some(Command::InitCluster(args)) => args.timeout.timeout,
            Some(Command::Uninstall(args)) => args.timeout.timeout,
            None => self.apply.timeout.timeout,
        }
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli, ctx: Ctx, _upstream: Option<serde_json::Value>) -> StageResult<Report> {
    match &cli.command {
        Some(Command::Diff(args)) => apply::run(args, &ctx, Mode::Diff, SetSource::Files).await,
        Some(Command::History(args)) => history::run(args, &ctx).await,
        Some(Command::Rollback(args)) => {
            let source = SetSource::Revision(args.to);
            apply::run(&args.to_apply_args(), &ctx, Mode::Apply, source).await
        }
        Some(Command::InitCluster(args)) => environment::init(args, &ctx).await,
        Some(Command::Uninstall(args)) => uninstall::run(args, &ctx).await,
        None => apply::run(&cli.apply, &ctx, Mode::Apply, SetSource::Files).await,
    }
}
