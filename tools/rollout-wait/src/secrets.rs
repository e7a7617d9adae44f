//! The values of the Secrets the watched workloads use, registered for masking before anything
//! about their pods is printed: a container that logs its database password, or a termination
//! message or event that quotes a token, must show `***` (issue 12, item 2).
//!
//! Done in every mode (upstream document, `KIND/NAME` arguments, `--release`), from the cluster
//! itself: each target with a pod template is read, and every Secret its pods would see is read
//! with the tool's own client: `env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`, `secret`
//! volumes and the `secret` sources of `projected` volumes, of containers, init containers and
//! ephemeral containers. A Secret that cannot be read (forbidden, missing, slow) is noted at debug
//! level and skipped: the masking is a safeguard, and its absence must not change the verdict.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use serde_json::Value;
use stage::Ctx;

use crate::target::Target;

/// How long reading the workloads and their Secrets may take in all: the wait's own time.
pub const BUDGET: Duration = Duration::from_secs(10);

/// Registers the values of every Secret the targets' pods reference. Returns how many Secrets
/// were read, for the debug log and tests.
pub async fn register_referenced(ctx: &Ctx, client: &kube::Client, targets: &[Target]) -> usize {
    let deadline = Instant::now() + BUDGET;
    // Every workload at once, then every Secret at once: two round trips, whatever the set.
    let reads = targets.iter().filter_map(|target| {
        let namespace = target.namespace.as_deref()?;
        let pointer = pod_spec_pointer(target)?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &target.resource);
        Some(async move {
            let what = format!("reading {}", target.describe());
            let object = within(deadline, &what, api.get(&target.name)).await?;
            let names = secret_names(object.data.pointer(pointer)?);
            Some(
                names
                    .into_iter()
                    .map(move |name| (namespace.to_owned(), name)),
            )
        })
    });
    let wanted: BTreeSet<(String, String)> = join_all(reads)
        .await
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let reads = wanted.iter().map(|(namespace, name)| {
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        async move {
            let what = format!("reading Secret {namespace}/{name} to mask its values");
            within(deadline, &what, api.get(name)).await
        }
    });
    let secrets: Vec<Secret> = join_all(reads).await.into_iter().flatten().collect();
    let public = public_names(targets);
    for secret in &secrets {
        for value in secret.data.iter().flatten().map(|(_, v)| &v.0) {
            // A value that is not text cannot appear in a log line as itself.
            let Ok(text) = std::str::from_utf8(value) else {
                continue;
            };
            if public.contains(text.trim()) {
                // A database or user named like the app's namespace: masking it would blank
                // every name in the report, and the manifests show it anyway.
                tracing::debug!("a Secret value equal to a watched object's name is not masked");
                continue;
            }
            ctx.register_secret(&stage::Secret::new(text));
        }
    }
    secrets.len()
}

/// The names and namespaces of the watched objects: printed in every report, so no secret.
fn public_names(targets: &[Target]) -> BTreeSet<&str> {
    targets
        .iter()
        .flat_map(|t| [Some(t.name.as_str()), t.namespace.as_deref()])
        .flatten()
        .collect()
}

/// Where a kind keeps the pod spec its pods are made from (`None`: the kind has no pods).
fn pod_spec_pointer(target: &Target) -> Option<&'static str> {
    match (
        target.resource.group.as_str(),
        target.resource.kind.as_str(),
    ) {
        ("", "Pod") => Some("/spec"),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job")
        | ("", "ReplicationController") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The names of the Secrets a pod spec references, in every place a pod can see one.
pub fn secret_names(spec: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut add = |name: Option<&Value>| {
        if let Some(name) = name.and_then(Value::as_str).filter(|n| !n.is_empty()) {
            names.insert(name.to_owned());
        }
    };
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in items(spec.get(list)) {
            for env in items(container.get("env")) {
                add(env.pointer("/valueFrom/secretKeyRef/name"));
            }
            for source in items(container.get("envFrom")) {
                add(source.pointer("/secretRef/name"));
            }
        }
    }
    for volume in items(spec.get("volumes")) {
        add(volume.pointer("/secret/secretName"));
        for source in items(volume.pointer("/projected/sources")) {
            add(source.pointer("/secret/name"));
        }
    }
    names
}

fn items(list: Option<&Value>) -> impl Iterator<Item = &Value> {
    list.and_then(Value::as_array).into_iter().flatten()
}

/// One call within the deadline; a failure or a cut is logged at debug level and is `None`.
async fn within<T, E: std::fmt::Display>(
    deadline: Instant,
    what: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Option<T> {
    match tokio::time::timeout_at(deadline.into(), call).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            tracing::debug!("{what}: {e}");
            None
        }
        Err(_) => {
            tracing::debug!(
                "{what}: no answer within {}",
                stage::duration::format(BUDGET)
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_place_a_pod_sees_a_secret_is_found() {
        let spec = json!({
            "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "init-env"}},
                                                            {"configMapRef": {"name": "cm"}}]}],
            "containers": [{"name": "api", "env": [
                {"name": "A", "value": "plain"},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "x"}}}]}],
            "ephemeralContainers": [{"name": "debug", "env": [
                {"name": "D", "valueFrom": {"secretKeyRef": {"name": "debug", "key": "k"}}}]}],
            "volumes": [
                {"name": "tls", "secret": {"secretName": "tls"}},
                {"name": "cfg", "configMap": {"name": "cm"}},
                {"name": "all", "projected": {"sources": [
                    {"secret": {"name": "projected"}}, {"configMap": {"name": "cm"}},
                    {"serviceAccountToken": {"path": "token"}}]}}]
        });
        let names: Vec<String> = secret_names(&spec).into_iter().collect();
        assert_eq!(names, ["db", "debug", "init-env", "projected", "tls"]);
    }

    #[test]
    fn a_spec_without_secrets_names_none() {
        assert!(secret_names(&json!({"containers": [{"name": "a", "image": "x"}]})).is_empty());
        assert!(secret_names(&json!(null)).is_empty());
    }
}
