//! The PATCH request body types: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
//! strategic merge patch; apply patches go to [`crate::apply::server_side_apply`].

use serde_json::{Value, json};

use crate::api::status::ApiError;
use crate::apply::schema::Schema;
use crate::apply::strategic;
use crate::resources::ResourceType;

/// A PATCH body type, chosen by the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchKind {
    /// The kind for a `Content-Type` header, ignoring parameters such as `charset=utf-8`.
    pub fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::StrategicMerge => "application/strategic-merge-patch+json",
            Self::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Applies a JSON, merge or strategic-merge patch body to `live` (Apply is handled by `server_side_apply`).
pub fn apply_patch(
    live: &Value,
    body: &[u8],
    kind: PatchKind,
    resource: &ResourceType,
) -> Result<Value, ApiError> {
    let patched = match kind {
        PatchKind::Json => json_patch_of(live, body)?,
        PatchKind::Merge => {
            let patch = parse_object(body, "merge patch")?;
            let mut doc = live.clone();
            json_patch::merge(&mut doc, &patch);
            doc
        }
        PatchKind::StrategicMerge => {
            let schema = Schema::for_resource(resource);
            if !schema.is_builtin() {
                // Custom resources have no patch strategies; the API server refuses this type.
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            let patch = parse_object(body, "strategic merge patch")?;
            strategic::apply(&schema, live, &patch).map_err(ApiError::bad_request)?
        }
        PatchKind::Apply => {
            return Err(ApiError::internal(
                "apply patches are handled by server-side apply, not apply_patch",
            ));
        }
    };
    if !patched.is_object() {
        return Err(ApiError::bad_request(
            "the patched object is not a JSON object",
        ));
    }
    Ok(patched)
}

fn json_patch_of(live: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let operations: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the JSON patch is not a valid list of operations: {e}"
        ))
    })?;
    let mut doc = live.clone();
    json_patch::patch(&mut doc, &operations).map_err(|e| {
        // The API server answers every failed operation, a failed `test` included, with this
        // generic 422; the specific reason goes in a cause so it is not lost.
        ApiError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        )
        .with_details(
            json!({ "causes": [{ "reason": "FieldValueInvalid", "message": e.to_string() }] }),
        )
    })?;
    Ok(doc)
}

fn parse_object(body: &[u8], what: &str) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("the {what} is empty")));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the {what} is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the {what} must be a JSON object"
        )));
    }
    Ok(value)
}
