//! The workload controllers seen through the API, as kubectl and kube-rs clients see them:
//! Deployments (status, conditions, rolling updates within maxSurge/maxUnavailable, the
//! progress deadline, garbage collection), StatefulSets, DaemonSets, Jobs, LoadBalancer
//! Services, Ingresses and PersistentVolumeClaims.

mod cluster;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cluster::{
    FROZEN, deployment, deployment_condition, events_about, eventually, find, pods_of, start,
    start_with,
};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube_sim::Scenario;
use serde_json::json;

async fn rollout_done(api: &Api<Deployment>, name: &str, replicas: i32) -> Option<Deployment> {
    let d = api.get(name).await.ok()?;
    let status = d.status.clone()?;
    let done = status.observed_generation == d.metadata.generation
        && status.updated_replicas == Some(replicas)
        && status.replicas == Some(replicas)
        && status.available_replicas == Some(replicas)
        && deployment_condition(&d, "Progressing")
            .is_some_and(|(_, r)| r == "NewReplicaSetAvailable");
    done.then_some(d)
}

/// A pod of a healthy ReplicaSet, as a kubelet reports it.
fn assert_pod_is_complete(pod: &Pod, hash: &str, nodes: &[Node]) {
    let owner = &pod.metadata.owner_references.as_ref().expect("as created")[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.controller,
            owner.block_owner_deletion
        ),
        ("ReplicaSet", Some(true), Some(true))
    );
    assert_eq!(
        pod.metadata.labels.as_ref().expect("as created")["pod-template-hash"],
        hash
    );
    let node = pod
        .spec
        .as_ref()
        .expect("as created")
        .node_name
        .clone()
        .expect("as created");
    assert!(
        nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(node.as_str()))
    );
    let status = pod.status.as_ref().expect("as created");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(
        status
            .pod_ip
            .as_deref()
            .expect("as created")
            .starts_with("10.244.")
    );
    assert!(status.host_ip.is_some() && status.start_time.is_some());
    for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(
            cluster::pod_condition(pod, kind).map(|c| c.0),
            Some("True".to_owned()),
            "{kind}"
        );
    }
    let container = &status.container_statuses.as_ref().expect("as created")[0];
    assert!(container.ready && container.started == Some(true));
    assert_eq!(container.image, "docker.io/library/nginx:1.25");
    assert!(
        container
            .image_id
            .starts_with("docker.io/library/nginx@sha256:")
    );
    assert!(
        container
            .container_id
            .as_deref()
            .expect("as created")
            .starts_with("containerd://")
    );
}

#[tokio::test]
async fn a_deployment_becomes_available_with_every_status_field() {
    let sim = start(10.0);
    let client = sim.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", "nginx:1.25", 3))
        .await
        .unwrap();

    let d = eventually("web available", 20, || rollout_done(&deployments, "web", 3)).await;
    let status = d.status.clone().unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        (status.ready_replicas, status.unavailable_replicas),
        (Some(3), None)
    );
    assert_eq!(
        deployment_condition(&d, "Available"),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    let progressing = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(progressing.status, "True");
    assert!(
        progressing
            .message
            .unwrap()
            .contains("has successfully progressed")
    );
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );

    let sets = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(sets.len(), 1);
    let rs = &sets[0];
    let hash = rs.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    assert_eq!(
        rs.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller, owner.uid.as_str()),
        ("Deployment", Some(true), d.metadata.uid.as_deref().unwrap())
    );

    let pods = pods_of(&client, "web").await;
    assert_eq!(pods.len(), 3);
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(nodes.len(), 3, "three simulated nodes by default");
    for pod in &pods {
        assert_pod_is_complete(pod, &hash, &nodes);
    }

    assert_rollout_events(&client, &hash, &pods[0]).await;
}

