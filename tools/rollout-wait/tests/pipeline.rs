//! The whole loop with the real binaries, as a CI job runs it in one shell:
//!
//! ```sh
//! k8s-apply -f good.yaml --release web -n shop | rollout-wait
//! k8s-apply -f broken.yaml --release web -n shop | rollout-wait \
//!   || (k8s-apply rollback --release web -n shop | rollout-wait)
//! ```
//!
//! It must end with the previous version healthy, the broken revision `failed`, the rollback
//! revision `deployed`, the lock free, exit status 1 (the rollback's rollout-wait says the run did
//! not deploy its version, as `helm upgrade --atomic` does), and the reason printed once. The lock
//! holder is the default one, the shell job: every process of the command line re-enters it.
//!
//! Needs k8s-apply built beside this test (`cargo build -p k8s-apply`, or the whole workspace).

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cluster::{ReleaseHistory, ReleaseStatus};
use common::start;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serde_json::Value;

const GOOD: &str = "registry.example/api:1.4.1";
const BROKEN: &str = "registry.example/api:pull-error";
const SECRET_VALUE: &str = "hunter2-very-secret";

fn manifests(image: &str) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
---
apiVersion: v1
kind: Secret
metadata: {{name: api-db, namespace: shop}}
stringData: {{password: {SECRET_VALUE}}}
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
  replicas: 2
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec: {{containers: [{{name: api, image: '{image}'}}]}}
"
    )
}

struct Shell {
    code: i32,
    docs: Vec<Value>,
    stderr: String,
}

