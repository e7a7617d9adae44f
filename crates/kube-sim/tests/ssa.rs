//! Server-side apply and the other patch types through the kube crate, the way k8s-apply uses
//! them: create, update, field removal, conflicts between managers, force, dry-run.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube_sim::{Config, KubeSim};
use serde_json::{Value, json};

fn deployment(image: &str, replicas: Option<i32>) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web", "labels": { "app": "web" } },
        "spec": {
            "selector": { "matchLabels": { "app": "web" } },
            "template": { "metadata": { "labels": { "app": "web" } }, "spec": { "containers": [
                { "name": "web", "image": image, "env": [{ "name": "MODE", "value": "prod" }] }
            ] } }
        }
    });
    if let Some(r) = replicas {
        d["spec"]["replicas"] = json!(r);
    }
    d
}

fn apply(manager: &str) -> PatchParams {
    PatchParams::apply(manager)
}

fn status(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn managers(d: &Deployment) -> Vec<(String, String)> {
    d.metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                m.operation.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn apply_creates_updates_and_is_idempotent() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api: Api<Deployment> = Api::namespaced(sim.client().await.unwrap(), "default");

    let created = api
        .patch(
            "web",
            &apply("pipewright"),
            &Patch::Apply(deployment("web:1", Some(2))),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        managers(&created),
        vec![("pipewright".to_owned(), "Apply".to_owned())]
    );

    // The same configuration again changes nothing at all.
    let again = api
        .patch(
            "web",
            &apply("pipewright"),
            &Patch::Apply(deployment("web:1", Some(2))),
        )
        .await
        .unwrap();
    // (The deployment controller writes status meanwhile, so the resourceVersion may move; the
    // apply itself changed neither the spec nor the field ownership.)
    assert_eq!(again.metadata.generation, Some(1));
    assert_eq!(
        again.metadata.managed_fields.as_ref().map(Vec::len),
        Some(1)
    );
    assert_eq!(again.spec, created.spec);

    // On a kind no controller touches, the re-apply does not even move the resourceVersion.
    let cms: Api<ConfigMap> = Api::namespaced(api.clone().into_client(), "default");
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "same" }, "data": { "a": "1" } });
    let first = cms
        .patch("same", &apply("pipewright"), &Patch::Apply(cm.clone()))
        .await
        .unwrap();
    let second = cms
        .patch("same", &apply("pipewright"), &Patch::Apply(cm))
        .await
        .unwrap();
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );

    // A new image is a spec change: a new generation.
    let updated = api
        .patch(
            "web",
            &apply("pipewright"),
            &Patch::Apply(deployment("web:2", Some(2))),
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata.generation, Some(2));
    let image = updated.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("web:2"));
}

#[tokio::test]
async fn a_field_the_manager_stops_applying_is_removed() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await.unwrap(), "default");
    let cm = |data: Value| json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "conf" }, "data": data });
    api.patch(
        "conf",
        &apply("pipewright"),
        &Patch::Apply(cm(json!({ "a": "1", "b": "2" }))),
    )
    .await
    .unwrap();
    let after = api
        .patch(
            "conf",
            &apply("pipewright"),
            &Patch::Apply(cm(json!({ "a": "1" }))),
        )
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert_eq!(data.get("a").map(String::as_str), Some("1"));
    assert!(
        !data.contains_key("b"),
        "b is no longer applied by anyone, so it goes"
    );
}

#[tokio::test]
async fn conflicts_between_managers_need_force() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api: Api<Deployment> = Api::namespaced(sim.client().await.unwrap(), "default");
    api.patch(
        "web",
        &apply("pipewright"),
        &Patch::Apply(deployment("web:1", Some(2))),
    )
    .await
    .unwrap();

    // Another manager applying a different replica count conflicts, naming the field and owner.
    let hpa_like = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" }, "spec": { "replicas": 5 } });
    let conflict = status(
        api.patch("web", &apply("autoscaler"), &Patch::Apply(hpa_like.clone()))
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains("conflict with \"pipewright\""),
        "{}",
        conflict.message
    );
    assert!(
        conflict.message.contains(".spec.replicas"),
        "{}",
        conflict.message
    );

    // The same value is no conflict: ownership is shared.
    let same = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" }, "spec": { "replicas": 2 } });
    api.patch("web", &apply("observer"), &Patch::Apply(same))
        .await
        .unwrap();

    // With force the field changes hands.
    let forced = api
        .patch("web", &apply("autoscaler").force(), &Patch::Apply(hpa_like))
        .await
        .unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(5));
    // pipewright no longer owns replicas: re-applying its config without replicas leaves 5.
    let back = api
        .patch(
            "web",
            &apply("pipewright"),
            &Patch::Apply(deployment("web:1", None)),
        )
        .await
        .unwrap();
    assert_eq!(back.spec.unwrap().replicas, Some(5));
}

