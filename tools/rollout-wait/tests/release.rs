//! The release protocol of `docs/releases.md` as rollout-wait plays it: the revision named by
//! the upstream document is marked `deployed` (older ones `superseded`) and the deploy lock
//! released, or marked `failed` with the reason and the lock kept for the rollback; a lock held
//! by another run is waited for, then refused; Secret values never reach the output.
//!
//! The records and the lock are set up here as k8s-apply leaves them (through `cluster`, the
//! crate both tools share); `pipeline.rs` runs the real k8s-apply.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cluster::{Holder, LockOptions, OwnedObject, ReleaseHistory, ReleaseRecord, ReleaseStatus};
use common::{Run, Sim, deployment, namespace, start, upstream};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube_sim::controllers::behaviour::{Behaviour, Rule};
use serde_json::json;
use std::time::Duration;

const SECRET_VALUE: &str = "hunter2-very-secret";
const HOLDER: &str = "github:acme/shop/41/1";

/// Records revision(s) of `release` in `namespace` as k8s-apply would (status `applied`, the
/// objects and manifests given), and takes the deploy lock for [`HOLDER`] without releasing it.
async fn applied(
    sim: &Sim,
    namespace: &str,
    release: &str,
    objects: &[(&str, &str, &str)],
    manifests: Vec<serde_json::Value>,
) -> u32 {
    let objects = objects
        .iter()
        .map(|(api_version, kind, name)| OwnedObject {
            api_version: (*api_version).to_owned(),
            kind: (*kind).to_owned(),
            namespace: Some(namespace.to_owned()),
            name: (*name).to_owned(),
            uid: None,
        })
        .collect();
    applied_objects(sim, namespace, release, objects, manifests).await
}

