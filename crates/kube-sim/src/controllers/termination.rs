//! The kubelet's side of graceful pod termination. When a pod gets a deletionTimestamp, its
//! containers are sent SIGTERM (a `Killing` event each): the pod stops being ready at once, so
//! workloads and Services stop counting it, and its containers stop after a moment (or after
//! a scripted `stopSeconds`; past the grace period they are killed, exit code 137). Then the
//! kubelet reports them terminated and deletes the pod with a zero grace period, which removes
//! it unless finalizers still hold it.

use serde_json::{Value, json};

use super::events::{self, Event};
use super::kubelet::time;
use super::meta;
use super::pass::{Kind, Pass};
use super::pods::PodRuntime;
use crate::store::DeleteOptions;

/// How long a simulated container takes to stop on SIGTERM when no rule says otherwise: about
/// what a kubelet round trip and a well-behaved process take.
const PROMPT_STOP_MS: i64 = 1000;

/// Exit code of a container killed after its grace period (128 + SIGKILL).
const KILLED: i64 = 137;

/// Handles a pod being deleted; `runtime` is the kubelet's memory of it.
pub fn run(pass: &mut Pass<'_>, pod: &Value, runtime: &PodRuntime) {
    let uid = meta::uid(pod).to_owned();
    if meta::text(pod, "/spec/nodeName").is_empty() {
        // Never ran anywhere: nothing to stop (the API server removes such pods at once; only
        // finalizers keep one).
        pass.done(pod, 0, None);
        return;
    }
    let since = if let Some(since) = runtime.stopping_since_ms {
        since
    } else {
        if let Some(r) = pass.memory.pods.get_mut(&uid) {
            r.stopping_since_ms = Some(pass.now_ms);
        }
        announce(pass, pod);
        pass.now_ms
    };
    let grace_ms = meta::int(pod, "/metadata/deletionGracePeriodSeconds", 0).max(0) * 1000;
    let stops: Vec<(i64, bool)> = runtime
        .scripts
        .iter()
        .map(|script| {
            let wanted = script.stop_secs.map_or(PROMPT_STOP_MS, |s| {
                i64::try_from(s).unwrap_or(i64::MAX / 2000) * 1000
            });
            if wanted > grace_ms {
                (since + grace_ms, true)
            } else {
                (since + wanted, false)
            }
        })
        .collect();
    let all_stopped_at = stops.iter().map(|(at, _)| *at).max().unwrap_or(since);
    if pass.now_ms < all_stopped_at {
        let status = not_ready(pod, &pass.now);
        let stored = pass.set_status(Kind::Pod, pod, status);
        pass.done(&stored, 0, Some(all_stopped_at));
        return;
    }
    let status = stopped(pod, &stops, &pass.now);
    let stored = pass.set_status(Kind::Pod, pod, status);
    let options = DeleteOptions {
        grace_period_seconds: Some(0),
        precondition_uid: Some(uid),
        ..DeleteOptions::default()
    };
    pass.delete_with(Kind::Pod, meta::namespace(pod), meta::name(pod), &options);
    pass.done(&stored, 0, None);
}

/// The kubelet's `Killing` event for each running container.
fn announce(pass: &mut Pass<'_>, pod: &Value) {
    let node = meta::text(pod, "/spec/nodeName").to_owned();
    for name in running_containers(pod) {
        let event = Event::normal("kubelet", "Killing", format!("Stopping container {name}"))
            .on_host(Some(&node))
            .in_container(&name);
        events::record(pass, pod, &event);
    }
}

fn running_containers(pod: &Value) -> Vec<String> {
    statuses(pod)
        .iter()
        .filter(|c| c.pointer("/state/running").is_some())
        .map(|c| meta::text(c, "/name").to_owned())
        .collect()
}

fn statuses(pod: &Value) -> Vec<Value> {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The pod's status while its containers stop: nothing is ready any more.
fn not_ready(pod: &Value, now: &str) -> Value {
    let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    let names: Vec<String> = statuses(pod)
        .iter()
        .map(|c| meta::text(c, "/name").to_owned())
        .collect();
    if let Some(list) = status
        .get_mut("containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for c in list {
            c["ready"] = json!(false);
        }
    }
    unready_conditions(&mut status, &names, "ContainersNotReady", now);
    status
}

/// The final status: every container that ran is terminated, and the pod's phase says how
/// they ended.
fn stopped(pod: &Value, stops: &[(i64, bool)], now: &str) -> Value {
    let mut status = not_ready(pod, now);
    let mut failed = false;
    if let Some(list) = status
        .get_mut("containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for (c, (at, killed)) in list.iter_mut().zip(stops) {
            let Some(started) = c.pointer("/state/running/startedAt").cloned() else {
                continue;
            };
            let (code, reason) = if *killed {
                (KILLED, "Error")
            } else {
                (0, "Completed")
            };
            failed |= *killed;
            c["state"] = json!({ "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": time(*at),
                "containerID": c.get("containerID").cloned().unwrap_or(Value::Null),
            }});
            c["started"] = json!(false);
        }
    }
    status["phase"] = json!(if failed { "Failed" } else { "Succeeded" });
    let names: Vec<String> = statuses(pod)
        .iter()
        .map(|c| meta::text(c, "/name").to_owned())
        .collect();
    unready_conditions(&mut status, &names, "PodCompleted", now);
    status
}

fn unready_conditions(status: &mut Value, names: &[String], reason: &str, now: &str) {
    let Some(conditions) = status.get_mut("conditions").and_then(Value::as_array_mut) else {
        return;
    };
    for c in conditions.iter_mut() {
        if !matches!(meta::text(c, "/type"), "Ready" | "ContainersReady") {
            continue;
        }
        if meta::text(c, "/status") == "True" {
            c["lastTransitionTime"] = json!(now);
        }
        c["status"] = json!("False");
        c["reason"] = json!(reason);
        if reason == "PodCompleted" {
            if let Some(map) = c.as_object_mut() {
                map.remove("message");
            }
        } else {
            c["message"] = json!(format!(
                "containers with unready status: [{}]",
                names.join(" ")
            ));
        }
    }
}
