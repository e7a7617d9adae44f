//! Release records in a real (simulated) cluster: numbering, status changes, pruning, races,
//! API faults, and the Secret as kubectl sees it.

// Test helpers unwrap: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;

use base64::Engine;
use cluster::{ManifestSet, OwnedObject, ReleaseHistory, ReleaseRecord, ReleaseStatus};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube_sim::Faults;
use serde_json::{Value, json};

fn record(image: &str) -> ReleaseRecord {
    let mut r = ReleaseRecord::new("web", "ignored");
    r.images.insert(image.to_owned());
    r.objects.push(OwnedObject {
        api_version: "apps/v1".to_owned(),
        kind: "Deployment".to_owned(),
        namespace: Some("shop".to_owned()),
        name: "web".to_owned(),
        uid: Some("u-1".to_owned()),
    });
    r.manifests = ManifestSet::new(vec![deployment(0, image)]);
    r
}

fn deployment(i: usize, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": format!("svc-{i}"), "namespace": "shop", "labels": { "app": format!("svc-{i}"), "app.kubernetes.io/part-of": "web" } },
        "spec": {
            "replicas": 3,
            "selector": { "matchLabels": { "app": format!("svc-{i}") } },
            "template": {
                "metadata": { "labels": { "app": format!("svc-{i}") } },
                "spec": { "containers": [{
                    "name": "app", "image": image,
                    "ports": [{ "containerPort": 8080 }],
                    "env": [{ "name": "SERVICE", "value": format!("svc-{i}") }, { "name": "LOG_LEVEL", "value": "info" }],
                    "resources": { "requests": { "cpu": "100m", "memory": "128Mi" }, "limits": { "memory": "256Mi" } },
                    "readinessProbe": { "httpGet": { "path": "/healthz", "port": 8080 }, "periodSeconds": 5 }
                }] }
            }
        }
    })
}

fn revisions(records: &[ReleaseRecord]) -> Vec<u32> {
    records.iter().map(|r| r.revision).collect()
}

fn statuses(records: &[ReleaseRecord]) -> Vec<ReleaseStatus> {
    records.iter().map(|r| r.status).collect()
}

#[test]
fn the_record_schema_is_committed() {
    testbed::schema::check_committed::<ReleaseRecord>("release-record");
}

#[tokio::test]
async fn revisions_are_numbered_listed_and_settled() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let history = ReleaseHistory::new(&conn.client, &ns, "web").unwrap();
    assert!(history.latest().await.unwrap().is_none());

    for tag in ["1", "2", "3"] {
        history.create(record(&format!("web:{tag}"))).await.unwrap();
    }
    let all = history.list().await.unwrap();
    assert_eq!(revisions(&all), vec![1, 2, 3]);
    assert_eq!(
        all.iter().map(|r| r.previous_revision).collect::<Vec<_>>(),
        vec![None, Some(1), Some(2)]
    );
    assert!(
        all.iter()
            .all(|r| r.namespace == "shop" && r.release == "web")
    );
    assert_eq!(history.latest().await.unwrap().unwrap().revision, 3);
    assert!(history.get(99).await.unwrap().is_none());

    history
        .set_status(1, ReleaseStatus::Deployed, None)
        .await
        .unwrap();
    history
        .set_status(
            2,
            ReleaseStatus::Failed,
            Some("ImagePullBackOff: web:2 not found"),
        )
        .await
        .unwrap();
    let deployed = history
        .last_with_status(ReleaseStatus::Deployed)
        .await
        .unwrap();
    assert_eq!(deployed.unwrap().revision, 1);

    // A newer deployed revision supersedes the older one; the failed one stays failed.
    history
        .set_status(3, ReleaseStatus::Deployed, None)
        .await
        .unwrap();
    let all = history.list().await.unwrap();
    assert_eq!(
        statuses(&all),
        vec![
            ReleaseStatus::Superseded,
            ReleaseStatus::Failed,
            ReleaseStatus::Deployed
        ]
    );
    assert_eq!(
        all[1].message.as_deref(),
        Some("ImagePullBackOff: web:2 not found")
    );
    assert!(all[2].updated_at >= all[2].created_at);

    // The status label follows the record, for `kubectl get secret -l`.
    let secret = Api::<Secret>::namespaced(conn.client.clone(), &ns)
        .get("pipewright.release.v1.web.v2")
        .await
        .unwrap();
    assert_eq!(
        secret.metadata.labels.unwrap()["pipewright.dev/status"],
        "failed"
    );

    let err = history
        .set_status(7, ReleaseStatus::Deployed, None)
        .await
        .unwrap_err();
    assert!(err.message().contains("no revision 7"), "{}", err.message());
}

#[tokio::test]
async fn prune_keeps_the_newest_and_the_last_deployed() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let history = ReleaseHistory::new(&conn.client, &ns, "web").unwrap();
    for i in 0..6 {
        history.create(record(&format!("web:{i}"))).await.unwrap();
    }
    history
        .set_status(2, ReleaseStatus::Deployed, None)
        .await
        .unwrap();
    history
        .set_status(4, ReleaseStatus::Failed, None)
        .await
        .unwrap();
    let pruned = history.prune(3).await.unwrap();
    assert_eq!(pruned, vec![1, 3]);
    assert_eq!(revisions(&history.list().await.unwrap()), vec![2, 4, 5, 6]);
    // Pruning again finds nothing more to do; keep 0 still keeps one.
    assert_eq!(history.prune(3).await.unwrap(), Vec::<u32>::new());
    assert_eq!(history.prune(0).await.unwrap(), vec![4, 5]);
    assert_eq!(revisions(&history.list().await.unwrap()), vec![2, 6]);
    // Numbers are never reused after a prune.
    assert_eq!(history.create(record("web:7")).await.unwrap().revision, 7);
}

