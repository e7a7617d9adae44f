//! The `rollout-wait` binary against kube-sim over HTTPS: each health rule, each fail-fast
//! state (named, with the failing container's log lines), timeouts, dropped watches and 5xx
//! bursts. For Deployments, StatefulSets and DaemonSets the verdict is checked against
//! `kubectl rollout status` on the same simulated cluster.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Run, Sim, deployment, namespace, start, start_with, upstream};
use kube_sim::controllers::behaviour::{Behaviour, Rule};
use kube_sim::{Faults, Scenario};

#[test]
fn the_committed_schema_is_generated_from_the_types() {
    testbed::schema::check_committed::<stage::Document<rollout_wait::Report>>("rollout-wait");
}

#[test]
fn help_has_examples() {
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_rollout-wait"))
        .env_clear()
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    for expected in [
        "Examples:",
        "k8s-apply rollback",
        "--timeout",
        "--max-restarts",
        "--log-lines",
        "--selector",
        "[env: PIPEWRIGHT_RELEASE=]",
        "124",
    ] {
        assert!(help.contains(expected), "{expected} not in help:\n{help}");
    }
}

#[test]
fn bad_usage_and_input_exit_2_saying_how_to_fix_it() {
    let sim = start(1.0);
    let run = sim.rollout_wait(&["gizmo/x"], None);
    run.assert_code(2);
    assert_eq!(run.doc["error"]["kind"], "usage");
    assert!(
        run.doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown kind \"gizmo\"")
    );
    assert!(
        run.doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("deployment")
    );

    let run = sim.rollout_wait(&[], None);
    run.assert_code(2);
    assert!(
        run.doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to wait for")
    );
    assert!(
        run.doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("k8s-apply")
    );

    let run = sim.rollout_wait(&["deployment"], None);
    run.assert_code(2);
    assert!(
        run.doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deployment/NAME")
    );

    // Another tool's document: names the tool and the missing field.
    let run = sim.rollout_wait(
        &[],
        Some(r#"{"ok":true,"tool":"eks-token","schema":"pipewright.dev/eks-token/v1"}"#),
    );
    run.assert_code(2);
    let message = run.doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("eks-token") && message.contains("objects"),
        "{message}"
    );

    let run = sim.rollout_wait(&["--timeout", "5 minutes", "deployment/x"], None);
    run.assert_code(2);
}

#[test]
fn a_failed_upstream_document_is_passed_on_unchanged() {
    let sim = start(1.0);
    let failed = r#"{"ok":false,"tool":"k8s-apply","schema":"pipewright.dev/k8s-apply/v1","error":{"kind":"failed","message":"conflict"}}"#;
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_rollout-wait"))
        .env_clear()
        .env("KUBECONFIG", sim.kubeconfig())
        .write_stdin(failed)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim_end(), failed);
}

#[test]
fn a_healthy_rollout_agrees_with_kubectl() {
    let sim = start(10.0);
    sim.apply(&namespace("app"));
    sim.apply(&deployment("web", "app", "nginx:1.25", 3, ""));
    let run = sim.rollout_wait(&["deployment/web", "-n", "app", "--timeout", "60s"], None);
    run.assert_code(0);
    let web = run.object("Deployment", "web");
    assert_eq!(web["status"], "healthy");
    assert_eq!(web["reason"], "RolledOut");
    assert_eq!(web["message"], "deployment \"web\" successfully rolled out");
    assert!(web["healthyAfterMs"].as_u64().is_some());
    assert!(web.get("pods").is_none(), "no evidence for healthy objects");
    assert!(run.doc["durationMs"].as_u64().is_some());
    assert!(
        run.stderr.contains("deployment/web: healthy after"),
        "{}",
        run.stderr
    );

    let (code, out) = sim.kubectl_rollout_status("deployment/web", "app", "30s");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(web["message"].as_str().unwrap()),
        "kubectl: {out}"
    );

    // A new template rolls out again; progress lines show the counts.
    sim.apply(&deployment(
        "web",
        "app",
        "registry.example/web:slow-5s",
        3,
        "",
    ));
    let run = sim.rollout_wait(&["deploy/web", "-n", "app", "--timeout", "60s"], None);
    run.assert_code(0);
    assert!(
        run.stderr.contains("updated,"),
        "progress counts on stderr: {}",
        run.stderr
    );
    let (code, out) = sim.kubectl_rollout_status("deployment/web", "app", "30s");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_slow_rollout_that_finishes_in_time_is_healthy() {
    let sim = start(10.0);
    // Ready 30 simulated seconds after start: about 3 s here.
    sim.apply(&deployment(
        "slow",
        "default",
        "registry.example/api:slow-30s",
        2,
        "",
    ));
    let run = sim.rollout_wait(&["deployment/slow", "--timeout", "2m"], None);
    run.assert_code(0);
    let slow = run.object("Deployment", "slow");
    assert_eq!(slow["status"], "healthy");
    assert!(slow["healthyAfterMs"].as_u64().unwrap() >= 1500, "{slow}");
    assert!(
        run.stderr
            .contains("deployment/slow: 2/2 updated, 0/2 available"),
        "{}",
        run.stderr
    );
    let (code, out) = sim.kubectl_rollout_status("deployment/slow", "default", "30s");
    assert_eq!(code, 0, "{out}");
}

