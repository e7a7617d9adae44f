//! The `k8s-apply` binary against kube-sim over HTTPS, from a cleared environment (PATH, HOME and
//! KUBECONFIG only): what a pipeline step sees, checked through the JSON document, stderr, and
//! the API itself.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube_sim::{Config, Faults, KubeSim};
use serde_json::{Value, json};

const SECRET_VALUE: &str = "hunter2-very-secret";

struct Run {
    code: i32,
    doc: Value,
    stderr: String,
}

fn k8s_apply(sim: &KubeSim, args: &[&str], stdin: Option<&str>) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_k8s-apply"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("KUBECONFIG", sim.kubeconfig_path())
        .args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one document ({e}): {stdout}\n{stderr}"));
    testbed::schema::assert_valid("k8s-apply", &doc);
    Run {
        code: output.status.code().unwrap_or(-1),
        doc,
        stderr,
    }
}

impl Run {
    #[track_caller]
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "document: {}\nstderr:\n{}",
            self.doc, self.stderr
        );
        self
    }

    fn actions(&self) -> Vec<(String, String)> {
        self.doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    format!(
                        "{}/{}",
                        o["kind"].as_str().unwrap(),
                        o["name"].as_str().unwrap()
                    ),
                    o["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn object(&self, kind: &str, name: &str) -> &Value {
        self.doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name} in {}", self.doc))
    }
}

fn start() -> KubeSim {
    KubeSim::start(Config::default()).unwrap()
}

/// One object of each kind an application overlay usually has (namespace, configuration,
/// secret, service, workloads, ingress, network policy and RBAC).
fn app_set(image: &str) -> String {
    include_str!("fixtures/app.yaml").replace("IMAGE", image)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn the_committed_schema_is_generated_from_the_types() {
    testbed::schema::check_committed::<stage::Document<k8s_apply::Report>>("k8s-apply");
}

#[test]
fn help_has_examples() {
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_k8s-apply"))
        .env_clear()
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    for flag in [
        "--filename",
        "--force-conflicts",
        "--set-image",
        "--expect-tag",
        "Examples:",
    ] {
        assert!(help.contains(flag), "{flag} not in help:\n{help}");
    }
}

#[test]
fn a_realistic_set_is_created_then_unchanged_then_configured() {
    let sim = start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "app.yaml",
        &app_set("registry.example/api:1.0.0"),
    );

    let first = k8s_apply(&sim, &["-f", &file], None);
    first.assert_code(0);
    assert_eq!(first.doc["ok"], true);
    let actions = first.actions();
    assert_eq!(actions.len(), 10, "{actions:?}");
    assert!(actions.iter().all(|(_, a)| a == "created"), "{actions:?}");
    // Namespaces go first, RBAC before configuration, workloads before ingress.
    assert_eq!(actions[0].0, "Namespace/shop");
    assert!(
        first.stderr.contains("deployment.apps/api created"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("namespace/shop created"),
        "{}",
        first.stderr
    );
    let deployment = first.object("Deployment", "api");
    assert!(!deployment["uid"].as_str().unwrap().is_empty());
    assert_eq!(first.doc["images"].as_array().unwrap().len(), 2);

    let second = k8s_apply(&sim, &["-f", &file], None);
    second.assert_code(0);
    assert!(
        second.actions().iter().all(|(_, a)| a == "unchanged"),
        "{:?}",
        second.actions()
    );
    assert_eq!(
        second.object("Deployment", "api")["generation"],
        deployment["generation"],
        "no new generation"
    );

    let third = k8s_apply(
        &sim,
        &["-f", &file, "--set-image", "api=registry.example/api:1.1.0"],
        None,
    );
    third.assert_code(0);
    let changed: Vec<_> = third
        .actions()
        .into_iter()
        .filter(|(_, a)| a != "unchanged")
        .collect();
    assert_eq!(
        changed,
        vec![("Deployment/api".to_owned(), "configured".to_owned())]
    );

    for run in [&first, &second, &third] {
        assert!(!run.stderr.contains(SECRET_VALUE), "{}", run.stderr);
        assert!(!run.doc.to_string().contains(SECRET_VALUE));
    }

    if which_kubectl() {
        let output = std::process::Command::new("kubectl")
            .env("KUBECONFIG", sim.kubeconfig_path())
            .args(["get", "deployment", "api", "-n", "shop", "-o", "json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let live: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example/api:1.1.0"
        );
    }
}

fn which_kubectl() -> bool {
    std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn stdin_input_is_applied() {
    let sim = start();
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-stdin\ndata:\n  a: b\n";
    let run = k8s_apply(&sim, &["-f", "-"], Some(input));
    run.assert_code(0);
    assert_eq!(
        run.object("ConfigMap", "from-stdin")["namespace"],
        "default"
    );
}

#[tokio::test]
async fn invalid_manifests_exit_2_naming_file_and_document_and_write_nothing() {
    let sim = start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
    );
    let run = tokio::task::spawn_blocking({
        let file = file.clone();
        let sim_kubeconfig = sim.kubeconfig_path().to_owned();
        move || run_with_kubeconfig(&sim_kubeconfig, &["-f", &file])
    })
    .await
    .unwrap();
    run.assert_code(2);
    let message = run.doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("bad.yaml"), "{message}");
    assert!(message.contains('2'), "names the document: {message}");

    let client = sim.client().await.unwrap();
    let maps: Api<ConfigMap> = Api::all(client);
    let listed = maps.list(&ListParams::default()).await.unwrap();
    assert!(
        listed
            .items
            .iter()
            .all(|m| m.metadata.name.as_deref() != Some("good")),
        "nothing was written"
    );
}

fn run_with_kubeconfig(kubeconfig: &Path, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_k8s-apply"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one document ({e}): {stdout}\n{stderr}"));
    testbed::schema::assert_valid("k8s-apply", &doc);
    Run {
        code: output.status.code().unwrap_or(-1),
        doc,
        stderr,
    }
}

