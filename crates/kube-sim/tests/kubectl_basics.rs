//! The real kubectl as an independent client of kube-sim, for what pipewright's users do by hand:
//! list and get in every output kubectl offers, the patch types, labels, delete, and the errors
//! kubectl prints for a missing object or namespace.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use common::Kubectl;

const CONFIG_MAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data:
  mode: prod
";

#[test]
fn get_in_json_matches_what_the_api_stores() {
    let Some(k) = Kubectl::start("get_in_json_matches_what_the_api_stores") else {
        return;
    };
    let file = k.file("cm.yaml", CONFIG_MAP);
    k.ok(&["apply", "--server-side", "-f", &file]);
    let json: serde_json::Value = serde_json::from_str(&k.ok(&[
        "get",
        "configmap",
        "settings",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    assert_eq!(json["data"]["mode"], "prod");
    assert_eq!(json["metadata"]["namespace"], "default");
    assert!(
        json["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36)
    );
    assert_eq!(json["metadata"]["managedFields"][0]["manager"], "kubectl");

    let listed: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "configmaps", "-l", "app=web", "-o", "json"])).unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        k.ok(&["get", "configmaps", "-l", "app=api", "-o", "name"]),
        ""
    );
    assert_eq!(
        k.ok(&["get", "cm", "-o", "name"]).trim(),
        "configmap/settings"
    );
    let table = k.ok(&["get", "namespaces"]);
    assert!(table.starts_with("NAME"), "{table}");
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(table.contains(ns), "{table}");
    }
}

#[test]
fn patch_types_labels_and_delete() {
    let Some(k) = Kubectl::start("patch_types_labels_and_delete") else {
        return;
    };
    let file = k.file("cm.yaml", CONFIG_MAP);
    k.ok(&["apply", "--server-side", "-f", &file]);
    k.ok(&[
        "patch",
        "configmap",
        "settings",
        "--type=merge",
        "-p",
        r#"{"data":{"extra":"1"}}"#,
    ]);
    k.ok(&[
        "patch",
        "configmap",
        "settings",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/data/mode","value":"debug"}]"#,
    ]);
    k.ok(&[
        "patch",
        "configmap",
        "settings",
        "-p",
        r#"{"metadata":{"annotations":{"owner":"team-a"}}}"#,
    ]);
    k.ok(&["label", "configmap", "settings", "tier=front"]);
    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "configmap", "settings", "-o", "json"])).unwrap();
    assert_eq!(
        json["data"],
        serde_json::json!({ "mode": "debug", "extra": "1" })
    );
    assert_eq!(json["metadata"]["annotations"]["owner"], "team-a");
    assert_eq!(json["metadata"]["labels"]["tier"], "front");

    let failed_test = k.fails(&[
        "patch",
        "configmap",
        "settings",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/data/mode","value":"prod"}]"#,
    ]);
    assert!(!failed_test.is_empty());

    assert!(
        k.ok(&["delete", "configmap", "settings"])
            .contains("configmap \"settings\" deleted")
    );
    let missing = k.fails(&["get", "configmap", "settings"]);
    assert!(
        missing.contains("Error from server (NotFound): configmaps \"settings\" not found"),
        "{missing}"
    );
    let no_ns = k.fails(&["get", "configmap", "x", "-n", "nowhere"]);
    assert!(no_ns.contains("NotFound"), "{no_ns}");
}

#[test]
fn create_from_a_file_replace_and_scale() {
    let Some(k) = Kubectl::start("create_from_a_file_replace_and_scale") else {
        return;
    };
    let file = k.file("cm.yaml", CONFIG_MAP);
    assert!(
        k.ok(&["create", "-f", &file])
            .contains("configmap/settings created")
    );
    let exists = k.fails(&["create", "-f", &file]);
    assert!(exists.contains("AlreadyExists"), "{exists}");
    assert!(
        k.ok(&["replace", "-f", &file])
            .contains("configmap/settings replaced")
    );
}
