//! Each overlay deployed to kube-sim as the pipeline deploys it, with the real binaries:
//!
//! ```sh
//! k8s-apply init-cluster --env ENV
//! kubectl kustomize manifests/k8s/local | k8s-apply -f -          # the add-ons' CRD
//! kubectl create secret generic cloudtolocalllm-database …        # what the operator would make
//! kubectl kustomize manifests/k8s/overlays/ENV \
//!   | k8s-apply -f - --release cloudtolocalllm -n cloudtolocalllm --env ENV --set-image … \
//!   | rollout-wait
//! ```
//!
//! It must end healthy: exit 0, the revision `deployed`, every workload rolled out at its
//! environment's replica count (kubectl agrees), and the database password nowhere in the output.
//!
//! Needs k8s-apply and rollout-wait built beside this test (`cargo build -p k8s-apply -p
//! rollout-wait`, or the whole workspace).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::{Cluster, NAMESPACE, TAG, deploys_healthy};

#[test]
fn development_deploys_healthy_and_then_the_next_commit() {
    let Some(cluster) = deploys_healthy("development", 1) else {
        return;
    };
    // The next commit's images roll out under `maxUnavailable: 0` as revision 2.
    let next = "9b7e0d4";
    let (code, doc, stderr) = cluster.deploy("development", next);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    assert_eq!(doc["releaseStatus"], "deployed");
    assert_eq!(doc["revision"], 2);
    for name in ["web", "api"] {
        let image = cluster.jsonpath(
            &format!("deployment/{name}"),
            "{.spec.template.spec.containers[0].image}",
        );
        assert_eq!(image, format!("docker.io/cloudtolocalllm/{name}:{next}"));
    }
}

#[test]
fn staging_deploys_healthy() {
    let _ = deploys_healthy("staging", 2);
}

#[test]
fn production_deploys_healthy() {
    let _ = deploys_healthy("production", 3);
}

#[test]
fn an_image_that_cannot_be_pulled_fails_fast_and_rolls_back_to_the_healthy_release() {
    let Some(cluster) = deploys_healthy("development", 1) else {
        return;
    };
    // kube-sim never pulls a tag `pull-error`: the pipeline's failure path, on the real manifests.
    let started = std::time::Instant::now();
    let (code, doc, stderr) = cluster.deploy("development", "pull-error");
    assert_eq!(code, 1, "{doc:#}\n{stderr}");
    assert_eq!(doc["releaseStatus"], "failed");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot pull its image docker.io/cloudtolocalllm/")
            && message.contains(":pull-error")
            && (message.contains("ErrImagePull") || message.contains("ImagePullBackOff")),
        "the pod's registry error, naming the image: {message}"
    );
    // Fails on the evidence, not on the 120 s timeout.
    assert!(
        started.elapsed() < std::time::Duration::from_mins(1),
        "{:?}",
        started.elapsed()
    );

    let (_, rolled_back, _) = cluster.rollback("development");
    // The rollback is healthy; the command line still says this run did not deploy its version.
    assert_eq!(rolled_back["releaseStatus"], "deployed", "{rolled_back:#}");
    assert_eq!(rolled_back["revision"], 3);
    for name in ["web", "api"] {
        let image = cluster.jsonpath(
            &format!("deployment/{name}"),
            "{.spec.template.spec.containers[0].image}",
        );
        assert_eq!(image, format!("docker.io/cloudtolocalllm/{name}:{TAG}"));
        cluster.kubectl(&[
            "rollout",
            "status",
            &format!("deployment/{name}"),
            "-n",
            NAMESPACE,
            "--timeout=30s",
        ]);
    }
}

#[test]
fn without_the_database_secret_the_api_and_postgres_never_start() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    // The operator never made the Secret: the pods that mount it wait in ContainerCreating, and
    // the wait ends on its timeout with the kubelet's FailedMount as the evidence.
    let cluster = Cluster::start(kubectl);
    cluster.add_ons("development");
    let (code, doc, stderr) = cluster.deploy_within("development", TAG, "8s");
    assert_ne!(code, 0, "{doc:#}\n{stderr}");
    assert_ne!(doc["releaseStatus"], "deployed");
    let objects = doc["objects"].as_array().unwrap();
    for (kind, name) in [("Deployment", "api"), ("StatefulSet", "postgres")] {
        let report = objects
            .iter()
            .find(|o| o["kind"] == kind && o["name"] == name)
            .unwrap();
        assert_ne!(report["status"], "healthy", "{report:#}");
    }
    let evidence = doc.to_string();
    assert!(
        evidence.contains("FailedMount")
            && evidence.contains("secret \\\"cloudtolocalllm-database\\\" not found"),
        "{doc:#}"
    );
}
