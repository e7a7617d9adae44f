//! The deploy lock against a real (simulated) API server: re-entry by the same run, waiting and
//! failing with the holder's name, release, expiry of a killed holder's lock (by the clock, and
//! by observation when clocks cannot be trusted), races, and background renewal.

// Test helpers unwrap: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::Cell;
use std::time::{Duration, Instant};

use cluster::{Contender, Holder, LockOptions, WallClock, acquire};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use stage::ErrorKind;

fn github(run: u32) -> Holder {
    Holder::new(
        format!("github:acme/shop/{run}/1"),
        Some(format!(
            "https://github.com/acme/shop/actions/runs/{run}/attempts/1"
        )),
    )
}

fn options(wait: Duration) -> LockOptions {
    LockOptions {
        wait_timeout: wait,
        ..LockOptions::default()
    }
}

/// Takes release `web`'s lock for GitHub run `run`, without waiting.
async fn hold(conn: &cluster::Connection, ns: &str, run: u32) -> cluster::Lock {
    acquire(
        &conn.client,
        ns,
        "web",
        &github(run),
        &options(Duration::ZERO),
        |_| {},
    )
    .await
    .expect("the lock is free")
}

async fn lease(conn: &cluster::Connection, ns: &str) -> Lease {
    Api::<Lease>::namespaced(conn.client.clone(), ns)
        .get("pipewright-lock-web")
        .await
        .unwrap()
}

fn holder_of(lease: &Lease) -> Option<String> {
    lease.spec.as_ref().unwrap().holder_identity.clone()
}

#[tokio::test]
async fn the_same_run_re_enters_and_a_release_frees_it_at_once() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let none = |_: &Contender| panic!("must not wait");

    let started = Instant::now();
    let lock = acquire(
        &conn.client,
        &ns,
        "web",
        &github(1),
        &options(Duration::ZERO),
        none,
    )
    .await
    .unwrap();
    let first_acquire = started.elapsed();
    let taken = lease(&conn, &ns).await;
    let spec = taken.spec.clone().unwrap();
    assert_eq!(
        spec.holder_identity.as_deref(),
        Some("github:acme/shop/1/1")
    );
    assert_eq!(spec.lease_duration_seconds, Some(120));
    assert_eq!(
        taken.metadata.annotations.unwrap()["pipewright.dev/holder-url"],
        "https://github.com/acme/shop/actions/runs/1/attempts/1"
    );
    assert_eq!(lock.name(), "pipewright-lock-web");

    // rollout-wait, a separate process of the same run: in at once, same acquisition.
    let again = acquire(
        &conn.client,
        &ns,
        "web",
        &github(1),
        &options(Duration::ZERO),
        none,
    )
    .await
    .unwrap();
    let spec2 = lease(&conn, &ns).await.spec.unwrap();
    assert_eq!(spec2.acquire_time, spec.acquire_time);
    assert_eq!(spec2.lease_transitions, spec.lease_transitions);
    assert!(spec2.renew_time >= spec.renew_time);

    again.release().await.unwrap();
    assert_eq!(holder_of(&lease(&conn, &ns).await), None);
    // Releasing what is no longer ours is a no-op, not an error.
    lock.release().await.unwrap();

    let started = Instant::now();
    let next = acquire(
        &conn.client,
        &ns,
        "web",
        &github(2),
        &options(Duration::ZERO),
        none,
    )
    .await
    .unwrap();
    let takeover = started.elapsed();
    assert_eq!(
        holder_of(&lease(&conn, &ns).await).as_deref(),
        Some("github:acme/shop/2/1")
    );
    eprintln!("acquire: create {first_acquire:?}, free lease {takeover:?}");
    next.release().await.unwrap();
}

