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
    /// The success document's purpose is to carry a credential (oidc-creds' `credential_process`
    /// document, eks-token's ExecCredential), so it is printed as it is; every other document is
    /// masked whole before it is printed.
    pub carries_credentials: bool,
}

impl Tool {
    /// A tool whose document is at schema version `v1`. Pass `env!("CARGO_CRATE_NAME")` as
    /// `crate_name`.
    pub const fn new(name: &'static str, crate_name: &'static str) -> Self {
        Self {
            name,
            crate_name,
            schema_version: "v1",
            carries_credentials: false,
        }
    }

    /// A tool whose success document carries a credential on purpose (see
    /// [`Tool::carries_credentials`]).
    #[must_use]
    pub const fn carrying_credentials(mut self) -> Self {
        self.carries_credentials = true;
        self
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

/// A rendered JSON document with `mask` applied to every string in it (keys included), and its
/// layout and key order kept. A string `mask` leaves alone is copied byte for byte.
pub(crate) fn mask_json_strings(json: &str, mask: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let literal = &rest[start..];
        // The closing quote: the first one not escaped by a backslash.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in literal.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            out.push_str(literal);
            return out;
        };
        let token = &literal[..=end];
        match serde_json::from_str::<String>(token) {
            Ok(value) => {
                let masked = mask(&value);
                if masked == value {
                    out.push_str(token);
                } else {
                    out.push_str(&serde_json::Value::String(masked).to_string());
                }
            }
            Err(_) => out.push_str(token),
        }
        rest = &literal[end + 1..];
    }
    out.push_str(rest);
    out
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
    fn masking_a_document_keeps_its_layout_and_other_strings() {
        let json = "{\n  \"a\": \"x \\\"pw-1234\\\" y\",\n  \"b\": [\"pw-1234\", 3]\n}\n";
        let out = mask_json_strings(json, |s| s.replace("pw-1234", "***"));
        assert_eq!(
            out,
            "{\n  \"a\": \"x \\\"***\\\" y\",\n  \"b\": [\"***\", 3]\n}\n"
        );
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
