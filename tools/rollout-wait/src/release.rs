//! The release side of a wait (`docs/releases.md`, "Protocol for the tools"): re-enter the
//! release's deploy lock (same holder as the k8s-apply of this run, so at once), keep it alive
//! while watching, then settle the revision: `deployed` and the lock released, or `failed` with
//! the reason and the lock kept (renewed once, not released) so that the rollback of the same
//! run gets it before any other run.

use cluster::{Holder, KeepAlive, Lock, LockOptions, ReleaseHistory, ReleaseStatus};
use stage::{Ctx, StageError};

/// The lock and record flags.
#[derive(Debug, Clone)]
pub struct LockArgs {
    pub holder: Option<String>,
    pub timeout: std::time::Duration,
    pub ttl: std::time::Duration,
}

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

/// Reads the revision, registers the Secret values its manifests hold (so that a container log
/// echoing one is masked), and takes the deploy lock.
pub async fn begin(
    ctx: &Ctx,
    client: &kube::Client,
    history: ReleaseHistory,
    revision: u32,
    args: &LockArgs,
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
    let holder = Holder::from_env(ctx.environment(), args.holder.as_deref());
    let options = LockOptions {
        ttl: args.ttl,
        wait_timeout: args.timeout,
        ..LockOptions::default()
    };
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
        let written = status != before;
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
