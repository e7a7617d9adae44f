//! The environment guard in rollout-wait (issue 12 item 8): on a cluster that
//! `k8s-apply init-cluster` recorded, settling a revision needs the environment named
//! (`--env` or `PIPEWRIGHT_ENV`); without it, or with another one, rollout-wait stops with exit 2
//! before it takes the lock or writes the revision's status. The real k8s-apply records the
//! revision (`cargo build -p k8s-apply`, or the whole workspace, builds it beside this test).

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cluster::{ReleaseHistory, ReleaseStatus};
use common::start;
use serde_json::Value;

const SET: &str = "apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: 'registry.example/api:1.4.1'}]}
";

/// Runs `script` with `$K` (k8s-apply) and `$R` (rollout-wait) from a cleared environment, one
/// lock holder for every command, and `env` besides; returns the exit code, the last document
/// and stderr.
fn shell(
    sim: &common::Sim,
    dir: &std::path::Path,
    script: &str,
    env: &[(&str, &str)],
) -> (i32, Value, String) {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("KUBECONFIG", sim.kubeconfig())
        .env("PIPEWRIGHT_LOCK_HOLDER", "env-guard-test")
        .env("K", testbed::workspace_bin("k8s-apply"))
        .env("R", env!("CARGO_BIN_EXE_rollout-wait"));
    for (key, value) in env {
        cmd.env(key, value);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let doc = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .last()
        .unwrap_or(Value::Null);
    (
        output.status.code().unwrap_or(-1),
        doc,
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn settling_on_a_recorded_cluster_needs_its_environment_named() {
    let sim = start(60.0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("set.yaml"), SET).unwrap();
    let path = dir.path().to_owned();

    let (sim, applied, unnamed, wrong) = tokio::task::spawn_blocking({
        let path = path.clone();
        move || {
            let applied = shell(
                &sim,
                &path,
                r#""$K" init-cluster --env staging >/dev/null &&
                   "$K" -f set.yaml --release web -n shop --env staging > applied.json"#,
                &[],
            );
            let unnamed = shell(&sim, &path, r#""$R" --timeout 60s < applied.json"#, &[]);
            let wrong = shell(
                &sim,
                &path,
                r#""$R" --env production --timeout 60s < applied.json"#,
                &[],
            );
            (sim, applied, unnamed, wrong)
        }
    })
    .await
    .unwrap();
    assert_eq!(applied.0, 0, "{}", applied.2);

    let (code, doc, stderr) = &unnamed;
    assert_eq!(*code, 2, "{doc}\n{stderr}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("recorded as environment staging"),
        "{message}"
    );
    let hint = doc["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("--env staging") && hint.contains("PIPEWRIGHT_ENV=staging"),
        "{hint}"
    );
    let (code, doc, stderr) = &wrong;
    assert_eq!(*code, 2, "{doc}\n{stderr}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--env production"),
        "{doc}"
    );

    // Neither refused run settled the revision; the one that names the environment does.
    let client = sim.sim.client().await.unwrap();
    let history = ReleaseHistory::new(&client, "shop", "web").unwrap();
    let statuses = |records: Vec<cluster::ReleaseRecord>| -> Vec<ReleaseStatus> {
        records.iter().map(|r| r.status).collect()
    };
    assert_eq!(
        statuses(history.list().await.unwrap()),
        [ReleaseStatus::Applied]
    );
    let (sim, named) = tokio::task::spawn_blocking(move || {
        let named = shell(
            &sim,
            &path,
            r#""$R" --timeout 60s < applied.json"#,
            &[("PIPEWRIGHT_ENV", "staging")],
        );
        (sim, named)
    })
    .await
    .unwrap();
    let (code, doc, stderr) = &named;
    assert_eq!(*code, 0, "{doc}\n{stderr}");
    assert_eq!(doc["releaseStatus"], "deployed");
    assert_eq!(
        statuses(history.list().await.unwrap()),
        [ReleaseStatus::Deployed]
    );
    drop(sim);
}
