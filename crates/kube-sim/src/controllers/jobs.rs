//! The Job controller: runs pods until `completions` succeed, replacing failed ones after a
//! back-off (10 s doubling, capped at 6 min) until more than `backoffLimit` have failed (or, with
//! `restartPolicy: OnFailure`, their containers have restarted `backoffLimit` times), then marks
//! the Job Complete or Failed with the conditions `kubectl wait` looks for. Jobs whose
//! `spec.managedBy` names another controller are left alone, as Kubernetes does.

use serde_json::{Value, json};

use super::events::{self, Event};
use super::meta;
use super::pass::{Kind, Pass};
use super::pods;

const BACKOFF_CAP_MS: i64 = 360_000;

pub fn reconcile(pass: &mut Pass<'_>) {
    for key in pass.index.of(Kind::Job).to_vec() {
        let Some(job) = pass.changed(&key, 0) else {
            continue;
        };
        // Being deleted: the real controllers stop managing its pods (the garbage collector
        // takes them).
        if crate::store::is_deleting(&job) {
            pass.done(&job, 0, None);
            continue;
        }
        let due = sync(pass, &job);
        pass.done(&job, 0, due);
    }
}

fn finished(job: &Value) -> bool {
    ["Complete", "Failed"]
        .iter()
        .any(|kind| meta::condition(job, kind).is_some_and(|c| meta::text(c, "/status") == "True"))
}

/// The Job controller's own name in `spec.managedBy`.
const MANAGED_BY_US: &str = "kubernetes.io/job-controller";

/// Container restarts of a pod, init containers included (`pastBackoffLimitOnFailure`).
fn restarts(pod: &Value) -> i64 {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .map(|c| meta::int(c, "/restartCount", 0))
        .sum()
}

/// `pastBackoffLimitOnFailure` of Kubernetes' job controller: with `restartPolicy: OnFailure`,
/// failures restart containers in place, and the restarts of the Pending and Running pods count
/// against the limit: reaching it fails the Job (any restart when the limit is 0).
fn past_backoff_limit_on_failure(job: &Value, pods: &[Value], backoff_limit: i64) -> bool {
    if meta::text(job, "/spec/template/spec/restartPolicy") != "OnFailure" {
        return false;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|p| matches!(meta::text(p, "/status/phase"), "Pending" | "Running"))
        .map(restarts)
        .sum();
    if backoff_limit == 0 {
        restarts > 0
    } else {
        restarts >= backoff_limit
    }
}

