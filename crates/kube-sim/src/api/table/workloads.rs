//! Printers of the workload kinds: `Deployment`, `ReplicaSet`, `StatefulSet`, `DaemonSet`,
//! `Job`, `CronJob`, `ControllerRevision`, `HorizontalPodAutoscaler` and
//! `PodDisruptionBudget`.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::format::{self, int, list, text};
use super::{AGE, Builtin, CONTAINERS, Col, IMAGES, NAME};

const SELECTOR: Col = Col::wide(
    "Selector",
    "string",
    "The label query over the pods it manages.",
);

/// `spec.replicas`, which the server defaults to 1.
fn desired(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

pub static DEPLOYMENTS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Ready", "string", "Number of the pod with ready state"),
        Col::new(
            "Up-to-date",
            "string",
            "Replicas running the newest pod template.",
        ),
        Col::new(
            "Available",
            "string",
            "Replicas available to users (ready for minReadySeconds).",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: |d, now| {
        let (names, images) = format::containers(d, "/spec/template/spec");
        // The Deployment printer writes an empty selector as "", not "<none>".
        vec![
            format::name(d),
            json!(format!(
                "{}/{}",
                int(d, "/status/readyReplicas"),
                desired(d)
            )),
            json!(int(d, "/status/updatedReplicas")),
            json!(int(d, "/status/availableReplicas")),
            json!(format::age(d, now)),
            json!(names),
            json!(images),
            json!(format::selector(d.pointer("/spec/selector"))),
        ]
    },
};

pub static REPLICA_SETS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Desired", "integer", "Replicas wanted."),
        Col::new("Current", "integer", "Replicas created."),
        Col::new("Ready", "integer", "Replicas ready."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: |rs, now| {
        let (names, images) = format::containers(rs, "/spec/template/spec");
        vec![
            format::name(rs),
            json!(desired(rs)),
            json!(int(rs, "/status/replicas")),
            json!(int(rs, "/status/readyReplicas")),
            json!(format::age(rs, now)),
            json!(names),
            json!(images),
            json!(format::selector_or_none(rs.pointer("/spec/selector"))),
        ]
    },
};

pub static STATEFUL_SETS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Ready", "string", "Number of the pod with ready state"),
        AGE,
        CONTAINERS,
        IMAGES,
    ],
    cells: |sts, now| {
        let (names, images) = format::containers(sts, "/spec/template/spec");
        vec![
            format::name(sts),
            json!(format!(
                "{}/{}",
                int(sts, "/status/readyReplicas"),
                desired(sts)
            )),
            json!(format::age(sts, now)),
            json!(names),
            json!(images),
        ]
    },
};

pub static DAEMON_SETS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new(
            "Desired",
            "integer",
            "Nodes that should run the daemon pod.",
        ),
        Col::new(
            "Current",
            "integer",
            "Nodes running at least one daemon pod.",
        ),
        Col::new("Ready", "integer", "Nodes whose daemon pod is ready."),
        Col::new(
            "Up-to-date",
            "integer",
            "Nodes running the newest daemon pod.",
        ),
        Col::new(
            "Available",
            "integer",
            "Nodes whose daemon pod is available.",
        ),
        Col::new(
            "Node Selector",
            "string",
            "The pod template's node selector.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: |ds, now| {
        let (names, images) = format::containers(ds, "/spec/template/spec");
        vec![
            format::name(ds),
            json!(int(ds, "/status/desiredNumberScheduled")),
            json!(int(ds, "/status/currentNumberScheduled")),
            json!(int(ds, "/status/numberReady")),
            json!(int(ds, "/status/updatedNumberScheduled")),
            json!(int(ds, "/status/numberAvailable")),
            json!(format::labels(
                ds.pointer("/spec/template/spec/nodeSelector")
            )),
            json!(format::age(ds, now)),
            json!(names),
            json!(images),
            json!(format::selector_or_none(ds.pointer("/spec/selector"))),
        ]
    },
};

pub static JOBS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Status", "string", "Status of the job."),
        Col::new(
            "Completions",
            "string",
            "Pods that succeeded, of those wanted.",
        ),
        Col::new("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: job_cells,
};

fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(job, "/status/succeeded");
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(wanted) => format!("{succeeded}/{wanted}"),
        None => match int(job, "/spec/parallelism") {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let started = format::text_at(job, "/status/startTime").and_then(crate::clock::parse_time);
    let finished =
        format::text_at(job, "/status/completionTime").and_then(crate::clock::parse_time);
    let duration = match (started, finished) {
        (None, _) => String::new(),
        (Some(start), None) => format::human_duration(now.as_nanosecond() - start.as_nanosecond()),
        (Some(start), Some(end)) => {
            format::human_duration(end.as_nanosecond() - start.as_nanosecond())
        }
    };
    let conditions = list(job, "/status/conditions");
    let status = if format::condition_true(conditions, "Complete") {
        "Complete"
    } else if format::condition_true(conditions, "Failed") {
        "Failed"
    } else if job.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if format::condition_true(conditions, "Suspended") {
        "Suspended"
    } else if format::condition_true(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = format::containers(job, "/spec/template/spec");
    vec![
        format::name(job),
        json!(status),
        json!(completions),
        json!(duration),
        json!(format::age(job, now)),
        json!(names),
        json!(images),
        json!(format::selector_or_none(job.pointer("/spec/selector"))),
    ]
}

pub static CRON_JOBS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Schedule", "string", "The schedule in Cron format."),
        Col::new(
            "Timezone",
            "string",
            "The time zone the schedule is read in.",
        ),
        Col::new("Suspend", "boolean", "Whether later runs are suspended."),
        Col::new("Active", "integer", "Jobs running now."),
        Col::new("Last Schedule", "string", "When a job was last scheduled."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: |cj, now| {
        let last = match format::text_at(cj, "/status/lastScheduleTime") {
            Some(at) => format::since(Some(at), now),
            None => "<none>".to_owned(),
        };
        let suspend = match cj.pointer("/spec/suspend").and_then(Value::as_bool) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let template = "/spec/jobTemplate/spec/template/spec";
        let (names, images) = format::containers(cj, template);
        vec![
            format::name(cj),
            json!(text(cj, "/spec/schedule")),
            json!(format::text_at(cj, "/spec/timeZone").unwrap_or("<none>")),
            json!(suspend),
            json!(list(cj, "/status/active").len()),
            json!(last),
            json!(format::age(cj, now)),
            json!(names),
            json!(images),
            json!(format::selector_or_none(
                cj.pointer("/spec/jobTemplate/spec/selector")
            )),
        ]
    },
};

pub static CONTROLLER_REVISIONS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Controller", "string", "Controller of the object"),
        Col::new("Revision", "string", "The revision this object holds."),
        AGE,
    ],
    cells: |cr, now| {
        let controller = list(cr, "/metadata/ownerReferences")
            .iter()
            .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
            .map_or_else(
                || "<none>".to_owned(),
                |owner| {
                    let (group, _) =
                        crate::resources::split_api_version(text(owner, "/apiVersion"));
                    let kind = text(owner, "/kind");
                    let group_kind = if group.is_empty() {
                        kind.to_owned()
                    } else {
                        format!("{kind}.{group}")
                    };
                    format!("{}/{}", group_kind.to_lowercase(), text(owner, "/name"))
                },
            );
        vec![
            format::name(cr),
            json!(controller),
            json!(int(cr, "/revision")),
            json!(format::age(cr, now)),
        ]
    },
};

pub static HORIZONTAL_POD_AUTOSCALERS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Reference", "string", "The object whose scale it sets."),
        Col::new("Targets", "string", "Current and target metric values."),
        Col::new("MinPods", "string", "The fewest replicas it scales to."),
        Col::new("MaxPods", "string", "The most replicas it scales to."),
        Col::new("Replicas", "string", "Replicas now."),
        AGE,
    ],
    cells: |hpa, now| {
        let reference = format!(
            "{}/{}",
            text(hpa, "/spec/scaleTargetRef/kind"),
            text(hpa, "/spec/scaleTargetRef/name")
        );
        let min = hpa
            .pointer("/spec/minReplicas")
            .and_then(Value::as_i64)
            .map_or_else(|| "<unset>".to_owned(), |m| m.to_string());
        vec![
            format::name(hpa),
            json!(reference),
            json!(hpa_metrics(
                list(hpa, "/spec/metrics"),
                list(hpa, "/status/currentMetrics")
            )),
            json!(min),
            json!(int(hpa, "/spec/maxReplicas")),
            json!(int(hpa, "/status/currentReplicas")),
            json!(format::age(hpa, now)),
        ]
    },
};

