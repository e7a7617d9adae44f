//! Component schemas of custom resources, made from their `CustomResourceDefinition`s the way the
//! API server publishes them: the version's `openAPIV3Schema` with the standard `apiVersion`,
//! `kind` and `metadata` properties put in and the group-version-kind tag added.

use serde_json::{Map, Value, json};

use super::builtin::{API_VERSION_DOC, KIND_DOC, OBJECT_META, gvk};
use crate::resources::ResourceType;

/// The `openAPIV3Schema` a stored CRD gives for the resource type `t`, if any. The CRD is found
/// the way the registry keys types: group, plural and version name.
pub(crate) fn declared_schema<'a>(crds: &'a [Value], t: &ResourceType) -> Option<&'a Value> {
    crds.iter()
        .filter(|crd| {
            crd.pointer("/spec/group").and_then(Value::as_str) == Some(t.group.as_str())
                && crd.pointer("/spec/names/plural").and_then(Value::as_str)
                    == Some(t.plural.as_str())
        })
        .filter_map(|crd| crd.pointer("/spec/versions").and_then(Value::as_array))
        .flatten()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(t.version.as_str()))
        .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
}

/// `com.example.v1.Widget` for `Widget` in `example.com/v1`: the reversed group, as the API server
/// names custom resource schemas, so names cannot collide with the built-in `io.k8s.…` ones.
pub(crate) fn component_name(t: &ResourceType) -> String {
    let reversed: Vec<&str> = t.group.split('.').rev().filter(|s| !s.is_empty()).collect();
    if reversed.is_empty() {
        format!("{}.{}", t.version, t.kind)
    } else {
        format!("{}.{}.{}", reversed.join("."), t.version, t.kind)
    }
}

/// The published schema of `t`. Without a declared schema (a type the registry serves that no
/// CRD, or no built-in schema, describes) the object accepts any field, which is also what the
/// API server does for `x-kubernetes-preserve-unknown-fields` at the root.
pub(crate) fn resource_schema(t: &ResourceType, declared: Option<&Value>) -> Value {
    let mut schema = if let Some(Value::Object(declared)) = declared {
        declared.clone()
    } else {
        let mut open = Map::new();
        open.insert(
            "x-kubernetes-preserve-unknown-fields".to_owned(),
            Value::Bool(true),
        );
        open
    };
    schema
        .entry("type")
        .or_insert_with(|| Value::String("object".to_owned()));
    let properties = schema
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(properties) = properties {
        properties.insert(
            "apiVersion".to_owned(),
            json!({ "type": "string", "description": API_VERSION_DOC }),
        );
        properties.insert(
            "kind".to_owned(),
            json!({ "type": "string", "description": KIND_DOC }),
        );
        // Whatever the CRD says about metadata, the server treats it as ObjectMeta.
        properties.insert(
            "metadata".to_owned(),
            json!({
                "description": "Standard object's metadata.",
                "allOf": [{ "$ref": format!("#/components/schemas/{OBJECT_META}") }],
            }),
        );
    }
    schema.insert(
        "x-kubernetes-group-version-kind".to_owned(),
        gvk(&t.group, &t.version, &t.kind),
    );
    Value::Object(schema)
}
