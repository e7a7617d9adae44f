//! The deploy lock through the binary (docs/releases.md, "The deploy lock"): k8s-apply takes the
//! Lease `pipewright-lock-<release>` before its first write and keeps it after it exits; another
//! holder waits up to `--lock-timeout` and then fails naming the holder, having written nothing;
//! a killed holder's lock is taken over once its TTL has run out, and its interrupted revision
//! stays recorded as `applying`; a run refused before it wrote anything gives the lock back; the
//! read-only commands take no lock at all.
//!
//! Every run passes `--lock-holder` (or `PIPEWRIGHT_LOCK_HOLDER`): without it the holder is
//! `local:<host>:<process group>`, the same for every child of this test process.
//!
//! Waiting is on conditions: the Lease and the revision record are watched through the kube
//! client, with deadlines; the only waits that last seconds are the lock's own (its TTL, the
//! other run's `--lock-timeout`), which is what is under test.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Run, Running, k8s_apply, k8s_apply_env, write};
use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, WatchEvent, WatchParams};
use kube_sim::{Config, Faults, KubeSim, Scenario};
use serde_json::Value;

const LEASE: &str = "pipewright-lock-web";

/// A release `web` in `shop` as `holder` would deploy it: a ConfigMap both sets share (with the
/// holder in its data), one only this holder's set has, and a Deployment.
fn set_of(holder: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n\
         ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: shop\n\
         data:\n  deployedBy: {holder}\n\
         ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: only-{holder}\n  namespace: shop\n\
         data:\n  a: \"1\"\n\
         ---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\n\
         spec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: api}}\n  template:\n\
         \x20   metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n\
         \x20       - name: api\n          image: registry.example/api:{holder}\n"
    )
}

/// `set_of(holder)` with `extra` more ConfigMaps, for an apply that takes a while under latency.
fn big_set_of(holder: &str, extra: usize) -> String {
    let mut set = set_of(holder);
    for i in 0..extra {
        write!(
            set,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bulk-{i}\n  namespace: shop\n\
             data:\n  i: \"{i}\"\n"
        )
        .unwrap();
    }
    set
}

/// The arguments of a release apply of `file` by `holder`, then `extra`.
fn release_args<'a>(file: &'a str, holder: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "-f",
        file,
        "--release",
        "web",
        "-n",
        "shop",
        "--lock-holder",
        holder,
    ];
    args.extend_from_slice(extra);
    args
}

fn sim_with_latency(latency_ms: u64) -> KubeSim {
    KubeSim::start(Config {
        scenario: Scenario {
            faults: Faults {
                latency_ms,
                ..Faults::default()
            },
            ..Scenario::default()
        },
        ..Config::default()
    })
    .unwrap()
}

/// `k8s-apply history --release web -n shop`: `(revision, status)`, oldest first.
fn history(kubeconfig: &std::path::Path) -> Vec<(u64, String)> {
    let run = k8s_apply(kubeconfig, &["history", "--release", "web", "-n", "shop"]);
    run.assert_code(0);
    run.doc["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Runs the binary off the async runtime's thread.
/// [`history`] off the async runtime's worker.
async fn history_blocking(kubeconfig: PathBuf) -> Vec<(u64, String)> {
    tokio::task::spawn_blocking(move || history(&kubeconfig))
        .await
        .unwrap()
}

async fn apply_blocking(kubeconfig: PathBuf, args: Vec<String>, env: Vec<(String, String)>) -> Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        k8s_apply_env(&kubeconfig, &args, &env)
    })
    .await
    .unwrap()
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

async fn lease(client: &kube::Client) -> Lease {
    Api::<Lease>::namespaced(client.clone(), "shop")
        .get(LEASE)
        .await
        .unwrap()
}