#[tokio::test]
async fn concurrent_creates_never_share_a_revision_number() {
    let sim = common::start();
    let first = common::connect(&sim).await;
    let second = common::connect(&sim).await;
    let third = common::connect(&sim).await;
    let ns = common::namespace(&first, "shop").await;
    let one = ReleaseHistory::new(&first.client, &ns, "web").unwrap();
    let two = ReleaseHistory::new(&second.client, &ns, "web").unwrap();
    let three = ReleaseHistory::new(&third.client, &ns, "web").unwrap();
    let mut created = Vec::new();
    for round in 0..5 {
        let (x, y, z) = tokio::join!(
            one.create(record(&format!("a:{round}"))),
            two.create(record(&format!("b:{round}"))),
            three.create(record(&format!("c:{round}"))),
        );
        created.extend([x.unwrap(), y.unwrap(), z.unwrap()].map(|r| r.revision));
    }
    created.sort_unstable();
    assert_eq!(created, (1..=15).collect::<Vec<u32>>());
    let listed = one.list().await.unwrap();
    assert_eq!(revisions(&listed), (1..=15).collect::<Vec<u32>>());
    // Each stored record is the one its creator wrote.
    let images: std::collections::BTreeSet<String> = listed
        .iter()
        .flat_map(|r| r.images.iter().cloned())
        .collect();
    assert_eq!(images.len(), 15);
}

#[tokio::test]
async fn api_faults_during_history_writes_leave_no_gaps_or_duplicates() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let history = ReleaseHistory::new(&conn.client, &ns, "web").unwrap();
    sim.faults().set(Faults {
        error_fraction: 0.3,
        error_status: Some(503),
        ..Faults::default()
    });
    for i in 0..5 {
        history.create(record(&format!("web:{i}"))).await.unwrap();
    }
    history
        .set_status(5, ReleaseStatus::Deployed, None)
        .await
        .unwrap();
    // Fractions are exact: about a third of the dozen requests (a list and a create per
    // revision, a replace and a list for the status) and of their retries.
    assert!(sim.faults().injected() >= 4, "{}", sim.faults().injected());
    sim.faults().set(Faults::default());
    let all = history.list().await.unwrap();
    assert_eq!(revisions(&all), vec![1, 2, 3, 4, 5]);
    assert_eq!(all[4].status, ReleaseStatus::Deployed);
}

#[tokio::test]
async fn kubectl_reads_the_record_as_a_secret() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let history = ReleaseHistory::new(&conn.client, &ns, "web").unwrap();
    history.create(record("web:1")).await.unwrap();
    history
        .set_status(1, ReleaseStatus::Deployed, None)
        .await
        .unwrap();

    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .env("KUBECONFIG", sim.kubeconfig_path())
            .args(args)
            .output()
    };
    let out = match kubectl(&["version", "--client"]) {
        Ok(out) if out.status.success() => out,
        _ => {
            eprintln!("kubectl is not installed: skipping the kubectl cross-check");
            return;
        }
    };
    drop(out);
    let out = kubectl(&[
        "get",
        "secrets",
        "-n",
        "shop",
        "-l",
        "pipewright.dev/release=web,pipewright.dev/status=deployed",
        "-o",
        "json",
    ])
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let secret = &items[0];
    assert_eq!(secret["metadata"]["name"], "pipewright.release.v1.web.v1");
    assert_eq!(secret["type"], "pipewright.dev/release.v1");
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "pipewright"
    );
    assert_eq!(secret["metadata"]["labels"]["pipewright.dev/revision"], "1");
    // base64 -d | gunzip, as docs/releases.md tells people to read it.
    let gz = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["release"].as_str().unwrap())
        .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut text)
        .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["schema"], "pipewright.dev/release-record/v1");
    assert_eq!(doc["status"], "deployed");
    assert_eq!(doc["images"], json!(["web:1"]));
    testbed::schema::assert_valid("release-record", &doc);
}

#[tokio::test]
async fn a_hundred_object_record_is_small() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let history = ReleaseHistory::new(&conn.client, &ns, "web").unwrap();
    let mut r = record("registry.example/web:1.4.2");
    r.manifests = ManifestSet::new(
        (0..100)
            .map(|i| deployment(i, &format!("registry.example/svc-{i}:1.4.2")))
            .collect(),
    );
    r.objects = (0..100)
        .map(|i| OwnedObject {
            api_version: "apps/v1".to_owned(),
            kind: "Deployment".to_owned(),
            namespace: Some("shop".to_owned()),
            name: format!("svc-{i}"),
            uid: Some(format!("0b6a8c1e-5d4f-4a3b-9c2d-{i:012}")),
        })
        .collect();
    let json_len = serde_json::to_vec(&r).unwrap().len();
    let started = std::time::Instant::now();
    history.create(r).await.unwrap();
    let create_time = started.elapsed();
    let secret = Api::<Secret>::namespaced(conn.client.clone(), &ns)
        .get("pipewright.release.v1.web.v1")
        .await
        .unwrap();
    let stored = secret.data.unwrap()["release"].0.len();
    eprintln!(
        "100-object record: {json_len} bytes of JSON, {stored} bytes stored gzipped \
         (1/{}), created in {create_time:?}",
        json_len / stored
    );
    assert!(stored < 64 * 1024, "{stored}");
    let back = history.get(1).await.unwrap().unwrap();
    assert_eq!(back.manifests.len(), 100);
}
