//! `k8s-apply init-cluster --env NAME`: records which environment a cluster is. The guard that
//! reads the record before every write lives in `cluster::environment`, shared with rollout-wait.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use stage::{Ctx, StageError, StageResult};

use crate::InitArgs;
use crate::report::{Action, AppliedObject, Report};
use cluster::environment::{RECORD_KEY, RECORD_NAME, RECORD_NAMESPACE, check_name, record};

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