fn holder_of(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

fn micros(time: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>) -> i64 {
    time.expect("the Lease has the time").0.as_microsecond()
}

async fn config_map_exists(client: &kube::Client, name: &str) -> bool {
    Api::<ConfigMap>::namespaced(client.clone(), "shop")
        .get_opt(name)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn a_second_holder_gives_up_after_lock_timeout_naming_the_first_and_writes_nothing() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yaml", &set_of("pipeline-a"));
    let b = write(dir.path(), "b.yaml", &set_of("pipeline-b"));

    let first = apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(&a, "pipeline-a", &[])),
        vec![],
    )
    .await;
    first.assert_code(0);
    assert_eq!(first.doc["revision"], 1);

    // The lock outlives the run that took it (rollout-wait goes on under it).
    let client = sim.client().await.unwrap();
    let held = lease(&client).await;
    assert_eq!(holder_of(&held), Some("pipeline-a"));

    let started = Instant::now();
    let second = apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(&b, "pipeline-b", &["--lock-timeout", "2s"])),
        vec![],
    )
    .await;
    let waited = started.elapsed();
    second.assert_code(1);
    let message = second.message();
    assert!(
        message.contains("held by pipeline-a") && message.contains(LEASE),
        "{message}"
    );
    assert!(waited >= Duration::from_secs(2), "gave up after {waited:?}");
    assert!(
        second
            .stderr
            .contains("waiting for the deploy lock of release web, held by pipeline-a"),
        "{}",
        second.stderr
    );
    // Nothing of the second set was written (its Namespace, equal to the first's, is applied
    // before the lock by design and is unchanged).
    assert!(
        second
            .objects()
            .iter()
            .all(|o| o["kind"] == "Namespace" && o["action"] == "unchanged"),
        "{}",
        second.doc
    );
    assert!(!config_map_exists(&client, "only-pipeline-b").await);
    let shared = Api::<ConfigMap>::namespaced(client.clone(), "shop")
        .get("shared")
        .await
        .unwrap();
    assert_eq!(shared.data.unwrap()["deployedBy"], "pipeline-a");
    let after = lease(&client).await;
    assert_eq!(holder_of(&after), Some("pipeline-a"));
    assert_eq!(
        after.spec.as_ref().unwrap().lease_transitions.unwrap_or(0),
        0
    );
    let kubeconfig2 = kubeconfig.clone();
    let revisions = history_blocking(kubeconfig2).await;
    assert_eq!(revisions, [(1, "applied".to_owned())]);
}

#[tokio::test]
async fn of_two_concurrent_runs_exactly_one_applies_and_records_a_revision() {
    // With 50 ms per request each run needs well over half a second before its first write,
    // so both are under way at once (checked below) and race for the Lease.
    let sim = sim_with_latency(50);
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yaml", &set_of("pipeline-a"));
    let b = write(dir.path(), "b.yaml", &set_of("pipeline-b"));

    let (runs, both_running) = tokio::task::spawn_blocking({
        let kubeconfig = kubeconfig.clone();
        move || {
            let mut first = Running::start(
                &kubeconfig,
                &release_args(&a, "pipeline-a", &["--lock-timeout", "2s"]),
            );
            let mut second = Running::start(
                &kubeconfig,
                &release_args(&b, "pipeline-b", &["--lock-timeout", "2s"]),
            );
            let both_running = first.child.try_wait().unwrap().is_none()
                && second.child.try_wait().unwrap().is_none();
            ([first.finish(), second.finish()], both_running)
        }
    })
    .await
    .unwrap();
    assert!(both_running, "the runs did not overlap");

    let winners: Vec<usize> = (0..2).filter(|&i| runs[i].code == 0).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one run applies: {:?}",
        runs.iter().map(|r| (r.code, &r.doc)).collect::<Vec<_>>()
    );
    let (holders, won) = (["pipeline-a", "pipeline-b"], winners[0]);
    let (winner, loser) = (holders[won], holders[1 - won]);
    let lost = &runs[1 - won];
    lost.assert_code(1);
    assert!(
        lost.message().contains(&format!("held by {winner}")),
        "{}",
        lost.message()
    );
    assert_eq!(runs[won].doc["revision"], 1);

    let client = sim.client().await.unwrap();
    assert_eq!(holder_of(&lease(&client).await), Some(winner));
    assert!(config_map_exists(&client, &format!("only-{winner}")).await);
    assert!(!config_map_exists(&client, &format!("only-{loser}")).await);
    let shared = Api::<ConfigMap>::namespaced(client.clone(), "shop")
        .get("shared")
        .await
        .unwrap();
    assert_eq!(shared.data.unwrap()["deployedBy"], winner);
    // One revision, the winner's, complete: the loser recorded nothing, before or after it.
    let revisions = history_blocking(kubeconfig).await;
    assert_eq!(revisions, [(1, "applied".to_owned())]);
    let records = Api::<Secret>::namespaced(client, "shop")
        .list(&kube::api::ListParams::default().labels("pipewright.dev/release=web"))
        .await
        .unwrap();
    let revision_secrets: Vec<Value> = records
        .items
        .iter()
        .filter(|s| s.type_.as_deref() == Some("pipewright.dev/release.v1"))
        .map(|s| serde_json::to_value(&s.metadata.labels).unwrap())
        .collect();
    assert_eq!(revision_secrets.len(), 1, "{revision_secrets:?}");
}

