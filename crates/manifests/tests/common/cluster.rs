//! A kube-sim with the cluster setup the app needs, and the pipeline's commands against it: the
//! deploy (`kubectl kustomize | k8s-apply | rollout-wait`) and the rollback, run by `sh` with only
//! PATH, HOME and KUBECONFIG set, as a CI step runs them.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kube_sim::{Config, KubeSim, Scenario};
use serde_json::Value;

pub const NAMESPACE: &str = "cloudtolocalllm";
pub const PASSWORD: &str = "kube-sim-only-db-password-4f1c";
pub const TAG: &str = "3f2a9c1";

pub struct Cluster {
    pub sim: KubeSim,
    pub home: tempfile::TempDir,
    pub kubectl: PathBuf,
    /// Another kubeconfig than the simulator's administrator one (a user's).
    pub kubeconfig: Option<PathBuf>,
}

impl Cluster {
    pub fn start(kubectl: PathBuf) -> Self {
        Self::start_with(kubectl, Scenario::default())
    }

    pub fn start_with(kubectl: PathBuf, scenario: Scenario) -> Self {
        let sim = KubeSim::start(Config {
            scenario: Scenario {
                // Simulated minutes pass in real seconds: pods start, probes pass, the ALB's
                // address arrives, without the test waiting for wall-clock time.
                pace: Some(60.0),
                ..scenario
            },
            ..Config::default()
        })
        .expect("kube-sim starts");
        Self {
            sim,
            home: tempfile::tempdir().unwrap(),
            kubectl,
            kubeconfig: None,
        }
    }

    /// A command with the environment a pipeline step has: PATH, HOME and KUBECONFIG only.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env(
                "KUBECONFIG",
                self.kubeconfig
                    .as_deref()
                    .unwrap_or_else(|| self.sim.kubeconfig_path()),
            )
            .env("KUBECACHEDIR", self.home.path().join("kube-cache"));
        cmd
    }

    #[track_caller]
    pub fn run_ok(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> Output {
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

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.run_ok(&self.kubectl.clone(), args, None)
    }

    /// What the cluster's add-ons provide before the app's first deploy.
    pub fn prepare(&self, env: &str) {
        self.add_ons(env);
        self.create_secret();
    }

    /// The environment record and the `ExternalSecret` CRD.
    pub fn add_ons(&self, env: &str) {
        let k8s_apply = testbed::workspace_bin("k8s-apply");
        self.run_ok(&k8s_apply, &["init-cluster", "--env", env], None);
        let local = manifests::render::render_yaml(
            &self.kubectl,
            &manifests::manifests_dir().join("local"),
        )
        .unwrap();
        self.run_ok(&k8s_apply, &["-f", "-", "--env", env], Some(&local));
        self.kubectl(&["create", "namespace", NAMESPACE]);
    }

    /// The External Secrets operator's part: the Secret the `ExternalSecret` names.
    pub fn create_secret(&self) {
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
    pub fn deploy(&self, env: &str, tag: &str) -> (i32, Value, String) {
        self.deploy_within(env, tag, "120s")
    }

    /// The deploy, with rollout-wait's `--timeout`.
    pub fn deploy_within(&self, env: &str, tag: &str, timeout: &str) -> (i32, Value, String) {
        let script = r#""$KUBECTL_BIN" kustomize "$OVERLAY" \
            | "$K" -f - --release cloudtolocalllm -n cloudtolocalllm --env "$ENVIRONMENT" \
                --set-image "web=docker.io/cloudtolocalllm/web:$TAG" \
                --set-image "api=docker.io/cloudtolocalllm/api:$TAG" \
            | "$R" --env "$ENVIRONMENT" --timeout "$TIMEOUT""#;
        let output = self
            .command(Path::new("sh"))
            .arg("-c")
            .arg(script)
            .env("KUBECTL_BIN", &self.kubectl)
            .env("OVERLAY", manifests::overlay_dir(env))
            .env("ENVIRONMENT", env)
            .env("TAG", tag)
            .env("TIMEOUT", timeout)
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

    /// `k8s-apply rollback | rollout-wait`, as the pipeline's failure path runs it.
    pub fn rollback(&self, env: &str) -> (i32, Value, String) {
        let output = self
            .command(Path::new("sh"))
            .arg("-c")
            .arg(r#""$K" rollback --release cloudtolocalllm -n cloudtolocalllm --env "$ENVIRONMENT" | "$R" --env "$ENVIRONMENT" --timeout 120s"#)
            .env("ENVIRONMENT", env)
            .env("K", testbed::workspace_bin("k8s-apply"))
            .env("R", testbed::workspace_bin("rollout-wait"))
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        let doc: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one document ({e}):\n{stderr}"));
        (output.status.code().unwrap_or(-1), doc, stderr)
    }

    pub fn jsonpath(&self, what: &str, path: &str) -> String {
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

pub fn deploys_healthy(env: &str, replicas: u64) -> Option<Cluster> {
    Some(deploys_healthy_on(
        Cluster::start(super::kubectl()?),
        env,
        replicas,
    ))
}

pub fn deploys_healthy_on(cluster: Cluster, env: &str, replicas: u64) -> Cluster {
    cluster.prepare(env);
    let (code, doc, stderr) = cluster.deploy(env, TAG);
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
    cluster
}
