//! Pod-level fail-fast rules: the states from which a rollout cannot become healthy without a
//! new deploy, found in the pods' own status long before a progress deadline would say so
//! (Argo CD and helm wait for the deadline; StatefulSets have none at all).
//!
//! Pure functions over the pod as the API returns it; the caller owns the clock for the
//! "unschedulable for longer than a grace period" rule, since it is our own observation.

use std::time::Duration;

use serde_json::Value;

use crate::json::text;
use crate::report::{ContainerReport, PodReport, Termination};

/// Waiting reasons that no amount of waiting fixes: the image or the container's configuration
/// is wrong.
pub(crate) const HOPELESS_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// The hopeless waiting reasons that are about the image.
const PULL_ERRORS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// The knobs of the rules.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// A crash-looping container fails the rollout once it has restarted more often than this.
    pub max_restarts: i64,
    /// How long a pod may stay unschedulable (the cluster autoscaler may be adding a node).
    pub unschedulable_grace: Duration,
}

/// Why a pod makes its workload hopeless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `ImagePullBackOff`, `CrashLoopBackOff`, `OOMKilled`, `Unschedulable`, …
    pub reason: String,
    /// In words, naming the pod and container.
    pub message: String,
}

fn statuses(pod: &Value) -> impl Iterator<Item = &Value> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
}

/// A container's image as the pod spec writes it (the status may show the runtime's
/// fully qualified name instead).
fn spec_image<'a>(pod: &'a Value, container: &str) -> Option<&'a str> {
    ["/spec/initContainers", "/spec/containers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find(|c| text(c, "/name") == container)
        .map(|c| text(c, "/image"))
}

/// The scheduler's message when the pod is unschedulable.
pub fn unschedulable(pod: &Value) -> Option<&str> {
    let condition = pod
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| text(c, "/type") == "PodScheduled")?;
    (text(condition, "/status") == "False" && text(condition, "/reason") == "Unschedulable")
        .then(|| text(condition, "/message"))
}

/// The first hopeless state of `pod`, if any. `unschedulable_for` is how long we have seen it
/// unschedulable; `counts_restarts` is false for Job pods, whose failures the Job's own
/// backoffLimit judges.
pub fn fault(
    pod: &Value,
    rules: &Rules,
    unschedulable_for: Option<Duration>,
    counts_restarts: bool,
) -> Option<Fault> {
    let pod_name = text(pod, "/metadata/name");
    for status in statuses(pod) {
        let container = text(status, "/name");
        let waiting = text(status, "/state/waiting/reason");
        if HOPELESS_WAITING.contains(&waiting) {
            let message = if PULL_ERRORS.contains(&waiting) {
                // The registry's long answer is in the container's report; the image says enough.
                let image = spec_image(pod, container).unwrap_or_else(|| text(status, "/image"));
                format!(
                    "pod {pod_name} container {container} cannot pull its image {image} ({waiting})"
                )
            } else {
                let detail = text(status, "/state/waiting/message");
                format!("pod {pod_name} container {container}: {waiting}: {detail}")
            };
            return Some(Fault {
                reason: waiting.to_owned(),
                message,
            });
        }
        // A past OOM kill of a container that is ready again is history, not a verdict (a
        // burst at start-up); while it is not ready, more memory is the only way out.
        let ready = status.get("ready").and_then(Value::as_bool) == Some(true);
        let oom = ["/state/terminated/reason", "/lastState/terminated/reason"]
            .iter()
            .any(|p| text(status, p) == "OOMKilled");
        if oom && !ready {
            return Some(Fault {
                reason: "OOMKilled".to_owned(),
                message: format!(
                    "pod {pod_name} container {container} was killed for using more memory than its limit (OOMKilled, exit code 137)"
                ),
            });
        }
        let restarts = status
            .get("restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let crashed = waiting == "CrashLoopBackOff"
            || status.pointer("/lastState/terminated").is_some() && !ready;
        if counts_restarts && crashed && restarts > rules.max_restarts {
            let exit = status
                .pointer("/lastState/terminated/exitCode")
                .and_then(Value::as_i64)
                .map_or_else(String::new, |code| format!(", last exit code {code}"));
            return Some(Fault {
                reason: "CrashLoopBackOff".to_owned(),
                message: format!(
                    "pod {pod_name} container {container} keeps crashing: restarted {restarts} times (more than --max-restarts {}){exit}",
                    rules.max_restarts
                ),
            });
        }
    }
    if let (Some(message), Some(seen)) = (unschedulable(pod), unschedulable_for)
        && seen >= rules.unschedulable_grace
    {
        return Some(Fault {
            reason: "Unschedulable".to_owned(),
            message: format!(
                "pod {pod_name} could not be scheduled for {}: {message}",
                stage::duration::format(seen)
            ),
        });
    }
    None
}

/// Cuts a pod down to what the rules and the report read (names, owners, labels, container
/// names and images, node, status): a namespace's pods are held for the whole wait, and their
/// specs (volumes, env, probes) and annotations are most of their size.
pub fn trim(pod: &mut Value) {
    if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, _| {
            matches!(
                k.as_str(),
                "name" | "namespace" | "uid" | "labels" | "ownerReferences"
            )
        });
    }
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.retain(|k, _| matches!(k.as_str(), "containers" | "initContainers" | "nodeName"));
        for list in ["containers", "initContainers"] {
            for container in spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object_mut)
            {
                container.retain(|k, _| matches!(k.as_str(), "name" | "image"));
            }
        }
    }
}

