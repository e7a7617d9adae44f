//! Reading the upstream stage's document from stdin.
//!
//! The rules, in order: a terminal on stdin means no upstream; at most [`DEFAULT_MAX_INPUT_BYTES`]
//! are read; the bytes must be UTF-8 and exactly one JSON object with an `ok` field; `"ok": false`
//! means the upstream step failed, and its document is passed on byte for byte; anything else must
//! deserialise into the tool's input type. Every rejection says where the input broke and what
//! was expected, and is [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) (exit 2).

use std::io::Read;

use serde::de::DeserializeOwned;

use crate::error::StageError;

/// Whether a tool reads an upstream document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The tool never reads stdin.
    None,
    /// The tool uses a document when one is piped in (stdin not a terminal and not empty), and
    /// works from its arguments otherwise (`rollout-wait deployment/api`).
    Optional,
    /// The tool cannot work without one.
    Required,
}

/// The most a tool reads from stdin: far above any real release document (a 1,000-object
/// k8s-apply report is about 300 KiB), far below what would hurt a CI runner's memory.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// What was found on stdin.
#[derive(Debug)]
pub(crate) enum Upstream<U> {
    /// Nothing to read (no need, a terminal, or an empty optional input).
    Absent,
    /// A successful upstream document.
    Document(U),
    /// An upstream document with `"ok": false`: its exact bytes, to pass on.
    Failed(Vec<u8>),
}

const PIPE_HINT: &str = "pipe in the JSON document printed by the previous pipewright step, e.g. \
     `k8s-apply … | rollout-wait`; nothing else may write to that pipe";

