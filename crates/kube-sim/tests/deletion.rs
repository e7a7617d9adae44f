//! Deletion as a real cluster does it, through the kube crate: finalizers and
//! deletionTimestamp, namespaces that stay Terminating until emptied, graceful pod termination,
//! workload controllers that replace terminating pods, and Foreground/Orphan propagation.
//!
//! Expected messages are the real API server's (k8s.io/apiserver registry and admission,
//! pkg/controller/namespace), not kube-sim's output.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod cluster;

use std::time::Duration;

use cluster::{deployment, eventually, start};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube_sim::KubeSim;
use kube_sim::controllers::behaviour::{Behaviour, Rule};
use serde_json::json;

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn held_config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": { "name": name, "finalizers": ["example.com/hold"] },
        "data": { "key": "value" },
    }))
    .unwrap()
}

fn namespace(name: &str) -> Namespace {
    serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap()
}

async fn drop_finalizers<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap();
}

/// Pods of `app` in "default" with and without a deletionTimestamp.
async fn pods_by_state(client: &kube::Client, app: &str) -> (Vec<Pod>, Vec<Pod>) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .partition(|p| p.metadata.deletion_timestamp.is_some())
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A simulator at 10× with Deployment `web` (image `stubborn:1`, two replicas) whose pods are
/// ready; containers of images matching `stopping` take `stop_secs` simulated seconds to stop.
async fn web_with_two_ready_pods(
    stopping: &str,
    stop_secs: u64,
) -> (KubeSim, kube::Client, Api<Deployment>) {
    let sim = start(10.0);
    sim.sim().behaviours.push(
        Rule::image(stopping, Behaviour::Ready { after_secs: 1 }).with_stop_seconds(stop_secs),
    );
    let client = sim.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", "stubborn:1", 2))
        .await
        .unwrap();
    eventually("two ready pods", 30, || {
        let client = client.clone();
        async move {
            let (_, running) = pods_by_state(&client, "web").await;
            (running.len() == 2 && running.iter().all(ready)).then_some(())
        }
    })
    .await;
    (sim, client, deployments)
}

#[tokio::test]
async fn a_finalizer_holds_an_object_until_it_is_removed() {
    let sim = start(1.0);
    let client = sim.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = cms
        .create(&PostParams::default(), &held_config_map("held"))
        .await
        .unwrap();

    // The DELETE answers with the object, marked, not a Status: it is still there.
    let marked = cms
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("a held object is answered with the object itself");
    let stamp = marked.metadata.deletion_timestamp.clone().unwrap();
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(
        marked.metadata.finalizers,
        Some(vec!["example.com/hold".to_owned()])
    );
    assert_eq!(marked.metadata.uid, created.metadata.uid);

    // A second DELETE later does not move the timestamp.
    sim.clock().advance(Duration::from_secs(90));
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let live = cms.get("held").await.unwrap();
    assert_eq!(live.metadata.deletion_timestamp, Some(stamp));

    // No new finalizer once deleting (ValidateNoNewFinalizers' words).
    let refused = api_error(
        cms.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "metadata": { "finalizers": ["example.com/hold", "example.com/more"] } }),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        refused.message,
        "ConfigMap \"held\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/more\"}"
    );

    // Other updates are fine, and the deletion fields cannot be cleared.
    let labelled = cms
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "metadata": { "labels": { "a": "b" }, "deletionTimestamp": null } }),
            ),
        )
        .await
        .unwrap();
    assert!(labelled.metadata.deletion_timestamp.is_some());

    // Removing the last finalizer removes the object.
    drop_finalizers(&cms, "held").await;
    let gone = api_error(cms.get("held").await.unwrap_err());
    assert_eq!(gone.code, 404);
}

