//! `k8s-apply rollback` and the environment guard (`init-cluster`, `--env`), through the binary
//! against kube-sim over HTTPS. Revisions are marked `deployed`/`failed` through the release
//! history directly, as rollout-wait does at the end of its watch.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::path::Path;

use cluster::{ReleaseHistory, ReleaseStatus};
use common::{Run, k8s_apply, write};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::Api;
use kube_sim::{Config, KubeSim};
use serde_json::Value;

const RELEASE: [&str; 6] = ["--release", "web", "-n", "shop", "--lock-holder", "test"];
const OLD_PASSWORD: &str = "first-password-4f1c";
const NEW_PASSWORD: &str = "second-password-9a7e";

/// Version `tag` of the application: the image, a ConfigMap value and a Secret value move
/// together, and `extra` ConfigMaps come and go.
fn set(tag: &str, password: &str, extra: &[&str]) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  version: \"{tag}\"\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {password}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n  \
         selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    \
         spec:\n      containers:\n      - name: api\n        image: registry.example/api:{tag}\n"
    );
    for name in extra {
        let _ = write!(
            text,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: \"1\"\n"
        );
    }
    text
}

fn block<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn apply(sim: &KubeSim, dir: &Path, name: &str, text: &str, extra_args: &[&str]) -> Run {
    let file = write(dir, name, text);
    let mut args = vec!["-f", file.as_str()];
    args.extend(RELEASE);
    args.extend(extra_args);
    k8s_apply(sim.kubeconfig_path(), &args)
}

fn rollback(sim: &KubeSim, extra_args: &[&str]) -> Run {
    let mut args = vec!["rollback"];
    args.extend(RELEASE);
    args.extend(extra_args);
    k8s_apply(sim.kubeconfig_path(), &args)
}

fn mark(sim: &KubeSim, revision: u32, status: ReleaseStatus) {
    block(async {
        let client = sim.client().await.unwrap();
        let history = ReleaseHistory::new(&client, "shop", "web").unwrap();
        history.set_status(revision, status, None).await.unwrap();
    });
}

fn statuses(sim: &KubeSim) -> Vec<(u32, ReleaseStatus, Option<u32>)> {
    block(async {
        let client = sim.client().await.unwrap();
        let history = ReleaseHistory::new(&client, "shop", "web").unwrap();
        history
            .list()
            .await
            .unwrap()
            .iter()
            .map(|r| (r.revision, r.status, r.source_revision))
            .collect()
    })
}

/// The live state a person would compare: image, ConfigMap value, Secret value, and which of
/// the `extra` ConfigMaps exist.
fn live(sim: &KubeSim, extra: &[&str]) -> (String, String, String, Vec<String>) {
    block(async {
        let client = sim.client().await.unwrap();
        let deployment = Api::<Deployment>::namespaced(client.clone(), "shop")
            .get("api")
            .await
            .unwrap();
        let image = deployment.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "shop");
        let version = config_maps.get("settings").await.unwrap().data.unwrap()["version"].clone();
        let secret = Api::<Secret>::namespaced(client.clone(), "shop")
            .get("db")
            .await
            .unwrap();
        let password = String::from_utf8(secret.data.unwrap()["password"].0.clone()).unwrap();
        let mut present = Vec::new();
        for name in extra {
            if config_maps.get_opt(name).await.unwrap().is_some() {
                present.push((*name).to_owned());
            }
        }
        (image, version, password, present)
    })
}

