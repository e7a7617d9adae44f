//! What a kubelet reports about one container at a moment of simulated time: its status
//! (state, lastState, restartCount, ready), the events it would have recorded so far (with
//! counts), and the log lines of its current and previous runs. Pure functions of the script and
//! the timeline; `pods.rs` writes the results.

use serde_json::{Value, json};

use super::behaviour::{Behaviour, Script};
use super::hash::hex;
use super::timeline::{backoff_ms, cycle};
use crate::clock::format_time;
use crate::sim::ContainerLogs;

/// How long a failed image pull attempt takes before the kubelet backs off.
const PULL_ATTEMPT_MS: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn parse(text: &str) -> Self {
        match text {
            "Never" => Self::Never,
            "OnFailure" => Self::OnFailure,
            _ => Self::Always,
        }
    }

    fn restarts_after(self, exit_code: i32) -> bool {
        match self {
            Self::Always => true,
            Self::OnFailure => exit_code != 0,
            Self::Never => false,
        }
    }
}

/// The container as the pod spec describes it.
#[derive(Debug, Clone)]
pub struct Container<'a> {
    pub name: &'a str,
    pub image: &'a str,
    /// Readiness probe: initial delay and period (simulated ms), and the failure message.
    pub probe_delay_ms: i64,
    pub probe_period_ms: i64,
    pub probe_failure: String,
    pub port: i64,
}

impl<'a> Container<'a> {
    pub fn from_spec(spec: &'a Value, pod_ip: &str) -> Self {
        let text = |p: &str| spec.pointer(p).and_then(Value::as_str).unwrap_or("");
        let int = |p: &str| spec.pointer(p).and_then(Value::as_i64);
        let port = int("/ports/0/containerPort").unwrap_or(8080);
        let probe = spec.get("readinessProbe");
        let probe_failure = match probe {
            Some(p) if p.get("tcpSocket").is_some() => {
                let probe_port = p
                    .pointer("/tcpSocket/port")
                    .and_then(Value::as_i64)
                    .unwrap_or(port);
                format!(
                    "Readiness probe failed: dial tcp {pod_ip}:{probe_port}: connect: connection refused"
                )
            }
            Some(p) if p.get("exec").is_some() => {
                "Readiness probe failed: command exited with status 1".to_owned()
            }
            _ => "Readiness probe failed: HTTP probe failed with statuscode: 503".to_owned(),
        };
        Self {
            name: text("/name"),
            image: text("/image"),
            probe_delay_ms: int("/readinessProbe/initialDelaySeconds").unwrap_or(0) * 1000,
            probe_period_ms: int("/readinessProbe/periodSeconds").unwrap_or(10).max(1) * 1000,
            probe_failure,
            port,
        }
    }
}

/// The pod facts a container's report needs.
#[derive(Debug, Clone, Copy)]
pub struct PodFacts<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub policy: RestartPolicy,
}

/// An event the kubelet would have recorded about a container: how often, first and last time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub reason: &'static str,
    pub warning: bool,
    pub message: String,
    pub count: i64,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// One container's report at `now`.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: Value,
    pub ready: bool,
    /// Has run at least once.
    pub started: bool,
    /// Exited and will not be restarted: its exit code.
    pub finished: Option<i32>,
    /// When readiness last changed (simulated ms).
    pub ready_changed_ms: i64,
    /// When this report next changes by itself.
    pub next_ms: Option<i64>,
    pub events: Vec<Occurrence>,
    pub logs: ContainerLogs,
}

/// One terminated run.
#[derive(Debug, Clone, Copy)]
struct Run {
    index: u32,
    started: i64,
    finished: i64,
    exit_code: i32,
}

