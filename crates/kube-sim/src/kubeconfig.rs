//! The kubeconfig that points kubectl and kube-rs at a running simulator.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use serde_json::json;

/// Writes a kubeconfig (mode 0600: it holds the bearer token) with one cluster, user and
/// context, all named `context`.
pub fn write(
    path: &Path,
    context: &str,
    server: &str,
    ca_pem: &str,
    token: &str,
) -> std::io::Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": context, "cluster": { "server": server, "certificate-authority-data": ca } }],
        "users": [{ "name": context, "user": { "token": token } }],
        "contexts": [{ "name": context, "context": { "cluster": context, "user": context, "namespace": "default" } }],
        "current-context": context,
        "preferences": {},
    });
    let text = serde_yaml_ng::to_string(&config).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}
