//! The evidence rollout-wait prints (log lines, container and event messages) against kube-sim,
//! with the real binary and no release record (issue 12, item 2): the values of the Secrets the
//! workload uses are masked wherever they appear, a huge log line is cut, and `--log-lines` is
//! bounded.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Run, namespace, start};
use kube_sim::controllers::behaviour::{Behaviour, Rule};

const NS: &str = "evidence";
/// The database password the container prints; registered from nowhere but the cluster.
const PASSWORD: &str = "pw-7f3a9c2e51d04b68";
/// A line of a PEM key in a volume-mounted Secret, printed on its own.
const KEY_LINE: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
/// A token from a Secret used with envFrom.
const TOKEN: &str = "tok_live_51HqLyjWDarjtT1zdp7dc";

fn workload() -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: {NS}}}
stringData: {{password: {PASSWORD}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: tls, namespace: {NS}}}
stringData:
  tls.key: |
    -----BEGIN PRIVATE KEY-----
    {KEY_LINE}
    -----END PRIVATE KEY-----
---
apiVersion: v1
kind: Secret
metadata: {{name: api-env, namespace: {NS}}}
stringData: {{API_TOKEN: {TOKEN}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: {NS}, labels: {{app: api}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
      - name: api
        image: registry.example/api:2.0
        env:
        - name: DB_PASSWORD
          valueFrom: {{secretKeyRef: {{name: db, key: password}}}}
        envFrom:
        - secretRef: {{name: api-env}}
        volumeMounts:
        - {{name: tls, mountPath: /tls}}
      volumes:
      - name: tls
        projected:
          sources:
          - secret: {{name: tls}}
"
    )
}

#[test]
fn secrets_the_workload_uses_are_masked_and_huge_lines_cut_without_a_release() {
    let sim = start(60.0);
    sim.apply(&namespace(NS));
    let huge = format!("dump: {}", "x".repeat(200_000));
    sim.behaviour(
        Rule::image("registry.example/api:*", Behaviour::CrashLoop).with_logs([
            format!("connecting to postgres://api:{PASSWORD}@db:5432/app"),
            KEY_LINE.to_owned(),
            format!("API_TOKEN={TOKEN}"),
            huge,
            "panic: cannot start".to_owned(),
        ]),
    );
    sim.apply(&workload());

    // KIND/NAME mode: no upstream document, no release record to learn Secrets from.
    let run = sim.rollout_wait(
        &[
            "deployment/api",
            "-n",
            NS,
            "--max-restarts",
            "1",
            "--timeout",
            "2m",
        ],
        None,
    );
    run.assert_code(1);
    let stdout = run.doc.to_string();
    for secret in [PASSWORD, KEY_LINE, TOKEN] {
        assert!(!stdout.contains(secret), "{secret} in stdout: {stdout}");
        assert!(
            !run.stderr.contains(secret),
            "{secret} on stderr: {}",
            run.stderr
        );
    }
    let lines = Run::log_lines(run.object("Deployment", "api"));
    assert!(
        lines
            .iter()
            .any(|l| l == "connecting to postgres://api:***@db:5432/app"),
        "the line is shown, masked: {lines:?}"
    );
    assert!(lines.iter().any(|l| l == "API_TOKEN=***"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l == "panic: cannot start"),
        "{lines:?}"
    );
    let cut = lines
        .iter()
        .find(|l| l.starts_with("dump: xxx"))
        .expect("the huge line is shown, cut");
    assert!(cut.ends_with("… (truncated)"), "{}", &cut[cut.len() - 40..]);
    assert!(cut.len() < 2 * 1024 + 64, "{} bytes", cut.len());
    assert!(stdout.len() < 64 * 1024, "report of {} bytes", stdout.len());
}

#[test]
fn log_lines_out_of_range_is_exit_2() {
    let sim = start(1.0);
    // A short timeout, so that a rollout-wait that took the value fails the test quickly.
    let run = sim.rollout_wait(
        &["deployment/api", "--log-lines", "100000", "--timeout", "5s"],
        None,
    );
    run.assert_code(2);
    let message = run.doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("--log-lines") && message.contains("1000"),
        "{message}"
    );
}
