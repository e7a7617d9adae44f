//! helm 4 against kube-sim, as a chart's user drives it: `install --wait`, `upgrade --wait`, an
//! upgrade to an image that cannot be pulled undone by `--rollback-on-failure`, `history`,
//! `rollback`, `status`, `list` and `uninstall`. Each test checks what a real cluster gives:
//! the revisions and statuses helm records, the objects as the API serves them, the exit codes.
//!
//! helm keeps its release records in Secrets (`sh.helm.release.v1.<release>.v<revision>`) and
//! sends them, like every object of a built-in kind it creates, as protobuf.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, ListParams};
use kube_sim::{Config, KubeSim, Scenario};
use serde_json::Value;

/// The release's namespace in every test.
const NS: &str = "shop";

/// Long enough for a rollout on a busy machine; `--wait` returns as soon as it is ready.
const READY_TIMEOUT: &str = "--timeout=120s";

/// How long an upgrade to an unpullable image waits before helm calls it failed. It runs out in
/// every such test, so it is short; the rollback that follows only scales the old ReplicaSet's
/// pods, which are still running, so it is ready at once.
const FAILING_TIMEOUT: &str = "--timeout=15s";

/// A simulator and a helm that talks to it, with helm's cache, configuration and data in a
/// directory of the test's own.
struct Helm {
    program: PathBuf,
    sim: KubeSim,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

impl Helm {
    fn start(test: &str) -> Option<Self> {
        let Some(program) = common::helm_program() else {
            eprintln!("SKIPPED {test}: helm not found (set HELM or put helm on PATH)");
            return None;
        };
        // Ten simulated seconds a second: pods are ready 0.1 s after they start.
        let config = Config {
            scenario: Scenario {
                pace: Some(10.0),
                ..Scenario::default()
            },
            ..Config::default()
        };
        let sim = KubeSim::start(config).expect("kube-sim starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the API checks");
        Some(Self {
            program,
            sim,
            dir,
            runtime,
        })
    }

