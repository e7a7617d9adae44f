//! How a wait ends, in words: the error of a failed or timed-out rollout (one line, the first
//! failure, with a hint that fits its reason), and the Markdown summary for GitHub Actions.

use std::fmt::Write as _;
use std::time::Duration;

use stage::StageError;

use crate::report::{ObjectReport, Report, Status};

fn kind_name(object: &ObjectReport) -> String {
    format!("{}/{}", object.kind.to_ascii_lowercase(), object.name)
}

/// The error for a failed rollout: the first failure in one line, and how many there are.
pub fn degraded_error(report: &Report) -> StageError {
    let failed: Vec<&ObjectReport> = report
        .objects
        .iter()
        .filter(|o| o.status == Status::Degraded)
        .collect();
    let Some(first) = failed.first() else {
        return StageError::failed("the rollout failed");
    };
    let more = match failed.len() {
        1 => String::new(),
        n => format!(
            " (and {} more failed: {})",
            n - 1,
            failed[1..]
                .iter()
                .map(|o| kind_name(o))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let hint = match first.reason.as_str() {
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => {
            "check the image name and tag, and that the cluster may pull from its registry (imagePullSecrets)"
        }
        "CrashLoopBackOff" => {
            "the container exits soon after it starts; its last log lines are above"
        }
        "OOMKilled" => "raise the container's memory limit, or make it use less",
        "Unschedulable" => {
            "no node has room for the pod or matches its constraints: check its resource requests, node selector, affinity and tolerations"
        }
        "CreateContainerConfigError" | "CreateContainerError" => {
            "a Secret or ConfigMap the pod refers to (or a key in it) is missing"
        }
        "ProgressDeadlineExceeded" => {
            "the rollout made no progress within progressDeadlineSeconds; the pods above say why"
        }
        "ReplicaFailure" => {
            "the ReplicaSet cannot create pods (quota, admission webhook); see the events above"
        }
        "BackoffLimitExceeded" => "the job's pods kept failing; their last log lines are above",
        _ => "see the pods, log lines and events above",
    };
    let what = if first.message.contains(&first.reason) {
        first.message.clone()
    } else {
        format!("{}: {}", first.reason, first.message)
    };
    StageError::failed(format!("{} failed: {what}{more}", kind_name(first))).with_hint(hint)
}

/// The error for `--timeout`: what each unhealthy object was waiting for.
pub fn timeout_error(report: &Report, timeout: Duration) -> StageError {
    let pending: Vec<String> = report
        .objects
        .iter()
        .filter(|o| o.status != Status::Healthy)
        .map(|o| format!("{}: {}", kind_name(o), o.message))
        .collect();
    StageError::timeout(format!(
        "timed out after {} waiting for {}",
        stage::duration::format(timeout),
        pending.join("; ")
    ))
    .with_pending(pending)
    .with_hint("raise --timeout if the rollout is slow but progressing; each object's last state and pods are in the report")
}

/// The Markdown table for `$GITHUB_STEP_SUMMARY`.
pub fn summary(report: &Report) -> String {
    let mut out = String::from("### rollout-wait\n\n");
    if let (Some(release), Some(revision)) = (&report.release, report.revision) {
        let status = report.release_status.map_or("not recorded", |s| s.as_str());
        let _ = write!(
            out,
            "Release **{release}** revision {revision}: **{status}**\n\n"
        );
    }
    let rows = report.objects.iter().map(|o| {
        let time = o.healthy_after_ms.map_or_else(String::new, |ms| {
            stage::duration::format(Duration::from_millis(ms))
        });
        [
            kind_name(o),
            o.namespace.clone().unwrap_or_default(),
            o.status.to_string(),
            o.reason.clone(),
            time,
            o.message.clone(),
        ]
    });
    out.push_str(&stage::github::markdown_table(
        &[
            "object",
            "namespace",
            "status",
            "reason",
            "healthy after",
            "details",
        ],
        rows,
    ));
    out
}
