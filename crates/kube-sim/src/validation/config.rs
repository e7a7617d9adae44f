//! ConfigMaps and Secrets: key names, total size, the `immutable` flag, and a Secret's type,
//! which fixes the keys it needs and may not change.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::errors::{Errors, Path};
use super::fields::str_at;
use super::names;

/// The real server's limit on a ConfigMap's or Secret's data (1 MiB).
const MAX_SIZE: usize = 1024 * 1024;
const IMMUTABLE_MSG: &str = "field is immutable when `immutable` is set";

pub fn config_map(errs: &mut Errors, object: &Value, live: Option<&Value>) {
    let data = object.get("data").and_then(Value::as_object);
    let binary = object.get("binaryData").and_then(Value::as_object);
    let mut total = 0;
    for (key, value) in data.into_iter().flatten() {
        key_errors(errs, &Path::root("data").key(key), key);
        total += value.as_str().map_or(0, str::len);
    }
    for (key, value) in binary.into_iter().flatten() {
        let at = Path::root("binaryData").key(key);
        key_errors(errs, &at, key);
        if data.is_some_and(|d| d.contains_key(key)) {
            errs.invalid(&at, &json!(key), "duplicate of key present in data");
        }
        total += decoded_len(value);
    }
    if total > MAX_SIZE {
        errs.too_long("", MAX_SIZE);
    }
    if let Some(live) = live {
        immutable(errs, object, live, &["data", "binaryData"]);
    }
}

pub fn secret(errs: &mut Errors, object: &Value, live: Option<&Value>) {
    let data = object.get("data").and_then(Value::as_object);
    let mut total = 0;
    for (key, value) in data.into_iter().flatten() {
        key_errors(errs, &Path::root("data").key(key), key);
        total += decoded_len(value);
    }
    if total > MAX_SIZE {
        errs.too_long("data", MAX_SIZE);
    }
    let kind = str_at(object, "type").unwrap_or("Opaque");
    required_keys(errs, kind, data);
    if let Some(live) = live {
        let old = str_at(live, "type").unwrap_or("Opaque");
        if old != kind {
            errs.invalid("type", &json!(kind), "field is immutable");
        }
        immutable(errs, object, live, &["data"]);
    }
}

fn key_errors(errs: &mut Errors, path: &Path, key: &str) {
    for msg in names::config_key(key) {
        errs.invalid(path, &json!(key), &msg);
    }
}

fn decoded_len(value: &Value) -> usize {
    value
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .map_or(0, |b| b.len())
}

/// The keys the well-known Secret types need.
fn required_keys(errs: &mut Errors, kind: &str, data: Option<&Map<String, Value>>) {
    let needed: &[&str] = match kind {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    };
    for key in needed {
        if !data.is_some_and(|d| d.contains_key(*key)) {
            errs.required(&Path::root("data").key(key), "");
        }
    }
}

/// Once `immutable: true` is stored, the data and the flag itself are frozen.
fn immutable(errs: &mut Errors, object: &Value, live: &Value, frozen: &[&str]) {
    if live.get("immutable") != Some(&Value::Bool(true)) {
        return;
    }
    if object.get("immutable") != Some(&Value::Bool(true)) {
        errs.forbidden("immutable", IMMUTABLE_MSG);
    }
    for field in frozen {
        let normal = |v: Option<&Value>| {
            v.filter(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(|| json!({}))
        };
        if normal(object.get(*field)) != normal(live.get(*field)) {
            errs.forbidden(field, IMMUTABLE_MSG);
        }
    }
}
