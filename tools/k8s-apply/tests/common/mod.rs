//! The harness shared by kubectl.rs, lock.rs and properties.rs: the `k8s-apply` binary run from a
//! cleared environment (PATH, HOME and KUBECONFIG only) against kube-sim over HTTPS, its one JSON
//! document parsed and checked against the committed schema; runs started in the background (to
//! race or kill them); and kubectl pointed at the same simulator.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// One finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub doc: Value,
    pub stderr: String,
}

impl Run {
    /// Parses what the binary printed: exactly one JSON document on stdout, valid against
    /// `schemas/k8s-apply.json`, whatever the exit code.
    pub fn from_output(output: &Output) -> Self {
        let stdout = String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8");
        let stderr = String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8");
        let doc: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not one document ({e}): {stdout}\n{stderr}"));
        testbed::schema::assert_valid("k8s-apply", &doc);
        Self {
            code: output.status.code().unwrap_or(-1),
            doc,
            stderr,
        }
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "document: {}\nstderr:\n{}",
            self.doc, self.stderr
        );
        self
    }

    pub fn objects(&self) -> &[Value] {
        self.doc["objects"].as_array().map_or(&[], Vec::as_slice)
    }

    /// `(Kind/name, action)` of every object, in the document's order.
    pub fn actions(&self) -> Vec<(String, String)> {
        self.objects()
            .iter()
            .map(|o| {
                (
                    format!(
                        "{}/{}",
                        o["kind"].as_str().unwrap_or_default(),
                        o["name"].as_str().unwrap_or_default()
                    ),
                    o["action"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    pub fn object(&self, kind: &str, name: &str) -> &Value {
        self.objects()
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name} in {}", self.doc))
    }

    /// The error message of a failed run (empty when there is none).
    pub fn message(&self) -> &str {
        self.doc["error"]["message"].as_str().unwrap_or_default()
    }
}

/// The binary with a cleared environment: PATH, HOME (a fresh directory) and KUBECONFIG, plus
/// `env`. The returned directory is HOME; keep it alive while the command runs.
pub fn command(
    kubeconfig: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Command, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("a temporary HOME");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k8s-apply"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(Stdio::null());
    for (key, value) in env {
        cmd.env(key, value);
    }
    (cmd, home)
}

/// Runs the binary to the end (blocking: call it off an async runtime's worker, e.g. from a
/// plain `#[test]` or `spawn_blocking`; kube-sim serves on its own thread either way).
pub fn k8s_apply(kubeconfig: &Path, args: &[&str]) -> Run {
    k8s_apply_env(kubeconfig, args, &[])
}

pub fn k8s_apply_env(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let (mut cmd, _home) = command(kubeconfig, args, env);
    let output = cmd.output().expect("k8s-apply runs");
    Run::from_output(&output)
}

/// A run started in the background, its output captured.
pub struct Running {
    pub child: Child,
    _home: tempfile::TempDir,
}

impl Running {
    pub fn start(kubeconfig: &Path, args: &[&str]) -> Self {
        let (mut cmd, home) = command(kubeconfig, args, &[]);
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("k8s-apply starts");
        Self { child, _home: home }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit and parses the document.
    pub fn finish(self) -> Run {
        let output = self.child.wait_with_output().expect("k8s-apply ends");
        Run::from_output(&output)
    }

    /// SIGKILL: no destructor, no last renewal, no status update; what a cancelled CI job or an
    /// OOM kill does. Returns what it had written to stderr.
    pub fn kill(mut self) -> String {
        self.child.kill().expect("the run is killed");
        let output = self
            .child
            .wait_with_output()
            .expect("the killed run is reaped");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&output.status),
            Some(9),
            "the run had already ended: {output:?}"
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

/// Writes `text` to `dir/name` and returns the path as an argument.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("the manifest file is written");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// kubectl (`$KUBECTL`, else `/usr/bin/kubectl`, else `kubectl` on PATH), if it runs.
pub fn kubectl_program() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("KUBECTL").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/kubectl")),
        Some(PathBuf::from("kubectl")),
    ];
    candidates.into_iter().flatten().find(|program| {
        Command::new(program)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// kubectl against one simulator, with its own HOME and discovery cache.
pub struct Kubectl {
    pub program: PathBuf,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(program: PathBuf, kubeconfig: &Path) -> Self {
        Self {
            program,
            kubeconfig: kubeconfig.to_owned(),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(&self.program)
            .args(args)
            .arg("--request-timeout=30s")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .output()
            .expect("kubectl runs");
        eprintln!(
            "$ kubectl {} (exit {:?})\n{}{}",
            args.join(" "),
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs kubectl and returns stdout, failing the test unless it succeeded.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("kubectl prints UTF-8")
    }

    /// `kubectl get … -o json` as a document.
    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("kubectl prints JSON")
    }
}
