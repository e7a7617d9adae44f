//! `--release NAME`: the set as a release. Before the first write of the set: the deploy lock,
//! the `ApplySet` parent (kinds and namespaces of old and new members), and a revision recorded as
//! `applying` when the set differs from the latest one; after it, `applied` (or `failed` with the
//! reason) and the history pruned to `--history-max`.
//!
//! A set equal to the latest `applied` or `deployed` revision records no new one: re-running a
//! pipeline with nothing new must not grow the history, nor make rollout-wait think there is a
//! new version to watch.

use std::collections::BTreeSet;

use cluster::{KeepAlive, Lock, OwnedObject, ReleaseHistory, ReleaseRecord, ReleaseStatus};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;
use stage::{Ctx, StageError};

use crate::ApplyArgs;
use crate::applyset;
use crate::manifest::ManifestSet;
use crate::normalize::normalize;

/// A release apply under way: the lock kept alive, and the revision being recorded (if any).
#[derive(Debug)]
pub struct Session {
    history: ReleaseHistory,
    keep_alive: KeepAlive,
    /// The revision this run recorded; `None` when the set equals the latest one.
    recorded: Option<u32>,
    pub revision: u32,
    pub previous_revision: Option<u32>,
    history_max: usize,
    /// How many revisions the release has with this one, as listed under the lock: the history
    /// is pruned (a list and deletes) only when there are more than `--history-max`.
    revisions: usize,
}

/// Labels every member with the set's id; call before the set is applied or compared.
pub fn label_members(set: &mut ManifestSet, release: &str, namespace: &str) -> String {
    let id = applyset::id(&applyset::parent_name(release), namespace);
    for manifest in set.manifests_mut() {
        applyset::label_member(&mut manifest.object, &id);
    }
    id
}

/// The deploy lock while this run holds it, renewed in the background.
#[derive(Debug)]
pub struct Held {
    lock: Lock,
    keep_alive: KeepAlive,
}

/// Gives the lock back after `error` stopped the run before it wrote anything of the set, and
/// returns the error. A failure to give it back only costs the next run the lock's TTL, so it
/// is a warning.
pub async fn give_back(held: Option<Held>, error: StageError) -> StageError {
    if let Some(Held { lock, keep_alive }) = held {
        drop(keep_alive);
        if let Err(release_error) = lock.release().await {
            tracing::warn!(
                "could not give back the deploy lock ({}); it expires by itself",
                release_error.message()
            );
        }
    }
    error
}

/// Takes the release's deploy lock (or re-enters it: same run) and keeps it alive; see
/// `docs/releases.md`.
/// `seen`: the Lease as a read just before found it (`None`: none), to start from.
pub async fn lock(
    args: &ApplyArgs,
    ctx: &Ctx,
    client: &kube::Client,
    history: &ReleaseHistory,
    seen: Option<k8s_openapi::api::coordination::v1::Lease>,
) -> Result<Held, StageError> {
    let release = history.release();
    let holder = args.lock.holder(ctx.environment());
    let options = args.lock.options(args.lock.lock_timeout);
    let lock = cluster::acquire_seen(
        client,
        history.namespace(),
        release,
        &holder,
        &options,
        seen,
        |other| {
            tracing::info!(
                "waiting for the deploy lock of release {release}, held by {}",
                other.describe()
            );
        },
    )
    .await?;
    let keep_alive = lock.keep_alive();
    Ok(Held { lock, keep_alive })
}

/// What [`begin`] records.
pub struct Recording<'a> {
    pub set: &'a ManifestSet,
    pub images: &'a BTreeSet<String>,
    /// The release's revisions, read under the lock, oldest first.
    pub records: &'a [ReleaseRecord],
    /// For a rollback: the revision whose manifests the set is.
    pub source_revision: Option<u32>,
    /// `--env`, else (a rollback) the environment of the revision restored.
    pub environment: Option<String>,
    /// The `ApplySet` parent as [`read_parent`] found it under the lock.
    pub parent: Option<Secret>,
}

// By hand: the set holds Secret values, which no Debug output may show.
impl std::fmt::Debug for Recording<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("objects", &self.set.len())
            .field("images", self.images)
            .field("records", &self.records.len())
            .field("source_revision", &self.source_revision)
            .field("environment", &self.environment)
            .field("parent", &self.parent.is_some())
            .finish()
    }
}

/// Updates the `ApplySet` parent and records the revision (see the module header); the lock is
/// held. The two writes go together (neither depends on the other, and each is a round trip);
/// both come before any member of the set is written.
pub async fn begin(
    args: &ApplyArgs,
    ctx: &Ctx,
    client: &kube::Client,
    history: ReleaseHistory,
    held: Held,
    recording: &Recording<'_>,
) -> Result<Session, StageError> {
    // Boxed: the writes' states would otherwise make every command's future too large.
    Box::pin(begin_boxed(args, ctx, client, history, held, recording)).await
}

