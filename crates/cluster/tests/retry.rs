//! The retry policy against a simulator that throttles and fails on purpose: bursts are ridden
//! out, the bounds hold, and what a retry cannot fix is not retried.

// Test helpers unwrap: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cluster::{RetryPolicy, api_error, retry, retry_with};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube_sim::Faults;
use stage::ErrorKind;

#[tokio::test]
async fn bursts_of_429_and_503_are_ridden_out() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), "default");
    let all = ListParams::default();
    sim.faults().set(Faults {
        throttle_fraction: 0.1,
        error_fraction: 0.3,
        error_status: Some(503),
        ..Faults::default()
    });
    for _ in 0..20 {
        retry("listing config maps", || api.list(&all))
            .await
            .unwrap();
    }
    // 20 calls plus their retries: at least 2 throttled and 6 failed requests, all absorbed.
    assert!(sim.faults().injected() >= 8, "{}", sim.faults().injected());
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_given_up_on_after_the_bound() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), "default");
    let all = ListParams::default();
    sim.faults().set(Faults {
        error_fraction: 1.0,
        error_status: Some(502),
        ..Faults::default()
    });
    let err = retry_with(&common::quick_policy(4), "listing", || api.list(&all))
        .await
        .unwrap_err();
    assert_eq!(sim.faults().injected(), 4, "exactly max_attempts requests");
    let stage_err = api_error("listing config maps", &err);
    assert_eq!(stage_err.kind(), ErrorKind::Unavailable);
    assert_eq!(stage_err.exit_code(), 3);
    assert!(
        stage_err.message().contains("502"),
        "{}",
        stage_err.message()
    );
}

#[tokio::test]
async fn what_a_retry_cannot_fix_is_tried_once() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), "default");
    let calls = AtomicU32::new(0);
    let err = retry("reading a config map", || {
        calls.fetch_add(1, Ordering::SeqCst);
        api.get("missing")
    })
    .await
    .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stage_err = api_error("reading config map missing", &err);
    assert_eq!(stage_err.kind(), ErrorKind::Failed);
    assert!(
        stage_err.message().contains("not found"),
        "{}",
        stage_err.message()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_time_budget_ends_the_retries_at_once() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), "default");
    let all = ListParams::default();
    sim.faults().set(Faults {
        throttle_fraction: 1.0,
        ..Faults::default()
    });
    let policy = RetryPolicy {
        max_elapsed: Duration::from_millis(500),
        ..common::quick_policy(6)
    };
    let started = Instant::now();
    let err = retry_with(&policy, "listing", || api.list(&all))
        .await
        .unwrap_err();
    // The server asked for 1 s; the budget was half that: no waiting, one request.
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(sim.faults().injected(), 1);
    assert_eq!(api_error("listing", &err).kind(), ErrorKind::Unavailable);
}
