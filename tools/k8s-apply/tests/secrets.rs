//! Secrets of a child process never leak through k8s-apply (issue 12, Secrets 1): the kubeconfig's
//! exec plugin is the real `eks-token`, failing under `GITHUB_ACTIONS=true` after it learned an
//! AWS secret key (`--role-arn` with STS unreachable). kube-client quotes the plugin's output in
//! its error; whatever k8s-apply makes of that error (stdout document, stderr annotation, step
//! summary, the failed revision's record in the cluster) must not show the key.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube_sim::{Config, KubeSim};

/// An AWS secret access key's shape (40 characters, mixed case and digits): what leaked.
const AWS_SECRET: &str = "Zq8vPd3LxN7rT1kW9mYb4HcJ2sFgE6uAo5iRtV0e";

/// Consecutive failing calls: more than k8s-apply's attempts at one request (6), so the request
/// fails for good.
const FAILURES: u32 = 6;

/// A plugin that answers with kube-sim's token (already expired, so kube-rs runs the plugin again
/// for every request) except on calls `fail_at` to `fail_at + FAILURES - 1`, where it runs the real
/// eks-token, which fails. The count lives in a file beside the script.
fn plugin(dir: &Path, sim_token: &str, fail_at: u32) -> String {
    let script = dir.join("plugin.sh");
    let count = dir.join("calls");
    std::fs::write(&count, "0").unwrap();
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/bash
set -euo pipefail
n=$(( $(cat '{count}') + 1 ))
echo "$n" > '{count}'
if [ "$n" -ge {fail_at} ] && [ "$n" -lt $(( {fail_at} + {FAILURES} )) ]; then
  exec '{eks}' token --cluster prod --region eu-west-1 --no-cache \
    --role-arn arn:aws:iam::123456789012:role/deploy
fi
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s","expirationTimestamp":"2000-01-01T00:00:00Z"}}}}\n' '{sim_token}'
"#,
            count = count.display(),
            eks = testbed::workspace_bin("eks-token").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script.display().to_string()
}

/// kube-sim's kubeconfig with its user replaced by the exec plugin, which gets AWS keys and an
/// STS endpoint nobody listens on.
fn kubeconfig(sim: &KubeSim, dir: &Path, fail_at: u32) -> std::path::PathBuf {
    let text = std::fs::read_to_string(sim.kubeconfig_path()).unwrap();
    let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let command = plugin(dir, sim.token().unwrap(), fail_at);
    config["users"][0]["user"] = serde_yaml_ng::from_str(&format!(
        r#"
exec:
  apiVersion: client.authentication.k8s.io/v1
  interactiveMode: Never
  command: {command}
  env:
    - {{name: AWS_ACCESS_KEY_ID, value: AKIAIOSFODNN7EXAMPLE}}
    - {{name: AWS_SECRET_ACCESS_KEY, value: {AWS_SECRET}}}
    - {{name: AWS_ENDPOINT_URL_STS, value: "http://127.0.0.1:9"}}
    - {{name: AWS_CONFIG_FILE, value: /dev/null}}
    - {{name: AWS_SHARED_CREDENTIALS_FILE, value: /dev/null}}
    - {{name: XDG_CACHE_HOME, value: {cache}}}
"#,
        cache = dir.join("cache").display()
    ))
    .unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    path
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    summary: String,
}

fn k8s_apply(kubeconfig: &Path, dir: &Path, manifests: &Path) -> Outcome {
    let summary = dir.join("summary.md");
    let output = Command::new(env!("CARGO_BIN_EXE_k8s-apply"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("KUBECONFIG", kubeconfig)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["--release", "web", "--namespace", "default", "-f"])
        .arg(manifests)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&summary).unwrap_or_default();
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        summary: text,
    }
}

/// Every Secret's data in the namespace, release records decoded (gzipped JSON with the system's
/// gzip, which keeps flate2 out of the dev-dependencies), read with kube-sim's admin token.
async fn cluster_secrets(sim: &KubeSim) -> Vec<String> {
    let client = sim.client().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    let mut out = Vec::new();
    for secret in secrets.list(&ListParams::default()).await.unwrap() {
        for bytes in secret.data.unwrap_or_default().into_values() {
            out.push(
                gunzip(&bytes.0).unwrap_or_else(|| String::from_utf8_lossy(&bytes.0).into_owned()),
            );
        }
    }
    out
}