async fn begin_boxed(
    args: &ApplyArgs,
    ctx: &Ctx,
    client: &kube::Client,
    history: ReleaseHistory,
    held: Held,
    recording: &Recording<'_>,
) -> Result<Session, StageError> {
    let release = history.release().to_owned();
    let namespace = history.namespace().to_owned();
    let set = recording.set;
    let parent = update_parent(
        args,
        client,
        &release,
        &namespace,
        set,
        recording.parent.as_ref(),
    );

    let manifests: Vec<Value> = set.iter().map(|m| normalize(&m.object)).collect();
    let same = recording.records.last().filter(|record| {
        matches!(
            record.status,
            ReleaseStatus::Applied | ReleaseStatus::Deployed
        ) && record.trust.is_verified()
            && record.manifests.objects() == manifests.as_slice()
            && record.environment == recording.environment
    });
    if let Some(record) = same {
        if let Err(error) = parent.await {
            return Err(give_back(Some(held), error).await);
        }
        tracing::info!(
            "release {release}: the set equals revision {}; no new revision",
            record.revision
        );
        return Ok(Session {
            history,
            keep_alive: held.keep_alive,
            recorded: None,
            revision: record.revision,
            previous_revision: record.previous_revision,
            history_max: args.history_max,
            revisions: recording.records.len(),
        });
    }

    let record = new_record(ctx, &release, &namespace, recording, manifests);
    // The revisions were listed under the lock: no need to list them again for the number.
    let highest = recording.records.last().map_or(0, |r| r.revision);
    // The first signed record of a release makes its key first (one write, once): then the
    // parent and the record go together as before.
    // The parent future has not started: nothing is written when this fails.
    if let Err(error) = history.prepare_signing().await {
        return Err(give_back(Some(held), error).await);
    }
    let (parent, created) = tokio::join!(parent, history.create_after(record, highest));
    let created = match (parent, created) {
        (Ok(()), Ok(created)) => created,
        (Err(error), Ok(created)) => {
            // Nothing of the set was written: the revision failed before it began.
            let what = format!(
                "marking revision {} of release {release} failed",
                created.revision
            );
            let marked = history
                .modify(created.revision, &what, |record| {
                    record.status = ReleaseStatus::Failed;
                    record.message = Some(error.message().to_owned());
                })
                .await;
            if let Err(mark_error) = marked {
                tracing::warn!("{}", mark_error.message());
            }
            return Err(give_back(Some(held), error).await);
        }
        (Err(error), Err(_)) | (Ok(()), Err(error)) => {
            return Err(give_back(Some(held), error).await);
        }
    };
    let rollback = recording
        .source_revision
        .map(|source| format!(", a rollback to revision {source}"))
        .unwrap_or_default();
    tracing::info!(
        "release {release}: recording revision {} (applying){rollback}",
        created.revision
    );
    Ok(Session {
        history,
        keep_alive: held.keep_alive,
        recorded: Some(created.revision),
        revision: created.revision,
        previous_revision: created.previous_revision,
        history_max: args.history_max,
        revisions: recording.records.len() + 1,
    })
}

/// The record of a new revision of the set, before it is created.
fn new_record(
    ctx: &Ctx,
    release: &str,
    namespace: &str,
    recording: &Recording<'_>,
    manifests: Vec<Value>,
) -> ReleaseRecord {
    let set = recording.set;
    let mut record = ReleaseRecord::new(release, namespace);
    record.environment.clone_from(&recording.environment);
    record.source_revision = recording.source_revision;
    record.apply_set_id = Some(applyset::id(&applyset::parent_name(release), namespace));
    record.images.clone_from(recording.images);
    record.objects = planned_objects(set);
    record.manifests = cluster::ManifestSet::new(manifests);
    record.origin = cluster::Origin::from_env(ctx.environment());
    record.origin.tool = Some(concat!("k8s-apply ", env!("CARGO_PKG_VERSION")).to_owned());
    record
}

/// The objects a revision of `set` will own, before they exist (no uids yet).
pub(crate) fn planned_objects(set: &ManifestSet) -> Vec<OwnedObject> {
    set.iter()
        .map(|m| OwnedObject {
            api_version: m.key.api_version.clone(),
            kind: m.key.kind.clone(),
            namespace: m.key.namespace.clone(),
            name: m.key.name.clone(),
            uid: None,
        })
        .collect()
}

