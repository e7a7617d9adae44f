//! Which pods belong to a workload's *current* revision: a rollout is judged by its new pods,
//! never by the old ones it replaces (during a rollback, the old ones are the broken ones).
//!
//! Each kind has its own mark of the current revision, and each is only trusted once the
//! controller has observed the object's generation; before that the pods say nothing about the
//! spec just written, and the workload is judged on its status alone.
//!
//! - Deployment: the ReplicaSet whose pod template equals the Deployment's, ignoring
//!   `pod-template-hash` (kubectl's and the controller's `FindNewReplicaSet`/`EqualIgnoreHash`).
//!   No such ReplicaSet (a paused Deployment, or one not created yet): no pods. Never the
//!   highest revision instead: that is the broken one after a rollback.
//! - StatefulSet: pods labelled `controller-revision-hash` = `status.updateRevision`.
//! - DaemonSet: pods labelled `controller-revision-hash` = the hash of the DaemonSet's newest
//!   ControllerRevision (its `pod-template-generation` label would drop every pod when a spec
//!   change outside the template bumps the generation).
//! - Job, ReplicaSet: every pod they own.

use serde_json::Value;

use crate::json::{int, label, owned_by, text};
use crate::target::Rule;

/// The label the Deployment controller adds to a ReplicaSet's template and pods.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The label StatefulSet and DaemonSet pods carry, naming their ControllerRevision's hash.
const REVISION_HASH: &str = "controller-revision-hash";
/// The label the history library puts on every ControllerRevision (kube-sim uses only this one).
const HISTORY_HASH: &str = "controller.kubernetes.io/hash";

/// What the pod selection may look at: the namespace's pods, ReplicaSets and ControllerRevisions
/// (each empty when not watched for this workload).
#[derive(Debug, Clone, Copy)]
pub struct Owned<'a> {
    pub pods: &'a [&'a Value],
    pub replica_sets: &'a [&'a Value],
    pub revisions: &'a [&'a Value],
}

/// Whether the controller has seen the object's latest spec (`observedGeneration` ≥
/// `generation`). Objects without a generation (none of the workloads) count as observed.
pub fn generation_observed(object: &Value) -> bool {
    let Some(generation) = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
    else {
        return true;
    };
    generation <= int(object, "/status/observedGeneration")
}

/// The pods of `object`'s current revision, sorted by name.
pub fn current_pods(rule: Rule, object: &Value, owned: Owned<'_>) -> Vec<Value> {
    let uid = text(object, "/metadata/uid");
    let mine = owned.pods.iter().copied().filter(|p| owned_by(p, uid));
    let mut pods: Vec<Value> = match rule {
        Rule::Deployment => {
            let Some(rs) = new_replica_set(object, owned.replica_sets) else {
                return Vec::new();
            };
            let rs_uid = text(rs, "/metadata/uid");
            owned
                .pods
                .iter()
                .filter(|p| owned_by(p, rs_uid))
                .map(|p| (*p).clone())
                .collect()
        }
        Rule::StatefulSet => {
            if !generation_observed(object) {
                return Vec::new();
            }
            let revision = text(object, "/status/updateRevision");
            mine.filter(|p| revision.is_empty() || label(p, REVISION_HASH) == Some(revision))
                .cloned()
                .collect()
        }
        Rule::DaemonSet => {
            if !generation_observed(object) {
                return Vec::new();
            }
            let Some(hash) = daemon_set_hash(object, owned.revisions) else {
                return Vec::new();
            };
            mine.filter(|p| label(p, REVISION_HASH) == Some(hash))
                .cloned()
                .collect()
        }
        _ => mine.cloned().collect(),
    };
    pods.sort_by(|a, b| text(a, "/metadata/name").cmp(text(b, "/metadata/name")));
    pods
}