/// Evaluates a container that started at `start` (simulated ms).
pub fn report(
    pod: PodFacts<'_>,
    container: &Container<'_>,
    script: &Script,
    start: i64,
    now: i64,
) -> Report {
    match script.behaviour {
        Behaviour::PullError | Behaviour::Unschedulable => pull_failing(pod, container, start, now),
        Behaviour::CrashLoop | Behaviour::OomKilled => crashing(pod, container, script, start, now),
        Behaviour::Ready { after_secs } => {
            let ready_at = start
                + i64::try_from(after_secs)
                    .unwrap_or(i64::MAX / 4)
                    .saturating_mul(1000)
                    .max(container.probe_delay_ms);
            if pod.policy == RestartPolicy::Always {
                running(pod, container, script, start, now, Some(ready_at))
            } else {
                completing(pod, container, script, start, now, ready_at)
            }
        }
        Behaviour::NeverReady => running(pod, container, script, start, now, None),
        Behaviour::ConfigError => config_failing(pod, container, script, start, now),
        Behaviour::MountError => mount_failing(pod, container, script, start, now),
    }
}

/// The kubelet's volume manager retries a failed mount after 500 ms, doubling up to 2m2s.
const MOUNT_RETRY_FIRST_MS: i64 = 500;
const MOUNT_RETRY_MAX_MS: i64 = 122_000;

/// A volume that cannot be mounted: the pod never gets its containers created; the kubelet
/// reports `FailedMount` on the pod (no container field path) on every retry.
fn mount_failing(
    pod: PodFacts<'_>,
    c: &Container<'_>,
    script: &Script,
    start: i64,
    now: i64,
) -> Report {
    let message = script
        .config_error
        .clone()
        .unwrap_or_else(|| "MountVolume.SetUp failed".to_owned());
    let (mut attempts, mut last, mut delay) = (1_i64, start, MOUNT_RETRY_FIRST_MS);
    while last + delay <= now {
        last += delay;
        attempts += 1;
        delay = (delay * 2).min(MOUNT_RETRY_MAX_MS);
    }
    let events = vec![occurrence(
        "FailedMount",
        true,
        message,
        attempts,
        start,
        last,
    )];
    let state = json!({ "waiting": { "reason": "ContainerCreating" } });
    never_created(pod, c, &state, start, last + delay, events)
}

/// The report of a container the kubelet never creates (a failed mount, a missing
/// configuration): waiting in `state`, no container ID, retried at `next_ms`.
fn never_created(
    pod: PodFacts<'_>,
    c: &Container<'_>,
    state: &Value,
    start: i64,
    next_ms: i64,
    events: Vec<Occurrence>,
) -> Report {
    let mut status = status(pod, c, state, &json!({}), false, 0, false);
    if let Some(map) = status.as_object_mut() {
        map.remove("containerID");
    }
    Report {
        status,
        ready: false,
        started: false,
        finished: None,
        ready_changed_ms: start,
        next_ms: Some(next_ms),
        events,
        logs: ContainerLogs::default(),
    }
}

/// How often the kubelet retries creating a container whose configuration is missing.
const CONFIG_RETRY_MS: i64 = 10_000;

/// `CreateContainerConfigError`: the image is there, the container never gets created; the
/// kubelet says why on every sync.
fn config_failing(
    pod: PodFacts<'_>,
    c: &Container<'_>,
    script: &Script,
    start: i64,
    now: i64,
) -> Report {
    let message = script
        .config_error
        .clone()
        .unwrap_or_else(|| format!("secret \"{}-config\" not found", pod.name));
    let attempts = (now - start).max(0) / CONFIG_RETRY_MS + 1;
    let last = start + (attempts - 1) * CONFIG_RETRY_MS;
    let events = vec![
        occurrence(
            "Pulled",
            false,
            format!("Container image \"{}\" already present on machine", c.image),
            attempts,
            start,
            last,
        ),
        occurrence(
            "Failed",
            true,
            format!("Error: {message}"),
            attempts,
            start,
            last,
        ),
    ];
    let state =
        json!({ "waiting": { "reason": "CreateContainerConfigError", "message": message } });
    never_created(
        pod,
        c,
        &state,
        start,
        start + attempts * CONFIG_RETRY_MS,
        events,
    )
}