/// Every version of the release's Lease from now on (it need not exist yet), as the watch sees
/// them, in order.
async fn lease_versions(client: &kube::Client) -> tokio::sync::mpsc::UnboundedReceiver<Lease> {
    let leases: Api<Lease> = Api::all(client.clone());
    let mut events = leases
        .watch(
            &WatchParams::default().labels("pipewright.dev/release=web"),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    let (versions_tx, versions) = tokio::sync::mpsc::unbounded_channel::<Lease>();
    // Ends when the receiver is dropped (a send fails) or with the test's runtime.
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Ok(WatchEvent::Added(l) | WatchEvent::Modified(l)) = event
                && versions_tx.send(l).is_err()
            {
                break;
            }
        }
    });
    versions
}

/// A watch on Secrets with these labels, in every namespace.
async fn watch(
    client: &kube::Client,
    labels: &str,
) -> impl futures_util::Stream<Item = kube::Result<WatchEvent<Secret>>> + Unpin + use<> {
    Api::<Secret>::all(client.clone())
        .watch(&WatchParams::default().labels(labels), "0")
        .await
        .unwrap()
        .boxed()
}

#[tokio::test]
async fn a_killed_holder_is_taken_over_after_its_ttl_and_its_revision_stays_applying() {
    // 150 ms per request: after recording its revision the first run still has several rounds
    // of requests to go (33 objects in three phases, then the revision's status), so the watch
    // below sees it mid-apply with most of a second to spare; the freeze then holds it there.
    let sim = sim_with_latency(150);
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yaml", &big_set_of("pipeline-a", 30));
    let b = write(dir.path(), "b.yaml", &set_of("pipeline-b"));
    let client = sim.client().await.unwrap();

    let mut versions = lease_versions(&client).await;
    let mut applying = watch(
        &client,
        "pipewright.dev/release=web,pipewright.dev/status=applying",
    )
    .await;

    let holder_a = Running::start(
        &kubeconfig,
        &release_args(&a, "pipeline-a", &["--lock-ttl", "2s"]),
    );
    // Wait until A holds the Lease and has recorded its revision as `applying`: mid-apply.
    let recorded = tokio::time::timeout(Duration::from_mins(1), async {
        loop {
            match applying.next().await {
                Some(Ok(WatchEvent::Added(s) | WatchEvent::Modified(s))) => break s,
                Some(_) => {}
                None => panic!("the watch ended"),
            }
        }
    })
    .await
    .expect("A records its revision within a minute");
    // Freeze the API for A before killing it: every request it starts from now waits ten
    // minutes, so it cannot get to `applied`, however the kill below is scheduled.
    sim.faults().set(Faults {
        latency_ms: 600_000,
        ..Faults::default()
    });
    let killed_stderr = tokio::task::spawn_blocking(move || holder_a.kill())
        .await
        .unwrap();
    sim.faults().set(Faults::default());
    assert_eq!(
        recorded.metadata.name.as_deref(),
        Some("pipewright.release.v1.web.v1")
    );
    assert!(
        !killed_stderr.contains("deployment.apps/api"),
        "A got to its last phase before it was killed:\n{killed_stderr}"
    );
    assert_eq!(holder_of(&lease(&client).await), Some("pipeline-a"));

    let started = Instant::now();
    let taken = apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(&b, "pipeline-b", &["--lock-timeout", "30s"])),
        vec![],
    )
    .await;
    taken.assert_code(0);
    assert!(
        taken
            .stderr
            .contains("taking over the deploy lock from pipeline-a"),
        "{}",
        taken.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(taken.doc["revision"], 2);
    assert_eq!(taken.doc["previousRevision"], 1);

    // B took the Lease only once A's last renewal was older than A's TTL.
    let mut a_last_renewal = None;
    let b_acquired = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let version = versions.recv().await.expect("the Lease watch goes on");
            match holder_of(&version) {
                Some("pipeline-a") => {
                    a_last_renewal =
                        Some(micros(version.spec.as_ref().unwrap().renew_time.as_ref()));
                }
                Some("pipeline-b") => break version,
                other => panic!("unexpected holder {other:?}"),
            }
        }
    })
    .await
    .expect("the watch shows B's takeover");
    let spec = b_acquired.spec.as_ref().unwrap();
    let a_last_renewal = a_last_renewal.expect("A renewed or created the Lease");
    let gap = micros(spec.acquire_time.as_ref()) - a_last_renewal;
    // Expiry is `renewTime + leaseDurationSeconds` by the wall clock (or as long unchanged by
    // B's monotonic clock, which may run a few ms apart): allow for that, no more.
    assert!(
        gap >= 2_000_000 - 50_000,
        "taken {gap} µs after A's last renewal"
    );
    assert_eq!(spec.lease_transitions, Some(1));
    assert_eq!(spec.lease_duration_seconds, Some(120));

    // The interrupted revision is kept, still `applying`; B's revision came after it.
    let revisions = history_blocking(kubeconfig).await;
    assert_eq!(
        revisions,
        [(1, "applying".to_owned()), (2, "applied".to_owned())]
    );
    assert!(config_map_exists(&client, "only-pipeline-b").await);
}