/// The events a rollout of three replicas leaves: on the Deployment, its ReplicaSet and a pod.
async fn assert_rollout_events(client: &kube::Client, hash: &str, pod: &Pod) {
    let on_deployment = events_about(client, "default", "web").await;
    assert!(
        find(
            &on_deployment,
            "ScalingReplicaSet",
            &format!("Scaled up replica set web-{hash} from 0 to 3")
        )
        .is_some()
    );
    let on_rs = events_about(client, "default", &format!("web-{hash}")).await;
    assert_eq!(
        on_rs
            .iter()
            .filter(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
            .count(),
        3
    );
    let pod_name = pod.metadata.name.clone().expect("a name");
    let on_pod = events_about(client, "default", &pod_name).await;
    for reason in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        let event =
            find(&on_pod, reason, "").unwrap_or_else(|| panic!("no {reason} event in {on_pod:?}"));
        assert_eq!(event.type_.as_deref(), Some("Normal"));
        assert_eq!(event.count, Some(1));
    }
    assert_eq!(
        find(&on_pod, "Scheduled", "")
            .expect("as recorded")
            .source
            .as_ref()
            .expect("as recorded")
            .component
            .as_deref(),
        Some("default-scheduler")
    );
}

/// Polls an app's pods in the background, keeping the most pods and the fewest ready ones seen.
struct Observer {
    most: Arc<AtomicUsize>,
    fewest_ready: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    fn start(client: &kube::Client, app: &'static str) -> Self {
        let most = Arc::new(AtomicUsize::new(0));
        let fewest_ready = Arc::new(AtomicUsize::new(usize::MAX));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, m, f, s) = (
            client.clone(),
            most.clone(),
            fewest_ready.clone(),
            stop.clone(),
        );
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                // maxSurge bounds the pods a Deployment counts: terminating ones are not.
                let mut pods = pods_of(&c, app).await;
                pods.retain(|p| p.metadata.deletion_timestamp.is_none());
                let ready = pods
                    .iter()
                    .filter(|p| cluster::pod_condition(p, "Ready").is_some_and(|c| c.0 == "True"))
                    .count();
                m.fetch_max(pods.len(), Ordering::Relaxed);
                f.fetch_min(ready, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Self {
            most,
            fewest_ready,
            stop,
            task,
        }
    }

    async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("observer ends");
        (
            self.most.load(Ordering::Relaxed),
            self.fewest_ready.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test]
async fn a_rolling_update_stays_within_max_surge_and_max_unavailable() {
    let sim = start(4.0);
    let client = sim.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut web = deployment("web", "nginx:1.25", 4);
    web.spec.as_mut().unwrap().strategy = Some(
        serde_json::from_value(json!({
            "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 1, "maxUnavailable": 0 }
        }))
        .unwrap(),
    );
    deployments
        .create(&PostParams::default(), &web)
        .await
        .unwrap();
    eventually("web available", 20, || rollout_done(&deployments, "web", 4)).await;

    // Watch the pods while the update runs: never more than 4 + 1, never fewer than 4 ready.
    let observer = Observer::start(&client, "web");
    let mut live = deployments.get("web").await.unwrap();
    live.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("nginx:1.26".into());
    deployments
        .replace("web", &PostParams::default(), &live)
        .await
        .unwrap();
    let d = eventually("web updated", 30, || async {
        let d = rollout_done(&deployments, "web", 4).await?;
        (d.metadata.generation == Some(2)).then_some(d)
    })
    .await;
    let (most, fewest_ready) = observer.finish().await;
    assert_eq!(most, 5, "maxSurge 1 allows exactly one extra pod");
    assert_eq!(fewest_ready, 4, "maxUnavailable 0 keeps all four ready");
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );
    let sets = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(sets.len(), 2);
    for rs in &sets {
        let revision =
            rs.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"].clone();
        let image = rs
            .spec
            .as_ref()
            .unwrap()
            .template
            .as_ref()
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap();
        let replicas = rs.spec.as_ref().unwrap().replicas;
        match revision.as_str() {
            "1" => assert_eq!((image.as_str(), replicas), ("nginx:1.25", Some(0))),
            "2" => assert_eq!((image.as_str(), replicas), ("nginx:1.26", Some(4))),
            other => panic!("unexpected revision {other}"),
        }
    }
    // The last old pods may still be terminating when the rollout is complete: wait them out.
    let pods = eventually("only the new pods left", 30, || async {
        let pods = pods_of(&client, "web").await;
        (pods.len() == 4).then_some(pods)
    })
    .await;
    assert!(
        pods.iter()
            .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("nginx:1.26"))
    );
}

