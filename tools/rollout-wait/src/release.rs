//! The release side of a wait (`docs/releases.md`, "Protocol for the tools"): re-enter the
//! release's deploy lock (same holder as the k8s-apply of this run, so at once), keep it alive
//! while watching, then settle the revision: `deployed` and the lock released, or `failed` with
//! the reason and the lock kept (renewed once, not released) so that the rollback of the same
//! run gets it before any other run.
//!
//! The upstream document is another step's output, not proof: a revision is settled only when
//! its record verifies with the release's record key (`docs/release-records.md`), its status is
//! `applied`, and the document names exactly the objects the record does (kinds, namespaces,
//! names). A dry run or an empty document settles nothing and is refused (exit 2).

use std::collections::BTreeSet;

use cluster::{KeepAlive, Lock, OwnedObject, ReleaseHistory, ReleaseRecord, ReleaseStatus};
use stage::{Ctx, StageError};

use crate::target::Upstream;

/// A release whose revision this run settles.
#[derive(Debug)]
pub struct Session {
    history: ReleaseHistory,
    lock: Lock,
    keep_alive: KeepAlive,
    pub revision: u32,
    /// Its status before the wait.
    pub before: ReleaseStatus,
    /// The revision it restores, when it is a rollback's.
    pub source_revision: Option<u32>,
}

/// Finds the namespace that holds `release`'s `revision`: the one given, else the first of the
/// candidates that has it (k8s-apply's document names the objects' namespaces, not the
/// release's; the release lives in one of them or in the context's default). Returns the
/// history there, which remembers the record it read: [`begin`] and [`Session::finish`] start
/// from it instead of reading it again.
pub async fn find_namespace(
    client: &kube::Client,
    release: &str,
    revision: u32,
    candidates: &[String],
) -> Result<(String, ReleaseHistory), StageError> {
    for namespace in candidates {
        let history = ReleaseHistory::new(client, namespace, release)?;
        if history.get(revision).await?.is_some() {
            return Ok((namespace.clone(), history));
        }
    }
    Err(StageError::invalid_input(format!(
        "release {release} has no revision {revision} in namespace{} {}",
        if candidates.len() > 1 { "s" } else { "" },
        candidates.join(", ")
    ))
    .with_hint("pass the release's namespace with -n, as given to k8s-apply"))
}

/// Refuses (exit 2, before anything is read or written) a document that can settle nothing: a
/// dry run applied nothing, and a document without objects would make any revision look healthy.
pub fn check_document(doc: &Upstream) -> Result<(), StageError> {
    let which = match (&doc.release, doc.revision) {
        (Some(release), Some(revision)) => format!(" (release {release} revision {revision})"),
        _ => String::new(),
    };
    if doc.dry_run {
        return Err(StageError::invalid_input(format!(
            "the upstream document{which} is a dry run: nothing was applied, so there is nothing \
            to wait for and no revision to settle; nothing was written"
        ))
        .with_hint("pipe rollout-wait only after an apply that writes (no --dry-run)"));
    }
    if doc.objects.is_empty() {
        return Err(StageError::invalid_input(format!(
            "the upstream document{which} lists no objects: there is nothing to wait for, and no \
            revision is settled on an empty list; nothing was written"
        ))
        .with_hint("pipe in k8s-apply's document as it printed it"));
    }
    Ok(())
}

/// The objects of a revision as the upstream document names them (kinds, namespaces, names).
pub fn named(doc: &Upstream) -> Vec<OwnedObject> {
    doc.objects
        .iter()
        .filter(|o| o.action.as_deref() != Some("pruned"))
        .map(|o| OwnedObject {
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
            uid: None,
        })
        .collect()
}

