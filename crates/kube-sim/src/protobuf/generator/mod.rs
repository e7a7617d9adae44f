//! Generates `table.txt` (the field table the codec runs on) from the `k8s-pb` crate's prost
//! attributes, which give tags, wire types and message references, and the Kubernetes Go types,
//! which give JSON names and which zero values Go's JSON encoder leaves out.
//!
//! Two tests here: `table_agrees_with_k8s_pb` (always run) regenerates the structure from the
//! `k8s-pb` source cargo downloaded and fails on any difference from the committed table;
//! `regenerate_table` (ignored; needs the Go sources) rebuilds the whole table:
//!
//! ```text
//! mkdir -p /tmp/k8s-go && for r in api apimachinery apiextensions-apiserver; do
//!   mkdir -p /tmp/k8s-go/$r && git -C <clone of kubernetes/$r> archive v0.35.0 | tar -x -C /tmp/k8s-go/$r
//! done
//! KUBE_SIM_GO_SRC=/tmp/k8s-go PROTOBUF_TABLE_WRITE=1 \
//!   cargo test -p kube-sim --lib protobuf::generator -- --ignored
//! ```

mod go_source;
mod prost_source;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use go_source::GoType;
use prost_source::PbMessage;

/// The `k8s-pb` modules whose messages the table holds, with the directory of their Go source
/// (under the root given to `regenerate_table`).
const MODULES: &[(&str, &str)] = &[
    ("api/", "api/"),
    ("apimachinery/", "apimachinery/"),
    ("apiextensions_apiserver/", "apiextensions-apiserver/"),
];

const HEADER: &str = "\
# The Kubernetes protobuf field table kube-sim's codec runs on. Generated from k8s-pb 0.9.0's
# prost attributes and the Go API types of Kubernetes v0.35.0 by src/protobuf/generator; do not
# edit. A message line names a type as OpenAPI does (`slice`: a Go named slice, JSON is the bare
# array of its field 1); each field line is `tag json-name kind presence [target]`, where json-name
# `-` is an inlined struct, kind ends in `[]` when repeated, presence says what Go's JSON does with
# the zero value (`show`; `omit`: omitempty, structs still shown; `omitzero`: structs too), and
# target is the message of a message field or the value of a map.
";

fn in_table(module: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(prefix, _)| module.starts_with(prefix))
        .map(|(_, go)| *go)
}

/// `io.k8s.api.core.v1` for the module `api/core/v1`.
fn package_name(module: &str) -> String {
    format!("io.k8s.{}", module.replace('/', ".").replace('_', "-"))
}

fn lower_camel(snake: &str) -> String {
    let mut out = String::new();
    for (i, part) in snake.split('_').enumerate() {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                out.push(first);
            } else {
                out.extend(first.to_uppercase());
            }
            out.push_str(chars.as_str());
        }
    }
    out
}

