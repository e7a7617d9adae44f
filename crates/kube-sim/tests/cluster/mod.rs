//! Helpers for the controller tests: a simulator with a chosen pace, waiting on a condition
//! with a deadline (never a fixed sleep), and the objects and events the tests look at.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use kube_sim::{Config, KubeSim, Scenario};
use serde_json::json;

/// A simulator whose simulated time runs `pace` times as fast as real time. A tiny pace
/// (`FROZEN`) leaves time to the test's `clock().advance(…)`.
pub fn start(pace: f64) -> KubeSim {
    start_with(Scenario {
        pace: Some(pace),
        ..Scenario::default()
    })
}

pub const FROZEN: f64 = 0.001;

pub fn start_with(scenario: Scenario) -> KubeSim {
    KubeSim::start(Config {
        scenario,
        ..Config::default()
    })
    .expect("kube-sim starts")
}

/// Polls `probe` until it returns `Some`, failing the test after `secs` real seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "app": name } },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": image, "ports": [{ "containerPort": 8080 }] }] },
            },
        },
    }))
    .expect("a valid Deployment")
}

pub fn pod(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": { "containers": [{ "name": "app", "image": image }] },
    }))
    .expect("a valid Pod")
}

/// Events about the object named `name` in `namespace`.
pub async fn events_about(client: &kube::Client, namespace: &str, name: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .expect("events list")
        .items
}

/// The event with this reason (and, when given, a message containing `text`).
pub fn find<'a>(events: &'a [Event], reason: &str, text: &str) -> Option<&'a Event> {
    events.iter().find(|e| {
        e.reason.as_deref() == Some(reason) && e.message.as_deref().unwrap_or("").contains(text)
    })
}

/// A deployment condition as (status, reason).
pub fn deployment_condition(d: &Deployment, kind: &str) -> Option<(String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

/// The pods whose label `app` is `app`.
pub async fn pods_of(client: &kube::Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("pods list")
        .items
}

pub fn pod_condition(pod: &Pod, kind: &str) -> Option<(String, Option<String>)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone()))
}
