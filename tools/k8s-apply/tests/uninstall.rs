//! `k8s-apply uninstall`, through the binary against kube-sim over HTTPS, with kubectl as the
//! independent witness of what is left in the cluster.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use cluster::{ReleaseHistory, ReleaseStatus};
use common::{Kubectl, Run, k8s_apply, write};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube_sim::{Config, KubeSim};

const RELEASE: [&str; 6] = ["--release", "web", "-n", "shop", "--lock-holder", "test"];

/// A release with a Namespace, a ConfigMap, a Secret and a Deployment.
const SET: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  version: v1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: replaced
data:
  a: \"1\"
---
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: uninstall-password-51d2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: registry.example/api:v1
";

fn block<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn run(sim: &KubeSim, command: &str, extra: &[&str]) -> Run {
    let mut args = vec![command];
    args.extend(RELEASE);
    args.extend(extra);
    k8s_apply(sim.kubeconfig_path(), &args)
}

fn installed(sim: &KubeSim, dir: &Path) {
    let file = write(dir, "set.yaml", SET);
    let mut args = vec!["-f", file.as_str()];
    args.extend(RELEASE);
    k8s_apply(sim.kubeconfig_path(), &args).assert_code(0);
}

fn kubectl(sim: &KubeSim) -> Option<Kubectl> {
    common::kubectl_program().map(|program| Kubectl::new(program, sim.kubeconfig_path()))
}

/// The names of the objects of `kind` in namespace shop, sorted, as kubectl lists them.
fn names(kubectl: &Kubectl, kind: &str) -> Vec<String> {
    let listed = kubectl.ok(&["get", kind, "-n", "shop", "-o", "name"]);
    let mut names: Vec<String> = listed.lines().map(str::to_owned).collect();
    names.sort();
    names
}

fn record_secrets(sim: &KubeSim) -> Vec<String> {
    block(async {
        let client = sim.client().await.unwrap();
        let secrets: Api<Secret> = Api::namespaced(client, "shop");
        let listed = secrets
            .list(&ListParams::default().labels("pipewright.dev/release=web"))
            .await
            .unwrap();
        // The ApplySet parent carries the release label too; records go by their name.
        listed
            .items
            .into_iter()
            .filter_map(|s| s.metadata.name)
            .filter(|name| name.starts_with(&cluster::names::record_prefix("web")))
            .collect()
    })
}

#[test]
fn uninstall_deletes_what_the_release_owns_and_nothing_else() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let Some(kubectl) = kubectl(&sim) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    installed(&sim, dir.path());
    // Not the release's: a bystander, and a namesake of a release object that someone replaced
    // (it even carries the release's label, but not the uid the revision recorded).
    kubectl.ok(&["create", "configmap", "bystander", "-n", "shop"]);
    let part_of = k8s_apply::applyset::id(&k8s_apply::applyset::parent_name("web"), "shop");
    kubectl.ok(&["delete", "configmap", "replaced", "-n", "shop"]);
    kubectl.ok(&["create", "configmap", "replaced", "-n", "shop"]);
    kubectl.ok(&[
        "label",
        "configmap",
        "replaced",
        "-n",
        "shop",
        &format!("applyset.kubernetes.io/part-of={part_of}"),
    ]);

    let before = (names(&kubectl, "configmaps"), names(&kubectl, "secrets"));
    let dry = run(&sim, "uninstall", &["--dry-run"]);
    dry.assert_code(0);
    assert_eq!(dry.doc["dryRun"], true);
    let mut listed = dry.actions();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("ConfigMap/settings".to_owned(), "deleted".to_owned()),
            ("Deployment/api".to_owned(), "deleted".to_owned()),
            ("Secret/db".to_owned(), "deleted".to_owned()),
        ]
    );
    assert_eq!(
        (names(&kubectl, "configmaps"), names(&kubectl, "secrets")),
        before,
        "a dry run changes nothing"
    );
    assert!(
        dry.stderr.contains("dry run: nothing was changed"),
        "{}",
        dry.stderr
    );

    let done = run(&sim, "uninstall", &[]);
    done.assert_code(0);
    assert_eq!(done.doc["dryRun"], false);
    assert_eq!(done.doc["release"], "web");
    assert_eq!(done.actions().len(), 3, "{}", done.doc);
    assert!(
        done.stderr
            .contains("namespace/shop: kept (deleting a namespace deletes everything in it"),
        "{}",
        done.stderr
    );
    // What is left: the namespace, the bystander, the replaced namesake;
    // no Deployment, no release Secret, no record, no ApplySet parent, no Lease.
    assert_eq!(
        names(&kubectl, "configmaps"),
        ["configmap/bystander", "configmap/replaced"]
    );
    assert_eq!(names(&kubectl, "deployments"), Vec::<String>::new());
    assert_eq!(names(&kubectl, "secrets"), Vec::<String>::new());
    assert_eq!(names(&kubectl, "leases"), Vec::<String>::new());
    kubectl.ok(&["get", "namespace", "shop"]);
    assert!(!done.stderr.contains("uninstall-password-51d2"));
    assert!(!done.doc.to_string().contains("uninstall-password-51d2"));

    // Nothing left to uninstall: exit 1, unless asked to accept that.
    let again = run(&sim, "uninstall", &[]);
    again.assert_code(1);
    assert!(
        again.message().contains("nothing to uninstall"),
        "{}",
        again.message()
    );
    run(&sim, "uninstall", &["--ignore-not-found"]).assert_code(0);
}

