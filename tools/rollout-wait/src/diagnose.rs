//! The evidence for an unhealthy object: its most telling pods with their containers' states,
//! the last lines of the failing containers' logs (the previous run's, as `kubectl logs
//! --previous` shows them), and the recent Warning events about the object and its pods.
//! Printed once on stderr in plain words, and put in the report.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams};
use serde_json::Value;
use stage::Ctx;

use crate::report::{EventReport, ObjectReport, PodReport, Status};
use crate::target::Target;
use crate::wait::{Ending, Verdict};
use crate::{limits, pods};

/// How long gathering evidence may take in all, after the wait has ended (perhaps at its
/// deadline already): a slow or failing API server must not hold the step for minutes.
pub const BUDGET: Duration = Duration::from_secs(10);

/// Pods shown per object: the failing ones first. More would bury the reason.
const MAX_PODS: usize = 3;
/// Events shown per object, the newest.
const MAX_EVENTS: usize = 8;

/// Waiting reasons, besides the hopeless ones, that mean the container has not run yet, so it
/// has no logs to show.
const NOT_STARTED: &[&str] = &["ContainerCreating", "PodInitializing"];

/// Every target's report; the unhealthy ones (when the wait did not end healthy) with their
/// evidence, explained on stderr once. The API calls for evidence share one [`BUDGET`].
pub async fn object_reports(
    ctx: &Ctx,
    client: &kube::Client,
    log_lines: i64,
    targets: &[Target],
    verdicts: &[Verdict],
    ending: Ending,
) -> Vec<ObjectReport> {
    let mut evidence = Evidence {
        ctx,
        client,
        log_lines,
        deadline: Instant::now() + BUDGET,
        events: BTreeMap::new(),
        log_bytes: 0,
    };
    let mut objects = Vec::new();
    for (target, verdict) in targets.iter().zip(verdicts) {
        let mut object = ObjectReport {
            api_version: target.resource.api_version.clone(),
            kind: target.resource.kind.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            status: verdict.health.status,
            reason: verdict.health.reason.clone(),
            message: verdict.health.message.clone(),
            healthy_after_ms: verdict
                .healthy_after
                .filter(|_| verdict.health.status == Status::Healthy)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            pods: Vec::new(),
            events: Vec::new(),
            evidence_cut_short: false,
        };
        if object.status != Status::Healthy && ending != Ending::Healthy {
            evidence.explain(&mut object, verdict).await;
            if object.status != Status::Progressing {
                tracing::info!("{}", render(&object));
            }
        }
        objects.push(object);
    }
    objects
}

/// What gathering evidence needs, and the namespaces' Warning events read so far.
struct Evidence<'a> {
    ctx: &'a Ctx,
    client: &'a kube::Client,
    log_lines: i64,
    /// When the budget runs out: no API call is started after it, none outlives it.
    deadline: Instant,
    /// `None` for a namespace whose events could not be read in time.
    events: BTreeMap<String, Option<Vec<Event>>>,
    /// Bytes of log lines in the report so far (see [`limits::MAX_EVIDENCE_BYTES`]).
    log_bytes: usize,
}