fn action_of(run: &Run, kind: &str, name: &str) -> String {
    run.object(kind, name)["action"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Deploys v1 (deployed), then v2 (failed), which changes the image, the ConfigMap and the
/// Secret, adds ConfigMap `added` and drops ConfigMap `dropped`.
fn deployed_then_failed(sim: &KubeSim, dir: &Path) {
    // Four ConfigMaps or more in each: compared against one list, not a get each.
    let v1 = set("v1", OLD_PASSWORD, &["dropped", "same-1", "same-2"]);
    apply(sim, dir, "v1.yaml", &v1, &[]).assert_code(0);
    mark(sim, 1, ReleaseStatus::Deployed);
    let v2 = set("v2", NEW_PASSWORD, &["added", "same-1", "same-2"]);
    apply(sim, dir, "v2.yaml", &v2, &[]).assert_code(0);
    mark(sim, 2, ReleaseStatus::Failed);
    assert_eq!(
        live(sim, &["added", "dropped"]),
        (
            "registry.example/api:v2".to_owned(),
            "v2".to_owned(),
            NEW_PASSWORD.to_owned(),
            vec!["added".to_owned()]
        )
    );
}

#[test]
fn rollback_restores_the_whole_set_as_a_new_revision() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    deployed_then_failed(&sim, dir.path());

    let run = rollback(&sim, &[]);
    run.assert_code(0);
    assert_eq!(run.doc["release"], "web");
    assert_eq!(run.doc["releaseNamespace"], "shop");
    assert_eq!(run.doc["revision"], 3);
    assert_eq!(run.doc["previousRevision"], 2);
    // Everything of v1, ConfigMap and Secret included, back in place; v2's addition pruned and
    // v1's object that v2 had pruned re-created.
    assert_eq!(
        live(&sim, &["added", "dropped"]),
        (
            "registry.example/api:v1".to_owned(),
            "v1".to_owned(),
            OLD_PASSWORD.to_owned(),
            vec!["dropped".to_owned()]
        )
    );
    assert_eq!(action_of(&run, "Deployment", "api"), "configured");
    assert_eq!(action_of(&run, "ConfigMap", "settings"), "configured");
    assert_eq!(action_of(&run, "Secret", "db"), "configured");
    assert_eq!(action_of(&run, "ConfigMap", "added"), "pruned");
    assert_eq!(action_of(&run, "ConfigMap", "dropped"), "created");
    assert_eq!(action_of(&run, "ConfigMap", "same-1"), "unchanged");
    assert_eq!(
        run.doc["images"][0]["image"], "registry.example/api:v1",
        "{}",
        run.doc
    );
    assert_eq!(
        statuses(&sim),
        [
            (1, ReleaseStatus::Deployed, None),
            (2, ReleaseStatus::Failed, None),
            (3, ReleaseStatus::Applied, Some(1)),
        ]
    );
    assert!(
        run.stderr.contains("rolling back to revision 1"),
        "{}",
        run.stderr
    );
    // The Secret values came from the record; neither may be printed.
    for secret in [OLD_PASSWORD, NEW_PASSWORD] {
        assert!(!run.stderr.contains(secret), "{}", run.stderr);
        assert!(!run.doc.to_string().contains(secret));
    }

    // The rollback is a revision like any other: once deployed, it is what a later rollback
    // returns to, and re-running it changes nothing.
    mark(&sim, 3, ReleaseStatus::Deployed);
    let again = rollback(&sim, &[]);
    again.assert_code(0);
    assert_eq!(again.doc["revision"], 3);
    assert!(
        again
            .actions()
            .iter()
            .all(|(_, action)| action == "unchanged"),
        "{:?}",
        again.actions()
    );
    assert_eq!(statuses(&sim).len(), 3);
}

#[test]
fn rollback_to_a_named_revision() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    deployed_then_failed(&sim, dir.path());
    rollback(&sim, &[]).assert_code(0);
    mark(&sim, 3, ReleaseStatus::Deployed);

    // Forward again to the failed revision, because someone asked for it by number.
    let run = rollback(&sim, &["--to", "2"]);
    run.assert_code(0);
    assert_eq!(run.doc["revision"], 4);
    assert!(run.stderr.contains("failed"), "{}", run.stderr);
    assert_eq!(
        live(&sim, &["added", "dropped"]).0,
        "registry.example/api:v2"
    );
    assert_eq!(statuses(&sim)[3], (4, ReleaseStatus::Applied, Some(2)));
}

#[test]
fn rollback_dry_run_lists_the_changes_and_changes_nothing() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    deployed_then_failed(&sim, dir.path());
    let before = live(&sim, &["added", "dropped"]);

    let run = rollback(&sim, &["--dry-run=server"]);
    run.assert_code(0);
    assert_eq!(run.doc["dryRun"], true);
    assert_eq!(action_of(&run, "ConfigMap", "added"), "pruned");
    assert_eq!(action_of(&run, "Deployment", "api"), "configured");
    assert_eq!(action_of(&run, "ConfigMap", "settings"), "configured");
    assert_eq!(action_of(&run, "ConfigMap", "same-1"), "unchanged");
    assert_eq!(action_of(&run, "ConfigMap", "dropped"), "created");
    assert_eq!(live(&sim, &["added", "dropped"]), before);
    assert_eq!(statuses(&sim).len(), 2);
}

#[test]
fn nothing_to_roll_back_to_is_a_plain_failure() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let empty = rollback(&sim, &[]);
    empty.assert_code(1);
    assert!(
        empty.message().contains("no revisions in namespace shop"),
        "{}",
        empty.message()
    );

    apply(
        &sim,
        dir.path(),
        "v1.yaml",
        &set("v1", OLD_PASSWORD, &[]),
        &[],
    )
    .assert_code(0);
    mark(&sim, 1, ReleaseStatus::Failed);
    let none = rollback(&sim, &[]);
    none.assert_code(1);
    assert!(
        none.message()
            .contains("no deployed revision to roll back to (it has 1 failed)"),
        "{}",
        none.message()
    );
    assert!(none.doc["error"]["hint"].as_str().unwrap().contains("--to"));

    let missing = rollback(&sim, &["--to", "7"]);
    missing.assert_code(2);
    assert!(
        missing
            .message()
            .contains("no revision 7 (it has 1 failed)"),
        "{}",
        missing.message()
    );
    assert_eq!(statuses(&sim).len(), 1);
}

fn init_cluster(sim: &KubeSim, extra: &[&str]) -> Run {
    let mut args = vec!["init-cluster"];
    args.extend(extra);
    k8s_apply(sim.kubeconfig_path(), &args)
}

