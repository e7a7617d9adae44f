//! Which part of an object a write owns: the main resource (without `status` when the type has a
//! status subresource) or the `/status` subresource, and never the fields the server itself
//! maintains.

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, PathElement};

/// Metadata the server sets; a client's value for them is never merged or owned.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Identity fields: applied and compared, but owned by nobody, so they never conflict.
const IDENTITY_METADATA: &[&str] = &["name", "namespace"];

/// The part of an object a write is tracked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The main resource; `status` excluded when the type has a status subresource.
    Main { status_reset: bool },
    /// The `/status` subresource: only `status`.
    Status,
}

impl Scope {
    pub fn new(subresource: Option<&str>, status_subresource: bool) -> Self {
        if subresource == Some("status") {
            Self::Status
        } else {
            Self::Main {
                status_reset: status_subresource,
            }
        }
    }

    /// The applied configuration as far as this scope takes it: identity, plus either everything
    /// but server-maintained fields, or only `status`.
    pub fn config(self, applied: &Value) -> Value {
        let Some(object) = applied.as_object() else {
            return applied.clone();
        };
        let mut out = Map::new();
        for (name, value) in object {
            let keep = match (self, name.as_str()) {
                (_, "apiVersion" | "kind") | (Self::Status, "status") => true,
                (Self::Status, _) | (Self::Main { status_reset: true }, "status") => false,
                _ => true,
            };
            if keep {
                out.insert(name.clone(), value.clone());
            }
        }
        if let Some(Value::Object(metadata)) = object.get("metadata") {
            let kept: Map<String, Value> = metadata
                .iter()
                .filter(|(name, _)| match self {
                    Self::Status => IDENTITY_METADATA.contains(&name.as_str()),
                    Self::Main { .. } => !SERVER_METADATA.contains(&name.as_str()),
                })
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            out.insert("metadata".to_owned(), Value::Object(kept));
        }
        Value::Object(out)
    }

    /// The view of an object that ownership is computed on: without server-maintained metadata,
    /// and restricted to this scope.
    pub fn tracked(self, object: &Value) -> Value {
        let Some(fields) = object.as_object() else {
            return object.clone();
        };
        let mut out = fields.clone();
        match self {
            Self::Status => out.retain(|name, _| name == "status"),
            Self::Main { status_reset } => {
                if status_reset {
                    out.remove("status");
                }
                if let Some(Value::Object(metadata)) = out.get_mut("metadata") {
                    metadata.retain(|name, _| !SERVER_METADATA.contains(&name.as_str()));
                }
            }
        }
        Value::Object(out)
    }

    /// `set` without the paths nobody owns.
    pub fn owned(set: &FieldSet) -> FieldSet {
        set.difference(&Self::unowned())
    }

    /// The paths nobody owns: identity and server-maintained fields and the `metadata` node
    /// itself. Pruning must keep them whoever stops applying what is around them.
    pub fn unowned() -> FieldSet {
        let mut never = FieldSet::new();
        never.insert(&[PathElement::field("apiVersion")]);
        never.insert(&[PathElement::field("kind")]);
        never.insert(&[PathElement::field("metadata")]);
        for name in IDENTITY_METADATA.iter().chain(SERVER_METADATA) {
            never.insert(&[PathElement::field("metadata"), PathElement::field(name)]);
        }
        never
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u", "resourceVersion": "7", "labels": {"a": "b"}, "managedFields": []},
            "spec": {"replicas": 1},
            "status": {"replicas": 1}
        })
    }

    #[test]
    fn main_scope_drops_status_only_with_a_status_subresource() {
        let with = Scope::new(None, true).config(&object());
        assert!(with.get("status").is_none());
        assert_eq!(
            with["metadata"],
            json!({"name": "web", "labels": {"a": "b"}})
        );
        let without = Scope::new(None, false).config(&object());
        assert_eq!(without["status"], json!({"replicas": 1}));
    }

    #[test]
    fn status_scope_keeps_identity_and_status() {
        let config = Scope::new(Some("status"), true).config(&object());
        assert_eq!(
            config,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 1}})
        );
        assert_eq!(
            Scope::Status.tracked(&object()),
            json!({"status": {"replicas": 1}})
        );
    }

    #[test]
    fn identity_is_never_owned() {
        let mut set = FieldSet::new();
        set.insert(&[PathElement::field("metadata")]);
        set.insert(&[PathElement::field("metadata"), PathElement::field("name")]);
        set.insert(&[
            PathElement::field("metadata"),
            PathElement::field("labels"),
            PathElement::field("a"),
        ]);
        set.insert(&[PathElement::field("kind")]);
        let owned = Scope::owned(&set);
        assert_eq!(owned.paths().len(), 1);
    }
}