impl Evidence<'_> {
    /// One API call, once, within the budget (see [`within`]).
    async fn call<T, E: std::fmt::Display>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, bool> {
        within(self.deadline, what, call).await
    }

    /// The last log lines of the described pods' containers that ran, within the limits of
    /// [`limits`]: `limitBytes` on each read, each line cut, the report's total bounded.
    async fn read_logs(&mut self, object: &mut ObjectReport, namespace: &str) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        for report in &mut object.pods {
            for container in &mut report.containers {
                if container.reason.as_deref().is_some_and(|r| {
                    pods::HOPELESS_WAITING.contains(&r) || NOT_STARTED.contains(&r)
                }) {
                    continue;
                }
                if self.log_bytes >= limits::MAX_EVIDENCE_BYTES {
                    container.logs = vec![limits::evidence_full()];
                    continue;
                }
                let params = LogParams {
                    container: Some(container.name.clone()),
                    previous: container.restart_count > 0,
                    tail_lines: Some(self.log_lines),
                    limit_bytes: i64::try_from(limits::LOG_READ_BYTES).ok(),
                    ..LogParams::default()
                };
                let what = format!(
                    "reading the logs of pod {} container {}",
                    report.name, container.name
                );
                match self
                    .call(&what, read_log(&api, &report.name, &params))
                    .await
                {
                    Ok(bytes) => {
                        // `limitBytes` may cut a character in two: the bytes are read as they
                        // come and only the broken end is replaced.
                        let text = String::from_utf8_lossy(&bytes);
                        container.logs = self.log_lines_of(&text, bytes.len());
                    }
                    Err(cut) => object.evidence_cut_short |= cut,
                }
            }
        }
    }

    /// A log read's lines, masked and within the evidence limits (see [`limits::log_lines`]).
    fn log_lines_of(&mut self, text: &str, read: usize) -> Vec<String> {
        let ctx = self.ctx;
        limits::log_lines(text, read, self.log_lines, &mut self.log_bytes, |line| {
            ctx.mask(line)
        })
    }

    /// Fills in `pods` and `events` of an unhealthy object from the pods its rules looked at.
    async fn explain(&mut self, object: &mut ObjectReport, verdict: &Verdict) {
        let pods = &verdict.pods;
        let mut chosen: Vec<&Value> = pods.iter().filter(|p| !pods::ready(p)).collect();
        // Pods whose containers say why first, then those that are merely not ready yet.
        chosen.sort_by_key(|p| {
            let report = pods::describe(p);
            let telling = report.reason.is_some()
                || report
                    .containers
                    .iter()
                    .any(|c| c.reason.is_some() || c.last_termination.is_some());
            !telling
        });
        chosen.truncate(MAX_PODS);
        let namespace = object.namespace.clone().unwrap_or_default();
        // Every pod first (no API call needed), so that a slow server costs log lines only.
        object.pods = chosen.iter().map(|p| pods::describe(p)).collect();
        // Masked before cut: a cut through a secret would leave a prefix the mask cannot know.
        let tidy = |m: Option<String>| m.map(|m| limits::masked_clip(&m, |t| self.ctx.mask(t)));
        for pod in &mut object.pods {
            pod.message = tidy(pod.message.take());
            for container in &mut pod.containers {
                container.message = tidy(container.message.take());
            }
        }
        if self.log_lines > 0 && !namespace.is_empty() {
            self.read_logs(object, &namespace).await;
        }

        if namespace.is_empty() {
            return;
        }
        if !self.events.contains_key(&namespace) {
            let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
            let params = ListParams::default().fields("type=Warning");
            let what = format!("listing the Warning events of namespace {namespace}");
            let events = match self.call(&what, api.list(&params)).await {
                Ok(list) => Some(list.items),
                Err(true) => None,
                Err(false) => Some(Vec::new()),
            };
            self.events.insert(namespace.clone(), events);
        }
        let Some(Some(all)) = self.events.get(&namespace) else {
            object.evidence_cut_short = true;
            return;
        };
        // The object, its pods, and the objects between them (a Deployment's new ReplicaSet,
        // whose FailedCreate events say why there are no pods at all).
        let mut about: HashSet<&str> = pods
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str())
            .chain(verdict.related.iter().map(String::as_str))
            .collect();
        about.insert(&object.name);
        let mut events: Vec<EventReport> = all
            .iter()
            .filter(|e| {
                e.involved_object
                    .name
                    .as_deref()
                    .is_some_and(|n| about.contains(n))
            })
            .map(|e| EventReport {
                object: format!(
                    "{}/{}",
                    e.involved_object
                        .kind
                        .as_deref()
                        .unwrap_or("")
                        .to_ascii_lowercase(),
                    e.involved_object.name.as_deref().unwrap_or("")
                ),
                reason: e.reason.clone().unwrap_or_default(),
                message: limits::clip(&self.ctx.mask(e.message.as_deref().unwrap_or(""))),
                count: e.count.unwrap_or(1),
                last_seen: e
                    .last_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string())
                    .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string())),
            })
            .collect();
        events.sort_by(|a, b| a.last_seen.cmp(&b.last_seen));
        let skip = events.len().saturating_sub(MAX_EVENTS);
        object.events = events.split_off(skip);
    }
}

/// A container's log as bytes: `limitBytes` counts bytes, not characters.
async fn read_log(api: &Api<Pod>, pod: &str, params: &LogParams) -> kube::Result<Vec<u8>> {
    use futures_util::AsyncReadExt;

    let stream = Box::pin(api.log_stream(pod, params).await?);
    let mut bytes = Vec::new();
    // The API server stops at limitBytes; the take is for one that does not.
    let limit = u64::try_from(limits::LOG_READ_BYTES).unwrap_or(u64::MAX);
    stream
        .take(limit)
        .read_to_end(&mut bytes)
        .await
        .map_err(kube::Error::ReadEvents)?;
    Ok(bytes)
}

