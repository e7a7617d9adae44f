//! `--release NAME`: the set as a release. Before the first write of the set: the deploy lock,
//! the `ApplySet` parent (kinds and namespaces of old and new members), and a revision recorded as
//! `applying` when the set differs from the latest one; after it, `applied` (or `failed` with the
//! reason) and the history pruned to `--history-max`.
//!
//! A set equal to the latest `applied` or `deployed` revision records no new one: re-running a
//! pipeline with nothing new must not grow the history, nor make rollout-wait think there is a
//! new version to watch.

use std::collections::BTreeSet;

use cluster::{
    Holder, KeepAlive, LockOptions, OwnedObject, ReleaseHistory, ReleaseRecord, ReleaseStatus,
};
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
}

/// Labels every member with the set's id; call before the set is applied or compared.
pub fn label_members(set: &mut ManifestSet, release: &str, namespace: &str) -> String {
    let id = applyset::id(&applyset::parent_name(release), namespace);
    for manifest in set.manifests_mut() {
        applyset::label_member(&mut manifest.object, &id);
    }
    id
}

/// Takes the lock, updates the `ApplySet` parent and records the revision (see the module header).
pub async fn begin(
    args: &ApplyArgs,
    ctx: &Ctx,
    client: &kube::Client,
    release: &str,
    namespace: &str,
    set: &ManifestSet,
    images: &BTreeSet<String>,
) -> Result<Session, StageError> {
    let holder = Holder::from_env(ctx.environment(), args.lock_holder.as_deref());
    let options = LockOptions {
        ttl: args.lock_ttl,
        wait_timeout: args.lock_timeout,
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

    let id = update_parent(args, client, release, namespace, set).await?;

    let history = ReleaseHistory::new(client, namespace, release)?;
    let latest = history.latest().await?;
    let manifests: Vec<Value> = set.iter().map(|m| normalize(&m.object)).collect();
    let same = latest.as_ref().filter(|record| {
        matches!(
            record.status,
            ReleaseStatus::Applied | ReleaseStatus::Deployed
        ) && record.manifests.objects() == manifests.as_slice()
            && record.environment == args.environment
    });
    if let Some(record) = same {
        tracing::info!(
            "release {release}: the set equals revision {}; no new revision",
            record.revision
        );
        return Ok(Session {
            history,
            keep_alive,
            recorded: None,
            revision: record.revision,
            previous_revision: record.previous_revision,
            history_max: args.history_max,
        });
    }

    let mut record = ReleaseRecord::new(release, namespace);
    record.environment.clone_from(&args.environment);
    record.apply_set_id = Some(id);
    record.images.clone_from(images);
    record.objects = set
        .iter()
        .map(|m| OwnedObject {
            api_version: m.key.api_version.clone(),
            kind: m.key.kind.clone(),
            namespace: m.key.namespace.clone(),
            name: m.key.name.clone(),
            uid: None,
        })
        .collect();
    record.manifests = cluster::ManifestSet::new(manifests);
    record.origin = cluster::Origin::from_env(ctx.environment());
    record.origin.tool = Some(concat!("k8s-apply ", env!("CARGO_PKG_VERSION")).to_owned());
    let created = history.create(record).await?;
    tracing::info!(
        "release {release}: recording revision {} (applying)",
        created.revision
    );
    Ok(Session {
        history,
        keep_alive,
        recorded: Some(created.revision),
        revision: created.revision,
        previous_revision: created.previous_revision,
        history_max: args.history_max,
    })
}

impl Session {
    /// Records the objects the revision owns (with their uids, which exist only now), marks it
    /// `applied` (or `failed` with the reason), prunes the history, and stops renewing the lock
    /// without releasing it: rollout-wait of the same run goes on under it.
    pub async fn finish(
        self,
        outcome: Result<(), &StageError>,
        applied: &[crate::apply::AppliedObject],
    ) -> Result<(), StageError> {
        let Self {
            history,
            keep_alive,
            recorded,
            history_max,
            ..
        } = self;
        let marked = match (recorded, outcome) {
            (Some(revision), Ok(())) => {
                // What this run pruned is no longer owned by anyone.
                let owned = applied
                    .iter()
                    .filter(|o| o.action != crate::apply::Action::Pruned)
                    .map(|o| OwnedObject {
                        api_version: o.api_version.clone(),
                        kind: o.kind.clone(),
                        namespace: o.namespace.clone(),
                        name: o.name.clone(),
                        uid: Some(o.uid.clone()).filter(|uid| !uid.is_empty()),
                    })
                    .collect();
                history.set_objects(revision, owned).await?;
                history
                    .set_status(revision, ReleaseStatus::Applied, None)
                    .await
                    .map(drop)
            }
            (Some(revision), Err(error)) => history
                .set_status(revision, ReleaseStatus::Failed, Some(error.message()))
                .await
                .map(drop),
            (None, _) => Ok(()),
        };
        let pruned = if marked.is_ok() && outcome.is_ok() {
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

/// Server-side applies the `ApplySet` parent with the union of the kinds and namespaces it listed
/// and those of the new set, before any member is written: a run that stops half-way still
/// leaves every member findable. Returns the set's id.
async fn update_parent(
    args: &ApplyArgs,
    client: &kube::Client,
    release: &str,
    namespace: &str,
    set: &ManifestSet,
) -> Result<String, StageError> {
    let name = applyset::parent_name(release);
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let what = format!("reading the `ApplySet` parent secret/{name}");
    let existing = cluster::retry(&what, || api.get_opt(&name))
        .await
        .map_err(|err| cluster::api_error(&what, &err))?;
    let annotations = existing.and_then(|secret| secret.metadata.annotations);
    let annotation = |key: &str| {
        annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
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
    Ok(applyset::id(&name, namespace))
}
