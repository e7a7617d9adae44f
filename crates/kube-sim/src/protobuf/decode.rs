//! Protobuf message bytes to the JSON form kube-sim stores: what the real API server's Go types
//! would print after decoding the same bytes. Fields are looked up in the table by tag; unknown
//! tags are skipped, as Go's generated unmarshallers skip them.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::CodecError;
use super::special;
use super::table::{self, Field, Kind, Presence};
use super::wire::{Reader, WireValue};

/// Nesting deeper than this is refused rather than followed (the real server's decoder has a
/// similar guard); `JSONSchemaProps` can nest without end.
const MAX_DEPTH: usize = 100;

/// Decodes the bytes of the message named `name`.
pub fn message(name: &str, bytes: &[u8]) -> Result<Value, CodecError> {
    decode_message(name, bytes, 0)
}

fn decode_message(name: &str, bytes: &[u8], depth: usize) -> Result<Value, CodecError> {
    if depth > MAX_DEPTH {
        return Err(CodecError::new("proto: message nested too deeply"));
    }
    if let Some(decoded) =
        special::decode(name, bytes, &|inner, b| decode_message(inner, b, depth + 1))
    {
        return decoded;
    }
    let message = table::message(name)
        .ok_or_else(|| CodecError::new(format!("no protobuf message {name}")))?;
    let mut object = Map::new();
    let mut lists: Vec<(&Field, Vec<Value>)> = Vec::new();
    let mut maps: Vec<(&Field, Map<String, Value>)> = Vec::new();
    let mut reader = Reader::new(bytes);
    while let Some((tag, value)) = reader.field()? {
        let Some(field) = message.field(tag) else {
            continue;
        };
        let context = |e: CodecError| e.within(field.json.as_deref().unwrap_or(name));
        if field.kind == Kind::Map {
            let (key, entry) = map_entry(field, value, depth).map_err(context)?;
            match maps.iter_mut().find(|(f, _)| f.tag == tag) {
                Some((_, entries)) => {
                    entries.insert(key, entry);
                }
                None => maps.push((field, Map::from_iter([(key, entry)]))),
            }
        } else if field.repeated {
            let values = repeated(field, value, depth).map_err(context)?;
            match lists.iter_mut().find(|(f, _)| f.tag == tag) {
                Some((_, list)) => list.extend(values),
                None => lists.push((field, values)),
            }
        } else {
            let decoded = single(field, value, depth).map_err(context)?;
            place(&mut object, field, decoded);
        }
    }
    for (field, list) in lists {
        if let Some(json) = &field.json
            && !list.is_empty()
        {
            object.insert(json.clone(), Value::Array(list));
        }
    }
    for (field, entries) in maps {
        if let Some(json) = &field.json
            && !entries.is_empty()
        {
            object.insert(json.clone(), Value::Object(entries));
        }
    }
    if message.slice {
        // A Go named slice: the JSON is the list itself.
        return Ok(object
            .into_iter()
            .next()
            .map_or_else(|| Value::Array(Vec::new()), |(_, list)| list));
    }
    Ok(Value::Object(object))
}

/// Puts a decoded single value where Go's JSON would have it: left out when Go leaves the zero
/// value out, merged into the parent for an inlined struct.
fn place(object: &mut Map<String, Value>, field: &Field, value: Value) {
    let absent = match field.presence {
        Presence::Show => false,
        Presence::Omit => field.kind != Kind::Message && is_zero(&value),
        Presence::OmitZero => is_zero(&value),
    };
    if absent {
        object.remove(field.json.as_deref().unwrap_or_default());
        return;
    }
    match (&field.json, value) {
        (None, Value::Object(inlined)) => object.extend(inlined),
        (None, _) => {}
        (Some(json), value) => {
            object.insert(json.clone(), value);
        }
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn single(field: &Field, value: WireValue<'_>, depth: usize) -> Result<Value, CodecError> {
    scalar_or_message(field.kind, field.target.as_deref(), value, depth)
}

fn scalar_or_message(
    kind: Kind,
    target: Option<&str>,
    value: WireValue<'_>,
    depth: usize,
) -> Result<Value, CodecError> {
    match (kind, value) {
        (Kind::String, WireValue::Bytes(b)) => std::str::from_utf8(b)
            .map(|s| Value::String(s.to_owned()))
            .map_err(|_| CodecError::new("proto: string is not valid UTF-8")),
        (Kind::Bytes, WireValue::Bytes(b)) => Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(b),
        )),
        (Kind::Int32, WireValue::Varint(v)) => Ok(Value::from(int32(v))),
        (Kind::Int64, WireValue::Varint(v)) => Ok(Value::from(int64(v))),
        (Kind::Bool, WireValue::Varint(v)) => Ok(Value::Bool(v != 0)),
        (Kind::Double, WireValue::Fixed64(bits)) => {
            Ok(serde_json::Number::from_f64(f64::from_bits(bits))
                .map_or(Value::Null, Value::Number))
        }
        (Kind::Message, WireValue::Bytes(b)) => {
            decode_message(target.unwrap_or_default(), b, depth + 1)
        }
        (_, other) => Err(CodecError::new(format!(
            "proto: wrong wireType = {}",
            other.wire_type()
        ))),
    }
}

