//! The JSON Schemas in `schemas/`: generated from the output types, committed, checked.
//!
//! `check_committed::<T>("k8s-apply")` fails a test when `schemas/k8s-apply.json` differs from
//! the schema generated from `T` (run the test with `PIPEWRIGHT_BLESS=1` to rewrite the file, then
//! review and commit it). `assert_valid("k8s-apply", &output)` validates a tool's real output.

use std::path::PathBuf;

use schemars::JsonSchema;

use crate::paths::workspace_root;

/// `schemas/<name>.json` in the workspace.
pub fn path(name: &str) -> PathBuf {
    workspace_root()
        .join("schemas")
        .join(format!("{name}.json"))
}

/// The schema generated from `T`, as committed: pretty JSON with a final newline.
pub fn generate<T: JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Panics when `schemas/<name>.json` is not the schema generated from `T`; rewrites it instead
/// when `PIPEWRIGHT_BLESS=1`.
pub fn check_committed<T: JsonSchema>(name: &str) {
    let generated = generate::<T>();
    let file = path(name);
    if std::env::var("PIPEWRIGHT_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&file, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is not the schema generated from its Rust type; if the type change is intended, run \
         the tests again with PIPEWRIGHT_BLESS=1 and commit the new file.\n--- generated ---\n{generated}",
        file.display()
    );
}

/// Panics, listing every violation, unless `document` is valid against `schemas/<name>.json`.
pub fn assert_valid(name: &str, document: &serde_json::Value) {
    let file = path(name);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let schema: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid JSON Schema: {e}", file.display()));
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "document does not match {}:\n{}\ndocument: {document}",
        file.display(),
        errors.join("\n")
    );
}
