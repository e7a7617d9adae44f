//! The health rule of each kind, judged on the object alone (its pods are `pods.rs`' business).
//!
//! Deployments, StatefulSets and DaemonSets follow `kubectl rollout status` to the letter
//! (kubectl's `pkg/polymorphichelpers/rollout_status.go`), messages included, so that our verdict
//! and kubectl's never differ; we add that a `ReplicaFailure` condition (quota, admission) is a
//! failure at once, and that StatefulSets and DaemonSets with the `OnDelete` strategy, which
//! kubectl refuses to judge, are healthy once observed with every pod ready.
//! The other kinds follow what Argo CD and kapp agree on; `docs/rollout-wait.md` has the table.

use serde_json::Value;

use crate::json::{int, text};
use crate::report::Status;
use crate::target::Rule;

/// An object's state under its kind's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: Status,
    /// Short CamelCase reason.
    pub reason: String,
    /// kubectl's words where kubectl has some.
    pub message: String,
    /// The counts behind it, for progress lines: `2/3 updated, 1/3 available`.
    pub progress: Option<String>,
}

impl Health {
    fn healthy(reason: &str, message: impl Into<String>) -> Self {
        Self {
            status: Status::Healthy,
            reason: reason.to_owned(),
            message: message.into(),
            progress: None,
        }
    }

    fn waiting(reason: &str, message: impl Into<String>) -> Self {
        Self {
            status: Status::Progressing,
            reason: reason.to_owned(),
            message: message.into(),
            progress: None,
        }
    }

    fn degraded(reason: &str, message: impl Into<String>) -> Self {
        Self {
            status: Status::Degraded,
            reason: reason.to_owned(),
            message: message.into(),
            progress: None,
        }
    }

    fn with_progress(mut self, progress: String) -> Self {
        self.progress = Some(progress);
        self
    }
}

/// Judges `object` (the whole object as the API returns it) under `rule`.
pub fn judge(rule: Rule, object: &Value) -> Health {
    match rule {
        Rule::Deployment => deployment(object),
        Rule::StatefulSet => stateful_set(object),
        Rule::DaemonSet => daemon_set(object),
        Rule::ReplicaSet => replica_set(object),
        Rule::Job => job(object),
        Rule::Service => service(object),
        Rule::Ingress => ingress(object),
        Rule::PersistentVolumeClaim => pvc(object),
        Rule::Pod => pod(object),
        Rule::CustomResourceDefinition => crd(object),
        Rule::Present => Health::healthy("Present", "exists"),
    }
}

/// What an object that does not exist (yet) waits for.
pub fn missing() -> Health {
    Health::waiting("NotFound", "waiting for it to be created")
}

/// What an object waits for when the first list of `watch` (`deployments in namespace shop`)
/// has not come yet: whether it exists is not known.
pub fn not_listed(watch: &str) -> Health {
    Health::waiting("NotListed", format!("not listed yet (watch of {watch})"))
}

fn name(object: &Value) -> &str {
    text(object, "/metadata/name")
}

/// The condition of `kind` in `status.conditions`.
pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn condition_true(object: &Value, kind: &str) -> bool {
    condition(object, kind).is_some_and(|c| text(c, "/status") == "True")
}