#[tokio::test]
async fn a_rollout_that_never_gets_ready_exceeds_its_progress_deadline() {
    let sim = start(FROZEN);
    let client = sim.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(
            &PostParams::default(),
            &deployment("stuck", "registry.example/app:never-ready", 2),
        )
        .await
        .unwrap();
    eventually("pods running", 10, || async {
        let d = deployments.get("stuck").await.ok()?;
        (d.status?.replicas == Some(2)).then_some(())
    })
    .await;
    let before = deployments.get("stuck").await.unwrap();
    assert_eq!(
        deployment_condition(&before, "Progressing").unwrap().0,
        "True"
    );
    assert_eq!(
        deployment_condition(&before, "Available"),
        Some(("False".into(), "MinimumReplicasUnavailable".into()))
    );

    // 600 s is the default deadline: just short of it nothing changes, just past it the
    // controller gives up.
    sim.clock().advance(Duration::from_secs(590));
    let d = deployments.get("stuck").await.unwrap();
    assert_eq!(deployment_condition(&d, "Progressing").unwrap().0, "True");
    sim.clock().advance(Duration::from_secs(15));
    let d = eventually("ProgressDeadlineExceeded", 10, || async {
        let d = deployments.get("stuck").await.ok()?;
        (deployment_condition(&d, "Progressing")?
            == ("False".into(), "ProgressDeadlineExceeded".into()))
            .then_some(d)
    })
    .await;
    let condition = d
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert!(
        condition
            .message
            .unwrap()
            .ends_with("has timed out progressing."),
        "kubectl's verdict depends on the reason"
    );
    assert_eq!(d.metadata.generation, Some(1));
}

#[tokio::test]
async fn deleting_a_deployment_removes_its_replica_sets_and_pods() {
    let sim = start(10.0);
    let client = sim.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("gone", "nginx:1.25", 2))
        .await
        .unwrap();
    eventually("gone available", 20, || {
        rollout_done(&deployments, "gone", 2)
    })
    .await;
    deployments
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    assert!(
        sets.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // The pods terminate gracefully, then go.
    sim.clock().advance(Duration::from_mins(1));
    eventually("the pods gone", 30, || {
        let client = client.clone();
        async move { pods_of(&client, "gone").await.is_empty().then_some(()) }
    })
    .await;
    // And nothing recreates them.
    sim.clock().advance(Duration::from_mins(1));
    assert!(pods_of(&client, "gone").await.is_empty());
}

fn stateful_set(replicas: i32) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": { "name": "db" },
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": { "matchLabels": { "app": "db" } },
            "template": {
                "metadata": { "labels": { "app": "db" } },
                "spec": { "containers": [{ "name": "db", "image": "postgres:16" }] },
            },
            "volumeClaimTemplates": [{
                "metadata": { "name": "data" },
                "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "5Gi" } } },
            }],
        },
    }))
    .expect("a valid StatefulSet")
}

fn revision_of(pod: &Pod) -> String {
    pod.metadata.labels.as_ref().expect("labels")["controller-revision-hash"].clone()
}

