//! Every overlay renders with `kubectl kustomize`, holds the app's objects in its namespace, and
//! carries its environment's parameters (no base placeholder left).

#![allow(clippy::unwrap_used)]

mod common;

use manifests::objects::{find, of_kind};
use serde_json::Value;

const APP_OBJECTS: &[(&str, &str)] = &[
    ("Namespace", "cloudtolocalllm"),
    ("ServiceAccount", "web"),
    ("ServiceAccount", "api"),
    ("ServiceAccount", "postgres"),
    ("Deployment", "web"),
    ("Deployment", "api"),
    ("StatefulSet", "postgres"),
    ("Service", "web"),
    ("Service", "api"),
    ("Service", "postgres"),
    ("Ingress", "cloudtolocalllm"),
    ("ExternalSecret", "cloudtolocalllm-database"),
    ("HorizontalPodAutoscaler", "web"),
    ("HorizontalPodAutoscaler", "api"),
    ("PodDisruptionBudget", "web"),
    ("PodDisruptionBudget", "api"),
    ("PodDisruptionBudget", "postgres"),
    ("NetworkPolicy", "default-deny"),
    ("NetworkPolicy", "allow-dns"),
    ("Role", "cloudtolocalllm-deployer"),
    ("RoleBinding", "cloudtolocalllm-deployer"),
];

#[test]
fn every_overlay_renders_the_whole_app_with_its_parameters() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    for (env, objects) in common::all_rendered(&kubectl) {
        for (kind, name) in APP_OBJECTS {
            assert!(
                find(&objects, kind, name).is_some(),
                "{env}: no {kind}/{name}"
            );
        }
        let namespace = find(&objects, "Namespace", "cloudtolocalllm").unwrap();
        assert_eq!(
            namespace["metadata"]["labels"]["pipewright.dev/environment"], env,
            "{env}: the Namespace's environment label"
        );
        for object in objects.iter().filter(|o| o["kind"] != "Namespace") {
            assert_eq!(
                object["metadata"]["namespace"],
                "cloudtolocalllm",
                "{env}: {}",
                manifests::objects::describe(object)
            );
        }
        // The parameters file is kustomize-local: it never reaches the cluster.
        assert!(find(&objects, "ConfigMap", "cloudtolocalllm-parameters").is_none());
        // Every parameter landed: the environment's name is in each role and key, and no base
        // placeholder is left.
        for sa in of_kind(&objects, "ServiceAccount") {
            let arn = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
                .as_str()
                .unwrap();
            let name = sa["metadata"]["name"].as_str().unwrap();
            assert!(
                arn.ends_with(&format!("role/cloudtolocalllm-{env}-{name}")),
                "{env}: {arn}"
            );
        }
        let key = &find(&objects, "ExternalSecret", "cloudtolocalllm-database").unwrap()["spec"]["dataFrom"]
            [0]["extract"]["key"];
        assert_eq!(key, &Value::from(format!("cloudtolocalllm/{env}/database")));
        let text = serde_json::to_string(&objects).unwrap();
        for placeholder in [
            "00000000-0000-0000-0000-000000000000",
            "ENVIRONMENT",
            "\"unset\"",
            "10.0.0.0/16",
        ] {
            assert!(
                !text.contains(placeholder),
                "{env}: base placeholder {placeholder} left in the output"
            );
        }
    }
}

#[test]
fn the_local_addons_render_the_externalsecret_crd() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    let objects = manifests::render(&kubectl, &manifests::manifests_dir().join("local")).unwrap();
    let crd = find(
        &objects,
        "CustomResourceDefinition",
        "externalsecrets.external-secrets.io",
    )
    .unwrap();
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1");
}

#[test]
fn a_broken_overlay_is_a_clear_error() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources: [missing.yaml]\n",
    )
    .unwrap();
    let err = manifests::render(&kubectl, dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("kubectl kustomize") && message.contains("missing.yaml"),
        "{message}"
    );
}