fn running(
    pod: PodFacts<'_>,
    c: &Container<'_>,
    script: &Script,
    start: i64,
    now: i64,
    ready_at: Option<i64>,
) -> Report {
    let ready = ready_at.is_some_and(|r| now >= r);
    let mut events = started_events(c, start, start, 1, false);
    let mut next_ms = ready_at.filter(|r| now < *r);
    if ready_at.is_none() {
        // A failing readiness probe: one Unhealthy event per period after the initial delay.
        let first = start + c.probe_delay_ms.max(1000);
        if now >= first {
            let count = (now - first) / c.probe_period_ms + 1;
            events.push(occurrence(
                "Unhealthy",
                true,
                c.probe_failure.clone(),
                count,
                first,
                first + (count - 1) * c.probe_period_ms,
            ));
            next_ms = Some(first + count * c.probe_period_ms);
        } else {
            next_ms = Some(first);
        }
    }
    let state = json!({ "running": { "startedAt": time(start) } });
    Report {
        status: status(pod, c, &state, &json!({}), ready, 0, true),
        ready,
        started: true,
        finished: None,
        ready_changed_ms: if ready {
            ready_at.unwrap_or(start)
        } else {
            start
        },
        next_ms,
        events,
        logs: ContainerLogs {
            current: lines(c, script, start, None),
            previous: Vec::new(),
        },
    }
}

/// A run-to-completion container (a Job's): runs until `end`, then exits 0.
fn completing(
    pod: PodFacts<'_>,
    c: &Container<'_>,
    script: &Script,
    start: i64,
    now: i64,
    end: i64,
) -> Report {
    let events = started_events(c, start, start, 1, false);
    if now < end {
        let state = json!({ "running": { "startedAt": time(start) } });
        return Report {
            status: status(pod, c, &state, &json!({}), true, 0, true),
            ready: true,
            started: true,
            finished: None,
            ready_changed_ms: start,
            next_ms: Some(end),
            events,
            logs: ContainerLogs {
                current: lines(c, script, start, None),
                previous: Vec::new(),
            },
        };
    }
    let run = Run {
        index: 0,
        started: start,
        finished: end,
        exit_code: 0,
    };
    let state = json!({ "terminated": terminated(pod, c, run, "Completed") });
    Report {
        status: status(pod, c, &state, &json!({}), false, 0, false),
        ready: false,
        started: true,
        finished: Some(0),
        ready_changed_ms: end,
        next_ms: None,
        events,
        logs: ContainerLogs {
            current: lines(c, script, start, Some(run)),
            previous: Vec::new(),
        },
    }
}

