//! The ReplicaSet controller: keeps `spec.replicas` pods of the template alive (creating or
//! deleting the least useful ones first) and reports replicas, ready and available counts.

use serde_json::{Value, json};

use super::events::{self, Event};
use super::meta;
use super::pass::{Kind, Pass};
use super::pods;

pub fn reconcile(pass: &mut Pass<'_>) {
    for key in pass.index.of(Kind::ReplicaSet).to_vec() {
        let Some(rs) = pass.changed(&key, 0) else {
            continue;
        };
        // Being deleted: the real controllers stop managing its pods (the garbage collector
        // takes them).
        if crate::store::is_deleting(&rs) {
            pass.done(&rs, 0, None);
            continue;
        }
        let due = sync(pass, &rs);
        pass.done(&rs, 0, due);
    }
}

/// Returns when a pod becomes available (minReadySeconds) if that is still ahead.
fn sync(pass: &mut Pass<'_>, rs: &Value) -> Option<i64> {
    let wanted = meta::int(rs, "/spec/replicas", 1).max(0);
    let mut active: Vec<Value> = pass
        .owned(Kind::Pod, rs)
        .into_iter()
        .filter(meta::pod_active)
        .collect();
    let count = i64::try_from(active.len()).unwrap_or(i64::MAX);
    if count < wanted {
        for _ in count..wanted {
            if let Some(pod) = create_pod(pass, rs) {
                active.push(pod);
            }
        }
    } else if count > wanted {
        active.sort_by_key(deletion_rank);
        let extra = usize::try_from(count - wanted).unwrap_or(0);
        for pod in active.drain(..extra) {
            pods::delete(pass, &pod);
            let message = format!("Deleted pod: {}", meta::name(&pod));
            events::record(
                pass,
                rs,
                &Event::normal("replicaset-controller", "SuccessfulDelete", message),
            );
        }
    }
    let min_ready_ms = meta::int(rs, "/spec/minReadySeconds", 0) * 1000;
    let (ready, available, due) = readiness(pass.now_ms, &active, min_ready_ms);
    let mut status = json!({ "replicas": active.len() });
    meta::put_count(
        &mut status,
        "fullyLabeledReplicas",
        i64::try_from(active.len()).unwrap_or(0),
    );
    meta::put_count(&mut status, "readyReplicas", ready);
    meta::put_count(&mut status, "availableReplicas", available);
    status["observedGeneration"] = json!(meta::int(rs, "/metadata/generation", 1));
    pass.set_status(Kind::ReplicaSet, rs, status);
    due
}

/// (ready, available, when the next one becomes available).
pub fn readiness(now_ms: i64, pods: &[Value], min_ready_ms: i64) -> (i64, i64, Option<i64>) {
    let mut ready = 0;
    let mut available = 0;
    let mut due: Option<i64> = None;
    for pod in pods.iter().filter(|p| meta::pod_ready(p)) {
        ready += 1;
        let since = meta::condition(pod, "Ready")
            .and_then(|c| c.get("lastTransitionTime"))
            .and_then(Value::as_str)
            .and_then(crate::clock::parse_time)
            .map_or(0, jiff::Timestamp::as_millisecond);
        if min_ready_ms == 0 || since + min_ready_ms <= now_ms {
            available += 1;
        } else {
            let at = since + min_ready_ms;
            due = Some(due.map_or(at, |d| d.min(at)));
        }
    }
    (ready, available, due)
}

fn create_pod(pass: &mut Pass<'_>, rs: &Value) -> Option<Value> {
    let template = rs
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut metadata = template
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.remove("name");
        m.remove("creationTimestamp");
    }
    metadata["generateName"] = json!(format!("{}-", meta::name(rs)));
    metadata["namespace"] = json!(meta::namespace(rs));
    metadata["ownerReferences"] = meta::owner_reference(rs);
    let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})) });
    let created = pass.create(Kind::Pod, meta::namespace(rs), pod)?;
    let message = format!("Created pod: {}", meta::name(&created));
    events::record(
        pass,
        rs,
        &Event::normal("replicaset-controller", "SuccessfulCreate", message),
    );
    Some(created)
}

/// Which pods go first when scaling down: unscheduled, then pending, then not ready, then those
/// with more restarts, then the newest (as the ReplicaSet controller ranks them).
fn deletion_rank(
    pod: &Value,
) -> (
    bool,
    bool,
    bool,
    std::cmp::Reverse<i64>,
    std::cmp::Reverse<String>,
) {
    let restarts = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |cs| {
            cs.iter().map(|c| meta::int(c, "/restartCount", 0)).sum()
        });
    (
        !meta::text(pod, "/spec/nodeName").is_empty(),
        meta::text(pod, "/status/phase") == "Running",
        meta::pod_ready(pod),
        std::cmp::Reverse(restarts),
        std::cmp::Reverse(meta::text(pod, "/metadata/creationTimestamp").to_owned()),
    )
}
