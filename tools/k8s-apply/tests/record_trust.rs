//! Release records are trusted only when the deployer wrote them (issue 12 item 6,
//! `docs/release-records.md`): a revision planted or edited by someone who can create or update
//! Secrets in the release's namespace, but cannot read the release's record key, is refused by
//! `k8s-apply rollback` with exit 1 naming its Secret, and nothing of it reaches the cluster.
//! The attacker here writes records with pipewright's own public encoder, as anyone could.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use cluster::{OwnedObject, ReleaseHistory, ReleaseRecord, ReleaseStatus};
use common::{Kubectl, Run, k8s_apply, kubectl_program, write};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, PostParams};
use kube_sim::{Config, KubeSim};
use serde_json::json;

const RELEASE: [&str; 6] = ["--release", "web", "-n", "shop", "--lock-holder", "test"];

fn set(tag: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  version: \"{tag}\"\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 1\n  \
         selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    \
         spec:\n      containers:\n      - name: api\n        image: registry.example/api:{tag}\n"
    )
}

fn block<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn apply(sim: &KubeSim, dir: &Path, tag: &str) -> Run {
    let file = write(dir, &format!("{tag}.yaml"), &set(tag));
    let mut args = vec!["-f", file.as_str()];
    args.extend(RELEASE);
    k8s_apply(sim.kubeconfig_path(), &args)
}

fn rollback(sim: &KubeSim) -> Run {
    let mut args = vec!["rollback"];
    args.extend(RELEASE);
    k8s_apply(sim.kubeconfig_path(), &args)
}

/// As rollout-wait settles a revision, through the deployer's own history handle.
fn mark(sim: &KubeSim, revision: u32, status: ReleaseStatus) {
    block(async {
        let client = sim.client().await.unwrap();
        let history = ReleaseHistory::new(&client, "shop", "web").unwrap();
        history.set_status(revision, status, None).await.unwrap();
    });
}

/// v1 deployed, v2 failed: a rollback would return to v1.
fn deployed_then_failed(sim: &KubeSim, dir: &Path) {
    apply(sim, dir, "v1").assert_code(0);
    mark(sim, 1, ReleaseStatus::Deployed);
    apply(sim, dir, "v2").assert_code(0);
    mark(sim, 2, ReleaseStatus::Failed);
}

fn image(sim: &KubeSim) -> String {
    block(async {
        let client = sim.client().await.unwrap();
        let deployment = Api::<Deployment>::namespaced(client, "shop")
            .get("api")
            .await
            .unwrap();
        deployment.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap()
    })
}

fn binding_exists(sim: &KubeSim) -> bool {
    block(async {
        let client = sim.client().await.unwrap();
        Api::<ClusterRoleBinding>::all(client)
            .get_opt("pwned")
            .await
            .unwrap()
            .is_some()
    })
}

/// What someone with `create` on Secrets in `shop` can write: revision 3, `deployed`, granting
/// cluster-admin to a ServiceAccount of theirs.
fn plant_cluster_admin(sim: &KubeSim) {
    block(async {
        let client = sim.client().await.unwrap();
        let mut record = ReleaseRecord::new("web", "shop");
        record.revision = 3;
        record.previous_revision = Some(2);
        record.status = ReleaseStatus::Deployed;
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "pwned"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "shop"}],
        });
        record.objects = vec![OwnedObject {
            api_version: "rbac.authorization.k8s.io/v1".to_owned(),
            kind: "ClusterRoleBinding".to_owned(),
            namespace: None,
            name: "pwned".to_owned(),
            uid: None,
        }];
        record.manifests = cluster::ManifestSet::new(vec![binding]);
        let secret = cluster::release::to_secret(&record, None).unwrap();
        Api::<Secret>::namespaced(client, "shop")
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    });
}

#[test]
fn a_planted_deployed_revision_is_refused_and_its_cluster_role_binding_never_applied() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    deployed_then_failed(&sim, dir.path());
    plant_cluster_admin(&sim);

    let run = rollback(&sim);
    run.assert_code(1);
    assert!(
        run.message().contains("pipewright.release.v1.web.v3"),
        "the refusal names the planted record: {}",
        run.message()
    );
    assert!(!binding_exists(&sim), "the planted binding was applied");
    if let Some(program) = kubectl_program() {
        let kubectl = Kubectl::new(program, sim.kubeconfig_path());
        let output = kubectl.run(&["get", "clusterrolebinding", "pwned"]);
        assert!(!output.status.success(), "kubectl finds the binding");
    }
    assert_eq!(image(&sim), "registry.example/api:v2", "nothing was rolled");

    // `history` shows the planted revision as untrusted.
    let mut args = vec!["history"];
    args.extend(&RELEASE[..4]);
    let history = k8s_apply(sim.kubeconfig_path(), &args);
    history.assert_code(0);
    let revisions = history.doc["revisions"].as_array().unwrap();
    let trusted: Vec<(u64, bool)> = revisions
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap(),
                r["trusted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(trusted, [(1, true), (2, true), (3, false)]);

    // Once the planted Secret is gone, the genuine rollback to v1 works.
    block(async {
        let client = sim.client().await.unwrap();
        Api::<Secret>::namespaced(client, "shop")
            .delete("pipewright.release.v1.web.v3", &DeleteParams::default())
            .await
            .unwrap();
    });
    let run = rollback(&sim);
    run.assert_code(0);
    assert_eq!(run.doc["revision"], 3, "{}", run.doc);
    assert_eq!(image(&sim), "registry.example/api:v1");
    assert!(!binding_exists(&sim));
}

#[test]
fn an_edited_record_is_refused_naming_it() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    deployed_then_failed(&sim, dir.path());
    // Someone with `update` on Secrets swaps revision 1's image for theirs, keeping everything
    // else of the Secret (labels, annotations, any other data) as it was.
    block(async {
        let client = sim.client().await.unwrap();
        let api = Api::<Secret>::namespaced(client, "shop");
        let mut secret = api.get("pipewright.release.v1.web.v1").await.unwrap();
        let mut record = cluster::release::from_secret(&secret).unwrap();
        let text = serde_json::to_string(&record.manifests)
            .unwrap()
            .replace("registry.example/api:v1", "evil.example/miner:1");
        record.manifests = serde_json::from_str(&text).unwrap();
        let data = secret.data.as_mut().unwrap();
        data.insert(
            "release".to_owned(),
            ByteString(cluster::release::encode(&record).unwrap()),
        );
        api.replace(
            "pipewright.release.v1.web.v1",
            &PostParams::default(),
            &secret,
        )
        .await
        .unwrap();
    });

    let run = rollback(&sim);
    run.assert_code(1);
    assert!(
        run.message().contains("pipewright.release.v1.web.v1"),
        "{}",
        run.message()
    );
    assert_eq!(image(&sim), "registry.example/api:v2");
}
