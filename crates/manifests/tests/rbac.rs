//! Least privilege, checked: with kube-sim enforcing RBAC, a member of the deployer group
//! `cloudtolocalllm:deployers` deploys, fails, rolls back and uninstalls the development overlay with nothing
//! but base/rbac.yaml's Role and cluster/deployer-rbac.yaml's grants, and may not do what those
//! files say it cannot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::{Cluster, NAMESPACE, deploys_healthy_on};
use kube_sim::Scenario;
use kube_sim::rbac::{Mode, StaticUser};

#[test]
fn the_deployer_group_may_deploy_roll_back_and_uninstall_with_nothing_more_than_its_roles() {
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

    uninstalls_as_the_deployer(&mut cluster);
}

/// The release's end, by the same identity: uninstall needs no more than the deploy did,
/// although the release's own Role, which grants it, goes too (last).
fn uninstalls_as_the_deployer(cluster: &mut Cluster) {
    let k8s_apply = testbed::workspace_bin("k8s-apply");
    let uninstall = cluster
        .command(&k8s_apply)
        .args([
            "uninstall",
            "--release",
            "cloudtolocalllm",
            "-n",
            NAMESPACE,
            "--env",
            "development",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&uninstall.stderr);
    assert_eq!(uninstall.status.code(), Some(0), "uninstall: {stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&uninstall.stdout).unwrap();
    let last = doc["objects"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["action"].as_str()),
        (Some("RoleBinding"), Some("deleted")),
        "the grant goes last: {doc:#}"
    );
    // Deleting its own binding took away the right to delete the Role it bound: left, unbound,
    // with a word for the administrator.
    assert!(
        stderr.contains("role.rbac.authorization.k8s.io/cloudtolocalllm-deployer: kept"),
        "{stderr}"
    );
    // What is left, seen by the administrator: the namespace, the unbound Role, and the Secret
    // the External Secrets operator made (not the release's).
    cluster.kubeconfig = None;
    let left = cluster.kubectl(&[
        "get",
        "deployments,statefulsets,services,configmaps,secrets,rolebindings,leases",
        "-n",
        NAMESPACE,
        "-o",
        "name",
    ]);
    assert_eq!(
        String::from_utf8(left.stdout).unwrap().trim(),
        "secret/cloudtolocalllm-database"
    );
}
