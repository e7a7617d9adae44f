//! `scripts/demo.sh --no-build` with the workspace's debug binaries: the whole demo runs, says
//! the broken deploy was rolled back, and leaves no process behind.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

#[test]
fn demo_sh_runs_the_pipeline_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let script = testbed::workspace_root().join("scripts/demo.sh");
    let mut command = Command::new(&script);
    command
        .arg("--no-build")
        .env("PIPEWRIGHT_BIN", common::bin_dir())
        // Every process the demo starts has this directory in its command line.
        .env("TMPDIR", dir.path())
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ROLE_ARN")
        .env_remove("KUBECONFIG");
    if let Ok(kubectl) = std::env::var("KUBECTL") {
        command.env("KUBECTL", kubectl);
    }
    if !testbed::workspace_root()
        .join("manifests/k8s/overlays/development/kustomization.yaml")
        .is_file()
    {
        // Until the app's overlay is in the checkout: the test chart, as a kustomize directory.
        command.env("MANIFESTS", common::development_overlay(dir.path()));
    }
    let run = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stdout}\n{stderr}");
    for needle in [
        "deploy.sh exit 0",
        "deploy.sh exit 1",
        "rolled back, healthy",
        "ErrImagePull",
    ] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    assert!(stdout.contains("(rollback of 1)"), "{stdout}");
    assert!(stderr.contains("demo: ok"), "{stderr}");

    let leftover = Command::new("pgrep")
        .args(["-af", &dir.path().display().to_string()])
        .output()
        .unwrap();
    let leftover = String::from_utf8_lossy(&leftover.stdout);
    assert!(leftover.trim().is_empty(), "still running: {leftover}");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("pipewright-demo."))
        .collect();
    assert!(files.is_empty(), "the demo's state is left: {files:?}");
}