fn crashing(pod: PodFacts<'_>, c: &Container<'_>, script: &Script, start: i64, now: i64) -> Report {
    let run_ms = i64::try_from(script.run_secs).unwrap_or(1).max(1) * 1000;
    let reason = if script.behaviour == Behaviour::OomKilled {
        "OOMKilled"
    } else {
        "Error"
    };
    let exit_code = script.exit_code;
    let restarts = pod.policy.restarts_after(exit_code);
    // Without restarts there is exactly one run.
    let at = cycle(start, run_ms, if restarts { now } else { start });
    let this = Run {
        index: at.k,
        started: at.started,
        finished: at.active_end,
        exit_code,
    };
    let previous = at.previous_start(run_ms).map(|s| Run {
        index: at.k - 1,
        started: s,
        finished: s + run_ms,
        exit_code,
    });
    let mut events = started_events(c, start, at.started, i64::from(at.k) + 1, true);
    let mut report = Report {
        status: Value::Null,
        ready: false,
        started: true,
        finished: None,
        ready_changed_ms: start,
        next_ms: Some(this.finished),
        events: Vec::new(),
        logs: ContainerLogs::default(),
    };
    let this_terminated = json!({ "terminated": terminated(pod, c, this, reason) });
    if !restarts && now >= this.finished {
        report.status = status(pod, c, &this_terminated, &json!({}), false, 0, false);
        report.finished = Some(exit_code);
        report.next_ms = None;
        report.logs.current = lines(c, script, this.started, Some(this));
    } else if at.waiting(now) {
        // The back-off after run k: restartCount is still k, the last state is run k.
        events.push(backoff_event(
            pod,
            c,
            i64::from(at.k) + 1,
            start + run_ms,
            this.finished,
        ));
        let message = format!(
            "back-off {} restarting failed container={} pod={}_{}({})",
            go_duration(backoff_ms(at.k) / 1000),
            c.name,
            pod.name,
            pod.namespace,
            pod.uid
        );
        let state = json!({ "waiting": { "reason": "CrashLoopBackOff", "message": message } });
        report.status = status(
            pod,
            c,
            &state,
            &this_terminated,
            false,
            i64::from(at.k),
            false,
        );
        report.next_ms = Some(at.next_start);
        report.logs.current = lines(c, script, this.started, Some(this));
        report.logs.previous.clone_from(&report.logs.current);
    } else {
        if let Some(p) = previous {
            events.push(backoff_event(
                pod,
                c,
                i64::from(at.k),
                start + run_ms,
                p.finished,
            ));
        }
        let state = json!({ "running": { "startedAt": time(this.started) } });
        let last = previous.map_or_else(
            || json!({}),
            |p| json!({ "terminated": terminated(pod, c, p, reason) }),
        );
        report.status = status(pod, c, &state, &last, false, i64::from(at.k), true);
        report.logs.current = lines(c, script, this.started, None);
        report.logs.previous = previous
            .map(|p| lines(c, script, p.started, Some(p)))
            .unwrap_or_default();
    }
    report.events = events;
    report
}

fn backoff_event(
    pod: PodFacts<'_>,
    c: &Container<'_>,
    count: i64,
    first: i64,
    last: i64,
) -> Occurrence {
    let message = format!(
        "Back-off restarting failed container {} in pod {}_{}({})",
        c.name, pod.name, pod.namespace, pod.uid
    );
    occurrence("BackOff", true, message, count, first, last)
}

fn pull_failing(pod: PodFacts<'_>, c: &Container<'_>, start: i64, now: i64) -> Report {
    let at = cycle(start, PULL_ATTEMPT_MS, now);
    let attempts = i64::from(at.k) + 1;
    let backing_off = at.waiting(now);
    let backoffs = i64::from(at.k) + i64::from(backing_off);
    let full = qualified(c.image);
    let reason = format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
    );
    let mut events = vec![
        occurrence(
            "Pulling",
            false,
            format!("Pulling image \"{}\"", c.image),
            attempts,
            start,
            at.started,
        ),
        occurrence(
            "Failed",
            true,
            format!("Failed to pull image \"{}\": {reason}", c.image),
            attempts,
            start,
            at.started,
        ),
        occurrence(
            "Failed",
            true,
            "Error: ErrImagePull".to_owned(),
            attempts,
            start,
            at.started,
        ),
    ];
    let last_backoff = if backing_off {
        at.active_end
    } else {
        at.started - backoff_ms(at.k.saturating_sub(1))
    };
    events.push(occurrence(
        "BackOff",
        false,
        format!("Back-off pulling image \"{}\"", c.image),
        backoffs,
        start + PULL_ATTEMPT_MS,
        last_backoff,
    ));
    events.push(occurrence(
        "Failed",
        true,
        "Error: ImagePullBackOff".to_owned(),
        backoffs,
        start + PULL_ATTEMPT_MS,
        last_backoff,
    ));
    let state = if backing_off {
        json!({ "waiting": { "reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{}\": ErrImagePull: {reason}", c.image) } })
    } else {
        json!({ "waiting": { "reason": "ErrImagePull", "message": reason } })
    };
    let mut status = status(pod, c, &state, &json!({}), false, 0, false);
    if let Some(map) = status.as_object_mut() {
        // Never started: no container, so no containerID or imageID yet.
        map.remove("containerID");
        map.insert("imageID".to_owned(), json!(""));
    }
    Report {
        status,
        ready: false,
        started: false,
        finished: None,
        ready_changed_ms: start,
        next_ms: Some(if backing_off {
            at.next_start
        } else {
            at.active_end
        }),
        events,
        logs: ContainerLogs::default(),
    }
}

