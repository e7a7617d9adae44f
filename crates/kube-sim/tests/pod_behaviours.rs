//! Every scripted pod behaviour, observed through the API as a user debugging a rollout would:
//! the container state and reason, restart counts, the last termination, logs (current and
//! `previous`), and the events the kubelet or the scheduler record. Simulated time is frozen and
//! moved by the tests, so every step is deterministic.

mod cluster;

use std::time::Duration;

use cluster::{FROZEN, events_about, eventually, find, pod, pod_condition, start, start_with};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, LogParams, PostParams};
use kube_sim::controllers::behaviour::{Behaviour, Rule};
use kube_sim::{KubeSim, Scenario};
use serde_json::json;

fn container(pod: &Pod) -> Option<ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()
        .cloned()
}

fn waiting_reason(pod: &Pod) -> Option<String> {
    container(pod)?.state?.waiting?.reason
}

/// Waits until the pod's first container satisfies `test`.
async fn until(
    pods: &Api<Pod>,
    name: &str,
    what: &str,
    test: impl Fn(&Pod, &ContainerStatus) -> bool,
) -> Pod {
    eventually(what, 10, || async {
        let pod = pods.get(name).await.ok()?;
        let c = container(&pod)?;
        test(&pod, &c).then_some(pod)
    })
    .await
}

/// A simulator with a frozen clock and one pod created from `image`; the API for its pods.
async fn with_pod(name: &str, image: &str) -> (KubeSim, kube::Client, Api<Pod>) {
    let sim = start(FROZEN);
    let client = sim.client().await.expect("a client for the simulator");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod(name, image))
        .await
        .expect("the pod is created");
    (sim, client, pods)
}

/// Waits until the pod's container runs.
async fn until_running(pods: &Api<Pod>, name: &str) -> Pod {
    until(pods, name, "running", |_, c| {
        c.state.as_ref().is_some_and(|s| s.running.is_some())
    })
    .await
}

async fn logs(pods: &Api<Pod>, name: &str, previous: bool) -> String {
    pods.logs(
        name,
        &LogParams {
            previous,
            ..LogParams::default()
        },
    )
    .await
    .expect("pod logs")
}

