//! Reading the review requests kubectl sends in protobuf (`kubectl auth can-i` and
//! `kubectl auth whoami` post `application/vnd.kubernetes.protobuf` only) into their JSON form.
//!
//! Only the few string fields a review's `spec` carries are read; everything else in the
//! envelope is skipped. Field numbers are those of `k8s.io/api/authorization/v1` and
//! `authentication/v1` `generated.proto`.

use serde_json::{Map, Value, json};

/// The `k8s\0` prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// One field of a protobuf message (numbers are skipped: no field read here is one).
enum Field<'a> {
    Varint,
    Bytes(&'a [u8]),
}

/// The fields of a message, in order; `None` when the bytes are not a well-formed message.
fn fields(mut bytes: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let field = match key & 7 {
            0 => {
                varint(&mut bytes)?;
                Field::Varint
            }
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let (value, rest) = (bytes.get(..len)?, bytes.get(len..)?);
                bytes = rest;
                Field::Bytes(value)
            }
            1 => {
                bytes = bytes.get(8..)?;
                continue;
            }
            5 => {
                bytes = bytes.get(4..)?;
                continue;
            }
            _ => return None,
        };
        out.push((key >> 3, field));
    }
    Some(out)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn message(bytes: &[u8], number: u64) -> Option<&[u8]> {
    fields(bytes)?.into_iter().find_map(|(n, f)| match f {
        Field::Bytes(b) if n == number => Some(b),
        _ => None,
    })
}

/// The named string fields of a message, as a JSON object (empty strings left out, as JSON's
/// `omitempty` would).
fn strings(bytes: &[u8], names: &[(u64, &str)]) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for (number, field) in fields(bytes)? {
        if let (Field::Bytes(b), Some((_, name))) =
            (field, names.iter().find(|(n, _)| *n == number))
        {
            let text = std::str::from_utf8(b).ok()?;
            if !text.is_empty() {
                out.insert((*name).to_owned(), json!(text));
            }
        }
    }
    Some(out)
}

fn repeated_strings(bytes: &[u8], number: u64) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    for (n, field) in fields(bytes)? {
        if let (Field::Bytes(b), true) = (field, n == number) {
            out.push(json!(std::str::from_utf8(b).ok()?));
        }
    }
    Some(out)
}

const RESOURCE_ATTRIBUTES: &[(u64, &str)] = &[
    (1, "namespace"),
    (2, "verb"),
    (3, "group"),
    (4, "version"),
    (5, "resource"),
    (6, "subresource"),
    (7, "name"),
];
const NON_RESOURCE_ATTRIBUTES: &[(u64, &str)] = &[(1, "path"), (2, "verb")];

/// The spec of an access review: resource or non-resource attributes (fields 1 and 2), and for
/// a `SubjectAccessReview` the user (3), groups (4) and uid (6).
fn access_review_spec(spec: &[u8]) -> Option<Value> {
    let mut out = Map::new();
    if let Some(attrs) = message(spec, 1) {
        out.insert(
            "resourceAttributes".to_owned(),
            strings(attrs, RESOURCE_ATTRIBUTES)?.into(),
        );
    }
    if let Some(attrs) = message(spec, 2) {
        out.insert(
            "nonResourceAttributes".to_owned(),
            strings(attrs, NON_RESOURCE_ATTRIBUTES)?.into(),
        );
    }
    out.extend(strings(spec, &[(3, "user"), (6, "uid")])?);
    let groups = repeated_strings(spec, 4)?;
    if !groups.is_empty() {
        out.insert("groups".to_owned(), groups.into());
    }
    Some(out.into())
}

/// Decodes a protobuf review body into the JSON object the same request would have sent, or
/// `None` when it is not one.
pub fn decode_review(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(MAGIC)?;
    let type_meta = strings(message(envelope, 1)?, &[(1, "apiVersion"), (2, "kind")])?;
    let raw = message(envelope, 2).unwrap_or_default();
    let kind = type_meta.get("kind").and_then(Value::as_str)?.to_owned();
    let spec = message(raw, 2).unwrap_or_default();
    let spec = match kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            access_review_spec(spec)?
        }
        "SelfSubjectRulesReview" => strings(spec, &[(1, "namespace")])?.into(),
        // A SelfSubjectReview has no spec: field 2 is its status.
        "SelfSubjectReview" => json!({}),
        _ => return None,
    };
    let mut object = Value::Object(type_meta);
    object["metadata"] = json!({});
    object["spec"] = spec;
    Some(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_self_subject_access_review_decodes_to_its_json_form() {
        let attrs = [
            field(1, b"app"),
            field(2, b"get"),
            field(3, b""),
            field(5, b"pods"),
        ]
        .concat();
        let spec = field(1, &attrs);
        let raw = [field(1, b""), field(2, &spec), field(3, b"")].concat();
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let body = [
            MAGIC.to_vec(),
            field(1, &type_meta),
            field(2, &raw),
            field(3, b""),
            field(4, b""),
        ]
        .concat();
        assert_eq!(
            decode_review(&body).unwrap(),
            json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "metadata": {},
                "spec": { "resourceAttributes": { "namespace": "app", "verb": "get", "resource": "pods" } },
            })
        );
        assert!(decode_review(b"k8s\0\x0a\xff").is_none());
        assert!(decode_review(b"{}").is_none());
    }
}