/// Pulling, Pulled, Created, Started: the first pull, then `runs` containers created and
/// started (the later ones from the image already present).
fn started_events(
    c: &Container<'_>,
    start: i64,
    last_start: i64,
    runs: i64,
    restarts: bool,
) -> Vec<Occurrence> {
    let mut events = vec![
        occurrence(
            "Pulling",
            false,
            format!("Pulling image \"{}\"", c.image),
            1,
            start,
            start,
        ),
        occurrence(
            "Pulled",
            false,
            format!(
                "Successfully pulled image \"{}\" in 812ms (812ms including waiting). Image size: 18274928 bytes.",
                c.image
            ),
            1,
            start,
            start,
        ),
    ];
    if restarts && runs > 1 {
        events.push(occurrence(
            "Pulled",
            false,
            format!("Container image \"{}\" already present on machine", c.image),
            runs - 1,
            start,
            last_start,
        ));
    }
    events.push(occurrence(
        "Created",
        false,
        format!("Created container: {}", c.name),
        runs,
        start,
        last_start,
    ));
    events.push(occurrence(
        "Started",
        false,
        format!("Started container {}", c.name),
        runs,
        start,
        last_start,
    ));
    events
}

fn occurrence(
    reason: &'static str,
    warning: bool,
    message: String,
    count: i64,
    first_ms: i64,
    last_ms: i64,
) -> Occurrence {
    Occurrence {
        reason,
        warning,
        message,
        count,
        first_ms,
        last_ms,
    }
}

fn terminated(pod: PodFacts<'_>, c: &Container<'_>, run: Run, reason: &str) -> Value {
    json!({
        "exitCode": run.exit_code,
        "reason": reason,
        "startedAt": time(run.started),
        "finishedAt": time(run.finished),
        "containerID": container_id(pod, c, run.index),
    })
}

fn status(
    pod: PodFacts<'_>,
    c: &Container<'_>,
    state: &Value,
    last: &Value,
    ready: bool,
    restart_count: i64,
    started: bool,
) -> Value {
    let full = qualified(c.image);
    let repository = full
        .split('@')
        .next()
        .unwrap_or(&full)
        .rsplit_once(':')
        .map_or(full.as_str(), |(r, _)| r)
        .to_owned();
    let index = u32::try_from(restart_count).unwrap_or(0);
    json!({
        "containerID": container_id(pod, c, index),
        "image": full,
        "imageID": format!("{repository}@sha256:{}", hex(&[c.image.as_bytes()], 64)),
        "lastState": last,
        "name": c.name,
        "ready": ready,
        "restartCount": restart_count,
        "started": started,
        "state": state,
    })
}

fn container_id(pod: PodFacts<'_>, c: &Container<'_>, run: u32) -> String {
    format!(
        "containerd://{}",
        hex(
            &[pod.uid.as_bytes(), c.name.as_bytes(), &run.to_le_bytes()],
            64
        )
    )
}