/// TARGETS: `current/target` per metric, the first two, then `+ N more...`.
fn hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    const SHOWN: usize = 2;
    if specs.is_empty() {
        return "<none>".to_owned();
    }
    let quantity = |v: Option<&Value>| v.map(format::int_or_string);
    let unknown = || "<unknown>".to_owned();
    let percent = |v: Option<&Value>| v.and_then(Value::as_i64).map(|p| format!("{p}%"));
    let mut shown = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let current = |section: &str, field: &str| {
            status
                .and_then(|s| s.get(section))
                .and_then(|s| s.pointer(&format!("/current/{field}")))
        };
        let kind = text(spec, "/type");
        let entry = match kind {
            "External" | "Object" | "Pods" => {
                let section = match kind {
                    "External" => "external",
                    "Object" => "object",
                    _ => "pods",
                };
                let target = spec.get(section).and_then(|s| s.get("target"));
                let average = target.and_then(|t| t.get("averageValue"));
                if kind == "Pods" {
                    let now = quantity(current(section, "averageValue")).unwrap_or_else(unknown);
                    format!("{now}/{}", quantity(average).unwrap_or_default())
                } else if average.is_some() {
                    let now = quantity(current(section, "averageValue")).unwrap_or_else(unknown);
                    format!("{now}/{} (avg)", quantity(average).unwrap_or_default())
                } else {
                    let now = quantity(current(section, "value")).unwrap_or_else(unknown);
                    let value = quantity(target.and_then(|t| t.get("value")));
                    format!("{now}/{}", value.unwrap_or_default())
                }
            }
            "Resource" | "ContainerResource" => {
                let section = if kind == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let resource = spec.get(section);
                let name = resource.map_or("", |r| text(r, "/name"));
                let target = resource.and_then(|r| r.get("target"));
                if let Some(average) = target.and_then(|t| t.get("averageValue")) {
                    let now = quantity(current(section, "averageValue")).unwrap_or_else(unknown);
                    format!("{name}: {now}/{}", format::int_or_string(average))
                } else {
                    let now =
                        percent(current(section, "averageUtilization")).unwrap_or_else(unknown);
                    let goal = percent(target.and_then(|t| t.get("averageUtilization")))
                        .unwrap_or_else(|| "<auto>".to_owned());
                    format!("{name}: {now}/{goal}")
                }
            }
            _ => "<unknown type>".to_owned(),
        };
        shown.push(entry);
    }
    let count = shown.len();
    if count > SHOWN {
        shown.truncate(SHOWN);
        return format!("{} + {} more...", shown.join(", "), count - SHOWN);
    }
    shown.join(", ")
}