#[tokio::test]
async fn a_stateful_set_starts_in_order_and_rolls_out_down_to_its_partition() {
    let sim = start(4.0);
    let client = sim.client().await.unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &stateful_set(3))
        .await
        .unwrap();

    // Ordered: whenever db-N exists, db-(N-1) is already ready.
    eventually("three ready pods, in order", 20, || async {
        let pods = pods_of(&client, "db").await;
        for pod in &pods {
            let n: usize = pod
                .metadata
                .name
                .as_ref()
                .unwrap()
                .trim_start_matches("db-")
                .parse()
                .unwrap();
            if n > 0 {
                let before = pods
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(format!("db-{}", n - 1).as_str()));
                let ready = before.is_some_and(|p| {
                    cluster::pod_condition(p, "Ready").is_some_and(|c| c.0 == "True")
                });
                assert!(ready, "db-{n} exists before db-{} is ready", n - 1);
            }
        }
        let s = sets.get("db").await.ok()?.status?;
        (s.ready_replicas == Some(3)).then_some(())
    })
    .await;
    let status = sets.get("db").await.unwrap().status.unwrap();
    let first = status.update_revision.clone().unwrap();
    assert_eq!(status.current_revision.as_deref(), Some(first.as_str()));
    assert_eq!(
        (
            status.replicas,
            status.current_replicas,
            status.updated_replicas
        ),
        (3, Some(3), Some(3))
    );
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let claim = claims.get("data-db-0").await.unwrap();
    assert_eq!(claim.status.unwrap().phase.as_deref(), Some("Bound"));

    // A new template with partition 2: only db-2 moves to the new revision.
    let mut live = sets.get("db").await.unwrap();
    let spec = live.spec.as_mut().unwrap();
    spec.template.spec.as_mut().unwrap().containers[0].image = Some("postgres:17".into());
    spec.update_strategy = Some(
        serde_json::from_value(
            json!({ "type": "RollingUpdate", "rollingUpdate": { "partition": 2 } }),
        )
        .unwrap(),
    );
    sets.replace("db", &PostParams::default(), &live)
        .await
        .unwrap();
    let status = eventually("db-2 updated", 20, || async {
        let s = sets.get("db").await.ok()?.status?;
        (s.updated_replicas == Some(1) && s.ready_replicas == Some(3)).then_some(s)
    })
    .await;
    let second = status.update_revision.clone().unwrap();
    assert_ne!(second, first);
    assert_eq!(
        (status.current_revision.as_deref(), status.current_replicas),
        (Some(first.as_str()), Some(2))
    );
    let pods = pods_of(&client, "db").await;
    for pod in &pods {
        let expected = if pod.metadata.name.as_deref() == Some("db-2") {
            &second
        } else {
            &first
        };
        assert_eq!(&revision_of(pod), expected, "{:?}", pod.metadata.name);
    }
    let revisions = Api::<ControllerRevision>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let mut numbers: Vec<(String, i64)> = revisions
        .iter()
        .map(|r| (r.metadata.name.clone().unwrap(), r.revision))
        .collect();
    numbers.sort_by_key(|(_, n)| *n);
    assert_eq!(numbers, vec![(first.clone(), 1), (second.clone(), 2)]);

    finish_partitioned_rollout(&client, &sets, &second).await;
}

/// Partition 0 finishes the rollout: the current revision becomes the update revision.
async fn finish_partitioned_rollout(client: &kube::Client, sets: &Api<StatefulSet>, second: &str) {
    let mut live = sets.get("db").await.expect("as created");
    live.spec.as_mut().expect("as created").update_strategy = Some(
        serde_json::from_value(
            json!({ "type": "RollingUpdate", "rollingUpdate": { "partition": 0 } }),
        )
        .expect("as created"),
    );
    sets.replace("db", &PostParams::default(), &live)
        .await
        .expect("as created");
    let status = eventually("all updated", 20, || async {
        let s = sets.get("db").await.ok()?.status?;
        (s.current_revision == s.update_revision
            && s.updated_replicas == Some(3)
            && s.ready_replicas == Some(3))
        .then_some(s)
    })
    .await;
    assert_eq!(status.current_revision.as_deref(), Some(second));
    assert!(
        pods_of(client, "db")
            .await
            .iter()
            .all(|p| revision_of(p) == *second)
    );
}

