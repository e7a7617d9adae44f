//! `k8s-apply history --release NAME`: the recorded revisions of a release, oldest first, as
//! JSON on stdout (`revisions[]`) and as a table on stderr for people.
//!
//! It reads the same records rollout-wait and a rollback read, and prints no manifest content:
//! a revision's manifests can hold Secret values. Each revision says whether it verified with
//! the release's record key (`trusted`); one that did not is never rolled back to or settled.

use cluster::{ReleaseHistory, ReleaseRecord, ReleaseStatus};
use schemars::JsonSchema;
use serde::Serialize;
use stage::{Ctx, StageError, StageResult};

use crate::HistoryArgs;
use crate::report::Report;

/// One revision as `history` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub revision: u32,
    pub status: ReleaseStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Every container image of the revision, sorted.
    pub images: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When the status last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// Why it failed, or other words for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The GitHub Actions run that applied it, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// For a rollback: the revision it re-applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_revision: Option<u32>,
    /// Whether the record verified with the release's record key: false for a record planted or
    /// edited by someone other than the deployer, written before records were signed, or read
    /// without `get` on the key (docs/release-records.md).
    pub trusted: bool,
}

impl From<&ReleaseRecord> for Revision {
    fn from(record: &ReleaseRecord) -> Self {
        Self {
            revision: record.revision,
            status: record.status,
            environment: record.environment.clone(),
            images: record.images.iter().cloned().collect(),
            created_at: record.created_at.to_string(),
            updated_at: record.updated_at.to_string(),
            message: record.message.clone(),
            run_url: record.origin.run_url.clone(),
            source_revision: record.source_revision,
            trusted: record.trust.is_verified(),
        }
    }
}

/// Runs `history`; see the module header.
pub async fn run(args: &HistoryArgs, ctx: &Ctx) -> StageResult<Report> {
    Ok(history(args, ctx).await?)
}

async fn history(args: &HistoryArgs, ctx: &Ctx) -> Result<Report, StageError> {
    cluster::names::check_release_name(&args.release)?;
    let connection = cluster::connect(ctx, &args.cluster).await?;
    let history = ReleaseHistory::new(&connection.client, &connection.namespace, &args.release)?;
    let records = history.list().await?;
    for record in records.iter().filter(|r| !r.trust.is_verified()) {
        if let Err(untrusted) = record.check_trusted() {
            tracing::warn!("{}", untrusted.message());
        }
    }
    let revisions: Vec<Revision> = records.iter().map(Revision::from).collect();
    if revisions.is_empty() {
        tracing::info!(
            "release {} has no revisions in namespace {}",
            args.release,
            connection.namespace
        );
    } else {
        for line in table(&revisions) {
            tracing::info!("{line}");
        }
    }
    Ok(Report {
        release: Some(args.release.clone()),
        release_namespace: Some(connection.namespace.clone()),
        revisions: Some(revisions),
        ..Report::default()
    })
}

/// The stderr table: one row per revision, the columns a person scans first.
fn table(revisions: &[Revision]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<9} {:<11} {:<12} {:<31} IMAGES",
        "REVISION", "STATUS", "ENVIRONMENT", "CREATED"
    )];
    for r in revisions {
        lines.push(format!(
            "{:<9} {:<11} {:<12} {:<31} {}",
            r.revision,
            r.status.as_str(),
            r.environment.as_deref().unwrap_or("-"),
            r.created_at,
            r.images.join(",")
        ));
    }
    lines
}