#[tokio::test]
async fn containers_merge_by_name_between_managers() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api: Api<Deployment> = Api::namespaced(sim.client().await.unwrap(), "default");
    api.patch(
        "web",
        &apply("pipewright"),
        &Patch::Apply(deployment("web:1", Some(1))),
    )
    .await
    .unwrap();
    let sidecar = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" },
        "spec": { "selector": { "matchLabels": { "app": "web" } }, "template": { "metadata": { "labels": { "app": "web" } }, "spec": { "containers": [
            { "name": "proxy", "image": "envoy:1" }
        ] } } }
    });
    let both = api
        .patch("web", &apply("mesh-injector"), &Patch::Apply(sidecar))
        .await
        .unwrap();
    let names: Vec<String> = both
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["web", "proxy"]);
}

#[tokio::test]
async fn dry_run_apply_answers_but_stores_nothing() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api: Api<Deployment> = Api::namespaced(sim.client().await.unwrap(), "default");
    let dry = PatchParams {
        dry_run: true,
        ..apply("pipewright")
    };
    let answer = api
        .patch("web", &dry, &Patch::Apply(deployment("web:1", Some(2))))
        .await
        .unwrap();
    assert_eq!(answer.spec.unwrap().replicas, Some(2));
    assert!(api.get_opt("web").await.unwrap().is_none());

    let live = api
        .patch(
            "web",
            &apply("pipewright"),
            &Patch::Apply(deployment("web:1", Some(2))),
        )
        .await
        .unwrap();
    let preview = api
        .patch("web", &dry, &Patch::Apply(deployment("web:2", Some(2))))
        .await
        .unwrap();
    assert_eq!(
        preview.metadata.generation,
        Some(2),
        "the preview shows the change"
    );
    let still = api.get("web").await.unwrap();
    assert_eq!(
        still.metadata.generation, live.metadata.generation,
        "nothing was stored"
    );
    let image = |d: &Deployment| {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
    };
    assert_eq!(image(&still).as_deref(), Some("web:1"));
}

#[tokio::test]
async fn merge_and_strategic_patches() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let api: Api<Deployment> = Api::namespaced(sim.client().await.unwrap(), "default");
    api.patch(
        "web",
        &apply("pipewright"),
        &Patch::Apply(deployment("web:1", Some(2))),
    )
    .await
    .unwrap();
    let pp = PatchParams::default();

    let merged = api
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({ "metadata": { "labels": { "tier": "front" } } })),
        )
        .await
        .unwrap();
    assert_eq!(
        merged
            .metadata
            .labels
            .unwrap()
            .get("tier")
            .map(String::as_str),
        Some("front")
    );

    // Strategic merge: the env list merges by name instead of being replaced.
    let smp = json!({ "spec": { "template": { "spec": { "containers": [
        { "name": "web", "env": [{ "name": "DEBUG", "value": "1" }] }
    ] } } } });
    let strategic = api.patch("web", &pp, &Patch::Strategic(smp)).await.unwrap();
    let env: Vec<String> = strategic.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(env.len(), 2, "{env:?}");
    assert!(env.contains(&"MODE".to_owned()) && env.contains(&"DEBUG".to_owned()));
}

#[tokio::test]
async fn reapplying_a_namespace_or_a_secret_changes_nothing() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let client = sim.client().await.unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "team", "labels": { "a": "b" } } });
    let first = namespaces
        .patch("team", &apply("pipewright"), &Patch::Apply(ns.clone()))
        .await
        .unwrap();
    let second = namespaces
        .patch("team", &apply("pipewright"), &Patch::Apply(ns))
        .await
        .unwrap();
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );

    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "default");
    let secret = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "db" }, "stringData": { "password": "hunter2" } });
    let first = secrets
        .patch("db", &apply("pipewright"), &Patch::Apply(secret.clone()))
        .await
        .unwrap();
    assert!(
        first.string_data.is_none(),
        "stringData is folded into data"
    );
    assert_eq!(first.data.unwrap()["password"].0, b"hunter2");
    let second = secrets
        .patch("db", &apply("pipewright"), &Patch::Apply(secret))
        .await
        .unwrap();
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );
}
