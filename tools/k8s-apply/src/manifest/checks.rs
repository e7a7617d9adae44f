//! What every object must have (`apiVersion`, `kind`, `metadata.name` and its rules), and the
//! kinds a CustomResourceDefinition defines.

use serde_json::Value;

use crate::builtin::group_of;
use crate::names::{NameRule, is_dns_label};

/// `(apiVersion, kind)`.
pub(super) type KindKey = (String, String);

/// The fields every object must have, once checked.
pub(super) struct Fields {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) name: String,
    pub(super) namespace: Option<String>,
}

impl Fields {
    pub(super) fn group(&self) -> &str {
        group_of(&self.api_version)
    }
}

/// Checks what every object needs, adding each problem to `found` (all of them, not the first).
pub(super) fn check_object(object: &Value, found: &mut Vec<String>) -> Option<Fields> {
    let Some(map) = object.as_object() else {
        found.push(format!(
            "this document is {}, not a Kubernetes object (a mapping with apiVersion, kind and metadata)",
            type_name(object)
        ));
        return None;
    };
    let api_version = match map.get("apiVersion") {
        Some(Value::String(v)) if is_api_version(v) => Some(v.clone()),
        Some(Value::String(v)) => {
            found.push(format!(
                "apiVersion {v:?} is not VERSION or GROUP/VERSION (e.g. v1, apps/v1)"
            ));
            None
        }
        Some(other) => {
            found.push(format!(
                "apiVersion must be a string, not {}",
                type_name(other)
            ));
            None
        }
        None => {
            found.push("missing apiVersion; add one, e.g. `apiVersion: apps/v1`".to_owned());
            None
        }
    };
    let kind = match map.get("kind") {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        Some(Value::String(_)) | None => {
            found.push("missing kind; add one, e.g. `kind: Deployment`".to_owned());
            None
        }
        Some(other) => {
            found.push(format!("kind must be a string, not {}", type_name(other)));
            None
        }
    };
    let metadata = map.get("metadata").and_then(Value::as_object);
    if map.get("metadata").is_some_and(|m| !m.is_object()) {
        found.push("metadata must be a mapping".to_owned());
    }
    let name = match metadata.and_then(|m| m.get("name")) {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        Some(Value::String(_)) | None => {
            if metadata.is_some_and(|m| m.contains_key("generateName")) {
                found.push(
                    "metadata.generateName is not supported: apply needs a fixed metadata.name to find the object again"
                        .to_owned(),
                );
            } else {
                found.push("missing metadata.name; every object needs a name".to_owned());
            }
            None
        }
        Some(other) => {
            found.push(format!(
                "metadata.name must be a string, not {}",
                type_name(other)
            ));
            None
        }
    };
    let namespace = match metadata.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) if v.is_empty() => None,
        Some(Value::String(v)) if is_dns_label(v) => Some(v.clone()),
        Some(Value::String(v)) => {
            found.push(format!(
                "metadata.namespace {v:?} is not a valid namespace; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
            ));
            None
        }
        Some(other) => {
            found.push(format!(
                "metadata.namespace must be a string, not {}",
                type_name(other)
            ));
            None
        }
    };
    let (api_version, kind, name) = (api_version?, kind?, name?);
    let rule = NameRule::for_kind(group_of(&api_version), &kind);
    if !rule.accepts(&name) {
        found.push(format!(
            "metadata.name {name:?} is not a valid {kind} name; {}",
            rule.describe()
        ));
        return None;
    }
    if !found.is_empty() {
        return None;
    }
    Some(Fields {
        api_version,
        kind,
        name,
        namespace,
    })
}

pub(super) fn is_api_version(value: &str) -> bool {
    let mut parts = value.split('/');
    let ok = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && !p.contains(char::is_whitespace))
    };
    match (parts.next(), parts.next(), parts.next()) {
        (version, None, None) => ok(version),
        (group, version, None) => ok(group) && ok(version),
        _ => false,
    }
}

pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The kinds a CustomResourceDefinition defines, as `((apiVersion, kind), namespaced)`, or what
/// is wrong with it. Its name must be `<plural>.<group>`, which the API server would refuse
/// otherwise.
pub(super) fn crd_kinds(crd: &Value, name: &str) -> Result<Vec<(KindKey, bool)>, String> {
    let spec = crd.get("spec");
    let text = |pointer: &str| {
        spec.and_then(|s| s.pointer(pointer))
            .and_then(Value::as_str)
    };
    let (Some(group), Some(kind), Some(plural)) =
        (text("/group"), text("/names/kind"), text("/names/plural"))
    else {
        return Err(
            "this CustomResourceDefinition needs spec.group, spec.names.kind and spec.names.plural"
                .to_owned(),
        );
    };
    let expected = format!("{plural}.{group}");
    if name != expected {
        return Err(format!(
            "a CustomResourceDefinition must be named <spec.names.plural>.<spec.group>: rename {name:?} to {expected:?}"
        ));
    }
    let namespaced = match text("/scope") {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => {
            return Err(format!(
                "spec.scope of this CustomResourceDefinition is {other:?}; use Namespaced or Cluster"
            ));
        }
    };
    // apiextensions v1 lists spec.versions; the old v1beta1 also had a single spec.version.
    let mut versions: Vec<&str> = spec
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    versions.extend(text("/version"));
    if versions.is_empty() {
        return Err("this CustomResourceDefinition lists no spec.versions".to_owned());
    }
    Ok(versions
        .into_iter()
        .map(|version| ((format!("{group}/{version}"), kind.to_owned()), namespaced))
        .collect())
}
