//! The API surface through the kube crate, as pipewright's tools will use it: CRUD, errors as
//! Status objects, list with selectors, watches (resume, 410 Gone, cut streams), dry-run, Lease
//! races, CRDs, authentication and injected faults.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::TryStreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube_sim::{Config, Faults, KubeSim};
use serde_json::json;

fn start() -> KubeSim {
    KubeSim::start(Config::default()).expect("kube-sim starts")
}

fn config_map(name: &str, labels: &[(&str, &str)], data: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect::<serde_json::Map<_, _>>() },
        "data": { "key": data },
    }))
    .unwrap()
}

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_with_uid_resource_version_and_status_errors() {
    let sim = start();
    let client = sim.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = cms
        .create(&PostParams::default(), &config_map("app", &[], "v1"))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let rv1: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(created.metadata.creation_timestamp.is_some());

    let again = api_error(
        cms.create(&PostParams::default(), &config_map("app", &[], "v1"))
            .await
            .unwrap_err(),
    );
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed.data = Some([("key".to_owned(), "v2".to_owned())].into());
    let replaced = cms
        .replace("app", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    assert_eq!(replaced.metadata.uid.as_deref(), Some(uid.as_str()));

    // The stale copy still carries rv1: optimistic concurrency refuses it.
    let stale = api_error(
        cms.replace("app", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));

    // Writing the same content again is not a change: no new resourceVersion.
    let same = cms
        .replace("app", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        replaced.metadata.resource_version
    );

    cms.delete("app", &DeleteParams::default()).await.unwrap();
    let gone = api_error(cms.get("app").await.unwrap_err());
    assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"));
    assert_eq!(gone.message, "configmaps \"app\" not found");

    let missing_ns: Api<ConfigMap> = Api::namespaced(client, "nowhere");
    let err = api_error(
        missing_ns
            .create(&PostParams::default(), &config_map("x", &[], ""))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
}

#[tokio::test]
async fn list_with_label_and_field_selectors() {
    let sim = start();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client().await.unwrap(), "default");
    for (name, app, tier) in [
        ("a", "web", "front"),
        ("b", "web", "back"),
        ("c", "db", "back"),
    ] {
        cms.create(
            &PostParams::default(),
            &config_map(name, &[("app", app), ("tier", tier)], ""),
        )
        .await
        .unwrap();
    }
    cms.create(&PostParams::default(), &config_map("unlabelled", &[], ""))
        .await
        .unwrap();
    let names = |list: kube::core::ObjectList<ConfigMap>| {
        list.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    for (selector, expected) in [
        ("app=web", vec!["a", "b"]),
        ("app!=web", vec!["c", "unlabelled"]),
        ("tier in (back)", vec!["b", "c"]),
        ("app notin (web),tier", vec!["c"]),
        ("app", vec!["a", "b", "c"]),
        ("!app", vec!["unlabelled"]),
    ] {
        let got = names(
            cms.list(&ListParams::default().labels(selector))
                .await
                .unwrap(),
        );
        assert_eq!(got, expected, "{selector}");
    }
    let by_name = names(
        cms.list(&ListParams::default().fields("metadata.name=b"))
            .await
            .unwrap(),
    );
    assert_eq!(by_name, vec!["b"]);
}

#[tokio::test]
async fn watch_reports_changes_resumes_and_answers_410_when_too_old() {
    let sim = KubeSim::start(Config {
        history: 8,
        ..Config::default()
    })
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client().await.unwrap(), "default");
    let list = cms.list(&ListParams::default()).await.unwrap();
    let start_rv = list.metadata.resource_version.unwrap();

    let created = cms
        .create(&PostParams::default(), &config_map("w", &[], "1"))
        .await
        .unwrap();
    let mut next = created.clone();
    next.data = Some([("key".to_owned(), "2".to_owned())].into());
    let modified = cms
        .replace("w", &PostParams::default(), &next)
        .await
        .unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();

    // Resume from before the changes: all three arrive, in order.
    let events = collect(&cms, &start_rv, 3).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, vec!["ADDED", "MODIFIED", "DELETED"]);
    assert_eq!(
        events[1].1,
        modified.metadata.resource_version.clone().unwrap()
    );

    // Resume from the middle: only what came after.
    let after_modify = collect(&cms, &modified.metadata.resource_version.unwrap(), 1).await;
    assert_eq!(after_modify[0].0, "DELETED");

    // Push the history past the start: the old resourceVersion is gone.
    for i in 0..10 {
        cms.create(
            &PostParams::default(),
            &config_map(&format!("f{i}"), &[], ""),
        )
        .await
        .unwrap();
    }
    let mut stream = Box::pin(
        cms.watch(&WatchParams::default().timeout(5), &start_rv)
            .await
            .unwrap(),
    );
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => assert_eq!(status.code, 410),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

/// The first `n` events of a watch from `rv`, as (type, resourceVersion).
async fn collect(api: &Api<ConfigMap>, rv: &str, n: usize) -> Vec<(String, String)> {
    let mut stream = Box::pin(
        api.watch(&WatchParams::default().timeout(10), rv)
            .await
            .unwrap(),
    );
    let mut events = Vec::new();
    while events.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("event in time")
            .unwrap();
        match event {
            Some(WatchEvent::Added(o)) => {
                events.push(("ADDED".to_owned(), o.metadata.resource_version.unwrap()));
            }
            Some(WatchEvent::Modified(o)) => {
                events.push(("MODIFIED".to_owned(), o.metadata.resource_version.unwrap()));
            }
            Some(WatchEvent::Deleted(o)) => {
                events.push(("DELETED".to_owned(), o.metadata.resource_version.unwrap()));
            }
            Some(WatchEvent::Bookmark(_)) => {}
            Some(WatchEvent::Error(e)) => panic!("watch error {e:?}"),
            None => panic!("watch ended after {} events", events.len()),
        }
    }
    events
}

