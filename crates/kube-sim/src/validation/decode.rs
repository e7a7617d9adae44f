//! Typed decoding of built-in kinds: the check the real server makes when it decodes a body into
//! the Go type, with the errors of Go's JSON decoder (`json: cannot unmarshal string into Go
//! struct field DeploymentSpec.spec.replicas of type int32`) and of the custom decoders of
//! `resource.Quantity`, `intstr.IntOrString` and `[]byte`.
//!
//! The walk follows the component schemas generated from `k8s-openapi` (see `crate::openapi`),
//! which carry each field's JSON type and integer format; fields the schema does not declare are
//! left to the `fieldValidation` check.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::quantity;

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
/// Types whose Go decoders take any JSON value, though their schemas say `object`.
const ANY_JSON: &[&str] = &[
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
];
const REF_PREFIX: &str = "#/components/schemas/";
/// `$ref`/`allOf` chains the generated documents use are 2 deep; this only stops a loop.
const MAX_INDIRECTION: usize = 8;

/// The first decoding error of `object` against the schema named `root` in `schemas`, as Go's
/// decoder words it; `None` when the object decodes.
pub fn first_error(schemas: &Map<String, Value>, root: &str, object: &Value) -> Option<String> {
    let schema = schemas.get(root)?;
    let walker = Walker { schemas };
    walker.value(schema, object, &short_name(root), "").err()
}

struct Walker<'a> {
    schemas: &'a Map<String, Value>,
}

/// A schema with its `$ref`s and `allOf`s followed: the facets that describe one Go type.
struct Facets<'a> {
    parts: Vec<&'a Value>,
    /// The last component name a `$ref` led to (the Go type, when it is a named one).
    named: Option<&'a str>,
}

impl<'a> Facets<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.parts.iter().find_map(|p| p.get(key))
    }

    fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }
}

impl<'a> Walker<'a> {
    fn facets(&self, schema: &'a Value) -> Facets<'a> {
        let mut facets = Facets {
            parts: Vec::new(),
            named: None,
        };
        self.collect(schema, 0, &mut facets);
        facets
    }

    fn collect(&self, schema: &'a Value, depth: usize, out: &mut Facets<'a>) {
        if depth > MAX_INDIRECTION {
            return;
        }
        out.parts.push(schema);
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(REF_PREFIX))
            && let Some((key, resolved)) = self.schemas.get_key_value(name)
        {
            out.named = Some(key.as_str());
            self.collect(resolved, depth + 1, out);
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.collect(part, depth + 1, out);
        }
    }

