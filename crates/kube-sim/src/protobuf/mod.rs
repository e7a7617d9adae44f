//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`): request bodies of every built-in
//! kind decoded into the JSON form kube-sim stores, and answers encoded for clients that accept
//! nothing else.
//!
//! The codec is generic: one field table (`table.txt`: message → tag → JSON name, kind,
//! cardinality, referred message, and what Go's JSON encoder does with the zero value) drives
//! both directions, and a dozen types with their own JSON shape (times, int-or-string,
//! quantities, raw JSON, the apiextensions schema unions) are written by hand in `special.rs`.
//! The table is generated (`generator/`) rather than written, from two sources that each know
//! half of it: the prost attributes of the `k8s-pb` crate (tags, wire types, message
//! references), and the Go API types at the same Kubernetes version (JSON names, inlined
//! structs, and `omitempty`/pointer-ness). The second half matters because the messages are
//! proto2 and Go's marshaller writes every non-pointer field, set or not: `generation: 0` or
//! `uid: ""` on the wire means "unset", while `replicas: 0` from a pointer is a value. Decoding
//! with typed prost structs instead would still need a hand-written conversion per type to JSON
//! (hundreds of them), and would lose that distinction the same way. A test regenerates the
//! table's structure from the `k8s-pb` source on every run, so a dependency bump that moves a
//! tag fails loudly.

mod decode;
mod encode;
mod envelope;
mod negotiate;
mod special;
mod table;
mod wire;

#[cfg(test)]
mod generator;
#[cfg(test)]
mod tests;

pub use envelope::{decode_object, encode_object};
pub use negotiate::accepts_only_protobuf;

/// The media type of Kubernetes protobuf.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Whether a Content-Type names Kubernetes protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// Why bytes could not be decoded or a value encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CodecError {
    message: String,
    /// The kind has no protobuf message (custom resources): the media type, not the body, is
    /// what the server cannot take.
    pub unsupported_kind: bool,
}

impl CodecError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unsupported_kind: false,
        }
    }

    /// The same error, said to be inside `field`.
    #[must_use]
    pub fn within(mut self, field: &str) -> Self {
        self.message = format!("{field}: {}", self.message);
        self
    }
}

/// A protobuf request body as the JSON object the handlers take, or the error the real server
/// answers: 415 for a kind without a protobuf form (custom resources), 400 for bytes that do
/// not decode.
pub fn request_body(body: &[u8]) -> Result<serde_json::Value, crate::api::status::ApiError> {
    decode_object(body).map_err(|e| {
        if e.unsupported_kind {
            crate::api::status::ApiError::unsupported_media_type(MEDIA_TYPE)
        } else {
            crate::api::status::ApiError::bad_request(format!(
                "the request body could not be decoded as {MEDIA_TYPE}: {e}"
            ))
        }
    })
}