    fn run(&self, args: &[&str]) -> Output {
        let home = self.dir.path();
        let output = Command::new(&self.program)
            .args(args)
            .env_clear()
            .env("PATH", common::path_var())
            .env("HOME", home)
            .env("KUBECONFIG", self.sim.kubeconfig_path())
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .output()
            .expect("helm runs");
        eprintln!(
            "$ helm {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs helm and returns stdout, failing the test unless it exited 0.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "helm {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs helm and returns stderr, failing the test unless it exited 1 (helm's only failure
    /// code).
    fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "helm {args:?} should have failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stderr).unwrap()
    }

    /// `helm install web <chart> --wait` into a namespace it creates, with extra `--set`s.
    fn install(&self, sets: &[&str]) {
        let chart = chart();
        let mut args = vec![
            "install",
            "web",
            &chart,
            "--namespace",
            NS,
            "--create-namespace",
            "--wait",
            READY_TIMEOUT,
        ];
        args.extend(sets.iter().flat_map(|s| ["--set", s]));
        self.ok(&args);
    }

    /// `helm upgrade web <chart> --wait` with extra `--set`s.
    fn upgrade(&self, sets: &[&str]) {
        let chart = chart();
        let mut args = vec![
            "upgrade",
            "web",
            &chart,
            "--namespace",
            NS,
            "--wait",
            READY_TIMEOUT,
        ];
        args.extend(sets.iter().flat_map(|s| ["--set", s]));
        self.ok(&args);
    }

    /// `helm history web -o json`: (revision, status, description) per revision, oldest first.
    fn history(&self) -> Vec<(u64, String, String)> {
        let out = self.ok(&["history", "web", "--namespace", NS, "-o", "json"]);
        let entries: Vec<Value> = serde_json::from_str(&out).unwrap();
        entries
            .iter()
            .map(|e| {
                (
                    e["revision"].as_u64().unwrap(),
                    e["status"].as_str().unwrap().to_owned(),
                    e["description"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The (revision, status) pairs of the history, for comparing at a glance.
    fn revisions(&self) -> Vec<(u64, String)> {
        self.history()
            .into_iter()
            .map(|(revision, status, _)| (revision, status))
            .collect()
    }

    fn deployment(&self) -> Option<Deployment> {
        self.runtime.block_on(async {
            let api: Api<Deployment> = Api::namespaced(self.sim.client().await.unwrap(), NS);
            api.get_opt("web").await.unwrap()
        })
    }

    fn config_map(&self) -> Option<ConfigMap> {
        self.runtime.block_on(async {
            let api: Api<ConfigMap> = Api::namespaced(self.sim.client().await.unwrap(), NS);
            api.get_opt("web-settings").await.unwrap()
        })
    }

    fn service(&self) -> Option<Service> {
        self.runtime.block_on(async {
            let api: Api<Service> = Api::namespaced(self.sim.client().await.unwrap(), NS);
            api.get_opt("web").await.unwrap()
        })
    }

    /// The names of helm's release records for `web`, as the API lists them.
    fn release_secrets(&self) -> Vec<String> {
        self.runtime.block_on(async {
            let api: Api<Secret> = Api::namespaced(self.sim.client().await.unwrap(), NS);
            let mut names: Vec<String> = api
                .list(&ListParams::default().labels("owner=helm,name=web"))
                .await
                .unwrap()
                .items
                .into_iter()
                .filter_map(|s| s.metadata.name)
                .collect();
            names.sort();
            names
        })
    }

    /// The Deployment's container image and its ready replica count.
    fn image_and_ready(&self) -> (String, i32) {
        let deployment = self.deployment().expect("the Deployment exists");
        let spec = deployment.spec.unwrap();
        let image = spec.template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        let ready = deployment
            .status
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        (image, ready)
    }

    fn message(&self) -> String {
        self.config_map()
            .expect("the ConfigMap exists")
            .data
            .unwrap()["message"]
            .clone()
    }
}

fn chart() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm/web");
    common::path_str(&path)
}

#[test]
fn install_wait_deploys_revision_1_and_status_and_list_report_it() {
    let Some(h) = Helm::start("install_wait_deploys_revision_1_and_status_and_list_report_it")
    else {
        return;
    };
    h.install(&[]);

    // --wait returned only once the rollout was complete.
    assert_eq!(h.image_and_ready(), ("registry.example/web:1.27".into(), 2));
    assert!(h.service().is_some());
    assert_eq!(h.message(), "hello");
    assert_eq!(
        h.history(),
        [(1, "deployed".to_owned(), "Install complete".to_owned())]
    );
    assert_eq!(h.release_secrets(), ["sh.helm.release.v1.web.v1"]);

    let status_doc: Value =
        serde_json::from_str(&h.ok(&["status", "web", "--namespace", NS, "-o", "json"])).unwrap();
    assert_eq!(status_doc["name"], "web");
    assert_eq!(status_doc["namespace"], NS);
    assert_eq!(status_doc["version"], 1);
    assert_eq!(status_doc["info"]["status"], "deployed");

    let listed: Value =
        serde_json::from_str(&h.ok(&["list", "--namespace", NS, "-o", "json"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "web");
    assert_eq!(listed[0]["namespace"], NS);
    assert_eq!(listed[0]["revision"], "1");
    assert_eq!(listed[0]["status"], "deployed");
    assert_eq!(listed[0]["chart"], "web-0.1.0");
    assert_eq!(listed[0]["app_version"], "1.27");
    // Releases are per namespace: the default namespace has none.
    assert_eq!(h.ok(&["list", "-o", "json"]).trim(), "[]");
}

#[test]
fn upgrade_wait_supersedes_the_first_revision() {
    let Some(h) = Helm::start("upgrade_wait_supersedes_the_first_revision") else {
        return;
    };
    h.install(&[]);
    h.upgrade(&["replicas=3", "image.tag=1.28", "message=hi"]);

    assert_eq!(h.image_and_ready(), ("registry.example/web:1.28".into(), 3));
    let deployment = h.deployment().unwrap();
    let status = deployment.status.unwrap();
    assert_eq!(
        status.updated_replicas,
        Some(3),
        "--wait saw the rollout end"
    );
    assert_eq!(status.replicas, Some(3), "the old pods are gone");
    assert_eq!(h.message(), "hi");
    assert_eq!(
        h.history(),
        [
            (1, "superseded".to_owned(), "Install complete".to_owned()),
            (2, "deployed".to_owned(), "Upgrade complete".to_owned()),
        ]
    );
    assert_eq!(
        h.release_secrets(),
        ["sh.helm.release.v1.web.v1", "sh.helm.release.v1.web.v2"]
    );
}

#[test]
fn an_upgrade_that_cannot_pull_its_image_fails_and_is_rolled_back() {
    let Some(h) = Helm::start("an_upgrade_that_cannot_pull_its_image_fails_and_is_rolled_back")
    else {
        return;
    };
    h.install(&[]);
    let chart = chart();
    let stderr = h.fails(&[
        "upgrade",
        "web",
        &chart,
        "--namespace",
        NS,
        "--rollback-on-failure",
        FAILING_TIMEOUT,
        "--set",
        "image.tag=pull-error",
        "--set",
        "message=broken",
    ]);
    assert!(stderr.contains("UPGRADE FAILED"), "{stderr}");
    assert!(stderr.contains("has been rolled back"), "{stderr}");

    let history = h.history();
    let revisions: Vec<(u64, &str)> = history.iter().map(|(r, s, _)| (*r, s.as_str())).collect();
    assert_eq!(
        revisions,
        [(1, "superseded"), (2, "failed"), (3, "deployed")],
        "{history:?}"
    );
    assert!(
        history[1].2.starts_with("Upgrade \"web\" failed"),
        "{history:?}"
    );
    assert_eq!(history[2].2, "Rollback to 1");
    // The cluster is back at revision 1's objects, all pods ready.
    assert_eq!(h.image_and_ready(), ("registry.example/web:1.27".into(), 2));
    assert_eq!(h.message(), "hello");
}

#[test]
fn rollback_returns_to_an_earlier_revision_as_a_new_one() {
    let Some(h) = Helm::start("rollback_returns_to_an_earlier_revision_as_a_new_one") else {
        return;
    };
    h.install(&[]);
    h.upgrade(&["image.tag=1.28", "message=hi"]);
    h.ok(&[
        "rollback",
        "web",
        "1",
        "--namespace",
        NS,
        "--wait",
        READY_TIMEOUT,
    ]);

    assert_eq!(
        h.history(),
        [
            (1, "superseded".to_owned(), "Install complete".to_owned()),
            (2, "superseded".to_owned(), "Upgrade complete".to_owned()),
            (3, "deployed".to_owned(), "Rollback to 1".to_owned()),
        ]
    );
    assert_eq!(h.image_and_ready(), ("registry.example/web:1.27".into(), 2));
    assert_eq!(h.message(), "hello");
    // A rollback to a revision that never existed changes nothing.
    let stderr = h.fails(&["rollback", "web", "9", "--namespace", NS]);
    assert!(stderr.contains("release has no 9 version"), "{stderr}");
    assert_eq!(h.revisions().len(), 3);
}

#[test]
fn uninstall_removes_the_objects_and_the_release() {
    let Some(h) = Helm::start("uninstall_removes_the_objects_and_the_release") else {
        return;
    };
    h.install(&[]);
    let out = h.ok(&[
        "uninstall",
        "web",
        "--namespace",
        NS,
        "--wait",
        READY_TIMEOUT,
    ]);
    assert!(out.contains("release \"web\" uninstalled"), "{out}");

    // --wait returned once the objects were gone.
    assert!(h.deployment().is_none());
    assert!(h.config_map().is_none());
    assert!(h.service().is_none());
    assert!(h.release_secrets().is_empty());
    assert_eq!(
        h.ok(&["list", "--namespace", NS, "-o", "json"]).trim(),
        "[]"
    );
    let stderr = h.fails(&["status", "web", "--namespace", NS]);
    assert!(stderr.contains("release: not found"), "{stderr}");
    let stderr = h.fails(&["uninstall", "web", "--namespace", NS]);
    assert!(stderr.contains("not found"), "{stderr}");
}

#[test]
fn uninstall_keep_history_leaves_an_uninstalled_record() {
    let Some(h) = Helm::start("uninstall_keep_history_leaves_an_uninstalled_record") else {
        return;
    };
    h.install(&[]);
    h.ok(&["uninstall", "web", "--namespace", NS, "--keep-history"]);
    assert!(h.deployment().is_none());
    assert_eq!(
        h.history(),
        [(
            1,
            "uninstalled".to_owned(),
            "Uninstallation complete".to_owned()
        )]
    );
    let all: Value =
        serde_json::from_str(&h.ok(&["list", "--namespace", NS, "--uninstalled", "-o", "json"]))
            .unwrap();
    assert_eq!(all[0]["name"], "web");
    assert_eq!(all[0]["status"], "uninstalled");
    // The records are kept: one Secret, marked uninstalled.
    assert_eq!(h.release_secrets(), ["sh.helm.release.v1.web.v1"]);
}
