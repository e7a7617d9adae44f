//! Pruning a release: the objects its revisions owned that the new set no longer has.
//!
//! The plan is made under the deploy lock, before the first write, so that `--max-prune` can refuse a mass deletion
//! (an empty input, a wrong directory) while nothing has changed yet. An object is only a
//! candidate while the cluster still says it is ours: it carries this release's `part-of` label,
//! its uid is the one the revision recorded (a namesake created since by someone else is not
//! ours), and its kind and namespace are among those the `ApplySet` parent lists. The deletion
//! itself carries the uid as a precondition, so an object replaced between plan and delete is
//! left alone by the API server.

use std::collections::BTreeSet;

use cluster::{OwnedObject, ReleaseRecord};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, Preconditions};
use kube::core::ApiResource;
use stage::StageError;

use crate::ApplyArgs;
use crate::applyset;
use crate::manifest::{ManifestSet, ObjectRef};
use crate::order;
use crate::report::{Action, AppliedObject};

/// An object the apply will delete once the new set is in place.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub key: ObjectRef,
    pub resource: ApiResource,
    pub uid: String,
    /// As the object was when the plan was made: what the report shows of it.
    pub generation: Option<i64>,
    pub resource_version: String,
}

impl AsRef<ObjectRef> for Candidate {
    fn as_ref(&self) -> &ObjectRef {
        &self.key
    }
}

/// The plan for this apply (none without `--release` or with `--no-prune`): what the release's
/// revisions own that `set` has not and is still
/// ours, refused when larger than `--max-prune`. Every revision counts, failed ones included: a
/// rollback must take away what the failed revision added.
pub async fn prepare(
    args: &ApplyArgs,
    client: &kube::Client,
    namespace: &str,
    records: &[ReleaseRecord],
    set: &ManifestSet,
    resource: impl Fn(&ObjectRef) -> Option<ApiResource>,
) -> Result<Vec<Candidate>, StageError> {
    let Some(release) = args.release.as_ref().filter(|_| !args.no_prune) else {
        return Ok(Vec::new());
    };
    let leftovers = leftovers(records, set);
    let reach = Reach::default();
    let candidates = plan(client, release, namespace, &leftovers, reach, resource).await?;
    check_max(&candidates, args.max_prune)?;
    Ok(candidates)
}

/// An object some revision owned that the new set does not contain, with every uid the
/// revisions recorded for it (a namesake deleted and re-created by an older revision has
/// another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub key: ObjectRef,
    pub uids: BTreeSet<String>,
}

/// The objects of `records` that `set` does not contain, newest apiVersion first. The version is
/// not compared: an object moved from `v1beta1` to `v1` is the same object and must not be
/// deleted.
pub fn leftovers(records: &[ReleaseRecord], set: &ManifestSet) -> Vec<Leftover> {
    let mut found: Vec<Leftover> = Vec::new();
    for owned in records.iter().rev().flat_map(|r| r.objects.iter()) {
        let key = key_of(owned);
        let in_set = set.iter().any(|m| same_object(&m.key, &key));
        if in_set {
            continue;
        }
        let uid = owned.uid.iter().cloned();
        match found.iter_mut().find(|l| same_object(&l.key, &key)) {
            Some(known) => known.uids.extend(uid),
            None => found.push(Leftover {
                key,
                uids: uid.collect(),
            }),
        }
    }
    found
}

fn key_of(owned: &OwnedObject) -> ObjectRef {
    ObjectRef {
        api_version: owned.api_version.clone(),
        kind: owned.kind.clone(),
        namespace: owned.namespace.clone(),
        name: owned.name.clone(),
    }
}

fn same_object(a: &ObjectRef, b: &ObjectRef) -> bool {
    a.kind == b.kind && a.group() == b.group() && a.namespace == b.namespace && a.name == b.name
}

/// Which kinds whose deletion reaches beyond the release a plan may include: pruning never, an
/// uninstall when asked (`--delete-namespaces`, `--delete-crds`).
#[derive(clap::Args, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    /// Also delete Namespaces the release applied (and everything in them)
    #[arg(long = "delete-namespaces")]
    pub namespaces: bool,
    /// Also delete CustomResourceDefinitions the release applied (and every resource of their
    /// kinds, in the whole cluster)
    #[arg(long = "delete-crds")]
    pub crds: bool,
}

