//! Strategic merge patch: a JSON merge patch that merges keyed lists item by item (the same table
//! server-side apply uses) and understands the `$patch`, `$deleteFromPrimitiveList`,
//! `$retainKeys` and `$setElementOrder` directives kubectl sends.

use serde_json::{Map, Value};

use super::schema::{ListType, Schema, item_key};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// `patch` applied to `original`. Errors are messages for a 400.
pub fn apply(schema: &Schema, original: &Value, patch: &Value) -> Result<Value, String> {
    let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
        return Err("a strategic merge patch must be a JSON object".to_owned());
    };
    let mut names = Vec::new();
    let merged = merge_map(schema, &mut names, Some(original), patch)?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// The merge of one map; `None` when the patch deletes it.
fn merge_map(
    schema: &Schema,
    names: &mut Vec<String>,
    original: Option<&Map<String, Value>>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, String> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(directive)) if directive == "merge" => {}
        Some(Value::String(directive)) if directive == "delete" => return Ok(None),
        Some(Value::String(directive)) if directive == "replace" => {
            return Ok(Some(without_directives(patch)));
        }
        Some(other) => return Err(format!("unknown patch type {other} in {}", at(names))),
    }
    let mut out = original.cloned().unwrap_or_default();
    // Deletions from primitive lists apply to the original, before the patch adds anything.
    for (name, value) in patch {
        if let Some(field) = name.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(doomed) = value else {
                return Err(format!("{name} in {} must be a list", at(names)));
            };
            if let Some(Value::Array(items)) = out.get_mut(field) {
                items.retain(|item| !doomed.contains(item));
            }
        }
    }
    for (name, value) in patch {
        // Directives are never stored. `$setElementOrder/<list>` only reorders items, and we keep
        // the live order with new items appended.
        if name.starts_with('$') {
            continue;
        }
        names.push(name.clone());
        let merged = merge_value(schema, names, out.get(name), value);
        names.pop();
        match merged? {
            Some(merged) => {
                out.insert(name.clone(), merged);
            }
            None => {
                out.remove(name);
            }
        }
    }
    if let Some(retained) = patch.get(RETAIN_KEYS) {
        let Value::Array(retained) = retained else {
            return Err(format!("{RETAIN_KEYS} in {} must be a list", at(names)));
        };
        out.retain(|name, _| retained.iter().any(|r| r.as_str() == Some(name)));
    }
    Ok(Some(out))
}

/// The merge of one field's value; `None` when the field is to be removed.
fn merge_value(
    schema: &Schema,
    names: &mut Vec<String>,
    original: Option<&Value>,
    patch: &Value,
) -> Result<Option<Value>, String> {
    match (original, patch) {
        (_, Value::Null) => Ok(None),
        (Some(Value::Object(original)), Value::Object(patch)) => {
            Ok(merge_map(schema, names, Some(original), patch)?.map(Value::Object))
        }
        (_, Value::Object(patch)) => Ok(merge_map(schema, names, None, patch)?.map(Value::Object)),
        (original, Value::Array(patch)) => {
            let original = match original {
                Some(Value::Array(items)) => items.as_slice(),
                _ => &[],
            };
            merge_list(schema, names, original, patch).map(|items| Some(Value::Array(items)))
        }
        (_, scalar) => Ok(Some(scalar.clone())),
    }
}

fn merge_list(
    schema: &Schema,
    names: &mut Vec<String>,
    original: &[Value],
    patch: &[Value],
) -> Result<Vec<Value>, String> {
    let field_names: Vec<&str> = names.iter().map(String::as_str).collect();
    let list = schema.list_type(&field_names);
    let replace = patch
        .iter()
        .any(|item| item.get(PATCH).and_then(Value::as_str) == Some("replace"));
    if replace || list == ListType::Atomic {
        return Ok(patch
            .iter()
            .filter(|item| item.get(PATCH).is_none())
            .map(clean)
            .collect());
    }
    let ListType::Map(keys) = list else {
        // A set of scalars merges by union.
        let mut out = original.to_vec();
        for item in patch {
            if !out.contains(item) {
                out.push(item.clone());
            }
        }
        return Ok(out);
    };
    let mut out = original.to_vec();
    for item in patch {
        let Value::Object(fields) = item else {
            return Err(format!(
                "{}: the items of a keyed list must be objects",
                at(names)
            ));
        };
        let key = item_key(item, keys).ok_or_else(|| {
            let key_names: Vec<&str> = keys.iter().map(|k| k.name).collect();
            format!(
                "{}: a list item lacks its merge key {key_names:?}",
                at(names)
            )
        })?;
        let position = out
            .iter()
            .position(|existing| item_key(existing, keys).as_ref() == Some(&key));
        if fields.get(PATCH).and_then(Value::as_str) == Some("delete") {
            out.retain(|existing| item_key(existing, keys).as_ref() != Some(&key));
            continue;
        }
        let existing = position.and_then(|i| out[i].as_object());
        match (merge_map(schema, names, existing, fields)?, position) {
            (Some(merged), Some(i)) => out[i] = Value::Object(merged),
            (Some(merged), None) => out.push(Value::Object(merged)),
            (None, Some(i)) => {
                out.remove(i);
            }
            (None, None) => {}
        }
    }
    Ok(out)
}

/// A replacement value: directives stripped, nulls dropped.
fn clean(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(without_directives(map)),
        Value::Array(items) => Value::Array(items.iter().map(clean).collect()),
        other => other.clone(),
    }
}

fn without_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(name, value)| !name.starts_with('$') && !value.is_null())
        .map(|(name, value)| (name.clone(), clean(value)))
        .collect()
}

fn at(names: &[String]) -> String {
    if names.is_empty() {
        "the patch".to_owned()
    } else {
        format!(".{}", names.join("."))
    }
}
