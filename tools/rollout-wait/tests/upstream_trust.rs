//! rollout-wait does not take its upstream document on trust (issue 12 item 9): a revision is
//! settled only when the document's objects are the ones the revision recorded (kinds,
//! namespaces, names), in the namespace the record lives in, and the revision is `applied`; a
//! dry run or an empty object list settles nothing (exit 2). A planted record is never settled
//! (item 6). The documents are the real k8s-apply's, edited as a broken or hostile step would.
//!
//! Needs k8s-apply built beside this test (`cargo build -p k8s-apply`, or the whole workspace).

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cluster::{OwnedObject, ReleaseHistory, ReleaseRecord, ReleaseStatus};
use common::{Run, Sim, start};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const HOLDER: &str = "github:acme/shop/77/1";
const BROKEN: &str = "registry.example/api:pull-error";

fn manifests(image: &str) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: api-config, namespace: shop}}
data: {{image: '{image}'}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: shop}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec: {{containers: [{{name: api, image: '{image}'}}]}}
"
    )
}

/// Runs the real k8s-apply on `image`'s set as release `web` in `shop`; returns its document.
fn k8s_apply(sim: &Sim, image: &str) -> Value {
    let file = sim.dir.path().join("set.yaml");
    std::fs::write(&file, manifests(image)).unwrap();
    let output = std::process::Command::new(testbed::workspace_bin("k8s-apply"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sim.dir.path())
        .env("KUBECONFIG", sim.kubeconfig())
        .args(["-f", file.to_str().unwrap()])
        .args(["--release", "web", "-n", "shop", "--lock-holder", HOLDER])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "k8s-apply failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn wait(sim: Sim, args: &[&str], doc: &Value) -> (Sim, Run) {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.extend(["--lock-holder".to_owned(), HOLDER.to_owned()]);
    let doc = doc.to_string();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = sim.rollout_wait(&args, Some(&doc));
        (sim, run)
    })
    .await
    .unwrap()
}

async fn status(sim: &Sim, revision: u32) -> ReleaseStatus {
    let client = sim.sim.client().await.unwrap();
    ReleaseHistory::new(&client, "shop", "web")
        .unwrap()
        .get(revision)
        .await
        .unwrap()
        .unwrap()
        .status
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_that_does_not_match_its_revision_settles_nothing() {
    let sim = start(60.0);
    let doc = tokio::task::block_in_place(|| k8s_apply(&sim, BROKEN));
    assert_eq!(doc["revision"], 1);
    assert_eq!(status(&sim, 1).await, ReleaseStatus::Applied);

    let mut emptied = doc.clone();
    emptied["objects"] = json!([]);
    let mut fewer = doc.clone();
    fewer["objects"]
        .as_array_mut()
        .unwrap()
        .retain(|o| o["kind"] != "Deployment");
    let mut elsewhere = doc.clone();
    for object in elsewhere["objects"].as_array_mut().unwrap() {
        if object["kind"] == "Deployment" {
            object["namespace"] = "default".into();
        }
    }
    let mut renamed = doc.clone();
    for object in renamed["objects"].as_array_mut().unwrap() {
        if object["kind"] == "Deployment" {
            object["name"] = "other".into();
        }
    }
    let mut dry = doc.clone();
    dry["dryRun"] = true.into();
    let mut other_namespace = doc.clone();
    other_namespace["releaseNamespace"] = "default".into();

    let mut sim = sim;
    for (what, edited) in [
        ("objects emptied", &emptied),
        ("the Deployment left out", &fewer),
        ("the Deployment in another namespace", &elsewhere),
        ("the Deployment renamed", &renamed),
        ("dryRun: true", &dry),
        ("another releaseNamespace", &other_namespace),
    ] {
        let (back, run) = wait(sim, &["--timeout", "20s"], edited).await;
        sim = back;
        assert_eq!(run.code, 2, "{what}: {}\n{}", run.doc, run.stderr);
        assert!(
            run.doc.get("releaseStatus").is_none(),
            "{what}: {}",
            run.doc
        );
        assert_eq!(
            status(&sim, 1).await,
            ReleaseStatus::Applied,
            "{what}: the broken revision was settled"
        );
    }

    // The document as k8s-apply wrote it still settles the revision: failed.
    let (sim, run) = wait(sim, &["--timeout", "20s"], &doc).await;
    assert!(run.code == 1 || run.code == 124, "{}", run.stderr);
    assert_eq!(run.doc["releaseStatus"], "failed");
    assert_eq!(status(&sim, 1).await, ReleaseStatus::Failed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planted_applied_revision_is_not_settled() {
    let sim = start(60.0);
    // A genuine healthy-to-be revision 1, so that the release and its key exist.
    let doc = tokio::task::block_in_place(|| k8s_apply(&sim, "registry.example/api:1.0"));
    assert_eq!(doc["revision"], 1);
    // Someone with `create` on Secrets in shop plants revision 2, `applied`, naming the same
    // objects, so that a replayed document makes rollout-wait mark it deployed.
    let client = sim.sim.client().await.unwrap();
    let mut record = ReleaseRecord::new("web", "shop");
    record.revision = 2;
    record.previous_revision = Some(1);
    record.status = ReleaseStatus::Applied;
    record.objects = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| OwnedObject {
            api_version: o["apiVersion"].as_str().unwrap().to_owned(),
            kind: o["kind"].as_str().unwrap().to_owned(),
            namespace: o["namespace"].as_str().map(str::to_owned),
            name: o["name"].as_str().unwrap().to_owned(),
            uid: None,
        })
        .collect();
    let secret = cluster::release::to_secret(&record, None).unwrap();
    Api::<Secret>::namespaced(client, "shop")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let mut replayed = doc.clone();
    replayed["revision"] = 2.into();

    let (sim, run) = wait(sim, &["--timeout", "20s"], &replayed).await;
    run.assert_code(1);
    assert!(
        run.stderr.contains("pipewright.release.v1.web.v2"),
        "{}",
        run.stderr
    );
    assert_eq!(status(&sim, 2).await, ReleaseStatus::Applied);
}