/// One API call, once (a retry would eat the budget of the rest), cut off at `deadline` and not
/// started after it. `Err(true)`: cut off; `Err(false)`: it failed (logged at debug level: the
/// explanation is a bonus, its absence must not change the verdict).
async fn within<T, E: std::fmt::Display>(
    deadline: Instant,
    what: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, bool> {
    if Instant::now() >= deadline {
        return Err(true);
    }
    match tokio::time::timeout_at(deadline.into(), call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            tracing::debug!("{what}: {e}");
            Err(false)
        }
        Err(_) => Err(true),
    }
}

/// The plain-words explanation of one unhealthy object, for stderr.
pub fn render(object: &ObjectReport) -> String {
    let mut out = String::new();
    let namespace = object
        .namespace
        .as_deref()
        .map_or_else(String::new, |ns| format!(" in namespace {ns}"));
    // The message itself is the final error's (or, on a timeout, listed in it): said once.
    let _ = writeln!(
        out,
        "{}/{}{namespace}: {} ({})",
        object.kind.to_ascii_lowercase(),
        object.name,
        object.status,
        object.reason
    );
    for pod in &object.pods {
        render_pod(&mut out, pod);
    }
    if !object.events.is_empty() {
        let _ = writeln!(out, "  recent warning events:");
        for e in &object.events {
            let times = if e.count > 1 {
                format!(" (x{})", e.count)
            } else {
                String::new()
            };
            let _ = writeln!(out, "    {} {}: {}{times}", e.object, e.reason, e.message);
        }
    }
    if object.evidence_cut_short {
        let _ = writeln!(
            out,
            "  (evidence cut short: the API server did not answer within {}; some log lines or events are missing)",
            stage::duration::format(BUDGET)
        );
    }
    out.trim_end().to_owned()
}

fn render_pod(out: &mut String, pod: &PodReport) {
    let node = pod
        .node
        .as_deref()
        .map_or_else(String::new, |n| format!(" on {n}"));
    let _ = write!(out, "  pod {} ({}{node})", pod.name, pod.phase);
    if let Some(reason) = &pod.reason {
        let _ = write!(out, ": {reason}");
        if let Some(message) = &pod.message {
            let _ = write!(out, ": {message}");
        }
    }
    out.push('\n');
    for c in &pod.containers {
        let _ = write!(
            out,
            "    container {} ({}): {}",
            c.name,
            c.image,
            c.reason.as_deref().unwrap_or(&c.state)
        );
        if let Some(message) = &c.message {
            let _ = write!(out, ": {message}");
        }
        out.push('\n');
        if c.restart_count > 0 || c.last_termination.is_some() {
            let _ = write!(out, "      restarts: {}", c.restart_count);
            if let Some(t) = &c.last_termination {
                let _ = write!(
                    out,
                    "; last run ended with exit code {}{}",
                    t.exit_code,
                    t.reason
                        .as_deref()
                        .map_or_else(String::new, |r| format!(" ({r})"))
                );
            }
            out.push('\n');
        }
        if !c.logs.is_empty() {
            let which = if c.restart_count > 0 {
                "previous run"
            } else {
                "current run"
            };
            let _ = writeln!(out, "      last {} log lines ({which}):", c.logs.len());
            for line in &c.logs {
                let _ = writeln!(out, "        | {line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn evidence_calls_are_cut_off_at_the_budgets_end() {
        let soon = Instant::now() + Duration::from_millis(50);
        // A call that never answers (a hung API server) ends at the deadline, as cut short.
        let hung = std::future::pending::<Result<(), String>>();
        assert_eq!(within(soon, "hung", hung).await, Err(true));
        // Past the deadline, nothing more is started.
        let quick = async { Ok::<_, String>(1) };
        assert_eq!(within(soon, "late", quick).await, Err(true));
        // Within it, an answer is an answer and a failure is not a cut.
        let later = Instant::now() + BUDGET;
        assert_eq!(
            within(later, "ok", async { Ok::<_, String>(2) }).await,
            Ok(2)
        );
        let failing = async { Err::<(), _>("500".to_owned()) };
        assert_eq!(within(later, "failing", failing).await, Err(false));
    }

    #[test]
    fn a_cut_short_explanation_says_so() {
        let object = ObjectReport {
            api_version: "apps/v1".to_owned(),
            kind: "Deployment".to_owned(),
            namespace: Some("shop".to_owned()),
            name: "api".to_owned(),
            status: Status::Timeout,
            reason: "Progressing".to_owned(),
            message: "waiting".to_owned(),
            healthy_after_ms: None,
            pods: Vec::new(),
            events: Vec::new(),
            evidence_cut_short: true,
        };
        assert!(
            render(&object).contains("evidence cut short"),
            "{}",
            render(&object)
        );
    }
}