fn gunzip(bytes: &[u8]) -> Option<String> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

const MANIFESTS: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: one}
data: {a: '1'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: two}
data: {a: '2'}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: three}
data: {a: '3'}
";

fn assert_nowhere(what: &str, outcome: &Outcome, cluster: &[String]) {
    for (place, text) in [
        ("stdout", &outcome.stdout),
        ("stderr", &outcome.stderr),
        ("the step summary", &outcome.summary),
    ] {
        assert!(
            !text.contains(AWS_SECRET),
            "{what}: the AWS secret key is in {place}:\n{text}"
        );
    }
    for data in cluster {
        assert!(
            !data.contains(AWS_SECRET),
            "{what}: the AWS secret key is stored in the cluster:\n{data}"
        );
    }
}

/// The plugin fails on its first call: k8s-apply cannot reach the cluster (exit 3) and says why,
/// quoting the plugin's failure, without the key the plugin had.
#[tokio::test]
async fn a_failing_exec_plugin_leaks_no_secret() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("set.yaml");
    std::fs::write(&manifests, MANIFESTS).unwrap();
    let config = kubeconfig(&sim, dir.path(), 1);
    let outcome = k8s_apply(&config, dir.path(), &manifests);
    assert_ne!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert!(
        outcome.stdout.contains("eks-token") || outcome.stdout.contains("exec"),
        "the document says the plugin failed: {}",
        outcome.stdout
    );
    assert!(
        outcome.summary.contains("k8s-apply failed"),
        "the step summary was written: {:?}",
        outcome.summary
    );
    assert_nowhere("first call", &outcome, &cluster_secrets(&sim).await);
}

/// The plugin fails in the middle of the apply, after the revision was recorded, then works again:
/// k8s-apply marks the revision failed with the error, which must reach the record scrubbed.
/// Which request falls where depends on k8s-apply's sequence, so call numbers from the end
/// backwards are tried on a fresh cluster until one leaves a failed revision with a message.
#[tokio::test]
async fn a_plugin_failing_mid_apply_leaks_no_secret_into_the_record() {
    // A clean run first, to count the plugin's calls.
    let total = {
        let sim = KubeSim::start(Config::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let manifests = dir.path().join("set.yaml");
        std::fs::write(&manifests, MANIFESTS).unwrap();
        let config = kubeconfig(&sim, dir.path(), u32::MAX);
        let outcome = k8s_apply(&config, dir.path(), &manifests);
        assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
        std::fs::read_to_string(dir.path().join("calls"))
            .unwrap()
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    for fail_at in (2..total.saturating_sub(1)).rev() {
        let sim = KubeSim::start(Config::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let manifests = dir.path().join("set.yaml");
        std::fs::write(&manifests, MANIFESTS).unwrap();
        let config = kubeconfig(&sim, dir.path(), fail_at);
        let outcome = k8s_apply(&config, dir.path(), &manifests);
        let cluster = cluster_secrets(&sim).await;
        assert_nowhere(
            &format!("failing call {fail_at} of {total}"),
            &outcome,
            &cluster,
        );
        let failed_with_message = cluster
            .iter()
            .any(|r| r.contains("\"status\":\"failed\"") && r.contains("\"message\""));
        if failed_with_message {
            assert_ne!(outcome.code, 0);
            return;
        }
    }
    panic!("no call number of {total} left a failed revision with a message");
}

/// A kubeconfig that turns certificate checks off gets a warning (issue 12, Secrets 5).
#[test]
fn insecure_skip_tls_verify_is_warned_about() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sim.kubeconfig_path()).unwrap();
    let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let cluster = config["clusters"][0]["cluster"].as_mapping_mut().unwrap();
    cluster.remove("certificate-authority-data");
    cluster.remove("certificate-authority");
    cluster.insert("insecure-skip-tls-verify".into(), true.into());
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    let manifests = dir.path().join("set.yaml");
    std::fs::write(&manifests, MANIFESTS).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_k8s-apply"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("KUBECONFIG", &path)
        .args(["--dry-run=server", "-f"])
        .arg(&manifests)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: the kubeconfig sets insecure-skip-tls-verify"),
        "{stderr}"
    );
}
