//! The environment guard. A cluster records once which environment it is
//! (`k8s-apply init-cluster --env production`: a ConfigMap in `kube-system`); from then on every
//! command that changes it (k8s-apply's apply and rollback, rollout-wait's settling) must name
//! that environment (`--env` or `PIPEWRIGHT_ENV`), or it stops before its first write (exit 2).
//! So credentials or a kubeconfig that reach the wrong cluster change nothing there, and a job
//! that forgot to say where it deploys is told so rather than trusted.
//!
//! The record is read from the cluster itself rather than from the kubeconfig: a context's name
//! is whatever the person who wrote the file chose, while the record travels with the cluster.
//! Only `init-cluster` writes it: a manifest set that holds it is refused ([`is_record`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta};
use stage::StageError;

use crate::access::Connection;
use crate::names;

/// Where the record lives: every cluster has this namespace, and it is where cluster-wide
/// settings go.
pub const RECORD_NAMESPACE: &str = "kube-system";
/// The record's ConfigMap.
pub const RECORD_NAME: &str = "pipewright-environment";
/// The ConfigMap key holding the environment's name.
pub const RECORD_KEY: &str = "environment";

/// Checks an environment name from `--env`: a DNS label, since it names clusters in messages and
/// may become part of object names.
pub fn check_name(name: &str) -> Result<(), StageError> {
    let well_formed = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if well_formed {
        Ok(())
    } else {
        Err(StageError::usage(format!(
            "invalid --env {name:?}: use 1 to 63 lowercase letters, digits and '-', starting and \
             ending with a letter or digit (e.g. production)"
        )))
    }
}

/// Whether an object (by apiVersion, kind, namespace and name) is the environment record.
pub fn is_record(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> bool {
    api_version == "v1"
        && kind == "ConfigMap"
        && namespace == Some(RECORD_NAMESPACE)
        && name == RECORD_NAME
}

/// The error for a manifest set that holds the environment record (`what`: where it is).
pub fn record_in_set_error(what: &str) -> StageError {
    StageError::invalid_input(format!(
        "{what} is the environment record (configmap/{RECORD_NAME} in {RECORD_NAMESPACE}), \
         which only `k8s-apply init-cluster` writes; nothing was changed"
    ))
    .with_hint(
        "remove it from the manifests: a set that carried it could relabel the cluster it is \
         applied to and defeat --env",
    )
}

/// The environment the cluster is recorded as, if any.
pub async fn recorded(client: &kube::Client) -> Result<Option<String>, StageError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), RECORD_NAMESPACE);
    let what =
        format!("reading the environment record configmap/{RECORD_NAME} in {RECORD_NAMESPACE}");
    let record = crate::retry(&what, || api.get_opt(RECORD_NAME))
        .await
        .map_err(|err| crate::api_error(&what, &err))?;
    Ok(record
        .and_then(|cm| cm.data)
        .and_then(|mut data| data.remove(RECORD_KEY)))
}

/// Fails (exit 2, nothing written) unless the run may change the cluster: `stated` (from `--env`
/// or `PIPEWRIGHT_ENV`) must be the environment the cluster is recorded as; without one, the
/// cluster must have no record.
pub async fn guard(connection: &Connection, stated: Option<&str>) -> Result<(), StageError> {
    if let Some(name) = stated {
        check_name(name)?;
    }
    let where_ = connection.describe();
    match (stated, recorded(&connection.client).await?) {
        (Some(expected), Some(actual)) if actual == expected => {
            tracing::debug!("{where_} is recorded as environment {actual}");
            Ok(())
        }
        (None, None) => Ok(()),
        (None, Some(actual)) => Err(StageError::invalid_input(format!(
            "the cluster at {where_} is recorded as environment {actual}, and this run did not \
             name an environment; nothing was changed"
        ))
        .with_hint(format!(
            "every change to a cluster with an environment record names it: pass --env {actual} \
             (or set PIPEWRIGHT_ENV={actual}) if this job means to change the {actual} cluster"
        ))),
        (Some(expected), Some(actual)) => Err(StageError::invalid_input(format!(
            "--env {expected}, but the cluster at {where_} is recorded as environment \
             {actual}; nothing was changed"
        ))
        .with_hint(format!(
            "this job's kubeconfig or credentials reach the {actual} cluster: check KUBECONFIG, \
             --context and the role it assumed"
        ))),
        (Some(expected), None) => Err(StageError::invalid_input(format!(
            "--env {expected}, but the cluster at {where_} has no recorded environment \
             (configmap/{RECORD_NAME} in {RECORD_NAMESPACE}); nothing was changed"
        ))
        .with_hint(format!(
            "if this is the {expected} cluster, record it once with `k8s-apply init-cluster --env \
             {expected}` and the same kubeconfig; otherwise check KUBECONFIG and --context"
        ))),
    }
}

/// The record of `environment`, as `init-cluster` writes it.
pub fn record(environment: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(RECORD_NAME.to_owned()),
            namespace: Some(RECORD_NAMESPACE.to_owned()),
            labels: Some(BTreeMap::from([(
                names::MANAGED_BY_LABEL.to_owned(),
                names::MANAGED_BY.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            RECORD_KEY.to_owned(),
            environment.to_owned(),
        )])),
        ..ConfigMap::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_are_dns_labels() {
        for good in ["production", "dev-2", "a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Prod", "-prod", "prod-", "prod.eu", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_record_itself_is_the_record() {
        assert!(is_record(
            "v1",
            "ConfigMap",
            Some("kube-system"),
            RECORD_NAME
        ));
        assert!(!is_record("v1", "ConfigMap", Some("default"), RECORD_NAME));
        assert!(!is_record("v1", "Secret", Some("kube-system"), RECORD_NAME));
        assert!(!is_record("v1", "ConfigMap", Some("kube-system"), "other"));
    }
}