#[tokio::test]
async fn a_delete_without_holds_is_immediate_and_preconditions_are_checked() {
    let sim = start(1.0);
    let client = sim.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut plain = held_config_map("plain");
    plain.metadata.finalizers = None;
    let created = cms.create(&PostParams::default(), &plain).await.unwrap();

    let wrong = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-the-uid".to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let conflict = api_error(cms.delete("plain", &wrong).await.unwrap_err());
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        conflict.message,
        format!(
            "Operation cannot be fulfilled on configmaps \"plain\": Precondition failed: UID in precondition: not-the-uid, UID in object meta: {}",
            created.metadata.uid.clone().unwrap()
        )
    );

    // Removed at once: the real server answers with a success Status naming what went.
    let status = cms
        .delete("plain", &DeleteParams::default())
        .await
        .unwrap()
        .right()
        .expect("an object removed at once is answered with a Status");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let details = status.details.unwrap();
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("plain", "configmaps")
    );
    assert_eq!(Some(details.uid), created.metadata.uid);
    assert_eq!(api_error(cms.get("plain").await.unwrap_err()).code, 404);
}

/// `NamespaceLifecycle` admission refuses new content in "shop", with its message and cause.
async fn assert_creation_refused(cms: &Api<ConfigMap>) {
    let mut late = held_config_map("late");
    late.metadata.finalizers = None;
    let refused = api_error(cms.create(&PostParams::default(), &late).await.unwrap_err());
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        refused.message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace shop because it is being terminated"
    );
    let cause = &refused.details.unwrap().causes[0];
    assert_eq!(
        (
            cause.reason.as_str(),
            cause.field.as_str(),
            cause.message.as_str()
        ),
        (
            "NamespaceTerminating",
            "metadata.namespace",
            "namespace shop is being terminated"
        )
    );
}

