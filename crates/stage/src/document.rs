//! The one document a tool prints on stdout, and the names that identify it.
//!
//! Every document has `ok`, `tool` and `schema` (`pipewright.dev/<tool>/v1`) at the top, the
//! tool's own fields beside them, and on failure an `error` object. The JSON Schema of each tool's
//! document is generated from these types (see `schemas/` and `docs/contributing.md`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, StageError};

/// Who is speaking: the tool's command name, and the crate its code lives in (used to decide which
/// log events are the tool's own and which come from dependencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub name: &'static str,
    pub crate_name: &'static str,
    pub schema_version: &'static str,
}

impl Tool {
    /// A tool whose document is at schema version `v1`. Pass `env!("CARGO_CRATE_NAME")` as
    /// `crate_name`.
    pub const fn new(name: &'static str, crate_name: &'static str) -> Self {
        Self {
            name,
            crate_name,
            schema_version: "v1",
        }
    }

    /// The value of the document's `schema` field, e.g. `pipewright.dev/k8s-apply/v1`.
    pub fn schema_id(&self) -> String {
        format!("pipewright.dev/{}/{}", self.name, self.schema_version)
    }
}

/// A tool's stdout document: the common envelope around the tool's own report `T`.
///
/// `body` is flattened into the top level, so a k8s-apply document reads
/// `{"ok":true,"tool":"k8s-apply","schema":"pipewright.dev/k8s-apply/v1","release":…,"objects":[…]}`.
/// On failure `body` may be absent or partial and `error` is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = envelope_rules)]
pub struct Document<T> {
    /// True when the step did what it was asked to; false when it failed (see `error`).
    pub ok: bool,
    /// The tool that printed this document, e.g. `k8s-apply`.
    pub tool: String,
    /// Which document format this is, e.g. `pipewright.dev/k8s-apply/v1`.
    pub schema: String,
    /// The tool's own report.
    #[serde(flatten)]
    pub body: Option<T>,
    /// Why the step failed; present exactly when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl<T> Document<T> {
    /// A document for a step that succeeded.
    pub fn success(tool: &Tool, body: T) -> Self {
        Self {
            ok: true,
            tool: tool.name.to_owned(),
            schema: tool.schema_id(),
            body: Some(body),
            error: None,
        }
    }

    /// A document for a step that failed, with whatever report it has.
    pub fn failure(tool: &Tool, error: ErrorBody, body: Option<T>) -> Self {
        Self {
            ok: false,
            tool: tool.name.to_owned(),
            schema: tool.schema_id(),
            body,
            error: Some(error),
        }
    }
}

/// What the field types alone cannot say: `error` is present exactly when `ok` is false, and
/// `schema` names a pipewright document format.
fn envelope_rules(schema: &mut schemars::Schema) {
    schema.insert(
        "if".to_owned(),
        serde_json::json!({ "properties": { "ok": { "const": false } } }),
    );
    schema.insert(
        "then".to_owned(),
        serde_json::json!({ "required": ["error"] }),
    );
    schema.insert(
        "else".to_owned(),
        serde_json::json!({ "not": { "required": ["error"] } }),
    );
    if let Some(field) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("schema"))
        .and_then(serde_json::Value::as_object_mut)
    {
        field.insert(
            "pattern".to_owned(),
            serde_json::json!("^pipewright\\.dev/[a-z0-9-]+/v[0-9]+$"),
        );
    }
}

/// An upstream document as a downstream tool reads it (`Need::Required`/`Optional` with
/// `Received<TheReport>`): unlike [`Document`]'s optional body, the report is required, so a
/// document that lacks a field the tool needs is refused (exit 2) with the field's name instead of
/// arriving empty.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Received<T> {
    pub ok: bool,
    pub tool: String,
    pub schema: String,
    #[serde(flatten)]
    pub body: T,
}

/// Any tool's document, read without knowing the tool: the envelope plus its other fields as JSON.
/// `schemas/envelope.json` is generated from this type.
pub type Envelope = Document<BTreeMap<String, serde_json::Value>>;

/// The `error` object of a failed step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// What kind of failure; decides the exit code.
    pub kind: ErrorKind,
    /// What went wrong, and where.
    pub message: String,
    /// How to fix it, when we know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The underlying errors, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    /// What the step was still waiting for when it gave up (timeouts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

impl ErrorBody {
    /// The body of `error`, with `mask` applied to every human-readable string in it.
    pub(crate) fn from_error(error: &StageError, mask: impl Fn(&str) -> String) -> Self {
        Self {
            kind: error.kind(),
            message: mask(error.message()),
            hint: error.hint().map(&mask),
            causes: error.causes().iter().map(|c| mask(c)).collect(),
            pending: error.pending().to_vec(),
        }
    }
}

/// Serialises a document: pretty for a person at a terminal, one compact line for a pipe.
pub(crate) fn render<T: Serialize>(doc: &Document<T>, pretty: bool) -> serde_json::Result<String> {
    let mut text = if pretty {
        serde_json::to_string_pretty(doc)?
    } else {
        serde_json::to_string(doc)?
    };
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Report {
        release: String,
    }

    #[test]
    fn a_document_round_trips_into_what_a_downstream_tool_receives() {
        let tool = Tool::new("k8s-apply", "k8s_apply");
        let text = serde_json::to_string(&Document::success(
            &tool,
            Report {
                release: "web".into(),
            },
        ))
        .unwrap();
        let received: Received<Report> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            received.body,
            Report {
                release: "web".into()
            }
        );
        assert_eq!(received.schema, "pipewright.dev/k8s-apply/v1");
    }

    #[test]
    fn a_missing_field_is_an_error_not_an_empty_report() {
        let err =
            serde_json::from_str::<Received<Report>>(r#"{"ok":true,"tool":"x","schema":"s"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("missing field `release`"), "{err}");
        // Document's body, by contrast, is optional: fine for printing, wrong for reading.
        let doc: Document<Report> =
            serde_json::from_str(r#"{"ok":true,"tool":"x","schema":"s"}"#).unwrap();
        assert_eq!(doc.body, None);
    }
}