/// Checks each leftover against the live cluster and keeps those that are still ours (see the
/// module header). `resource` finds the API path of a kind (`None`: not served, nothing to do).
pub async fn plan(
    client: &kube::Client,
    release: &str,
    namespace: &str,
    leftovers: &[Leftover],
    reach: Reach,
    resource: impl Fn(&ObjectRef) -> Option<ApiResource>,
) -> Result<Vec<Candidate>, StageError> {
    if leftovers.is_empty() {
        return Ok(Vec::new());
    }
    let parent_name = applyset::parent_name(release);
    let id = applyset::id(&parent_name, namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let what = format!("reading the `ApplySet` parent secret/{parent_name}");
    let parent = cluster::retry(&what, || secrets.get_opt(&parent_name))
        .await
        .map_err(|err| cluster::api_error(&what, &err))?;
    let annotations = parent
        .and_then(|p| p.metadata.annotations)
        .unwrap_or_default();
    let group_kinds = applyset::split_list(
        annotations
            .get(applyset::GROUP_KINDS_ANNOTATION)
            .map(String::as_str),
    );
    let mut namespaces = applyset::split_list(
        annotations
            .get(applyset::NAMESPACES_ANNOTATION)
            .map(String::as_str),
    );
    namespaces.insert(namespace.to_owned());

    let mut candidates = Vec::new();
    for leftover in leftovers {
        let key = leftover.key.clone();
        let shown = crate::report::display_name(&key);
        if let Some(why) = never_pruned(&key, reach) {
            tracing::warn!(
                "{shown}: no longer in the set, but {why}; delete it yourself if that is what \
                 you want"
            );
            continue;
        }
        // Without the uid we cannot tell our object from a namesake; leave it.
        if leftover.uids.is_empty() {
            tracing::info!("{shown}: no uid recorded; not pruned");
            continue;
        }
        let outside_namespace = key
            .namespace
            .as_ref()
            .is_some_and(|ns| !namespaces.contains(ns));
        if outside_namespace || !group_kinds.contains(&applyset::group_kind(&key)) {
            tracing::warn!("{shown}: outside the release's kinds and namespaces; not pruned");
            continue;
        }
        let Some(resource) = resource(&key) else {
            continue;
        };
        let api = api_for(client, &key, &resource);
        let what = format!("reading {shown} to prune it");
        let Some(live) = cluster::retry(&what, || api.get_opt(&key.name))
            .await
            .map_err(|err| cluster::api_error(&what, &err))?
        else {
            continue;
        };
        let labelled = live
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(applyset::PART_OF_LABEL))
            .is_some_and(|v| *v == id);
        if !labelled {
            tracing::info!("{shown}: no longer part of release {release}; not pruned");
            continue;
        }
        let Some(uid) = live
            .metadata
            .uid
            .clone()
            .filter(|uid| leftover.uids.contains(uid))
        else {
            tracing::info!("{shown}: replaced since the release recorded it; not pruned");
            continue;
        };
        candidates.push(Candidate {
            key,
            resource,
            uid,
            generation: live.metadata.generation,
            resource_version: live.metadata.resource_version.unwrap_or_default(),
        });
    }
    Ok(candidates)
}

/// Kinds whose deletion takes other objects with it, members of no release included: a
/// Namespace takes everything in it (the release's records and lock too), a CRD every custom
/// resource of its kind in the cluster. Pruning must never reach outside the release, so these
/// are left for a person to delete.
fn never_pruned(key: &ObjectRef, reach: Reach) -> Option<&'static str> {
    match (key.group(), key.kind.as_str()) {
        ("", "Namespace") if !reach.namespaces => {
            Some("namespaces are not pruned (deleting one deletes everything in it)")
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") if !reach.crds => Some(
            "CustomResourceDefinitions are not pruned (deleting one deletes every resource of its \
             kind in the cluster)",
        ),
        _ => None,
    }
}

/// Refuses a plan larger than `max` (`--max-prune`), before anything is written.
pub fn check_max(candidates: &[Candidate], max: usize) -> Result<(), StageError> {
    if candidates.len() <= max {
        return Ok(());
    }
    let count = candidates.len();
    let plural = if count == 1 { "" } else { "s" };
    Err(StageError::failed(format!(
        "refusing to prune {count} object{plural} (more than --max-prune {max}); nothing was changed"
    ))
    .with_hint("check the input is the whole set, then raise --max-prune, or pass --no-prune"))
}

