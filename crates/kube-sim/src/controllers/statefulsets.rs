//! The StatefulSet controller: pods `<name>-0` … `<name>-N-1` created in order (each waits for
//! the one before to be Running and Ready under `OrderedReady`), their claims from
//! `volumeClaimTemplates`, and rolling updates from the highest ordinal down to `partition`,
//! tracked by ControllerRevisions (`currentRevision`/`updateRevision`).

use serde_json::{Value, json};

use super::events::{self, Event};
use super::meta;
use super::pass::{Kind, Pass};
use super::pods;
use super::revisions::{self, Revision};
use crate::store::is_deleting;

const REVISION_LABEL: &str = "controller-revision-hash";

pub fn reconcile(pass: &mut Pass<'_>) {
    for key in pass.index.of(Kind::StatefulSet).to_vec() {
        let Some(sts) = pass.changed(&key, 0) else {
            continue;
        };
        // Being deleted: the real controllers stop managing its pods (the garbage collector
        // takes them).
        if is_deleting(&sts) {
            pass.done(&sts, 0, None);
            continue;
        }
        sync(pass, &sts);
        pass.done(&sts, 0, None);
    }
}

fn ordinal(sts: &Value, pod: &Value) -> Option<i64> {
    meta::name(pod)
        .strip_prefix(meta::name(sts))?
        .strip_prefix('-')?
        .parse()
        .ok()
}

fn finished(pod: &Value) -> bool {
    matches!(meta::text(pod, "/status/phase"), "Succeeded" | "Failed")
}

fn healthy(pod: &Value) -> bool {
    meta::text(pod, "/status/phase") == "Running" && meta::pod_ready(pod)
}

fn sync(pass: &mut Pass<'_>, sts: &Value) {
    let Some(update) = revisions::ensure(pass, sts) else {
        return;
    };
    let current_name = match meta::text(sts, "/status/currentRevision") {
        "" => update.name.clone(),
        name => name.to_owned(),
    };
    let replicas = meta::int(sts, "/spec/replicas", 1).max(0);
    let parallel = meta::text(sts, "/spec/podManagementPolicy") == "Parallel";
    let rolling = meta::text(sts, "/spec/updateStrategy/type") != "OnDelete";
    let partition = if rolling {
        meta::int(sts, "/spec/updateStrategy/rollingUpdate/partition", 0).max(0)
    } else {
        replicas
    };

    let mut pods: Vec<(i64, Value)> = pass
        .owned(Kind::Pod, sts)
        .into_iter()
        .filter_map(|p| Some((ordinal(sts, &p)?, p)))
        .collect();
    pods.sort_by_key(|(i, _)| *i);
    let mut busy = false;

    // Pods that finished or failed are replaced, as the controller does; terminating ones
    // keep their ordinal until they are gone (a new pod cannot take the name before).
    for (_, pod) in pods.iter().filter(|(_, p)| finished(p) && !is_deleting(p)) {
        pods::delete(pass, pod);
        busy = true;
    }
    pods.retain(|(_, p)| !finished(p) || is_deleting(p));

    for i in 0..replicas {
        if busy && !parallel {
            break;
        }
        if let Some((_, pod)) = pods.iter().find(|(o, _)| *o == i) {
            // Under OrderedReady a terminating pod holds everything up until it is gone.
            if !healthy(pod) || is_deleting(pod) {
                busy = true;
            }
        } else {
            {
                let revision = if i < partition && current_name != update.name {
                    current_name.as_str()
                } else {
                    update.name.as_str()
                };
                create_pod(pass, sts, i, revision, &update);
                busy = true;
            }
        }
    }
    // Scale down from the highest ordinal, one at a time unless Parallel.
    for (_, pod) in pods.iter().rev().filter(|(i, _)| *i >= replicas) {
        if busy && !parallel {
            break;
        }
        if is_deleting(pod) {
            busy = true;
            continue;
        }
        pods::delete(pass, pod);
        event(
            pass,
            sts,
            "SuccessfulDelete",
            format!(
                "delete Pod {} in StatefulSet {} successful",
                meta::name(pod),
                meta::name(sts)
            ),
        );
        busy = true;
    }
    // Rolling update: replace the highest-ordinal outdated pod at or above the partition once
    // everything else is healthy.
    if rolling && !busy {
        let outdated = pods.iter().rev().find(|(i, p)| {
            !is_deleting(p)
                && *i >= partition
                && *i < replicas
                && meta::text(p, "/metadata/labels/controller-revision-hash") != update.name
        });
        if let Some((_, pod)) = outdated {
            pods::delete(pass, pod);
            event(
                pass,
                sts,
                "SuccessfulDelete",
                format!(
                    "delete Pod {} in StatefulSet {} successful",
                    meta::name(pod),
                    meta::name(sts)
                ),
            );
        }
    }
    write_status(pass, sts, &pods, replicas, &current_name, &update);
}

