//! The demo's bed for a test: moto, kube-sim in EKS-token mode and the GitHub OIDC stand-in
//! (testbed's `Bed`, with the workspace's kube-sim binary), the cluster initialised as an operator
//! does it, and `scripts/deploy.sh` run with the workspace's debug binaries and nothing of the
//! machine's environment but PATH.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const ENVIRONMENT: &str = "development";
pub const NAMESPACE: &str = "cloudtolocalllm";

pub struct Setup {
    pub bed: testbed::Bed,
    pub dir: tempfile::TempDir,
    /// Where the tools are (target/debug).
    pub bin: PathBuf,
}

pub fn bin_dir() -> PathBuf {
    testbed::workspace_bin("k8s-apply")
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn kubectl() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

/// helm 4 (scripts/test.sh exports HELM), else `helm` on PATH.
pub fn helm() -> String {
    std::env::var("HELM").unwrap_or_else(|_| "helm".to_owned())
}

pub fn fixture(name: &str) -> PathBuf {
    testbed::workspace_root()
        .join("crates/pipeline-tests/fixtures")
        .join(name)
}

/// The test chart rendered by `helm template`, as a team using Helm renders its app.
pub fn helm_template() -> Vec<u8> {
    let out = Command::new(helm())
        .args(["template", "cloudtolocalllm"])
        .arg(fixture("chart"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "helm ({}) does not run: {e}; scripts/test.sh installs helm 4 and exports HELM",
                helm()
            )
        });
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A kustomize directory for deploy.sh's default path: the real development overlay when the
/// checkout has it, else the test chart's rendering wrapped in a kustomization.
pub fn development_overlay(dir: &Path) -> PathBuf {
    let real = testbed::workspace_root().join("manifests/k8s/overlays/development");
    if real.join("kustomization.yaml").is_file() {
        return real;
    }
    let overlay = dir.join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    std::fs::write(overlay.join("app.yaml"), helm_template()).unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "resources:\n  - app.yaml\n",
    )
    .unwrap();
    overlay
}

impl Setup {
    /// Starts the bed and initialises the cluster as the operator (profile `operator`):
    /// `k8s-apply init-cluster --env development`.
    pub fn start() -> Self {
        let bin = bin_dir();
        let bed = testbed::Bed::start(testbed::BedOptions::new(bin.join("kube-sim")))
            .expect("the bed starts");
        let dir = tempfile::tempdir().unwrap();
        bed.write_files(&dir.path().join("bed")).unwrap();
        let setup = Self { bed, dir, bin };
        let kubeconfig = setup.operator_kubeconfig();
        let out = setup
            .command(&setup.bin.join("k8s-apply"))
            .args(["init-cluster", "--env", ENVIRONMENT])
            .env("KUBECONFIG", &kubeconfig)
            .env("AWS_PROFILE", testbed::OPERATOR_PROFILE)
            .env_remove("AWS_ROLE_ARN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init-cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // What the overlay expects of the cluster (manifests/k8s/local/kustomization.yaml): the
        // ExternalSecret CRD, and the Secret the External Secrets operator would have made.
        let local = testbed::workspace_root().join("manifests/k8s/local");
        let crd = setup.kubectl(&["kustomize", &local.display().to_string()]);
        setup.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &crd);
        setup.kubectl(&["create", "namespace", NAMESPACE]);
        setup.kubectl(&[
            "-n",
            NAMESPACE,
            "create",
            "secret",
            "generic",
            "cloudtolocalllm-database",
            "--from-literal=POSTGRES_USER=cloudtolocalllm",
            "--from-literal=POSTGRES_DB=cloudtolocalllm",
            "--from-literal=POSTGRES_PASSWORD=pipeline-tests-password",
        ]);
        setup
    }

