//! `scripts/deploy.sh` against the demo's bed, as the deploy workflow runs it: GitHub's OIDC
//! token → oidc-creds → eks-token kubeconfig → k8s-apply | rollout-wait, and the rollback when
//! the new version cannot become healthy. kubectl, as an independent client, checks the result.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Setup, assert_no_secret, files, read_json, stages};

const FIRST: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn a_helm_chart_piped_into_deploy_sh_deploys_then_a_pull_error_is_rolled_back() {
    let setup = Setup::start();
    let rendered = common::helm_template();
    let out1 = setup.dir.path().join("out-1");
    let first = setup.deploy(
        &[("IMAGE_TAG", FIRST), ("MANIFESTS", "-")],
        Some(&rendered),
        &out1,
    );
    let stderr1 = String::from_utf8_lossy(&first.stderr).into_owned();
    assert_eq!(first.status.code(), Some(0), "{stderr1}");
    assert_eq!(
        stages(&out1),
        [
            ("render".to_owned(), "ok".to_owned()),
            ("credentials".to_owned(), "ok".to_owned()),
            ("kubeconfig".to_owned(), "ok".to_owned()),
            ("apply + wait".to_owned(), "healthy".to_owned()),
        ]
    );
    check_first_deploy_documents(&setup, &out1);
    let expected = [
        format!("docker.io/cloudtolocalllm/web:{FIRST}"),
        format!("docker.io/cloudtolocalllm/api:{FIRST}"),
    ];
    assert_eq!(setup.live_images(), expected);

    // An image that cannot be pulled: fails fast, is rolled back, exit 1.
    let out2 = setup.dir.path().join("out-2");
    let started = Instant::now();
    let second = setup.deploy(
        &[("IMAGE_TAG", "pull-error"), ("MANIFESTS", "-")],
        Some(&rendered),
        &out2,
    );
    let elapsed = started.elapsed();
    let stderr2 = String::from_utf8_lossy(&second.stderr).into_owned();
    assert_eq!(second.status.code(), Some(1), "{stderr2}");
    // "Within seconds": far below rollout-wait's 2-minute timeout, however busy the machine.
    assert!(elapsed < Duration::from_secs(90), "{elapsed:?}");
    for needle in [
        "ErrImagePull",
        "container api",
        "docker.io/cloudtolocalllm/api:pull-error",
    ] {
        assert!(stderr2.contains(needle), "{needle}: {stderr2}");
    }
    let verdicts: Vec<String> = stages(&out2).into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        verdicts[3..],
        ["unhealthy".to_owned(), "rolled back, healthy".to_owned()]
    );
    let rollback = read_json(&out2.join("rollback.json"));
    assert_eq!(rollback["revision"], 3, "{rollback}");
    assert_eq!(
        read_json(&out2.join("rollback-rollout-wait.json"))["ok"],
        true
    );
    // Back at the first version, as kubectl sees it and as the release history records it.
    assert_eq!(setup.live_images(), expected);
    let (states, history) = common::release_states(&setup);
    assert_eq!(
        states,
        [
            (1, "superseded".to_owned()),
            (2, "failed".to_owned()),
            (3, "deployed".to_owned())
        ]
    );
    assert_eq!(history["revisions"][2]["sourceRevision"], 1);

    // No secret in any output or document.
    let outputs = [
        (
            "first stdout",
            String::from_utf8_lossy(&first.stdout).into_owned(),
        ),
        ("first stderr", stderr1),
        (
            "second stdout",
            String::from_utf8_lossy(&second.stdout).into_owned(),
        ),
        ("second stderr", stderr2),
    ];
    assert_nothing_leaked(&setup, &outputs, &[&out1, &out2]);
    // And nothing left in the temporary directory: deploy.sh removed its private one.
    let left: Vec<_> = std::fs::read_dir(setup.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pipewright-deploy."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The documents of a good deploy say so: credentials from the role, the kubeconfig for
/// kube-sim, revision 1 applied and deployed.
fn check_first_deploy_documents(setup: &Setup, out: &std::path::Path) {
    let creds = read_json(&out.join("oidc-creds.json"));
    assert_eq!(creds["ok"], true);
    assert!(
        creds["AssumedRoleArn"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/cloudtolocalllm-deploy-development/"),
        "{creds}"
    );
    let kubeconfig = read_json(&out.join("eks-token.json"));
    assert_eq!(kubeconfig["cluster"]["endpoint"], setup.bed.server());
    let apply = read_json(&out.join("k8s-apply.json"));
    assert_eq!(apply["ok"], true, "{apply}");
    assert_eq!(apply["revision"], 1);
    assert_eq!(apply["environment"], "development");
    let wait = read_json(&out.join("rollout-wait.json"));
    assert_eq!(wait["ok"], true, "{wait}");
}

/// No secret the deploys handled is in their outputs or in any document they kept.
fn assert_nothing_leaked(setup: &Setup, outputs: &[(&str, String)], dirs: &[&std::path::Path]) {
    let secrets = setup.secrets();
    assert!(secrets.len() >= 4, "two deploys: two JWTs and two sessions");
    for (what, text) in outputs {
        assert_no_secret(&secrets, what, text);
    }
    for dir in dirs {
        for (path, text) in files(dir) {
            assert_no_secret(&secrets, &path.display().to_string(), &text);
        }
    }
}

#[test]
fn the_overlay_deploys_from_a_laptop_profile_without_oidc() {
    let setup = Setup::start();
    let overlay = common::development_overlay(setup.dir.path());
    let out = setup.dir.path().join("out");
    let run = setup.deploy(
        &[
            ("IMAGE_TAG", FIRST),
            ("MANIFESTS", overlay.to_str().unwrap()),
            // A laptop: no role to assume, no GitHub token service; a profile instead.
            ("AWS_ROLE_ARN", ""),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", ""),
            ("AWS_PROFILE", testbed::OPERATOR_PROFILE),
        ],
        None,
        &out,
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let stages = stages(&out);
    assert_eq!(
        stages[1],
        (
            "credentials".to_owned(),
            "standard AWS chain (profile operator)".to_owned()
        )
    );
    assert!(!out.join("oidc-creds.json").exists());
    assert!(
        setup.bed.oidc().issued().is_empty(),
        "no OIDC token was asked for"
    );
    assert!(
        setup
            .live_images()
            .iter()
            .all(|image| image.ends_with(&format!(":{FIRST}")))
    );
}

#[test]
fn bad_usage_and_bad_manifests_change_nothing() {
    let setup = Setup::start();
    let out = setup.dir.path().join("out");
    let script = testbed::workspace_root().join("scripts/deploy.sh");
    let run = setup.command(&script).arg("Not_An_Env").output().unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("DNS label"));

    let run = setup.deploy(
        &[("IMAGE_TAG", FIRST), ("MANIFESTS", "-")],
        Some(b"\n"),
        &out,
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("empty"));
    assert!(
        setup.bed.oidc().issued().is_empty(),
        "failed before any credential"
    );
    assert!(common::release_states(&setup).0.is_empty(), "no revision");
}
