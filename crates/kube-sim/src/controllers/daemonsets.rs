//! The DaemonSet controller: one pod per schedulable node that matches the template's
//! nodeSelector, replaced node by node on a template change (at most `maxUnavailable` down at
//! once), with the status counts `rollout status` reads.

use serde_json::{Value, json};

use super::events::{self, Event};
use super::meta;
use super::nodes;
use super::pass::{Kind, Pass};
use super::pods;
use super::revisions;

pub fn reconcile(pass: &mut Pass<'_>) {
    let node_print: u64 = pass
        .index
        .of(Kind::Node)
        .iter()
        .filter_map(|k| pass.store.get(k))
        .map(|n| super::hash::fnv(&[meta::text(n, "/metadata/resourceVersion").as_bytes()]))
        .fold(0, u64::wrapping_add);
    for key in pass.index.of(Kind::DaemonSet).to_vec() {
        // Nodes coming and going matter too.
        let Some(ds) = pass.changed(&key, node_print) else {
            continue;
        };
        // Being deleted: the real controllers stop managing its pods (the garbage collector
        // takes them).
        if crate::store::is_deleting(&ds) {
            pass.done(&ds, node_print, None);
            continue;
        }
        sync(pass, &ds);
        pass.done(&ds, node_print, None);
    }
}

fn sync(pass: &mut Pass<'_>, ds: &Value) {
    let Some(update) = revisions::ensure(pass, ds) else {
        return;
    };
    let template = ds
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let pod_spec = template.get("spec").cloned().unwrap_or(Value::Null);
    let targets: Vec<String> = nodes::schedulable(pass)
        .into_iter()
        .filter(|(_, labels)| nodes::fits(labels, &pod_spec))
        .map(|(n, _)| n)
        .collect();
    let mut pods: Vec<Value> = pass
        .owned(Kind::Pod, ds)
        .into_iter()
        .filter(meta::pod_active)
        .collect();

    // Pods on nodes that are gone or no longer fit.
    let (kept, misplaced): (Vec<Value>, Vec<Value>) = pods
        .drain(..)
        .partition(|p| targets.iter().any(|n| n == meta::text(p, "/spec/nodeName")));
    for pod in &misplaced {
        pods::delete(pass, pod);
    }
    pods = kept;
    for node in &targets {
        if !pods.iter().any(|p| meta::text(p, "/spec/nodeName") == node) {
            create_pod(pass, ds, &template, node, &update.hash);
        }
    }
    let outdated =
        |p: &Value| meta::text(p, "/metadata/labels/controller-revision-hash") != update.hash;
    if meta::text(ds, "/spec/updateStrategy/type") != "OnDelete" {
        let desired = i64::try_from(targets.len()).unwrap_or(0);
        let max_unavailable = meta::scaled(
            ds.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable"),
            desired,
            false,
            1,
        )
        .max(1);
        let unavailable = desired
            - i64::try_from(pods.iter().filter(|p| meta::pod_ready(p)).count()).unwrap_or(0);
        let mut budget = max_unavailable - unavailable;
        // Outdated pods that are not ready cost nothing to replace; do those first.
        let mut candidates: Vec<&Value> = pods.iter().filter(|p| outdated(p)).collect();
        candidates.sort_by_key(|p| meta::pod_ready(p));
        let mut replaced = Vec::new();
        for pod in candidates {
            if meta::pod_ready(pod) {
                if budget <= 0 {
                    break;
                }
                budget -= 1;
            }
            replaced.push(pod.clone());
        }
        for pod in &replaced {
            pods::delete(pass, pod);
        }
        pods.retain(|p| !replaced.iter().any(|r| meta::uid(r) == meta::uid(p)));
    }

    let desired = i64::try_from(targets.len()).unwrap_or(0);
    let scheduled = i64::try_from(pods.len()).unwrap_or(0);
    let ready = i64::try_from(pods.iter().filter(|p| meta::pod_ready(p)).count()).unwrap_or(0);
    let updated = i64::try_from(pods.iter().filter(|p| !outdated(p)).count()).unwrap_or(0);
    let mut status = json!({
        "currentNumberScheduled": scheduled,
        "desiredNumberScheduled": desired,
        "numberMisscheduled": 0,
        "numberReady": ready,
        "observedGeneration": meta::int(ds, "/metadata/generation", 1),
    });
    meta::put_count(&mut status, "updatedNumberScheduled", updated);
    meta::put_count(&mut status, "numberAvailable", ready);
    meta::put_count(&mut status, "numberUnavailable", desired - ready);
    pass.set_status(Kind::DaemonSet, ds, status);
}

fn create_pod(pass: &mut Pass<'_>, ds: &Value, template: &Value, node: &str, hash: &str) {
    let generation = meta::int(ds, "/metadata/generation", 1).to_string();
    let mut metadata = template
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.remove("creationTimestamp");
        m.remove("name");
    }
    metadata["generateName"] = json!(format!("{}-", meta::name(ds)));
    metadata["namespace"] = json!(meta::namespace(ds));
    metadata["labels"] = meta::labels_with(
        metadata.get("labels"),
        &[
            ("controller-revision-hash", hash),
            ("pod-template-generation", &generation),
        ],
    );
    metadata["ownerReferences"] = meta::owner_reference(ds);
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    // The real controller pins pods with node affinity and lets the scheduler bind them; the
    // simulated scheduler honours nodeName directly.
    spec["nodeName"] = json!(node);
    let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec });
    if let Some(created) = pass.create(Kind::Pod, meta::namespace(ds), pod) {
        let message = format!("Created pod: {}", meta::name(&created));
        events::record(
            pass,
            ds,
            &Event::normal("daemonset-controller", "SuccessfulCreate", message),
        );
    }
}