    /// Checks `value` against `schema`; `owner` is the Go struct the field belongs to and
    /// `path` its dotted JSON path without indices, as Go's decoder reports them.
    fn value(
        &self,
        schema: &'a Value,
        value: &Value,
        owner: &str,
        path: &str,
    ) -> Result<(), String> {
        if value.is_null() {
            // Go leaves a field alone for null.
            return Ok(());
        }
        let facets = self.facets(schema);
        match facets.named {
            Some(QUANTITY) => return quantity_value(value),
            Some(INT_OR_STRING) => return int_or_string_value(value),
            Some(name) if ANY_JSON.contains(&name) => return Ok(()),
            _ => {}
        }
        let mismatch = || {
            Err(format!(
                "json: cannot unmarshal {} into Go struct field {owner}.{path} of type {}",
                json_kind(value),
                self.go_type(&facets)
            ))
        };
        match facets.str("type") {
            Some("integer") => {
                let Value::Number(n) = value else {
                    return mismatch();
                };
                let fits = if facets.str("format") == Some("int32") {
                    n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
                } else {
                    n.as_i64().is_some()
                };
                if fits {
                    Ok(())
                } else {
                    Err(format!(
                        "json: cannot unmarshal number {n} into Go struct field {owner}.{path} of type {}",
                        self.go_type(&facets)
                    ))
                }
            }
            Some("number") if !value.is_number() => mismatch(),
            Some("boolean") if !value.is_boolean() => mismatch(),
            Some("string") => match value {
                Value::String(text) if facets.str("format") == Some("byte") => base64_value(text),
                Value::String(_) => Ok(()),
                _ => mismatch(),
            },
            Some("array") => {
                let Value::Array(items) = value else {
                    return mismatch();
                };
                let Some(item_schema) = facets.get("items") else {
                    return Ok(());
                };
                items
                    .iter()
                    .try_for_each(|item| self.value(item_schema, item, owner, path))
            }
            Some("object") => {
                let Value::Object(fields) = value else {
                    return mismatch();
                };
                if let Some(properties) = facets.get("properties").and_then(Value::as_object) {
                    let me = facets.named.map_or_else(|| owner.to_owned(), short_name);
                    for (name, field) in fields {
                        if let Some(field_schema) = properties.get(name) {
                            self.value(field_schema, field, &me, &join(path, name))?;
                        }
                    }
                    Ok(())
                } else if let Some(extra @ Value::Object(_)) = facets.get("additionalProperties") {
                    fields
                        .values()
                        .try_for_each(|v| self.value(extra, v, owner, path))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// The Go type name the decoder reports: `int32`, `[]v1.Container`, `map[string]string`.
    fn go_type(&self, facets: &Facets<'a>) -> String {
        if let Some(name) = facets.named {
            return match name {
                QUANTITY => "resource.Quantity".to_owned(),
                INT_OR_STRING => "intstr.IntOrString".to_owned(),
                other => qualified_go_name(other),
            };
        }
        match facets.str("type") {
            Some("integer") => facets.str("format").unwrap_or("int64").to_owned(),
            Some("number") => "float64".to_owned(),
            Some("boolean") => "bool".to_owned(),
            Some("string") if facets.str("format") == Some("byte") => "[]uint8".to_owned(),
            Some("string") => "string".to_owned(),
            Some("array") => {
                let item = facets.get("items").map_or_else(
                    || "interface {}".to_owned(),
                    |s| self.go_type(&self.facets(s)),
                );
                format!("[]{item}")
            }
            Some("object") => match facets.get("additionalProperties") {
                Some(extra @ Value::Object(_)) => {
                    format!("map[string]{}", self.go_type(&self.facets(extra)))
                }
                _ => "map[string]interface {}".to_owned(),
            },
            _ => "interface {}".to_owned(),
        }
    }
}

/// `resource.Quantity` takes a string or a bare number and parses it; anything else fails the
/// same way a malformed string does.
fn quantity_value(value: &Value) -> Result<(), String> {
    match value {
        Value::Number(_) => Ok(()),
        Value::String(text) => quantity::parse(text.trim())
            .map(|_| ())
            .map_err(str::to_owned),
        _ => Err(quantity::FORMAT_WRONG.to_owned()),
    }
}

/// `intstr.IntOrString` takes a string, or else decodes the value as an int32.
fn int_or_string_value(value: &Value) -> Result<(), String> {
    match value {
        Value::String(_) => Ok(()),
        Value::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => Ok(()),
        Value::Number(n) => Err(format!(
            "json: cannot unmarshal number {n} into Go value of type int32"
        )),
        other => Err(format!(
            "json: cannot unmarshal {} into Go value of type int32",
            json_kind(other)
        )),
    }
}

/// `[]byte` fields (Secret data) are standard base64.
fn base64_value(text: &str) -> Result<(), String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(|_| ())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => {
                format!("illegal base64 data at input byte {at}")
            }
            _ => format!("illegal base64 data at input byte {}", text.len()),
        })
}

/// What Go's decoder calls a JSON value in its messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `DeploymentSpec` for `io.k8s.api.apps.v1.DeploymentSpec`.
fn short_name(component: &str) -> String {
    component.rsplit('.').next().unwrap_or(component).to_owned()
}

/// `v1.DeploymentSpec`: the Go package and type, as Go prints a type.
fn qualified_go_name(component: &str) -> String {
    let mut parts = component.rsplit('.');
    match (parts.next(), parts.next()) {
        (Some(name), Some(package)) => format!("{package}.{name}"),
        _ => component.to_owned(),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}
