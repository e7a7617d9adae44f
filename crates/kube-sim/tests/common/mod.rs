//! Test helpers shared by the kubectl and helm test files: a simulator plus the real client
//! pointed at it, each test with its own kubeconfig, HOME and caches.
//!
//! kubectl is `$KUBECTL` or `kubectl` on `PATH`, helm is `$HELM` or `helm` on `PATH`
//! (scripts/test.sh installs both and runs the kubectl files once per kubectl version). Without
//! the client a test says so on stderr and passes, since the rest of the suite does not need it;
//! under CI (`CI=true`) it fails instead, because there a missing client is a broken setup and a
//! skipped test would hide it.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube_sim::{Config, KubeSim};

pub fn kubectl_program() -> Option<PathBuf> {
    client_program("KUBECTL", "kubectl", &["version", "--client"])
}

pub fn helm_program() -> Option<PathBuf> {
    client_program("HELM", "helm", &["version", "--short"])
}

/// `$variable`, else `name` on PATH, if it runs `probe` successfully; under CI, one that is
/// missing or broken fails the calling test.
fn client_program(variable: &str, name: &str, probe: &[&str]) -> Option<PathBuf> {
    let program = std::env::var_os(variable).map_or_else(|| PathBuf::from(name), PathBuf::from);
    let works = Command::new(&program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        works || !in_ci(),
        "{name} is required under CI=true: {} does not run (scripts/test.sh installs it; \
         set {variable} or put {name} on PATH)",
        program.display()
    );
    works.then_some(program)
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
}

/// The PATH the clients run with: the caller's.
pub fn path_var() -> OsString {
    std::env::var_os("PATH").unwrap_or_default()
}

/// A simulator and a kubectl that talks to it, with its own discovery cache so no test sees
/// another's.
pub struct Kubectl {
    pub program: PathBuf,
    pub sim: KubeSim,
    pub dir: tempfile::TempDir,
}

impl Kubectl {
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, Config::default())
    }

    /// Like `start`, with the simulator configured (pace, faults, behaviours).
    pub fn start_with(test: &str, config: Config) -> Option<Self> {
        let Some(program) = kubectl_program() else {
            eprintln!("SKIPPED {test}: kubectl not found (set KUBECTL or put kubectl on PATH)");
            return None;
        };
        let sim = KubeSim::start(config).expect("kube-sim starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        Some(Self { program, sim, dir })
    }

    /// kubectl with these arguments, ready to run or spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        // kubectl's own flags go before `--`: what follows it is a container's command.
        let at = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        command
            .args(&args[..at])
            .arg("--request-timeout=30s")
            .args(&args[at..])
            .env_clear()
            .env("PATH", path_var())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.sim.kubeconfig_path())
            .env("KUBECACHEDIR", self.dir.path().join("cache"));
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("kubectl runs");
        eprintln!(
            "$ kubectl {}\n{}{}",
            args.join(" "),
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

    /// Runs kubectl and returns stderr, failing the test if it succeeded.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            !output.status.success(),
            "kubectl {args:?} should have failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stderr).expect("kubectl prints UTF-8")
    }

    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("the test file is written");
        path_str(&path)
    }
}

pub fn path_str(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}