#[test]
fn an_unknown_kind_exits_2() {
    let sim = start();
    let input = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n";
    let run = k8s_apply(&sim, &["-f", "-"], Some(input));
    run.assert_code(2);
    assert!(
        run.doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Widget")
    );
}

#[tokio::test]
async fn a_conflict_names_the_other_manager_unless_forced() {
    let sim = start();
    let client = sim.client().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    let theirs = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "shared"}, "data": {"owner": "kubectl"}
    });
    maps.patch(
        "shared",
        &PatchParams::apply("kubectl-client-side-apply"),
        &Patch::Apply(&theirs),
    )
    .await
    .unwrap();

    let kubeconfig = sim.kubeconfig_path().to_owned();
    let input =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  owner: pipewright\n";
    let (refused, forced) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "cm.yaml", input);
        (
            run_with_kubeconfig(&kubeconfig, &["-f", &file]),
            run_with_kubeconfig(&kubeconfig, &["-f", &file, "--force-conflicts"]),
        )
    })
    .await
    .unwrap();
    refused.assert_code(1);
    let message = refused.doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("kubectl-client-side-apply"), "{message}");
    assert!(message.contains("owner"), "{message}");
    forced.assert_code(0);
    assert_eq!(forced.object("ConfigMap", "shared")["action"], "configured");
    let live = maps.get("shared").await.unwrap();
    assert_eq!(live.data.unwrap()["owner"], "pipewright");
}

#[test]
fn a_crd_and_its_custom_resource_apply_in_one_set() {
    let sim = start();
    let input = r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: gizmo
spec:
  size: 3
";
    let run = k8s_apply(&sim, &["-f", "-"], Some(input));
    run.assert_code(0);
    assert_eq!(run.object("Widget", "gizmo")["action"], "created");
    assert_eq!(run.object("Widget", "gizmo")["namespace"], "default");
    let again = k8s_apply(&sim, &["-f", "-"], Some(input));
    again.assert_code(0);
    assert!(again.actions().iter().all(|(_, a)| a == "unchanged"));
}

#[test]
fn injected_503_bursts_are_retried() {
    let sim = start();
    sim.faults().set(Faults {
        error_fraction: 0.3,
        error_status: Some(503),
        ..Faults::default()
    });
    let run = k8s_apply(
        &sim,
        &["-f", "-"],
        Some(&app_set("registry.example/api:1.0.0")),
    );
    run.assert_code(0);
    assert_eq!(run.actions().len(), 10);
}

#[test]
fn expect_tag_refuses_a_mismatch_before_applying() {
    let sim = start();
    let run = k8s_apply(
        &sim,
        &["-f", "-", "--expect-tag", "2.0.0"],
        Some(&app_set("registry.example/api:1.0.0")),
    );
    run.assert_code(2);
    assert!(run.doc.get("objects").is_none() || run.doc["objects"].as_array().unwrap().is_empty());
}

