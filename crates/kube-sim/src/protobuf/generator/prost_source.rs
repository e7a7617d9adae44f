//! Reads the message definitions out of the `k8s-pb` crate's source: the `#[prost(...)]`
//! attribute of each field gives its tag, wire type and cardinality, and the Rust type the
//! message it refers to.

use std::collections::BTreeMap;
use std::path::Path;

/// A field as prost declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbField {
    pub tag: u32,
    /// The Rust field name (snake case of the proto name).
    pub rust_name: String,
    /// `string`, `int32`, `int64`, `bool`, `double`, `bytes`, `message` or `map`.
    pub kind: String,
    pub repeated: bool,
    /// For `message`, the referred message; for `map`, the value: a scalar kind or a message.
    /// Messages are named `<module path with dots>.<Name>`, e.g. `api.core.v1.Pod`.
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbMessage {
    /// The module path inside `k8s-pb`, e.g. `api/core/v1`.
    pub module: String,
    pub name: String,
    pub fields: Vec<PbField>,
}

/// Every message of every `mod.rs` under `src`, keyed `api.core.v1.Pod`.
pub fn read_crate(src: &Path) -> Result<BTreeMap<String, PbMessage>, String> {
    let mut messages = BTreeMap::new();
    visit(src, src, &mut messages)?;
    Ok(messages)
}

fn visit(
    root: &Path,
    dir: &Path,
    messages: &mut BTreeMap<String, PbMessage>,
) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            visit(root, &path, messages)?;
        } else if path.file_name().is_some_and(|n| n == "mod.rs") {
            let module = dir
                .strip_prefix(root)
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .replace('\\', "/");
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            for message in parse_module(&module, &text)? {
                messages.insert(
                    format!("{}.{}", module.replace('/', "."), message.name),
                    message,
                );
            }
        }
    }
    Ok(())
}

fn parse_module(module: &str, text: &str) -> Result<Vec<PbMessage>, String> {
    let mut messages = Vec::new();
    let mut current: Option<PbMessage> = None;
    let mut attribute: Option<String> = None;
    let mut declaration = String::new();
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix("pub struct ")
            .and_then(|rest| rest.strip_suffix(" {"))
        {
            current = Some(PbMessage {
                module: module.to_owned(),
                name: name.to_owned(),
                fields: Vec::new(),
            });
            continue;
        }
        if let Some(name) = line
            .strip_prefix("pub struct ")
            .and_then(|rest| rest.strip_suffix(" {}"))
        {
            // A message without fields.
            messages.push(PbMessage {
                module: module.to_owned(),
                name: name.to_owned(),
                fields: Vec::new(),
            });
            continue;
        }
        if line == "}" {
            messages.extend(current.take());
            continue;
        }
        let Some(message) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim();
        if let Some(args) = trimmed
            .strip_prefix("#[prost(")
            .and_then(|rest| rest.strip_suffix(")]"))
        {
            attribute = Some(args.to_owned());
            continue;
        }
        if attribute.is_none() || trimmed.starts_with("///") {
            continue;
        }
        declaration.push_str(trimmed);
        let open = declaration.matches('<').count();
        if !trimmed.ends_with(',') || open != declaration.matches('>').count() {
            continue;
        }
        let args = attribute.take().unwrap_or_default();
        let field = parse_field(module, &args, &std::mem::take(&mut declaration))
            .map_err(|e| format!("{module}.{}: {e}", message.name))?;
        message.fields.push(field);
    }
    Ok(messages)
}

/// One field from its attribute arguments (`message, optional, tag = "1"`) and its declaration
/// (`pub metadata: ::core::option::Option<super::…::ObjectMeta>,`).
fn parse_field(module: &str, args: &str, declaration: &str) -> Result<PbField, String> {
    let (name, rust_type) = declaration
        .trim_start_matches("pub ")
        .trim_end_matches(',')
        .split_once(':')
        .ok_or_else(|| format!("unreadable field {declaration:?}"))?;
    let tag = args
        .split("tag = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("no tag in {args:?}"))?;
    let rust_name = name.trim().trim_start_matches("r#").to_owned();
    if let Some(map) = args.strip_prefix("btree_map = \"") {
        let value_kind = map
            .split('"')
            .next()
            .and_then(|kinds| kinds.split(", ").nth(1))
            .unwrap_or("");
        let target = if value_kind == "message" {
            let value_type = rust_type
                .split_once("String,")
                .map(|(_, v)| v.trim().trim_end_matches(['>', ',']))
                .ok_or_else(|| format!("unreadable map {rust_type:?}"))?;
            resolve(module, value_type)
        } else {
            value_kind.to_owned()
        };
        return Ok(PbField {
            tag,
            rust_name,
            kind: "map".to_owned(),
            repeated: false,
            target: Some(target),
        });
    }
    let kind = args.split([',', ' ']).next().unwrap_or("").to_owned();
    let repeated = args.contains("repeated");
    let target = (kind == "message").then(|| {
        let inner = rust_type
            .trim()
            .trim_start_matches("::core::option::Option<")
            .trim_start_matches("::prost::alloc::vec::Vec<")
            .trim_start_matches("::prost::alloc::boxed::Box<")
            .trim_end_matches(['>', ',']);
        resolve(module, inner)
    });
    Ok(PbField {
        tag,
        rust_name,
        kind,
        repeated,
        target,
    })
}

/// `super::super::X::Y` seen from `module`, as `a.b.X.Y`.
fn resolve(module: &str, rust_path: &str) -> String {
    let mut base: Vec<&str> = module.split('/').collect();
    let mut rest = rust_path.trim();
    while let Some(after) = rest.strip_prefix("super::") {
        base.pop();
        rest = after;
    }
    base.extend(rest.split("::"));
    base.join(".")
}
