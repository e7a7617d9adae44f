//! `k8s-apply rollback --release NAME [--to REVISION]`: the manifests a revision recorded,
//! applied again as a new revision (with `sourceRevision` naming the one it restores), through
//! the same path as any apply: lock, record, ordered server-side apply, prune, one document.
//!
//! Unlike `kubectl rollout undo`, which swaps a Deployment's pod template back and nothing else,
//! this restores the whole set: ConfigMaps and Secrets the failed revision changed, objects it
//! added (pruned) and objects it removed (re-created).
//!
//! A record is a Secret, which others than the deployer may be able to write, and a rollback
//! applies it with the deployer's rights. So the revision returned to must verify with the
//! release's record key (`docs/release-records.md`), and may only write kinds and namespaces that
//! verified revisions of the release actually wrote before: a planted or edited revision is
//! refused with exit 1 naming its Secret, before anything is written.

use std::collections::BTreeSet;

use cluster::{ReleaseHistory, ReleaseRecord, ReleaseStatus};
use stage::StageError;

use crate::manifest::{Loaded, Source};

/// The revision to roll back to: `to`, else the last `deployed` one.
pub fn target(
    history: &ReleaseHistory,
    records: &[ReleaseRecord],
    to: Option<u32>,
) -> Result<ReleaseRecord, StageError> {
    let release = history.release();
    let namespace = history.namespace();
    let look = format!("`k8s-apply history --release {release} -n {namespace}` lists them");
    if records.is_empty() {
        return Err(StageError::failed(format!(
            "release {release} has no revisions in namespace {namespace}: nothing to roll back to"
        ))
        .with_hint("check --release and -n (the namespace the release was applied with)"));
    }
    let record = if let Some(revision) = to {
        let Some(record) = records.iter().find(|r| r.revision == revision) else {
            return Err(StageError::invalid_input(format!(
                "release {release} has no revision {revision} (it has {}); nothing was changed",
                listing(records)
            ))
            .with_hint(format!(
                "revisions older than --history-max are deleted; {look}"
            )));
        };
        match record.status {
            ReleaseStatus::Applying => {
                return Err(StageError::invalid_input(format!(
                    "revision {revision} of release {release} never finished applying; \
                         nothing was changed"
                ))
                .with_hint(format!("roll back to a revision that applied; {look}")));
            }
            ReleaseStatus::Failed => tracing::warn!(
                "revision {revision} of release {release} failed ({}); rolling back to it as asked",
                record.message.as_deref().unwrap_or("no reason recorded")
            ),
            _ => {}
        }
        record
    } else {
        let Some(record) = records
            .iter()
            .rev()
            .find(|r| r.status == ReleaseStatus::Deployed)
        else {
            return Err(StageError::failed(format!(
                "release {release} has no deployed revision to roll back to (it has {})",
                listing(records)
            ))
            .with_hint(format!(
                "a revision is deployed once rollout-wait found it healthy; name one with \
                     --to REVISION; {look}"
            )));
        };
        record
    };
    record.check_trusted()?;
    check_owned(record, records, namespace)?;
    if record.manifests.is_empty() {
        return Err(StageError::failed(format!(
            "revision {} of release {release} recorded no manifests: nothing to re-apply",
            record.revision
        )));
    }
    Ok(record.clone())
}

/// Refuses a revision whose manifests write a kind, or into a namespace, that no verified
/// revision of the release wrote (an object with a uid in its record): a rollback restores
/// what the release had, it never brings anything new. `namespace` is the release's own.
fn check_owned(
    record: &ReleaseRecord,
    records: &[ReleaseRecord],
    namespace: &str,
) -> Result<(), StageError> {
    let written = records
        .iter()
        .filter(|r| r.trust.is_verified())
        .flat_map(|r| r.objects.iter())
        .filter(|o| o.uid.is_some());
    let mut kinds = BTreeSet::new();
    let mut namespaces = BTreeSet::from([namespace.to_owned()]);
    for object in written {
        kinds.insert((group(&object.api_version).to_owned(), object.kind.clone()));
        if let Some(ns) = &object.namespace {
            namespaces.insert(ns.clone());
        }
    }
    let refuse = |what: String| {
        StageError::failed(format!(
            "revision {} of release {} (secret/{}) would write {what}, which no verified revision \
            of the release ever wrote; a rollback restores only what the release owned, so \
            nothing was changed",
            record.revision,
            record.release,
            cluster::names::record_name(&record.release, record.revision)
        ))
        .with_hint(
            "if the release is meant to own it now, deploy it with `k8s-apply -f … --release`; \
            see docs/release-records.md",
        )
    };
    for object in record.manifests.objects() {
        let text = |pointer: &str| object.pointer(pointer).and_then(|v| v.as_str());
        let kind = text("/kind").unwrap_or_default();
        let api_version = text("/apiVersion").unwrap_or_default();
        let name = text("/metadata/name").unwrap_or("?");
        let group = group(api_version);
        if !kinds.contains(&(group.to_owned(), kind.to_owned())) {
            let kind_name = if group.is_empty() {
                kind.to_owned()
            } else {
                format!("{kind}.{group}")
            };
            return Err(refuse(format!("{kind_name} {name}")));
        }
        if let Some(ns) = text("/metadata/namespace")
            && !namespaces.contains(ns)
        {
            return Err(refuse(format!("{kind} {name} in namespace {ns}")));
        }
    }
    Ok(())
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → the core group).
fn group(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(group, _)| group)
}