#[tokio::test]
async fn a_daemon_set_runs_one_pod_on_each_configured_node() {
    let sim = start_with(Scenario {
        pace: Some(10.0),
        nodes: Some(5),
        ..Scenario::default()
    });
    let client = sim.client().await.unwrap();
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": { "name": "agent" },
        "spec": {
            "selector": { "matchLabels": { "app": "agent" } },
            "template": { "metadata": { "labels": { "app": "agent" } }, "spec": { "containers": [{ "name": "agent", "image": "fluent-bit:3" }] } },
        },
    }))
    .unwrap();
    sets.create(&PostParams::default(), &ds).await.unwrap();
    let status = eventually("five ready agents", 20, || async {
        let s = sets.get("agent").await.ok()?.status?;
        (s.number_ready == 5 && s.updated_number_scheduled == Some(5)).then_some(s)
    })
    .await;
    assert_eq!(
        (
            status.desired_number_scheduled,
            status.current_number_scheduled,
            status.number_available
        ),
        (5, 5, Some(5))
    );
    let mut nodes: Vec<String> = pods_of(&client, "agent")
        .await
        .iter()
        .map(|p| p.spec.as_ref().unwrap().node_name.clone().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        (1..=5).map(|i| format!("node-{i}")).collect::<Vec<_>>()
    );
}

fn job(name: &str, image: &str, backoff_limit: i32) -> Job {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "backoffLimit": backoff_limit,
            "template": { "spec": { "restartPolicy": "Never", "containers": [{ "name": "task", "image": image }] } },
        },
    }))
    .expect("a valid Job")
}

fn job_condition(job: &Job, kind: &str) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
        .and_then(|c| c.reason.clone())
}

