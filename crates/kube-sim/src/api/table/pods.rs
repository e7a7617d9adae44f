//! The Pod printer: READY as ready/total containers, STATUS as the one word `kubectl get pods`
//! users read (the phase, or the reason of the container that explains it: `Init:0/1`,
//! `ContainerCreating`, `ErrImagePull`, `CrashLoopBackOff`, `Completed`, `Error`,
//! `Terminating`…), RESTARTS with how long ago the last one was, following the rules of the real
//! server's printer.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::format::{self, list, text};
use super::{AGE, Builtin, Col, NAME, Printer};

pub static PODS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        Col::new(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        Col::new(
            "Restarts",
            "string",
            "How many times the pod's containers restarted, and when the last one did.",
        ),
        AGE,
        Col::wide("IP", "string", "The pod's first IP address."),
        Col::wide("Node", "string", "The node the pod is scheduled to."),
        Col::wide(
            "Nominated Node",
            "string",
            "The node a preempting pod is nominated to run on.",
        ),
        Col::wide(
            "Readiness Gates",
            "string",
            "How many of the pod's readiness gates are met.",
        ),
    ],
    cells: pod_cells,
};

/// Finished pods are marked on their row, so clients may tell them apart without parsing cells.
pub fn row_conditions(printer: &Printer, pod: &Value) -> Option<Value> {
    if !matches!(printer, Printer::Builtin(b) if std::ptr::eq(*b, &raw const PODS)) {
        return None;
    }
    let (reason, message) = match text(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{ "type": "Completed", "status": "True", "reason": reason, "message": message }]))
}

/// The newest `lastState.terminated.finishedAt` seen so far, kept as a timestamp.
#[derive(Default)]
struct LastRestart(Option<Timestamp>);

impl LastRestart {
    fn note(&mut self, status: &Value) {
        let finished = format::text_at(status, "/lastState/terminated/finishedAt")
            .and_then(crate::clock::parse_time);
        if let Some(at) = finished
            && self.0.is_none_or(|seen| seen < at)
        {
            self.0 = Some(at);
        }
    }
}

/// Restarts counted over some containers, and when the last of them finished.
#[derive(Default)]
struct Restarts {
    count: i64,
    last: LastRestart,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += format::int(status, "/restartCount");
        self.last.note(status);
    }
}

fn restartable(init_container: Option<&Value>) -> bool {
    init_container.is_some_and(|c| text(c, "/restartPolicy") == "Always")
}

/// READY, STATUS and RESTARTS, worked out together as the real printer does.
struct Summary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: Restarts,
}

/// What the init containers say: restarts of all of them and of the sidecars
/// (`restartPolicy: Always`) alone, the ready sidecars, and `Init:…` while one has not finished.
struct InitScan {
    all: Restarts,
    sidecars: Restarts,
    ready: usize,
    status: Option<String>,
}