#[test]
fn keep_history_records_the_uninstall_and_a_rollback_brings_the_release_back() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    installed(&sim, dir.path());
    block(async {
        let client = sim.client().await.unwrap();
        let history = ReleaseHistory::new(&client, "shop", "web").unwrap();
        history
            .set_status(1, ReleaseStatus::Deployed, None)
            .await
            .unwrap();
    });

    let done = run(&sim, "uninstall", &["--keep-history"]);
    done.assert_code(0);
    assert_eq!(done.doc["revision"], 2);
    let history = k8s_apply(
        sim.kubeconfig_path(),
        &["history", "--release", "web", "-n", "shop"],
    );
    let statuses: Vec<&str> = history.doc["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["deployed", "uninstalled"]);
    assert_eq!(record_secrets(&sim).len(), 2);

    let back = run(&sim, "rollback", &[]);
    back.assert_code(0);
    assert_eq!(back.doc["revision"], 3);
    let created: Vec<(String, String)> = back
        .actions()
        .into_iter()
        .filter(|(_, action)| action == "created")
        .collect();
    assert_eq!(created.len(), 4, "{}", back.doc);
}

#[test]
fn delete_namespaces_takes_the_release_namespace_last() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    installed(&sim, dir.path());

    let refused = run(
        &sim,
        "uninstall",
        &["--keep-history", "--delete-namespaces"],
    );
    refused.assert_code(2);
    assert_eq!(record_secrets(&sim).len(), 1, "nothing was deleted");

    let done = run(&sim, "uninstall", &["--delete-namespaces"]);
    done.assert_code(0);
    let actions = done.actions();
    assert_eq!(
        actions.last().unwrap(),
        &("Namespace/shop".to_owned(), "deleted".to_owned()),
        "{actions:?}"
    );
    assert_eq!(actions.len(), 5, "{actions:?}");
}

#[test]
fn uninstall_waits_for_the_deploy_lock_and_deletes_nothing_without_it() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    installed(&sim, dir.path());
    // Another run took the deploy lock the install left behind (renewed a moment ago).
    block(async {
        let client = sim.client().await.unwrap();
        let leases: Api<Lease> = Api::namespaced(client, "shop");
        let patch = serde_json::json!({"spec": {
            "holderIdentity": "github:acme/shop/77/1",
            "leaseDurationSeconds": 600,
        }});
        leases
            .patch(
                &cluster::names::lock_name("web"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
    });

    let refused = run(&sim, "uninstall", &["--lock-timeout", "0s"]);
    refused.assert_code(1);
    assert!(
        refused.message().contains("github:acme/shop/77/1"),
        "{}",
        refused.message()
    );
    assert_eq!(refused.actions(), Vec::new());
    assert_eq!(record_secrets(&sim).len(), 1, "the record is still there");
    let kubectl_ok = kubectl(&sim).map(|k| names(&k, "deployments"));
    if let Some(deployments) = kubectl_ok {
        assert_eq!(deployments, ["deployment.apps/api"]);
    }
}

#[test]
fn a_revision_that_does_not_verify_stops_the_uninstall_before_anything_is_deleted() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    installed(&sim, dir.path());
    // A record nobody signed: planted, or written before records were signed.
    block(async {
        let client = sim.client().await.unwrap();
        let mut record = cluster::ReleaseRecord::new("web", "shop");
        record.revision = 2;
        record.previous_revision = Some(1);
        record.status = ReleaseStatus::Deployed;
        let secret = cluster::release::to_secret(&record, None).unwrap();
        Api::<Secret>::namespaced(client, "shop")
            .create(&kube::api::PostParams::default(), &secret)
            .await
            .unwrap();
    });

    for extra in [&["--dry-run"][..], &[][..]] {
        let refused = run(&sim, "uninstall", extra);
        refused.assert_code(1);
        assert!(
            refused
                .message()
                .contains("secret/pipewright.release.v1.web.v2"),
            "{}",
            refused.message()
        );
    }
    assert_eq!(record_secrets(&sim).len(), 2, "no record was deleted");
    if let Some(kubectl) = kubectl(&sim) {
        assert_eq!(names(&kubectl, "deployments"), ["deployment.apps/api"]);
    }
}