/// Refuses (exit 2) a document whose objects are not the revision's: a wait over other objects
/// says nothing about this revision's health.
fn check_objects(record: &ReleaseRecord, named: &[OwnedObject]) -> Result<(), StageError> {
    let key = |o: &OwnedObject| {
        (
            o.api_version.clone(),
            o.kind.clone(),
            o.namespace.clone().unwrap_or_default(),
            o.name.clone(),
        )
    };
    let recorded: BTreeSet<_> = record.objects.iter().map(key).collect();
    let documented: BTreeSet<_> = named.iter().map(key).collect();
    if recorded == documented {
        return Ok(());
    }
    let show = |(api_version, kind, namespace, name): &(String, String, String, String)| {
        if namespace.is_empty() {
            format!("{api_version} {kind} {name}")
        } else {
            format!("{api_version} {kind} {namespace}/{name}")
        }
    };
    let list = |a: &BTreeSet<_>, b: &BTreeSet<_>| {
        let items: Vec<String> = a.difference(b).take(5).map(show).collect();
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    Err(StageError::invalid_input(format!(
        "the upstream document's objects are not those revision {} of release {} recorded \
        (recorded only: {}; in the document only: {}); nothing was settled",
        record.revision,
        record.release,
        list(&recorded, &documented),
        list(&documented, &recorded)
    ))
    .with_hint("pipe in k8s-apply's document as it printed it, or wait with --release alone"))
}

/// Reads the revision, registers the Secret values its manifests hold (so that a container log
/// echoing one is masked), and takes the deploy lock.
pub async fn begin(
    ctx: &Ctx,
    client: &kube::Client,
    history: ReleaseHistory,
    revision: u32,
    lock_args: &cluster::LockArgs,
    // The lock's wait: `--lock-timeout`, or less when the step's deadline is nearer.
    wait: std::time::Duration,
    named: Option<&[OwnedObject]>,
) -> Result<Session, StageError> {
    let namespace = history.namespace().to_owned();
    let namespace = namespace.as_str();
    let release = history.release().to_owned();
    let release = release.as_str();
    let Some(record) = history.known(revision).await? else {
        return Err(StageError::invalid_input(format!(
            "release {release} has no revision {revision} in namespace {namespace}"
        ))
        .with_hint("pipe in the document of the k8s-apply that recorded it"));
    };
    for secret in record.manifests.secret_values() {
        ctx.register_secret(&secret);
    }
    record.check_trusted()?;
    if let Some(named) = named {
        check_objects(&record, named)?;
    }
    if record.status != ReleaseStatus::Applied {
        tracing::warn!(
            "release {release} revision {revision} is {}: only an applied revision is settled; \
             its status is left as it is",
            record.status
        );
    }
    let holder = lock_args.holder(ctx.environment());
    let options = lock_args.options(wait);
    let lock = cluster::acquire(client, namespace, release, &holder, &options, |other| {
        tracing::info!(
            "waiting for the deploy lock of release {release}, held by {}",
            other.describe()
        );
    })
    .await?;
    let keep_alive = lock.keep_alive();
    tracing::debug!("release {release} revision {revision}: holding the deploy lock as {holder}");
    Ok(Session {
        history,
        lock,
        keep_alive,
        revision,
        before: record.status,
        source_revision: record.source_revision,
    })
}

impl Session {
    pub fn release(&self) -> &str {
        self.history.release()
    }

    /// Settles the revision: `deployed` (and the lock released) when healthy, else `failed` with
    /// `reason` (and the lock kept for the rollback). Returns the status and whether it was
    /// written (a revision already `deployed` that is still healthy is left alone).
    pub async fn finish(
        self,
        healthy: bool,
        reason: Option<&str>,
    ) -> Result<(ReleaseStatus, bool), StageError> {
        let Self {
            history,
            lock,
            keep_alive,
            revision,
            before,
            source_revision: _,
        } = self;
        // Confirmed with the API server (issue 12 item 7): the settling write must not follow a
        // takeover that the renewals and the watch on the Lease have not seen yet.
        let kept = keep_alive.stop_confirmed().await;
        let status = if healthy {
            ReleaseStatus::Deployed
        } else {
            ReleaseStatus::Failed
        };
        // Having lost the lock, we must not write: another run is deploying now.
        kept?;
        // Only k8s-apply's `applied` is for rollout-wait to settle: a failed, superseded or
        // half-applied revision keeps its status, whatever its objects look like now.
        let written = before == ReleaseStatus::Applied;
        let status = if written { status } else { before };
        if written {
            history.set_status(revision, status, reason).await?;
        }
        tracing::info!(
            "release {} revision {revision}: {status}{}",
            history.release(),
            if written { "" } else { " (unchanged)" }
        );
        if healthy {
            lock.release().await?;
        } else {
            // Not released: the rollback of this run re-enters it; renewed so that it has a
            // whole TTL to start.
            lock.renew().await?;
        }
        Ok((status, written))
    }

    /// Stops renewing without settling anything (the wait broke off on an infrastructure
    /// error); the lock expires after its TTL unless this run's next step takes it.
    pub async fn abandon(self) {
        let _ = self.keep_alive.stop().await;
    }
}