/// The table text. Without Go sources, names keep prost's spelling and presence is `omit`:
/// enough to compare the structure.
fn generate(pb: &BTreeMap<String, PbMessage>, go_root: Option<&Path>) -> Result<String, String> {
    let mut go_packages: BTreeMap<String, BTreeMap<String, GoType>> = BTreeMap::new();
    if let Some(root) = go_root {
        for message in pb.values() {
            if let Some(go_dir) = in_table(&message.module)
                && !go_packages.contains_key(&message.module)
            {
                let dir = root.join(format!(
                    "{go_dir}{}",
                    message.module.split_once('/').map_or("", |(_, rest)| rest)
                ));
                go_packages.insert(message.module.clone(), go_source::read_package(&dir)?);
            }
        }
    }
    let go_type = |message: &PbMessage| {
        go_packages
            .get(&message.module)
            .and_then(|types| types.get(&message.name.to_lowercase()))
    };
    let names: BTreeMap<&String, String> = pb
        .iter()
        .filter(|(_, m)| in_table(&m.module).is_some())
        .map(|(key, m)| {
            let name = go_type(m).map_or(m.name.as_str(), |t| t.name.as_str());
            (key, format!("{}.{name}", package_name(&m.module)))
        })
        .collect();
    let mut out = HEADER.to_owned();
    let mut ordered: Vec<(&String, &PbMessage)> = pb
        .iter()
        .filter(|(key, _)| names.contains_key(key))
        .collect();
    // By case-folded name, so that the order does not depend on which spelling was found.
    ordered.sort_by_key(|(key, _)| names[key].to_lowercase());
    for (key, message) in ordered {
        let go = go_type(message);
        let slice = if go.is_some_and(|t| t.named_slice) {
            " slice"
        } else {
            ""
        };
        let _ = writeln!(out, "message {}{slice}", names[key]);
        for field in &message.fields {
            let go_field = go.and_then(|t| t.fields.get(&field.tag));
            let json = match go_field {
                Some(f) if f.json.is_empty() => "-".to_owned(),
                Some(f) => f.json.clone(),
                None => lower_camel(&field.rust_name),
            };
            let presence = go_field.map_or("omit", |f| f.presence);
            let kind = if field.repeated {
                format!("{}[]", field.kind)
            } else {
                field.kind.clone()
            };
            let _ = write!(out, "{} {json} {kind} {presence}", field.tag);
            if let Some(target) = &field.target {
                let shown = names.get(target).map_or(target.as_str(), String::as_str);
                let _ = write!(out, " {shown}");
            }
            out.push('\n');
        }
    }
    Ok(out)
}

/// What prost alone decides: message names (case-folded, prost changes case), tags, kinds and
/// targets.
fn structure(table: &str) -> Vec<String> {
    table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            let kept: Vec<&str> = if words.first() == Some(&"message") {
                words.into_iter().take(2).collect()
            } else {
                words
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != 1 && *i != 3)
                    .map(|(_, w)| *w)
                    .collect()
            };
            kept.join(" ").to_lowercase()
        })
        .collect()
}

/// The `src` directory of the `k8s-pb` crate cargo resolved for this workspace.
fn k8s_pb_source() -> Result<PathBuf, String> {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "k8s-pb")
        .and_then(|p| p["manifest_path"].as_str())
        .and_then(|manifest| Path::new(manifest).parent())
        .map(|dir| dir.join("src"))
        .ok_or_else(|| "k8s-pb is not in the dependency graph".to_owned())
}

fn table_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protobuf/table.txt")
}

#[test]
fn table_agrees_with_k8s_pb() {
    let pb =
        prost_source::read_crate(&k8s_pb_source().expect("k8s-pb source")).expect("k8s-pb parses");
    let generated = generate(&pb, None).expect("generates");
    let committed = std::fs::read_to_string(table_path()).expect("table.txt");
    let (want, have) = (structure(&generated), structure(&committed));
    let first_difference = want
        .iter()
        .zip(&have)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(have.len()));
    assert!(
        want == have,
        "table.txt differs from k8s-pb at line {first_difference}: k8s-pb says {:?}, table {:?}; regenerate it",
        want.get(first_difference),
        have.get(first_difference)
    );
}

#[test]
#[ignore = "needs the Kubernetes Go sources in KUBE_SIM_GO_SRC"]
fn regenerate_table() {
    let go_root = PathBuf::from(std::env::var_os("KUBE_SIM_GO_SRC").expect("KUBE_SIM_GO_SRC"));
    let pb =
        prost_source::read_crate(&k8s_pb_source().expect("k8s-pb source")).expect("k8s-pb parses");
    let generated = generate(&pb, Some(&go_root)).expect("generates");
    if std::env::var_os("PROTOBUF_TABLE_WRITE").is_some() {
        std::fs::write(table_path(), &generated).expect("table.txt written");
    }
    let committed = std::fs::read_to_string(table_path()).expect("table.txt");
    assert!(committed == generated, "table.txt is stale; regenerate it");
}
