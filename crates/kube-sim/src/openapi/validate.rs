//! Finding the fields of an object that its published schema does not declare.
//!
//! kubectl never checks this itself when the server advertises `fieldValidation` (see
//! [`super::paths`]): it sends `fieldValidation=Strict` and counts on the server to refuse unknown
//! fields. A real API server refuses them in every server-side apply (whatever `fieldValidation`
//! says, because the apply machinery needs a typed object), and in create, update and other
//! patches when `fieldValidation=Strict`. The walk below follows the schema conventions the
//! published documents use: `$ref`/`allOf`, `properties`, `additionalProperties`, `items`, and the
//! `x-kubernetes-preserve-unknown-fields` / `x-kubernetes-embedded-resource` escapes.

use serde_json::{Map, Value};

/// How deep `$ref`/`allOf` chains are followed without descending into the value; the published
/// documents need 2, so this only stops a malformed CRD schema that refers to itself.
const MAX_INDIRECTION: usize = 8;

/// Appends to `out` the paths (`spec.replicaz`, `spec.template.spec.containers[0].imagee`) of the
/// fields of `value` that `schema` does not declare. `schemas` are the document's components.
pub(crate) fn undeclared(
    schemas: &Map<String, Value>,
    schema: &Value,
    value: &Value,
    path: &str,
    out: &mut Vec<String>,
) {
    let mut facets = Vec::new();
    collect_facets(schemas, schema, 0, &mut facets);
    let flag = |name: &str| {
        facets
            .iter()
            .any(|f| f.get(name).and_then(Value::as_bool) == Some(true))
    };
    if flag("x-kubernetes-int-or-string") {
        return;
    }
    match value {
        Value::Object(fields) => {
            let preserve = flag("x-kubernetes-preserve-unknown-fields");
            let embedded = flag("x-kubernetes-embedded-resource");
            let additional = facets.iter().find_map(|f| f.get("additionalProperties"));
            let has_properties = facets.iter().any(|f| f.get("properties").is_some());
            if !has_properties && additional.is_none() {
                // A free-form object (RawExtension, FieldsV1, a CRD's `type: object` alone):
                // nothing is declared, so nothing is unknown.
                return;
            }
            for (name, field) in fields {
                let child = join(path, name);
                let declared = facets
                    .iter()
                    .find_map(|f| f.get("properties").and_then(|p| p.get(name)));
                if let Some(field_schema) = declared {
                    undeclared(schemas, field_schema, field, &child, out);
                } else if let Some(extra @ Value::Object(_)) = additional {
                    undeclared(schemas, extra, field, &child, out);
                } else {
                    // Preserved fields are kept as given, below too; an embedded object carries
                    // its own type and metadata implicitly.
                    let allowed = preserve
                        || additional == Some(&Value::Bool(true))
                        || (embedded
                            && matches!(name.as_str(), "apiVersion" | "kind" | "metadata"));
                    if !allowed {
                        out.push(child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = facets.iter().find_map(|f| f.get("items")) {
                for (index, item) in items.iter().enumerate() {
                    undeclared(schemas, item_schema, item, &format!("{path}[{index}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The schema and everything it stands for through `$ref` and `allOf`, flattened: a field is
/// declared if any of them declares it.
fn collect_facets<'a>(
    schemas: &'a Map<String, Value>,
    schema: &'a Value,
    depth: usize,
    out: &mut Vec<&'a Value>,
) {
    if depth > MAX_INDIRECTION {
        return;
    }
    out.push(schema);
    let target = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"));
    if let Some(resolved) = target.and_then(|name| schemas.get(name)) {
        collect_facets(schemas, resolved, depth + 1, out);
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect_facets(schemas, part, depth + 1, out);
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}