#[tokio::test]
async fn jobs_complete_or_fail_past_their_backoff_limit() {
    let sim = start(50.0);
    let client = sim.client().await.unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(&PostParams::default(), &job("migrate", "busybox:1.36", 2))
        .await
        .unwrap();
    jobs.create(
        &PostParams::default(),
        &job("broken", "registry.example/migrate:fail", 1),
    )
    .await
    .unwrap();

    let done = eventually("migrate complete", 20, || async {
        let j = jobs.get("migrate").await.ok()?;
        job_condition(&j, "Complete").map(|_| j)
    })
    .await;
    let status = done.status.unwrap();
    assert_eq!(
        (status.succeeded, status.failed, status.active),
        (Some(1), None, None)
    );
    assert!(status.completion_time.is_some() && status.start_time.is_some());

    let failed = eventually("broken failed", 30, || async {
        let j = jobs.get("broken").await.ok()?;
        job_condition(&j, "Failed").map(|reason| (j, reason))
    })
    .await;
    assert_eq!(failed.1, "BackoffLimitExceeded");
    assert_eq!(
        failed.0.status.unwrap().failed,
        Some(2),
        "backoffLimit 1: the second failure ends it"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let broken = pods
        .list(&ListParams::default().labels("job-name=broken"))
        .await
        .unwrap()
        .items;
    assert_eq!(broken.len(), 2);
    assert!(
        broken
            .iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Failed"))
    );
    let events = events_about(&client, "default", "broken").await;
    assert_eq!(
        find(&events, "BackoffLimitExceeded", "")
            .unwrap()
            .type_
            .as_deref(),
        Some("Warning")
    );
}

#[tokio::test]
async fn on_failure_restarts_fail_a_job_and_jobs_managed_elsewhere_are_left_alone() {
    let sim = start(50.0);
    let client = sim.client().await.unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let mut seed = job("seed", "registry.example/seed:crashloop", 2);
    let spec = seed.spec.as_mut().unwrap();
    spec.template.spec.as_mut().unwrap().restart_policy = Some("OnFailure".to_owned());
    jobs.create(&PostParams::default(), &seed).await.unwrap();
    let mut elsewhere = job("elsewhere", "busybox:1.36", 2);
    elsewhere.spec.as_mut().unwrap().managed_by = Some("example.com/batch-runner".to_owned());
    jobs.create(&PostParams::default(), &elsewhere)
        .await
        .unwrap();

    // The pod restarts in place; its restarts reaching backoffLimit fail the Job
    // (pastBackoffLimitOnFailure), without any pod having failed.
    let failed = eventually("seed failed", 30, || async {
        let j = jobs.get("seed").await.ok()?;
        job_condition(&j, "Failed").map(|reason| (j, reason))
    })
    .await;
    assert_eq!(failed.1, "BackoffLimitExceeded");
    assert_eq!(
        failed.0.status.unwrap().failed.unwrap_or(0),
        0,
        "restarts are not failed pods"
    );

    // Another controller's Job: no pods, no status from us.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let theirs = pods
        .list(&ListParams::default().labels("job-name=elsewhere"))
        .await
        .unwrap()
        .items;
    assert!(theirs.is_empty(), "{theirs:?}");
    assert!(jobs.get("elsewhere").await.unwrap().status.is_none());
}

#[tokio::test]
async fn a_load_balancer_gets_its_hostname_after_the_delay() {
    let sim = start_with(Scenario {
        pace: Some(FROZEN),
        load_balancer_delay_seconds: Some(30),
        ..Scenario::default()
    });
    let client = sim.client().await.unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": { "type": "LoadBalancer", "selector": { "app": "web" }, "ports": [{ "port": 443, "targetPort": 8443 }] },
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    eventually("EnsuringLoadBalancer", 10, || async {
        find(
            &events_about(&client, "default", "web").await,
            "EnsuringLoadBalancer",
            "",
        )
        .map(|_| ())
    })
    .await;
    let pending = services.get("web").await.unwrap();
    assert!(
        pending
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|lb| lb.ingress)
            .is_none(),
        "not before the delay"
    );

    sim.clock().advance(Duration::from_secs(31));
    let hostname = eventually("a hostname", 10, || async {
        services
            .get("web")
            .await
            .ok()?
            .status?
            .load_balancer?
            .ingress?
            .first()?
            .hostname
            .clone()
    })
    .await;
    assert!(
        hostname.starts_with("k8s-default-web-")
            && hostname.ends_with(".elb.us-east-1.amazonaws.com"),
        "{hostname}"
    );
    assert!(
        find(
            &events_about(&client, "default", "web").await,
            "EnsuredLoadBalancer",
            ""
        )
        .is_some()
    );
}

#[tokio::test]
async fn an_ingress_gets_an_address_and_a_claim_is_bound() {
    let sim = start(10.0);
    let client = sim.client().await.unwrap();
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), "default");
    let ingress: Ingress = serde_json::from_value(json!({
        "metadata": { "name": "web" },
        "spec": { "rules": [{ "host": "app.example.com", "http": { "paths": [{ "path": "/", "pathType": "Prefix",
            "backend": { "service": { "name": "web", "port": { "number": 80 } } } }] } }] },
    }))
    .unwrap();
    ingresses
        .create(&PostParams::default(), &ingress)
        .await
        .unwrap();
    let hostname = eventually("ingress address", 20, || async {
        ingresses
            .get("web")
            .await
            .ok()?
            .status?
            .load_balancer?
            .ingress?
            .first()?
            .hostname
            .clone()
    })
    .await;
    assert!(hostname.ends_with(".elb.amazonaws.com"), "{hostname}");

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": { "name": "data" },
        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "10Gi" } } },
    }))
    .unwrap();
    claims.create(&PostParams::default(), &claim).await.unwrap();
    let bound = eventually("claim bound", 10, || async {
        let c = claims.get("data").await.ok()?;
        (c.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(c)
    })
    .await;
    assert!(bound.spec.unwrap().volume_name.unwrap().starts_with("pvc-"));
    assert_eq!(bound.status.unwrap().capacity.unwrap()["storage"].0, "10Gi");
}