/// The release records of `release` in `namespace`, by revision.
async fn records(sim: &KubeSim, namespace: &str, release: &str) -> Vec<String> {
    let client = sim.client().await.unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, namespace);
    let listed = secrets
        .list(&ListParams::default().labels(&format!("pipewright.dev/release={release}")))
        .await
        .unwrap();
    let mut names: Vec<String> = listed
        .items
        .into_iter()
        .filter(|s| s.type_.as_deref() == Some("pipewright.dev/release.v1"))
        .filter_map(|s| s.metadata.name)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_release_applied_twice_records_one_revision_and_labels_its_members() {
    let sim = start();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let set = app_set("registry.example/api:1.0.0");
    let args = [
        "-f",
        "-",
        "--release",
        "shop",
        "-n",
        "shop",
        "--lock-holder",
        "test",
    ];
    let (first, second) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "app.yaml", &set);
        let mut args = args.to_vec();
        args[1] = &file;
        (
            run_with_kubeconfig(&kubeconfig, &args),
            run_with_kubeconfig(&kubeconfig, &args),
        )
    })
    .await
    .unwrap();
    first.assert_code(0);
    assert_eq!(first.doc["release"], "shop");
    assert_eq!(first.doc["revision"], 1);
    assert!(first.doc.get("previousRevision").is_none());
    assert!(
        first.actions().iter().all(|(_, a)| a == "created"),
        "{:?}",
        first.actions()
    );
    second.assert_code(0);
    assert_eq!(second.doc["revision"], 1, "no new revision");
    assert!(
        second.actions().iter().all(|(_, a)| a == "unchanged"),
        "{:?}",
        second.actions()
    );
    assert_eq!(
        records(&sim, "shop", "shop").await,
        ["pipewright.release.v1.shop.v1"]
    );

    let client = sim.client().await.unwrap();
    // The revision owns every object of the set, by uid (what pruning will check).
    let history = cluster::ReleaseHistory::new(&client, "shop", "shop").unwrap();
    let record = history.get(1).await.unwrap().unwrap();
    assert_eq!(record.objects.len(), first.actions().len());
    assert!(
        record
            .objects
            .iter()
            .all(|o| o.uid.as_deref().is_some_and(|u| u.len() == 36)),
        "{:?}",
        record.objects
    );
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let member = maps.get("api-config").await.unwrap();
    let part_of = member.metadata.labels.unwrap()["applyset.kubernetes.io/part-of"].clone();
    let parents: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "shop");
    let parent = parents.get("pipewright-applyset-shop").await.unwrap();
    assert_eq!(
        parent.metadata.labels.unwrap()["applyset.kubernetes.io/id"],
        part_of
    );
    let kinds =
        &parent.metadata.annotations.unwrap()["applyset.kubernetes.io/contains-group-kinds"];
    assert!(
        kinds.contains("Deployment.apps") && kinds.contains("ConfigMap"),
        "{kinds}"
    );
}

#[tokio::test]
async fn a_changed_release_records_the_next_revision() {
    let sim = start();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let (first, second) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "app.yaml",
            &app_set("registry.example/api:1.0.0"),
        );
        let args = [
            "-f",
            &file,
            "--release",
            "shop",
            "-n",
            "shop",
            "--lock-holder",
            "test",
        ];
        let first = run_with_kubeconfig(&kubeconfig, &args);
        let mut changed = args.to_vec();
        changed.extend(["--set-image", "api=registry.example/api:1.1.0"]);
        (first, run_with_kubeconfig(&kubeconfig, &changed))
    })
    .await
    .unwrap();
    first.assert_code(0);
    second.assert_code(0);
    assert_eq!(second.doc["revision"], 2);
    assert_eq!(second.doc["previousRevision"], 1);
    assert_eq!(second.object("Deployment", "api")["action"], "configured");
    assert_eq!(records(&sim, "shop", "shop").await.len(), 2);
}

