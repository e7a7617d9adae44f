use super::*;
use crate::normalize::{REDACTED, REDACTED_CHANGED};
use proptest::prelude::*;
use serde_json::json;

fn deployment(image: &str, replicas: u64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "app", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]}
            }
        }
    })
}

/// The live object as the server would return it: same content, plus server noise.
fn as_live(object: &Value, resource_version: &str) -> Value {
    let mut live = object.clone();
    let metadata = live["metadata"].as_object_mut().unwrap();
    metadata.insert("uid".into(), json!("1234"));
    metadata.insert("resourceVersion".into(), json!(resource_version));
    metadata.insert("generation".into(), json!(3));
    metadata.insert("creationTimestamp".into(), json!("2025-01-01T00:00:00Z"));
    metadata.insert("managedFields".into(), json!([{"manager": "pipewright"}]));
    metadata.insert(
        "annotations".into(),
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"}),
    );
    live["status"] = json!({"replicas": 2});
    live
}

#[test]
fn server_noise_is_no_change() {
    let applied = deployment("web:1", 2);
    let result = diff(Some(&as_live(&applied, "9")), &as_live(&applied, "10"));
    assert_eq!(
        result,
        ObjectDiff {
            changed: false,
            unified: String::new(),
            changes: Vec::new()
        }
    );
}

#[test]
fn a_changed_image_is_one_change_and_one_hunk() {
    let live = as_live(&deployment("web:1", 2), "9");
    let result = diff(Some(&live), &deployment("web:2", 2));
    assert!(result.changed);
    assert_eq!(
        result.changes,
        [Change {
            path: "/spec/template/spec/containers/0/image".to_owned(),
            op: ChangeOp::Changed,
            before: Some(json!("web:1")),
            after: Some(json!("web:2")),
        }]
    );
    let expected = "\
--- live/apps/v1/Deployment/app/web
+++ applied/apps/v1/Deployment/app/web
@@ -16,7 +16,7 @@
         app: web
     spec:
       containers:
-      - image: web:1
+      - image: web:2
         name: web
         ports:
         - containerPort: 8080
";
    assert_eq!(result.unified, expected);
}

#[test]
fn added_and_removed_paths_escape_slashes() {
    let live = deployment("web:1", 2);
    let mut applied = live.clone();
    applied["metadata"]["labels"] = json!({"team": "a"});
    applied["spec"].as_object_mut().unwrap().remove("replicas");
    let result = diff(Some(&live), &applied);
    let summary: Vec<(&str, ChangeOp)> = result
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.op))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "/metadata/labels/app.kubernetes.io~1name",
                ChangeOp::Removed
            ),
            ("/metadata/labels/team", ChangeOp::Added),
            ("/spec/replicas", ChangeOp::Removed),
        ]
    );
}

#[test]
fn list_length_changes() {
    let live =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "x": [1, 2]});
    let applied =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "x": [1, 3, 4]});
    let ops: Vec<(String, ChangeOp)> = diff(Some(&live), &applied)
        .changes
        .into_iter()
        .map(|c| (c.path, c.op))
        .collect();
    assert_eq!(
        ops,
        [
            ("/x/1".to_owned(), ChangeOp::Changed),
            ("/x/2".to_owned(), ChangeOp::Added)
        ]
    );
}

#[test]
fn a_new_object_is_all_added() {
    let applied = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}});
    let result = diff(None, &applied);
    assert!(result.changed);
    assert_eq!(result.changes.len(), 1);
    assert_eq!(result.changes[0].path, "");
    assert_eq!(result.changes[0].op, ChangeOp::Added);
    assert_eq!(
        result.unified,
        "--- /dev/null\n+++ applied/v1/Namespace/app\n@@ -0,0 +1,4 @@\n+apiVersion: v1\n+kind: Namespace\n+metadata:\n+  name: app\n"
    );
}

fn secret(data: &Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "app"}, "type": "Opaque", "data": data})
}

#[test]
fn secret_changes_show_which_keys_changed_but_no_values() {
    let live = as_live(
        &secret(&json!({"password": "b2xkLXBhc3N3b3Jk", "user": "YWRtaW4="})),
        "1",
    );
    let applied = secret(&json!({"password": "bmV3LXBhc3N3b3Jk", "user": "YWRtaW4="}));
    let result = diff(Some(&live), &applied);
    assert!(result.changed);
    let text = serde_json::to_string(&result).unwrap();
    for value in ["b2xkLXBhc3N3b3Jk", "bmV3LXBhc3N3b3Jk", "YWRtaW4="] {
        assert!(!text.contains(value), "{value} leaked: {text}");
    }
    assert_eq!(
        result.changes,
        [Change {
            path: "/data/password".to_owned(),
            op: ChangeOp::Changed,
            before: Some(json!(REDACTED)),
            after: Some(json!(REDACTED_CHANGED)),
        }]
    );
    assert!(
        result
            .unified
            .contains("-  password: '***'\n+  password: '*** (changed)'\n"),
        "{}",
        result.unified
    );
}

#[test]
fn an_unchanged_secret_is_unchanged() {
    let data = json!({"password": "c2VjcmV0"});
    assert!(!diff(Some(&as_live(&secret(&data), "1")), &secret(&data)).changed);
}

/// Arbitrary JSON, small.
fn values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z0-9 :#'\"-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z/.~]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn an_object_against_itself_is_unchanged(spec in values(), kind in "(ConfigMap|Secret|Deployment)") {
        let object = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}, "spec": spec.clone(), "data": spec});
        let result = diff(Some(&object), &object);
        prop_assert!(!result.changed);
        prop_assert!(result.unified.is_empty());
        prop_assert!(result.changes.is_empty());
    }

    #[test]
    fn secret_values_never_appear(
        live in proptest::option::of(proptest::collection::btree_map("[a-z]{1,4}", "[A-Za-z0-9+/=]{16,24}", 0..4)),
        applied in proptest::collection::btree_map("[a-z]{1,4}", "[A-Za-z0-9+/=]{16,24}", 0..4),
        string_data in proptest::collection::btree_map("[a-z]{1,4}", "[ -~]{16,24}", 0..3),
    ) {
        let live_object = live.as_ref().map(|data| secret(&json!(data)));
        let mut applied_object = secret(&json!(applied));
        if !string_data.is_empty() {
            applied_object["stringData"] = json!(string_data);
        }
        let result = diff(live_object.as_ref(), &applied_object);
        let rendered = format!("{}\n{}", result.unified, serde_json::to_string(&result).unwrap());
        let all_values = live.iter().flat_map(|m| m.values()).chain(applied.values()).chain(string_data.values());
        for value in all_values {
            prop_assert!(!rendered.contains(value.as_str()), "{} leaked", value);
            // The YAML rendering may quote or escape a value; its JSON-escaped form must not be
            // there either.
            let escaped = serde_json::to_string(value).unwrap();
            prop_assert!(!rendered.contains(escaped.trim_matches('"')), "{} leaked", value);
        }
        // Whether something changed is still told: equal data is unchanged.
        let same = live.as_ref() == Some(&applied) && string_data.is_empty();
        prop_assert_eq!(result.changed, !same);
    }
}
