//! `metadata` checks every kind shares: the name (by the kind's rule), `generateName`, label keys
//! and values, annotation keys and their total size.

use serde_json::{Value, json};

use super::errors::{Errors, Path};
use super::names::{self, NameRule};

/// The real server's limit on all annotations of one object together.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Checks an object's `metadata` at `path` (`metadata`, or `spec.template.metadata` for
/// templates, which have no name).
pub fn object_meta(errs: &mut Errors, meta: &Value, path: &Path, rule: Option<NameRule>) {
    if let Some(rule) = rule {
        if let Some(prefix) = meta
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            // The random suffix comes after the prefix, so a trailing '-' is allowed.
            let masked = prefix
                .strip_suffix('-')
                .map_or_else(|| prefix.to_owned(), |p| format!("{p}a"));
            for msg in rule(&masked) {
                errs.invalid(&path.child("generateName"), &json!(prefix), &msg);
            }
        }
        match meta.get("name").and_then(Value::as_str) {
            None | Some("") => {
                errs.required(&path.child("name"), "name or generateName is required");
            }
            Some(name) => {
                for msg in rule(name) {
                    errs.invalid(&path.child("name"), &json!(name), &msg);
                }
            }
        }
    }
    labels(errs, meta.get("labels"), &path.child("labels"));
    annotations(errs, meta.get("annotations"), &path.child("annotations"));
}

/// Label keys are qualified names, values label values; every error is reported at the
/// `labels` field itself, as the real server does.
pub fn labels(errs: &mut Errors, labels: Option<&Value>, path: &Path) {
    let Some(labels) = labels.and_then(Value::as_object) else {
        return;
    };
    for (key, value) in labels {
        for msg in names::qualified_name(key) {
            errs.invalid(path, &json!(key), &msg);
        }
        let text = value.as_str().unwrap_or_default();
        for msg in names::label_value(text) {
            errs.invalid(path, &json!(text), &msg);
        }
    }
}

fn annotations(errs: &mut Errors, annotations: Option<&Value>, path: &Path) {
    let Some(annotations) = annotations.and_then(Value::as_object) else {
        return;
    };
    let mut total = 0;
    for (key, value) in annotations {
        for msg in names::qualified_name(&key.to_lowercase()) {
            errs.invalid(path, &json!(key), &msg);
        }
        total += key.len() + value.as_str().map_or(0, str::len);
    }
    if total > ANNOTATIONS_MAX_BYTES {
        errs.too_long(path, ANNOTATIONS_MAX_BYTES);
    }
}

/// A `LabelSelector` (`matchLabels`, `matchExpressions`) at `path`.
pub fn label_selector(errs: &mut Errors, selector: &Value, path: &Path) {
    labels(
        errs,
        selector.get("matchLabels"),
        &path.child("matchLabels"),
    );
    for (i, expr) in super::fields::array_at(selector, "matchExpressions")
        .iter()
        .enumerate()
    {
        let at = path.child("matchExpressions").index(i);
        let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
        for msg in names::qualified_name(key) {
            errs.invalid(&at.child("key"), &json!(key), &msg);
        }
        let has_values = !super::fields::array_at(expr, "values").is_empty();
        match expr
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "In" | "NotIn" if !has_values => errs.required(
                &at.child("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            ),
            "Exists" | "DoesNotExist" if has_values => errs.forbidden(
                &at.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.invalid(
                &at.child("operator"),
                &json!(other),
                "not a valid selector operator",
            ),
        }
    }
}
