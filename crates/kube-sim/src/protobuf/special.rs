//! The types whose JSON form is not their message's: times, durations, int-or-string,
//! quantities, embedded raw JSON, and the apiextensions schema unions. Go gives each its own
//! marshallers; these are their rules, in both directions.

use serde_json::Value;

use super::CodecError;
use super::decode::{bytes_of, int32_of, int64_of};
use super::wire::{self, Reader, WireValue};

const TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const RAW_EXTENSION: &str = "io.k8s.apimachinery.pkg.runtime.RawExtension";
const APIEXTENSIONS: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.";

/// How a special type is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    /// `metav1.Time`: whole seconds, RFC 3339 (Go drops the nanoseconds both ways).
    Time,
    /// `metav1.MicroTime`: RFC 3339 with six fractional digits.
    MicroTime,
    /// `metav1.Duration`: Go's duration string (`1h0m0s`).
    Duration,
    /// `IntOrString`: a JSON number or string.
    IntOrString,
    /// `resource.Quantity`: its string.
    Quantity,
    /// Raw JSON bytes in field 1: `RawExtension`, `FieldsV1`, apiextensions `JSON`.
    RawJson,
    /// `JSONSchemaPropsOrArray`: a schema (1) or a list of schemas (2).
    SchemaOrArray,
    /// `JSONSchemaPropsOrBool`: a bool (1) or a schema (2).
    SchemaOrBool,
    /// `JSONSchemaPropsOrStringArray`: a schema (1) or a list of strings (2).
    SchemaOrStrings,
}

fn special(name: &str) -> Option<(Special, String)> {
    let (special, schema) = match name {
        TIME => (Special::Time, String::new()),
        MICRO_TIME => (Special::MicroTime, String::new()),
        DURATION => (Special::Duration, String::new()),
        INT_OR_STRING => (Special::IntOrString, String::new()),
        QUANTITY => (Special::Quantity, String::new()),
        FIELDS_V1 | RAW_EXTENSION => (Special::RawJson, String::new()),
        _ => {
            let rest = name.strip_prefix(APIEXTENSIONS)?;
            let (version, type_name) = rest.split_once('.')?;
            let schema = format!("{APIEXTENSIONS}{version}.JSONSchemaProps");
            match type_name {
                "JSON" => (Special::RawJson, schema),
                "JSONSchemaPropsOrArray" => (Special::SchemaOrArray, schema),
                "JSONSchemaPropsOrBool" => (Special::SchemaOrBool, schema),
                "JSONSchemaPropsOrStringArray" => (Special::SchemaOrStrings, schema),
                _ => return None,
            }
        }
    };
    Some((special, schema))
}

type Decoder<'d> = dyn Fn(&str, &[u8]) -> Result<Value, CodecError> + 'd;
type Encoder<'e> = dyn Fn(&str, &Value) -> Result<Vec<u8>, CodecError> + 'e;

/// The fields of a small message, by tag (the last occurrence wins, repeated ones in order).
fn fields(bytes: &[u8]) -> Result<Vec<(u32, WireValue<'_>)>, CodecError> {
    let mut reader = Reader::new(bytes);
    let mut fields = Vec::new();
    while let Some(field) = reader.field()? {
        fields.push(field);
    }
    Ok(fields)
}

fn last<'a>(fields: &[(u32, WireValue<'a>)], tag: u32) -> Option<WireValue<'a>> {
    fields
        .iter()
        .rev()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| *v)
}

fn utf8(value: Option<WireValue<'_>>) -> Result<String, CodecError> {
    let bytes = value.and_then(bytes_of).unwrap_or_default();
    String::from_utf8(bytes.to_vec())
        .map_err(|_| CodecError::new("proto: string is not valid UTF-8"))
}

/// The JSON of the special type `name` decoded from `bytes`, or `None` if it is an ordinary
/// message.
pub fn decode(
    name: &str,
    bytes: &[u8],
    message: &Decoder<'_>,
) -> Option<Result<Value, CodecError>> {
    let (special, schema) = special(name)?;
    Some(decode_special(special, &schema, bytes, message))
}

