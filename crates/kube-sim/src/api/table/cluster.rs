//! Printers of cluster-level kinds: Namespaces, Nodes and Events.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::format::{self, list, text};
use super::{AGE, Builtin, Col, NAME};

pub static NAMESPACES: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Status", "string", "The status of the namespace"),
        AGE,
    ],
    cells: |ns, now| {
        vec![
            format::name(ns),
            json!(text(ns, "/status/phase")),
            json!(format::age(ns, now)),
        ]
    },
};

pub static NODES: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Status", "string", "The status of the node"),
        Col::new("Roles", "string", "The roles of the node"),
        AGE,
        Col::new("Version", "string", "The kubelet's version."),
        Col::wide("Internal-IP", "string", "The node's internal address."),
        Col::wide("External-IP", "string", "The node's external address."),
        Col::wide("OS-Image", "string", "The operating system image."),
        Col::wide("Kernel-Version", "string", "The kernel's version."),
        Col::wide(
            "Container-Runtime",
            "string",
            "The container runtime and its version.",
        ),
    ],
    cells: node_cells,
};

fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    let conditions = list(node, "/status/conditions");
    let mut status: Vec<&str> = match conditions.iter().rfind(|c| text(c, "/type") == "Ready") {
        Some(ready) if text(ready, "/status") == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    if let Some(labels) = node.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.insert(role.to_owned());
                }
            } else if key == "kubernetes.io/role" && value.as_str().is_some_and(|v| !v.is_empty()) {
                roles.insert(value.as_str().unwrap_or_default().to_owned());
            }
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let address = |kind: &str| {
        list(node, "/status/addresses")
            .iter()
            .find(|a| text(a, "/type") == kind)
            .map_or("<none>", |a| text(a, "/address"))
    };
    let info = |field: &str| match text(node, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>",
        value => value,
    };
    vec![
        format::name(node),
        json!(status.join(",")),
        json!(roles),
        json!(format::age(node, now)),
        json!(text(node, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

pub static EVENTS: Builtin = Builtin {
    columns: &[
        Col::new("Last Seen", "string", "When the event was last seen."),
        Col::new("Type", "string", "Normal or Warning."),
        Col::new("Reason", "string", "Why the event happened, in one word."),
        Col::new("Object", "string", "The object the event is about."),
        Col::wide(
            "Subobject",
            "string",
            "The part of the object (a container) it is about.",
        ),
        Col::wide("Source", "string", "The component that reported it."),
        Col::new("Message", "string", "What happened."),
        Col::wide("First Seen", "string", "When the event was first seen."),
        Col::wide("Count", "string", "How many times it happened."),
        Col {
            format: "name",
            ..Col::wide("Name", "string", "The event's own name.")
        },
    ],
    cells: event_cells,
};

fn event_cells(event: &Value, now: Timestamp) -> Vec<Value> {
    let first = match format::text_at(event, "/firstTimestamp") {
        Some(at) => format::since(Some(at), now),
        None => format::since(format::text_at(event, "/eventTime"), now),
    };
    let mut last = match format::text_at(event, "/lastTimestamp") {
        Some(at) => format::since(Some(at), now),
        None => first.clone(),
    };
    let mut count = format::int(event, "/count");
    if let Some(series) = event.get("series").filter(|s| s.is_object()) {
        last = format::since(format::text_at(series, "/lastObservedTime"), now);
        count = format::int(series, "/count");
    } else if count == 0 {
        // Singleton events of the newer API carry no count.
        count = 1;
    }
    let kind = text(event, "/involvedObject/kind").to_lowercase();
    let target = match text(event, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = [
        text(event, "/source/component"),
        text(event, "/reportingComponent"),
    ]
    .into_iter()
    .find(|c| !c.is_empty())
    .unwrap_or("");
    let host = [
        text(event, "/source/host"),
        text(event, "/reportingInstance"),
    ]
    .into_iter()
    .find(|h| !h.is_empty())
    .unwrap_or("");
    let source = if host.is_empty() {
        component.to_owned()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(text(event, "/type")),
        json!(text(event, "/reason")),
        json!(target),
        json!(text(event, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(event, "/message").trim()),
        json!(first),
        json!(count),
        format::name(event),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn namespace_status_is_its_phase() {
        let terminating = json!({ "metadata": { "name": "shop", "creationTimestamp": "2026-03-01T11:59:55Z" },
                                  "status": { "phase": "Terminating" } });
        assert_eq!(
            (NAMESPACES.cells)(&terminating, now()),
            vec![json!("shop"), json!("Terminating"), json!("5s")]
        );
    }

    #[test]
    fn nodes() {
        let node = json!({
            "metadata": { "name": "node-1", "labels": {
                "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker" } },
            "spec": { "unschedulable": true },
            "status": {
                "conditions": [{ "type": "MemoryPressure", "status": "False" }, { "type": "Ready", "status": "True" }],
                "addresses": [{ "type": "InternalIP", "address": "10.0.1.5" }],
                "nodeInfo": { "kubeletVersion": "v1.32.0", "osImage": "Amazon Linux 2023" },
            },
        });
        let cells = node_cells(&node, now());
        assert_eq!(
            &cells[1..3],
            &[
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,worker")
            ]
        );
        assert_eq!(
            &cells[4..10],
            &[
                json!("v1.32.0"),
                json!("10.0.1.5"),
                json!("<none>"),
                json!("Amazon Linux 2023"),
                json!("<unknown>"),
                json!("<unknown>"),
            ]
        );
        let unknown = json!({ "metadata": { "name": "node-2" } });
        assert_eq!(
            node_cells(&unknown, now())[1..3],
            [json!("Unknown"), json!("<none>")]
        );
    }

    #[test]
    fn events() {
        let event = json!({
            "metadata": { "name": "web-1.17f3" },
            "involvedObject": { "kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}" },
            "type": "Warning", "reason": "BackOff",
            "message": "Back-off restarting failed container app in pod web-1\n",
            "source": { "component": "kubelet", "host": "node-1" },
            "firstTimestamp": "2026-03-01T11:50:00Z", "lastTimestamp": "2026-03-01T11:59:30Z", "count": 7,
        });
        assert_eq!(
            event_cells(&event, now()),
            vec![
                json!("30s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-1"),
                json!("spec.containers{app}"),
                json!("kubelet, node-1"),
                json!("Back-off restarting failed container app in pod web-1"),
                json!("10m"),
                json!(7),
                json!("web-1.17f3"),
            ]
        );
        let newer = json!({
            "metadata": { "name": "e" }, "involvedObject": { "kind": "Node" },
            "eventTime": "2026-03-01T11:59:00.000000Z", "reportingComponent": "scheduler",
        });
        let cells = event_cells(&newer, now());
        assert_eq!(cells[0], "60s");
        assert_eq!(cells[3], "node");
        assert_eq!(cells[5], "scheduler");
        assert_eq!(cells[8], 1);
    }
}