#[tokio::test]
async fn another_run_waits_then_fails_naming_the_holder_and_its_run() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let _held = hold(&conn, &ns, 1).await;

    let seen = Cell::new(None::<Contender>);
    let started = Instant::now();
    let err = acquire(
        &conn.client,
        &ns,
        "web",
        &github(2),
        &options(Duration::from_secs(1)),
        |c| {
            seen.set(Some(c.clone()));
        },
    )
    .await
    .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Failed);
    assert_eq!(err.exit_code(), 1);
    for needle in [
        "github:acme/shop/1/1",
        "https://github.com/acme/shop/actions/runs/1/attempts/1",
        "gave up after waiting 1s",
    ] {
        assert!(
            err.message().contains(needle),
            "{needle} not in: {}",
            err.message()
        );
    }
    assert!(err.hint().unwrap().contains("120s"), "{:?}", err.hint());
    let contender = seen.take().unwrap();
    assert_eq!(contender.holder, "github:acme/shop/1/1");
    assert!(contender.expires_in.unwrap() <= Duration::from_mins(2));
    // The holder is untouched.
    assert_eq!(
        holder_of(&lease(&conn, &ns).await).as_deref(),
        Some("github:acme/shop/1/1")
    );
}

#[tokio::test]
async fn a_waiting_run_proceeds_as_soon_as_the_lock_is_released() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let held = hold(&conn, &ns, 1).await;
    let waiting = Cell::new(false);
    let released_at = Cell::new(None::<Instant>);
    let waiter = async {
        let lock = acquire(
            &conn.client,
            &ns,
            "web",
            &github(2),
            &options(Duration::from_secs(20)),
            |_| {
                waiting.set(true);
            },
        )
        .await
        .unwrap();
        (lock, Instant::now())
    };
    let releaser = async {
        common::eventually(
            "the second run to wait",
            Duration::from_secs(10),
            || async { waiting.get().then_some(()) },
        )
        .await;
        held.release().await.unwrap();
        released_at.set(Some(Instant::now()));
    };
    let ((lock, acquired_at), ()) = tokio::join!(waiter, releaser);
    let latency = acquired_at - released_at.get().unwrap();
    eprintln!("release → waiting run holds the lock: {latency:?}");
    // The waiter polls at most every 2 s.
    assert!(latency < Duration::from_millis(2_500), "{latency:?}");
    assert_eq!(lock.holder().id(), "github:acme/shop/2/1");
}

#[tokio::test]
async fn a_killed_holders_lock_is_taken_over_once_its_ttl_has_passed() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    // The holder takes the lock and dies without releasing it.
    let dead = hold(&conn, &ns, 1).await;

    // Within its TTL the lock holds (same clock) …
    let err = acquire(
        &conn.client,
        &ns,
        "web",
        &github(2),
        &options(Duration::ZERO),
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Failed);
    // … and a run that comes after the TTL (a clock 121 s later) takes it over at once.
    let later = LockOptions {
        clock: WallClock::ahead(Duration::from_secs(121)),
        ..options(Duration::ZERO)
    };
    let lock = acquire(&conn.client, &ns, "web", &github(2), &later, |_| {})
        .await
        .unwrap();
    let spec = lease(&conn, &ns).await.spec.unwrap();
    assert_eq!(
        spec.holder_identity.as_deref(),
        Some("github:acme/shop/2/1")
    );
    assert_eq!(spec.lease_transitions, Some(1));

    // Had the first holder only been slow, it learns it lost the lock when it renews.
    let err = dead.renew().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Failed);
    assert!(
        err.message()
            .contains("lost the deploy lock to github:acme/shop/2/1"),
        "{}",
        err.message()
    );
    // And its release does not free the new holder's lock.
    dead.release().await.unwrap();
    assert_eq!(
        holder_of(&lease(&conn, &ns).await).as_deref(),
        Some("github:acme/shop/2/1")
    );
    drop(lock);
}

#[tokio::test]
async fn expiry_is_noticed_without_trusting_any_clock() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let short = LockOptions {
        ttl: Duration::from_secs(1),
        ..options(Duration::ZERO)
    };
    let _dead = acquire(&conn.client, &ns, "web", &github(1), &short, |_| {})
        .await
        .unwrap();
    // A waiter whose clock is an hour slow would think the lock fresh forever; watching it stay
    // unchanged for its full TTL is enough.
    let slow_clock = LockOptions {
        clock: WallClock::behind(Duration::from_hours(1)),
        ..options(Duration::from_secs(10))
    };
    let started = Instant::now();
    let lock = acquire(&conn.client, &ns, "web", &github(2), &slow_clock, |_| {})
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(lock.holder().id(), "github:acme/shop/2/1");
}