fn create_pod(pass: &mut Pass<'_>, sts: &Value, ordinal: i64, revision: &str, update: &Revision) {
    let template = if revision == update.name {
        sts.pointer("/spec/template").cloned()
    } else {
        revisions::template_named(pass, sts, revision)
            .or_else(|| sts.pointer("/spec/template").cloned())
    }
    .unwrap_or_else(|| json!({}));
    let name = format!("{}-{ordinal}", meta::name(sts));
    let index = ordinal.to_string();
    let mut metadata = template
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.remove("creationTimestamp");
    }
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(meta::namespace(sts));
    metadata["labels"] = meta::labels_with(
        metadata.get("labels"),
        &[
            (REVISION_LABEL, revision),
            ("statefulset.kubernetes.io/pod-name", &name),
            ("apps.kubernetes.io/pod-index", &index),
        ],
    );
    metadata["ownerReferences"] = meta::owner_reference(sts);
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    spec["hostname"] = json!(name);
    if let Some(service) = sts
        .pointer("/spec/serviceName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        spec["subdomain"] = json!(service);
    }
    for claim in sts
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let claim_name = format!("{}-{name}", meta::name(&claim));
        ensure_claim(pass, sts, &claim, &claim_name, &name);
        let volume = json!({ "name": meta::name(&claim), "persistentVolumeClaim": { "claimName": claim_name } });
        match spec.get_mut("volumes").and_then(Value::as_array_mut) {
            Some(volumes) => {
                volumes.retain(|v| v.get("name") != volume.get("name"));
                volumes.push(volume);
            }
            None => spec["volumes"] = json!([volume]),
        }
    }
    let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec });
    if pass.create(Kind::Pod, meta::namespace(sts), pod).is_some() {
        event(
            pass,
            sts,
            "SuccessfulCreate",
            format!(
                "create Pod {name} in StatefulSet {} successful",
                meta::name(sts)
            ),
        );
    }
}

fn ensure_claim(pass: &mut Pass<'_>, sts: &Value, template: &Value, claim_name: &str, pod: &str) {
    let key = pass
        .types
        .key(Kind::Claim, meta::namespace(sts), claim_name);
    if pass.get(&key).is_some() {
        return;
    }
    let mut metadata = template
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    metadata["name"] = json!(claim_name);
    metadata["namespace"] = json!(meta::namespace(sts));
    metadata["labels"] = meta::labels_with(
        metadata
            .get("labels")
            .or_else(|| sts.pointer("/spec/selector/matchLabels")),
        &[],
    );
    let claim = json!({ "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})) });
    if pass
        .create(Kind::Claim, meta::namespace(sts), claim)
        .is_some()
    {
        let message = format!(
            "create Claim {claim_name} Pod {pod} in StatefulSet {} success",
            meta::name(sts)
        );
        event(pass, sts, "SuccessfulCreate", message);
    }
}

fn event(pass: &mut Pass<'_>, sts: &Value, reason: &'static str, message: String) {
    events::record(
        pass,
        sts,
        &Event::normal("statefulset-controller", reason, message),
    );
}

fn write_status(
    pass: &mut Pass<'_>,
    sts: &Value,
    pods: &[(i64, Value)],
    replicas: i64,
    current: &str,
    update: &Revision,
) {
    let live: Vec<&Value> = pods
        .iter()
        .map(|(_, p)| p)
        .filter(|p| {
            pass.store
                .get(&pass.types.key(Kind::Pod, meta::namespace(p), meta::name(p)))
                .is_some()
        })
        .collect();
    let count = |f: &dyn Fn(&Value) -> bool| {
        i64::try_from(live.iter().filter(|p| f(p)).count()).unwrap_or(0)
    };
    let total = count(&|_| true);
    let ready = count(&|p| meta::pod_ready(p));
    // Terminating pods still count as replicas, but not as current or updated ones.
    let revision_is = |p: &Value, r: &str| {
        !is_deleting(p) && meta::text(p, "/metadata/labels/controller-revision-hash") == r
    };
    let updated = count(&|p| revision_is(p, &update.name));
    let mut current_name = current.to_owned();
    let mut current_count = count(&|p| revision_is(p, current));
    if updated == replicas && ready == replicas && total == replicas {
        current_name.clone_from(&update.name);
        current_count = updated;
    }
    let mut status = json!({
        "observedGeneration": meta::int(sts, "/metadata/generation", 1),
        "replicas": total,
        "currentRevision": current_name,
        "updateRevision": update.name,
        "collisionCount": 0,
    });
    meta::put_count(&mut status, "readyReplicas", ready);
    meta::put_count(&mut status, "currentReplicas", current_count);
    meta::put_count(&mut status, "updatedReplicas", updated);
    meta::put_count(&mut status, "availableReplicas", ready);
    pass.set_status(Kind::StatefulSet, sts, status);
}
