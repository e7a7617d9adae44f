//! The scheduler and the kubelets: binds each pending pod to the least-loaded node that fits,
//! then reports its status as its scripted behaviour dictates at the current simulated time,
//! with the events and log lines a kubelet would produce.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::behaviour::{ANNOTATION, Behaviour, Script};
use super::events::{self, Event};
use super::hash::fnv;
use super::kubelet::{self, Container, PodFacts, Report, RestartPolicy, time};
use super::meta;
use super::nodes;
use super::pass::{Kind, Pass};
use super::termination;

/// When the scheduler retries a pod no node could take.
const RETRY_SCHEDULING_MS: i64 = 5000;

/// What the controllers remember about a pod between passes.
#[derive(Debug, Clone)]
pub struct PodRuntime {
    /// One per container, decided when the pod was first seen.
    pub(super) scripts: Vec<Script>,
    /// When it was bound to a node (simulated ms): its containers start then.
    started_ms: Option<i64>,
    namespace: String,
    name: String,
    containers: Vec<String>,
    /// When the kubelet began stopping it (simulated ms), once it is being deleted.
    pub(super) stopping_since_ms: Option<i64>,
}

/// Node name → pods on it, computed once per pass when a pod needs scheduling.
type Load = Vec<(String, Value, usize)>;

pub fn reconcile(pass: &mut Pass<'_>) {
    let keys = pass.index.of(Kind::Pod).to_vec();
    let mut load: Option<Load> = None;
    for key in &keys {
        if let Some(pod) = pass.changed(key, 0) {
            reconcile_pod(pass, pod, &mut load);
        }
    }
    if pass.memory.pods.len() > keys.len() || pass.wrote {
        let live: HashSet<String> = keys
            .iter()
            .filter_map(|k| pass.store.get(k))
            .map(|p| meta::uid(p).to_owned())
            .collect();
        forget_gone(pass, &live);
    }
}

fn reconcile_pod(pass: &mut Pass<'_>, mut pod: Value, load: &mut Option<Load>) {
    let uid = meta::uid(&pod).to_owned();
    if !pass.memory.pods.contains_key(&uid) {
        let runtime = decide(pass, &pod);
        pass.memory.pods.insert(uid.clone(), runtime);
    }
    let Some(runtime) = pass.memory.pods.get(&uid).cloned() else {
        return;
    };
    if crate::store::is_deleting(&pod) {
        termination::run(pass, &pod, &runtime);
        return;
    }
    if matches!(meta::text(&pod, "/status/phase"), "Succeeded" | "Failed")
        && runtime.started_ms.is_none()
    {
        // Finished before we knew it (written by someone else): leave it alone.
        pass.done(&pod, 0, None);
        return;
    }
    if meta::text(&pod, "/spec/nodeName").is_empty() {
        match schedule(pass, &pod, &runtime, load) {
            Some(bound) => pod = bound,
            None => return,
        }
    }
    let now_ms = pass.now_ms;
    let started_ms = *pass
        .memory
        .pods
        .get_mut(&uid)
        .map_or(&mut Some(now_ms), |r| &mut r.started_ms)
        .get_or_insert(now_ms);
    run_containers(pass, &pod, &runtime, started_ms);
}

/// Picks each container's script: the pod's annotation, the rules, the image conventions.
fn decide(pass: &Pass<'_>, pod: &Value) -> PodRuntime {
    let annotation = meta::annotation(pod, ANNOTATION);
    let containers: Vec<&Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    // Like the kubelet: nothing starts until every volume is mounted.
    let unmountable = missing_volume(pass, pod);
    let scripts = containers
        .iter()
        .map(|c| {
            if let Some(message) = &unmountable {
                return Script::mount_error(message.clone());
            }
            // Like the kubelet: no container is created while its configuration is missing.
            if let Some(missing) = missing_config(pass, meta::namespace(pod), c) {
                return Script::config_error(missing);
            }
            pass.sim.behaviours.script_for(
                annotation,
                meta::namespace(pod),
                meta::name(pod),
                meta::text(c, "/image"),
            )
        })
        .collect();
    PodRuntime {
        scripts,
        started_ms: None,
        namespace: meta::namespace(pod).to_owned(),
        name: meta::name(pod).to_owned(),
        containers: containers
            .iter()
            .map(|c| meta::text(c, "/name").to_owned())
            .collect(),
        stopping_since_ms: None,
    }
}

