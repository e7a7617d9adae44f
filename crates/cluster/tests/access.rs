//! Cluster access as kubectl users expect: kubeconfig from the flag or `KUBECONFIG` (a merged
//! list), context and namespace selection, and errors with the right exit codes and words.

// Test helpers unwrap: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use cluster::{ClusterArgs, ConfigSource};
use kube::config::Kubeconfig;
use kube_sim::Faults;
use serde::Serialize;
use stage::{Env, ErrorKind, Io, Need, StageCli, StageResult, Tool};
use testbed::SharedBuf;

/// The simulator's kubeconfig with a second context `other` (namespace `team`) and no current
/// context when `current` is false.
fn two_contexts(sim: &kube_sim::KubeSim, path: &Path, current: bool) {
    let mut config = Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let mut other = config.contexts[0].clone();
    "other".clone_into(&mut other.name);
    other.context.as_mut().unwrap().namespace = Some("team".to_owned());
    config.contexts.push(other);
    if !current {
        config.current_context = None;
    }
    std::fs::write(path, serde_json::to_string(&config).unwrap()).unwrap();
}

#[tokio::test]
async fn connects_through_kubeconfig_with_the_contexts_namespace() {
    let sim = common::start();
    let conn = common::connect(&sim).await;
    assert_eq!(conn.namespace, "default");
    assert_eq!(conn.context.as_deref(), Some("kube-sim"));
    assert_eq!(conn.server, sim.url());
    assert!(!conn.server_version.is_empty());
    assert_eq!(
        conn.source,
        ConfigSource::Kubeconfig(vec![sim.kubeconfig_path().to_path_buf()])
    );
    // The token is the client's business; nothing we show carries it.
    let token = sim.token().unwrap();
    assert!(!format!("{conn:?} {}", conn.describe()).contains(token));
}

#[tokio::test]
async fn context_and_namespace_flags_choose() {
    let sim = common::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    two_contexts(&sim, &path, true);
    let args = ClusterArgs {
        kubeconfig: Some(path.clone()),
        context: Some("other".to_owned()),
        namespace: None,
    };
    let conn = cluster::connect_with(&Env::default(), &args).await.unwrap();
    assert_eq!(
        (conn.context.as_deref(), conn.namespace.as_str()),
        (Some("other"), "team")
    );
    let args = ClusterArgs {
        namespace: Some("flag".to_owned()),
        ..args
    };
    let conn = cluster::connect_with(&Env::default(), &args).await.unwrap();
    assert_eq!(conn.namespace, "flag");
}

#[tokio::test]
async fn kubeconfig_lists_merge_first_wins_and_skip_missing_files() {
    let sim = common::start();
    let dir = tempfile::tempdir().unwrap();
    let second = dir.path().join("second");
    two_contexts(&sim, &second, false);
    let missing = dir.path().join("missing");
    let list =
        std::env::join_paths([missing.as_path(), sim.kubeconfig_path(), second.as_path()]).unwrap();
    let env = Env::default().with("KUBECONFIG", &list.to_string_lossy());
    // The first file sets current-context; the second adds `other`.
    let conn = cluster::connect_with(&env, &ClusterArgs::default())
        .await
        .unwrap();
    assert_eq!(conn.context.as_deref(), Some("kube-sim"));
    let args = ClusterArgs {
        context: Some("other".to_owned()),
        ..ClusterArgs::default()
    };
    let conn = cluster::connect_with(&env, &args).await.unwrap();
    assert_eq!(conn.namespace, "team");
    assert_eq!(
        conn.source,
        ConfigSource::Kubeconfig(vec![sim.kubeconfig_path().to_path_buf(), second])
    );
}

#[tokio::test]
async fn a_missing_kubeconfig_is_invalid_input_naming_the_file() {
    let args = ClusterArgs {
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        ..ClusterArgs::default()
    };
    let err = cluster::connect_with(&Env::default(), &args)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.message().contains("/nonexistent/kubeconfig"),
        "{}",
        err.message()
    );

    let env = Env::default().with("KUBECONFIG", "/nope/a:/nope/b");
    let err = cluster::connect_with(&env, &ClusterArgs::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message().contains("/nope/a:/nope/b"),
        "{}",
        err.message()
    );

    // Nothing at all: no flag, no variable, no ~/.kube/config, not in a pod.
    let empty_home = tempfile::tempdir().unwrap();
    let env = Env::default().with("HOME", &empty_home.path().display().to_string());
    let err = cluster::connect_with(&env, &ClusterArgs::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message().contains("no cluster configuration"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn home_kube_config_is_the_fallback() {
    let sim = common::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".kube")).unwrap();
    std::fs::copy(sim.kubeconfig_path(), home.path().join(".kube/config")).unwrap();
    let env = Env::default().with("HOME", &home.path().display().to_string());
    let conn = cluster::connect_with(&env, &ClusterArgs::default())
        .await
        .unwrap();
    assert_eq!(conn.server, sim.url());
}

