//! Pruning a release and its history, through the binary against kube-sim: what the previous
//! revision had and the new set has not is deleted only while it is still provably ours.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_sim::{Config, KubeSim};
use serde_json::{Value, json};

struct Run {
    code: i32,
    doc: Value,
    stderr: String,
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

    fn action(&self, kind: &str, name: &str) -> Option<String> {
        self.doc["objects"]
            .as_array()?
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .map(|o| o["action"].as_str().unwrap().to_owned())
    }
}

/// Runs the binary with `set` as its input, off the async runtime (kube-sim serves on it).
async fn k8s_apply(sim: &KubeSim, set: &str, args: &[&str]) -> Run {
    run(sim, Some(set), args).await
}

/// Runs the binary with `args`, after `-f SET` when there is a set.
async fn run(sim: &KubeSim, set: Option<&str>, args: &[&str]) -> Run {
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let set = set.map(str::to_owned);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_k8s-apply"));
        if let Some(set) = set {
            let file = home.path().join("set.yaml");
            std::fs::write(&file, set).unwrap();
            cmd.arg("-f").arg(file);
        }
        let output = cmd
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("KUBECONFIG", kubeconfig)
            .args(&args)
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
    })
    .await
    .unwrap()
}

const RELEASE: [&str; 6] = ["--release", "shop", "-n", "shop", "--lock-holder", "test"];

fn config_map(name: &str, namespace: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
         data:\n  a: \"1\"\n"
    )
}

/// The set B: the namespace and a ConfigMap that stays.
fn set_b() -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n{}",
        config_map("keep", "shop")
    )
}

/// The set A: B plus the ConfigMaps `extra` (which B drops).
fn set_a(extra: &[&str]) -> String {
    let mut set = set_b();
    for name in extra {
        set.push_str(&config_map(name, "shop"));
    }
    set
}

async fn config_maps(sim: &KubeSim, namespace: &str) -> Api<ConfigMap> {
    Api::namespaced(sim.client().await.unwrap(), namespace)
}

#[tokio::test]
async fn a_release_prunes_what_the_new_set_dropped_and_nothing_outside_it() {
    let sim = KubeSim::start(Config::default()).unwrap();
    k8s_apply(&sim, &set_a(&["old"]), &RELEASE)
        .await
        .assert_code(0);
    let shop = config_maps(&sim, "shop").await;
    let id =
        shop.get("old").await.unwrap().metadata.labels.unwrap()["applyset.kubernetes.io/part-of"]
            .clone();
    // A namesake in a namespace the release never had, even wearing the release's label.
    let outside = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n{}",
        config_map("old", "other")
    )
    .replace(
        "  namespace: other\n",
        &format!("  namespace: other\n  labels:\n    applyset.kubernetes.io/part-of: {id}\n"),
    );
    k8s_apply(&sim, &outside, &[]).await.assert_code(0);

    let run = k8s_apply(&sim, &set_b(), &RELEASE).await;
    run.assert_code(0);
    assert_eq!(run.action("ConfigMap", "old").as_deref(), Some("pruned"));
    assert_eq!(
        run.action("ConfigMap", "keep").as_deref(),
        Some("unchanged")
    );
    assert!(
        run.stderr.contains("configmap/old pruned"),
        "{}",
        run.stderr
    );
    assert!(shop.get_opt("old").await.unwrap().is_none());
    assert!(shop.get_opt("keep").await.unwrap().is_some());
    let other = config_maps(&sim, "other").await;
    assert!(other.get_opt("old").await.unwrap().is_some());
    // The new revision does not claim what it pruned.
    let client = sim.client().await.unwrap();
    let history = cluster::ReleaseHistory::new(&client, "shop", "shop").unwrap();
    let owned: Vec<String> = history
        .get(2)
        .await
        .unwrap()
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(owned, ["shop", "keep"]);
}

