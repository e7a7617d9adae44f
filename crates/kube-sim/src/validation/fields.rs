//! Small readers for the JSON object being validated, and the numeric checks the real validators
//! share (`must be greater than or equal to 0`, port ranges).

use serde_json::{Value, json};

use super::errors::Errors;

pub const NON_NEGATIVE: &str = "must be greater than or equal to 0";
pub const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

pub fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

pub fn int_at(value: &Value, key: &str) -> Option<i64> {
    value.get(key).and_then(Value::as_i64)
}

pub fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub fn is_empty_or_missing(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// `field: Invalid value: -1: must be greater than or equal to 0` for a negative number.
pub fn non_negative(errs: &mut Errors, value: &Value, key: &str, field: &str) {
    if let Some(n) = int_at(value, key).filter(|n| *n < 0) {
        errs.invalid(field, &json!(n), NON_NEGATIVE);
    }
}

/// A port number field, when set, must be 1–65535.
pub fn port_number(errs: &mut Errors, number: i64, field: &str) {
    if !(1..=65_535).contains(&number) {
        errs.invalid(field, &json!(number), PORT_RANGE);
    }
}
