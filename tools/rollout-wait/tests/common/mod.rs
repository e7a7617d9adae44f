//! Test harness: a kube-sim per test, the `rollout-wait` binary run from a cleared environment
//! (PATH, HOME, KUBECONFIG only) as a pipeline step would run it, and the real kubectl against the
//! same simulator for creating objects and for cross-checking verdicts with `rollout status`.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kube_sim::controllers::behaviour::Rule;
use kube_sim::{Config, Faults, KubeSim, Scenario};
use serde_json::Value;

/// A simulator and a scratch directory (kubectl's HOME and discovery cache).
pub struct Sim {
    pub sim: KubeSim,
    pub dir: tempfile::TempDir,
}

/// A simulator whose time runs `pace` times as fast as real time.
pub fn start(pace: f64) -> Sim {
    start_with(Scenario {
        pace: Some(pace),
        ..Scenario::default()
    })
}

pub fn start_with(scenario: Scenario) -> Sim {
    let sim = KubeSim::start(Config {
        scenario,
        ..Config::default()
    })
    .expect("kube-sim starts");
    Sim {
        sim,
        dir: tempfile::tempdir().unwrap(),
    }
}

/// A finished run of rollout-wait.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub doc: Value,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "document: {:#}\nstderr:\n{}",
            self.doc, self.stderr
        );
        self
    }

    /// The report of `kind/name`.
    #[track_caller]
    pub fn object(&self, kind: &str, name: &str) -> &Value {
        self.doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name} in {:#}", self.doc))
    }

    /// Every log line of every container of every pod in `object`'s report.
    pub fn log_lines(object: &Value) -> Vec<String> {
        object["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["containers"].as_array().cloned().unwrap_or_default())
            .flat_map(|c| c["logs"].as_array().cloned().unwrap_or_default())
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect()
    }
}

impl Sim {
    pub fn kubeconfig(&self) -> &Path {
        self.sim.kubeconfig_path()
    }

    /// Runs rollout-wait with `args` and `stdin` (none: an empty stdin, "no upstream").
    pub fn rollout_wait(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.rollout_wait_env(args, stdin, &[])
    }

    pub fn rollout_wait_env(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Run {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_rollout-wait"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.kubeconfig())
            .args(args)
            .write_stdin(stdin.unwrap_or(""));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let output = cmd.output().unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        let doc: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not one document ({e}): {stdout}\n{stderr}"));
        testbed::schema::assert_valid("rollout-wait", &doc);
        Run {
            code: output.status.code().unwrap_or(-1),
            doc,
            stderr,
        }
    }

    fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl());
        cmd.args(args)
            .arg("--request-timeout=30s")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.kubeconfig())
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"));
        cmd
    }

    /// Runs kubectl, returning its output whatever the exit status.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_command(args).output().expect("kubectl runs")
    }

    /// `kubectl apply -f -` with `yaml`; fails the test unless it succeeded.
    pub fn apply(&self, yaml: &str) {
        let mut child = self
            .kubectl_command(&["apply", "--server-side", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// kubectl's verdict: `kubectl rollout status OBJECT --timeout=…` → (exit code, output).
    pub fn kubectl_rollout_status(
        &self,
        object: &str,
        namespace: &str,
        timeout: &str,
    ) -> (i32, String) {
        let output = self.kubectl(&[
            "rollout",
            "status",
            object,
            "-n",
            namespace,
            &format!("--timeout={timeout}"),
        ]);
        (
            output.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    }

    pub fn faults(&self, faults: Faults) {
        self.sim.faults().set(faults);
    }

    pub fn behaviour(&self, rule: Rule) {
        self.sim.sim().behaviours.push(rule);
    }
}

pub fn kubectl() -> PathBuf {
    std::env::var_os("KUBECTL").map_or_else(|| PathBuf::from("kubectl"), PathBuf::from)
}

/// A Deployment of `replicas` pods running `image`, with extra `spec` lines (indented by two).
pub fn deployment(
    name: &str,
    namespace: &str,
    image: &str,
    replicas: u32,
    extra_spec: &str,
) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {name}}}}}
spec:
  replicas: {replicas}
{extra_spec}  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: {image}
"
    )
}

/// A namespace object.
pub fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
}

/// An upstream document as k8s-apply prints it, for `objects` given as (apiVersion, kind,
/// namespace, name).
pub fn upstream(release: Option<(&str, u32)>, objects: &[(&str, &str, &str, &str)]) -> String {
    let objects: Vec<Value> = objects
        .iter()
        .map(|(api_version, kind, namespace, name)| {
            serde_json::json!({"apiVersion": api_version, "kind": kind, "namespace": namespace,
                "name": name, "uid": "", "resourceVersion": "1", "action": "configured"})
        })
        .collect();
    let mut doc = serde_json::json!({"ok": true, "tool": "k8s-apply",
        "schema": "pipewright.dev/k8s-apply/v1", "dryRun": false, "objects": objects});
    if let Some((name, revision)) = release {
        doc["release"] = name.into();
        doc["revision"] = revision.into();
    }
    doc.to_string()
}