#[tokio::test]
async fn crash_loop_backs_off_with_rising_restarts_logs_and_events() {
    let (sim, client, pods) = with_pod("api", "registry.example/api:crashloop").await;

    let first = until(&pods, "api", "first run", |_, c| {
        c.state.as_ref().is_some_and(|s| s.running.is_some())
    })
    .await;
    assert_eq!(container(&first).unwrap().restart_count, 0);
    assert_eq!(
        first.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );

    sim.clock().advance(Duration::from_millis(1500));
    let crashed = until(&pods, "api", "first back-off", |p, _| {
        waiting_reason(p).as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let c = container(&crashed).unwrap();
    assert_eq!(c.restart_count, 0);
    assert!(!c.ready);
    let message = c.state.unwrap().waiting.unwrap().message.unwrap();
    assert!(
        message.starts_with("back-off 10s restarting failed container=app pod=api_default("),
        "{message}"
    );
    let last = c.last_state.unwrap().terminated.unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert!(last.started_at.is_some() && last.finished_at.is_some());
    assert!(logs(&pods, "api", true).await.contains("fatal: dial tcp"));
    assert_eq!(
        crashed.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    assert_eq!(
        pod_condition(&crashed, "Ready").unwrap(),
        ("False".to_owned(), Some("ContainersNotReady".to_owned()))
    );

    // The back-off ends: the second run starts with restartCount 1, then crashes again and the
    // back-off doubles.
    sim.clock().advance(Duration::from_secs(10));
    until(&pods, "api", "second run", |_, c| {
        c.restart_count == 1 && c.state.as_ref().is_some_and(|s| s.running.is_some())
    })
    .await;
    assert!(
        logs(&pods, "api", false)
            .await
            .contains("starting registry.example/api:crashloop")
    );
    assert!(
        logs(&pods, "api", true).await.contains("fatal"),
        "previous is the crashed run"
    );
    sim.clock().advance(Duration::from_millis(1500));
    let again = until(&pods, "api", "second back-off", |p, _| {
        waiting_reason(p).as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let message = container(&again)
        .unwrap()
        .state
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap();
    assert!(message.starts_with("back-off 20s"), "{message}");

    assert_crash_events(&client).await;

    // An hour later the back-off is capped at five minutes and restarts kept counting.
    sim.clock().advance(Duration::from_hours(1));
    let later = until(&pods, "api", "many restarts", |_, c| c.restart_count >= 10).await;
    assert!(container(&later).unwrap().restart_count < 20);
}

/// After two crashes: `BackOff` counted twice, two starts, the image found on the node the
/// second time.
async fn assert_crash_events(client: &kube::Client) {
    let events = events_about(client, "default", "api").await;
    let backoff = find(
        &events,
        "BackOff",
        "Back-off restarting failed container app in pod api_default",
    )
    .expect("as created");
    assert_eq!(
        (backoff.type_.as_deref(), backoff.count),
        (Some("Warning"), Some(2))
    );
    assert_eq!(
        find(&events, "Started", "Started container app")
            .expect("as created")
            .count,
        Some(2)
    );
    assert_eq!(
        find(&events, "Pulled", "already present on machine")
            .expect("as created")
            .count,
        Some(1)
    );
    assert_eq!(
        backoff
            .source
            .as_ref()
            .expect("as created")
            .component
            .as_deref(),
        Some("kubelet")
    );
}

#[tokio::test]
async fn oom_killed_containers_report_exit_code_137() {
    let (sim, _, pods) = with_pod("hungry", "registry.example/cache:oom").await;
    until_running(&pods, "hungry").await;
    sim.clock().advance(Duration::from_secs(2));
    let killed = until(&pods, "hungry", "killed", |p, _| {
        waiting_reason(p).as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    let last = container(&killed)
        .unwrap()
        .last_state
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (last.exit_code, last.reason.as_deref()),
        (137, Some("OOMKilled"))
    );
    assert!(
        logs(&pods, "hungry", true)
            .await
            .contains("loading dataset into memory")
    );
}

#[tokio::test]
async fn image_pull_errors_alternate_with_back_off_and_never_start() {
    let (sim, client, pods) = with_pod("typo", "invalid.example/app:1.0").await;
    let pulling = until(&pods, "typo", "ErrImagePull", |p, _| {
        waiting_reason(p).as_deref() == Some("ErrImagePull")
    })
    .await;
    assert_eq!(
        pulling.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    assert_eq!(container(&pulling).unwrap().started, Some(false));

    sim.clock().advance(Duration::from_secs(2));
    let backing_off = until(&pods, "typo", "ImagePullBackOff", |p, _| {
        waiting_reason(p).as_deref() == Some("ImagePullBackOff")
    })
    .await;
    let message = container(&backing_off)
        .unwrap()
        .state
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap();
    assert!(
        message.starts_with("Back-off pulling image \"invalid.example/app:1.0\""),
        "{message}"
    );
    assert_eq!(pod_condition(&backing_off, "Ready").unwrap().0, "False");

    let events = events_about(&client, "default", "typo").await;
    assert!(
        find(
            &events,
            "Failed",
            "Failed to pull image \"invalid.example/app:1.0\""
        )
        .is_some()
    );
    assert_eq!(
        find(&events, "Failed", "Error: ErrImagePull")
            .unwrap()
            .type_
            .as_deref(),
        Some("Warning")
    );
    assert!(find(&events, "BackOff", "Back-off pulling image").is_some());
    assert!(find(&events, "Failed", "Error: ImagePullBackOff").is_some());
    assert!(find(&events, "Started", "").is_none());

    // The next attempt, ten seconds later, fails again: the counts rise.
    sim.clock().advance(Duration::from_secs(10));
    eventually("second pull attempt", 10, || async {
        let events = events_about(&client, "default", "typo").await;
        (find(&events, "Failed", "Error: ErrImagePull")?.count == Some(2)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn never_ready_pods_run_and_fail_their_readiness_probe() {
    let (sim, client, pods) = with_pod("shy", "registry.example/api:never-ready").await;
    until_running(&pods, "shy").await;
    sim.clock().advance(Duration::from_secs(35));
    eventually("Unhealthy events", 10, || async {
        let events = events_about(&client, "default", "shy").await;
        (find(&events, "Unhealthy", "Readiness probe failed")?.count >= Some(3)).then_some(())
    })
    .await;
    let pod = pods.get("shy").await.unwrap();
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    assert!(!container(&pod).unwrap().ready);
    assert_eq!(
        pod_condition(&pod, "ContainersReady").unwrap(),
        ("False".to_owned(), Some("ContainersNotReady".to_owned()))
    );
    let events = events_about(&client, "default", "shy").await;
    assert_eq!(
        find(&events, "Unhealthy", "").unwrap().type_.as_deref(),
        Some("Warning")
    );
}

#[tokio::test]
async fn unschedulable_pods_stay_pending_with_failed_scheduling() {
    let (_sim, client, pods) = with_pod("huge", "registry.example/big:unschedulable").await;
    let pending = eventually("PodScheduled=False", 10, || async {
        let p = pods.get("huge").await.ok()?;
        (pod_condition(&p, "PodScheduled")?
            == ("False".to_owned(), Some("Unschedulable".to_owned())))
            .then_some(p)
    })
    .await;
    assert_eq!(
        pending.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    assert!(pending.spec.unwrap().node_name.is_none());
    let events = events_about(&client, "default", "huge").await;
    let event = find(&events, "FailedScheduling", "0/3 nodes are available").unwrap();
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event.source.as_ref().unwrap().component.as_deref(),
        Some("default-scheduler")
    );
}

#[tokio::test]
async fn slow_images_become_ready_after_their_delay() {
    let (sim, _, pods) = with_pod("slow", "registry.example/api:slow-30s").await;
    until_running(&pods, "slow").await;
    sim.clock().advance(Duration::from_secs(20));
    let early = pods.get("slow").await.unwrap();
    assert!(!container(&early).unwrap().ready, "not ready before 30 s");
    sim.clock().advance(Duration::from_secs(11));
    let ready = until(&pods, "slow", "ready", |_, c| c.ready).await;
    assert_eq!(pod_condition(&ready, "Ready").unwrap().0, "True");
    assert!(
        logs(&pods, "slow", false)
            .await
            .contains("listening on :8080")
    );
}

#[tokio::test]
async fn annotations_and_run_time_rules_choose_the_behaviour() {
    let sim = start_with(Scenario {
        pace: Some(FROZEN),
        behaviours: vec![Rule::image(
            "registry.example/worker:*",
            Behaviour::NeverReady,
        )],
        ..Scenario::default()
    });
    let client = sim.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // The annotation wins over the image.
    let mut annotated = pod("annotated", "nginx:1.25");
    annotated.metadata.annotations = Some(
        [(
            "kube-sim.pipewright.dev/behaviour".to_owned(),
            "pull-error".to_owned(),
        )]
        .into(),
    );
    pods.create(&PostParams::default(), &annotated)
        .await
        .unwrap();
    until(&pods, "annotated", "ErrImagePull", |p, _| {
        waiting_reason(p).as_deref() == Some("ErrImagePull")
    })
    .await;

    // The scenario's rule.
    pods.create(
        &PostParams::default(),
        &pod("worker", "registry.example/worker:1.0"),
    )
    .await
    .unwrap();
    sim.clock().advance(Duration::from_secs(5));
    let worker = until(&pods, "worker", "running", |_, c| {
        c.state.as_ref().is_some_and(|s| s.running.is_some())
    })
    .await;
    assert!(!container(&worker).unwrap().ready);

    // A rule set at run time, with its own exit code and log lines; pods already running keep theirs.
    sim.sim().behaviours.set(vec![
        Rule::image("*:2.0", Behaviour::CrashLoop)
            .with_exit_code(3)
            .with_logs(["panic: missing DATABASE_URL"]),
    ]);
    pods.create(
        &PostParams::default(),
        &pod("api", "registry.example/api:2.0"),
    )
    .await
    .unwrap();
    until_running(&pods, "api").await;
    sim.clock().advance(Duration::from_secs(2));
    let crashed = until(&pods, "api", "crashed", |p, _| {
        waiting_reason(p).as_deref() == Some("CrashLoopBackOff")
    })
    .await;
    assert_eq!(
        container(&crashed)
            .unwrap()
            .last_state
            .unwrap()
            .terminated
            .unwrap()
            .exit_code,
        3
    );
    assert_eq!(
        logs(&pods, "api", true).await,
        "panic: missing DATABASE_URL\n"
    );
    let worker = pods.get("worker").await.unwrap();
    assert!(
        container(&worker).unwrap().state.unwrap().running.is_some(),
        "existing pods keep their behaviour"
    );
}

#[test]
fn rules_can_come_from_a_scenario_file() {
    let scenario: Scenario = serde_json::from_value(json!({
        "behaviours": [{ "image": "*:beta", "behaviour": "oom" }]
    }))
    .unwrap();
    assert_eq!(scenario.behaviours[0].behaviour, Behaviour::OomKilled);
}

#[tokio::test]
async fn a_volume_of_a_missing_secret_or_config_map_is_a_failed_mount() {
    let sim = start(FROZEN);
    let client = sim.client().await.expect("a client for the simulator");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, volume) in [
        (
            "secret-volume",
            json!({ "name": "creds", "secret": { "secretName": "db" } }),
        ),
        (
            "projected",
            json!({ "name": "creds", "projected": { "sources": [{ "configMap": { "name": "cfg" } }] } }),
        ),
        (
            "optional",
            json!({ "name": "creds", "secret": { "secretName": "db", "optional": true } }),
        ),
    ] {
        let pod = serde_json::from_value(json!({
            "metadata": { "name": name },
            "spec": { "containers": [{ "name": "app", "image": "nginx:1.25",
                "volumeMounts": [{ "name": "creds", "mountPath": "/creds" }] }],
                "volumes": [volume] },
        }))
        .expect("a valid Pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("the pod is created");
    }
    let optional = until_running(&pods, "optional").await;
    assert_eq!(waiting_reason(&optional), None);

    let failed_mount = |name: &'static str| {
        let client = client.clone();
        async move {
            events_about(&client, "default", name)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedMount"))
        }
    };
    let event = eventually("a FailedMount event", 10, || failed_mount("secret-volume")).await;
    assert_eq!(
        event.message.as_deref(),
        Some("MountVolume.SetUp failed for volume \"creds\" : secret \"db\" not found")
    );
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.involved_object.field_path, None, "about the pod");
    // Simulated minutes later it is still waiting, the kubelet still retrying.
    sim.clock().advance(Duration::from_mins(5));
    let pod = pods.get("secret-volume").await.unwrap();
    assert_eq!(waiting_reason(&pod).as_deref(), Some("ContainerCreating"));
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Pending"));
    let projected = failed_mount("projected")
        .await
        .expect("a FailedMount event");
    assert!(
        projected
            .message
            .unwrap()
            .ends_with(": configmap \"cfg\" not found")
    );
}

#[tokio::test]
async fn a_missing_secret_or_key_is_a_create_container_config_error() {
    let sim = start(FROZEN);
    let client = sim.client().await.expect("a client for the simulator");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "default");
    let secret = serde_json::from_value(json!({
        "metadata": { "name": "db" }, "stringData": { "user": "app" }
    }))
    .expect("a valid Secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("the secret is created");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, reference) in [
        ("missing-key", json!({ "name": "db", "key": "password" })),
        (
            "missing-secret",
            json!({ "name": "nope", "key": "password" }),
        ),
        (
            "optional",
            json!({ "name": "nope", "key": "password", "optional": true }),
        ),
    ] {
        let pod = serde_json::from_value(json!({
            "metadata": { "name": name },
            "spec": { "containers": [{ "name": "app", "image": "nginx:1.25",
                "env": [{ "name": "PASSWORD", "valueFrom": { "secretKeyRef": reference } }] }] },
        }))
        .expect("a valid Pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("the pod is created");
    }
    let waiting = |name: &'static str| {
        until(&pods, name, "a waiting reason", |_, c| {
            c.state.as_ref().is_some_and(|s| s.waiting.is_some())
        })
    };
    let pod = waiting("missing-key").await;
    let state = container(&pod).unwrap().state.unwrap().waiting.unwrap();
    assert_eq!(state.reason.as_deref(), Some("CreateContainerConfigError"));
    assert_eq!(
        state.message.as_deref(),
        Some("couldn't find key password in Secret default/db")
    );
    let pod = waiting("missing-secret").await;
    let state = container(&pod).unwrap().state.unwrap().waiting.unwrap();
    assert_eq!(state.message.as_deref(), Some("secret \"nope\" not found"));
    let events = events_about(&client, "default", "missing-secret").await;
    assert!(
        events
            .iter()
            .any(|e| e.message.as_deref() == Some("Error: secret \"nope\" not found")),
        "{events:?}"
    );
    sim.clock().advance(Duration::from_secs(2));
    let optional = until_running(&pods, "optional").await;
    assert_ne!(
        waiting_reason(&optional).as_deref(),
        Some("CreateContainerConfigError")
    );
}

#[tokio::test]
async fn logs_honour_tail_lines_and_limit_bytes() {
    let (_sim, _client, pods) = with_pod("api", "registry.example/api:1.0").await;
    until_running(&pods, "api").await;
    let read = |params: LogParams| {
        let pods = pods.clone();
        async move { pods.logs("api", &params).await.expect("pod logs") }
    };
    let all = read(LogParams::default()).await;
    assert!(all.lines().count() >= 2, "{all:?}");
    let last = read(LogParams {
        tail_lines: Some(1),
        ..LogParams::default()
    })
    .await;
    assert_eq!(
        last.lines().collect::<Vec<_>>(),
        [all.lines().last().unwrap()]
    );
    // limitBytes counts from the start of what would be shown, the tail included.
    let cut = read(LogParams {
        limit_bytes: Some(5),
        ..LogParams::default()
    })
    .await;
    assert_eq!(cut, all[..5]);
}