#[tokio::test]
async fn a_cut_watch_resumes_without_losing_events() {
    let sim = start();
    sim.faults().set(Faults {
        watch_cut_after_events: Some(2),
        ..Faults::default()
    });
    let cms: Api<ConfigMap> = Api::namespaced(sim.client().await.unwrap(), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..5 {
        cms.create(
            &PostParams::default(),
            &config_map(&format!("c{i}"), &[], ""),
        )
        .await
        .unwrap();
    }
    // Each stream ends after two events; resuming from the last one seen loses nothing.
    let mut seen = Vec::new();
    let mut from = rv;
    while seen.len() < 5 {
        let mut stream = Box::pin(
            cms.watch(&WatchParams::default().timeout(10), &from)
                .await
                .unwrap(),
        );
        let mut in_this_stream = 0;
        while let Some(event) = stream.try_next().await.unwrap() {
            if let WatchEvent::Added(o) = event {
                from = o.metadata.resource_version.clone().unwrap();
                seen.push(o.metadata.name.unwrap());
                in_this_stream += 1;
                if seen.len() == 5 {
                    break;
                }
            }
        }
        assert!(in_this_stream <= 2, "the stream was cut after two events");
    }
    assert_eq!(seen, vec!["c0", "c1", "c2", "c3", "c4"]);
}

#[tokio::test]
async fn dry_run_validates_and_stores_nothing() {
    let sim = start();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client().await.unwrap(), "default");
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let result = cms
        .create(&dry, &config_map("dry", &[], "x"))
        .await
        .unwrap();
    assert_eq!(result.metadata.name.as_deref(), Some("dry"));
    assert!(
        result.metadata.uid.is_some(),
        "the answer looks like a created object"
    );
    assert_eq!(api_error(cms.get("dry").await.unwrap_err()).code, 404);

    let real = cms
        .create(&PostParams::default(), &config_map("real", &[], "x"))
        .await
        .unwrap();
    let dp = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    cms.delete("real", &dp).await.unwrap();
    assert_eq!(
        cms.get("real").await.unwrap().metadata.resource_version,
        real.metadata.resource_version
    );

    let bad = api_error(
        cms.create(&dry, &config_map("Bad_Name", &[], ""))
            .await
            .unwrap_err(),
    );
    assert_eq!((bad.code, bad.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn two_clients_race_for_a_lease_and_exactly_one_wins() {
    let sim = start();
    let first: Api<Lease> = Api::namespaced(sim.client().await.unwrap(), "default");
    let second: Api<Lease> = Api::namespaced(sim.client().await.unwrap(), "default");
    let lease = |holder: &str| -> Lease {
        serde_json::from_value(json!({ "metadata": { "name": "deploy-lock" }, "spec": { "holderIdentity": holder, "leaseDurationSeconds": 30 } })).unwrap()
    };
    let pp = PostParams::default();
    let (lease_a, lease_b) = (lease("a"), lease("b"));
    let (a, b) = tokio::join!(first.create(&pp, &lease_a), second.create(&pp, &lease_b));
    let loser = match (a, b) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => api_error(e),
        (a, b) => panic!("exactly one create wins, got {a:?} and {b:?}"),
    };
    assert_eq!(loser.code, 409);

    // Taking over an existing lease: both read the same version, both try to replace it.
    let current = first.get("deploy-lock").await.unwrap();
    let mut take_a = current.clone();
    take_a.spec.as_mut().unwrap().holder_identity = Some("a2".into());
    let mut take_b = current;
    take_b.spec.as_mut().unwrap().holder_identity = Some("b2".into());
    let (a, b) = tokio::join!(
        first.replace("deploy-lock", &pp, &take_a),
        second.replace("deploy-lock", &pp, &take_b)
    );
    let loser = match (a, b) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => api_error(e),
        (a, b) => panic!("exactly one takeover wins, got {a:?} and {b:?}"),
    };
    assert_eq!((loser.code, loser.reason.as_str()), (409, "Conflict"));
}

#[tokio::test]
async fn a_crd_starts_serving_its_custom_resource() {
    let sim = start();
    let client = sim.client().await.unwrap();
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": "backups.pipewright.dev" },
        "spec": {
            "group": "pipewright.dev", "scope": "Namespaced",
            "names": { "plural": "backups", "singular": "backup", "kind": "Backup" },
            "versions": [{ "name": "v1", "served": true, "storage": true, "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } } }]
        }
    }))
    .unwrap();
    let created = crds.create(&PostParams::default(), &crd).await.unwrap();
    let conditions = created.data["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    );

    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.has_group("pipewright.dev"));

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("pipewright.dev", "v1", "Backup"),
        "backups",
    );
    let backups: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let backup: DynamicObject = serde_json::from_value(json!({ "apiVersion": "pipewright.dev/v1", "kind": "Backup", "metadata": { "name": "nightly" }, "spec": { "keep": 7 } })).unwrap();
    backups
        .create(&PostParams::default(), &backup)
        .await
        .unwrap();
    assert_eq!(
        backups.get("nightly").await.unwrap().data["spec"]["keep"],
        7
    );

    // Deleting the CRD takes its objects and its endpoint with it.
    crds.delete("backups.pipewright.dev", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(backups.get("nightly").await.unwrap_err()).code,
        404
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_what_is_in_it() {
    let sim = start();
    let client = sim.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": "team" } })).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    let cms: Api<ConfigMap> = Api::namespaced(client, "team");
    cms.create(&PostParams::default(), &config_map("inside", &[], ""))
        .await
        .unwrap();
    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    // As on a real cluster the namespace controller empties it after the DELETE, not within it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cms.get("inside").await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the ConfigMap was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(api_error(cms.get("inside").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn a_wrong_token_gets_401_with_a_status_body() {
    let sim = start();
    let response = raw_get(&sim, "/api/v1/namespaces", Some("wrong-token")).await;
    assert_eq!(response.0, 401);
    assert_eq!(response.1["kind"], "Status");
    assert_eq!(response.1["reason"], "Unauthorized");
    assert_eq!(raw_get(&sim, "/api/v1/namespaces", None).await.0, 401);
    let ok = raw_get(&sim, "/api/v1/namespaces", sim.token()).await;
    assert_eq!(ok.0, 200);
    assert_eq!(ok.1["kind"], "NamespaceList");
}

#[tokio::test]
async fn injected_429s_and_5xx_are_exact_fractions() {
    let sim = start();
    sim.faults().set(Faults {
        throttle_fraction: 0.5,
        ..Faults::default()
    });
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(raw_get(&sim, "/api/v1/namespaces", sim.token()).await.0);
    }
    assert_eq!(codes, vec![200, 429, 200, 429]);
    sim.faults().set(Faults {
        error_fraction: 1.0,
        error_status: Some(503),
        ..Faults::default()
    });
    assert_eq!(raw_get(&sim, "/version", sim.token()).await.0, 503);
    sim.faults().set(Faults::default());
    assert_eq!(raw_get(&sim, "/version", sim.token()).await.0, 200);
}

