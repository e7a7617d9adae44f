//! A Job past its backoffLimit, judged as the Job controller judges it
//! (`pkg/controller/job/job_controller.go`), so that we say so as soon as the controller would
//! rather than when its `Failed` condition arrives:
//!
//! - more failed pods than `backoffLimit` (`status.failed > backoffLimit`);
//! - with `restartPolicy: OnFailure`, whose failures restart containers in place instead of
//!   failing pods (`pastBackoffLimitOnFailure`): the restarts of every container, init
//!   containers included, of the Pending and Running pods reach `backoffLimit` (any restart at
//!   all when the limit is 0).

use serde_json::Value;

use crate::json::{int, text};

/// The controller's default `backoffLimit`.
const DEFAULT_BACKOFF_LIMIT: i64 = 6;

/// Why the Job is past its backoffLimit, if it is. `pods` are the Job's pods.
pub fn backoff_exceeded(job: &Value, pods: &[Value]) -> Option<String> {
    let limit = job
        .pointer("/spec/backoffLimit")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_BACKOFF_LIMIT);
    let failed = int(job, "/status/failed");
    if failed > limit {
        return Some(format!(
            "job has {failed} failed pods, more than its backoffLimit of {limit}"
        ));
    }
    if text(job, "/spec/template/spec/restartPolicy") != "OnFailure" {
        return None;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|p| matches!(text(p, "/status/phase"), "Pending" | "Running"))
        .flat_map(|p| {
            ["/status/initContainerStatuses", "/status/containerStatuses"]
                .into_iter()
                .filter_map(|s| p.pointer(s).and_then(Value::as_array))
                .flatten()
        })
        .map(|c| int(c, "/restartCount"))
        .sum();
    let past = if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    };
    past.then(|| {
        format!(
            "job's containers have restarted {restarts} times (restartPolicy OnFailure), reaching its backoffLimit of {limit}"
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(limit: i64, policy: &str, failed: i64) -> Value {
        json!({"spec": {"backoffLimit": limit,
                        "template": {"spec": {"restartPolicy": policy}}},
               "status": {"failed": failed}})
    }

    fn pod(phase: &str, init_restarts: i64, restarts: i64) -> Value {
        json!({"status": {"phase": phase,
            "initContainerStatuses": [{"name": "init", "restartCount": init_restarts}],
            "containerStatuses": [{"name": "main", "restartCount": restarts}]}})
    }

    #[test]
    fn failed_pods_must_exceed_the_limit() {
        assert_eq!(backoff_exceeded(&job(2, "Never", 2), &[]), None);
        let message = backoff_exceeded(&job(2, "Never", 3), &[]).unwrap();
        assert!(message.contains("3 failed pods"), "{message}");
    }

    #[test]
    fn on_failure_restarts_must_reach_the_limit_counting_init_containers() {
        // 1 init restart + 1 container restart = 2 = backoffLimit: past it.
        let running = pod("Running", 1, 1);
        assert!(
            backoff_exceeded(&job(2, "OnFailure", 0), std::slice::from_ref(&running)).is_some()
        );
        assert_eq!(
            backoff_exceeded(&job(3, "OnFailure", 0), std::slice::from_ref(&running)),
            None
        );
        // Finished pods' restarts do not count; nor do restarts under another policy.
        assert_eq!(
            backoff_exceeded(&job(2, "OnFailure", 0), &[pod("Failed", 1, 1)]),
            None
        );
        assert_eq!(backoff_exceeded(&job(2, "Never", 0), &[running]), None);
    }

    #[test]
    fn a_zero_limit_fails_on_any_restart() {
        assert_eq!(
            backoff_exceeded(&job(0, "OnFailure", 0), &[pod("Running", 0, 0)]),
            None
        );
        let message = backoff_exceeded(&job(0, "OnFailure", 0), &[pod("Pending", 0, 1)]).unwrap();
        assert!(message.contains("backoffLimit of 0"), "{message}");
    }
}
