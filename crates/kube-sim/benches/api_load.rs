//! Load benchmark (not a test): 16 concurrent kube clients create 1,000 ConfigMaps against a
//! `kube-sim serve` process while one client watches them arrive. Reports requests per second,
//! latency percentiles, how long the watch took to see every object, and the server's peak RSS.
//!
//! Run: `cargo bench -p kube-sim --bench api_load` (set `KUBE_SIM_BENCH_OBJECTS` and
//! `KUBE_SIM_BENCH_CLIENTS` to vary).

// The report on stdout is this program's purpose; counts stay far below f64's exact range.
#![allow(
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let objects = env_usize("KUBE_SIM_BENCH_OBJECTS", 1000);
    let clients = env_usize("KUBE_SIM_BENCH_CLIENTS", 16);
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut server = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["serve", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kube-sim starts");
    let mut ready = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("ready line");
    let pid = server.id();
    let idle_rss = rss_kib(pid, "VmRSS");

    let (latencies, elapsed, watch_done) = drive(&kubeconfig, objects, clients);
    let peak_rss = rss_kib(pid, "VmHWM");
    let _ = server.kill();
    let _ = server.wait();

    let mut sorted = latencies.clone();
    sorted.sort();
    let pct = |p: f64| {
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index].as_secs_f64() * 1000.0
    };
    println!("kube-sim api_load: {objects} creates by {clients} clients, one watcher");
    println!(
        "  throughput   {:.0} requests/s ({:.2} s total)",
        objects as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "  latency      p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "  watch        all {objects} ADDED events seen {:.2} s after the first create",
        watch_done.as_secs_f64()
    );
    println!(
        "  server RSS   {} MiB idle, {} MiB peak",
        idle_rss / 1024,
        peak_rss / 1024
    );
}

/// Creates `objects` ConfigMaps with `clients` concurrent clients while one client watches; returns
/// each create's latency, the time all creates took, and when the watch had seen every object.
fn drive(
    kubeconfig: &std::path::Path,
    objects: usize,
    clients: usize,
) -> (Vec<Duration>, Duration, Duration) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("config");
        let watcher_api: Api<ConfigMap> = Api::namespaced(
            kube::Client::try_from(config.clone()).expect("client"),
            "default",
        );
        let rv = watcher_api
            .list(&ListParams::default())
            .await
            .expect("list")
            .metadata
            .resource_version
            .expect("rv");
        let mut stream = Box::pin(
            watcher_api
                .watch(&WatchParams::default().timeout(290), &rv)
                .await
                .expect("watch"),
        );
        let start = Instant::now();
        let watcher = tokio::spawn(async move {
            let mut seen = 0;
            while seen < objects {
                match stream.try_next().await {
                    Ok(Some(WatchEvent::Added(_))) => seen += 1,
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            (seen, start.elapsed())
        });
        let mut tasks = Vec::new();
        for c in 0..clients {
            let api: Api<ConfigMap> = Api::namespaced(
                kube::Client::try_from(config.clone()).expect("client"),
                "default",
            );
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                for i in (c..objects).step_by(clients) {
                    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                        "metadata": { "name": format!("bench-{i}"), "labels": { "bench": "yes" } },
                        "data": { "index": i.to_string() }
                    }))
                    .expect("configmap");
                    let t = Instant::now();
                    api.create(&PostParams::default(), &cm)
                        .await
                        .expect("create");
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("task"));
        }
        let elapsed = start.elapsed();
        let (seen, watch_time) = tokio::time::timeout(Duration::from_mins(1), watcher)
            .await
            .expect("watch finishes")
            .expect("watcher");
        assert_eq!(seen, objects, "the watch saw every object");
        (latencies, elapsed, watch_time)
    })
}

/// A memory figure of a process from /proc (`VmRSS` now, `VmHWM` peak), in KiB.
fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
