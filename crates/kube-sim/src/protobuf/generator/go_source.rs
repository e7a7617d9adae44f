//! Reads the Go API types (`types.go` and friends) for what prost cannot say: the JSON name of
//! each field (its `json` tag; empty for an inlined struct), whether Go's JSON encoder omits the
//! zero value (`omitempty` or `omitzero` on a non-pointer), and which messages are Go named slices
//! (`type ExtraValue []string`), whose JSON form is a bare array.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoField {
    pub tag: u32,
    /// Empty for `json:",inline"`.
    pub json: String,
    /// What Go's JSON encoder does with the zero value: `show` it, `omit` it (`omitempty`, which
    /// leaves structs alone) or `omitzero` (structs too). Pointers always show: set is set.
    pub presence: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoType {
    /// The Go spelling of the type's name (prost changes the case of `JSONSchemaProps`).
    pub name: String,
    pub fields: BTreeMap<u32, GoField>,
    /// `type X []T`.
    pub named_slice: bool,
}

/// The types of one Go package directory, keyed by lower-cased name.
pub fn read_package(dir: &Path) -> Result<BTreeMap<String, GoType>, String> {
    let mut types = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(types);
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "go")
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with("_test.go") || n.starts_with("zz_generated"))
        })
        .collect();
    files.sort();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        parse_file(&text, &mut types);
    }
    Ok(types)
}

fn parse_file(text: &str, types: &mut BTreeMap<String, GoType>) {
    let mut current: Option<GoType> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("type ") {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or("");
            let shape = words.next().unwrap_or("");
            if shape == "struct" && rest.trim_end().ends_with('{') {
                current = Some(GoType {
                    name: name.to_owned(),
                    ..GoType::default()
                });
            } else if shape.starts_with("[]") && shape != "[]byte" {
                types.insert(
                    name.to_lowercase(),
                    GoType {
                        name: name.to_owned(),
                        named_slice: true,
                        ..GoType::default()
                    },
                );
            }
            continue;
        }
        if line == "}" {
            if let Some(done) = current.take() {
                types.insert(done.name.to_lowercase(), done);
            }
            continue;
        }
        if let Some(go_type) = current.as_mut()
            && let Some(field) = parse_field(line)
        {
            go_type.fields.insert(field.tag, field);
        }
    }
}

/// A struct field line with a `protobuf:"…"` tag, such as (between Go's backquotes)
/// `Replicas *int32 json:"replicas,omitempty" protobuf:"varint,1,opt,name=replicas"`.
fn parse_field(line: &str) -> Option<GoField> {
    let (declaration, tags) = line.trim().split_once('`')?;
    let protobuf = tag_value(tags, "protobuf")?;
    let tag = protobuf.split(',').nth(1)?.parse().ok()?;
    let words: Vec<&str> = declaration.split_whitespace().collect();
    // An embedded struct has one word (its type), a named field two (name, type).
    let go_type = words.last().copied().unwrap_or("");
    let pointer = go_type.starts_with('*');
    let json = tag_value(tags, "json").unwrap_or("");
    let mut options = json.split(',');
    let name = options.next().unwrap_or("");
    let name = if name.is_empty() && words.len() > 1 && !json.contains("inline") {
        // No json tag: Go uses the field's own name.
        words[0]
    } else {
        name
    };
    let options: Vec<&str> = options.collect();
    let presence = if pointer {
        "show"
    } else if options.contains(&"omitzero") {
        "omitzero"
    } else if options.contains(&"omitempty") {
        "omit"
    } else {
        "show"
    };
    Some(GoField {
        tag,
        json: name.to_owned(),
        presence,
    })
}

fn tag_value<'a>(tags: &'a str, key: &str) -> Option<&'a str> {
    let start = tags.find(&format!("{key}:\""))? + key.len() + 2;
    let rest = &tags[start..];
    Some(&rest[..rest.find('"')?])
}
