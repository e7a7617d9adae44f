//! The environment guard. A cluster records once which environment it is
//! (`k8s-apply init-cluster --env production`: a ConfigMap in `kube-system`), and every command
//! that names `--env` must name that one. The check runs before the first write, so credentials
//! or a kubeconfig that reach the wrong cluster change nothing there.
//!
//! The record is read from the cluster itself rather than from the kubeconfig: a context's name
//! is whatever the person who wrote the file chose, while the record travels with the cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use stage::{Ctx, StageError, StageResult};

use crate::InitArgs;
use crate::apply::{Action, AppliedObject, Report};
use crate::names::is_dns_label;

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
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(StageError::usage(format!(
            "invalid --env {name:?}: use 1 to 63 lowercase letters, digits and '-', starting and \
             ending with a letter or digit (e.g. production)"
        )))
    }
}

/// The environment the cluster is recorded as, if any.
pub async fn recorded(client: &kube::Client) -> Result<Option<String>, StageError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), RECORD_NAMESPACE);
    let what =
        format!("reading the environment record configmap/{RECORD_NAME} in {RECORD_NAMESPACE}");
    let record = cluster::retry(&what, || api.get_opt(RECORD_NAME))
        .await
        .map_err(|err| cluster::api_error(&what, &err))?;
    Ok(record
        .and_then(|cm| cm.data)
        .and_then(|mut data| data.remove(RECORD_KEY)))
}

/// Fails (exit 2, nothing written) unless the cluster is recorded as `expected`.
pub async fn guard(connection: &cluster::Connection, expected: &str) -> Result<(), StageError> {
    check_name(expected)?;
    let where_ = connection.describe();
    match recorded(&connection.client).await? {
        Some(actual) if actual == expected => {
            tracing::debug!("{where_} is recorded as environment {actual}");
            Ok(())
        }
        Some(actual) => Err(StageError::invalid_input(format!(
            "--env {expected}, but the cluster at {where_} is recorded as environment \
             {actual}; nothing was changed"
        ))
        .with_hint(format!(
            "this job's kubeconfig or credentials reach the {actual} cluster: check KUBECONFIG, \
             --context and the role it assumed"
        ))),
        None => Err(StageError::invalid_input(format!(
            "--env {expected}, but the cluster at {where_} has no recorded environment \
             (configmap/{RECORD_NAME} in {RECORD_NAMESPACE}); nothing was changed"
        ))
        .with_hint(format!(
            "if this is the {expected} cluster, record it once with `k8s-apply init-cluster --env \
             {expected}` and the same kubeconfig; otherwise check KUBECONFIG and --context"
        ))),
    }
}

/// `k8s-apply init-cluster --env NAME`: records the environment, once. Recording the same name
/// again changes nothing; another name needs `--overwrite`, because re-labelling a cluster is
/// exactly the mistake the guard exists to catch.
pub async fn init(args: &InitArgs, ctx: &Ctx) -> StageResult<Report> {
    check_name(&args.environment)?;
    let connection = cluster::connect(ctx, &args.cluster).await?;
    let api: Api<ConfigMap> = Api::namespaced(connection.client.clone(), RECORD_NAMESPACE);
    let what =
        format!("recording the environment in configmap/{RECORD_NAME} in {RECORD_NAMESPACE}");
    let existing = cluster::retry(&what, || api.get_opt(RECORD_NAME))
        .await
        .map_err(|err| cluster::api_error(&what, &err))?;
    let current = existing
        .as_ref()
        .and_then(|cm| cm.data.as_ref())
        .and_then(|data| data.get(RECORD_KEY))
        .cloned();
    let wanted = record(&args.environment);
    let (stored, action) = match (existing, current) {
        (Some(cm), Some(current)) if current == args.environment => (cm, Action::Unchanged),
        (Some(_), Some(current)) if !args.overwrite => {
            return Err(StageError::invalid_input(format!(
                "the cluster at {} is already recorded as environment {current}; nothing was \
                 changed",
                connection.describe()
            ))
            .with_hint(format!(
                "if it really is the {} cluster now, re-run with --overwrite",
                args.environment
            ))
            .into());
        }
        (Some(mut cm), _) => {
            cm.data = wanted.data;
            cm.metadata.labels = wanted.metadata.labels;
            // The resourceVersion read above makes this a compare-and-swap: a concurrent
            // init-cluster gets a 409 rather than silently winning.
            let stored = api
                .replace(RECORD_NAME, &PostParams::default(), &cm)
                .await
                .map_err(|err| cluster::api_error(&what, &err))?;
            (stored, Action::Configured)
        }
        (None, _) => {
            let stored = api
                .create(&PostParams::default(), &wanted)
                .await
                .map_err(|err| cluster::api_error(&what, &err))?;
            (stored, Action::Created)
        }
    };
    tracing::info!(
        "configmap/{RECORD_NAME} {}: the cluster at {} is environment {}",
        action.as_str(),
        connection.describe(),
        args.environment
    );
    Ok(Report {
        environment: Some(args.environment.clone()),
        objects: vec![AppliedObject {
            api_version: "v1".to_owned(),
            kind: "ConfigMap".to_owned(),
            namespace: Some(RECORD_NAMESPACE.to_owned()),
            name: RECORD_NAME.to_owned(),
            uid: stored.metadata.uid.unwrap_or_default(),
            generation: stored.metadata.generation,
            resource_version: stored.metadata.resource_version.unwrap_or_default(),
            action,
            changes: None,
        }],
        ..Report::default()
    })
}

fn record(environment: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(RECORD_NAME.to_owned()),
            namespace: Some(RECORD_NAMESPACE.to_owned()),
            labels: Some(BTreeMap::from([(
                cluster::names::MANAGED_BY_LABEL.to_owned(),
                cluster::names::MANAGED_BY.to_owned(),
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
