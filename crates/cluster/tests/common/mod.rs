//! Helpers shared by the integration tests: a simulator, a connection to it through the real
//! kubeconfig path, and waiting on a condition with a deadline (never a fixed sleep).

// Each test file uses a different subset; helpers unwrap like the tests they serve.
#![allow(dead_code, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::future::Future;
use std::time::{Duration, Instant};

use cluster::{ClusterArgs, Connection, RetryPolicy};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube_sim::{Config, KubeSim};
use stage::Env;

pub fn start() -> KubeSim {
    KubeSim::start(Config::default()).expect("kube-sim starts")
}

/// The environment a tool would see with `KUBECONFIG` pointing at the simulator.
pub fn env_for(sim: &KubeSim) -> Env {
    Env::default().with("KUBECONFIG", &sim.kubeconfig_path().display().to_string())
}

/// Connects as a tool does, through `KUBECONFIG`.
pub async fn connect(sim: &KubeSim) -> Connection {
    cluster::connect_with(&env_for(sim), &ClusterArgs::default())
        .await
        .unwrap()
}

/// A namespace of the test's own, so that tests of one file never see each other's objects.
pub async fn namespace(conn: &Connection, name: &str) -> String {
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": name } })).unwrap();
    Api::<Namespace>::all(conn.client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    name.to_owned()
}

/// A quick policy for tests that exhaust retries on purpose.
pub fn quick_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_elapsed: Duration::from_secs(30),
    }
}

/// Polls `probe` until it returns `Some`, failing the test after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "gave up after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