/// A failing rollout: rollout-wait must end long before its timeout with `reason`, while
/// kubectl (which has no such rule) is still waiting and does not call it a success.
fn assert_fails_fast(sim: &Sim, object: &str, reason: &[&str], extra: &[&str]) -> Run {
    let mut args = vec![object, "--timeout", "60s"];
    args.extend_from_slice(extra);
    let run = sim.rollout_wait(&args, None);
    run.assert_code(1);
    let (kind, name) = object.split_once('/').unwrap();
    let kind = match kind {
        "deployment" => "Deployment",
        "statefulset" => "StatefulSet",
        "job" => "Job",
        "daemonset" => "DaemonSet",
        other => other,
    };
    let report = run.object(kind, name);
    assert_eq!(report["status"], "degraded");
    assert!(
        reason.contains(&report["reason"].as_str().unwrap()),
        "reason {} is not one of {reason:?}",
        report["reason"]
    );
    // Exit 1, not 124: it ended on the failure, before its 60 s timeout.
    assert_eq!(run.doc["error"]["kind"], "failed");
    let message = run.doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(report["reason"].as_str().unwrap()),
        "{message}"
    );
    // The reason is explained once, in the final error; the block above it gives the evidence.
    assert_eq!(run.stderr.matches(message).count(), 1, "{}", run.stderr);
    run
}

fn kubectl_does_not_call_it_healthy(sim: &Sim, object: &str) {
    let (code, out) = sim.kubectl_rollout_status(object, "default", "2s");
    assert_ne!(code, 0, "kubectl: {out}");
    assert!(!out.contains("successfully rolled out"), "{out}");
}

