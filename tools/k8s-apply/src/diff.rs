//! What would change for one object: a live object (or none) against the server's dry-run
//! result, both normalised and Secret-redacted, as a unified diff of their YAML for people and a
//! list of JSON-pointer changes for the output document.
//!
//! Redaction happens before anything is rendered or compared, so no path through this module can
//! carry a Secret value out.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::linediff;
use crate::normalize::{normalize, redact_secrets};

/// Lines of context around each change, as `diff -u`.
const CONTEXT: usize = 3;

/// How one path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ChangeOp {
    Added,
    Removed,
    Changed,
}

/// One changed path. `before` and `after` are the normalised values, Secret values redacted.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// A JSON pointer (RFC 6901) into the object; the empty string is the whole object.
    pub path: String,
    pub op: ChangeOp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// The difference for one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    pub changed: bool,
    /// Empty when nothing changed.
    pub unified: String,
    pub changes: Vec<Change>,
}

/// Compares the live object (`None`: it does not exist yet) with what applying would leave.
pub fn diff(live: Option<&Value>, applied: &Value) -> ObjectDiff {
    let mut live = live.map(normalize);
    let mut applied = normalize(applied);
    redact_secrets(live.as_mut(), &mut applied);

    let label = object_label(&applied);
    let changes = match &live {
        Some(live) => {
            let mut changes = Vec::new();
            compare(live, &applied, &mut String::new(), &mut changes);
            changes
        }
        None => vec![Change {
            path: String::new(),
            op: ChangeOp::Added,
            before: None,
            after: Some(applied.clone()),
        }],
    };
    let any = !changes.is_empty();
    let unified = if any {
        let old_text = live.as_ref().map(render).unwrap_or_default();
        let old_label = if live.is_some() {
            format!("live/{label}")
        } else {
            "/dev/null".to_owned()
        };
        linediff::unified(
            &old_text,
            &render(&applied),
            &old_label,
            &format!("applied/{label}"),
            CONTEXT,
        )
    } else {
        String::new()
    };
    ObjectDiff {
        changed: any,
        unified,
        changes,
    }
}

/// `apps/v1/Deployment/app/web`, `v1/Namespace/app`: apiVersion, kind, namespace when there is
/// one, and name.
fn object_label(object: &Value) -> String {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let mut parts = vec![
        text("/apiVersion").unwrap_or("?"),
        text("/kind").unwrap_or("?"),
    ];
    parts.extend(text("/metadata/namespace"));
    parts.push(text("/metadata/name").unwrap_or("?"));
    parts.join("/")
}

/// YAML for people. `serde_yaml_ng` cannot fail on a `serde_json::Value` (string keys only), but
/// JSON is an honest fallback if it ever did.
fn render(object: &Value) -> String {
    serde_yaml_ng::to_string(object)
        .or_else(|_| serde_json::to_string_pretty(object).map(|json| json + "\n"))
        .unwrap_or_default()
}

/// Appends the changes from `before` to `after` under `path`. Maps are compared key by key and
/// lists index by index (containers keep their positions in a pod spec, so indices read well);
/// anything else that differs is one change.
fn compare(before: &Value, after: &Value, path: &mut String, changes: &mut Vec<Change>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => compare_maps(old, new, path, changes),
        (Value::Array(old), Value::Array(new)) => {
            for i in 0..old.len().max(new.len()) {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                step(old.get(i), new.get(i), path, changes);
                path.truncate(len);
            }
        }
        _ if before != after => changes.push(Change {
            path: path.clone(),
            op: ChangeOp::Changed,
            before: Some(before.clone()),
            after: Some(after.clone()),
        }),
        _ => {}
    }
}

fn compare_maps(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    path: &mut String,
    changes: &mut Vec<Change>,
) {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let len = path.len();
        path.push('/');
        // RFC 6901: '~' and '/' in a key (annotation names have slashes) are escaped.
        path.push_str(&key.replace('~', "~0").replace('/', "~1"));
        step(old.get(key), new.get(key), path, changes);
        path.truncate(len);
    }
}

fn step(old: Option<&Value>, new: Option<&Value>, path: &mut String, changes: &mut Vec<Change>) {
    match (old, new) {
        (Some(old), Some(new)) => compare(old, new, path, changes),
        (None, Some(new)) => changes.push(Change {
            path: path.clone(),
            op: ChangeOp::Added,
            before: None,
            after: Some(new.clone()),
        }),
        (Some(old), None) => changes.push(Change {
            path: path.clone(),
            op: ChangeOp::Removed,
            before: Some(old.clone()),
            after: None,
        }),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests;