/// Runs a shell command line with `$K` (k8s-apply) and `$R` (rollout-wait), from a cleared
/// environment.
fn shell(sim: &common::Sim, dir: &std::path::Path, script: &str) -> Shell {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("KUBECONFIG", sim.kubeconfig())
        .env("K", testbed::workspace_bin("k8s-apply"))
        .env("R", env!("CARGO_BIN_EXE_rollout-wait"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let docs = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    Shell {
        code: output.status.code().unwrap_or(-1),
        docs,
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_deploy_is_rolled_back_to_the_previous_healthy_release() {
    let sim = start(60.0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), manifests(GOOD)).unwrap();
    std::fs::write(dir.path().join("broken.yaml"), manifests(BROKEN)).unwrap();
    let path = dir.path().to_owned();

    let (sim, first, second) = tokio::task::spawn_blocking(move || {
        let first = shell(
            &sim,
            &path,
            r#""$K" -f good.yaml --release web -n shop | "$R" --timeout 60s"#,
        );
        let second = shell(
            &sim,
            &path,
            r#""$K" -f broken.yaml --release web -n shop | "$R" --timeout 60s \
               || ("$K" rollback --release web -n shop | "$R" --timeout 60s)"#,
        );
        (sim, first, second)
    })
    .await
    .unwrap();

    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.docs.len(), 1);
    assert_eq!(first.docs[0]["releaseStatus"], "deployed");
    assert_eq!(first.docs[0]["revision"], 1);

    assert_eq!(second.code, 1, "the pipeline fails: {}", second.stderr);
    assert_eq!(second.docs.len(), 2, "{:?}", second.docs);
    let (failed, rolled_back) = (&second.docs[0], &second.docs[1]);
    for doc in &second.docs {
        testbed::schema::assert_valid("rollout-wait", doc);
    }
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["revision"], 2);
    assert_eq!(failed["releaseStatus"], "failed");
    let api = failed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    let reason = api["reason"].as_str().unwrap();
    assert!(
        matches!(reason, "ErrImagePull" | "ImagePullBackOff"),
        "{api}"
    );
    assert_rolled_back(rolled_back);

    // The reason, once: the first wait's error, naming the image, is not repeated by the
    // rollback's wait (nor by k8s-apply).
    let reason_line = failed["error"]["message"].as_str().unwrap();
    assert!(
        reason_line.contains(reason) && reason_line.contains(BROKEN),
        "{reason_line}"
    );
    assert_eq!(
        second.stderr.matches(reason_line).count(),
        1,
        "{}",
        second.stderr
    );
    let errors: Vec<&str> = second
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: rollout-wait:"))
        .collect();
    assert_eq!(errors.len(), 2, "{}", second.stderr);
    assert!(errors[1].contains("rolled back"), "{}", errors[1]);
    assert!(!second.stderr.contains(SECRET_VALUE));
    assert!(
        !second
            .docs
            .iter()
            .any(|d| d.to_string().contains(SECRET_VALUE))
    );

    assert_history_and_lock(&sim, reason).await;
    assert_rollback_ok_exits_0(&sim);

    // The previous version runs, healthy, by kubectl's measure too.
    let (code, out) = sim.kubectl_rollout_status("deployment/api", "shop", "30s");
    assert_eq!(code, 0, "{out}");
    let image = sim.kubectl(&[
        "get",
        "deployment",
        "api",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(String::from_utf8(image.stdout).unwrap(), GOOD);
}

/// The rollback worked, and still fails the command line: the release is back at revision 1's
/// version, not at the one this run deployed.
fn assert_rolled_back(rolled_back: &Value) {
    assert_eq!(rolled_back["ok"], false);
    assert_eq!(rolled_back["revision"], 3);
    assert_eq!(rolled_back["releaseStatus"], "deployed");
    assert_eq!(rolled_back["error"]["kind"], "failed");
    let message = rolled_back["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("rolled back: revision 3 restores revision 1 and is healthy"),
        "{message}"
    );
    assert!(
        rolled_back["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--rollback-ok")
    );
    assert!(
        rolled_back["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "healthy"),
        "the report of the healthy rollback is there: {rolled_back}"
    );
}

/// Waiting again for the rollback's revision: exit 1 as before, unless the rollback is what was
/// wanted (`--rollback-ok`, or its environment variable).
fn assert_rollback_ok_exits_0(sim: &common::Sim) {
    // Every object of the revision: a document naming fewer settles nothing (exit 2).
    let doc = common::upstream(
        Some(("web", 3)),
        &[
            ("v1", "Namespace", "", "shop"),
            ("v1", "Secret", "shop", "api-db"),
            ("v1", "ConfigMap", "shop", "api-config"),
            ("apps/v1", "Deployment", "shop", "api"),
        ],
    );
    sim.rollout_wait(&["--timeout", "30s"], Some(&doc))
        .assert_code(1);
    let run = sim.rollout_wait(&["--timeout", "30s", "--rollback-ok"], Some(&doc));
    run.assert_code(0);
    assert_eq!(run.doc["releaseStatus"], "deployed");
    assert_eq!(run.doc["statusWritten"], false);
    sim.rollout_wait_env(
        &["--timeout", "30s"],
        Some(&doc),
        &[("PIPEWRIGHT_ROLLBACK_OK", "1")],
    )
    .assert_code(0);
}

/// Revision 1 superseded by the rollback (3), the broken revision 2 failed with the reason, and
/// the deploy lock free for the next run.
async fn assert_history_and_lock(sim: &common::Sim, reason: &str) {
    let client = sim.sim.client().await.unwrap();
    let history = ReleaseHistory::new(&client, "shop", "web").unwrap();
    let records = history.list().await.unwrap();
    let statuses: Vec<(u32, ReleaseStatus)> =
        records.iter().map(|r| (r.revision, r.status)).collect();
    assert_eq!(
        statuses,
        [
            (1, ReleaseStatus::Superseded),
            (2, ReleaseStatus::Failed),
            (3, ReleaseStatus::Deployed)
        ]
    );
    assert!(records[1].message.as_deref().unwrap().contains(reason));
    assert_eq!(records[2].source_revision, Some(1));

    let leases: Api<Lease> = Api::namespaced(client, "shop");
    let lease = leases.get("pipewright-lock-web").await.unwrap();
    assert!(
        lease
            .spec
            .and_then(|s| s.holder_identity)
            .is_none_or(|h| h.is_empty()),
        "the lock is free for the next run"
    );
}
