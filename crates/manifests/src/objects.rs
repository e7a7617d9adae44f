//! Walking rendered objects: find one by kind and name, and reach the containers of anything
//! that runs pods.

use serde_json::Value;

/// `kind/name` (and `namespace/` when it has one), for messages.
pub fn describe(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or("?");
    let name = object["metadata"]["name"].as_str().unwrap_or("?");
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// The objects of `kind`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| o["kind"] == kind)
}

/// The object of `kind` named `name`.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

/// The pod spec of a Pod, a workload's template, or a CronJob's job template.
pub fn pod_spec(object: &Value) -> Option<&Value> {
    let pointer = match object["kind"].as_str()? {
        "Pod" => "/spec",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    };
    object.pointer(pointer)
}

/// Every container (init containers first) of an object that runs pods; empty for others.
pub fn containers(object: &Value) -> Vec<&Value> {
    let Some(spec) = pod_spec(object) else {
        return Vec::new();
    };
    ["initContainers", "containers"]
        .iter()
        .filter_map(|list| spec[*list].as_array())
        .flatten()
        .collect()
}

/// The workloads: objects whose pods run the app.
pub fn workloads(objects: &[Value]) -> impl Iterator<Item = &Value> {
    objects.iter().filter(|o| {
        matches!(
            o["kind"].as_str(),
            Some("Deployment" | "StatefulSet" | "DaemonSet")
        )
    })
}

/// The template labels a selector of `matchLabels` picks: true when every pair matches.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(wanted) = selector["matchLabels"].as_object() else {
        return false;
    };
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}