#[test]
fn a_crash_loop_fails_past_max_restarts_with_the_containers_last_lines() {
    let sim = start(60.0);
    sim.behaviour(
        Rule::image("registry.example/api:*", Behaviour::CrashLoop)
            .with_exit_code(3)
            .with_logs(["loading config", "panic: config key DATABASE_URL missing"]),
    );
    sim.apply(&deployment(
        "api",
        "default",
        "registry.example/api:2.0",
        2,
        "",
    ));
    let run = assert_fails_fast(
        &sim,
        "deployment/api",
        &["CrashLoopBackOff"],
        &["--max-restarts", "1"],
    );
    let api = run.object("Deployment", "api");
    let lines = Run::log_lines(api);
    assert!(
        lines
            .iter()
            .any(|l| l == "panic: config key DATABASE_URL missing"),
        "{lines:?}"
    );
    let container = &api["pods"][0]["containers"][0];
    assert_eq!(container["name"], "app");
    assert_eq!(container["image"], "registry.example/api:2.0");
    assert_eq!(container["lastTermination"]["exitCode"], 3);
    assert!(container["restartCount"].as_i64().unwrap() >= 2);
    assert!(
        run.stderr
            .contains("| panic: config key DATABASE_URL missing"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("exit code 3"), "{}", run.stderr);
    assert!(
        api["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "BackOff"),
        "{api}"
    );
    kubectl_does_not_call_it_healthy(&sim, "deployment/api");
}

#[test]
fn an_oom_kill_fails_at_once() {
    let sim = start(10.0);
    sim.apply(&deployment(
        "hog",
        "default",
        "registry.example/hog:oom",
        1,
        "",
    ));
    let run = assert_fails_fast(&sim, "deployment/hog", &["OOMKilled"], &[]);
    let hog = run.object("Deployment", "hog");
    assert_eq!(
        hog["pods"][0]["containers"][0]["lastTermination"]["exitCode"],
        137
    );
    assert!(
        Run::log_lines(hog)
            .iter()
            .any(|l| l.contains("loading dataset into memory")),
        "{hog}"
    );
    kubectl_does_not_call_it_healthy(&sim, "deployment/hog");
}

#[test]
fn an_image_pull_error_fails_at_once_with_the_registrys_answer() {
    let sim = start(10.0);
    sim.apply(&deployment(
        "web",
        "default",
        "registry.example/web:pull-error",
        2,
        "",
    ));
    let run = assert_fails_fast(
        &sim,
        "deployment/web",
        &["ErrImagePull", "ImagePullBackOff"],
        &[],
    );
    let web = run.object("Deployment", "web");
    let message = web["message"].as_str().unwrap();
    assert!(
        message.contains("cannot pull its image registry.example/web:pull-error"),
        "{message}"
    );
    let container = &web["pods"][0]["containers"][0];
    assert!(
        container["message"].as_str().unwrap().contains("not found"),
        "the registry's answer: {container}"
    );
    assert!(run.doc["error"]["hint"].as_str().unwrap().contains("image"));
    kubectl_does_not_call_it_healthy(&sim, "deployment/web");
}

#[test]
fn a_missing_secret_key_is_a_create_container_config_error() {
    let sim = start(10.0);
    sim.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {user: app}\n");
    let yaml = deployment("api", "default", "registry.example/api:1.0", 1, "").replace(
        "        image: registry.example/api:1.0\n",
        "        image: registry.example/api:1.0\n        env:\n        - name: DB_PASSWORD\n          valueFrom: {secretKeyRef: {name: db, key: password}}\n",
    );
    sim.apply(&yaml);
    let run = assert_fails_fast(&sim, "deployment/api", &["CreateContainerConfigError"], &[]);
    let message = run.object("Deployment", "api")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("couldn't find key password in Secret default/db"),
        "{message}"
    );
    assert!(
        run.doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("Secret or ConfigMap")
    );
}

#[test]
fn an_unschedulable_pod_fails_after_the_grace_period() {
    let sim = start(10.0);
    sim.apply(&deployment(
        "big",
        "default",
        "registry.example/big:unschedulable",
        1,
        "",
    ));
    let run = assert_fails_fast(
        &sim,
        "deployment/big",
        &["Unschedulable"],
        &["--unschedulable-grace", "1s"],
    );
    let big = run.object("Deployment", "big");
    assert!(
        big["message"]
            .as_str()
            .unwrap()
            .contains("Insufficient cpu"),
        "{big}"
    );
    assert_eq!(big["pods"][0]["reason"], "Unschedulable");
    assert!(
        big["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "FailedScheduling"),
        "{big}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_failure_condition_fails_at_once() {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Api, Patch, PatchParams};

    let sim = start(1.0);
    sim.apply(&deployment(
        "quota",
        "default",
        "registry.example/q:never-ready",
        1,
        "",
    ));
    // What the deployment controller writes when a ResourceQuota refuses the pods (kube-sim has
    // no quotas): the condition, through the status subresource.
    let client = sim.sim.client().await.unwrap();
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let handle = tokio::runtime::Handle::current();
    let current = tokio::task::spawn_blocking({
        let api = api.clone();
        move || {
            testbed::wait_until(
                "the controller's first status",
                std::time::Duration::from_secs(10),
                || {
                    handle
                        .block_on(api.get("quota"))
                        .ok()
                        .filter(|d| d.status.as_ref().is_some_and(|s| s.conditions.is_some()))
                },
            )
        }
    })
    .await
    .unwrap()
    .unwrap();
    let mut conditions = serde_json::to_value(current.status.unwrap().conditions.unwrap()).unwrap();
    conditions.as_array_mut().unwrap().push(serde_json::json!({
        "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
        "message": "pods \"quota-1\" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=8, limited: cpu=8"}));
    api.patch_status(
        "quota",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": {"conditions": conditions}})),
    )
    .await
    .unwrap();
    // And the event the ReplicaSet controller records on the new ReplicaSet: it is what explains
    // a rollout with no pods at all.
    let replica_sets: Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        Api::namespaced(client.clone(), "default");
    let rs = replica_sets
        .list(&kube::api::ListParams::default().labels("app=quota"))
        .await
        .unwrap()
        .items
        .remove(0)
        .metadata
        .name
        .unwrap();
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, "default");
    let event = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "quota-failed-create", "namespace": "default"},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "namespace": "default"},
        "type": "Warning", "reason": "FailedCreate", "count": 1,
        "message": "Error creating: pods \"quota-2\" is forbidden: exceeded quota: compute",
        "lastTimestamp": "2026-11-23T10:00:00Z"}))
    .unwrap();
    events
        .create(&kube::api::PostParams::default(), &event)
        .await
        .unwrap();
    let run = tokio::task::spawn_blocking(move || {
        let run = sim.rollout_wait(&["deployment/quota", "--timeout", "30s"], None);
        drop(sim);
        run
    })
    .await
    .unwrap();
    run.assert_code(1);
    let quota = run.object("Deployment", "quota");
    assert_eq!(quota["reason"], "ReplicaFailure");
    assert!(
        quota["message"]
            .as_str()
            .unwrap()
            .contains("exceeded quota"),
        "{quota}"
    );
    assert!(
        quota["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["object"] == format!("replicaset/{rs}") && e["reason"] == "FailedCreate"),
        "the new ReplicaSet's events are shown: {quota}"
    );
}