#[tokio::test]
async fn a_release_under_503_bursts_records_no_duplicate_revision() {
    let sim = start();
    sim.faults().set(Faults {
        error_fraction: 0.3,
        error_status: Some(503),
        ..Faults::default()
    });
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let run = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "app.yaml",
            &app_set("registry.example/api:1.0.0"),
        );
        run_with_kubeconfig(
            &kubeconfig,
            &[
                "-f",
                &file,
                "--release",
                "shop",
                "-n",
                "shop",
                "--lock-holder",
                "test",
            ],
        )
    })
    .await
    .unwrap();
    run.assert_code(0);
    sim.faults().set(Faults::default());
    assert_eq!(
        records(&sim, "shop", "shop").await,
        ["pipewright.release.v1.shop.v1"]
    );
}

#[tokio::test]
async fn a_server_dry_run_reports_and_writes_nothing() {
    let sim = start();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let run = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planned\ndata:\n  a: b\n",
        );
        run_with_kubeconfig(&kubeconfig, &["-f", &file, "--dry-run=server"])
    })
    .await
    .unwrap();
    run.assert_code(0);
    assert_eq!(run.doc["dryRun"], true);
    assert_eq!(run.object("ConfigMap", "planned")["action"], "created");
    let client = sim.client().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    assert!(maps.get_opt("planned").await.unwrap().is_none());
}

#[tokio::test]
async fn diff_exits_0_without_changes_and_1_with_them_hiding_secret_values() {
    let sim = start();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let (same, changed) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "app.yaml",
            &app_set("registry.example/api:1.0.0"),
        );
        run_with_kubeconfig(&kubeconfig, &["-f", &file]).assert_code(0);
        let same = run_with_kubeconfig(&kubeconfig, &["diff", "-f", &file]);
        let edited =
            app_set("registry.example/api:1.1.0").replace(SECRET_VALUE, "rotated-value-42");
        let file = write(dir.path(), "edited.yaml", &edited);
        (
            same,
            run_with_kubeconfig(&kubeconfig, &["diff", "-f", &file]),
        )
    })
    .await
    .unwrap();
    same.assert_code(0);
    assert!(
        same.actions().iter().all(|(_, a)| a == "unchanged"),
        "{:?}",
        same.actions()
    );
    changed.assert_code(1);
    assert_eq!(changed.doc["ok"], false);
    assert_eq!(changed.doc["dryRun"], true);
    let deployment = changed.object("Deployment", "api");
    assert_eq!(deployment["action"], "configured");
    let paths: Vec<&str> = deployment["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("/image")), "{paths:?}");
    assert!(
        changed.stderr.contains("registry.example/api:1.1.0"),
        "{}",
        changed.stderr
    );
    for hidden in [SECRET_VALUE, "rotated-value-42"] {
        assert!(!changed.stderr.contains(hidden), "{}", changed.stderr);
        assert!(!changed.doc.to_string().contains(hidden));
    }
    let client = sim.client().await.unwrap();
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, "shop");
    let live = deployments.get("api").await.unwrap();
    let image = live.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(
        image.as_deref(),
        Some("registry.example/api:1.0.0"),
        "diff wrote nothing"
    );
}

#[test]
fn a_first_deploy_diff_shows_objects_in_a_namespace_the_set_creates() {
    // The API server cannot dry-run objects into a namespace that a dry run only pretends to
    // create (kubectl fails here); they are reported created, from the set itself.
    let sim = start();
    let set = app_set("registry.example/api:1.0.0");
    let run = k8s_apply(
        &sim,
        &["diff", "-f", "-", "--release", "shop", "-n", "shop"],
        Some(&set),
    );
    run.assert_code(1);
    assert_eq!(
        run.doc["error"]["message"], "10 objects would change",
        "{}",
        run.doc
    );
    for object in run.doc["objects"].as_array().unwrap() {
        assert_eq!(object["action"], "created", "{object}");
        assert_eq!(object["changes"][0]["op"], "added", "{object}");
    }
    let secret = run.object("Secret", "api-secret");
    assert_eq!(secret["changes"][0]["after"]["data"]["password"], "***");
    assert!(!run.stderr.contains(SECRET_VALUE), "{}", run.stderr);
    assert!(!run.doc.to_string().contains(SECRET_VALUE));
    // Nothing was written.
    let namespaces = std::process::Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(sim.kubeconfig_path())
        .args([
            "get",
            "namespace",
            "shop",
            "--ignore-not-found",
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    assert!(namespaces.status.success());
    assert_eq!(String::from_utf8_lossy(&namespaces.stdout).trim(), "");
}