/// Deletes the candidates in deletion order (or, in a dry run, only reports them), reported as
/// `action` (pruned, or deleted by an uninstall).
///
/// `lock`: the release's deploy lock. Deleting is what a run that lost it must least do, so it
/// is confirmed with the API server before the first delete and checked before each one.
pub async fn execute(
    client: &kube::Client,
    candidates: &[Candidate],
    dry_run: bool,
    action: Action,
    lock: Option<&cluster::LockCheck>,
) -> Result<Vec<AppliedObject>, StageError> {
    let mut pruned = Vec::new();
    if let Some(lock) = lock.filter(|_| !dry_run && !candidates.is_empty()) {
        lock.confirm().await?;
    }
    for step in order::deletion_phases(candidates) {
        for candidate in step.items {
            let key = &candidate.key;
            let shown = crate::report::display_name(key);
            if let Some(lock) = lock {
                lock.ensure()?;
            }
            if !dry_run {
                let api = api_for(client, key, &candidate.resource);
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(candidate.uid.clone()),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                let what = format!("deleting {shown}");
                match cluster::retry(&what, || api.delete(&key.name, &params)).await {
                    Ok(_) => {}
                    // Gone already: what we wanted. A 409 is a failed uid precondition: the
                    // object was replaced since the plan, so it is not ours to delete.
                    Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {
                        tracing::info!("{shown}: gone or replaced meanwhile; left alone");
                        continue;
                    }
                    Err(err) => return Err(cluster::api_error(&what, &err)),
                }
            }
            let dry = if dry_run { " (server dry run)" } else { "" };
            tracing::info!("{shown} {}{dry}", action.as_str());
            pruned.push(AppliedObject {
                api_version: key.api_version.clone(),
                kind: key.kind.clone(),
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                uid: candidate.uid.clone(),
                generation: candidate.generation,
                resource_version: candidate.resource_version.clone(),
                action,
                changes: None,
            });
        }
    }
    Ok(pruned)
}

fn api_for(client: &kube::Client, key: &ObjectRef, resource: &ApiResource) -> Api<DynamicObject> {
    match &key.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Namespacing, Source, parse};

    fn owned(api_version: &str, kind: &str, name: &str) -> OwnedObject {
        OwnedObject {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: Some("shop".to_owned()),
            name: name.to_owned(),
            uid: Some(format!("uid-{name}")),
        }
    }

    fn set(text: &str) -> ManifestSet {
        let namespacing = Namespacing {
            default: "shop",
            explicit: false,
        };
        parse(&Source::Stdin, text)
            .resolve(&namespacing, |_, _| Some(true))
            .unwrap()
    }

    #[test]
    fn leftovers_ignore_the_version_and_keep_what_the_set_dropped() {
        let mut older = ReleaseRecord::new("web", "shop");
        older.objects = vec![owned("v1", "ConfigMap", "old")];
        let mut previous = ReleaseRecord::new("web", "shop");
        previous.objects = vec![
            owned("autoscaling/v2beta2", "HorizontalPodAutoscaler", "api"),
            owned("v1", "ConfigMap", "old"),
            owned("v1", "ConfigMap", "keep"),
            owned("v1", "ConfigMap", "failed-only"),
        ];
        previous.objects[1].uid = Some("uid-old-2".to_owned());
        let set = set(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  \
             name: api\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n",
        );
        let found = leftovers(&[older, previous], &set);
        let names: Vec<&str> = found.iter().map(|l| l.key.name.as_str()).collect();
        assert_eq!(names, ["old", "failed-only"]);
        let uids: Vec<&str> = found[0].uids.iter().map(String::as_str).collect();
        assert_eq!(uids, ["uid-old", "uid-old-2"]);
    }

    #[test]
    fn max_prune_refuses_only_above_the_limit() {
        let candidate = Candidate {
            key: ObjectRef {
                api_version: "v1".to_owned(),
                kind: "ConfigMap".to_owned(),
                namespace: Some("shop".to_owned()),
                name: "old".to_owned(),
            },
            resource: ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
            uid: "u".to_owned(),
            generation: None,
            resource_version: "1".to_owned(),
        };
        let two = vec![candidate.clone(), candidate];
        assert!(check_max(&two, 2).is_ok());
        let refused = check_max(&two, 1).unwrap_err();
        assert!(
            refused.message().contains("2 objects"),
            "{}",
            refused.message()
        );
        assert!(refused.message().contains("--max-prune 1"));
        assert!(check_max(&[], 0).is_ok());
    }
}