/// Whether the pod is ready (or finished well).
pub fn ready(pod: &Value) -> bool {
    text(pod, "/status/phase") == "Succeeded"
        || pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True")
            })
}

/// The pod as the report shows it, without logs (those need the API).
pub fn describe(pod: &Value) -> PodReport {
    let (reason, message) = match unschedulable(pod) {
        Some(message) => (Some("Unschedulable".to_owned()), Some(message.to_owned())),
        None => (
            Some(text(pod, "/status/reason").to_owned()).filter(|r| !r.is_empty()),
            Some(text(pod, "/status/message").to_owned()).filter(|m| !m.is_empty()),
        ),
    };
    let images: Vec<(&str, &str)> = ["/spec/initContainers", "/spec/containers"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .map(|c| (text(c, "/name"), text(c, "/image")))
        .collect();
    let containers = statuses(pod)
        .filter(|s| s.get("ready").and_then(Value::as_bool) != Some(true))
        .filter(|s| text(s, "/state/terminated/reason") != "Completed")
        .map(|s| container(s, &images))
        .collect();
    PodReport {
        name: text(pod, "/metadata/name").to_owned(),
        phase: match text(pod, "/status/phase") {
            "" => "Pending".to_owned(),
            phase => phase.to_owned(),
        },
        node: Some(text(pod, "/spec/nodeName").to_owned()).filter(|n| !n.is_empty()),
        reason,
        message,
        containers,
    }
}

fn container(status: &Value, images: &[(&str, &str)]) -> ContainerReport {
    let name = text(status, "/name");
    let (state, detail) = status
        .get("state")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().next())
        .map_or(("waiting", &Value::Null), |(k, v)| (k.as_str(), v));
    let some = |v: &str| Some(v.to_owned()).filter(|s| !s.is_empty());
    ContainerReport {
        name: name.to_owned(),
        image: images.iter().find(|(n, _)| *n == name).map_or_else(
            || text(status, "/image").to_owned(),
            |(_, i)| (*i).to_owned(),
        ),
        state: state.to_owned(),
        reason: some(text(detail, "/reason")),
        // A termination message may be up to 4 KiB (more with FallbackToLogsOnError); it is
        // masked, then cut, where the report is filled in (diagnose), so that no cut can split a
        // secret the mask would have caught.
        message: some(text(detail, "/message")),
        restart_count: status
            .get("restartCount")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0),
        last_termination: status
            .pointer("/lastState/terminated")
            .or_else(|| status.pointer("/state/terminated"))
            .map(|t| Termination {
                exit_code: t
                    .get("exitCode")
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(0),
                reason: some(text(t, "/reason")),
                signal: t
                    .get("signal")
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok()),
                finished_at: some(text(t, "/finishedAt")),
            }),
        logs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RULES: Rules = Rules {
        max_restarts: 2,
        unschedulable_grace: Duration::from_secs(30),
    };

    fn pod(status: &Value) -> Value {
        json!({"metadata": {"name": "api-1"},
               "spec": {"containers": [{"name": "api", "image": "registry.example/api:2"}]},
               "status": {"phase": "Pending", "containerStatuses": [status]}})
    }

    #[test]
    fn image_and_configuration_errors_are_hopeless_at_once() {
        for (reason, says) in [
            (
                "ErrImagePull",
                "cannot pull its image registry.example/api:2",
            ),
            (
                "ImagePullBackOff",
                "cannot pull its image registry.example/api:2",
            ),
            (
                "InvalidImageName",
                "cannot pull its image registry.example/api:2",
            ),
            (
                "ErrImageNeverPull",
                "cannot pull its image registry.example/api:2",
            ),
            (
                "CreateContainerConfigError",
                "CreateContainerConfigError: details",
            ),
            ("CreateContainerError", "CreateContainerError: details"),
        ] {
            let p = pod(&json!({"name": "api", "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": "details"}}}));
            let f = fault(&p, &RULES, None, true).unwrap();
            assert_eq!(f.reason, reason);
            assert!(
                f.message.contains("container api") && f.message.contains(says),
                "{}",
                f.message
            );
        }
    }

    #[test]
    fn crash_loops_fail_past_max_restarts_and_oom_at_once() {
        let crashing = |restarts: i64| {
            pod(
                &json!({"name": "api", "restartCount": restarts, "ready": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}),
            )
        };
        assert_eq!(fault(&crashing(2), &RULES, None, true), None);
        let f = fault(&crashing(3), &RULES, None, true).unwrap();
        assert_eq!(f.reason, "CrashLoopBackOff");
        assert!(f.message.contains("last exit code 3"), "{}", f.message);
        assert_eq!(
            fault(&crashing(9), &RULES, None, false),
            None,
            "a Job's backoffLimit judges"
        );
        let oom = pod(&json!({"name": "api", "restartCount": 1,
            "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}));
        assert_eq!(fault(&oom, &RULES, None, true).unwrap().reason, "OOMKilled");
    }

    #[test]
    fn a_past_oom_kill_of_a_container_that_is_ready_again_is_not_a_failure() {
        let recovered = |ready: bool| {
            pod(&json!({"name": "api", "restartCount": 1, "ready": ready,
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}))
        };
        assert_eq!(fault(&recovered(true), &RULES, None, true), None);
        assert_eq!(
            fault(&recovered(false), &RULES, None, true).map(|f| f.reason),
            Some("OOMKilled".to_owned()),
            "not ready again yet: still the OOM kill"
        );
    }

    #[test]
    fn a_trimmed_pod_keeps_what_the_rules_and_the_report_read() {
        let mut p = json!({
            "metadata": {"name": "api-1", "uid": "u1", "labels": {"app": "api"},
                         "ownerReferences": [{"uid": "rs1"}],
                         "annotations": {"big": "x".repeat(1000)}, "resourceVersion": "9"},
            "spec": {"nodeName": "node-1", "volumes": [{"name": "v"}],
                     "containers": [{"name": "api", "image": "registry.example/api:2",
                                     "env": [{"name": "A", "value": "1"}]}]},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "api", "restartCount": 0,
                 "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}]}});
        let before = (fault(&p, &RULES, None, true), describe(&p));
        trim(&mut p);
        assert_eq!((fault(&p, &RULES, None, true), describe(&p)), before);
        assert!(p.pointer("/metadata/annotations").is_none());
        assert!(p.pointer("/spec/volumes").is_none());
        assert!(p.pointer("/spec/containers/0/env").is_none());
        assert_eq!(text(&p, "/metadata/labels/app"), "api");
    }

    #[test]
    fn unschedulable_only_after_the_grace_period() {
        let p = json!({"metadata": {"name": "api-1"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient cpu."}]}});
        assert_eq!(fault(&p, &RULES, Some(Duration::from_secs(5)), true), None);
        let f = fault(&p, &RULES, Some(Duration::from_secs(30)), true).unwrap();
        assert_eq!(f.reason, "Unschedulable");
        assert!(f.message.contains("Insufficient cpu"), "{}", f.message);
        assert_eq!(describe(&p).reason.as_deref(), Some("Unschedulable"));
    }

    #[test]
    fn the_report_names_image_state_and_last_termination() {
        let p = pod(&json!({"name": "api", "restartCount": 4, "ready": false,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-23T10:00:00Z"}}}));
        let r = describe(&p);
        let c = &r.containers[0];
        assert_eq!(c.image, "registry.example/api:2");
        assert_eq!(
            (c.state.as_str(), c.reason.as_deref()),
            ("waiting", Some("CrashLoopBackOff"))
        );
        assert_eq!(c.last_termination.as_ref().unwrap().exit_code, 1);
        assert_eq!(c.restart_count, 4);
    }
}