/// The log lines of a run that started at `start`, and ended as `end` says.
fn lines(c: &Container<'_>, script: &Script, start: i64, end: Option<Run>) -> Vec<String> {
    if !script.logs.is_empty() {
        return script.logs.clone();
    }
    let t0 = time(start);
    let mut out = vec![format!("{t0} starting {} (container {})", c.image, c.name)];
    match script.behaviour {
        Behaviour::CrashLoop => {
            out.push(format!("{t0} connecting to database at postgres:5432"));
            if let Some(run) = end {
                out.push(format!(
                    "{} fatal: dial tcp 10.96.0.20:5432: connect: connection refused",
                    time(run.finished)
                ));
                out.push(format!(
                    "{} exiting with status {}",
                    time(run.finished),
                    run.exit_code
                ));
            }
        }
        Behaviour::OomKilled => out.push(format!("{t0} loading dataset into memory")),
        Behaviour::NeverReady => {
            out.push(format!("{t0} listening on :{}", c.port));
            out.push(format!(
                "{t0} waiting for dependencies before reporting ready"
            ));
        }
        Behaviour::Ready { .. }
        | Behaviour::PullError
        | Behaviour::Unschedulable
        | Behaviour::ConfigError
        | Behaviour::MountError => {
            out.push(format!("{t0} listening on :{}", c.port));
            if let Some(run) = end {
                out.push(format!("{} done", time(run.finished)));
            }
        }
    }
    out
}

/// Seconds as Go prints a `time.Duration` in kubelet messages: `40s`, `1m20s`, `5m0s`.
fn go_duration(secs: i64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

/// Simulated ms as a Kubernetes timestamp.
pub fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(format_time)
        .unwrap_or_default()
}