pub static POD_DISRUPTION_BUDGETS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        Col::new(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        Col::new(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        AGE,
    ],
    cells: |pdb, now| {
        let bound = |field: &str| {
            pdb.pointer(field)
                .map_or_else(|| "N/A".to_owned(), format::int_or_string)
        };
        vec![
            format::name(pdb),
            json!(bound("/spec/minAvailable")),
            json!(bound("/spec/maxUnavailable")),
            json!(int(pdb, "/status/disruptionsAllowed")),
            json!(format::age(pdb, now)),
        ]
    },
};

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    const CREATED: &str = "2026-03-01T09:00:00Z";

    #[test]
    fn deployment_ready_up_to_date_available() {
        let deployment = json!({
            "metadata": { "name": "web", "creationTimestamp": CREATED },
            "spec": {
                "replicas": 3,
                "selector": { "matchLabels": { "app": "web" } },
                "template": { "spec": { "containers": [
                    { "name": "app", "image": "shop:2" }, { "name": "proxy", "image": "envoy:1" },
                ] } },
            },
            "status": { "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2 },
        });
        assert_eq!(
            (DEPLOYMENTS.cells)(&deployment, now()),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("3h"),
                json!("app,proxy"),
                json!("shop:2,envoy:1"),
                json!("app=web"),
            ]
        );
        // A new Deployment without status: zeros, not blanks.
        let fresh = json!({ "metadata": { "name": "api" }, "spec": { "replicas": 2 } });
        let cells = (DEPLOYMENTS.cells)(&fresh, now());
        assert_eq!(cells[1], "0/2");
        assert_eq!(cells[2], 0);
        assert_eq!(cells[4], "<unknown>");
        assert_eq!(DEPLOYMENTS.columns.len(), cells.len());
    }

    #[test]
    fn replica_sets_stateful_sets_and_daemon_sets() {
        let rs = json!({
            "metadata": { "name": "web-5d8f", "creationTimestamp": CREATED },
            "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "web", "pod-template-hash": "5d8f" } } },
            "status": { "replicas": 3, "readyReplicas": 1 },
        });
        let cells = (REPLICA_SETS.cells)(&rs, now());
        assert_eq!(&cells[1..4], &[json!(3), json!(3), json!(1)]);
        assert_eq!(cells[7], "app=web,pod-template-hash=5d8f");

        let sts = json!({ "metadata": { "name": "db" }, "spec": { "replicas": 3 }, "status": { "readyReplicas": 3 } });
        assert_eq!((STATEFUL_SETS.cells)(&sts, now())[1], "3/3");

        let ds = json!({
            "metadata": { "name": "agent" },
            "spec": { "template": { "spec": { "nodeSelector": { "kubernetes.io/os": "linux" } } } },
            "status": { "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                        "updatedNumberScheduled": 3, "numberAvailable": 2 },
        });
        let cells = (DAEMON_SETS.cells)(&ds, now());
        assert_eq!(
            &cells[1..7],
            &[
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux")
            ]
        );
        assert_eq!(cells[10], "<none>");
    }

    #[test]
    fn jobs_status_completions_and_duration() {
        let running = json!({
            "metadata": { "name": "migrate", "creationTimestamp": CREATED },
            "spec": { "completions": 3, "parallelism": 1 },
            "status": { "succeeded": 1, "startTime": "2026-03-01T11:58:00Z" },
        });
        let cells = job_cells(&running, now());
        assert_eq!(&cells[1..4], &[json!("Running"), json!("1/3"), json!("2m")]);
        let complete = json!({
            "metadata": { "name": "once" },
            "spec": { "completions": 1 },
            "status": { "succeeded": 1, "startTime": "2026-03-01T11:00:00Z",
                        "completionTime": "2026-03-01T11:00:42Z",
                        "conditions": [{ "type": "Complete", "status": "True" }] },
        });
        assert_eq!(
            &job_cells(&complete, now())[1..4],
            &[json!("Complete"), json!("1/1"), json!("42s")]
        );
        let work_queue = json!({
            "metadata": { "name": "queue" },
            "spec": { "parallelism": 4 },
            "status": { "conditions": [{ "type": "Failed", "status": "True" }] },
        });
        assert_eq!(
            &job_cells(&work_queue, now())[1..4],
            &[json!("Failed"), json!("0/1 of 4"), json!("")]
        );
    }

    #[test]
    fn cron_jobs() {
        let cj = json!({
            "metadata": { "name": "backup", "creationTimestamp": CREATED },
            "spec": { "schedule": "0 3 * * *", "suspend": false },
            "status": { "active": [{ "name": "backup-1" }], "lastScheduleTime": "2026-03-01T11:00:00Z" },
        });
        let cells = (CRON_JOBS.cells)(&cj, now());
        assert_eq!(
            &cells[1..7],
            &[
                json!("0 3 * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("60m"),
                json!("3h")
            ]
        );
    }

    #[test]
    fn autoscalers_and_budgets() {
        let hpa = json!({
            "metadata": { "name": "web" },
            "spec": {
                "scaleTargetRef": { "kind": "Deployment", "name": "web" },
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [
                    { "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 80 } } },
                    { "type": "Resource", "resource": { "name": "memory", "target": { "type": "AverageValue", "averageValue": "500Mi" } } },
                    { "type": "Pods", "pods": { "metric": { "name": "qps" }, "target": { "type": "AverageValue", "averageValue": "10" } } },
                ],
            },
            "status": {
                "currentReplicas": 3,
                "currentMetrics": [
                    { "type": "Resource", "resource": { "name": "cpu", "current": { "averageUtilization": 45 } } },
                ],
            },
        });
        let cells = (HORIZONTAL_POD_AUTOSCALERS.cells)(&hpa, now());
        assert_eq!(
            &cells[1..6],
            &[
                json!("Deployment/web"),
                json!("cpu: 45%/80%, memory: <unknown>/500Mi + 1 more..."),
                json!("2"),
                json!(10),
                json!(3),
            ]
        );
        let pdb = json!({
            "metadata": { "name": "web" },
            "spec": { "minAvailable": "50%" },
            "status": { "disruptionsAllowed": 1 },
        });
        assert_eq!(
            &(POD_DISRUPTION_BUDGETS.cells)(&pdb, now())[1..4],
            &[json!("50%"), json!("N/A"), json!(1)]
        );
    }

    #[test]
    fn controller_revisions_name_their_controller() {
        let cr = json!({
            "metadata": { "name": "db-7c9", "ownerReferences": [
                { "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true },
            ] },
            "revision": 2,
        });
        assert_eq!(
            &(CONTROLLER_REVISIONS.cells)(&cr, now())[1..3],
            &[json!("statefulset.apps/db"), json!(2)]
        );
    }
}