fn decode_special(
    special: Special,
    schema: &str,
    bytes: &[u8],
    message: &Decoder<'_>,
) -> Result<Value, CodecError> {
    let fields = fields(bytes)?;
    let raw = || last(&fields, 1).and_then(bytes_of).unwrap_or_default();
    Ok(match special {
        // A zero time is an empty message; Go writes it as JSON null.
        Special::Time | Special::MicroTime if bytes.is_empty() => Value::Null,
        Special::Time => {
            let seconds = last(&fields, 1).and_then(int64_of).unwrap_or(0);
            Value::String(format_time(seconds, None)?)
        }
        Special::MicroTime => {
            let seconds = last(&fields, 1).and_then(int64_of).unwrap_or(0);
            let nanos = last(&fields, 2).and_then(int32_of).unwrap_or(0);
            Value::String(format_time(seconds, Some(nanos))?)
        }
        Special::Duration => Value::String(go_duration(
            last(&fields, 1).and_then(int64_of).unwrap_or(0),
        )),
        Special::IntOrString => {
            if last(&fields, 1).and_then(int64_of) == Some(1) {
                Value::String(utf8(last(&fields, 3))?)
            } else {
                Value::from(last(&fields, 2).and_then(int32_of).unwrap_or(0))
            }
        }
        Special::Quantity => Value::String(utf8(last(&fields, 1))?),
        Special::RawJson if raw().is_empty() => Value::Null,
        Special::RawJson => serde_json::from_slice(raw())
            .map_err(|e| CodecError::new(format!("embedded object is not JSON: {e}")))?,
        Special::SchemaOrArray => {
            let list: Vec<Value> = fields
                .iter()
                .filter(|(t, _)| *t == 2)
                .filter_map(|(_, v)| bytes_of(*v))
                .map(|b| message(schema, b))
                .collect::<Result<_, _>>()?;
            if list.is_empty() {
                schema_or_null(&fields, 1, schema, message)?
            } else {
                Value::Array(list)
            }
        }
        Special::SchemaOrBool => match last(&fields, 2).and_then(bytes_of) {
            Some(b) => message(schema, b)?,
            None => Value::Bool(matches!(last(&fields, 1), Some(WireValue::Varint(v)) if v != 0)),
        },
        Special::SchemaOrStrings => {
            let strings: Vec<Value> = fields
                .iter()
                .filter(|(t, _)| *t == 2)
                .map(|(_, v)| utf8(Some(*v)).map(Value::String))
                .collect::<Result<_, _>>()?;
            if strings.is_empty() {
                schema_or_null(&fields, 1, schema, message)?
            } else {
                Value::Array(strings)
            }
        }
    })
}

