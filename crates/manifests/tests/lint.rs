//! The rendered overlays against the linters users would run: kubernetes-validate (strict, the
//! Kubernetes 1.33 schemas EKS serves) and checkov (its Kubernetes checks, offline), plus our
//! own schema for the one custom resource.
//!
//! kubernetes-validate knows built-in kinds only: for `ExternalSecret` it prints "Couldn't find
//! schema" and passes. So the ExternalSecret is checked here against the `openAPIV3Schema` of the
//! CRD we keep (manifests/k8s/local/externalsecret-crd.yaml, the fields of external-secrets.io/v1
//! we use), made strict (unknown fields refused), which is also what kube-sim enforces on apply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use manifests::objects::{describe, find, of_kind};
use serde_json::{Value, json};

/// The Kubernetes version the overlays are validated against: the EKS version we run.
const KUBERNETES_VERSION: &str = "1.33.0";

/// Writes each overlay's rendering to `dir/<env>.yaml`; returns `(path, objects)` per overlay.
fn render_to_files(kubectl: &Path, dir: &Path) -> Vec<(std::path::PathBuf, Vec<Value>)> {
    manifests::OVERLAYS
        .iter()
        .map(|env| {
            let yaml =
                manifests::render::render_yaml(kubectl, &manifests::overlay_dir(env)).unwrap();
            let path = dir.join(format!("{env}.yaml"));
            std::fs::write(&path, &yaml).unwrap();
            (path, manifests::render::parse(&yaml).unwrap())
        })
        .collect()
}

