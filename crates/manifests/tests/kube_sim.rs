//! Each overlay deployed to kube-sim as the pipeline deploys it, with the real binaries:
//!
//! ```sh
//! k8s-apply init-cluster --env ENV
//! kubectl kustomize manifests/k8s/local | k8s-apply -f -          # the add-ons' CRD
//! kubectl create secret generic cloudtolocalllm-database …        # what the operator would make
//! kubectl kustomize manifests/k8s/overlays/ENV \
//!   | k8s-apply -f - --release cloudtolocalllm -n cloudtolocalllm --env ENV --set-image … \
//!   | rollout-wait
//! ```
//!
//! It must end healthy: exit 0, the revision `deployed`, every workload rolled out at its
//! environment's replica count (kubectl agrees), and the database password nowhere in the output.
//!
//! Needs k8s-apply and rollout-wait built beside this test (`cargo build -p k8s-apply -p
//! rollout-wait`, or the whole workspace).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kube_sim::{Config, KubeSim, Scenario};
use serde_json::Value;

const NAMESPACE: &str = "cloudtolocalllm";
const PASSWORD: &str = "kube-sim-only-db-password-4f1c";
const TAG: &str = "3f2a9c1";

struct Cluster {
    sim: KubeSim,
    home: tempfile::TempDir,
    kubectl: PathBuf,
}

impl Cluster {
    fn start(kubectl: PathBuf) -> Self {
        let sim = KubeSim::start(Config {
            scenario: Scenario {
                // Simulated minutes pass in real seconds: pods start, probes pass, the ALB's
                // address arrives, without the test waiting for wall-clock time.
                pace: Some(60.0),
                ..Scenario::default()
            },
            ..Config::default()
        })
        .expect("kube-sim starts");
        Self {
            sim,
            home: tempfile::tempdir().unwrap(),
            kubectl,
        }
    }

    /// A command with the environment a pipeline step has: PATH, HOME and KUBECONFIG only.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("KUBECONFIG", self.sim.kubeconfig_path())
            .env("KUBECACHEDIR", self.home.path().join("kube-cache"));
        cmd
    }

    #[track_caller]
    fn run_ok(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{} {args:?}: {}\n{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.run_ok(&self.kubectl.clone(), args, None)
    }

    /// What the cluster's add-ons provide before the app's first deploy.
    fn prepare(&self, env: &str) {
        let k8s_apply = testbed::workspace_bin("k8s-apply");
        self.run_ok(&k8s_apply, &["init-cluster", "--env", env], None);
        let local = manifests::render::render_yaml(
            &self.kubectl,
            &manifests::manifests_dir().join("local"),
        )
        .unwrap();
        self.run_ok(&k8s_apply, &["-f", "-"], Some(&local));
        // The External Secrets operator's part: the Secret the ExternalSecret names.
        self.kubectl(&["create", "namespace", NAMESPACE]);
        self.kubectl(&[
            "create",
            "secret",
            "generic",
            "cloudtolocalllm-database",
            "-n",
            NAMESPACE,
            "--from-literal=POSTGRES_USER=cloudtolocalllm",
            &format!("--from-literal=POSTGRES_PASSWORD={PASSWORD}"),
            "--from-literal=POSTGRES_DB=cloudtolocalllm",
        ]);
    }

    /// The deploy, as one shell command line: render | k8s-apply | rollout-wait.
    fn deploy(&self, env: &str) -> (i32, Value, String) {
        let script = r#""$KUBECTL_BIN" kustomize "$OVERLAY" \
            | "$K" -f - --release cloudtolocalllm -n cloudtolocalllm --env "$ENVIRONMENT" \
                --set-image "web=docker.io/cloudtolocalllm/web:$TAG" \
                --set-image "api=docker.io/cloudtolocalllm/api:$TAG" \
            | "$R" --timeout 120s"#;
        let output = self
            .command(Path::new("sh"))
            .arg("-c")
            .arg(script)
            .env("KUBECTL_BIN", &self.kubectl)
            .env("OVERLAY", manifests::overlay_dir(env))
            .env("ENVIRONMENT", env)
            .env("TAG", TAG)
            .env("K", testbed::workspace_bin("k8s-apply"))
            .env("R", testbed::workspace_bin("rollout-wait"))
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        let doc: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not one document ({e}): {stdout}\n{stderr}"));
        assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
        (output.status.code().unwrap_or(-1), doc, stderr)
    }

    fn jsonpath(&self, what: &str, path: &str) -> String {
        let out = self.kubectl(&[
            "get",
            what,
            "-n",
            NAMESPACE,
            "-o",
            &format!("jsonpath={path}"),
        ]);
        String::from_utf8(out.stdout).unwrap()
    }
}

fn deploys_healthy(env: &str, replicas: u64) {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    let cluster = Cluster::start(kubectl);
    cluster.prepare(env);
    let (code, doc, stderr) = cluster.deploy(env);
    assert_eq!(code, 0, "{env}: {doc:#}\n{stderr}");
    testbed::schema::assert_valid("rollout-wait", &doc);
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert_eq!(doc["releaseStatus"], "deployed");
    assert_eq!(doc["revision"], 1);
    let objects = doc["objects"].as_array().unwrap();
    for (kind, name) in [
        ("Deployment", "web"),
        ("Deployment", "api"),
        ("StatefulSet", "postgres"),
        ("Ingress", "cloudtolocalllm"),
        ("ExternalSecret", "cloudtolocalllm-database"),
    ] {
        let report = objects
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .unwrap_or_else(|| panic!("{env}: rollout-wait did not watch {kind}/{name}: {doc:#}"));
        assert_eq!(report["status"], "healthy", "{env}: {report:#}");
    }

    // kubectl's view agrees: every workload rolled out, at the environment's size, running the
    // commit's images.
    for workload in ["deployment/web", "deployment/api", "statefulset/postgres"] {
        cluster.kubectl(&[
            "rollout",
            "status",
            workload,
            "-n",
            NAMESPACE,
            "--timeout=30s",
        ]);
    }
    for name in ["web", "api"] {
        let ready = cluster.jsonpath(&format!("deployment/{name}"), "{.status.readyReplicas}");
        assert_eq!(ready, replicas.to_string(), "{env}: {name}");
        let image = cluster.jsonpath(
            &format!("deployment/{name}"),
            "{.spec.template.spec.containers[0].image}",
        );
        assert_eq!(image, format!("docker.io/cloudtolocalllm/{name}:{TAG}"));
    }
    let label = cluster.kubectl(&[
        "get",
        "namespace",
        NAMESPACE,
        "-o",
        "jsonpath={.metadata.labels.pipewright\\.dev/environment}",
    ]);
    assert_eq!(String::from_utf8(label.stdout).unwrap(), env);
}

#[test]
fn development_deploys_healthy() {
    deploys_healthy("development", 1);
}

#[test]
fn staging_deploys_healthy() {
    deploys_healthy("staging", 2);
}

#[test]
fn production_deploys_healthy() {
    deploys_healthy("production", 3);
}
