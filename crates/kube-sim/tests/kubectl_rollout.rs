//! kubectl's rollout verdicts against the simulated controllers: `rollout status` succeeds on a
//! healthy Deployment, StatefulSet and DaemonSet and fails on `ProgressDeadlineExceeded` with
//! kubectl's own message, `rollout undo` returns to the previous template, and `delete` takes
//! the ReplicaSets and pods with the Deployment. Every kubectl call carries its own timeout.

mod common;

use common::Kubectl;
use kube_sim::{Config, Scenario};

fn deployment(name: &str, image: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: 3
{extra_spec}  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
"
    )
}

fn paced(test: &str, pace: f64) -> Option<Kubectl> {
    Kubectl::start_with(
        test,
        Config {
            scenario: Scenario {
                pace: Some(pace),
                ..Scenario::default()
            },
            ..Config::default()
        },
    )
}

#[test]
fn rollout_status_succeeds_on_a_healthy_deployment() {
    let Some(k) = paced("rollout_status_succeeds_on_a_healthy_deployment", 5.0) else {
        return;
    };
    let file = k.file("web.yaml", &deployment("web", "nginx:1.25", ""));
    k.ok(&["create", "-f", &file]);
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(
        out.trim_end()
            .ends_with("deployment \"web\" successfully rolled out"),
        "{out}"
    );
}

#[test]
fn rollout_status_fails_when_the_progress_deadline_passes() {
    // 30 simulated seconds of deadline pass in about a second.
    let Some(k) = paced(
        "rollout_status_fails_when_the_progress_deadline_passes",
        30.0,
    ) else {
        return;
    };
    let file = k.file(
        "stuck.yaml",
        &deployment(
            "stuck",
            "registry.example/app:never-ready",
            "  progressDeadlineSeconds: 30\n",
        ),
    );
    k.ok(&["create", "-f", &file]);
    let output = k.run(&["rollout", "status", "deployment/stuck", "--timeout=60s"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: deployment \"stuck\" exceeded its progress deadline"),
        "{stderr}"
    );
}

#[test]
fn rollout_undo_returns_to_the_previous_image() {
    let Some(k) = paced("rollout_undo_returns_to_the_previous_image", 5.0) else {
        return;
    };
    let file = k.file("web.yaml", &deployment("web", "nginx:1.25", ""));
    k.ok(&["create", "-f", &file]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    k.ok(&["set", "image", "deployment/web", "app=nginx:1.26"]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let history = k.ok(&["rollout", "history", "deployment/web"]);
    assert!(history.contains('1') && history.contains('2'), "{history}");

    let out = k.ok(&["rollout", "undo", "deployment/web"]);
    assert!(out.contains("rolled back"), "{out}");
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let image = k.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "nginx:1.25");
    let revision = k.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    ]);
    assert_eq!(revision, "3", "a rollback is a new revision");
    // The old pods terminate gracefully, as on a real cluster: `rollout status` does not wait for
    // them (they no longer count), so wait until only the rolled-back ones are left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let images = k.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.containers[0].image}",
        ]);
        let images: Vec<&str> = images.split_whitespace().collect();
        if images == vec!["nginx:1.25"; 3] {
            break;
        }
        assert!(
            images.iter().filter(|i| **i == "nginx:1.25").count() == 3,
            "three pods run the rolled-back image: {images:?}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the old pods never went: {images:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn kubectl_delete_removes_the_deployment_and_what_it_owns() {
    let Some(k) = paced(
        "kubectl_delete_removes_the_deployment_and_what_it_owns",
        5.0,
    ) else {
        return;
    };
    let file = k.file("web.yaml", &deployment("web", "nginx:1.25", ""));
    k.ok(&["create", "-f", &file]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let out = k.ok(&["delete", "deployment", "web", "--timeout=30s"]);
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    // kubectl waits for the Deployment only; its pods terminate gracefully after it, as on a
    // real cluster, so wait for them with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let left = k.ok(&[
            "get",
            "deployments,replicasets,pods",
            "-l",
            "app=web",
            "-o",
            "name",
        ]);
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still there after 60 s: {left}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn rollout_status_of_stateful_and_daemon_sets() {
    let Some(k) = paced("rollout_status_of_stateful_and_daemon_sets", 5.0) else {
        return;
    };
    let file = k.file(
        "sets.yaml",
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: 'postgres:16'}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: 'fluent-bit:3'}]}
",
    );
    k.ok(&["create", "-f", &file]);
    let out = k.ok(&["rollout", "status", "statefulset/db", "--timeout=60s"]);
    assert!(
        out.trim_end()
            .ends_with("partitioned roll out complete: 2 new pods have been updated..."),
        "{out}"
    );
    let out = k.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    assert!(
        out.trim_end()
            .ends_with("daemon set \"agent\" successfully rolled out"),
        "{out}"
    );
}