impl Session {
    /// Records the objects the revision owns (with their uids, which exist only now), marks it
    /// `applied` (or `failed` with the reason), prunes the history, and stops renewing the lock
    /// without releasing it: rollout-wait of the same run goes on under it.
    pub async fn finish(
        self,
        outcome: Result<(), &StageError>,
        applied: &[crate::report::AppliedObject],
    ) -> Result<(), StageError> {
        let Self {
            history,
            keep_alive,
            recorded,
            history_max,
            revisions,
            ..
        } = self;
        let marked = match recorded {
            Some(revision) => {
                // The objects that exist now, with their uids: after a failure too, so that a
                // later apply or rollback can prune what this one left behind. What this run
                // pruned is no longer owned by anyone.
                let owned: Vec<OwnedObject> = applied
                    .iter()
                    .filter(|o| o.action != crate::report::Action::Pruned)
                    .map(|o| OwnedObject {
                        api_version: o.api_version.clone(),
                        kind: o.kind.clone(),
                        namespace: o.namespace.clone(),
                        name: o.name.clone(),
                        uid: Some(o.uid.clone()).filter(|uid| !uid.is_empty()),
                    })
                    .collect();
                let (status, message) = match outcome {
                    Ok(()) => (ReleaseStatus::Applied, None),
                    Err(error) => (ReleaseStatus::Failed, Some(error.message().to_owned())),
                };
                let what = format!(
                    "marking revision {revision} of release {} {status}",
                    history.release()
                );
                // One write for both: each is a read and a replace against a remote API.
                history
                    .modify(revision, &what, |record| {
                        record.objects = if outcome.is_ok() {
                            owned.clone()
                        } else {
                            merge_owned(&record.objects, &owned)
                        };
                        record.status = status;
                        record.message.clone_from(&message);
                    })
                    .await
                    .map(drop)
            }
            None => Ok(()),
        };
        // Under the lock nobody else records revisions, so the count read there still holds.
        let pruned = if marked.is_ok() && outcome.is_ok() && revisions > history_max.max(1) {
            history.prune(history_max).await.map(|gone| {
                if !gone.is_empty() {
                    tracing::info!("release {}: pruned revisions {gone:?}", history.release());
                }
            })
        } else {
            Ok(())
        };
        let kept = keep_alive.stop().await;
        marked.and(pruned).and(kept)
    }
}

/// The revisions the deployer can be shown to have written, which alone may say what the
/// release owns (and so what to prune): a planted record must not get the deployer to delete an
/// object it names. Each other one is warned about, naming its Secret.
pub fn trusted(records: &[ReleaseRecord]) -> Vec<ReleaseRecord> {
    records
        .iter()
        .filter(|record| match record.check_trusted() {
            Ok(()) => true,
            Err(untrusted) => {
                tracing::warn!("{}; ignored", untrusted.message());
                false
            }
        })
        .cloned()
        .collect()
}

/// The objects a failed revision owns: those it meant to apply (from its record), with the uids
/// of those that got applied.
fn merge_owned(planned: &[OwnedObject], applied: &[OwnedObject]) -> Vec<OwnedObject> {
    planned
        .iter()
        .map(|planned| {
            applied
                .iter()
                .find(|a| {
                    a.kind == planned.kind
                        && a.api_version == planned.api_version
                        && a.namespace == planned.namespace
                        && a.name == planned.name
                })
                .unwrap_or(planned)
                .clone()
        })
        .collect()
}

/// Reads the `ApplySet` parent of `release` (`None`: there is none yet).
pub async fn read_parent(
    client: &kube::Client,
    release: &str,
    namespace: &str,
) -> Result<Option<Secret>, StageError> {
    let name = applyset::parent_name(release);
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let what = format!("reading the `ApplySet` parent secret/{name}");
    cluster::retry(&what, || api.get_opt(&name))
        .await
        .map_err(|err| cluster::api_error(&what, &err))
}

/// Server-side applies the `ApplySet` parent with the union of the kinds and namespaces it listed
/// (as `existing`, read under the lock) and those of the new set, before any member is written:
/// a run that stops half-way still leaves every member findable. Returns the set's id.
async fn update_parent(
    args: &ApplyArgs,
    client: &kube::Client,
    release: &str,
    namespace: &str,
    set: &ManifestSet,
    existing: Option<&Secret>,
) -> Result<(), StageError> {
    let name = applyset::parent_name(release);
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let annotations = existing.and_then(|secret| secret.metadata.annotations.as_ref());
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).map(String::as_str);
    let mut group_kinds = applyset::split_list(annotation(applyset::GROUP_KINDS_ANNOTATION));
    let mut namespaces = applyset::split_list(annotation(applyset::NAMESPACES_ANNOTATION));
    for manifest in set {
        group_kinds.insert(applyset::group_kind(&manifest.key));
        if let Some(ns) = &manifest.key.namespace {
            namespaces.insert(ns.clone());
        }
    }
    let parent = applyset::parent(release, namespace, &group_kinds, &namespaces);
    // The parent is ours alone; forcing keeps a stray edit from blocking every deploy.
    let params = PatchParams::apply(&args.field_manager).force();
    let what = format!("applying the `ApplySet` parent secret/{name}");
    let patch = Patch::Apply(&parent);
    cluster::retry(&what, || api.patch(&name, &params, &patch))
        .await
        .map_err(|err| cluster::api_error(&what, &err))?;
    Ok(())
}

// Issue 12 item 7: the deploy lock is checked before every write of the apply and the prune.
impl Held {
    /// Whether the lock is still ours, for the writes made under it.
    pub fn check(&self) -> cluster::LockCheck {
        self.lock.check()
    }
}