/// The first volume whose Secret or ConfigMap (directly or through a projected volume) the
/// namespace lacks, as the kubelet's `FailedMount` event says it; `optional` ones do not count.
fn missing_volume(pass: &Pass<'_>, pod: &Value) -> Option<String> {
    let namespace = meta::namespace(pod);
    let exists = |plural: &str, name: &str| {
        pass.store
            .get(&crate::store::ObjectKey {
                group: String::new(),
                plural: plural.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
            .is_some()
    };
    let required = |r: &Value| r.get("optional").and_then(Value::as_bool) != Some(true);
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for volume in volumes {
        let mut sources: Vec<(&str, &str, &str)> = Vec::new();
        if let Some(r) = volume.get("secret").filter(|r| required(r)) {
            sources.push(("secrets", "secret", meta::text(r, "/secretName")));
        }
        if let Some(r) = volume.get("configMap").filter(|r| required(r)) {
            sources.push(("configmaps", "configmap", meta::text(r, "/name")));
        }
        let projected = volume
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for source in projected {
            if let Some(r) = source.get("secret").filter(|r| required(r)) {
                sources.push(("secrets", "secret", meta::text(r, "/name")));
            }
            if let Some(r) = source.get("configMap").filter(|r| required(r)) {
                sources.push(("configmaps", "configmap", meta::text(r, "/name")));
            }
        }
        if let Some((_, noun, name)) = sources.into_iter().find(|(p, _, n)| !exists(p, n)) {
            return Some(format!(
                "MountVolume.SetUp failed for volume \"{}\" : {noun} \"{name}\" not found",
                meta::text(volume, "/name")
            ));
        }
    }
    None
}

/// The first Secret or ConfigMap (or key of one) a container's environment needs and the
/// namespace lacks, in the kubelet's words; `optional` references do not count.
fn missing_config(pass: &Pass<'_>, namespace: &str, container: &Value) -> Option<String> {
    const SOURCES: [(&str, &str, &str, &str); 2] = [
        ("secretKeyRef", "secretRef", "secrets", "Secret"),
        ("configMapKeyRef", "configMapRef", "configmaps", "ConfigMap"),
    ];
    let lookup = |plural: &str, name: &str| {
        pass.store.get(&crate::store::ObjectKey {
            group: String::new(),
            plural: plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    };
    let optional = |r: &Value| r.get("optional").and_then(Value::as_bool) == Some(true);
    let env = container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for var in env {
        for (key_ref, _, plural, kind) in SOURCES {
            let Some(r) = var.pointer(&format!("/valueFrom/{key_ref}")) else {
                continue;
            };
            if optional(r) {
                continue;
            }
            let name = meta::text(r, "/name");
            let key = meta::text(r, "/key");
            let Some(object) = lookup(plural, name) else {
                return Some(format!(
                    "{} \"{name}\" not found",
                    kind.to_ascii_lowercase()
                ));
            };
            let has_key = ["data", "stringData", "binaryData"]
                .iter()
                .any(|field| object.get(*field).and_then(|d| d.get(key)).is_some());
            if !has_key {
                return Some(format!(
                    "couldn't find key {key} in {kind} {namespace}/{name}"
                ));
            }
        }
    }
    let env_from = container
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for source in env_from {
        for (_, whole_ref, plural, kind) in SOURCES {
            if let Some(r) = source.get(whole_ref).filter(|r| !optional(r)) {
                let name = meta::text(r, "/name");
                if lookup(plural, name).is_none() {
                    return Some(format!(
                        "{} \"{name}\" not found",
                        kind.to_ascii_lowercase()
                    ));
                }
            }
        }
    }
    None
}

/// Binds the pod to a node, or reports why it cannot be. Returns the bound pod.
fn schedule(
    pass: &mut Pass<'_>,
    pod: &Value,
    runtime: &PodRuntime,
    load: &mut Option<Load>,
) -> Option<Value> {
    let nodes = load.get_or_insert_with(|| node_load(pass));
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    let total = nodes.len();
    let wants_none = runtime
        .scripts
        .iter()
        .any(|s| s.behaviour == Behaviour::Unschedulable);
    let choice = if wants_none {
        None
    } else {
        nodes
            .iter_mut()
            .filter(|(_, labels, _)| nodes::fits(labels, &spec))
            .min_by_key(|(_, _, n)| *n)
    };
    let Some((node, _, count)) = choice else {
        let message = if wants_none {
            format!(
                "0/{total} nodes are available: {total} Insufficient cpu. preemption: 0/{total} nodes are available: {total} No preemption victims found for incoming pod."
            )
        } else if total == 0 {
            "no nodes available to schedule pods".to_owned()
        } else {
            format!(
                "0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
            )
        };
        unschedulable(pass, pod, &message);
        let retry = (!wants_none).then_some(pass.now_ms + RETRY_SCHEDULING_MS);
        pass.done(pod, 0, retry);
        return None;
    };
    *count += 1;
    let node = node.clone();
    let mut bound = pod.clone();
    bound["spec"]["nodeName"] = json!(node);
    let bound = pass.replace(Kind::Pod, bound)?;
    let message = format!(
        "Successfully assigned {}/{} to {node}",
        meta::namespace(pod),
        meta::name(pod)
    );
    events::record(
        pass,
        &bound,
        &Event::normal("default-scheduler", "Scheduled", message),
    );
    Some(bound)
}

fn node_load(pass: &Pass<'_>) -> Load {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for key in pass.index.of(Kind::Pod) {
        if let Some(node) = pass
            .store
            .get(key)
            .map(|p| meta::text(p, "/spec/nodeName"))
            .filter(|n| !n.is_empty())
        {
            *counts.entry(node).or_default() += 1;
        }
    }
    nodes::schedulable(pass)
        .into_iter()
        .map(|(name, labels)| {
            let n = counts.get(name.as_str()).copied().unwrap_or(0);
            (name, labels, n)
        })
        .collect()
}

fn unschedulable(pass: &mut Pass<'_>, pod: &Value, message: &str) {
    let mut conditions = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let condition = meta::Condition {
        kind: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message,
    };
    meta::set_condition(
        &mut conditions,
        condition,
        &pass.now,
        meta::Stamp::TransitionOnly,
    );
    for c in &mut conditions {
        c["lastProbeTime"] = Value::Null;
    }
    let status =
        json!({ "phase": "Pending", "conditions": conditions, "qosClass": qos_class(pod) });
    let stored = pass.set_status(Kind::Pod, pod, status);
    let first = pass.now.clone();
    events::ensure(
        pass,
        &stored,
        &Event::warning("default-scheduler", "FailedScheduling", message),
        1,
        &first,
        &first,
    );
}

/// Reports every container and the pod's phase and conditions at the current time.
fn run_containers(pass: &mut Pass<'_>, pod: &Value, runtime: &PodRuntime, start: i64) {
    let node = meta::text(pod, "/spec/nodeName").to_owned();
    let host_ip = nodes::internal_ip(pass, &node);
    let pod_ip = pod_ip(pod, &node);
    let facts = PodFacts {
        name: meta::name(pod),
        namespace: meta::namespace(pod),
        uid: meta::uid(pod),
        policy: RestartPolicy::parse(meta::text(pod, "/spec/restartPolicy")),
    };
    let specs: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let reports: Vec<(Container<'_>, Report)> = specs
        .iter()
        .zip(runtime.scripts.iter())
        .map(|(spec, script)| {
            let container = Container::from_spec(spec, &pod_ip);
            let report = kubelet::report(facts, &container, script, start, pass.now_ms);
            (container, report)
        })
        .collect();

    let status = pod_status(pod, facts.policy, &reports, start, &host_ip, &pod_ip);
    let stored = pass.set_status(Kind::Pod, pod, status);
    let next = reports.iter().filter_map(|(_, r)| r.next_ms).min();

    for (index, (container, report)) in reports.iter().enumerate() {
        for o in &report.events {
            let event = Event {
                reason: o.reason,
                message: o.message.clone(),
                warning: o.warning,
                component: "kubelet",
                host: Some(&node),
                field_path: None,
            };
            // A failed mount is about the pod, not a container: reported once, without a field
            // path.
            let event = if o.reason == "FailedMount" {
                if index > 0 {
                    continue;
                }
                event
            } else {
                event.in_container(container.name)
            };
            events::ensure(
                pass,
                &stored,
                &event,
                o.count,
                &time(o.first_ms),
                &time(o.last_ms),
            );
        }
    }
    {
        let mut logs = pass.sim.logs();
        for (container, report) in &reports {
            let key = (
                facts.namespace.to_owned(),
                facts.name.to_owned(),
                container.name.to_owned(),
            );
            if logs.get(&key) != Some(&report.logs) {
                logs.insert(key, report.logs.clone());
            }
        }
    }
    pass.done(&stored, 0, next);
}

fn pod_status(
    pod: &Value,
    policy: RestartPolicy,
    reports: &[(Container<'_>, Report)],
    start: i64,
    host_ip: &str,
    pod_ip: &str,
) -> Value {
    let all_ready = !reports.is_empty() && reports.iter().all(|(_, r)| r.ready);
    let all_started = reports.iter().all(|(_, r)| r.started);
    let all_finished = !reports.is_empty() && reports.iter().all(|(_, r)| r.finished.is_some());
    let phase = if all_finished {
        let ok = reports.iter().all(|(_, r)| r.finished == Some(0));
        if ok || policy == RestartPolicy::Always {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if all_started {
        "Running"
    } else {
        "Pending"
    };
    let ready_changed = if all_ready {
        reports.iter().map(|(_, r)| r.ready_changed_ms).max()
    } else {
        reports
            .iter()
            .filter(|(_, r)| !r.ready)
            .map(|(_, r)| r.ready_changed_ms)
            .max()
    }
    .unwrap_or(start);
    let unready: Vec<&str> = reports
        .iter()
        .filter(|(_, r)| !r.ready)
        .map(|(c, _)| c.name)
        .collect();
    let (reason, message) = if all_ready {
        (None, None)
    } else if matches!(phase, "Succeeded" | "Failed") {
        (Some("PodCompleted"), None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let at = time(start);
    let readiness = |kind: &str| {
        let mut c = json!({ "type": kind, "status": if all_ready { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": time(ready_changed) });
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = &message {
            c["message"] = json!(m);
        }
        c
    };
    let plain = |kind: &str| json!({ "type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": at });
    json!({
        "phase": phase,
        "conditions": [
            plain("PodReadyToStartContainers"),
            plain("Initialized"),
            readiness("Ready"),
            readiness("ContainersReady"),
            plain("PodScheduled"),
        ],
        "hostIP": host_ip,
        "hostIPs": [{ "ip": host_ip }],
        "podIP": pod_ip,
        "podIPs": [{ "ip": pod_ip }],
        "startTime": at,
        "containerStatuses": reports.iter().map(|(_, r)| r.status.clone()).collect::<Vec<_>>(),
        "qosClass": qos_class(pod),
    })
}

/// 10.244.<node>.<n>, stable for a pod.
fn pod_ip(pod: &Value, node: &str) -> String {
    let node_index: u64 = node
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| fnv(&[node.as_bytes()]) % 250);
    let host = fnv(&[meta::uid(pod).as_bytes()]) % 250 + 2;
    format!("10.244.{}.{host}", node_index % 256)
}

fn qos_class(pod: &Value) -> &'static str {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |c: &Value, what: &str| {
        c.pointer(&format!("/resources/{what}"))
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    if containers
        .iter()
        .all(|c| !has(c, "requests") && !has(c, "limits"))
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = c.pointer(&format!("/resources/limits/{r}"));
            limit.is_some()
                && c.pointer(&format!("/resources/requests/{r}"))
                    .is_none_or(|q| Some(q) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Deletes a pod as a controller scaling down does: gracefully, the kubelet stopping it
/// (`termination.rs`).
pub fn delete(pass: &mut Pass<'_>, pod: &Value) {
    pass.delete(Kind::Pod, meta::namespace(pod), meta::name(pod));
}

/// Forgets pods that are gone, and their logs.
fn forget_gone(pass: &mut Pass<'_>, live: &HashSet<String>) {
    let gone: Vec<PodRuntime> = pass
        .memory
        .pods
        .iter()
        .filter(|(uid, _)| !live.contains(*uid))
        .map(|(_, r)| r.clone())
        .collect();
    if gone.is_empty() {
        return;
    }
    pass.memory.pods.retain(|uid, _| live.contains(uid));
    let mut logs = pass.sim.logs();
    for runtime in gone {
        // A pod recreated under the same name (a StatefulSet's) has written its own logs since.
        let recreated = pass
            .index
            .of(Kind::Pod)
            .iter()
            .any(|k| k.namespace == runtime.namespace && k.name == runtime.name);
        if !recreated {
            for container in &runtime.containers {
                logs.remove(&(
                    runtime.namespace.clone(),
                    runtime.name.clone(),
                    container.clone(),
                ));
            }
        }
    }
}
