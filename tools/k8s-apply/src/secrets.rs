//! Secrets are sent with `data` only: `stringData` is folded into it (base64) before the apply.
//!
//! The API server turns `stringData` into `data` and keeps no `stringData`, so a field manager
//! that applied a key through `stringData` never owns `data.<key>`. A later apply (or a
//! rollback) that no longer has the key then leaves it in place: the Secret keeps a value the
//! release no longer says it has. Owning `data.<key>` directly makes removal work like any other
//! field. As the API server does, a key in both takes its `stringData` value.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::manifest::ManifestSet;

/// Folds the `stringData` of every Secret of the set into its `data`.
pub fn fold_string_data(set: &mut ManifestSet) {
    for manifest in set.manifests_mut() {
        if manifest.key.kind == "Secret" && manifest.key.group().is_empty() {
            fold(&mut manifest.object);
        }
    }
}

fn fold(secret: &mut Value) {
    let Some(object) = secret.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = object.remove("stringData") else {
        return;
    };
    let data = object
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Some(data) = data.as_object_mut() {
        for (key, value) in strings {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            data.insert(key, Value::String(encoded));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_data_becomes_data_and_wins_over_it() {
        let mut secret = json!({
            "kind": "Secret",
            "data": {"kept": "a2VwdA==", "both": "b2xk"},
            "stringData": {"both": "new", "plain": "hunter2"}
        });
        fold(&mut secret);
        assert_eq!(
            secret,
            json!({
                "kind": "Secret",
                "data": {"kept": "a2VwdA==", "both": "bmV3", "plain": "aHVudGVyMg=="}
            })
        );
    }

    #[test]
    fn a_secret_without_string_data_is_left_alone() {
        let mut secret = json!({"kind": "Secret", "data": {"a": "YQ=="}});
        let before = secret.clone();
        fold(&mut secret);
        assert_eq!(secret, before);
        let mut only_strings = json!({"kind": "Secret", "stringData": {"a": "a"}});
        fold(&mut only_strings);
        assert_eq!(
            only_strings,
            json!({"kind": "Secret", "data": {"a": "YQ=="}})
        );
    }
}
