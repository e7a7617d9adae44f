//! Streaming lists, as client-go's informers (and so helm 4's `--wait`) and kube-rs's watcher
//! with `streaming_lists()` use them: a watch with `sendInitialEvents=true` sends the current
//! state as ADDED events and then a BOOKMARK annotated `k8s.io/initial-events-end`, whose object
//! is of the watched kind; the options are checked as the real server checks them.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use kube_sim::{Config, KubeSim};
use serde_json::{Value, json};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name }, "data": { "k": "v" } })).unwrap()
}

async fn three_config_maps(sim: &KubeSim) -> Api<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await.unwrap(), "default");
    for name in ["a", "b", "c"] {
        api.create(&PostParams::default(), &config_map(name))
            .await
            .unwrap();
    }
    api
}

/// A watch request with curl (an independent client); the server ends it after `timeoutSeconds`.
/// Returns the status code and the lines of the body, each parsed.
async fn raw_watch(sim: &KubeSim, query: &str) -> (u16, Vec<Value>) {
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), sim.ca_pem()).unwrap();
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(ca.path())
        .args(["-w", "\n%{http_code}"])
        .args([
            "-H",
            &format!("Authorization: Bearer {}", sim.token().unwrap()),
        ])
        .arg(format!(
            "{}/api/v1/namespaces/default/configmaps?{query}",
            sim.url()
        ))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    let lines = body
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code.parse().unwrap(), lines)
}

#[tokio::test]
async fn initial_events_end_with_a_bookmark_of_the_watched_kind() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api = three_config_maps(&sim).await;
    let list_rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    let (code, events) = raw_watch(
        &sim,
        "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan\
         &allowWatchBookmarks=true&timeoutSeconds=1",
    )
    .await;
    assert_eq!(code, 200);
    let added: Vec<&str> = events
        .iter()
        .take_while(|e| e["type"] == "ADDED")
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["a", "b", "c"], "{events:#?}");
    let end = &events[3];
    assert_eq!(end["type"], "BOOKMARK", "{events:#?}");
    assert_eq!(end["object"]["kind"], "ConfigMap");
    assert_eq!(end["object"]["apiVersion"], "v1");
    assert_eq!(
        end["object"]["metadata"],
        json!({
            "resourceVersion": list_rv,
            "annotations": { "k8s.io/initial-events-end": "true" },
        })
    );
    // Any later bookmark is of the watched kind too, and none repeats the end marker.
    for later in &events[4..] {
        assert_eq!(later["type"], "BOOKMARK");
        assert_eq!(later["object"]["kind"], "ConfigMap");
        assert!(later["object"]["metadata"].get("annotations").is_none());
    }
}

#[tokio::test]
async fn without_initial_events_a_watch_starts_after_its_resource_version() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api = three_config_maps(&sim).await;
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&PostParams::default(), &config_map("d"))
        .await
        .unwrap();
    let (code, events) = raw_watch(
        &sim,
        &format!(
            "watch=true&resourceVersion={rv}&sendInitialEvents=false\
             &resourceVersionMatch=NotOlderThan&timeoutSeconds=1"
        ),
    )
    .await;
    assert_eq!(code, 200);
    let names: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("ADDED", "d")]);
}

#[tokio::test]
async fn watch_list_options_are_checked_as_the_real_server_does() {
    let sim = KubeSim::start(Config::default()).unwrap();
    for (query, message) in [
        (
            "watch=true&sendInitialEvents=true",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: \
             sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ),
        (
            "watch=true&resourceVersionMatch=NotOlderThan",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: \
             resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ),
    ] {
        assert_invalid(&sim, query, message).await;
    }
}

#[tokio::test]
async fn several_bad_watch_list_options_are_reported_together() {
    let sim = KubeSim::start(Config::default()).unwrap();
    assert_invalid(
        &sim,
        "watch=true&sendInitialEvents=true&resourceVersionMatch=Exact",
        "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: \
         sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, \
         resourceVersionMatch: Unsupported value: \"Exact\": supported values: \
         \"NotOlderThan\"]",
    )
    .await;
}

/// A watch with these options is refused: 422 Invalid, as the real server answers bad
/// `ListOptions`.
async fn assert_invalid(sim: &KubeSim, query: &str, message: &str) {
    let (code, body) = raw_watch(sim, query).await;
    assert_eq!(code, 422, "{query}");
    let status = &body[0];
    assert_eq!(status["kind"], "Status", "{query}");
    assert_eq!(status["reason"], "Invalid", "{query}");
    assert_eq!(status["message"], message, "{query}");
    assert_eq!(status["details"]["kind"], "ListOptions", "{query}");
    assert_eq!(status["details"]["group"], "meta.k8s.io", "{query}");
    assert_eq!(
        status["details"]["causes"][0]["field"], "resourceVersionMatch",
        "{query}"
    );
}

#[tokio::test]
async fn kube_rs_streaming_list_watcher_syncs_and_follows() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api = three_config_maps(&sim).await;
    let config = watcher::Config::default().streaming_lists();
    let mut stream = watcher(api.clone(), config).boxed();
    let mut initial = Vec::new();
    let deadline = Duration::from_secs(30);
    tokio::time::timeout(deadline, async {
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                watcher::Event::InitApply(cm) => initial.push(cm.metadata.name.unwrap()),
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
    })
    .await
    .expect("the watcher sees the end of the initial events");
    assert_eq!(initial, ["a", "b", "c"]);

    api.create(&PostParams::default(), &config_map("d"))
        .await
        .unwrap();
    let next = tokio::time::timeout(deadline, async {
        loop {
            if let watcher::Event::Apply(cm) = stream.next().await.unwrap().unwrap() {
                return cm.metadata.name.unwrap();
            }
        }
    })
    .await
    .expect("the watcher follows changes after the initial events");
    assert_eq!(next, "d");
}
