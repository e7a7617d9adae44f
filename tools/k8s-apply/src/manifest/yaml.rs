//! Splitting a source into documents (YAML `---` separators as kubectl splits them, JSON
//! streams), converting each to JSON, and flattening `List` objects, with every document's line.

use serde::Deserialize;
use serde_json::Value;

use super::{Document, Loaded, MAX_DOCUMENT_BYTES, MAX_NODES, Origin, Source, limits};

impl Loaded {
    pub(super) fn add_json(&mut self, source: &Source, text: &str) {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let mut index = 0;
        loop {
            let start = stream.byte_offset();
            let line = line_of(text, start + leading_blank(&text[start..]));
            let Some(next) = stream.next() else { break };
            index += 1;
            let origin = Origin {
                source: source.clone(),
                index,
                item: None,
                line,
            };
            match next {
                Ok(value) => self.add_object(origin, value),
                Err(err) => {
                    // A JSON stream cannot be resynchronised after a syntax error, so the rest of
                    // this source is skipped; other sources are still read.
                    self.problem(Some(origin), format!("invalid JSON: {err}"));
                    break;
                }
            }
        }
    }

    pub(super) fn add_yaml(&mut self, source: &Source, text: &str) {
        let mut index = 0;
        for chunk in split_documents(text) {
            // Each chunk is parsed on its own, so that a syntax error loses only its document.
            let line = chunk.first_line + content_offset(chunk.text);
            if chunk.text.len() > MAX_DOCUMENT_BYTES {
                let origin = Origin {
                    source: source.clone(),
                    index: index + 1,
                    item: None,
                    line,
                };
                self.problem(
                    Some(origin),
                    format!(
                        "this document is more than {} MiB, larger than the API server accepts for one object; split it, or check that this is the file you meant",
                        MAX_DOCUMENT_BYTES >> 20
                    ),
                );
                self.over_limit = true;
                return;
            }
            // Its nodes are counted first, aliases expanded, so that no value is built past the
            // limit.
            if let Err(over) = limits::count_nodes(chunk.text, &mut self.budget) {
                let origin = Origin {
                    source: source.clone(),
                    index: index + over.position + 1,
                    item: None,
                    line,
                };
                let at = over.line.map_or_else(String::new, |l| {
                    format!(" (reached at line {})", chunk.first_line + l - 1)
                });
                let why = if chunk.text.contains('*') {
                    "nested aliases that repeat anchors (a \"billion laughs\") make a few KiB describe billions of nodes. Write the repeated parts out, or apply the set in parts"
                } else {
                    "apply the set in parts"
                };
                self.problem(
                    Some(origin),
                    format!(
                        "the input holds more than {MAX_NODES} YAML nodes once its aliases (*name) are expanded{at}, more than k8s-apply reads: {why}"
                    ),
                );
                self.over_limit = true;
                return;
            }
            for (position, doc) in serde_yaml_ng::Deserializer::from_str(chunk.text).enumerate() {
                index += 1;
                let origin = Origin {
                    source: source.clone(),
                    index,
                    item: None,
                    line,
                };
                match yaml_to_json(doc) {
                    Ok(Value::Null) => {} // an empty or comment-only document
                    Ok(value) => self.add_object(origin, value),
                    Err(message) => {
                        let message = file_positions(&chunk, position).unwrap_or(message);
                        self.problem(Some(origin), message);
                        break;
                    }
                }
            }
        }
    }

    /// Adds an object, or the items of a `List`.
    pub(super) fn add_object(&mut self, origin: Origin, value: Value) {
        let Some((list_kind, list_api_version, items)) = list_items(&value) else {
            self.documents.push(Document {
                origin,
                object: value,
            });
            return;
        };
        // A typed list (`ConfigMapList`, as `kubectl get -o yaml` prints) may leave its items'
        // apiVersion and kind out; they are the list's.
        let item_kind = list_kind
            .strip_suffix("List")
            .filter(|kind| !kind.is_empty());
        for (position, item) in items.iter().enumerate() {
            let mut object = item.clone();
            if let (Some(kind), Some(map)) = (item_kind, object.as_object_mut()) {
                map.entry("kind")
                    .or_insert_with(|| Value::String(kind.to_owned()));
                if let Some(api_version) = list_api_version {
                    map.entry("apiVersion")
                        .or_insert_with(|| Value::String(api_version.to_owned()));
                }
            }
            self.documents.push(Document {
                origin: Origin {
                    item: Some(position + 1),
                    ..origin.clone()
                },
                object,
            });
        }
    }
}

