//! Least privilege, checked: with kube-sim enforcing RBAC, a member of the deployer group
//! `cloudtolocalllm:deployers` deploys, fails and rolls back the development overlay with nothing
//! but base/rbac.yaml's Role and cluster/deployer-rbac.yaml's grants, and may not do what those
//! files say it cannot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::{Cluster, NAMESPACE, deploys_healthy_on};
use kube_sim::Scenario;
use kube_sim::rbac::{Mode, StaticUser};

#[test]
fn the_deployer_group_may_deploy_and_roll_back_with_nothing_more_than_its_roles() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    let scenario = Scenario {
        authorization: Some(Mode::Rbac),
        users: vec![StaticUser {
            name: "github-actions".to_owned(),
            token: "deployer-token-for-kube-sim".to_owned(),
            groups: vec!["cloudtolocalllm:deployers".to_owned()],
            uid: None,
        }],
        ..Scenario::default()
    };
    // The administrator's first setup: the environment record, the CRD, the Secret, the
    // cluster-scoped grants, and the first deploy (which creates the namespace's Role).
    let cluster = Cluster::start_with(kubectl, scenario);
    let k8s_apply = testbed::workspace_bin("k8s-apply");
    let grants =
        std::fs::read_to_string(manifests::manifests_dir().join("cluster/deployer-rbac.yaml"))
            .unwrap();
    cluster.run_ok(&k8s_apply, &["-f", "-"], Some(&grants));
    let mut cluster = deploys_healthy_on(cluster, "development", 1);

    // From here on the pipeline's identity: a member of the deployer group only.
    let user_config = cluster.home.path().join("deployer.kubeconfig");
    std::fs::copy(cluster.sim.kubeconfig_path(), &user_config).unwrap();
    cluster.kubeconfig = Some(user_config.clone());
    cluster.kubectl(&["config", "use-context", "github-actions"]);
    let who = cluster.kubectl(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(String::from_utf8(who.stdout).unwrap(), "github-actions");
    // Least privilege, as base/rbac.yaml and cluster/deployer-rbac.yaml claim it.
    for (verb, what, namespace, allowed) in [
        ("create", "deployments", NAMESPACE, "yes"),
        ("get", "pods/log", NAMESPACE, "yes"),
        ("create", "pods/exec", NAMESPACE, "no"),
        ("create", "deployments", "default", "no"),
        ("list", "secrets", "kube-system", "no"),
        ("delete", "namespaces", "", "no"),
    ] {
        let mut args = vec!["auth", "can-i", verb, what];
        if !namespace.is_empty() {
            args.extend(["-n", namespace]);
        }
        let output = cluster
            .command(&cluster.kubectl.clone())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(output.stdout).unwrap().trim(),
            allowed,
            "can-i {verb} {what} -n {namespace}"
        );
    }

    let next = "9b7e0d4";
    let (code, doc, stderr) = cluster.deploy("development", next);
    assert_eq!(code, 0, "the deployer's deploy: {doc:#}\n{stderr}");
    assert_eq!(doc["revision"], 2);
    let (code, doc, stderr) = cluster.deploy("development", "pull-error");
    assert_eq!(code, 1, "{doc:#}\n{stderr}");
    let (_, rolled_back, stderr) = cluster.rollback("development");
    assert_eq!(
        rolled_back["releaseStatus"], "deployed",
        "the deployer's rollback: {rolled_back:#}\n{stderr}"
    );
    let image = cluster.jsonpath(
        "deployment/web",
        "{.spec.template.spec.containers[0].image}",
    );
    assert_eq!(image, format!("docker.io/cloudtolocalllm/web:{next}"));
}