fn init_containers(pod: &Value) -> InitScan {
    let specs = list(pod, "/spec/initContainers");
    let mut scan = InitScan {
        all: Restarts::default(),
        sidecars: Restarts::default(),
        ready: 0,
        status: None,
    };
    for (index, status) in list(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        scan.all.add(status);
        let name = text(status, "/name");
        let sidecar = restartable(specs.iter().find(|c| text(c, "/name") == name));
        if sidecar {
            scan.sidecars.add(status);
        }
        let terminated = status.pointer("/state/terminated");
        let waiting = text(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| format::int(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && status.get("started").and_then(Value::as_bool) == Some(true) {
            if status.get("ready").and_then(Value::as_bool) == Some(true) {
                scan.ready += 1;
            }
            continue;
        }
        scan.status = Some(if let Some(terminated) = terminated {
            match text(terminated, "/reason") {
                "" if format::int(terminated, "/signal") != 0 => {
                    format!("Init:Signal:{}", format::int(terminated, "/signal"))
                }
                "" => format!("Init:ExitCode:{}", format::int(terminated, "/exitCode")),
                why => format!("Init:{why}"),
            }
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            format!("Init:{waiting}")
        } else {
            format!("Init:{index}/{}", specs.len())
        });
        break;
    }
    scan
}

fn summarise(pod: &Value) -> Summary {
    let init_specs = list(pod, "/spec/initContainers");
    let total = list(pod, "/spec/containers").len()
        + init_specs.iter().filter(|c| restartable(Some(c))).count();
    let phase = text(pod, "/status/phase");
    let mut reason = match text(pod, "/status/reason") {
        "" => phase.to_owned(),
        reason => reason.to_owned(),
    };
    let conditions = list(pod, "/status/conditions");
    if conditions
        .iter()
        .any(|c| text(c, "/type") == "PodScheduled" && text(c, "/reason") == "SchedulingGated")
    {
        "SchedulingGated".clone_into(&mut reason);
    }

    let init = init_containers(pod);
    let mut ready = init.ready;
    let mut restarts = init.all;
    let initializing = init.status.is_some();
    if let Some(status) = init.status {
        reason = status;
    }
    if !initializing || format::condition_true(conditions, "Initialized") {
        restarts = init.sidecars;
        let mut has_running = false;
        // The last container with something to say wins, so walk from the end.
        for status in list(pod, "/status/containerStatuses").iter().rev() {
            restarts.add(status);
            let waiting = text(status, "/state/waiting/reason");
            if !waiting.is_empty() {
                waiting.clone_into(&mut reason);
            } else if let Some(terminated) = status.pointer("/state/terminated") {
                reason = match text(terminated, "/reason") {
                    "" if format::int(terminated, "/signal") != 0 => {
                        format!("Signal:{}", format::int(terminated, "/signal"))
                    }
                    "" => format!("ExitCode:{}", format::int(terminated, "/exitCode")),
                    why => why.to_owned(),
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let ready = format::condition_true(conditions, "Ready");
            if ready { "Running" } else { "NotReady" }.clone_into(&mut reason);
        }
    }

    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        if text(pod, "/status/reason") == "NodeLost" {
            "Unknown".clone_into(&mut reason);
        } else if phase != "Succeeded" && phase != "Failed" {
            "Terminating".clone_into(&mut reason);
        }
    }
    Summary {
        ready,
        total,
        reason,
        restarts,
    }
}

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let summary = summarise(pod);
    let count = summary.restarts.count;
    let restarts = match summary.restarts.last.0 {
        Some(at) if count != 0 => format!(
            "{count} ({} ago)",
            format::human_duration(now.as_nanosecond() - at.as_nanosecond())
        ),
        _ => count.to_string(),
    };
    let or_none = |value: &str| {
        if value.is_empty() {
            "<none>".to_owned()
        } else {
            value.to_owned()
        }
    };
    let ip = list(pod, "/status/podIPs")
        .first()
        .map_or_else(|| text(pod, "/status/podIP"), |first| text(first, "/ip"));
    let gates = list(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_owned()
    } else {
        let conditions = list(pod, "/status/conditions");
        let met = gates
            .iter()
            .filter(|gate| format::condition_true(conditions, text(gate, "/conditionType")))
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        format::name(pod),
        json!(format!("{}/{}", summary.ready, summary.total)),
        json!(summary.reason),
        json!(restarts),
        json!(format::age(pod, now)),
        json!(or_none(ip)),
        json!(or_none(text(pod, "/spec/nodeName"))),
        json!(or_none(text(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn pod(status: &Value) -> Value {
        json!({
            "metadata": { "name": "web-1", "creationTimestamp": "2026-03-01T11:57:57Z" },
            "spec": { "containers": [{ "name": "app", "image": "shop:1" }], "nodeName": "node-1" },
            "status": status,
        })
    }

    fn cells(pod: &Value) -> Vec<Value> {
        pod_cells(pod, now())
    }

    #[test]
    fn a_running_pod() {
        let running = pod(&json!({
            "phase": "Running",
            "podIPs": [{ "ip": "10.0.0.7" }],
            "conditions": [{ "type": "Ready", "status": "True" }],
            "containerStatuses": [{
                "name": "app", "ready": true, "restartCount": 0,
                "state": { "running": { "startedAt": "2026-03-01T11:58:00Z" } },
            }],
        }));
        assert_eq!(
            cells(&running),
            json!([
                "web-1", "1/1", "Running", "0", "2m3s", "10.0.0.7", "node-1", "<none>", "<none>"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
    }

    #[test]
    fn waiting_reasons_name_the_status() {
        for reason in [
            "ContainerCreating",
            "ErrImagePull",
            "ImagePullBackOff",
            "CreateContainerConfigError",
        ] {
            let waiting = pod(&json!({
                "phase": "Pending",
                "containerStatuses": [{
                    "name": "app", "ready": false, "restartCount": 0,
                    "state": { "waiting": { "reason": reason } },
                }],
            }));
            assert_eq!(cells(&waiting)[1], "0/1");
            assert_eq!(cells(&waiting)[2], reason);
        }
        // Not yet scheduled: no statuses, the phase speaks.
        let pending = pod(&json!({ "phase": "Pending" }));
        assert_eq!(cells(&pending)[2], "Pending");
        assert_eq!(cells(&pending)[5], "<none>");
    }

    #[test]
    fn a_crash_loop_shows_restarts_and_how_long_ago() {
        let crashing = pod(&json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 4,
                "state": { "waiting": { "reason": "CrashLoopBackOff" } },
                "lastState": { "terminated": { "exitCode": 1, "reason": "Error",
                                               "finishedAt": "2026-03-01T11:59:15Z" } },
            }],
        }));
        let cells = cells(&crashing);
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "4 (45s ago)");
    }

    #[test]
    fn finished_pods() {
        let done = pod(&json!({
            "phase": "Succeeded",
            "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 0,
                "state": { "terminated": { "exitCode": 0, "reason": "Completed" } },
            }],
        }));
        assert_eq!(cells(&done)[2], "Completed");
        let failed = pod(&json!({
            "phase": "Failed",
            "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 0,
                "state": { "terminated": { "exitCode": 2, "reason": "Error" } },
            }],
        }));
        assert_eq!(cells(&failed)[2], "Error");
        let no_reason = pod(&json!({
            "phase": "Failed",
            "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 0,
                "state": { "terminated": { "exitCode": 3 } },
            }],
        }));
        assert_eq!(cells(&no_reason)[2], "ExitCode:3");
        let tables = Printer::Builtin(&PODS);
        assert_eq!(
            row_conditions(&tables, &done).unwrap()[0]["reason"],
            "Succeeded"
        );
        assert!(row_conditions(&Printer::Default, &done).is_none());
    }

    #[test]
    fn init_containers_come_first() {
        let mut initializing = pod(&json!({
            "phase": "Pending",
            "initContainerStatuses": [
                { "name": "migrate", "ready": false, "restartCount": 0,
                  "state": { "terminated": { "exitCode": 0, "reason": "Completed" } } },
                { "name": "seed", "ready": false, "restartCount": 0,
                  "state": { "running": {} } },
            ],
            "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 0,
                "state": { "waiting": { "reason": "PodInitializing" } },
            }],
        }));
        initializing["spec"]["initContainers"] =
            json!([{ "name": "migrate", "image": "m" }, { "name": "seed", "image": "s" }]);
        assert_eq!(cells(&initializing)[2], "Init:1/2");
        initializing["status"]["initContainerStatuses"][1]["state"] =
            json!({ "waiting": { "reason": "CrashLoopBackOff" } });
        assert_eq!(cells(&initializing)[2], "Init:CrashLoopBackOff");
        initializing["status"]["initContainerStatuses"][1]["state"] =
            json!({ "terminated": { "exitCode": 1, "reason": "Error" } });
        assert_eq!(cells(&initializing)[2], "Init:Error");
        // A sidecar (restartPolicy Always) counts towards READY's total.
        initializing["spec"]["initContainers"][1]["restartPolicy"] = json!("Always");
        assert_eq!(cells(&initializing)[1], "0/2");
    }

    #[test]
    fn a_pod_being_deleted_is_terminating_unless_finished() {
        let mut running = pod(&json!({
            "phase": "Running",
            "containerStatuses": [{
                "name": "app", "ready": true, "restartCount": 0, "state": { "running": {} },
            }],
        }));
        running["metadata"]["deletionTimestamp"] = json!("2026-03-01T11:59:59Z");
        assert_eq!(cells(&running)[2], "Terminating");
        running["status"]["phase"] = json!("Succeeded");
        assert_ne!(cells(&running)[2], "Terminating");
    }

    #[test]
    fn readiness_gates_count_the_true_conditions() {
        let mut gated = pod(&json!({
            "phase": "Running",
            "conditions": [
                { "type": "example.com/lb", "status": "True" },
                { "type": "example.com/dns", "status": "False" },
            ],
        }));
        gated["spec"]["readinessGates"] =
            json!([{ "conditionType": "example.com/lb" }, { "conditionType": "example.com/dns" }]);
        assert_eq!(cells(&gated)[8], "1/2");
    }
}