/// The 1-based line that byte `offset` of `text` is on.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

pub(super) fn leading_blank(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

/// How many lines of `chunk` come before its first line of content (not blank, not a comment,
/// not a `---` marker), so that a document's line is where its object starts.
pub(super) fn content_offset(chunk: &str) -> usize {
    chunk
        .lines()
        .position(|line| {
            let line = line.trim();
            !(line.is_empty() || line.starts_with('#') || line == "---")
        })
        .unwrap_or(0)
}

/// One `---`-separated piece of a YAML source.
pub(super) struct Chunk<'a> {
    text: &'a str,
    first_line: usize,
}

/// Whether a line separates documents: `---` at the start, followed by nothing but blanks or a
/// comment, the same test kubectl's reader uses. A marker with content after it (`--- {a: 1}`)
/// stays inside the chunk and the YAML parser splits it.
pub(super) fn is_separator(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| {
        let rest = rest.trim();
        rest.is_empty() || rest.starts_with('#')
    })
}

/// Whether a line can come before a document's first `---` without making a document of its own:
/// blanks, comments and `%` directives.
pub(super) fn is_preamble(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with('#') || line.starts_with('%')
}

/// Splits a YAML source at separator lines. A leading `---` after nothing but a preamble starts
/// the first document rather than ending an empty one, so that document numbers are the ones a
/// reader counts.
pub(super) fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut in_preamble = true;
    let mut offset = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let end = offset + line.len();
        if is_separator(line) {
            if in_preamble {
                in_preamble = false;
            } else {
                chunks.push(Chunk {
                    text: &text[start..offset],
                    first_line,
                });
                start = end;
                first_line = number + 2;
            }
        } else if !is_preamble(line) {
            in_preamble = false;
        }
        offset = end;
    }
    chunks.push(Chunk {
        text: &text[start..],
        first_line,
    });
    chunks
}

/// The error of the chunk's document at `position` again, from the chunk padded with the lines
/// before it, so that the line numbers in the parser's message are the file's rather than the
/// chunk's. Done only on error, so that loading stays linear in the size of the input.
pub(super) fn file_positions(chunk: &Chunk<'_>, position: usize) -> Option<String> {
    let padded = format!("{}{}", "\n".repeat(chunk.first_line - 1), chunk.text);
    serde_yaml_ng::Deserializer::from_str(&padded)
        .nth(position)
        .and_then(|doc| yaml_to_json(doc).err())
}

/// Converts one YAML document to JSON, applying `<<` merge keys as kubectl's YAML library does
/// and refusing duplicate keys (the parser reports them), which would otherwise silently keep the
/// last value.
pub(super) fn yaml_to_json(doc: serde_yaml_ng::Deserializer<'_>) -> Result<Value, String> {
    let mut yaml =
        serde_yaml_ng::Value::deserialize(doc).map_err(|err| format!("invalid YAML: {err}"))?;
    yaml.apply_merge()
        .map_err(|err| format!("invalid YAML merge key (<<): {err}"))?;
    serde_json::to_value(&yaml)
        .map_err(|err| format!("this YAML cannot be a Kubernetes object: {err}; use string keys"))
}

/// The items of a `List` or `*List` object, with the list's kind and apiVersion.
pub(super) fn list_items(value: &Value) -> Option<(&str, Option<&str>, &Vec<Value>)> {
    let kind = value.get("kind")?.as_str()?;
    if !kind.ends_with("List") {
        return None;
    }
    let items = value.get("items")?.as_array()?;
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    Some((kind, api_version, items))
}
