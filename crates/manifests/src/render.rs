//! Rendering: `kubectl kustomize DIR`, parsed into one JSON value per object.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;
use serde_json::Value;

/// The environments, each an overlay under `manifests/k8s/overlays/`.
pub const OVERLAYS: [&str; 3] = ["development", "staging", "production"];

/// Why an overlay did not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "cannot run {program}: {source}; install kubectl (scripts/test.sh does) or set KUBECTL"
    )]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`kubectl kustomize {dir}` failed ({status}): {stderr}")]
    Failed {
        dir: String,
        status: String,
        stderr: String,
    },
    #[error(
        "`kubectl kustomize {dir}` printed YAML that does not parse (document {index}): {source}"
    )]
    Parse {
        dir: String,
        index: usize,
        source: serde_yaml_ng::Error,
    },
}

/// `manifests/k8s` of this checkout.
pub fn manifests_dir() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map_or(here.clone(), PathBuf::from)
        .join("manifests")
        .join("k8s")
}

/// `manifests/k8s/overlays/<environment>`.
pub fn overlay_dir(environment: &str) -> PathBuf {
    manifests_dir().join("overlays").join(environment)
}

/// A kubectl that runs: `$KUBECTL`, else `kubectl` on `PATH`.
pub fn kubectl() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("KUBECTL")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        Some(PathBuf::from("kubectl")),
    ];
    candidates.into_iter().flatten().find(|program| {
        Command::new(program)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `kubectl kustomize dir`, as YAML text.
pub fn render_yaml(kubectl: &Path, dir: &Path) -> Result<String, RenderError> {
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|source| RenderError::Spawn {
            program: kubectl.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        return Err(RenderError::Failed {
            dir: dir.display().to_string(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `kubectl kustomize dir`, one JSON value per object, in kustomize's order.
pub fn render(kubectl: &Path, dir: &Path) -> Result<Vec<Value>, RenderError> {
    let yaml = render_yaml(kubectl, dir)?;
    parse(&yaml).map_err(|(index, source)| RenderError::Parse {
        dir: dir.display().to_string(),
        index,
        source,
    })
}

/// Multi-document YAML into JSON values; empty documents are skipped.
pub fn parse(yaml: &str) -> Result<Vec<Value>, (usize, serde_yaml_ng::Error)> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let value = Value::deserialize(document).map_err(|e| (index, e))?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(objects)
}