    fn kubectl_stdin(&self, args: &[&str], stdin: &str) {
        let mut child = self
            .command(Path::new(&kubectl()))
            .args(args)
            .env("KUBECONFIG", self.operator_kubeconfig())
            .env("AWS_PROFILE", testbed::OPERATOR_PROFILE)
            .env("KUBECACHEDIR", self.dir.path().join("kubectl-cache"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A command with nothing of the machine's environment but PATH, and the bed's variables.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("TMPDIR", self.dir.path())
            .envs(self.bed.deploy_env(&self.dir.path().join("bed")))
            .stdin(Stdio::null());
        command
    }

    /// A kubeconfig written by `eks-token kubeconfig` as the operator (moto's static keys).
    pub fn operator_kubeconfig(&self) -> PathBuf {
        let path = self.dir.path().join("operator.kubeconfig");
        if path.exists() {
            return path;
        }
        let out = self
            .command(&self.bin.join("eks-token"))
            .args(["kubeconfig", "--cluster", &self.bed.options().cluster()])
            .arg("--out")
            .arg(&path)
            .arg("--exec-command")
            .arg(self.bin.join("eks-token"))
            .env("AWS_PROFILE", testbed::OPERATOR_PROFILE)
            .env_remove("AWS_ROLE_ARN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "operator kubeconfig: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    /// `scripts/deploy.sh development` with `vars`, `stdin` piped in, documents in `out`.
    pub fn deploy(&self, vars: &[(&str, &str)], stdin: Option<&[u8]>, out: &Path) -> Output {
        let script = testbed::workspace_root().join("scripts/deploy.sh");
        let mut command = self.command(&script);
        command
            .arg(ENVIRONMENT)
            .env("PIPEWRIGHT_BIN", &self.bin)
            .env("PIPEWRIGHT_OUT", out)
            .env("KUBECTL", kubectl())
            .env("ROLLOUT_TIMEOUT", "2m")
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().unwrap();
        if let Some(bytes) = stdin {
            child.stdin.take().unwrap().write_all(bytes).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// `kubectl` as the operator: an independent client of the cluster.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self
            .command(Path::new(&kubectl()))
            .args(args)
            .env("KUBECONFIG", self.operator_kubeconfig())
            .env("AWS_PROFILE", testbed::OPERATOR_PROFILE)
            .env("KUBECACHEDIR", self.dir.path().join("kubectl-cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The images of web and api, as kubectl sees them.
    pub fn live_images(&self) -> Vec<String> {
        let text = self.kubectl(&[
            "-n",
            NAMESPACE,
            "get",
            "deployments",
            "web",
            "api",
            "-o",
            "jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}{\"\\n\"}{end}",
        ]);
        text.lines().map(str::to_owned).collect()
    }

    /// Every secret a deploy handled: the request token, the JWTs issued, and the keys and
    /// session tokens moto's STS handed out (from moto's own state).
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.bed.oidc().request_token().to_owned()];
        secrets.extend(self.bed.oidc().issued());
        let data = http_get(&format!(
            "{}/moto-api/data.json",
            self.bed.moto().endpoint()
        ));
        let state: Value = serde_json::from_str(&data).unwrap();
        let roles = state
            .pointer("/sts/AssumedRole")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert!(
            !roles.is_empty(),
            "moto recorded no assumed role: {data:.300}"
        );
        for role in roles {
            for field in ["secret_access_key", "session_token"] {
                if let Some(v) = role.get(field).and_then(Value::as_str) {
                    secrets.push(v.to_owned());
                }
            }
        }
        secrets
    }
}

/// The release's revisions, as `k8s-apply history` reports them: (revision, status).
pub fn release_states(setup: &Setup) -> (Vec<(u64, String)>, Value) {
    let history = setup
        .command(&setup.bin.join("k8s-apply"))
        .args(["history", "--release", "cloudtolocalllm", "-n", NAMESPACE])
        .env("KUBECONFIG", setup.operator_kubeconfig())
        .env("AWS_PROFILE", testbed::OPERATOR_PROFILE)
        .output()
        .unwrap();
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    let states = history["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (states, history)
}

/// Asserts that no secret occurs in `text` (named `what`).
pub fn assert_no_secret(secrets: &[String], what: &str, text: &str) {
    for secret in secrets {
        assert!(
            secret.len() >= 16,
            "a secret this short proves nothing: {}",
            secret.len()
        );
        assert!(
            !text.contains(secret.as_str()),
            "{what} contains a secret (first characters {secret:.6}…)"
        );
    }
    // Any JWT at all (base64 of `{"`), not only the ones we know of.
    assert!(
        !text.contains("eyJ"),
        "{what} contains something like a JWT"
    );
}

/// Every file under `dir`, with its text.
pub fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            found.push((path, text));
        }
    }
    found
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

/// The stages deploy.sh recorded: (stage, verdict).
pub fn stages(out: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(out.join("stages.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (
                v["stage"].as_str().unwrap().to_owned(),
                v["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A plain HTTP GET on loopback (moto's state), without an HTTP client crate.
pub fn http_get(url: &str) -> String {
    use std::io::Read;
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}
