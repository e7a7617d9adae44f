//! Custom resources checked against their CRD's `openAPIV3Schema`, with the messages of the
//! apiextensions validator (`spec.size: Invalid value: "string": spec.size in body must be of type
//! integer: "string"`): types, `required`, `enum`, bounds, lengths, item counts, `pattern`,
//! `nullable`, `x-kubernetes-int-or-string` and `x-kubernetes-preserve-unknown-fields`.

use serde_json::{Value, json};

use super::errors::Errors;

/// Checks `object` against a CRD version's schema. `metadata`, `apiVersion` and `kind` are the
/// server's own and are not checked here.
pub fn validate(errs: &mut Errors, schema: &Value, object: &Value) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, field_schema) in properties {
        if matches!(name.as_str(), "metadata" | "apiVersion" | "kind") {
            continue;
        }
        if let Some(value) = object.get(name) {
            check(errs, field_schema, value, name);
        }
    }
    required(errs, schema, object, "");
}

fn required(errs: &mut Errors, schema: &Value, object: &Value, path: &str) {
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if object.get(name).is_none() {
            errs.required(&join(path, name), "");
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(errs: &mut Errors, schema: &Value, value: &Value, path: &str) {
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
    if value.is_null() {
        if !flag("nullable") && schema.get("type").is_some() {
            let expected = schema
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            errs.type_invalid(
                path,
                &json!("null"),
                &format!("{path} in body must be of type {expected}: \"null\""),
            );
        }
        return;
    }
    if flag("x-kubernetes-int-or-string") {
        if !(value.is_string() || value.as_i64().is_some()) {
            let actual = type_name(value);
            errs.type_invalid(
                path,
                &json!(actual),
                &format!("{path} in body must be of type integer,string: \"{actual}\""),
            );
        }
        return;
    }
    let actual = type_name(value);
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let fits = expected == actual || (expected == "number" && actual == "integer");
        if !fits {
            errs.type_invalid(
                path,
                &json!(actual),
                &format!("{path} in body must be of type {expected}: \"{actual}\""),
            );
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let texts: Vec<String> = allowed
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        errs.not_supported(path, value, &refs);
    }
    match value {
        Value::Number(n) => bounds(errs, schema, n.as_f64().unwrap_or(0.0), value, path),
        Value::String(text) => string(errs, schema, text, value, path),
        Value::Array(items) => {
            let count = items.len();
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (count as u64) < min
            {
                errs.invalid(
                    path,
                    &json!(count),
                    &format!("{path} in body should have at least {min} items"),
                );
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && count as u64 > max
            {
                errs.too_many(path, count, usize::try_from(max).unwrap_or(usize::MAX));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(errs, item_schema, item, &format!("{path}[{i}]"));
                }
            }
        }
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (name, field) in fields {
                let child = join(path, name);
                if let Some(s) = properties.and_then(|p| p.get(name)) {
                    check(errs, s, field, &child);
                } else if let Some(s) = additional {
                    check(errs, s, field, &child);
                }
            }
            required(errs, schema, value, path);
        }
        _ => {}
    }
}

fn bounds(errs: &mut Errors, schema: &Value, n: f64, value: &Value, path: &str) {
    let exclusive = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
    if let Some(min) = schema.get("minimum") {
        let m = min.as_f64().unwrap_or(f64::MIN);
        if exclusive("exclusiveMinimum") && n <= m {
            errs.invalid(
                path,
                value,
                &format!("{path} in body should be greater than {min}"),
            );
        } else if n < m {
            errs.invalid(
                path,
                value,
                &format!("{path} in body should be greater than or equal to {min}"),
            );
        }
    }
    if let Some(max) = schema.get("maximum") {
        let m = max.as_f64().unwrap_or(f64::MAX);
        if exclusive("exclusiveMaximum") && n >= m {
            errs.invalid(
                path,
                value,
                &format!("{path} in body should be less than {max}"),
            );
        } else if n > m {
            errs.invalid(
                path,
                value,
                &format!("{path} in body should be less than or equal to {max}"),
            );
        }
    }
}

fn string(errs: &mut Errors, schema: &Value, text: &str, value: &Value, path: &str) {
    let length = text.chars().count();
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && (length as u64) < min
    {
        errs.invalid(
            path,
            value,
            &format!("{path} in body should be at least {min} chars long"),
        );
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && length as u64 > max
    {
        errs.too_long_max_length(path, max);
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && let Ok(re) = regex::Regex::new(pattern)
        && !re.is_match(text)
    {
        errs.invalid(
            path,
            value,
            &format!("{path} in body should match '{pattern}'"),
        );
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}
