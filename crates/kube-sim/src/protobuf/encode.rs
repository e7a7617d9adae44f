//! The JSON form to protobuf message bytes, the reverse of `decode.rs` over the same table. A
//! JSON field the message does not have, or a value of the wrong JSON type, is left out: the
//! answer carries what the typed object can hold, as the real server's would.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::CodecError;
use super::special;
use super::table::{self, Field, Kind, Message};
use super::wire;

const MAX_DEPTH: usize = 100;

/// Encodes `value` as the message named `name`.
pub fn message(name: &str, value: &Value) -> Result<Vec<u8>, CodecError> {
    encode_message(name, value, 0)
}

fn encode_message(name: &str, value: &Value, depth: usize) -> Result<Vec<u8>, CodecError> {
    if depth > MAX_DEPTH {
        return Err(CodecError::new("object nested too deeply"));
    }
    if let Some(encoded) =
        special::encode(name, value, &|inner, v| encode_message(inner, v, depth + 1))
    {
        return encoded;
    }
    let message = table::message(name)
        .ok_or_else(|| CodecError::new(format!("no protobuf message {name}")))?;
    let mut out = Vec::new();
    if message.slice {
        if let (Some(field), Value::Array(items)) = (message.fields.first(), value) {
            for item in items {
                put(&mut out, field, item, depth)?;
            }
        }
        return Ok(out);
    }
    let Value::Object(object) = value else {
        return Err(CodecError::new(format!("{name} must be a JSON object")));
    };
    encode_fields(&mut out, message, object, depth)?;
    Ok(out)
}

fn encode_fields(
    out: &mut Vec<u8>,
    message: &Message,
    object: &Map<String, Value>,
    depth: usize,
) -> Result<(), CodecError> {
    for field in &message.fields {
        let Some(json) = &field.json else {
            // An inlined struct: its fields sit in this object.
            if let Some(inner) = field.target.as_deref().and_then(table::message) {
                let mut bytes = Vec::new();
                encode_fields(&mut bytes, inner, object, depth + 1)?;
                wire::put_bytes(out, field.tag, &bytes);
            }
            continue;
        };
        let Some(value) = object.get(json).filter(|v| !v.is_null()) else {
            continue;
        };
        match (field.kind, value) {
            (Kind::Map, Value::Object(entries)) => {
                for (key, entry) in entries {
                    let mut bytes = Vec::new();
                    wire::put_bytes(&mut bytes, 1, key.as_bytes());
                    let value_field = map_value_field(field);
                    put(&mut bytes, &value_field, entry, depth)?;
                    wire::put_bytes(out, field.tag, &bytes);
                }
            }
            (_, Value::Array(items)) if field.repeated => {
                for item in items {
                    put(out, field, item, depth)?;
                }
            }
            _ if field.repeated || field.kind == Kind::Map => {}
            _ => put(out, field, value, depth)?,
        }
    }
    Ok(())
}

/// The value of a map entry, as a field 2 of the entry's kind.
fn map_value_field(field: &Field) -> Field {
    let kind = match field.target.as_deref() {
        Some("string") => Kind::String,
        Some("bytes") => Kind::Bytes,
        _ => Kind::Message,
    };
    Field {
        tag: 2,
        json: None,
        kind,
        repeated: false,
        presence: field.presence,
        target: field.target.clone(),
    }
}

/// Writes one value of `field`; a value of the wrong JSON type is left out.
fn put(out: &mut Vec<u8>, field: &Field, value: &Value, depth: usize) -> Result<(), CodecError> {
    match (field.kind, value) {
        (_, Value::Null) => {}
        (Kind::String, Value::String(s)) => wire::put_bytes(out, field.tag, s.as_bytes()),
        (Kind::Bytes, Value::String(s)) => {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s) {
                wire::put_bytes(out, field.tag, &bytes);
            }
        }
        (Kind::Int32 | Kind::Int64, Value::Number(n)) => {
            if let Some(int) = n.as_i64() {
                wire::put_int(out, field.tag, int);
            }
        }
        (Kind::Bool, Value::Bool(b)) => wire::put_int(out, field.tag, i64::from(*b)),
        (Kind::Double, Value::Number(n)) => {
            if let Some(float) = n.as_f64() {
                wire::put_double(out, field.tag, float);
            }
        }
        (Kind::Message, value) => {
            let bytes = encode_message(
                field.target.as_deref().unwrap_or_default(),
                value,
                depth + 1,
            )?;
            wire::put_bytes(out, field.tag, &bytes);
        }
        _ => {}
    }
    Ok(())
}
