//! `kube-sim serve` as a user runs it: it prints one JSON line when ready, kubectl (or, without
//! kubectl, the kube crate) works with the kubeconfig it wrote, and SIGTERM stops it cleanly.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;

#[test]
fn serve_prints_where_it_listens_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["serve", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(
        ready["server"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    assert_eq!(ready["kubeconfig"], kubeconfig.to_str().unwrap());
    assert_eq!(ready["pid"], server.id());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&kubeconfig).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the kubeconfig holds a token");

    if let Some(kubectl) = common::kubectl_program() {
        let out = Command::new(kubectl)
            .args(["get", "namespaces", "-o", "name", "--request-timeout=20s"])
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
    } else {
        eprintln!("kubectl not found: checked the server with curl only");
    }

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "kube-sim exits 0 on SIGTERM: {exit:?}");
}

#[test]
fn a_bad_scenario_file_is_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.yaml");
    std::fs::write(&scenario, "pace: fast\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["serve", "--scenario"])
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("scenario.yaml") && stderr.contains("pace"),
        "{stderr}"
    );
}

#[test]
fn eks_token_mode_needs_both_flags_and_a_local_http_sts() {
    for (args, why) in [
        (&["--eks-cluster", "dev"][..], "--sts-endpoint"),
        (
            &["--sts-endpoint", "http://127.0.0.1:1"][..],
            "--eks-cluster",
        ),
        (
            &[
                "--eks-cluster",
                "dev",
                "--sts-endpoint",
                "https://sts.amazonaws.com",
            ][..],
            "http://",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
}

#[test]
fn every_scenario_example_in_the_docs_loads() {
    let docs = std::fs::read_to_string(testbed::workspace_root().join("docs/kube-sim.md")).unwrap();
    let blocks: Vec<&str> = docs
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert!(blocks.len() >= 2, "the docs show scenario examples");
    let dir = tempfile::tempdir().unwrap();
    for (i, block) in blocks.iter().enumerate() {
        let path = dir.path().join(format!("example-{i}.yaml"));
        std::fs::write(&path, block).unwrap();
        let scenario =
            kube_sim::Scenario::load(&path).unwrap_or_else(|e| panic!("docs example {i}: {e}"));
        assert!(
            scenario.pace.is_some() || !scenario.behaviours.is_empty(),
            "example {i} says something"
        );
    }
}