#[test]
fn a_progress_deadline_is_a_failure_as_kubectl_says() {
    let sim = start(30.0);
    sim.apply(&deployment(
        "stuck",
        "default",
        "registry.example/app:never-ready",
        2,
        "  progressDeadlineSeconds: 30\n",
    ));
    let run = sim.rollout_wait(&["deployment/stuck", "--timeout", "60s"], None);
    run.assert_code(1);
    let stuck = run.object("Deployment", "stuck");
    assert_eq!(stuck["reason"], "ProgressDeadlineExceeded");
    assert_eq!(
        stuck["message"],
        "deployment \"stuck\" exceeded its progress deadline"
    );
    // The evidence: pods not ready, their readiness probe failing.
    assert!(
        stuck["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "Unhealthy"),
        "{stuck}"
    );
    assert!(
        Run::log_lines(stuck)
            .iter()
            .any(|l| l.contains("waiting for dependencies")),
        "{stuck}"
    );
    let (code, out) = sim.kubectl_rollout_status("deployment/stuck", "default", "20s");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(stuck["message"].as_str().unwrap()),
        "kubectl: {out}"
    );
}

fn stateful_set(image: &str, partition: Option<u32>) -> String {
    let strategy = partition.map_or_else(String::new, |p| {
        format!(
            "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {{partition: {p}}}\n"
        )
    });
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  replicas: 3
  serviceName: db
{strategy}  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec: {{containers: [{{name: db, image: '{image}'}}]}}
"
    )
}

#[test]
fn a_partitioned_stateful_set_rollout_agrees_with_kubectl() {
    let sim = start(20.0);
    sim.apply(&stateful_set("postgres:16.1", None));
    let run = sim.rollout_wait(&["statefulset/db", "--timeout", "60s"], None);
    run.assert_code(0);
    let (code, out) = sim.kubectl_rollout_status("statefulset/db", "default", "30s");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(run.object("StatefulSet", "db")["message"].as_str().unwrap()),
        "{out}"
    );

    // Only the pods at or above the partition (db-2) take the new revision.
    sim.apply(&stateful_set("postgres:16.2", Some(2)));
    let run = sim.rollout_wait(&["sts/db", "--timeout", "60s"], None);
    run.assert_code(0);
    let db = run.object("StatefulSet", "db");
    assert_eq!(
        db["message"],
        "partitioned roll out complete: 1 new pods have been updated..."
    );
    let (code, out) = sim.kubectl_rollout_status("statefulset/db", "default", "30s");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("partitioned roll out complete: 1 new pods have been updated..."),
        "{out}"
    );
    let images = sim.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=db",
        "-o",
        "jsonpath={.items[*].spec.containers[0].image}",
    ]);
    let images = String::from_utf8(images.stdout).unwrap();
    assert_eq!(images.matches("postgres:16.2").count(), 1, "{images}");
}

#[test]
fn a_crash_looping_stateful_set_fails_without_a_progress_deadline() {
    let sim = start(60.0);
    sim.apply(&stateful_set("registry.example/db:crashloop", None));
    assert_fails_fast(&sim, "statefulset/db", &["CrashLoopBackOff"], &[]);
    let (code, out) = sim.kubectl_rollout_status("statefulset/db", "default", "2s");
    assert_ne!(code, 0, "kubectl keeps waiting: {out}");
}

#[test]
fn a_daemon_set_agrees_with_kubectl() {
    let sim = start(10.0);
    sim.apply(
        "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: 'fluent-bit:3'}]}
",
    );
    let run = sim.rollout_wait(&["ds/agent", "--timeout", "60s"], None);
    run.assert_code(0);
    let agent = run.object("DaemonSet", "agent");
    assert_eq!(
        agent["message"],
        "daemon set \"agent\" successfully rolled out"
    );
    let (code, out) = sim.kubectl_rollout_status("daemonset/agent", "default", "30s");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(agent["message"].as_str().unwrap()), "{out}");
}

#[test]
fn a_daemon_set_spec_change_outside_the_template_still_judges_its_pods() {
    let sim = start(60.0);
    let agent = |max_unavailable: u32| {
        format!(
            "apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  updateStrategy: {{type: RollingUpdate, rollingUpdate: {{maxUnavailable: {max_unavailable}}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec: {{containers: [{{name: agent, image: 'registry.example/agent:crashloop'}}]}}
"
        )
    };
    sim.apply(&agent(1));
    // Generation 2, same template: the pods (pod-template-generation 1) are still the current
    // revision's, and their crash loop still fails the rollout.
    sim.apply(&agent(2));
    let generation = sim.kubectl(&[
        "get",
        "ds",
        "agent",
        "-o",
        "jsonpath={.metadata.generation}",
    ]);
    assert_eq!(String::from_utf8(generation.stdout).unwrap(), "2");
    assert_fails_fast(&sim, "daemonset/agent", &["CrashLoopBackOff"], &[]);
}