/// The values of one occurrence of a repeated field: one value, or several when a numeric list
/// is packed into one length-delimited run.
fn repeated(field: &Field, value: WireValue<'_>, depth: usize) -> Result<Vec<Value>, CodecError> {
    let packable = matches!(
        field.kind,
        Kind::Int32 | Kind::Int64 | Kind::Bool | Kind::Double
    );
    match value {
        WireValue::Bytes(run) if packable && field.kind == Kind::Double => run
            .chunks(8)
            .map(|chunk| {
                let bits: [u8; 8] = chunk
                    .try_into()
                    .map_err(|_| CodecError::new("proto: truncated packed double"))?;
                scalar_or_message(
                    Kind::Double,
                    None,
                    WireValue::Fixed64(u64::from_le_bytes(bits)),
                    depth,
                )
            })
            .collect(),
        WireValue::Bytes(run) if packable => {
            let mut reader = Reader::new(run);
            let mut values = Vec::new();
            while !reader.is_empty() {
                let item = WireValue::Varint(reader.varint()?);
                values.push(scalar_or_message(field.kind, None, item, depth)?);
            }
            Ok(values)
        }
        single_value => Ok(vec![single(field, single_value, depth)?]),
    }
}

/// One map entry: a message with the key as field 1 and the value as field 2 (a missing value
/// is the zero value of its kind, as in Go).
fn map_entry(
    field: &Field,
    value: WireValue<'_>,
    depth: usize,
) -> Result<(String, Value), CodecError> {
    let WireValue::Bytes(entry) = value else {
        return Err(CodecError::new(
            "proto: a map entry must be length-delimited",
        ));
    };
    let value_kind = match field.target.as_deref() {
        Some("string") => Kind::String,
        Some("bytes") => Kind::Bytes,
        _ => Kind::Message,
    };
    let mut key = String::new();
    let mut decoded = None;
    let mut reader = Reader::new(entry);
    while let Some((tag, part)) = reader.field()? {
        match tag {
            1 => {
                if let Value::String(k) = scalar_or_message(Kind::String, None, part, depth)? {
                    key = k;
                }
            }
            2 => {
                decoded = Some(scalar_or_message(
                    value_kind,
                    field.target.as_deref(),
                    part,
                    depth,
                )?);
            }
            _ => {}
        }
    }
    let value = match decoded {
        Some(v) => v,
        None if value_kind == Kind::Message => scalar_or_message(
            value_kind,
            field.target.as_deref(),
            WireValue::Bytes(&[]),
            depth,
        )?,
        None => Value::String(String::new()),
    };
    Ok((key, value))
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "Go writes an int32 sign-extended to 64 bits; its low 32 bits are the value"
)]
fn int32(v: u64) -> i32 {
    v as i32
}

#[allow(
    clippy::cast_possible_wrap,
    reason = "an int64 travels in two's complement"
)]
fn int64(v: u64) -> i64 {
    v as i64
}

/// Exposed for the special types, which decode their own few fields.
pub fn int64_of(value: WireValue<'_>) -> Option<i64> {
    match value {
        WireValue::Varint(v) => Some(int64(v)),
        _ => None,
    }
}

pub fn int32_of(value: WireValue<'_>) -> Option<i32> {
    match value {
        WireValue::Varint(v) => Some(int32(v)),
        _ => None,
    }
}

/// Length-delimited payload of a field, for the special types.
pub fn bytes_of(value: WireValue<'_>) -> Option<&[u8]> {
    match value {
        WireValue::Bytes(b) => Some(b),
        _ => None,
    }
}
