//! A run that loses its deploy lock stops (issue 12, item 7): another run that takes the Lease
//! over while this one applies gets a cluster that this run writes nothing more to, and this run
//! exits 1 naming the new holder. And a Lease that does not say how long it lasts
//! (`leaseDurationSeconds` absent) is held for the default TTL, not free.
//!
//! Waiting is on conditions (the Lease seen through a watch), with deadlines; never on sleeps.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use cluster::{ReleaseHistory, ReleaseStatus};
use common::{Run, Running, k8s_apply, write};
use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, ObjectMeta, PostParams, WatchEvent, WatchParams};
use kube_sim::{Config, Faults, KubeSim, Scenario};

const LEASE: &str = "pipewright-lock-web";
/// The review's set: 121 objects.
const CONFIG_MAPS: usize = 120;
/// How many objects k8s-apply has in flight at once (its `PARALLELISM`).
const IN_FLIGHT: usize = 32;

/// The Namespace `shop` and `count` ConfigMaps in it.
fn big_set(count: usize) -> String {
    let mut set = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n".to_owned();
    for i in 0..count {
        write!(
            set,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bulk-{i}\n  namespace: shop\n\
             data:\n  i: \"{i}\"\n"
        )
        .unwrap();
    }
    set
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

fn holder_of(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

/// Takes `lease` over as `thief` would after finding it expired: a new holder, a fresh renewal.
/// A conflict (the holder renewed in between) reads it again and retries.
async fn take_over(client: &kube::Client, mut lease: Lease, thief: &str) -> Lease {
    let api: Api<Lease> = Api::namespaced(client.clone(), "shop");
    for _ in 0..20 {
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = Some(thief.to_owned());
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(120);
        lease.metadata.managed_fields = None;
        match api.replace(LEASE, &PostParams::default(), &lease).await {
            Ok(taken) => return taken,
            Err(kube::Error::Api(s)) if s.code == 409 => lease = api.get(LEASE).await.unwrap(),
            Err(e) => panic!("taking the Lease over: {e}"),
        }
    }
    panic!("the Lease kept changing")
}

/// When the test takes the Lease over from the running apply.
#[derive(Clone, Copy)]
enum Moment {
    /// As soon as the apply holds it: before its revision and its first ConfigMap.
    Taken,
    /// Once its first ConfigMap exists: mid-phase, with a set of 400 ConfigMaps and many in
    /// flight.
    FirstObject,
}

impl Moment {
    fn config_maps(self) -> usize {
        match self {
            Self::Taken => CONFIG_MAPS,
            Self::FirstObject => 400,
        }
    }
}

/// Runs a release apply of [`big_set`] as `pipeline-a` under 150 ms of latency, takes its Lease
/// over as `pipeline-b` at `moment`, and checks that the run stopped: exit 1 naming
/// `pipeline-b`, few ConfigMaps written after the takeover (none when it came before the first;
/// those already in flight when it came otherwise, well under all of them), no revision settled,
/// the Lease untouched since the takeover.
async fn lose_the_lock(moment: Moment) {
    // 150 ms per request, as in the review: the apply of 121 objects takes seconds.
    let sim = sim_with_latency(150);
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let total = moment.config_maps();
    let file = write(dir.path(), "set.yaml", &big_set(total));
    let client = sim.client().await.unwrap();

    let leases: Api<Lease> = Api::all(client.clone());
    let mut lease_events = leases
        .watch(
            &WatchParams::default().labels("pipewright.dev/release=web"),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    let mut config_map_events = Api::<ConfigMap>::all(client.clone())
        .watch(
            &WatchParams::default().labels("applyset.kubernetes.io/part-of"),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    let run = Running::start(
        &kubeconfig,
        &[
            "-f",
            &file,
            "--release",
            "web",
            "-n",
            "shop",
            "--lock-holder",
            "pipeline-a",
        ],
    );
    let held = tokio::time::timeout(Duration::from_mins(1), async {
        loop {
            match lease_events.next().await {
                Some(Ok(WatchEvent::Added(l) | WatchEvent::Modified(l)))
                    if holder_of(&l) == Some("pipeline-a") =>
                {
                    break l;
                }
                Some(_) => {}
                None => panic!("the Lease watch ended"),
            }
        }
    })
    .await
    .expect("A takes the lock within a minute");
    let current = match moment {
        Moment::Taken => held,
        Moment::FirstObject => {
            tokio::time::timeout(Duration::from_mins(1), async {
                loop {
                    match config_map_events.next().await {
                        Some(Ok(WatchEvent::Added(_))) => break,
                        Some(_) => {}
                        None => panic!("the ConfigMap watch ended"),
                    }
                }
            })
            .await
            .expect("A writes its first ConfigMap within a minute");
            Api::<Lease>::namespaced(client.clone(), "shop")
                .get(LEASE)
                .await
                .unwrap()
        }
    };
    let taken = take_over(&client, current, "pipeline-b").await;

    let finished = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert_stopped(&client, &finished, &taken, moment).await;
}

/// The checks of [`lose_the_lock`] once the run has ended.
async fn assert_stopped(client: &kube::Client, finished: &Run, taken: &Lease, moment: Moment) {
    let total = moment.config_maps();
    finished.assert_code(1);
    assert!(
        finished.message().contains("lost the deploy lock")
            && finished.message().contains("pipeline-b"),
        "the new holder is named: {}",
        finished.message()
    );

    // kube-sim numbers every write in one sequence: a ConfigMap whose version is above the
    // takeover's was created after it.
    let version = |v: Option<&String>| v.unwrap().parse::<u64>().unwrap();
    let taken_at = version(taken.metadata.resource_version.as_ref());
    let created: Vec<u64> = Api::<ConfigMap>::namespaced(client.clone(), "shop")
        .list(&ListParams::default().labels("applyset.kubernetes.io/part-of"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|cm| version(cm.metadata.resource_version.as_ref()))
        .collect();
    let after = created.iter().filter(|v| **v > taken_at).count();
    eprintln!(
        "{} of {total} ConfigMaps written, {after} after the takeover",
        created.len()
    );
    match moment {
        Moment::Taken => assert_eq!(
            created.len(),
            0,
            "ConfigMaps were written though the lock was taken before the first"
        ),
        // What was in flight when the takeover came, and what was sent before the watch on the
        // Lease delivered it: about one round of requests each.
        Moment::FirstObject => assert!(
            after < 3 * IN_FLIGHT && created.len() < total / 2,
            "{after} ConfigMaps were written after the lock was lost ({} of {total} in all)",
            created.len()
        ),
    }
    // Nothing of A's was settled: no revision applied, and the Lease is still B's, untouched.
    let history = ReleaseHistory::new(client, "shop", "web").unwrap();
    for record in history.list().await.unwrap() {
        assert_eq!(
            record.status,
            ReleaseStatus::Applying,
            "revision {} was settled after the takeover",
            record.revision
        );
    }
    let now = Api::<Lease>::namespaced(client.clone(), "shop")
        .get(LEASE)
        .await
        .unwrap();
    assert_eq!(holder_of(&now), Some("pipeline-b"));
    assert_eq!(
        now.metadata.resource_version, taken.metadata.resource_version,
        "A wrote the Lease after losing it"
    );
}

#[tokio::test]
async fn a_run_whose_lock_is_taken_over_before_its_first_object_writes_nothing_more() {
    lose_the_lock(Moment::Taken).await;
}

#[tokio::test]
async fn a_run_whose_lock_is_taken_over_mid_phase_stops_writing_objects() {
    lose_the_lock(Moment::FirstObject).await;
}

#[tokio::test]
async fn a_lease_without_a_duration_is_held_for_the_default_ttl() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let kubeconfig = sim.kubeconfig_path().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let client = sim.client().await.unwrap();
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("shop".to_owned()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .unwrap();
    let now = MicroTime(Timestamp::now());
    let planted = Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.to_owned()),
            namespace: Some("shop".to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("someone-else".to_owned()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_duration_seconds: None,
            ..LeaseSpec::default()
        }),
    };
    let planted = Api::<Lease>::namespaced(client.clone(), "shop")
        .create(&PostParams::default(), &planted)
        .await
        .unwrap();

    let file = write(dir.path(), "set.yaml", &big_set(CONFIG_MAPS));
    let run = tokio::task::spawn_blocking(move || {
        k8s_apply(
            &kubeconfig,
            &[
                "-f",
                &file,
                "--release",
                "web",
                "-n",
                "shop",
                "--lock-holder",
                "pipeline-a",
                "--lock-timeout",
                "1s",
            ],
        )
    })
    .await
    .unwrap();
    run.assert_code(1);
    assert!(
        run.message().contains("held by someone-else"),
        "{}",
        run.message()
    );
    let lease = Api::<Lease>::namespaced(client.clone(), "shop")
        .get(LEASE)
        .await
        .unwrap();
    assert_eq!(
        lease.metadata.resource_version, planted.metadata.resource_version,
        "the Lease was taken"
    );
    assert!(
        Api::<ConfigMap>::namespaced(client, "shop")
            .get_opt("bulk-0")
            .await
            .unwrap()
            .is_none()
    );
}