fn nothing_written(sim: &KubeSim) {
    block(async {
        let client = sim.client().await.unwrap();
        assert!(
            Api::<Namespace>::all(client.clone())
                .get_opt("shop")
                .await
                .unwrap()
                .is_none(),
            "the namespace was created"
        );
        assert!(
            Api::<Lease>::namespaced(client, "shop")
                .get_opt("pipewright-lock-web")
                .await
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn the_environment_guard_refuses_the_wrong_cluster_before_any_write() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = set("v1", OLD_PASSWORD, &[]);

    // No record yet: the guard cannot vouch for the cluster.
    let unrecorded = apply(&sim, dir.path(), "v1.yaml", &text, &["--env", "production"]);
    unrecorded.assert_code(2);
    assert!(
        unrecorded.message().contains("has no recorded environment"),
        "{}",
        unrecorded.message()
    );
    assert!(
        unrecorded.doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("k8s-apply init-cluster --env production")
    );
    nothing_written(&sim);

    let created = init_cluster(&sim, &["--env", "staging"]);
    created.assert_code(0);
    assert_eq!(created.doc["environment"], "staging");
    assert_eq!(
        action_of(&created, "ConfigMap", "pipewright-environment"),
        "created"
    );
    let again = init_cluster(&sim, &["--env", "staging"]);
    again.assert_code(0);
    assert_eq!(
        action_of(&again, "ConfigMap", "pipewright-environment"),
        "unchanged"
    );

    // Production credentials pointed at staging: refused, naming both.
    let wrong = apply(&sim, dir.path(), "v1.yaml", &text, &["--env", "production"]);
    wrong.assert_code(2);
    assert!(
        wrong
            .message()
            .contains("--env production, but the cluster at context kube-sim"),
        "{}",
        wrong.message()
    );
    assert!(
        wrong.message().contains("recorded as environment staging"),
        "{}",
        wrong.message()
    );
    nothing_written(&sim);
    // Rollback and diff check too.
    let mut args = vec!["rollback", "--env", "production"];
    args.extend(RELEASE);
    k8s_apply(sim.kubeconfig_path(), &args).assert_code(2);

    let right = apply(&sim, dir.path(), "v1.yaml", &text, &["--env", "staging"]);
    right.assert_code(0);
    assert_eq!(right.doc["environment"], "staging");
    // On a recorded cluster a rollback names the environment too (issue 12 item 8); it is
    // recorded with the revision.
    mark(&sim, 1, ReleaseStatus::Deployed);
    let v2 = set("v2", NEW_PASSWORD, &[]);
    apply(&sim, dir.path(), "v2.yaml", &v2, &["--env", "staging"]).assert_code(0);
    let unnamed = rollback(&sim, &[]);
    unnamed.assert_code(2);
    assert!(
        unnamed
            .message()
            .contains("recorded as environment staging"),
        "{}",
        unnamed.message()
    );
    let back = rollback(&sim, &["--env", "staging"]);
    back.assert_code(0);
    assert_eq!(back.doc["environment"], "staging");
    let recorded = block(async {
        let client = sim.client().await.unwrap();
        let history = ReleaseHistory::new(&client, "shop", "web").unwrap();
        history.get(3).await.unwrap().unwrap().environment
    });
    assert_eq!(recorded.as_deref(), Some("staging"));

    // Re-labelling a cluster is deliberate.
    let relabel = init_cluster(&sim, &["--env", "production"]);
    relabel.assert_code(2);
    assert!(
        relabel
            .message()
            .contains("already recorded as environment staging"),
        "{}",
        relabel.message()
    );
    let forced = init_cluster(&sim, &["--env", "production", "--overwrite"]);
    forced.assert_code(0);
    assert_eq!(
        action_of(&forced, "ConfigMap", "pipewright-environment"),
        "configured"
    );
    // kubectl users find the record where the docs say.
    let record: Value = block(async {
        let client = sim.client().await.unwrap();
        let cm = Api::<ConfigMap>::namespaced(client, "kube-system")
            .get("pipewright-environment")
            .await
            .unwrap();
        serde_json::to_value(cm.data.unwrap()).unwrap()
    });
    assert_eq!(record["environment"], "production");
}

#[test]
fn bad_environment_names_are_usage_errors() {
    let sim = KubeSim::start(Config::default()).unwrap();
    for bad in ["Production", "prod_1", "-x", ""] {
        let flag = format!("--env={bad}");
        let run = init_cluster(&sim, &[flag.as_str()]);
        run.assert_code(2);
        assert!(run.message().contains("invalid --env"), "{}", run.message());
    }
}

#[test]
fn a_rollback_under_throttling_records_one_revision() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    deployed_then_failed(&sim, dir.path());
    // Every 8th request is answered 429 with Retry-After: 1, as a busy API server does.
    sim.faults().set(kube_sim::Faults {
        throttle_fraction: 0.125,
        ..kube_sim::Faults::default()
    });
    let run = rollback(&sim, &[]);
    sim.faults().set(kube_sim::Faults::default());
    run.assert_code(0);
    assert!(run.stderr.contains("429"), "{}", run.stderr);
    assert_eq!(run.doc["revision"], 3);
    assert_eq!(statuses(&sim).len(), 3);
    assert_eq!(
        live(&sim, &["added", "dropped"]).0,
        "registry.example/api:v1"
    );
}