#[tokio::test]
async fn the_kube_client_retries_nothing_but_sees_the_api_down_and_back() {
    let sim = start();
    let client = sim.client().await.unwrap();
    sim.faults().set(Faults {
        down_for_ms: Some(60_000),
        ..Faults::default()
    });
    let namespaces: Api<Namespace> = Api::all(client.clone());
    // A connection kept alive from before gets a 503 (and is closed).
    assert!(namespaces.list(&ListParams::default()).await.is_err());
    // A fresh client must connect anew, and the connection is closed unanswered.
    let fresh = sim.client().await.unwrap();
    assert!(
        Api::<Namespace>::all(fresh)
            .list(&ListParams::default())
            .await
            .is_err()
    );
    sim.faults().set(Faults::default());
    assert!(namespaces.list(&ListParams::default()).await.is_ok());
}

/// A GET with curl (an independent client) and the CA from the kubeconfig; (status, body).
async fn raw_get(sim: &KubeSim, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), sim.ca_pem()).unwrap();
    let mut command = tokio::process::Command::new("curl");
    command
        .args(["-sS", "--cacert"])
        .arg(ca.path())
        .args(["-w", "\n%{http_code}"]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = command
        .arg(format!("{}{path}", sim.url()))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn injected_latency_delays_every_answer() {
    let sim = start();
    let namespaces: Api<Namespace> = Api::all(sim.client().await.unwrap());
    namespaces.list(&ListParams::default()).await.unwrap();
    sim.faults().set(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    namespaces.list(&ListParams::default()).await.unwrap();
    // A lower bound only: the server sleeps at least this long before answering.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_watch_is_cut_after_the_configured_time() {
    let sim = start();
    sim.faults().set(Faults {
        watch_cut_after_ms: Some(100),
        ..Faults::default()
    });
    let cms: Api<ConfigMap> = Api::namespaced(sim.client().await.unwrap(), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    // The client asks for five minutes; the injected cut ends the stream long before.
    let mut stream = Box::pin(
        cms.watch(&WatchParams::default().timeout(300), &rv)
            .await
            .unwrap(),
    );
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.try_next().await {
                Ok(Some(WatchEvent::Bookmark(_))) => {}
                other => return other.map(|event| event.is_none()),
            }
        }
    })
    .await;
    assert!(
        matches!(ended, Ok(Ok(true))),
        "the stream ended with no change to report: {ended:?}"
    );
}