/// [`applied`], with the objects' namespaces given (a release may keep its records in another
/// namespace than its objects).
async fn applied_objects(
    sim: &Sim,
    namespace: &str,
    release: &str,
    objects: Vec<OwnedObject>,
    manifests: Vec<serde_json::Value>,
) -> u32 {
    let client = sim.sim.client().await.unwrap();
    let lock = cluster::acquire(
        &client,
        namespace,
        release,
        &Holder::new(HOLDER, None),
        &LockOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    drop(lock); // Not released: rollout-wait goes on under it.
    let history = ReleaseHistory::new(&client, namespace, release).unwrap();
    let mut record = ReleaseRecord::new(release, namespace);
    record.objects = objects;
    record.manifests = cluster::ManifestSet::new(manifests);
    let created = history.create(record).await.unwrap();
    history
        .set_status(created.revision, ReleaseStatus::Applied, None)
        .await
        .unwrap();
    created.revision
}

async fn status(
    sim: &Sim,
    namespace: &str,
    release: &str,
    revision: u32,
) -> (ReleaseStatus, Option<String>) {
    let client = sim.sim.client().await.unwrap();
    let record = ReleaseHistory::new(&client, namespace, release)
        .unwrap()
        .get(revision)
        .await
        .unwrap()
        .unwrap();
    (record.status, record.message)
}

async fn lock_holder(sim: &Sim, namespace: &str, release: &str) -> Option<String> {
    let client = sim.sim.client().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client, namespace);
    let lease = leases
        .get(&format!("pipewright-lock-{release}"))
        .await
        .unwrap();
    lease
        .spec
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// `sim.rollout_wait(args, doc)` off the runtime's worker, handing the simulator back.
async fn wait_with(sim: Sim, args: &[&str], doc: String) -> (Sim, Run) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = sim.rollout_wait(&args, Some(&doc));
        (sim, run)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_revision_is_deployed_the_older_one_superseded_and_the_lock_released() {
    let sim = start(10.0);
    sim.apply(&namespace("shop"));
    sim.apply(&deployment(
        "api",
        "shop",
        "registry.example/api:1.0",
        2,
        "",
    ));
    let objects = [("apps/v1", "Deployment", "api")];
    let first = applied(&sim, "shop", "web", &objects, Vec::new()).await;
    let client = sim.sim.client().await.unwrap();
    ReleaseHistory::new(&client, "shop", "web")
        .unwrap()
        .set_status(first, ReleaseStatus::Deployed, None)
        .await
        .unwrap();
    let second = applied(&sim, "shop", "web", &objects, Vec::new()).await;
    assert_eq!(
        lock_holder(&sim, "shop", "web").await.as_deref(),
        Some(HOLDER)
    );

    let doc = upstream(
        Some(("web", second)),
        &[("apps/v1", "Deployment", "shop", "api")],
    );
    let (sim, run) = wait_with(sim, &["--lock-holder", HOLDER, "--timeout", "60s"], doc).await;
    run.assert_code(0);
    assert_eq!(run.doc["release"], "web");
    assert_eq!(
        run.doc["releaseNamespace"], "shop",
        "found beside the objects"
    );
    assert_eq!(run.doc["revision"], second);
    assert_eq!(run.doc["releaseStatus"], "deployed");
    assert_eq!(run.doc["statusWritten"], true);
    assert!(
        run.stderr
            .contains(&format!("release web revision {second}: deployed")),
        "{}",
        run.stderr
    );
    assert_eq!(
        status(&sim, "shop", "web", second).await.0,
        ReleaseStatus::Deployed
    );
    assert_eq!(
        status(&sim, "shop", "web", first).await.0,
        ReleaseStatus::Superseded
    );
    assert_eq!(lock_holder(&sim, "shop", "web").await, None, "released");

    // A re-run (k8s-apply changed nothing) waits again and writes nothing new.
    let doc = upstream(
        Some(("web", second)),
        &[("apps/v1", "Deployment", "shop", "api")],
    );
    let (sim, again) = wait_with(sim, &["--lock-holder", HOLDER, "-n", "shop"], doc).await;
    again.assert_code(0);
    assert_eq!(again.doc["releaseStatus"], "deployed");
    assert_eq!(again.doc["statusWritten"], false);
    assert_eq!(lock_holder(&sim, "shop", "web").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_revision_is_marked_failed_keeps_the_lock_and_never_shows_a_secret() {
    let sim = start(60.0);
    sim.apply(&namespace("shop"));
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"}, "stringData": {"password": SECRET_VALUE}});
    sim.apply(&secret.to_string());
    // The application prints its configuration, password included, before crashing.
    sim.behaviour(
        Rule::image("registry.example/api:*", Behaviour::CrashLoop).with_logs([
            format!("connecting as app:{SECRET_VALUE}@postgres"),
            "panic: authentication failed".to_owned(),
        ]),
    );
    sim.apply(&deployment(
        "api",
        "shop",
        "registry.example/api:2.0",
        1,
        "",
    ));
    let revision = applied(
        &sim,
        "shop",
        "web",
        &[("apps/v1", "Deployment", "api"), ("v1", "Secret", "db")],
        vec![secret],
    )
    .await;

    let doc = upstream(
        Some(("web", revision)),
        &[
            ("v1", "Secret", "shop", "db"),
            ("apps/v1", "Deployment", "shop", "api"),
        ],
    );
    let (sim, run) = run_blocking(move || {
        let run = sim.rollout_wait_env(
            &["--timeout", "60s"],
            Some(&doc),
            &[("PIPEWRIGHT_LOCK_HOLDER", HOLDER)],
        );
        (sim, run)
    })
    .await;
    run.assert_code(1);
    assert_eq!(run.doc["releaseStatus"], "failed");
    let api = run.object("Deployment", "api");
    assert_eq!(api["reason"], "CrashLoopBackOff");
    let lines = Run::log_lines(api);
    assert!(
        lines.contains(&"connecting as app:***@postgres".to_owned()),
        "{lines:?}"
    );
    assert!(
        run.stderr.contains("connecting as app:***@postgres"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(SECRET_VALUE), "{}", run.stderr);
    assert!(!run.doc.to_string().contains(SECRET_VALUE), "{}", run.doc);
    let hint = run.doc["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("k8s-apply rollback --release web -n shop | rollout-wait"),
        "{hint}"
    );

    let (state, message) = status(&sim, "shop", "web", revision).await;
    assert_eq!(state, ReleaseStatus::Failed);
    assert!(message.unwrap().contains("CrashLoopBackOff"));
    assert_eq!(
        lock_holder(&sim, "shop", "web").await.as_deref(),
        Some(HOLDER),
        "kept for the rollback"
    );

    // Another run must wait for it, and gives up naming the holder.
    let doc = upstream(
        Some(("web", revision)),
        &[
            ("v1", "Secret", "shop", "db"),
            ("apps/v1", "Deployment", "shop", "api"),
        ],
    );
    let (_sim, other) = run_blocking(move || {
        let run = sim.rollout_wait(
            &[
                "--lock-holder",
                "github:acme/shop/42/1",
                "--lock-timeout",
                "1s",
            ],
            Some(&doc),
        );
        (sim, run)
    })
    .await;
    other.assert_code(1);
    let message = other.doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("is held by github:acme/shop/41/1"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_marks_the_revision_failed() {
    let sim = start(1.0);
    sim.apply(&deployment(
        "stuck",
        "default",
        "registry.example/app:never-ready",
        1,
        "",
    ));
    let revision = applied(
        &sim,
        "default",
        "web",
        &[("apps/v1", "Deployment", "stuck")],
        Vec::new(),
    )
    .await;
    let doc = upstream(
        Some(("web", revision)),
        &[("apps/v1", "Deployment", "default", "stuck")],
    );
    let (sim, run) = wait_with(sim, &["--lock-holder", HOLDER, "--timeout", "2s"], doc).await;
    run.assert_code(124);
    assert_eq!(run.doc["releaseStatus"], "failed");
    let (state, message) = status(&sim, "default", "web", revision).await;
    assert_eq!(state, ReleaseStatus::Failed);
    assert!(message.unwrap().starts_with("timed out after 2s"));
    assert_eq!(
        lock_holder(&sim, "default", "web").await.as_deref(),
        Some(HOLDER)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_is_not_waited_for_and_takes_no_lock_nor_records_anything() {
    let sim = start(10.0);
    // It would never become healthy: a wait would time out, not exit 0.
    sim.apply(&deployment(
        "api",
        "default",
        "registry.example/api:never-ready",
        1,
        "",
    ));
    let mut doc: serde_json::Value = serde_json::from_str(&upstream(
        Some(("web", 7)),
        &[("apps/v1", "Deployment", "default", "api")],
    ))
    .unwrap();
    doc["dryRun"] = true.into();
    let (sim, run) = wait_with(sim, &["--timeout", "60s"], doc.to_string()).await;
    // Refused (issue 12 item 9): a dry run settles nothing, and must not pass for a deploy.
    run.assert_code(2);
    assert!(run.doc.get("objects").is_none(), "nothing watched");
    assert!(run.doc.get("releaseStatus").is_none());
    assert!(
        run.stderr.contains("is a dry run: nothing was applied"),
        "{}",
        run.stderr
    );
    let client = sim.sim.client().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client, "default");
    assert!(
        leases
            .get_opt("pipewright-lock-web")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_with_no_objects_settles_nothing() {
    let sim = start(10.0);
    sim.apply(&namespace("shop"));
    let revision = applied(&sim, "shop", "web", &[], Vec::new()).await;
    let mut doc: serde_json::Value =
        serde_json::from_str(&upstream(Some(("web", revision)), &[])).unwrap();
    // k8s-apply says where the release lives; nothing else here would.
    doc["releaseNamespace"] = "shop".into();
    let (sim, run) = wait_with(sim, &["--lock-holder", HOLDER], doc.to_string()).await;
    // Refused (issue 12 item 9): an empty list would make any revision look healthy.
    run.assert_code(2);
    assert!(run.stderr.contains("lists no objects"), "{}", run.stderr);
    assert!(run.doc.get("releaseStatus").is_none());
    assert_eq!(
        status(&sim, "shop", "web", revision).await.0,
        ReleaseStatus::Applied
    );
    assert_eq!(
        lock_holder(&sim, "shop", "web").await.as_deref(),
        Some(HOLDER),
        "untouched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documents_release_namespace_comes_before_minus_n() {
    let sim = start(10.0);
    sim.apply(&namespace("shop"));
    sim.apply(&namespace("releases"));
    sim.apply(&deployment("api", "shop", "nginx:1.25", 1, ""));
    let revision = applied_objects(
        &sim,
        "releases",
        "web",
        vec![OwnedObject {
            api_version: "apps/v1".to_owned(),
            kind: "Deployment".to_owned(),
            namespace: Some("shop".to_owned()),
            name: "api".to_owned(),
            uid: None,
        }],
        Vec::new(),
    )
    .await;
    let mut doc: serde_json::Value = serde_json::from_str(&upstream(
        Some(("web", revision)),
        &[("apps/v1", "Deployment", "shop", "api")],
    ))
    .unwrap();
    doc["releaseNamespace"] = "releases".into();
    let (sim, run) = run_blocking(move || {
        // `-n shop` is where the objects are; the records live where the document says.
        let run = sim.rollout_wait(
            &["--lock-holder", HOLDER, "-n", "shop", "--timeout", "60s"],
            Some(&doc.to_string()),
        );
        (sim, run)
    })
    .await;
    run.assert_code(0);
    assert_eq!(run.doc["releaseNamespace"], "releases");
    assert_eq!(
        status(&sim, "releases", "web", revision).await.0,
        ReleaseStatus::Deployed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lock_is_renewed_while_waiting_longer_than_its_ttl() {
    // Real time: the lock's TTL is judged by the wall clock, as on a real cluster.
    let sim = start(1.0);
    sim.apply(&namespace("shop"));
    // Ready 15 s after start, five TTLs.
    sim.apply(&deployment(
        "api",
        "shop",
        "registry.example/api:slow-15s",
        1,
        "",
    ));
    let revision = applied(
        &sim,
        "shop",
        "web",
        &[("apps/v1", "Deployment", "api")],
        Vec::new(),
    )
    .await;
    let client = sim.sim.client().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "shop");
    let before = leases.get("pipewright-lock-web").await.unwrap();
    let started = before.spec.unwrap().renew_time.unwrap().0;

    let doc = upstream(
        Some(("web", revision)),
        &[("apps/v1", "Deployment", "shop", "api")],
    );
    let waiting = tokio::task::spawn_blocking(move || {
        let run = sim.rollout_wait(
            &[
                "--lock-holder",
                HOLDER,
                "--lock-ttl",
                "3s",
                "--timeout",
                "60s",
            ],
            Some(&doc),
        );
        (sim, run)
    });

    // Renewed with the 3 s TTL until more than one TTL after it was taken: without renewals
    // it would have expired by now.
    let handle = tokio::runtime::Handle::current();
    let lease = tokio::task::spawn_blocking({
        let leases = leases.clone();
        move || {
            testbed::wait_until(
                "the lock renewed past its TTL",
                Duration::from_secs(30),
                || {
                    let lease = handle.block_on(leases.get("pipewright-lock-web")).ok()?;
                    let spec = lease.spec.clone()?;
                    let renewed = spec.renew_time.as_ref()?.0;
                    (spec.lease_duration_seconds == Some(3)
                        && renewed.duration_since(started).as_secs() >= 4)
                        .then_some(lease)
                },
            )
        }
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some(HOLDER));
    // Meanwhile another run cannot take it.
    let other = cluster::acquire(
        &client,
        "shop",
        "web",
        &Holder::new("github:acme/shop/42/1", None),
        &LockOptions {
            wait_timeout: Duration::ZERO,
            ..LockOptions::default()
        },
        |_| {},
    )
    .await;
    assert!(other.is_err(), "another holder took a renewed lock");

    let (sim, run) = waiting.await.unwrap();
    run.assert_code(0);
    assert_eq!(
        run.object("Deployment", "api")["status"],
        "healthy",
        "the rollout outlasted the TTL and the wait held the lock throughout"
    );
    assert_eq!(lock_holder(&sim, "shop", "web").await, None, "released");
}

#[tokio::test(flavor = "multi_thread")]
async fn release_from_the_environment_waits_for_its_latest_revision() {
    let sim = start(10.0);
    sim.apply(&namespace("shop"));
    sim.apply(&deployment("api", "shop", "nginx:1.25", 1, ""));
    let revision = applied(
        &sim,
        "shop",
        "web",
        &[("apps/v1", "Deployment", "api")],
        Vec::new(),
    )
    .await;
    let (sim, run) = run_blocking(move || {
        let run = sim.rollout_wait_env(
            &["-n", "shop", "--lock-holder", HOLDER],
            None,
            &[("PIPEWRIGHT_RELEASE", "web")],
        );
        (sim, run)
    })
    .await;
    run.assert_code(0);
    assert_eq!(run.doc["revision"], revision);
    assert_eq!(run.object("Deployment", "api")["status"], "healthy");
    assert_eq!(
        status(&sim, "shop", "web", revision).await.0,
        ReleaseStatus::Deployed
    );

    let (_sim, missing) = run_blocking(move || {
        let run = sim.rollout_wait(&["--release", "web", "--revision", "9", "-n", "shop"], None);
        (sim, run)
    })
    .await;
    missing.assert_code(2);
    assert!(
        missing.doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no revision 9")
    );
}