/// kubectl's `DeploymentStatusViewer`, with `ReplicaFailure` as a failure.
fn deployment(d: &Value) -> Health {
    let name = name(d);
    let generation = int(d, "/metadata/generation");
    let observed = int(d, "/status/observedGeneration");
    if generation > observed {
        return Health::waiting(
            "Progressing",
            "Waiting for deployment spec update to be observed...",
        );
    }
    if condition(d, "Progressing").is_some_and(|c| text(c, "/reason") == "ProgressDeadlineExceeded")
    {
        return Health::degraded(
            "ProgressDeadlineExceeded",
            format!("deployment {name:?} exceeded its progress deadline"),
        );
    }
    if let Some(failure) = condition(d, "ReplicaFailure").filter(|c| text(c, "/status") == "True") {
        return Health::degraded(
            "ReplicaFailure",
            format!(
                "deployment {name:?} cannot create pods: {} ({})",
                text(failure, "/message"),
                text(failure, "/reason")
            ),
        );
    }
    let desired = d.pointer("/spec/replicas").and_then(Value::as_i64);
    let replicas = int(d, "/status/replicas");
    let updated = int(d, "/status/updatedReplicas");
    let available = int(d, "/status/availableReplicas");
    let total = desired.unwrap_or(replicas);
    let progress = format!("{updated}/{total} updated, {available}/{total} available");
    let health = if let Some(desired) = desired.filter(|want| updated < *want) {
        Health::waiting(
            "Progressing",
            format!(
                "Waiting for deployment {name:?} rollout to finish: {updated} out of {desired} new replicas have been updated..."
            ),
        )
    } else if replicas > updated {
        Health::waiting(
            "Progressing",
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
        )
    } else if available < updated {
        Health::waiting(
            "Progressing",
            format!(
                "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        )
    } else {
        Health::healthy(
            "RolledOut",
            format!("deployment {name:?} successfully rolled out"),
        )
    };
    health.with_progress(progress)
}

/// The update strategy, `RollingUpdate` when absent (the API server's default).
fn strategy(object: &Value) -> &str {
    match text(object, "/spec/updateStrategy/type") {
        "" => "RollingUpdate",
        other => other,
    }
}

/// kubectl's `DaemonSetStatusViewer`; `OnDelete` judged by availability (kubectl refuses).
fn daemon_set(ds: &Value) -> Health {
    let name = name(ds);
    let generation = int(ds, "/metadata/generation");
    let observed = int(ds, "/status/observedGeneration");
    if generation > observed {
        return Health::waiting(
            "Progressing",
            "Waiting for daemon set spec update to be observed...",
        );
    }
    let desired = int(ds, "/status/desiredNumberScheduled");
    let updated = int(ds, "/status/updatedNumberScheduled");
    let available = int(ds, "/status/numberAvailable");
    let progress = format!("{updated}/{desired} updated, {available}/{desired} available");
    let rolling = strategy(ds) == "RollingUpdate";
    let health = if rolling && updated < desired {
        Health::waiting(
            "Progressing",
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        )
    } else if available < desired {
        Health::waiting(
            "Progressing",
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        )
    } else if rolling {
        Health::healthy(
            "RolledOut",
            format!("daemon set {name:?} successfully rolled out"),
        )
    } else {
        Health::healthy(
            "Available",
            format!("daemon set {name:?}: {available} of {desired} pods available (OnDelete)"),
        )
    };
    health.with_progress(progress)
}

/// kubectl's `StatefulSetStatusViewer`; `OnDelete` judged by readiness (kubectl refuses).
fn stateful_set(sts: &Value) -> Health {
    let generation = int(sts, "/metadata/generation");
    let observed = int(sts, "/status/observedGeneration");
    if observed == 0 || generation > observed {
        return Health::waiting(
            "Progressing",
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let desired = sts.pointer("/spec/replicas").and_then(Value::as_i64);
    let ready = int(sts, "/status/readyReplicas");
    let updated = int(sts, "/status/updatedReplicas");
    let total = desired.unwrap_or_else(|| int(sts, "/status/replicas"));
    let progress = format!("{updated}/{total} updated, {ready}/{total} ready");
    if let Some(desired) = desired.filter(|want| ready < *want) {
        return Health::waiting(
            "Progressing",
            format!("Waiting for {} pods to be ready...", desired - ready),
        )
        .with_progress(progress);
    }
    if strategy(sts) != "RollingUpdate" {
        return Health::healthy("Ready", format!("{ready} of {total} pods ready (OnDelete)"))
            .with_progress(progress);
    }
    if let Some(rolling) = sts
        .pointer("/spec/updateStrategy/rollingUpdate")
        .filter(|r| r.is_object())
    {
        if let (Some(desired), Some(partition)) =
            (desired, rolling.get("partition").and_then(Value::as_i64))
            && updated < desired - partition
        {
            return Health::waiting(
                "Progressing",
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    desired - partition
                ),
            )
            .with_progress(progress);
        }
        return Health::healthy(
            "RolledOut",
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        )
        .with_progress(progress);
    }
    let update_revision = text(sts, "/status/updateRevision");
    let current_revision = text(sts, "/status/currentRevision");
    if update_revision != current_revision {
        return Health::waiting(
            "Progressing",
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
            ),
        )
        .with_progress(progress);
    }
    Health::healthy(
        "RolledOut",
        format!(
            "statefulset rolling update complete {} pods at revision {current_revision}...",
            int(sts, "/status/currentReplicas")
        ),
    )
    .with_progress(progress)
}

/// A ReplicaSet on its own: every replica available.
fn replica_set(rs: &Value) -> Health {
    let generation = int(rs, "/metadata/generation");
    let observed = int(rs, "/status/observedGeneration");
    if generation > observed {
        return Health::waiting(
            "Progressing",
            "Waiting for replica set spec update to be observed...",
        );
    }
    if let Some(failure) = condition(rs, "ReplicaFailure").filter(|c| text(c, "/status") == "True")
    {
        return Health::degraded(
            "ReplicaFailure",
            format!(
                "{} ({})",
                text(failure, "/message"),
                text(failure, "/reason")
            ),
        );
    }
    let desired = rs
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let available = int(rs, "/status/availableReplicas");
    let progress = format!("{available}/{desired} available");
    if available < desired {
        Health::waiting(
            "Progressing",
            format!("{available} of {desired} replicas are available"),
        )
        .with_progress(progress)
    } else {
        Health::healthy(
            "Available",
            format!("{available} of {desired} replicas are available"),
        )
        .with_progress(progress)
    }
}

/// A Job: `Complete`, or `Failed` (past its backoffLimit, its deadline, …).
fn job(job: &Value) -> Health {
    let succeeded = int(job, "/status/succeeded");
    let completions = job
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let progress = format!(
        "{succeeded}/{completions} succeeded, {} failed",
        int(job, "/status/failed")
    );
    if let Some(failed) = condition(job, "Failed").filter(|c| text(c, "/status") == "True") {
        let reason = match text(failed, "/reason") {
            "" => "JobFailed",
            other => other,
        };
        return Health::degraded(reason, format!("job failed: {}", text(failed, "/message")))
            .with_progress(progress);
    }
    if condition_true(job, "Complete") {
        return Health::healthy(
            "Complete",
            format!("job completed: {succeeded} of {completions} succeeded"),
        )
        .with_progress(progress);
    }
    if job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return Health::waiting("Suspended", "job is suspended").with_progress(progress);
    }
    Health::waiting(
        "Running",
        format!(
            "{} active, {succeeded} of {completions} succeeded",
            int(job, "/status/active")
        ),
    )
    .with_progress(progress)
}

/// The addresses in `status.loadBalancer.ingress`.
fn lb_addresses(object: &Value) -> Vec<&str> {
    object
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|i| {
                    i.get("hostname")
                        .or_else(|| i.get("ip"))
                        .and_then(Value::as_str)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A Service: a LoadBalancer needs an address; the others only exist.
fn service(svc: &Value) -> Health {
    if text(svc, "/spec/type") != "LoadBalancer" {
        return Health::healthy("Present", "exists");
    }
    let addresses = lb_addresses(svc);
    if addresses.is_empty() {
        Health::waiting("Pending", "waiting for the load balancer to get an address")
    } else {
        Health::healthy(
            "Assigned",
            format!("load balancer at {}", addresses.join(", ")),
        )
    }
}

/// An Ingress: an address assigned.
fn ingress(ing: &Value) -> Health {
    let addresses = lb_addresses(ing);
    if addresses.is_empty() {
        Health::waiting("Pending", "waiting for the ingress to get an address")
    } else {
        Health::healthy("Assigned", format!("address {}", addresses.join(", ")))
    }
}

/// A PersistentVolumeClaim: Bound; Lost is a failure.
fn pvc(claim: &Value) -> Health {
    match text(claim, "/status/phase") {
        "Bound" => Health::healthy("Bound", "bound"),
        "Lost" => Health::degraded("ClaimLost", "the claim lost its volume"),
        "" => Health::waiting("Pending", "waiting for the claim to be bound"),
        other => Health::waiting(
            other,
            format!("claim is {other}, waiting for it to be bound"),
        ),
    }
}

/// A Pod: Ready (or Succeeded, for a pod that runs to completion); Failed is a failure.
fn pod(p: &Value) -> Health {
    match text(p, "/status/phase") {
        "Succeeded" => return Health::healthy("Succeeded", "pod completed"),
        "Failed" => {
            let reason = match text(p, "/status/reason") {
                "" => "PodFailed",
                other => other,
            };
            return Health::degraded(
                reason,
                format!("pod failed: {}", text(p, "/status/message")),
            );
        }
        _ => {}
    }
    if condition_true(p, "Ready") {
        Health::healthy("Ready", "pod is ready")
    } else {
        let why = condition(p, "Ready").map_or("", |c| text(c, "/message"));
        let message = if why.is_empty() {
            "waiting for the pod to be ready".to_owned()
        } else {
            format!("waiting for the pod to be ready: {why}")
        };
        Health::waiting("NotReady", message)
    }
}

/// A CustomResourceDefinition: Established; names refused is a failure.
fn crd(crd: &Value) -> Health {
    if condition_true(crd, "Established") {
        return Health::healthy("Established", "established");
    }
    if let Some(names) = condition(crd, "NamesAccepted").filter(|c| text(c, "/status") == "False") {
        return Health::degraded(
            "NamesNotAccepted",
            format!("names not accepted: {}", text(names, "/message")),
        );
    }
    Health::waiting(
        "NotEstablished",
        "waiting for the definition to be established",
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deploy(generation: i64, status: &Value) -> Value {
        json!({"metadata": {"name": "api", "generation": generation}, "spec": {"replicas": 3}, "status": status})
    }

    #[test]
    fn deployments_follow_kubectl_word_for_word() {
        let h = judge(
            Rule::Deployment,
            &deploy(2, &json!({"observedGeneration": 1})),
        );
        assert_eq!(
            h.message,
            "Waiting for deployment spec update to be observed..."
        );
        let h = judge(
            Rule::Deployment,
            &deploy(
                2,
                &json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1}),
            ),
        );
        assert_eq!(
            h.message,
            "Waiting for deployment \"api\" rollout to finish: 1 out of 3 new replicas have been updated..."
        );
        assert_eq!(h.progress.as_deref(), Some("1/3 updated, 0/3 available"));
        let h = judge(
            Rule::Deployment,
            &deploy(
                2,
                &json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3}),
            ),
        );
        assert!(
            h.message
                .ends_with("1 old replicas are pending termination..."),
            "{}",
            h.message
        );
        let h = judge(
            Rule::Deployment,
            &deploy(
                2,
                &json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
            ),
        );
        assert!(
            h.message
                .ends_with("2 of 3 updated replicas are available..."),
            "{}",
            h.message
        );
        assert_eq!(h.status, Status::Progressing);
        let h = judge(
            Rule::Deployment,
            &deploy(
                2,
                &json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
            ),
        );
        assert_eq!(h.status, Status::Healthy);
        assert_eq!(h.message, "deployment \"api\" successfully rolled out");
    }

    #[test]
    fn a_progress_deadline_or_a_replica_failure_is_a_failure_at_once() {
        let h = judge(
            Rule::Deployment,
            &deploy(
                1,
                &json!({"observedGeneration": 1, "conditions": [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
            ),
        );
        assert_eq!(h.status, Status::Degraded);
        assert_eq!(
            h.message,
            "deployment \"api\" exceeded its progress deadline"
        );
        let h = judge(
            Rule::Deployment,
            &deploy(
                1,
                &json!({"observedGeneration": 1, "conditions": [
                    {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                     "message": "pods \"api-1\" is forbidden: exceeded quota: compute"}]}),
            ),
        );
        assert_eq!(h.reason, "ReplicaFailure");
        assert!(h.message.contains("exceeded quota"), "{}", h.message);
    }

    #[test]
    fn stateful_sets_with_and_without_partitions() {
        let sts = |partition: Option<i64>, status: Value| {
            let mut spec = json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}});
            if let Some(p) = partition {
                spec["updateStrategy"]["rollingUpdate"] = json!({"partition": p});
            }
            json!({"metadata": {"name": "db", "generation": 1}, "spec": spec, "status": status})
        };
        let h = judge(
            Rule::StatefulSet,
            &sts(None, json!({"observedGeneration": 1, "readyReplicas": 1})),
        );
        assert_eq!(h.message, "Waiting for 2 pods to be ready...");
        let h = judge(
            Rule::StatefulSet,
            &sts(
                Some(2),
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 0}),
            ),
        );
        assert_eq!(
            h.message,
            "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated..."
        );
        let h = judge(
            Rule::StatefulSet,
            &sts(
                Some(2),
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1}),
            ),
        );
        assert_eq!(h.status, Status::Healthy);
        assert_eq!(
            h.message,
            "partitioned roll out complete: 1 new pods have been updated..."
        );
        let h = judge(
            Rule::StatefulSet,
            &sts(
                None,
                json!({"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1,
                       "currentRevision": "db-1", "updateRevision": "db-2"}),
            ),
        );
        assert_eq!(
            h.message,
            "waiting for statefulset rolling update to complete 1 pods at revision db-2..."
        );
        let h = judge(
            Rule::StatefulSet,
            &sts(None, json!({"observedGeneration": 0})),
        );
        assert_eq!(
            h.message,
            "Waiting for statefulset spec update to be observed..."
        );
    }

    #[test]
    fn daemon_sets() {
        let ds = |status: Value| json!({"metadata": {"name": "agent", "generation": 1}, "spec": {}, "status": status});
        let h = judge(
            Rule::DaemonSet,
            &ds(
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2}),
            ),
        );
        assert_eq!(
            h.message,
            "Waiting for daemon set \"agent\" rollout to finish: 2 out of 3 new pods have been updated..."
        );
        let h = judge(
            Rule::DaemonSet,
            &ds(
                json!({"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}),
            ),
        );
        assert_eq!(h.message, "daemon set \"agent\" successfully rolled out");
    }

    #[test]
    fn jobs_services_claims_pods_and_definitions() {
        let failed = json!({"spec": {}, "status": {"failed": 7, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit"}]}});
        let h = judge(Rule::Job, &failed);
        assert_eq!(
            (h.status, h.reason.as_str()),
            (Status::Degraded, "BackoffLimitExceeded")
        );
        let done = json!({"spec": {}, "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(judge(Rule::Job, &done).status, Status::Healthy);

        let lb = json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
        assert_eq!(judge(Rule::Service, &lb).status, Status::Progressing);
        let lb = json!({"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {"ingress": [{"hostname": "a.elb"}]}}});
        assert_eq!(judge(Rule::Service, &lb).status, Status::Healthy);
        assert_eq!(
            judge(Rule::Service, &json!({"spec": {"type": "ClusterIP"}})).status,
            Status::Healthy
        );

        assert_eq!(
            judge(
                Rule::PersistentVolumeClaim,
                &json!({"status": {"phase": "Bound"}})
            )
            .status,
            Status::Healthy
        );
        assert_eq!(
            judge(
                Rule::PersistentVolumeClaim,
                &json!({"status": {"phase": "Lost"}})
            )
            .status,
            Status::Degraded
        );

        let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(judge(Rule::Pod, &ready).status, Status::Healthy);
        assert_eq!(
            judge(Rule::Pod, &json!({"status": {"phase": "Failed"}})).status,
            Status::Degraded
        );

        let crd = json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(
            judge(Rule::CustomResourceDefinition, &crd).status,
            Status::Healthy
        );
        assert_eq!(judge(Rule::Present, &json!({})).status, Status::Healthy);
    }
}