#[tokio::test]
async fn the_same_holder_re_enters_at_once() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let first_set = write(dir.path(), "first.yaml", &set_of("run-1"));
    let second_set = write(dir.path(), "second.yaml", &set_of("run-2"));

    apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(&first_set, "github:acme/shop/41/1", &[])),
        vec![],
    )
    .await
    .assert_code(0);
    let client = sim.client().await.unwrap();
    let before = lease(&client).await;

    // The same holder, named by the environment this time; a zero lock timeout tries once, so
    // success means the lock was taken without waiting.
    let again = apply_blocking(
        kubeconfig.clone(),
        owned(&[
            "-f",
            &second_set,
            "--release",
            "web",
            "-n",
            "shop",
            "--lock-timeout",
            "0s",
        ]),
        vec![(
            "PIPEWRIGHT_LOCK_HOLDER".to_owned(),
            "github:acme/shop/41/1".to_owned(),
        )],
    )
    .await;
    again.assert_code(0);
    assert_eq!(again.doc["revision"], 2);
    let after = lease(&client).await;
    let (was, now) = (before.spec.unwrap(), after.spec.unwrap());
    assert_eq!(
        now.holder_identity.as_deref(),
        Some("github:acme/shop/41/1")
    );
    // Re-entry: the same acquisition, renewed; no change of hands.
    assert_eq!(now.acquire_time, was.acquire_time);
    assert!(micros(now.renew_time.as_ref()) > micros(was.renew_time.as_ref()));
    assert_eq!(now.lease_transitions.unwrap_or(0), 0);

    // The zero timeout is not what let it through: another holder is refused at once.
    let other = apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(
            &first_set,
            "github:acme/shop/42/1",
            &["--lock-timeout", "0s"],
        )),
        vec![],
    )
    .await;
    other.assert_code(1);
    assert!(
        other.message().contains("held by github:acme/shop/41/1"),
        "{}",
        other.message()
    );
    let revisions = history_blocking(kubeconfig).await;
    assert_eq!(
        revisions,
        [(1, "applied".to_owned()), (2, "applied".to_owned())]
    );
}