pub(crate) fn read<U: DeserializeOwned>(
    need: Need,
    stdin: &mut dyn Read,
    stdin_is_terminal: bool,
    max_bytes: usize,
) -> Result<Upstream<U>, StageError> {
    if need == Need::None {
        return Ok(Upstream::Absent);
    }
    if stdin_is_terminal {
        return match need {
            Need::Required => Err(StageError::usage(
                "this step needs the previous step's JSON document on stdin, but stdin is a terminal",
            )
            .with_hint(PIPE_HINT)),
            _ => Ok(Upstream::Absent),
        };
    }

    let mut bytes = Vec::new();
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    if let Err(e) = stdin.take(limit).read_to_end(&mut bytes) {
        // A closed or unreadable stdin (some CI runners) is "nothing piped in" to a tool that can
        // do without; only a tool that needs a document must fail on it.
        if need == Need::Optional {
            return Ok(Upstream::Absent);
        }
        return Err(StageError::invalid_input(format!("could not read stdin: {e}")).with_source(e));
    }
    if bytes.len() > max_bytes {
        return Err(StageError::invalid_input(format!(
            "stdin holds more than {} MiB; an upstream document is never that large",
            max_bytes / (1024 * 1024)
        ))
        .with_hint(PIPE_HINT));
    }

    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let at = e.valid_up_to();
        let (line, column) = line_column(&bytes[..at]);
        StageError::invalid_input(format!(
            "stdin is not UTF-8 text: invalid byte 0x{:02x} at line {line}, column {column} (byte offset {at})",
            bytes[at]
        ))
        .with_hint(PIPE_HINT)
    })?;

    if text.trim().is_empty() {
        return match need {
            Need::Required => Err(StageError::invalid_input(
                "stdin is empty: expected the previous step's JSON document",
            )
            .with_hint(PIPE_HINT)),
            _ => Ok(Upstream::Absent),
        };
    }

    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        StageError::invalid_input(format!("stdin is not one JSON document: {e}"))
            .with_hint(PIPE_HINT)
    })?;
    let Some(object) = value.as_object() else {
        return Err(StageError::invalid_input(format!(
            "stdin holds a JSON {}, expected an object with \"ok\", \"tool\" and \"schema\" fields",
            json_type(&value)
        ))
        .with_hint(PIPE_HINT));
    };
    match object.get("ok") {
        Some(serde_json::Value::Bool(false)) => return Ok(Upstream::Failed(bytes)),
        Some(serde_json::Value::Bool(true)) => {}
        Some(other) => {
            return Err(StageError::invalid_input(format!(
                "stdin: \"ok\" is a JSON {}, expected true or false",
                json_type(other)
            ))
            .with_hint(PIPE_HINT));
        }
        None => {
            return Err(StageError::invalid_input(
                "stdin holds a JSON object without an \"ok\" field: not a pipewright document",
            )
            .with_hint(PIPE_HINT));
        }
    }

    // Parse the text again rather than the Value, so that errors carry a line and column.
    let tool = object
        .get("tool")
        .and_then(|t| t.as_str())
        .unwrap_or("an unknown tool");
    serde_json::from_str(text)
        .map(Upstream::Document)
        .map_err(|e| {
            StageError::invalid_input(format!(
                "stdin holds a document from {tool} that this step cannot use: {e}"
            ))
            .with_hint(PIPE_HINT)
        })
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// 1-based line and column (in characters) of the position just after `prefix`.
fn line_column(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Input {
        ok: bool,
        release: String,
    }

    fn read_bytes(need: Need, bytes: &[u8]) -> Result<Upstream<Input>, StageError> {
        read(need, &mut &bytes[..], false, 1024)
    }

    #[test]
    fn a_good_document_is_parsed() {
        let got = read_bytes(
            Need::Required,
            br#"{"ok":true,"tool":"k8s-apply","release":"web"}"#,
        )
        .unwrap();
        assert!(
            matches!(got, Upstream::Document(Input { ok: true, ref release }) if release == "web")
        );
    }

    #[test]
    fn a_failed_document_is_passed_on_byte_for_byte() {
        let raw =
            b"{ \"ok\" : false, \"tool\": \"k8s-apply\", \"error\": {\"kind\":\"failed\"} }\n";
        match read_bytes(Need::Required, raw).unwrap() {
            Upstream::Failed(bytes) => assert_eq!(bytes, raw),
            other => panic!("expected pass-through, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_says_line_and_column() {
        let err = read_bytes(Need::Required, b"{\"ok\": true,\n  \"release\": }").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("line 2 column"), "{}", err.message());
    }

    #[test]
    fn wrong_shape_names_the_upstream_tool_and_the_field() {
        let err = read_bytes(Need::Required, br#"{"ok":true,"tool":"eks-token"}"#).unwrap_err();
        assert!(err.message().contains("eks-token"), "{}", err.message());
        assert!(
            err.message().contains("missing field `release`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn empty_input_is_an_error_only_when_required() {
        assert_eq!(
            read_bytes(Need::Required, b" \n").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(matches!(
            read_bytes(Need::Optional, b"").unwrap(),
            Upstream::Absent
        ));
    }

    #[test]
    fn a_terminal_is_no_input() {
        let mut empty: &[u8] = b"";
        assert!(matches!(
            read::<Input>(Need::Optional, &mut empty, true, 10).unwrap(),
            Upstream::Absent
        ));
        assert_eq!(
            read::<Input>(Need::Required, &mut empty, true, 10)
                .unwrap_err()
                .kind(),
            ErrorKind::Usage
        );
    }

    struct Unreadable;
    impl Read for Unreadable {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(9))
        }
    }

    #[test]
    fn an_unreadable_stdin_is_no_input_unless_required() {
        assert!(matches!(
            read::<Input>(Need::Optional, &mut Unreadable, false, 10).unwrap(),
            Upstream::Absent
        ));
        let err = read::<Input>(Need::Required, &mut Unreadable, false, 10).unwrap_err();
        assert!(
            err.message().contains("could not read stdin"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn oversized_input_is_refused() {
        let big = vec![b' '; 2048];
        let err = read_bytes(Need::Required, &big).unwrap_err();
        assert!(err.message().contains("more than"), "{}", err.message());
    }

    #[test]
    fn non_utf8_says_where() {
        let err = read_bytes(Need::Required, b"{\"ok\":\n true, \xff}").unwrap_err();
        assert!(
            err.message().contains("0xff at line 2, column 8"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn non_objects_and_bad_ok_are_refused() {
        assert!(
            read_bytes(Need::Required, b"[1]")
                .unwrap_err()
                .message()
                .contains("JSON array")
        );
        assert!(
            read_bytes(Need::Required, br#"{"ok":"yes"}"#)
                .unwrap_err()
                .message()
                .contains("\"ok\" is a JSON string")
        );
        assert!(
            read_bytes(Need::Required, br#"{"tool":"x"}"#)
                .unwrap_err()
                .message()
                .contains("without an \"ok\"")
        );
    }
}