#[tokio::test]
async fn a_namespace_is_terminating_until_its_contents_are_gone() {
    let sim = start(1.0);
    let client = sim.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &namespace("shop"))
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    cms.create(&PostParams::default(), &held_config_map("held"))
        .await
        .unwrap();
    let mut loose = held_config_map("loose");
    loose.metadata.finalizers = None;
    cms.create(&PostParams::default(), &loose).await.unwrap();

    let terminating = namespaces
        .delete("shop", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("a namespace being deleted is answered with the namespace");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(
        terminating.status.as_ref().unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert_eq!(
        terminating.spec.as_ref().unwrap().finalizers,
        Some(vec!["kubernetes".to_owned()])
    );

    assert_creation_refused(&cms).await;

    // The controller deletes what it can and reports what holds it.
    let reported = eventually("the held content reported", 30, || {
        let namespaces = namespaces.clone();
        async move {
            let ns = namespaces.get("shop").await.ok()?;
            let conditions = ns.status?.conditions?;
            conditions
                .into_iter()
                .find(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True")
        }
    })
    .await;
    assert_eq!(reported.reason.as_deref(), Some("SomeFinalizersRemain"));
    assert_eq!(
        reported.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        )
    );
    let ns = namespaces.get("shop").await.unwrap();
    let remaining = ns
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "NamespaceContentRemaining")
        .unwrap();
    assert_eq!(
        (remaining.status.as_str(), remaining.message.as_deref()),
        (
            "True",
            Some("Some resources are remaining: configmaps. has 1 resource instances")
        )
    );
    assert_eq!(api_error(cms.get("loose").await.unwrap_err()).code, 404);
    assert!(
        cms.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );

    drop_finalizers(&cms, "held").await;
    eventually("the namespace gone", 30, || {
        let namespaces = namespaces.clone();
        async move {
            matches!(namespaces.get("shop").await, Err(kube::Error::Api(s)) if s.code == 404)
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_pod_terminates_gracefully_and_a_forced_delete_is_immediate() {
    let sim = start(10.0);
    let client = sim.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let slow_stop: Pod = serde_json::from_value(json!({
        "metadata": { "name": "slow", "labels": { "app": "slow" } },
        "spec": { "terminationGracePeriodSeconds": 45, "containers": [{ "name": "app", "image": "stubborn:1" }] },
    }))
    .unwrap();
    sim.sim()
        .behaviours
        .push(Rule::image("stubborn:*", Behaviour::Ready { after_secs: 1 }).with_stop_seconds(600));
    pods.create(&PostParams::default(), &slow_stop)
        .await
        .unwrap();
    eventually("the pod ready", 30, || {
        let pods = pods.clone();
        async move { pods.get("slow").await.ok().filter(ready) }
    })
    .await;

    // Simulated time stands still while the test looks at the terminating pod, so its grace
    // period cannot run out before, however slow this machine is.
    sim.clock().set_pace(1e-9);
    let marked = pods
        .delete("slow", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("a terminating pod is answered with the pod");
    // deletionTimestamp is when the grace period ends: now + terminationGracePeriodSeconds.
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(45));
    let stamp = marked.metadata.deletion_timestamp.clone().unwrap().0;
    let now = sim.clock().now();
    let ahead = stamp.duration_since(now);
    assert!(
        (40..=46).contains(&ahead.as_secs()),
        "deletionTimestamp {stamp} is not about 45 s after {now}"
    );
    // Not ready while it stops; still there.
    let stopping = eventually("the pod unready", 30, || {
        let pods = pods.clone();
        async move { pods.get("slow").await.ok().filter(|p| !ready(p)) }
    })
    .await;
    assert!(stopping.metadata.deletion_timestamp.is_some());

    // The container ignores SIGTERM for 600 s: it is killed when the 45 s are up.
    sim.clock().set_pace(10.0);
    sim.clock().advance(Duration::from_secs(50));
    eventually("the pod gone", 30, || {
        let pods = pods.clone();
        async move {
            matches!(pods.get("slow").await, Err(kube::Error::Api(s)) if s.code == 404)
                .then_some(())
        }
    })
    .await;

    // --force --grace-period=0: gone in the same request.
    let mut quick = slow_stop.clone();
    quick.metadata.name = Some("quick".to_owned());
    pods.create(&PostParams::default(), &quick).await.unwrap();
    eventually("the second pod ready", 30, || {
        let pods = pods.clone();
        async move { pods.get("quick").await.ok().filter(ready) }
    })
    .await;
    let forced = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let last = pods
        .delete("quick", &forced)
        .await
        .unwrap()
        .left()
        .expect("a deleted pod is answered with the pod");
    assert_eq!(last.metadata.name.as_deref(), Some("quick"));
    assert_eq!(api_error(pods.get("quick").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn a_replica_set_replaces_a_terminating_pod_without_waiting() {
    let sim = start(10.0);
    sim.sim()
        .behaviours
        .push(Rule::image("stubborn:*", Behaviour::Ready { after_secs: 1 }).with_stop_seconds(20));
    let client = sim.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", "stubborn:1", 2))
        .await
        .unwrap();
    let (_, running) = eventually("two ready pods", 30, || {
        let client = client.clone();
        async move {
            let (terminating, running) = pods_by_state(&client, "web").await;
            (running.len() == 2 && running.iter().all(ready)).then_some((terminating, running))
        }
    })
    .await;
    let victim = running[0].metadata.name.clone().unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // From here simulated time runs at real speed: the old pod's 20 s stop leaves the test 20 real
    // seconds to see it beside its replacement, however busy the machine; the test then moves the
    // clock itself.
    sim.clock().set_pace(1.0);
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();

    // The old pod stops for 20 simulated seconds; its replacement comes meanwhile.
    let (terminating, running) = eventually("a replacement beside the terminating pod", 30, || {
        let client = client.clone();
        async move {
            let (terminating, running) = pods_by_state(&client, "web").await;
            (terminating.len() == 1 && running.len() == 2).then_some((terminating, running))
        }
    })
    .await;
    assert_eq!(
        terminating[0].metadata.name.as_deref(),
        Some(victim.as_str())
    );
    assert!(
        running
            .iter()
            .all(|p| p.metadata.name.as_deref() != Some(victim.as_str()))
    );
    // The ReplicaSet counts only the pods that are not terminating.
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = sets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(rs.status.unwrap().replicas, 2);

    sim.clock().advance(Duration::from_secs(30));
    eventually("the terminating pod gone", 30, || {
        let client = client.clone();
        async move {
            let (terminating, running) = pods_by_state(&client, "web").await;
            (terminating.is_empty() && running.len() == 2).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_rollout_starts_new_pods_while_old_ones_terminate() {
    let (sim, client, deployments) = web_with_two_ready_pods("stubborn:1", 25).await;

    // Scaling down: the extra pod goes Terminating, not away. Simulated time runs at real speed
    // from here, so the old pods' 25 s stop leaves the test 25 real seconds to see a new pod ready
    // beside them (it is ready one second after it starts), however busy the machine.
    sim.clock().set_pace(1.0);
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 1 } })),
        )
        .await
        .unwrap();
    let (terminating, _) = eventually("one pod terminating", 30, || {
        let client = client.clone();
        async move {
            let (terminating, running) = pods_by_state(&client, "web").await;
            (terminating.len() == 1 && running.len() == 1).then_some((terminating, running))
        }
    })
    .await;
    assert!(!ready(&terminating[0]), "a terminating pod is not ready");

    // A new template: the new ReplicaSet's pods start while the old ones are still stopping.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": "stubborn:2" }] } } } })),
        )
        .await
        .unwrap();
    eventually("a new pod ready beside terminating old ones", 30, || {
        let client = client.clone();
        async move {
            let (terminating, running) = pods_by_state(&client, "web").await;
            let new_ready = running.iter().any(|p| {
                ready(p)
                    && p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("stubborn:2")
            });
            (new_ready && !terminating.is_empty()).then_some(())
        }
    })
    .await;
    sim.clock().advance(Duration::from_secs(40));
    eventually("only the new pod left", 30, || {
        let client = client.clone();
        async move {
            let (terminating, running) = pods_by_state(&client, "web").await;
            let only_new = running.len() == 1
                && running[0].spec.as_ref().unwrap().containers[0]
                    .image
                    .as_deref()
                    == Some("stubborn:2");
            (terminating.is_empty() && only_new).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_removes_replica_sets_and_pods_first() {
    let (sim, client, deployments) = web_with_two_ready_pods("stubborn:*", 20).await;

    let marked = deployments
        .delete("web", &DeleteParams::foreground())
        .await
        .unwrap()
        .left()
        .expect("a Foreground deletion is answered with the object");
    assert_eq!(
        marked.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_owned()])
    );
    assert!(marked.metadata.deletion_timestamp.is_some());

    // The pods stop for 20 simulated seconds; until then everything above them waits.
    let (terminating, _) = pods_by_state(&client, "web").await;
    assert_eq!(terminating.len(), 2);
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = sets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        rs.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_owned()])
    );
    assert!(deployments.get("web").await.is_ok());

    sim.clock().advance(Duration::from_secs(30));
    eventually("the deployment gone", 30, || {
        let deployments = deployments.clone();
        async move {
            matches!(deployments.get("web").await, Err(kube::Error::Api(s)) if s.code == 404)
                .then_some(())
        }
    })
    .await;
    assert!(
        sets.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let (terminating, running) = pods_by_state(&client, "web").await;
    assert!(terminating.is_empty() && running.is_empty());
}

#[tokio::test]
async fn orphan_deletion_leaves_dependents_without_the_owner_reference() {
    let sim = start(10.0);
    let client = sim.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", "nginx:1.25", 2))
        .await
        .unwrap();
    eventually("two ready pods", 30, || {
        let client = client.clone();
        async move {
            let (_, running) = pods_by_state(&client, "web").await;
            (running.len() == 2 && running.iter().all(ready)).then_some(())
        }
    })
    .await;

    deployments
        .delete("web", &DeleteParams::orphan())
        .await
        .unwrap();
    assert_eq!(
        api_error(deployments.get("web").await.unwrap_err()).code,
        404
    );
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = sets.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].metadata.owner_references, None);
    assert_eq!(rs[0].metadata.deletion_timestamp, None);
    // The pods keep their ReplicaSet, which keeps them running.
    sim.clock().advance(Duration::from_secs(30));
    let (terminating, running) = pods_by_state(&client, "web").await;
    assert!(terminating.is_empty());
    assert_eq!(running.len(), 2);
    assert!(running.iter().all(|p| {
        p.metadata.owner_references.as_ref().unwrap()[0].uid == rs[0].metadata.uid.clone().unwrap()
    }));
}