/// The image as a container runtime reports it: `nginx` → `docker.io/library/nginx:latest`.
pub fn qualified(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or(name);
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_registry {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or("");
    if !last.contains(':') && digest.is_none() {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(policy: RestartPolicy) -> PodFacts<'static> {
        PodFacts {
            name: "web-1",
            namespace: "default",
            uid: "u1",
            policy,
        }
    }

    fn spec() -> Value {
        json!({ "name": "app", "image": "registry.example/app:2" })
    }

    fn script(behaviour: Behaviour) -> Script {
        Script {
            behaviour,
            exit_code: if behaviour == Behaviour::OomKilled {
                137
            } else {
                1
            },
            run_secs: 1,
            logs: Vec::new(),
            config_error: None,
            stop_secs: None,
        }
    }

    #[test]
    fn images_are_qualified_like_containerd_reports_them() {
        assert_eq!(qualified("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(qualified("bitnami/redis:7"), "docker.io/bitnami/redis:7");
        assert_eq!(qualified("localhost:5000/app:1"), "localhost:5000/app:1");
        assert_eq!(qualified("ghcr.io/a/b@sha256:00"), "ghcr.io/a/b@sha256:00");
    }

    #[test]
    fn crash_loop_counts_restarts_and_keeps_the_last_state() {
        let spec = spec();
        let c = Container::from_spec(&spec, "10.0.0.1");
        // Run 0 ends at 1 s, back-off to 11 s, run 1 ends at 12 s, back-off 20 s to 32 s.
        let r = report(
            facts(RestartPolicy::Always),
            &c,
            &script(Behaviour::CrashLoop),
            0,
            15_000,
        );
        assert_eq!(r.status["restartCount"], 1);
        assert_eq!(r.status["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert!(
            r.status["state"]["waiting"]["message"]
                .as_str()
                .unwrap()
                .starts_with("back-off 20s")
        );
        assert_eq!(r.status["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(r.next_ms, Some(32_000));
        let hour = report(
            facts(RestartPolicy::Always),
            &c,
            &script(Behaviour::CrashLoop),
            0,
            3_600_000,
        );
        let message = hour.status["state"]["waiting"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            message.starts_with("back-off 5m0s") || hour.status["state"]["running"].is_object(),
            "{message}"
        );
        assert!(r.logs.previous.iter().any(|l| l.contains("fatal")));
        let backoff = r.events.iter().find(|e| e.reason == "BackOff").unwrap();
        assert_eq!(backoff.count, 2);
    }

    #[test]
    fn oom_and_never_policy() {
        let spec = spec();
        let c = Container::from_spec(&spec, "10.0.0.1");
        let r = report(
            facts(RestartPolicy::Always),
            &c,
            &script(Behaviour::OomKilled),
            0,
            500,
        );
        assert!(r.status["state"]["running"].is_object());
        let r = report(
            facts(RestartPolicy::Always),
            &c,
            &script(Behaviour::OomKilled),
            0,
            11_500,
        );
        assert_eq!(r.status["lastState"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(r.status["lastState"]["terminated"]["exitCode"], 137);
        let r = report(
            facts(RestartPolicy::Never),
            &c,
            &script(Behaviour::CrashLoop),
            0,
            60_000,
        );
        assert_eq!(r.finished, Some(1));
        assert_eq!(r.status["state"]["terminated"]["reason"], "Error");
    }

    #[test]
    fn pull_errors_alternate_and_never_start() {
        let spec = spec();
        let c = Container::from_spec(&spec, "10.0.0.1");
        let r = report(
            facts(RestartPolicy::Always),
            &c,
            &script(Behaviour::PullError),
            0,
            500,
        );
        assert_eq!(r.status["state"]["waiting"]["reason"], "ErrImagePull");
        let r = report(
            facts(RestartPolicy::Always),
            &c,
            &script(Behaviour::PullError),
            0,
            5000,
        );
        assert_eq!(r.status["state"]["waiting"]["reason"], "ImagePullBackOff");
        assert!(!r.started);
    }

    #[test]
    fn a_failed_mount_waits_in_container_creating_and_retries_with_back_off() {
        let spec = spec();
        let c = Container::from_spec(&spec, "10.0.0.1");
        let message = "MountVolume.SetUp failed for volume \"db\" : secret \"db\" not found";
        let script = Script::mount_error(message.into());
        // Retries at 0.5, 1.5, 3.5, 7.5 and 15.5 s; the next at 31.5 s.
        let r = report(facts(RestartPolicy::Always), &c, &script, 0, 25_000);
        assert_eq!(r.status["state"]["waiting"]["reason"], "ContainerCreating");
        assert!(!r.started && !r.ready);
        let failed = r.events.iter().find(|e| e.reason == "FailedMount").unwrap();
        assert_eq!((failed.message.as_str(), failed.count), (message, 6));
        assert_eq!((failed.last_ms, r.next_ms), (15_500, Some(31_500)));
    }

    #[test]
    fn a_missing_secret_key_is_a_create_container_config_error() {
        let spec = spec();
        let c = Container::from_spec(&spec, "10.0.0.1");
        let script = Script::config_error("couldn't find key password in Secret default/db".into());
        let r = report(facts(RestartPolicy::Always), &c, &script, 0, 25_000);
        assert_eq!(
            r.status["state"]["waiting"]["reason"],
            "CreateContainerConfigError"
        );
        assert!(!r.started);
        let failed = r.events.iter().find(|e| e.reason == "Failed").unwrap();
        assert_eq!(
            failed.message,
            "Error: couldn't find key password in Secret default/db"
        );
        assert_eq!(failed.count, 3);
    }

    #[test]
    fn readiness_waits_and_never_ready_reports_unhealthy() {
        let spec = spec();
        let c = Container::from_spec(&spec, "10.0.0.1");
        let slow = script(Behaviour::Ready { after_secs: 30 });
        assert!(!report(facts(RestartPolicy::Always), &c, &slow, 0, 29_000).ready);
        assert!(report(facts(RestartPolicy::Always), &c, &slow, 0, 30_000).ready);
        let r = report(
            facts(RestartPolicy::Always),
            &c,
            &script(Behaviour::NeverReady),
            0,
            25_000,
        );
        let unhealthy = r.events.iter().find(|e| e.reason == "Unhealthy").unwrap();
        assert_eq!(unhealthy.count, 3);
        assert!(!r.ready);
    }
}