#[tokio::test]
async fn a_dry_run_diff_and_history_do_not_wait_for_the_lock_nor_record_anything() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yaml", &set_of("pipeline-a"));
    let b = write(dir.path(), "b.yaml", &set_of("pipeline-b"));
    apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(&a, "pipeline-a", &[])),
        vec![],
    )
    .await
    .assert_code(0);

    // Another holder, with no patience at all: the read-only commands take no lock, so they
    // neither wait nor fail while pipeline-a holds it.
    let dry = apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(
            &b,
            "pipeline-b",
            &["--lock-timeout", "0s", "--dry-run=server"],
        )),
        vec![],
    )
    .await;
    dry.assert_code(0);
    assert_eq!(dry.doc["dryRun"], true);
    let planned: Vec<(String, String)> = dry
        .actions()
        .into_iter()
        .filter(|(_, a)| a != "unchanged")
        .collect();
    assert_eq!(
        planned,
        [
            ("ConfigMap/shared".to_owned(), "configured".to_owned()),
            ("ConfigMap/only-pipeline-b".to_owned(), "created".to_owned()),
            ("Deployment/api".to_owned(), "configured".to_owned()),
            ("ConfigMap/only-pipeline-a".to_owned(), "pruned".to_owned()),
        ]
    );
    let mut diff_args = vec!["diff".to_owned()];
    diff_args.extend(owned(&release_args(
        &b,
        "pipeline-b",
        &["--lock-timeout", "0s"],
    )));
    let diff = apply_blocking(kubeconfig.clone(), diff_args, vec![]).await;
    diff.assert_code(1);
    assert!(
        diff.message().contains("would change"),
        "{}",
        diff.message()
    );

    let client = sim.client().await.unwrap();
    assert!(!config_map_exists(&client, "only-pipeline-b").await);
    assert!(config_map_exists(&client, "only-pipeline-a").await);
    assert_eq!(holder_of(&lease(&client).await), Some("pipeline-a"));
    let revisions = history_blocking(kubeconfig).await;
    assert_eq!(revisions, [(1, "applied".to_owned())]);
}

#[tokio::test]
async fn a_run_refused_before_writing_gives_the_lock_back_at_once() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "first.yaml", &big_set_of("pipeline-a", 3));
    let smaller = write(dir.path(), "smaller.yaml", &set_of("pipeline-b"));
    apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(&first, "pipeline-a", &[])),
        vec![],
    )
    .await
    .assert_code(0);
    // The first run's rollout-wait found it healthy and gave the lock back.
    let client = sim.client().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "shop");
    let free = serde_json::json!({"spec": {"holderIdentity": null}});
    leases
        .patch(
            LEASE,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&free),
        )
        .await
        .unwrap();

    // Dropping 4 objects (only-pipeline-a, bulk-0..2) is over --max-prune 1: refused before
    // anything of the set is written, and the lock this run took is given back.
    let refused = apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(&smaller, "pipeline-b", &["--max-prune", "1"])),
        vec![],
    )
    .await;
    refused.assert_code(1);
    assert!(
        refused.message().contains("--max-prune 1"),
        "{}",
        refused.message()
    );
    let after = lease(&client).await;
    assert_eq!(holder_of(&after).filter(|h| !h.is_empty()), None);
    assert!(config_map_exists(&client, "bulk-0").await);
    assert!(!config_map_exists(&client, "only-pipeline-b").await);

    // So the next run, with no patience at all, gets it at once.
    let next = apply_blocking(
        kubeconfig.clone(),
        owned(&release_args(
            &smaller,
            "pipeline-c",
            &["--lock-timeout", "0s"],
        )),
        vec![],
    )
    .await;
    next.assert_code(0);
    assert_eq!(holder_of(&lease(&client).await), Some("pipeline-c"));
    assert!(!config_map_exists(&client, "bulk-0").await);
    let revisions = history_blocking(kubeconfig).await;
    assert_eq!(
        revisions,
        [(1, "applied".to_owned()), (2, "applied".to_owned())]
    );
}