#[test]
fn a_paused_deployment_is_not_judged_by_the_old_replica_sets_pods() {
    let sim = start(1.0);
    sim.apply(&deployment(
        "api",
        "default",
        "registry.example/api:pull-error",
        1,
        "",
    ));
    assert_fails_fast(
        &sim,
        "deployment/api",
        &["ErrImagePull", "ImagePullBackOff"],
        &[],
    );
    // Paused with a good image (a rollback's template): no ReplicaSet runs it yet, and the
    // broken ReplicaSet's pods are not this rollout's. kubectl waits; so must rollout-wait.
    sim.apply(&deployment(
        "api",
        "default",
        "registry.example/api:1.0",
        1,
        "  paused: true\n",
    ));
    let run = sim.rollout_wait(&["deployment/api", "--timeout", "3s"], None);
    run.assert_code(124);
    let api = run.object("Deployment", "api");
    assert_eq!(api["status"], "timeout", "{api}");
    assert!(api.get("pods").is_none(), "no old pods as evidence: {api}");
    assert!(!run.stderr.contains("pull-error"), "{}", run.stderr);
    let (code, out) = sim.kubectl_rollout_status("deployment/api", "default", "2s");
    assert_ne!(code, 0, "kubectl: {out}");
    assert!(out.contains("Waiting for deployment"), "kubectl: {out}");
}

fn job(name: &str, image: &str, restart_policy: &str, backoff_limit: u32) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  backoffLimit: {backoff_limit}
  template:
    spec:
      restartPolicy: {restart_policy}
      containers: [{{name: task, image: '{image}'}}]
"
    )
}

#[test]
fn a_job_that_completes_is_healthy() {
    let sim = start(10.0);
    sim.apply(&job("migrate", "registry.example/migrate:1.0", "Never", 2));
    let run = sim.rollout_wait(&["job/migrate", "--timeout", "60s"], None);
    run.assert_code(0);
    assert_eq!(run.object("Job", "migrate")["reason"], "Complete");
}

#[test]
fn a_job_past_its_backoff_limit_fails_with_its_logs() {
    let sim = start(60.0);
    sim.apply(&job("migrate", "registry.example/migrate:fail", "Never", 1));
    let run = assert_fails_fast(&sim, "job/migrate", &["BackoffLimitExceeded"], &[]);
    let migrate = run.object("Job", "migrate");
    assert!(
        Run::log_lines(migrate)
            .iter()
            .any(|l| l.contains("exiting with status 1")),
        "{migrate}"
    );
}

#[test]
fn a_job_whose_on_failure_pods_keep_failing_fails_too() {
    let sim = start(60.0);
    sim.apply(&job(
        "seed",
        "registry.example/seed:crashloop",
        "OnFailure",
        2,
    ));
    // Whichever says it first, rollout-wait's count or the Job controller's Failed condition
    // (both apply the same rule at the same restart, and the controller then deletes the pod).
    let run = assert_fails_fast(&sim, "job/seed", &["BackoffLimitExceeded"], &[]);
    let message = run.object("Job", "seed")["message"].as_str().unwrap();
    assert!(
        message.contains("reaching its backoffLimit of 2")
            || message.contains("Job has reached the specified backoff limit"),
        "{message}"
    );

    // The same Job managed by another controller (`spec.managedBy`): the Job controller never
    // marks it Failed, so the verdict can only be rollout-wait's own count of the restarts.
    let sim = start(60.0);
    sim.apply(
        &job("seed", "registry.example/seed:crashloop", "OnFailure", 2).replace(
            "  backoffLimit:",
            "  managedBy: example.com/batch-runner\n  backoffLimit:",
        ),
    );
    let uid = sim.kubectl(&["get", "job", "seed", "-o", "jsonpath={.metadata.uid}"]);
    let uid = String::from_utf8(uid.stdout).unwrap();
    assert!(!uid.is_empty());
    sim.apply(&format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: seed-run
  labels: {{job-name: seed}}
  ownerReferences: [{{apiVersion: batch/v1, kind: Job, name: seed, uid: '{uid}', controller: true}}]
spec:
  restartPolicy: OnFailure
  containers: [{{name: task, image: 'registry.example/seed:crashloop'}}]
"
    ));
    let run = assert_fails_fast(&sim, "job/seed", &["BackoffLimitExceeded"], &[]);
    let message = run.object("Job", "seed")["message"].as_str().unwrap();
    assert_eq!(
        message,
        "job's containers have restarted 2 times (restartPolicy OnFailure), reaching its backoffLimit of 2"
    );
    let job = sim.kubectl(&["get", "job", "seed", "-o", "jsonpath={.status.conditions}"]);
    assert_eq!(
        String::from_utf8(job.stdout).unwrap(),
        "",
        "the Job controller left it alone"
    );
}

