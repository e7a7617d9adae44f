//! The envelope around every Kubernetes protobuf object: the `k8s\0` magic, then a
//! `runtime.Unknown` message holding the type (apiVersion, kind), the object's own message as
//! raw bytes, and a content encoding and type (empty for plain protobuf).

use serde_json::{Map, Value};

use super::table;
use super::wire::{self, Reader, WireValue};
use super::{CodecError, decode, encode};

const MAGIC: &[u8] = b"k8s\0";

/// A request body to the JSON object it stands for, with `apiVersion` and `kind` from the
/// envelope.
pub fn decode_object(body: &[u8]) -> Result<Value, CodecError> {
    let unknown = body.strip_prefix(MAGIC).ok_or_else(|| {
        CodecError::new("the body does not start with the Kubernetes protobuf magic \"k8s\\x00\"")
    })?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut content_encoding = String::new();
    let mut reader = Reader::new(unknown);
    while let Some((tag, value)) = reader.field()? {
        match (tag, value) {
            (1, WireValue::Bytes(type_meta)) => {
                let mut meta = Reader::new(type_meta);
                while let Some((meta_tag, meta_value)) = meta.field()? {
                    match (meta_tag, meta_value) {
                        (1, WireValue::Bytes(v)) => api_version = utf8(v)?,
                        (2, WireValue::Bytes(v)) => kind = utf8(v)?,
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(bytes)) => raw = bytes,
            (3, WireValue::Bytes(v)) => content_encoding = utf8(v)?,
            _ => {}
        }
    }
    if !content_encoding.is_empty() {
        return Err(CodecError::new(format!(
            "unsupported content encoding {content_encoding:?}"
        )));
    }
    let Some((name, _)) = table::message_of_kind(&api_version, &kind) else {
        return Err(CodecError {
            unsupported_kind: true,
            ..CodecError::new(format!(
                "no protobuf serialization for {kind} in {api_version:?}"
            ))
        });
    };
    let Value::Object(fields) = decode::message(&name, raw)? else {
        return Err(CodecError::new(format!(
            "{kind} did not decode to an object"
        )));
    };
    let mut object = Map::new();
    object.insert("apiVersion".to_owned(), Value::String(api_version));
    object.insert("kind".to_owned(), Value::String(kind));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// An object (or list, or Status) in the envelope; `None` when its kind has no protobuf message.
pub fn encode_object(object: &Value) -> Result<Option<Vec<u8>>, CodecError> {
    let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let Some((name, _)) = table::message_of_kind(api_version, kind) else {
        return Ok(None);
    };
    let raw = encode::message(&name, object)?;
    let mut type_meta = Vec::new();
    wire::put_bytes(&mut type_meta, 1, api_version.as_bytes());
    wire::put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = MAGIC.to_vec();
    wire::put_bytes(&mut out, 1, &type_meta);
    wire::put_bytes(&mut out, 2, &raw);
    // Go writes the empty content encoding and type too.
    wire::put_bytes(&mut out, 3, b"");
    wire::put_bytes(&mut out, 4, b"");
    Ok(Some(out))
}

fn utf8(bytes: &[u8]) -> Result<String, CodecError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| CodecError::new("proto: string is not valid UTF-8"))
}
