//! Making a live object and the server's dry-run result comparable, and safe to show.
//!
//! The API server adds fields nobody wrote (`managedFields`, `resourceVersion`, `uid`, `status`,
//! …) that differ between any two reads, so a diff that kept them would always say "changed".
//! kubectl's client-side apply annotation holds the whole object as JSON, a Secret's values
//! included; it is dropped for both reasons.
//!
//! Secret values are replaced, never shown: [`redact_secrets`] compares each value of the pair
//! first, so a diff still says *whether* a key's value changed without saying what it is or was.

use serde_json::{Map, Value};

/// What a Secret value is replaced by.
pub const REDACTED: &str = "***";
/// What a Secret value that differs from the live one is replaced by, on the applied side.
pub const REDACTED_CHANGED: &str = "*** (changed)";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const SERVER_METADATA: [&str; 6] = [
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
];

/// A copy of `object` without server-maintained fields, with object keys sorted so that two
/// renderings of equal objects are equal text.
pub fn normalize(object: &Value) -> Value {
    let mut object = sorted(object);
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in SERVER_METADATA {
                metadata.remove(field);
            }
            let annotations_empty = metadata
                .get_mut("annotations")
                .and_then(Value::as_object_mut)
                .is_some_and(|annotations| {
                    annotations.remove(LAST_APPLIED);
                    annotations.is_empty()
                });
            // An empty annotations map (left so by the removal, or sent empty) means the same as
            // none, which is what the server returns for it; keeping it would show a difference.
            if annotations_empty {
                metadata.remove("annotations");
            }
        }
    }
    object
}

/// Rebuilds every map in sorted key order. `serde_json` keeps insertion order when another crate
/// in the build turns on its `preserve_order` feature, and the server's key order is not ours.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                if let Some(inner) = map.get(key) {
                    out.insert(key.clone(), sorted(inner));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Whether `object` is to be treated as a Secret: any kind called `Secret`, in any group. Only
/// the core one is known to hold secrets, but hiding a custom kind's values by mistake costs a
/// less useful diff, while showing a secret by mistake cannot be undone.
pub fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// Replaces the values of `data` and `stringData` in whichever of the two objects is a Secret.
/// A value on the applied side that differs from (or is missing on) the live side becomes
/// [`REDACTED_CHANGED`] when there is a live Secret to compare with; every other value becomes
/// [`REDACTED`]. A field that is not a map is replaced whole.
pub fn redact_secrets(live: Option<&mut Value>, applied: &mut Value) {
    let live = live.filter(|live| is_secret(live));
    for field in ["data", "stringData"] {
        if is_secret(applied)
            && let Some(values) = applied.get_mut(field)
        {
            let before = live
                .as_ref()
                .and_then(|live| live.get(field))
                .and_then(Value::as_object);
            match values.as_object_mut() {
                Some(map) => {
                    for (key, value) in map.iter_mut() {
                        let changed = live.is_some()
                            && before.and_then(|before| before.get(key)) != Some(&*value);
                        let mark = if changed { REDACTED_CHANGED } else { REDACTED };
                        *value = Value::String(mark.to_owned());
                    }
                }
                None => *values = Value::String(REDACTED.to_owned()),
            }
        }
    }
    if let Some(live) = live {
        for field in ["data", "stringData"] {
            if let Some(values) = live.get_mut(field) {
                match values.as_object_mut() {
                    Some(map) => {
                        for value in map.values_mut() {
                            *value = Value::String(REDACTED.to_owned());
                        }
                    }
                    None => *values = Value::String(REDACTED.to_owned()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_fields_are_dropped() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "c", "namespace": "app", "uid": "u", "resourceVersion": "7",
                "generation": 2, "creationTimestamp": "2024-01-01T00:00:00Z", "selfLink": "/x",
                "managedFields": [{"manager": "kubectl"}],
                "annotations": {LAST_APPLIED: "{\"secret\":1}", "team": "web"},
                "labels": {"app": "web"}
            },
            "data": {"a": "1"},
            "status": {"phase": "x"}
        });
        assert_eq!(
            normalize(&live),
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "app", "annotations": {"team": "web"}, "labels": {"app": "web"}},
                "data": {"a": "1"}
            })
        );
    }

    #[test]
    fn annotations_emptied_by_normalising_go_away() {
        let live = json!({"metadata": {"name": "c", "annotations": {LAST_APPLIED: "{}"}}});
        assert_eq!(normalize(&live), json!({"metadata": {"name": "c"}}));
        let empty = json!({"metadata": {"name": "c", "annotations": {}}});
        assert_eq!(normalize(&empty), json!({"metadata": {"name": "c"}}));
    }

    #[test]
    fn secret_values_are_marked_changed_or_not() {
        let mut live = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"same": "c2FtZQ==", "old": "b2xk", "gone": "eA=="}});
        let mut applied = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"same": "c2FtZQ==", "old": "bmV3", "added": "eQ=="},
            "stringData": {"plain": "hunter2"}});
        redact_secrets(Some(&mut live), &mut applied);
        assert_eq!(
            live,
            json!({"apiVersion": "v1", "kind": "Secret",
                "data": {"same": REDACTED, "old": REDACTED, "gone": REDACTED}})
        );
        assert_eq!(
            applied,
            json!({"apiVersion": "v1", "kind": "Secret",
                "data": {"same": REDACTED, "old": REDACTED_CHANGED, "added": REDACTED_CHANGED},
                "stringData": {"plain": REDACTED_CHANGED}})
        );
    }

    #[test]
    fn a_new_secret_is_redacted_without_marks() {
        let mut applied = json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "dg=="}, "stringData": "odd"});
        redact_secrets(None, &mut applied);
        assert_eq!(
            applied,
            json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": REDACTED}, "stringData": REDACTED})
        );
    }

    #[test]
    fn other_kinds_are_left_alone() {
        let original = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
        let mut live = original.clone();
        let mut applied = original.clone();
        redact_secrets(Some(&mut live), &mut applied);
        assert_eq!((live, applied), (original.clone(), original));
    }

    #[test]
    fn a_custom_kind_called_secret_is_redacted_too() {
        let mut applied =
            json!({"apiVersion": "example.com/v1", "kind": "Secret", "data": {"k": "v"}});
        redact_secrets(None, &mut applied);
        assert_eq!(applied["data"]["k"], REDACTED);
    }
}