#[tokio::test]
async fn of_two_runs_racing_for_the_lock_exactly_one_wins() {
    let sim = common::start();
    let first = common::connect(&sim).await;
    let second = common::connect(&sim).await;
    let ns = common::namespace(&first, "shop").await;
    let now = options(Duration::ZERO);
    let (h1, h2, h3, h4, h5, h6) = (
        github(1),
        github(2),
        github(3),
        github(4),
        github(5),
        github(6),
    );

    // Racing to create it.
    let (x, y) = tokio::join!(
        acquire(&first.client, &ns, "web", &h1, &now, |_| {}),
        acquire(&second.client, &ns, "web", &h2, &now, |_| {}),
    );
    let (winner, loser) = match (x, y) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        (x, y) => panic!("exactly one must win: {x:?} / {y:?}"),
    };
    assert_eq!(loser.kind(), ErrorKind::Failed);
    assert!(
        loser.message().contains(winner.holder().id()),
        "{}",
        loser.message()
    );

    // Racing to take over an expired one (both see it expired, both replace the same version).
    let later = LockOptions {
        clock: WallClock::ahead(Duration::from_mins(5)),
        ..options(Duration::ZERO)
    };
    let (x, y) = tokio::join!(
        acquire(&first.client, &ns, "web", &h3, &later, |_| {}),
        acquire(&second.client, &ns, "web", &h4, &later, |_| {}),
    );
    // The loser's replace meets 409, it re-reads and finds the winner's fresh renewal (written
    // by a clock as far ahead as its own), so it does not take it in turn.
    let holders: Vec<String> = [x, y]
        .into_iter()
        .filter_map(Result::ok)
        .map(|l| l.holder().id().to_owned())
        .collect();
    assert_eq!(holders.len(), 1, "exactly one takeover wins: {holders:?}");
    assert_eq!(
        holder_of(&lease(&first, &ns).await).as_ref(),
        Some(&holders[0])
    );
    let fresh = options(Duration::ZERO);
    let (x, y) = tokio::join!(
        acquire(&first.client, &ns, "web", &h5, &fresh, |_| {}),
        acquire(&second.client, &ns, "web", &h6, &fresh, |_| {}),
    );
    assert!(
        x.is_err() && y.is_err(),
        "a held, fresh lock admits nobody else"
    );
}

#[tokio::test]
async fn keep_alive_renews_while_held_and_reports_a_loss() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let ns = common::namespace(&conn, "shop").await;
    let ttl = LockOptions {
        ttl: Duration::from_secs(3),
        ..options(Duration::ZERO)
    };
    let lock = acquire(&conn.client, &ns, "web", &github(1), &ttl, |_| {})
        .await
        .unwrap();
    let keep = lock.keep_alive();
    let first = lease(&conn, &ns).await.spec.unwrap().renew_time;
    common::eventually("a renewal", Duration::from_secs(5), || async {
        (lease(&conn, &ns).await.spec.unwrap().renew_time > first).then_some(())
    })
    .await;

    // While it renews, another run cannot take it, even after waiting longer than the TTL.
    let waiting = LockOptions {
        wait_timeout: Duration::from_secs(4),
        ..LockOptions::default()
    };
    let err = acquire(&conn.client, &ns, "web", &github(2), &waiting, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Failed);
    assert!(!keep.is_lost());

    // Someone forcibly takes the Lease: the renewal notices and says so when stopped.
    let api: Api<Lease> = Api::namespaced(conn.client.clone(), &ns);
    let mut stolen = lease(&conn, &ns).await;
    stolen.spec.as_mut().unwrap().holder_identity = Some("intruder".to_owned());
    stolen.metadata.managed_fields = None;
    api.replace("pipewright-lock-web", &PostParams::default(), &stolen)
        .await
        .unwrap();
    common::eventually("the renewal to notice", Duration::from_secs(5), || async {
        keep.is_lost().then_some(())
    })
    .await;
    let err = keep.stop().await.unwrap_err();
    assert!(err.message().contains("intruder"), "{}", err.message());
}

#[tokio::test]
async fn a_missing_namespace_is_named() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let err = acquire(
        &conn.client,
        "absent",
        "web",
        &github(1),
        &options(Duration::ZERO),
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message().contains("namespace absent does not exist"),
        "{}",
        err.message()
    );
    let err = acquire(
        &conn.client,
        "absent",
        "Bad_Name",
        &github(1),
        &options(Duration::ZERO),
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
}