#[tokio::test]
async fn an_object_that_lost_the_label_or_was_replaced_is_left_alone() {
    let sim = KubeSim::start(Config::default()).unwrap();
    k8s_apply(&sim, &set_a(&["unlabelled", "replaced", "old"]), &RELEASE)
        .await
        .assert_code(0);
    let shop = config_maps(&sim, "shop").await;
    let patch = json!({"metadata": {"labels": {"applyset.kubernetes.io/part-of": null}}});
    shop.patch("unlabelled", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    // Same name and label, but a new object (a new uid): not the one the revision recorded.
    let mut replaced = shop.get("replaced").await.unwrap();
    shop.delete("replaced", &DeleteParams::default())
        .await
        .unwrap();
    replaced.metadata.uid = None;
    replaced.metadata.resource_version = None;
    replaced.metadata.creation_timestamp = None;
    replaced.metadata.managed_fields = None;
    shop.create(&PostParams::default(), &replaced)
        .await
        .unwrap();

    let run = k8s_apply(&sim, &set_b(), &RELEASE).await;
    run.assert_code(0);
    // Pruning did run: the untouched leftover went.
    assert_eq!(run.action("ConfigMap", "old").as_deref(), Some("pruned"));
    assert_eq!(run.action("ConfigMap", "unlabelled"), None);
    assert_eq!(run.action("ConfigMap", "replaced"), None);
    assert!(shop.get_opt("unlabelled").await.unwrap().is_some());
    assert!(shop.get_opt("replaced").await.unwrap().is_some());
}

#[tokio::test]
async fn no_prune_keeps_the_dropped_objects() {
    let sim = KubeSim::start(Config::default()).unwrap();
    k8s_apply(&sim, &set_a(&["old"]), &RELEASE)
        .await
        .assert_code(0);
    let mut args = RELEASE.to_vec();
    args.push("--no-prune");
    let run = k8s_apply(&sim, &set_b(), &args).await;
    run.assert_code(0);
    assert_eq!(run.action("ConfigMap", "old"), None);
    let shop = config_maps(&sim, "shop").await;
    assert!(shop.get_opt("old").await.unwrap().is_some());
}

#[tokio::test]
async fn max_prune_refuses_before_changing_anything() {
    let sim = KubeSim::start(Config::default()).unwrap();
    k8s_apply(&sim, &set_a(&["old", "older"]), &RELEASE)
        .await
        .assert_code(0);
    let mut args = RELEASE.to_vec();
    args.extend(["--max-prune", "1"]);
    let run = k8s_apply(&sim, &set_b(), &args).await;
    run.assert_code(1);
    let message = run.doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("2 objects") && message.contains("--max-prune"),
        "{message}"
    );
    let shop = config_maps(&sim, "shop").await;
    assert!(shop.get_opt("old").await.unwrap().is_some());
    assert!(shop.get_opt("older").await.unwrap().is_some());

    let mut zero = RELEASE.to_vec();
    zero.extend(["--max-prune", "0"]);
    k8s_apply(&sim, &set_b(), &zero).await.assert_code(1);
    assert!(shop.get_opt("old").await.unwrap().is_some());
}

#[tokio::test]
async fn a_dry_run_lists_what_would_be_pruned_and_deletes_nothing() {
    let sim = KubeSim::start(Config::default()).unwrap();
    k8s_apply(&sim, &set_a(&["old"]), &RELEASE)
        .await
        .assert_code(0);
    let mut args = RELEASE.to_vec();
    args.push("--dry-run=server");
    let run = k8s_apply(&sim, &set_b(), &args).await;
    run.assert_code(0);
    assert_eq!(run.action("ConfigMap", "old").as_deref(), Some("pruned"));
    assert!(
        run.stderr.contains("configmap/old pruned"),
        "{}",
        run.stderr
    );
    let shop = config_maps(&sim, "shop").await;
    assert!(shop.get_opt("old").await.unwrap().is_some());
}

#[tokio::test]
async fn history_lists_the_revisions_as_json_and_a_table() {
    let sim = KubeSim::start(Config::default()).unwrap();
    run(&sim, None, &["init-cluster", "--env", "staging"])
        .await
        .assert_code(0);
    let mut args = RELEASE.to_vec();
    args.extend(["--env", "staging"]);
    k8s_apply(&sim, &set_a(&["old"]), &args)
        .await
        .assert_code(0);
    k8s_apply(&sim, &set_b(), &args).await.assert_code(0);

    let listed = run(&sim, None, &["history", "--release", "shop", "-n", "shop"]).await;
    listed.assert_code(0);
    assert_eq!(listed.doc["release"], "shop");
    let revisions = listed.doc["revisions"].as_array().unwrap();
    let numbers: Vec<u64> = revisions
        .iter()
        .map(|r| r["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2]);
    for revision in revisions {
        assert_eq!(revision["status"], "applied");
        assert_eq!(revision["environment"], "staging");
        assert!(revision["createdAt"].as_str().unwrap().ends_with('Z'));
        assert!(revision["updatedAt"].is_string());
        assert!(revision["images"].is_array());
    }
    assert!(listed.stderr.contains("REVISION"), "{}", listed.stderr);
    assert!(listed.stderr.contains("applied"), "{}", listed.stderr);

    let none = run(&sim, None, &["history", "--release", "other", "-n", "shop"]).await;
    none.assert_code(0);
    assert_eq!(none.doc["revisions"], json!([]));
}