fn schema_or_null(
    fields: &[(u32, WireValue<'_>)],
    tag: u32,
    schema: &str,
    message: &Decoder<'_>,
) -> Result<Value, CodecError> {
    match last(fields, tag).and_then(bytes_of) {
        Some(b) => message(schema, b),
        None => Ok(Value::Null),
    }
}

/// The bytes of the special type `name` for `value` (not null), or `None` if it is an ordinary
/// message.
pub fn encode(
    name: &str,
    value: &Value,
    message: &Encoder<'_>,
) -> Option<Result<Vec<u8>, CodecError>> {
    let (special, schema) = special(name)?;
    Some(encode_special(special, &schema, value, message))
}

fn encode_special(
    special: Special,
    schema: &str,
    value: &Value,
    message: &Encoder<'_>,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let wrong = || CodecError::new(format!("cannot encode {value} as {special:?}"));
    match (special, value) {
        (Special::Time | Special::MicroTime, Value::String(text)) => {
            let stamp: jiff::Timestamp = text.parse().map_err(|_| wrong())?;
            wire::put_int(&mut out, 1, stamp.as_second());
            let nanos = if special == Special::MicroTime {
                stamp.subsec_nanosecond()
            } else {
                0
            };
            wire::put_int(&mut out, 2, i64::from(nanos));
        }
        (Special::Duration, Value::String(text)) => {
            wire::put_int(&mut out, 1, parse_go_duration(text).ok_or_else(wrong)?);
        }
        (Special::IntOrString, Value::Number(n)) => {
            let int = n
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(wrong)?;
            wire::put_int(&mut out, 1, 0);
            wire::put_int(&mut out, 2, i64::from(int));
            wire::put_bytes(&mut out, 3, b"");
        }
        (Special::IntOrString, Value::String(text)) => {
            wire::put_int(&mut out, 1, 1);
            wire::put_int(&mut out, 2, 0);
            wire::put_bytes(&mut out, 3, text.as_bytes());
        }
        (Special::Quantity, Value::String(text)) => wire::put_bytes(&mut out, 1, text.as_bytes()),
        (Special::Quantity, Value::Number(n)) => {
            wire::put_bytes(&mut out, 1, n.to_string().as_bytes());
        }
        (Special::RawJson, raw) => {
            let bytes = serde_json::to_vec(raw).map_err(|_| wrong())?;
            wire::put_bytes(&mut out, 1, &bytes);
        }
        (Special::SchemaOrArray | Special::SchemaOrStrings, Value::Object(_)) => {
            wire::put_bytes(&mut out, 1, &message(schema, value)?);
        }
        (Special::SchemaOrArray, Value::Array(schemas)) => {
            for item in schemas {
                wire::put_bytes(&mut out, 2, &message(schema, item)?);
            }
        }
        (Special::SchemaOrStrings, Value::Array(strings)) => {
            for item in strings {
                wire::put_bytes(&mut out, 2, item.as_str().ok_or_else(wrong)?.as_bytes());
            }
        }
        (Special::SchemaOrBool, Value::Bool(allows)) => {
            wire::put_int(&mut out, 1, i64::from(*allows));
        }
        (Special::SchemaOrBool, Value::Object(_)) => {
            wire::put_int(&mut out, 1, 1);
            wire::put_bytes(&mut out, 2, &message(schema, value)?);
        }
        _ => return Err(wrong()),
    }
    Ok(out)
}

/// `2006-01-02T15:04:05Z`, or with `nanos` `2006-01-02T15:04:05.000000Z` (microseconds).
fn format_time(seconds: i64, nanos: Option<i32>) -> Result<String, CodecError> {
    let stamp = jiff::Timestamp::from_second(seconds)
        .map_err(|e| CodecError::new(format!("time out of range: {e}")))?;
    let whole = stamp.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    Ok(match nanos {
        None => format!("{whole}Z"),
        Some(n) => format!("{whole}.{:06}Z", n.clamp(0, 999_999_999) / 1000),
    })
}

/// Go's `time.Duration.String`: `0s`, `1.5s`, `2m0s`, `1h0m0s`, `300ms`, `1µs`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, scale) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", decimal(n, scale));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = n / 60_000_000_000 % 60;
    let seconds = decimal(n % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// `value / scale` with its fraction, without trailing zeros.
fn decimal(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let fraction = value % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = scale.to_string().len() - 1;
    let fraction = format!("{fraction:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// Parses Go's duration syntax (`1h30m`, `1.5s`, `-2ms`) into nanoseconds.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "a duration's fraction is rounded to whole nanoseconds, as Go does"
)]
fn parse_go_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|len| *len > 0)?;
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    let nanos = total.round() as i64;
    Some(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        // Expected strings from Go's time.Duration.String documentation and tests.
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (240_000_000_000, "4m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (5_432_100_000_000, "1h30m32.1s"),
            (-1_000_000_000, "-1s"),
        ] {
            assert_eq!(go_duration(nanos), text);
            assert_eq!(parse_go_duration(text), Some(nanos), "{text}");
        }
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("ten seconds"), None);
    }

    #[test]
    fn times_print_in_rfc_3339_utc() {
        assert_eq!(
            format_time(1_700_000_000, None).unwrap(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            format_time(1_700_000_000, Some(123_456_789)).unwrap(),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