/// Checks, under the lock, that the revision chosen before it is still the one to return to: a
/// deploy another run finished while this one waited for the lock must not be undone blindly.
pub fn still_the_target(
    history: &ReleaseHistory,
    records: &[ReleaseRecord],
    to: Option<u32>,
    chosen: u32,
) -> Result<(), StageError> {
    let now = target(history, records, to)?;
    if now.revision == chosen {
        return Ok(());
    }
    Err(StageError::failed(format!(
        "release {}: while this rollback waited for the deploy lock, the revision to return to \
        changed from {chosen} to {}; nothing was changed",
        history.release(),
        now.revision
    ))
    .with_hint("look at `k8s-apply history` and run the rollback again if it is still wanted"))
}

/// Says which revision the rollback returns to.
pub fn announce(record: &ReleaseRecord) {
    let images = if record.images.is_empty() {
        "none".to_owned()
    } else {
        record.images.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    tracing::info!(
        "release {}: rolling back to revision {} ({}, images {images})",
        record.release,
        record.revision,
        record.status
    );
}

/// The revision's manifests as input to check and apply.
pub fn load(record: &ReleaseRecord) -> Loaded {
    let source = Source::Revision {
        release: record.release.clone(),
        revision: record.revision,
    };
    Loaded::from_objects(&source, record.manifests.objects().to_vec())
}

/// `1 superseded, 2 failed, 3 applied`: what a person needs to pick a revision.
fn listing(records: &[ReleaseRecord]) -> String {
    records
        .iter()
        .map(|r| format!("{} {}", r.revision, r.status))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use cluster::{OwnedObject, Trust};
    use serde_json::json;

    use super::*;

    fn revision(
        revision: u32,
        trust: Trust,
        objects: &[(&str, &str, Option<&str>)],
    ) -> ReleaseRecord {
        let mut record = ReleaseRecord::new("web", "shop");
        record.revision = revision;
        record.trust = trust;
        record.objects = objects
            .iter()
            .map(|(api_version, kind, namespace)| OwnedObject {
                api_version: (*api_version).to_owned(),
                kind: (*kind).to_owned(),
                namespace: namespace.map(str::to_owned),
                name: "x".to_owned(),
                uid: Some("uid".to_owned()),
            })
            .collect();
        record.manifests = cluster::ManifestSet::new(
            objects
                .iter()
                .map(|(api_version, kind, namespace)| {
                    json!({"apiVersion": api_version, "kind": kind,
                           "metadata": {"name": "x", "namespace": namespace}})
                })
                .collect(),
        );
        record
    }

    #[test]
    fn a_verified_revision_may_not_bring_a_kind_or_namespace_never_written() {
        let owned = revision(
            1,
            Trust::Verified,
            &[("apps/v1", "Deployment", Some("shop"))],
        );
        // A revision that verifies (a leaked key, or a planted key before the first deploy)
        // but whose objects were never written with a uid by a verified revision.
        let mut binding = revision(
            2,
            Trust::Verified,
            &[("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None)],
        );
        for object in &mut binding.objects {
            object.uid = None;
        }
        let err = check_owned(&binding, &[owned.clone(), binding.clone()], "shop").unwrap_err();
        assert_eq!(err.kind(), stage::ErrorKind::Failed);
        assert!(
            err.message()
                .contains("ClusterRoleBinding.rbac.authorization.k8s.io"),
            "{}",
            err.message()
        );
        let elsewhere = revision(
            3,
            Trust::Verified,
            &[("apps/v1", "Deployment", Some("kube-system"))],
        );
        let mut unwritten = elsewhere.clone();
        unwritten.objects.clear();
        let err = check_owned(&unwritten, &[owned.clone(), unwritten.clone()], "shop").unwrap_err();
        assert!(
            err.message().contains("namespace kube-system"),
            "{}",
            err.message()
        );
        // An untrusted revision that wrote the kind does not make it owned.
        let planted = revision(
            4,
            Trust::Unsigned,
            &[("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None)],
        );
        assert!(check_owned(&binding, &[owned.clone(), planted], "shop").is_err());
        // What verified revisions wrote is fine.
        assert!(check_owned(&owned, std::slice::from_ref(&owned), "shop").is_ok());
    }
}
