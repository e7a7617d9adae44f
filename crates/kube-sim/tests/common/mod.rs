//! Test helpers shared by the kubectl test files: a simulator plus the real kubectl pointed at
//! it, each test with its own kubeconfig, HOME and discovery cache.
//!
//! kubectl is looked up as `$KUBECTL` or on `PATH`; without it each test says so on stderr and
//! passes, since the rest of the suite does not need it.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kube_sim::{Config, KubeSim};

pub fn kubectl_program() -> Option<PathBuf> {
    let program =
        std::env::var_os("KUBECTL").map_or_else(|| PathBuf::from("kubectl"), PathBuf::from);
    let works = Command::new(&program)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    works.then_some(program)
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

    pub fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(&self.program)
            .args(args)
            .arg("--request-timeout=30s")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", self.sim.kubeconfig_path())
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .output()
            .expect("kubectl runs");
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
