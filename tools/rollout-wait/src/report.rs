//! The document rollout-wait prints (`schemas/rollout-wait.json`): every object watched with its
//! verdict, and for the unhealthy ones the evidence (pods, containers, last lines of their logs,
//! Warning events), so that a pipeline's log says *why* without anyone running kubectl.
//!
//! Fields are camelCase and only ever added within v1; absent optional fields are left out.

use cluster::ReleaseStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Report {
    /// The release from the upstream document, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The namespace the release's records and deploy lock live in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_namespace: Option<String>,
    /// The revision that was watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// The status the revision has now: `deployed` (healthy) or `failed` (degraded, timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_status: Option<ReleaseStatus>,
    /// False when the revision already had that status, so nothing was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_written: Option<bool>,
    /// True when the upstream apply was a dry run: no lock, no record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// How long the wait took, in milliseconds.
    pub duration_ms: u64,
    /// Every object watched, in the order given.
    pub objects: Vec<ObjectReport>,
}

/// An object's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It meets its kind's health rule.
    Healthy,
    /// Not healthy yet, and nothing says it cannot become so.
    Progressing,
    /// It failed, or cannot become healthy (a fail-fast rule matched).
    Degraded,
    /// Still progressing when `--timeout` ran out.
    Timeout,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Progressing => "progressing",
            Self::Degraded => "degraded",
            Self::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One watched object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ObjectReport {
    pub api_version: String,
    pub kind: String,
    /// Absent for cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub status: Status,
    /// A short CamelCase reason: `RolledOut`, `CrashLoopBackOff`, `ProgressDeadlineExceeded`, …
    pub reason: String,
    /// In words: what is healthy, what it waits for, or what went wrong.
    pub message: String,
    /// Milliseconds from the start of the wait until it was healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_after_ms: Option<u64>,
    /// For unhealthy objects: the pods that explain it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodReport>,
    /// For unhealthy objects: recent Warning events about it, its new ReplicaSet and its pods,
    /// newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventReport>,
    /// True when gathering the evidence ran out of its time budget (a slow API server): some
    /// log lines or events are missing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evidence_cut_short: bool,
}

/// A pod of an unhealthy object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PodReport {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`.
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why the pod is not ready, when the pod itself says (e.g. `Unschedulable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Its containers that are not ready (init containers first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerReport>,
}

/// A container that is not ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ContainerReport {
    pub name: String,
    pub image: String,
    /// `waiting`, `running` or `terminated`.
    pub state: String,
    /// The state's reason: `CrashLoopBackOff`, `ImagePullBackOff`, `OOMKilled`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub restart_count: i32,
    /// How its previous run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<Termination>,
    /// The last `--log-lines` lines of its previous run (or of the current one when it never
    /// restarted). Values of Secrets in the watched set are replaced by `***`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}

/// How a container run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Termination {
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// A Warning event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventReport {
    /// What it is about: `pod/api-5d9c8f7b6c-x2x7k`, `deployment/api`.
    pub object: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    /// RFC 3339, when it last happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}