/// The Deployment's ReplicaSet for its current pod template, if it exists yet: the oldest whose
/// template equals the Deployment's once `pod-template-hash` is ignored (as `FindNewReplicaSet`
/// picks the oldest of equal ones).
pub fn new_replica_set<'a>(deployment: &Value, replica_sets: &[&'a Value]) -> Option<&'a Value> {
    let uid = text(deployment, "/metadata/uid");
    let wanted = without_hash(deployment.pointer("/spec/template")?);
    let mut matching: Vec<&Value> = replica_sets
        .iter()
        .copied()
        .filter(|rs| owned_by(rs, uid))
        .filter(|rs| rs.pointer("/spec/template").map(without_hash) == Some(wanted.clone()))
        .collect();
    matching.sort_by(|a, b| {
        let key = |o: &'a Value| {
            (
                text(o, "/metadata/creationTimestamp"),
                text(o, "/metadata/name"),
            )
        };
        key(a).cmp(&key(b))
    });
    matching.first().copied()
}

/// A pod template without the `pod-template-hash` label (`EqualIgnoreHash`).
fn without_hash(template: &Value) -> Value {
    let mut template = template.clone();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template
}

/// The hash of the DaemonSet's newest ControllerRevision (highest `revision`), which its
/// current pods carry as `controller-revision-hash`.
pub fn daemon_set_hash<'a>(daemon_set: &Value, revisions: &[&'a Value]) -> Option<&'a str> {
    let uid = text(daemon_set, "/metadata/uid");
    let newest = revisions
        .iter()
        .copied()
        .filter(|r| owned_by(r, uid))
        .max_by_key(|r| int(r, "/revision"))?;
    label(newest, REVISION_HASH)
        .or_else(|| label(newest, HISTORY_HASH))
        .or_else(|| {
            // Named `<daemonset>-<hash>` by every controller.
            text(newest, "/metadata/name")
                .strip_prefix(text(daemon_set, "/metadata/name"))
                .and_then(|rest| rest.strip_prefix('-'))
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template(image: &str, hash: Option<&str>) -> Value {
        let mut labels = json!({"app": "api"});
        if let Some(hash) = hash {
            labels[POD_TEMPLATE_HASH] = hash.into();
        }
        json!({"metadata": {"labels": labels},
               "spec": {"containers": [{"name": "app", "image": image}]}})
    }

    fn deployment(image: &str, revision: &str) -> Value {
        json!({"metadata": {"name": "api", "uid": "d1", "generation": 3,
                            "annotations": {"deployment.kubernetes.io/revision": revision}},
               "spec": {"template": template(image, None)},
               "status": {"observedGeneration": 3}})
    }

    fn replica_set(name: &str, image: &str, revision: &str, created: &str) -> Value {
        json!({"metadata": {"name": name, "uid": name, "creationTimestamp": created,
                            "ownerReferences": [{"uid": "d1"}],
                            "annotations": {"deployment.kubernetes.io/revision": revision}},
               "spec": {"template": template(image, Some(name))}})
    }

    fn pod(name: &str, owner: &str, labels: &Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels, "ownerReferences": [{"uid": owner}]}})
    }

    #[test]
    fn the_new_replica_set_is_found_by_template_not_by_revision() {
        // The Deployment wants revision 3; only ReplicaSets 1 and 2 exist, and 2 (the highest)
        // is the broken one a rollback moves away from. Neither runs the wanted template.
        let d = deployment("api:1", "3");
        let rs1 = replica_set("rs1", "api:0", "1", "2026-11-23T10:00:00Z");
        let rs2 = replica_set("rs2", "api:broken", "2", "2026-11-23T10:01:00Z");
        assert_eq!(new_replica_set(&d, &[&rs1, &rs2]), None);
        let broken_pod = pod("api-rs2-x", "rs2", &json!({}));
        let owned = Owned {
            pods: &[&broken_pod],
            replica_sets: &[&rs1, &rs2],
            revisions: &[],
        };
        assert!(
            current_pods(Rule::Deployment, &d, owned).is_empty(),
            "the old ReplicaSet's pods are not judged"
        );

        // Once a ReplicaSet with the template exists (whatever revision it says), it is the one.
        let rs3 = replica_set("rs3", "api:1", "1", "2026-11-23T10:02:00Z");
        let good_pod = pod("api-rs3-y", "rs3", &json!({}));
        let owned = Owned {
            pods: &[&broken_pod, &good_pod],
            replica_sets: &[&rs1, &rs2, &rs3],
            revisions: &[],
        };
        assert_eq!(
            new_replica_set(&d, owned.replica_sets).map(|rs| text(rs, "/metadata/name")),
            Some("rs3")
        );
        let pods = current_pods(Rule::Deployment, &d, owned);
        assert_eq!(pods.len(), 1);
        assert_eq!(text(&pods[0], "/metadata/name"), "api-rs3-y");
    }

    #[test]
    fn another_owners_replica_set_never_counts() {
        let d = deployment("api:1", "1");
        let mut foreign = replica_set("rs9", "api:1", "1", "2026-11-23T10:00:00Z");
        foreign["metadata"]["ownerReferences"] = json!([{"uid": "someone-else"}]);
        assert_eq!(new_replica_set(&d, &[&foreign]), None);
    }

    #[test]
    fn stateful_set_pods_wait_for_the_generation_to_be_observed() {
        let sts = |observed: i64| {
            json!({"metadata": {"name": "db", "uid": "s1", "generation": 2},
                   "status": {"observedGeneration": observed, "updateRevision": "db-old"}})
        };
        let old = pod("db-0", "s1", &json!({REVISION_HASH: "db-old"}));
        let owned = Owned {
            pods: &[&old],
            replica_sets: &[],
            revisions: &[],
        };
        // updateRevision still names the old revision until the controller catches up.
        assert!(current_pods(Rule::StatefulSet, &sts(1), owned).is_empty());
        assert_eq!(current_pods(Rule::StatefulSet, &sts(2), owned).len(), 1);
    }

    #[test]
    fn daemon_set_pods_follow_the_newest_controller_revision_not_the_generation() {
        // Generation 5 after a change outside the template (updateStrategy): the pods still
        // carry pod-template-generation 4 and are the current ones.
        let ds = json!({"metadata": {"name": "agent", "uid": "ds1", "generation": 5},
                        "status": {"observedGeneration": 5}});
        let revision = |n: i64, hash: &str| {
            json!({"metadata": {"name": format!("agent-{hash}"), "ownerReferences": [{"uid": "ds1"}],
                                "labels": {HISTORY_HASH: hash}},
                   "revision": n})
        };
        let (r1, r2) = (revision(1, "aaa"), revision(2, "bbb"));
        let old = pod(
            "agent-1",
            "ds1",
            &json!({REVISION_HASH: "aaa", "pod-template-generation": "1"}),
        );
        let new = pod(
            "agent-2",
            "ds1",
            &json!({REVISION_HASH: "bbb", "pod-template-generation": "4"}),
        );
        let owned = Owned {
            pods: &[&old, &new],
            replica_sets: &[],
            revisions: &[&r1, &r2],
        };
        let pods = current_pods(Rule::DaemonSet, &ds, owned);
        assert_eq!(pods.len(), 1);
        assert_eq!(text(&pods[0], "/metadata/name"), "agent-2");

        // A revision named but not labelled still gives its hash.
        let unlabelled = json!({"metadata": {"name": "agent-ccc", "ownerReferences": [{"uid": "ds1"}]},
                                "revision": 3});
        assert_eq!(daemon_set_hash(&ds, &[&r2, &unlabelled]), Some("ccc"));
    }

    #[test]
    fn generation_not_observed_yet() {
        assert!(!generation_observed(
            &json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 1}})
        ));
        assert!(!generation_observed(
            &json!({"metadata": {"generation": 1}})
        ));
        assert!(generation_observed(
            &json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2}})
        ));
    }
}