fn kubernetes_validate(validator: &Path, files: &[&Path]) -> (bool, String) {
    let output = Command::new(validator)
        .args(["--strict", "-k", KUBERNETES_VERSION])
        .args(files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn every_rendered_object_validates_strictly_against_the_kubernetes_schemas() {
    let (Some(kubectl), Some(validator)) =
        (common::kubectl(), common::linter("kubernetes-validate"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rendered = render_to_files(&kubectl, dir.path());
    let storage_class = manifests::manifests_dir().join("cluster/storageclass-gp3.yaml");
    for (path, objects) in &rendered {
        let (ok, text) = kubernetes_validate(&validator, &[path]);
        assert!(ok, "{}:\n{text}", path.display());
        // Every built-in object passed by name; the custom resource is the only one without a
        // schema (checked below instead).
        for object in objects {
            let kind = object["kind"].as_str().unwrap();
            let name = object["metadata"]["name"].as_str().unwrap();
            if kind == "ExternalSecret" {
                assert!(
                    text.contains("Couldn't find schema for kind ExternalSecret"),
                    "{text}"
                );
                continue;
            }
            let line = format!("passed for resource {}/{name}", kind.to_lowercase());
            assert!(
                text.contains(&line),
                "{}: no `{line}` in:\n{text}",
                path.display()
            );
        }
        let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("WARN")).collect();
        assert!(
            warnings.iter().all(|w| w.contains("kind ExternalSecret")),
            "{warnings:#?}"
        );
    }
    let (ok, text) = kubernetes_validate(&validator, &[&storage_class]);
    assert!(
        ok && text.contains("passed for resource storageclass/gp3"),
        "{text}"
    );
}

#[test]
fn strict_validation_refuses_an_unknown_field() {
    let Some(validator) = common::linter("kubernetes-validate") else {
        return;
    };
    // The same check, on a Deployment with a misspelt field: it must fail, or the test above
    // proves nothing.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    std::fs::write(
        &path,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  \
         selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    \
         spec: {containers: [{name: web, image: 'docker.io/x/web:1', readinesProbe: {}}]}\n",
    )
    .unwrap();
    let (ok, text) = kubernetes_validate(&validator, &[&path]);
    assert!(!ok, "{text}");
}

/// The CRD's schema as a JSON Schema that refuses unknown fields wherever the CRD lists its
/// properties (the API server prunes them; kube-sim's and kubectl's strict apply refuse them).
fn strict_externalsecret_schema(kubectl: &Path) -> Value {
    let local = manifests::render(kubectl, &manifests::manifests_dir().join("local")).unwrap();
    let crd = find(
        &local,
        "CustomResourceDefinition",
        "externalsecrets.external-secrets.io",
    )
    .unwrap();
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    close(&mut schema);
    schema
}

fn close(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if map.contains_key("properties") && !preserve {
        map.insert("additionalProperties".into(), json!(false));
    }
    for key in ["properties"] {
        if let Some(Value::Object(props)) = map.get_mut(key) {
            for value in props.values_mut() {
                close(value);
            }
        }
    }
    if let Some(items) = map.get_mut("items") {
        close(items);
    }
}

fn schema_errors(schema: &Value, object: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).unwrap();
    validator
        .iter_errors(object)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_externalsecret_validates_against_the_schema_we_keep() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    let schema = strict_externalsecret_schema(&kubectl);
    for (env, objects) in common::all_rendered(&kubectl) {
        let secrets: Vec<&Value> = of_kind(&objects, "ExternalSecret").collect();
        assert_eq!(secrets.len(), 1, "{env}");
        for secret in secrets {
            assert_eq!(secret["apiVersion"], "external-secrets.io/v1");
            let errors = schema_errors(&schema, secret);
            assert!(
                errors.is_empty(),
                "{env}: {}: {errors:#?}",
                describe(secret)
            );
        }
    }
    // A misspelt field and a wrong enum value are refused.
    let objects = common::rendered(&kubectl, "development");
    let mut typo = find(&objects, "ExternalSecret", "cloudtolocalllm-database")
        .unwrap()
        .clone();
    typo["spec"]["secretStoreRefs"] = typo["spec"]["secretStoreRef"].clone();
    typo["spec"]["target"]["creationPolicy"] = json!("Sometimes");
    let errors = schema_errors(&schema, &typo);
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn checkov_passes_but_for_the_documented_skip_list() {
    let (Some(kubectl), Some(checkov)) = (common::kubectl(), common::linter("checkov")) else {
        return;
    };
    let config = manifests::manifests_dir().join(".checkov.yaml");
    let skips = documented_skips(&std::fs::read_to_string(&config).unwrap());
    assert_eq!(skips, ["CKV_K8S_43"], "the skip list README.md explains");

    // Not tempfile's default `.tmpXXXX`: checkov skips directories whose name starts with a dot.
    let dir = tempfile::Builder::new()
        .prefix("checkov-")
        .tempdir()
        .unwrap();
    let rendered = render_to_files(&kubectl, dir.path());
    std::fs::copy(
        manifests::manifests_dir().join("cluster/storageclass-gp3.yaml"),
        dir.path().join("storageclass-gp3.yaml"),
    )
    .unwrap();
    let output = Command::new(&checkov)
        .arg("--config-file")
        .arg(&config)
        .arg("-d")
        .arg(dir.path())
        .args(["-o", "json"])
        // Offline: no platform key, no download of guidelines or policies.
        .env_remove("BC_API_KEY")
        .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON report ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let failed = &report["results"]["failed_checks"];
    let failures: Vec<String> = failed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {} ({})", f["check_id"], f["resource"], f["file_path"]))
        .collect();
    assert!(
        failures.is_empty(),
        "checkov failed:\n{}",
        failures.join("\n")
    );
    assert!(output.status.success());
    assert_eq!(report["summary"]["parsing_errors"], 0);
    // It looked at everything: each overlay's objects, the pod template of each workload (checkov
    // counts it as a resource of its own), and the StorageClass.
    let objects: usize = rendered
        .iter()
        .map(|(_, o)| o.len() + manifests::objects::workloads(o).count())
        .sum();
    assert_eq!(
        report["summary"]["resource_count"].as_u64(),
        Some(u64::try_from(objects).unwrap() + 1),
        "{:#}",
        report["summary"]
    );
    assert!(report["summary"]["passed"].as_u64().unwrap() > 100);
}

/// The `skip-check` entries of .checkov.yaml, each of which must follow a comment giving its
/// reason.
fn documented_skips(config: &str) -> Vec<String> {
    let lines: Vec<&str> = config.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "skip-check:")
        .expect("a skip-check list");
    let mut skips = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let line = line.trim();
        if let Some(id) = line.strip_prefix("- ") {
            assert!(
                lines[i - 1].trim().starts_with('#'),
                "{id} has no reason written above it"
            );
            skips.push(id.to_owned());
        } else if !line.is_empty() && !line.starts_with('#') {
            break;
        }
    }
    skips
}