/// When the last failed pod's container finished (simulated ms).
fn last_failure_ms(pods: &[Value]) -> Option<i64> {
    pods.iter()
        .filter(|p| meta::text(p, "/status/phase") == "Failed")
        .flat_map(|p| {
            p.pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| crate::clock::parse_time(meta::text(&c, "/state/terminated/finishedAt")))
        .map(jiff::Timestamp::as_millisecond)
        .max()
}

fn count(pods: &[Value], phase: &str) -> i64 {
    i64::try_from(
        pods.iter()
            .filter(|p| meta::text(p, "/status/phase") == phase)
            .count(),
    )
    .unwrap_or(0)
}

/// Conditions a finished Job gets: the criterion met, then the verdict.
fn verdict(criterion: &str, kind: &str, reason: &str, message: &str, now: &str) -> [Value; 2] {
    [criterion, kind].map(|k| {
        json!({ "type": k, "status": "True", "reason": reason, "message": message,
                "lastProbeTime": now, "lastTransitionTime": now })
    })
}

fn sync(pass: &mut Pass<'_>, job: &Value) -> Option<i64> {
    let managed_by = meta::text(job, "/spec/managedBy");
    if finished(job) || !(managed_by.is_empty() || managed_by == MANAGED_BY_US) {
        return None;
    }
    let pods = pass.owned(Kind::Pod, job);
    let active: Vec<&Value> = pods.iter().filter(|p| meta::pod_active(p)).collect();
    let succeeded = count(&pods, "Succeeded");
    let failed_pods = count(&pods, "Failed");
    let ready = i64::try_from(active.iter().filter(|p| meta::pod_ready(p)).count()).unwrap_or(0);
    let completions = meta::int(job, "/spec/completions", 1).max(0);
    let backoff_limit = meta::int(job, "/spec/backoffLimit", 6).max(0);

    let old = job.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut status = json!({});
    status["startTime"] = old
        .get("startTime")
        .cloned()
        .unwrap_or_else(|| json!(pass.now));
    let mut conditions = old
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut active_count = i64::try_from(active.len()).unwrap_or(0);
    let mut due = None;
    // `status.failed` counts failed pods only; restarts in place are judged separately.
    if failed_pods > backoff_limit || past_backoff_limit_on_failure(job, &pods, backoff_limit) {
        for pod in &active {
            pods::delete(pass, pod);
        }
        active_count = 0;
        let message = "Job has reached the specified backoff limit";
        conditions.extend(verdict(
            "FailureTarget",
            "Failed",
            "BackoffLimitExceeded",
            message,
            &pass.now,
        ));
        events::record(
            pass,
            job,
            &Event::warning("job-controller", "BackoffLimitExceeded", message),
        );
    } else if succeeded >= completions {
        let message = "Reached expected number of completions";
        conditions.extend(verdict(
            "SuccessCriteriaMet",
            "Complete",
            "CompletionsReached",
            message,
            &pass.now,
        ));
        status["completionTime"] = json!(pass.now);
        events::record(
            pass,
            job,
            &Event::normal("job-controller", "Completed", "Job completed"),
        );
    } else if job.pointer("/spec/suspend").and_then(Value::as_bool) != Some(true) {
        let wanted = meta::int(job, "/spec/parallelism", 1)
            .max(0)
            .min(completions - succeeded);
        let backoff = if failed_pods > 0 {
            let exponent = u32::try_from(failed_pods - 1).unwrap_or(u32::MAX).min(10);
            (10_000_i64 << exponent).min(BACKOFF_CAP_MS)
        } else {
            0
        };
        let ready_at = last_failure_ms(&pods).map_or(pass.now_ms, |t| t + backoff);
        if active_count < wanted && ready_at > pass.now_ms {
            due = Some(ready_at);
        } else if active_count < wanted {
            let missing = wanted - active_count;
            for _ in 0..missing {
                if create_pod(pass, job) {
                    active_count += 1;
                }
            }
        }
    }
    meta::put_count(&mut status, "active", active_count);
    meta::put_count(&mut status, "succeeded", succeeded);
    meta::put_count(&mut status, "failed", failed_pods);
    status["ready"] = json!(ready);
    // Pods being deleted, counted apart (podReplacementPolicy's `terminating`).
    status["terminating"] = json!(pods.iter().filter(|p| crate::store::is_deleting(p)).count());
    status["uncountedTerminatedPods"] = json!({});
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    pass.set_status(Kind::Job, job, status);
    due
}

fn create_pod(pass: &mut Pass<'_>, job: &Value) -> bool {
    let template = job
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut metadata = template
        .get("metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.remove("creationTimestamp");
        m.remove("name");
    }
    let (name, uid) = (meta::name(job), meta::uid(job));
    metadata["generateName"] = json!(format!("{name}-"));
    metadata["namespace"] = json!(meta::namespace(job));
    metadata["labels"] = meta::labels_with(
        metadata.get("labels"),
        &[
            ("batch.kubernetes.io/controller-uid", uid),
            ("batch.kubernetes.io/job-name", name),
            ("controller-uid", uid),
            ("job-name", name),
        ],
    );
    metadata["ownerReferences"] = meta::owner_reference(job);
    let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})) });
    match pass.create(Kind::Pod, meta::namespace(job), pod) {
        Some(created) => {
            let message = format!("Created pod: {}", meta::name(&created));
            events::record(
                pass,
                job,
                &Event::normal("job-controller", "SuccessfulCreate", message),
            );
            true
        }
        None => false,
    }
}