#[tokio::test]
async fn an_unknown_or_unset_context_lists_the_contexts_there_are() {
    let sim = common::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    two_contexts(&sim, &path, false);
    let args = ClusterArgs {
        kubeconfig: Some(path.clone()),
        context: Some("prod".to_owned()),
        namespace: None,
    };
    let err = cluster::connect_with(&Env::default(), &args)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let message = err.message();
    for needle in ["\"prod\"", "kube-sim, other", path.to_str().unwrap()] {
        assert!(message.contains(needle), "{needle} not in: {message}");
    }
    let args = ClusterArgs {
        context: None,
        ..args
    };
    let err = cluster::connect_with(&Env::default(), &args)
        .await
        .unwrap_err();
    assert!(
        err.message().contains("no current-context"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("kube-sim, other"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn a_refused_token_is_unauthorized_without_retries() {
    let sim = common::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let text = std::fs::read_to_string(sim.kubeconfig_path()).unwrap();
    std::fs::write(&path, text.replace(sim.token().unwrap(), "not-the-token")).unwrap();
    let args = ClusterArgs {
        kubeconfig: Some(path),
        ..ClusterArgs::default()
    };
    let err = cluster::connect_with(&Env::default(), &args)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.exit_code(), 3);
    assert!(err.message().contains("401"), "{}", err.message());
    assert!(!err.message().contains("not-the-token"));
}

#[tokio::test]
async fn an_api_that_stays_down_is_unavailable_after_retries() {
    let sim = common::start();
    let env = common::env_for(&sim);
    sim.faults().set(Faults {
        down_for_ms: Some(120_000),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let err = cluster::connect_with(&env, &ClusterArgs::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(
        err.message().contains("context kube-sim"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("gave up after retries"),
        "{}",
        err.message()
    );
    // Five retries of 0.1–3.2 s each: bounded well under the policy's minute.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

// ---- through the stage runner, as a tool uses it ----

#[derive(clap::Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: stage::CommonArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

impl StageCli for Cli {
    fn common(&self) -> &stage::CommonArgs {
        &self.common
    }
}

#[derive(Serialize)]
struct Report {
    namespace: String,
    context: Option<String>,
}

async fn probe(cli: Cli, ctx: stage::Ctx, _up: Option<serde_json::Value>) -> StageResult<Report> {
    let conn = cluster::connect(&ctx, &cli.cluster).await?;
    Ok(Report {
        namespace: conn.namespace,
        context: conn.context,
    })
}

fn run_tool(args: &[&str], env: Env) -> (u8, String, String) {
    let (stdout, stderr) = (SharedBuf::new(), SharedBuf::new());
    let io = Io {
        stdin: Box::new(std::io::empty()),
        stdout: Box::new(stdout.clone()),
        stderr: Box::new(stderr.clone()),
        stdin_is_terminal: true,
        stdout_is_terminal: false,
        stderr_is_terminal: false,
    };
    let command_line = std::iter::once("probe").chain(args.iter().copied());
    let code = stage::run_with(
        Tool::new("probe", env!("CARGO_CRATE_NAME")),
        Need::None,
        command_line,
        env,
        io,
        probe,
    );
    (code, stdout.text(), stderr.text())
}

#[test]
fn a_tool_connects_with_flags_and_logs_each_retry_without_the_token() {
    let sim = common::start();
    // Every other request is throttled, starting with the tool's first (the simulator's own
    // verdict counter takes the first turn): the version probe is retried once, with a warning.
    sim.faults().set(Faults {
        throttle_fraction: 0.5,
        ..Faults::default()
    });
    assert_eq!(
        sim.faults().next_verdict(),
        kube_sim::faults::Verdict::Serve
    );
    let kubeconfig = sim.kubeconfig_path().display().to_string();
    let (code, stdout, stderr) =
        run_tool(&["--kubeconfig", &kubeconfig, "-n", "apps"], Env::default());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["namespace"], "apps");
    assert_eq!(doc["context"], "kube-sim");
    assert!(stderr.contains("429"), "{stderr}");
    assert!(stderr.contains("retry 1 of 5"), "{stderr}");
    assert!(sim.faults().injected() >= 1);
    let token = sim.token().unwrap();
    assert!(!stdout.contains(token) && !stderr.contains(token));

    let (code, stdout, _) = run_tool(&["--context", "nope"], common::env_for(&sim));
    assert_eq!(code, 2);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "invalid-input");
}
