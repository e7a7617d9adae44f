//! The kubeconfig that points kubectl and kube-rs at a running simulator.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use serde_json::json;

/// Writes a kubeconfig (mode 0600: it holds the bearer tokens) with one cluster, and a user and
/// context named `context` for the administrator's token. Each of `extra_users` (name, token)
/// gets a user and context of its own name, so `kubectl --context NAME` acts as that user.
pub fn write(
    path: &Path,
    context: &str,
    server: &str,
    ca_pem: &str,
    token: &str,
    extra_users: &[(&str, &str)],
) -> std::io::Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut users = vec![json!({ "name": context, "user": { "token": token } })];
    let mut contexts = vec![
        json!({ "name": context, "context": { "cluster": context, "user": context, "namespace": "default" } }),
    ];
    for (name, user_token) in extra_users {
        users.push(json!({ "name": name, "user": { "token": user_token } }));
        contexts.push(
            json!({ "name": name, "context": { "cluster": context, "user": name, "namespace": "default" } }),
        );
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": context, "cluster": { "server": server, "certificate-authority-data": ca } }],
        "users": users,
        "contexts": contexts,
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