#[test]
fn a_load_balancer_service_and_an_ingress_wait_for_their_addresses() {
    let sim = start_with(Scenario {
        pace: Some(10.0),
        load_balancer_delay_seconds: Some(20),
        ..Scenario::default()
    });
    sim.apply(
        "apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: internal}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: shop.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: internal, port: {number: 80}}}}]}
",
    );
    let run = sim.rollout_wait(
        &["svc/web", "svc/internal", "ingress/web", "--timeout", "60s"],
        None,
    );
    run.assert_code(0);
    let web = run.object("Service", "web");
    assert!(
        web["message"]
            .as_str()
            .unwrap()
            .contains(".elb.us-east-1.amazonaws.com"),
        "{web}"
    );
    assert!(
        web["healthyAfterMs"].as_u64().unwrap() >= 1000,
        "waited for the address: {web}"
    );
    assert_eq!(run.object("Service", "internal")["reason"], "Present");
    assert_eq!(run.object("Ingress", "web")["reason"], "Assigned");
}

#[test]
fn a_watch_cut_mid_rollout_resumes_without_a_false_verdict() {
    let sim = start(10.0);
    sim.apply(&deployment(
        "web",
        "default",
        "registry.example/web:slow-20s",
        3,
        "",
    ));
    // Every watch stream ends after two events; the rollout needs many more.
    sim.faults(Faults {
        watch_cut_after_events: Some(2),
        ..Faults::default()
    });
    let run = sim.rollout_wait(&["deployment/web", "--timeout", "60s", "-v"], None);
    run.assert_code(0);
    let web = run.object("Deployment", "web");
    assert_eq!(web["status"], "healthy");
    assert!(
        web["healthyAfterMs"].as_u64().unwrap() >= 1000,
        "watched the rollout through: {web}"
    );
    let (code, out) = sim.kubectl_rollout_status("deployment/web", "default", "30s");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn an_api_outage_mid_rollout_is_ridden_out_without_a_false_verdict() {
    use std::io::BufRead;

    // The API server goes away while the pods become ready, and every watch is cut: the watches
    // must come back (with backoff, each failure a warning) and see the end of the rollout,
    // never reporting the Deployment missing or failed meanwhile. The test decides when each
    // thing happens: simulated time stands still (the pods stay unready) until rollout-wait has
    // seen the outage, the pods become ready while the API is still away, and only then does
    // the API come back. Nothing depends on how fast this machine is.
    let sim = start(10.0);
    sim.apply(&deployment(
        "web",
        "default",
        "registry.example/web:slow-30s",
        3,
        "",
    ));
    sim.sim.clock().set_pace(1e-9);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rollout-wait"))
        .args(["deployment/web", "--timeout", "120s"])
        .env_clear()
        .env("KUBECONFIG", sim.kubeconfig())
        .env("HOME", sim.dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut read_until = |needle: &str, seen: &mut String| {
        while !seen.contains(needle) {
            assert!(
                stderr.read_line(seen).unwrap() > 0,
                "rollout-wait ended before printing {needle:?}:\n{seen}"
            );
        }
    };
    // Its first progress line: it has listed, and is watching an unfinished rollout.
    read_until("deployment/web: ", &mut seen);
    // The API goes away until the test brings it back, and every watch is cut.
    sim.faults(Faults {
        down_for_ms: Some(600_000),
        watch_cut_after_events: Some(1),
        watch_cut_after_ms: Some(200),
        ..Faults::default()
    });
    read_until("resuming the watch", &mut seen);
    // The rollout finishes while the API is away.
    sim.sim.clock().set_pace(10.0);
    sim.sim.clock().advance(std::time::Duration::from_secs(40));
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while !deployment_ready(&sim, "web", 3) {
        assert!(
            std::time::Instant::now() < deadline,
            "the simulated rollout did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sim.faults(Faults {
        watch_cut_after_events: Some(1),
        watch_cut_after_ms: Some(200),
        ..Faults::default()
    });
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = seen + &rest;
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{doc:#}\n{stderr}");
    let web = &doc["objects"][0];
    assert_eq!(web["status"], "healthy", "{web}");
    assert!(
        !stderr.contains("NotFound") && !stderr.contains("web: failed"),
        "{stderr}"
    );
    sim.faults(Faults::default());
    let (code, out) = sim.kubectl_rollout_status("deployment/web", "default", "30s");
    assert_eq!(code, 0, "{out}");
}

/// Whether the simulator's own store says the Deployment has `replicas` ready (read in process,
/// so it works while the API is down).
fn deployment_ready(sim: &Sim, name: &str, replicas: i64) -> bool {
    let simulator = sim.sim.sim();
    let store = simulator.store();
    let Some(resource) = store.registry().by_kind("apps/v1", "Deployment").cloned() else {
        return false;
    };
    let key = kube_sim::store::ObjectKey::new(&resource, "default", name);
    store.get(&key).is_some_and(|d| {
        d.pointer("/status/readyReplicas")
            .and_then(serde_json::Value::as_i64)
            == Some(replicas)
            && d.pointer("/status/updatedReplicas")
                .and_then(serde_json::Value::as_i64)
                == Some(replicas)
    })
}

#[test]
fn a_kind_never_listed_times_out_saying_so_not_missing() {
    let sim = start(10.0);
    sim.apply(&deployment("web", "default", "nginx:1.25", 1, ""));
    // The server does not serve apps/v1beta1: the first list of that watch never comes.
    let doc = upstream(None, &[("apps/v1beta1", "Deployment", "default", "web")]);
    let run = sim.rollout_wait(&["--timeout", "2s"], Some(&doc));
    run.assert_code(124);
    let web = run.object("Deployment", "web");
    assert_eq!(web["status"], "timeout");
    assert_eq!(web["reason"], "NotListed");
    assert_eq!(
        web["message"],
        "not listed yet (watch of deployments in namespace default)"
    );
}

#[test]
fn bursts_of_503_are_ridden_out() {
    let sim = start(10.0);
    sim.apply(&deployment(
        "web",
        "default",
        "registry.example/web:slow-10s",
        2,
        "",
    ));
    sim.faults(Faults {
        error_fraction: 0.3,
        error_status: Some(503),
        ..Faults::default()
    });
    let run = sim.rollout_wait(&["deployment/web", "--timeout", "60s"], None);
    run.assert_code(0);
    assert!(sim.sim.faults().injected() > 0, "faults were injected");
    assert!(
        run.stderr.contains("503"),
        "the bursts are reported: {}",
        run.stderr
    );
}

#[test]
fn a_timeout_exits_124_with_each_objects_last_state() {
    let sim = start(1.0);
    sim.apply(&deployment("web", "default", "nginx:1.25", 1, ""));
    sim.apply(&deployment(
        "stuck",
        "default",
        "registry.example/app:never-ready",
        1,
        "",
    ));
    // Only `stuck` may be pending when the timeout runs out: `web` is rolled out first.
    let (code, out) = sim.kubectl_rollout_status("deployment/web", "default", "30s");
    assert_eq!(code, 0, "{out}");
    let run = sim.rollout_wait(
        &["deployment/web", "deployment/stuck", "--timeout", "4s"],
        None,
    );
    run.assert_code(124);
    assert_eq!(run.doc["error"]["kind"], "timeout");
    assert_eq!(run.object("Deployment", "web")["status"], "healthy");
    let stuck = run.object("Deployment", "stuck");
    assert_eq!(stuck["status"], "timeout");
    assert!(
        stuck["message"]
            .as_str()
            .unwrap()
            .starts_with("Waiting for deployment \"stuck\""),
        "{stuck}"
    );
    assert_eq!(stuck["pods"][0]["containers"][0]["state"], "running");
    let pending = run.doc["error"]["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0]
            .as_str()
            .unwrap()
            .starts_with("deployment/stuck: "),
        "{pending:?}"
    );
    assert!(
        run.doc["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("timed out after 4s")
    );
}

#[test]
fn the_upstream_documents_objects_are_watched_in_order() {
    let sim = start(10.0);
    sim.apply(&namespace("shop"));
    sim.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api-config, namespace: shop}\ndata: {a: b}\n");
    sim.apply(&deployment(
        "api",
        "shop",
        "registry.example/api:1.0",
        2,
        "",
    ));
    let doc = upstream(
        None,
        &[
            ("v1", "ConfigMap", "shop", "api-config"),
            ("apps/v1", "Deployment", "shop", "api"),
        ],
    );
    let run = sim.rollout_wait(&["--timeout", "60s"], Some(&doc));
    run.assert_code(0);
    let kinds: Vec<&str> = run.doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment"]);
    assert_eq!(run.object("ConfigMap", "api-config")["reason"], "Present");
    assert!(run.doc.get("release").is_none());
}

#[test]
fn kinds_with_a_selector_watch_every_match() {
    let sim = start(10.0);
    for name in ["a", "b"] {
        sim.apply(&deployment(name, "default", "nginx:1.25", 1, "").replace(
            &format!("labels: {{app: {name}}}}}"),
            &format!("labels: {{app: {name}, tier: web}}}}"),
        ));
    }
    sim.apply(&deployment("other", "default", "nginx:1.25", 1, ""));
    let run = sim.rollout_wait(&["deployments", "-l", "tier=web", "--timeout", "60s"], None);
    run.assert_code(0);
    let names: Vec<&str> = run.doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn under_github_actions_the_wait_is_grouped_and_summarised() {
    let sim = start(10.0);
    sim.apply(&deployment("web", "default", "nginx:1.25", 1, ""));
    sim.apply(&deployment(
        "bad",
        "default",
        "registry.example/bad:pull-error",
        1,
        "",
    ));
    let summary = sim.dir.path().join("summary.md");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let run = sim.rollout_wait_env(
        &["deployment/web", "deployment/bad", "--timeout", "60s"],
        None,
        &env,
    );
    run.assert_code(1);
    assert!(
        run.stderr.contains("::group::rollout-wait: 2 objects"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("::endgroup::"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("::error title=rollout-wait failed (failed)::deployment/bad failed: "),
        "{}",
        run.stderr
    );
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.contains("| object | namespace | status | reason | healthy after | details |"),
        "{table}"
    );
    assert!(
        table.contains("| deployment/bad | default | degraded | ErrImagePull |")
            || table.contains("| deployment/bad | default | degraded | ImagePullBackOff |"),
        "{table}"
    );
    assert!(table.contains("| deployment/web | default |"), "{table}");
}

#[test]
fn on_a_terminal_the_progress_is_one_block_redrawn_in_place() {
    // `script` (util-linux) gives the tool a terminal; without it there is nothing to test.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: no `script` to run rollout-wait on a terminal");
        return;
    }
    let sim = start(10.0);
    // Simulated time stands still until rollout-wait has drawn its first block, so the rollout
    // cannot finish before the tool starts watching however slow this machine is.
    sim.sim.clock().set_pace(1e-9);
    sim.apply(&deployment(
        "a",
        "default",
        "registry.example/a:slow-10s",
        2,
        "",
    ));
    sim.apply(&deployment("b", "default", "nginx:1.25", 1, ""));
    let command = format!(
        "{} deployment/a deployment/b --timeout 60s",
        env!("CARGO_BIN_EXE_rollout-wait")
    );
    let script = |no_color: bool, term: &str| {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", sim.dir.path())
            .env("KUBECONFIG", sim.kubeconfig())
            .env("TERM", term)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped());
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        cmd.spawn().unwrap()
    };
    let finish = |child: std::process::Child, mut screen: Vec<u8>| {
        let output = child.wait_with_output().unwrap();
        screen.extend_from_slice(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(screen).unwrap()
    };
    let run = |no_color: bool, term: &str| finish(script(no_color, term), Vec::new());

    let mut child = script(false, "xterm");
    let mut first = Vec::new();
    {
        use std::io::Read;
        let stdout = child.stdout.as_mut().unwrap();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&first).contains("deployment/b") {
            let n = stdout.read(&mut chunk).unwrap();
            assert!(
                n > 0,
                "rollout-wait ended before drawing its block: {first:?}"
            );
            first.extend_from_slice(&chunk[..n]);
        }
    }
    sim.sim.clock().set_pace(10.0);
    let screen = finish(child, first);
    assert!(
        screen.contains("\x1b[2A"),
        "the two lines are redrawn: {screen:?}"
    );
    assert!(
        screen.contains("\x1b[1mdeployment/a\x1b[0m: healthy after"),
        "{screen:?}"
    );
    assert!(
        !screen.contains("deployment/a: 2/2 updated"),
        "no plain lines: {screen:?}"
    );
    // A terminal document is pretty-printed, as the stage contract says.
    assert!(screen.contains("\"ok\": true"), "{screen:?}");
    let plain = run(true, "xterm");
    assert!(!plain.contains("\x1b[1m"), "NO_COLOR: {plain:?}");
    // A dumb terminal cannot redraw: one plain line per change, as in a pipe.
    let dumb = run(false, "dumb");
    assert!(!dumb.contains("\x1b[2A"), "TERM=dumb: {dumb:?}");
    assert!(dumb.contains("deployment/b: healthy after"), "{dumb:?}");
}

#[test]
fn definitions_custom_resources_and_claims_from_the_upstream_document() {
    let sim = start(10.0);
    sim.apply(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
",
    );
    sim.apply(
        "apiVersion: example.com/v1
kind: Widget
metadata: {name: gizmo}
spec: {size: 3}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
",
    );
    let doc = upstream(
        None,
        &[
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "",
                "widgets.example.com",
            ),
            ("example.com/v1", "Widget", "default", "gizmo"),
            ("v1", "PersistentVolumeClaim", "default", "data"),
        ],
    );
    let run = sim.rollout_wait(&["--timeout", "60s"], Some(&doc));
    run.assert_code(0);
    let crd = run.object("CustomResourceDefinition", "widgets.example.com");
    assert_eq!(crd["reason"], "Established");
    assert!(crd.get("namespace").is_none(), "cluster-scoped: {crd}");
    // A kind the tool has no table entry for: found by discovery, healthy once present.
    let widget = run.object("Widget", "gizmo");
    assert_eq!(
        (widget["reason"].as_str(), widget["namespace"].as_str()),
        (Some("Present"), Some("default"))
    );
    assert_eq!(
        run.object("PersistentVolumeClaim", "data")["reason"],
        "Bound"
    );

    // A custom resource that does not exist yet is waited for, not refused.
    let doc = upstream(None, &[("example.com/v1", "Widget", "default", "later")]);
    let run = sim.rollout_wait(&["--timeout", "1s"], Some(&doc));
    run.assert_code(124);
    assert_eq!(run.object("Widget", "later")["reason"], "NotFound");
}
