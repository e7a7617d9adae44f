//! The environment guard is not optional (issue 12 item 8): once `init-cluster` has recorded an
//! environment, every write (apply, rollback) names it (`--env` or `PIPEWRIGHT_ENV`) or stops with
//! exit 2, nothing written, saying which environment and how to pass it; and a manifest set that
//! holds the environment record itself is refused.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cluster::{ReleaseHistory, ReleaseStatus};
use common::{Run, k8s_apply, k8s_apply_env, write};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::Api;
use kube_sim::{Config, KubeSim};

const SET: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n\
    apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n\
    data:\n  version: \"1\"\n";
const RELEASE: [&str; 6] = ["--release", "web", "-n", "shop", "--lock-holder", "test"];

fn block<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn args<'a>(file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-f", file];
    args.extend(RELEASE);
    args.extend(extra);
    args
}

#[track_caller]
fn assert_refused_without_env(run: &Run) {
    run.assert_code(2);
    assert!(
        run.message().contains("recorded as environment staging")
            && run.message().contains("nothing was changed"),
        "{}",
        run.message()
    );
    let hint = run.doc["error"]["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("--env staging") && hint.contains("PIPEWRIGHT_ENV=staging"),
        "{hint}"
    );
}

#[test]
fn after_init_cluster_every_write_names_the_environment() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "set.yaml", SET);
    k8s_apply(sim.kubeconfig_path(), &["init-cluster", "--env", "staging"]).assert_code(0);

    // Without an environment: refused before the first write.
    assert_refused_without_env(&k8s_apply(sim.kubeconfig_path(), &args(&file, &[])));
    // A plain apply (no release) too.
    assert_refused_without_env(&k8s_apply(sim.kubeconfig_path(), &["-f", &file]));
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
    });
    // Another environment: refused as before.
    let wrong = k8s_apply(
        sim.kubeconfig_path(),
        &args(&file, &["--env", "production"]),
    );
    wrong.assert_code(2);
    assert!(
        wrong.message().contains("--env production"),
        "{}",
        wrong.message()
    );
    // A dry run writes nothing: it need not name one.
    k8s_apply(sim.kubeconfig_path(), &["diff", "-f", &file]).assert_code(1);

    // Named by the variable: applied.
    k8s_apply_env(
        sim.kubeconfig_path(),
        &args(&file, &[]),
        &[("PIPEWRIGHT_ENV", "staging")],
    )
    .assert_code(0);
    block(async {
        let client = sim.client().await.unwrap();
        ReleaseHistory::new(&client, "shop", "web")
            .unwrap()
            .set_status(1, ReleaseStatus::Deployed, None)
            .await
            .unwrap();
    });

    // A rollback without it is refused too, and records nothing.
    let rollback = [
        "rollback",
        "--release",
        "web",
        "-n",
        "shop",
        "--lock-holder",
        "test",
        "--to",
        "1",
    ];
    assert_refused_without_env(&k8s_apply(sim.kubeconfig_path(), &rollback));
    let revisions = block(async {
        let client = sim.client().await.unwrap();
        ReleaseHistory::new(&client, "shop", "web")
            .unwrap()
            .list()
            .await
            .unwrap()
            .len()
    });
    assert_eq!(revisions, 1, "the refused rollback recorded a revision");
    let mut named = rollback.to_vec();
    named.extend(["--env", "staging"]);
    k8s_apply(sim.kubeconfig_path(), &named).assert_code(0);
}

#[test]
fn a_set_holding_the_environment_record_is_refused() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    k8s_apply(sim.kubeconfig_path(), &["init-cluster", "--env", "staging"]).assert_code(0);
    let relabel = format!(
        "{SET}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pipewright-environment\n\
         \x20 namespace: kube-system\ndata:\n  environment: production\n"
    );
    let file = write(dir.path(), "set.yaml", &relabel);
    // Without -n (which the kube-system object would contradict): the release lives in the
    // context's namespace, `default`.
    let run = k8s_apply(
        sim.kubeconfig_path(),
        &[
            "-f",
            &file,
            "--release",
            "web",
            "--lock-holder",
            "test",
            "--env",
            "staging",
        ],
    );
    run.assert_code(2);
    assert!(
        run.message().contains("environment record") && run.message().contains("set.yaml"),
        "{}",
        run.message()
    );
    block(async {
        let client = sim.client().await.unwrap();
        let record = Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
            .get("pipewright-environment")
            .await
            .unwrap();
        assert_eq!(record.data.unwrap()["environment"], "staging");
        assert!(
            Api::<Namespace>::all(client.clone())
                .get_opt("shop")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            Api::<Lease>::namespaced(client, "default")
                .get_opt("pipewright-lock-web")
                .await
                .unwrap()
                .is_none()
        );
    });
}
