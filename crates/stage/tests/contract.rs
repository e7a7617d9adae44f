//! The stage contract, driven in-process through `stage::run_with`: exit codes, the one stdout
//! document, upstream pass-through, stdin edge cases, secrets, GitHub Actions, colour, timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use proptest::prelude::*;
use serde_json::Value;
use stage::{
    CommonArgs, Ctx, Env, Envelope, Failed, Io, Need, Secret, StageCli, StageError, StageResult,
    TimeoutArg, Tool,
};
use testbed::SharedBuf;

const TOOL: Tool = Tool::new("probe", "contract");
const SECRET: &str = "s3cr3t-AKIA-0123456789-value";

/// A tool whose behaviour the test chooses with `--outcome`.
#[derive(Parser, Debug)]
#[command(name = "probe")]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    timeout: TimeoutArg,
    #[arg(long, default_value = "ok")]
    outcome: String,
    #[arg(long, requires = "target")]
    source: Option<String>,
    #[arg(long)]
    target: Option<String>,
}

impl StageCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
    fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout.timeout
    }
}

#[derive(serde::Serialize)]
struct Report {
    outcome: String,
    upstream_tool: Option<String>,
}

async fn probe(cli: Cli, ctx: Ctx, upstream: Option<Envelope>) -> StageResult<Report> {
    let report = Report {
        outcome: cli.outcome.clone(),
        upstream_tool: upstream.map(|u| u.tool),
    };
    match cli.outcome.as_str() {
        "ok" => Ok(report),
        "failed" => Err(Failed::with_report(
            StageError::failed("rollout went unhealthy"),
            report,
        )),
        "invalid" => {
            Err(StageError::invalid_input("app.yaml document 2: missing metadata.name").into())
        }
        "unavailable" => {
            Err(StageError::unavailable("cluster API unreachable after 5 tries").into())
        }
        "unauthorized" => Err(StageError::unauthorized("STS refused the token").into()),
        "hang" => {
            ctx.set_pending(["deployment/api", "statefulset/postgres"]);
            std::future::pending().await
        }
        "leak" => {
            let secret = Secret::new(SECRET);
            ctx.register_secret(&secret);
            // Registering again (several code paths may) announces it only once.
            ctx.register_secret(&secret);
            tracing::info!("token is {SECRET}");
            tracing::warn!(key = SECRET, "debug print of the secret: {secret:?}");
            let cause = std::io::Error::other(format!("server said: bad key {SECRET}"));
            Err(
                StageError::unauthorized(format!("auth with {SECRET} failed"))
                    .with_hint(format!("rotate {SECRET}"))
                    .with_source(cause)
                    .into(),
            )
        }
        "github" => {
            {
                let _group = ctx.group("Apply manifests");
                tracing::info!("deployment.apps/api configured");
                tracing::warn!("100% of pods: slow\nsecond line");
            }
            ctx.step_summary(&stage::github::markdown_table(
                &["object", "status"],
                [["deployment/api", "healthy"]],
            ));
            Ok(report)
        }
        other => Err(StageError::usage(format!("unknown test outcome {other}")).into()),
    }
}

struct Run {
    code: u8,
    stdout: String,
    stderr: String,
}

impl Run {
    fn doc(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }
}

struct Setup {
    stdin: Vec<u8>,
    stdin_is_terminal: bool,
    stdout_is_terminal: bool,
    stderr_is_terminal: bool,
    env: Env,
    need: Need,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            stdin: Vec::new(),
            stdin_is_terminal: false,
            stdout_is_terminal: false,
            stderr_is_terminal: false,
            env: Env::default(),
            need: Need::Optional,
        }
    }
}

fn run(args: &[&str], setup: Setup) -> Run {
    let stdout = SharedBuf::new();
    let stderr = SharedBuf::new();
    let io = Io {
        stdin: Box::new(std::io::Cursor::new(setup.stdin)),
        stdout: Box::new(stdout.clone()),
        stderr: Box::new(stderr.clone()),
        stdin_is_terminal: setup.stdin_is_terminal,
        stdout_is_terminal: setup.stdout_is_terminal,
        stderr_is_terminal: setup.stderr_is_terminal,
    };
    let command_line = std::iter::once("probe").chain(args.iter().copied());
    let code = stage::run_with(TOOL, setup.need, command_line, setup.env, io, probe);
    Run {
        code,
        stdout: stdout.text(),
        stderr: stderr.text(),
    }
}

fn run_args(args: &[&str]) -> Run {
    run(args, Setup::default())
}

#[test]
fn each_outcome_has_its_exit_code_and_error_kind() {
    for (outcome, code, kind) in [
        ("failed", 1, "failed"),
        ("invalid", 2, "invalid-input"),
        ("unavailable", 3, "unavailable"),
        ("unauthorized", 3, "unauthorized"),
    ] {
        let r = run_args(&["--outcome", outcome]);
        assert_eq!(r.code, code, "{outcome}: {}", r.stderr);
        let doc = r.doc();
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["tool"], "probe");
        assert_eq!(doc["schema"], "pipewright.dev/probe/v1");
        assert_eq!(doc["error"]["kind"], kind);
        testbed::schema::assert_valid("envelope", &doc);
    }
}

#[test]
fn success_prints_one_compact_line_with_the_body_flattened() {
    let r = run_args(&[]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout.lines().count(),
        1,
        "compact when stdout is not a terminal"
    );
    let doc = r.doc();
    assert_eq!(
        doc,
        serde_json::json!({"ok": true, "tool": "probe", "schema": "pipewright.dev/probe/v1", "outcome": "ok", "upstream_tool": null})
    );
    testbed::schema::assert_valid("envelope", &doc);
}

#[test]
fn a_failure_keeps_the_partial_report() {
    let doc = run_args(&["--outcome", "failed"]).doc();
    assert_eq!(
        doc["outcome"], "failed",
        "the report travels with the error"
    );
    assert_eq!(doc["error"]["message"], "rollout went unhealthy");
}

#[test]
fn pretty_output_on_a_terminal() {
    let r = run(
        &[],
        Setup {
            stdout_is_terminal: true,
            ..Setup::default()
        },
    );
    assert!(r.stdout.contains("{\n  \"ok\": true"), "{}", r.stdout);
}

#[test]
fn usage_errors_exit_2_with_a_document_and_clap_text_on_stderr() {
    let r = run_args(&["--no-such-flag"]);
    assert_eq!(r.code, 2);
    let doc = r.doc();
    assert_eq!(doc["error"]["kind"], "usage");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag")
    );
    assert!(
        doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("probe --help")
    );
    assert!(r.stderr.contains("Usage:"), "{}", r.stderr);

    let bad_timeout = run_args(&["--timeout", "5 minutes"]);
    assert_eq!(bad_timeout.code, 2);
    assert!(
        bad_timeout.doc()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown unit")
    );
}

#[test]
fn a_missing_required_argument_is_named_in_the_document() {
    let r = run_args(&["--source", "a"]);
    assert_eq!(r.code, 2);
    let message = r.doc()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("required arguments were not provided"),
        "{message}"
    );
    assert!(message.contains("--target"), "{message}");
}

#[test]
fn help_is_text_on_stdout_and_exit_0() {
    let r = run_args(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("--timeout <DURATION>"), "{}", r.stdout);
    assert!(r.stdout.contains("--quiet"));
}

#[test]
fn timeout_exits_124_and_says_what_was_pending() {
    let r = run_args(&["--outcome", "hang", "--timeout", "50ms"]);
    assert_eq!(r.code, 124);
    let doc = r.doc();
    assert_eq!(doc["error"]["kind"], "timeout");
    assert_eq!(
        doc["error"]["pending"],
        serde_json::json!(["deployment/api", "statefulset/postgres"])
    );
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out after 50ms waiting for deployment/api")
    );
    testbed::schema::assert_valid("envelope", &doc);
}

#[test]
fn a_failed_upstream_document_is_passed_on_unchanged_and_the_tool_does_nothing() {
    let upstream = b"{\"ok\":false,  \"tool\":\"k8s-apply\",\"schema\":\"pipewright.dev/k8s-apply/v1\",\"error\":{\"kind\":\"failed\",\"message\":\"x\"}}\n";
    let ran = Arc::new(AtomicBool::new(false));
    let ran_inside = Arc::clone(&ran);
    let stdout = SharedBuf::new();
    let io = Io {
        stdin: Box::new(std::io::Cursor::new(upstream.to_vec())),
        stdout: Box::new(stdout.clone()),
        stderr: Box::new(SharedBuf::new()),
        stdin_is_terminal: false,
        stdout_is_terminal: false,
        stderr_is_terminal: false,
    };
    let code = stage::run_with(
        TOOL,
        Need::Required,
        ["probe"],
        Env::default(),
        io,
        move |cli: Cli, ctx, up| {
            ran_inside.store(true, Ordering::SeqCst);
            probe(cli, ctx, up)
        },
    );
    assert_eq!(code, 1);
    assert_eq!(stdout.bytes(), upstream, "byte for byte");
    assert!(!ran.load(Ordering::SeqCst), "the tool must not run");
}

#[test]
fn a_good_upstream_document_reaches_the_tool() {
    let stdin =
        br#"{"ok":true,"tool":"k8s-apply","schema":"pipewright.dev/k8s-apply/v1","objects":[]}"#
            .to_vec();
    let r = run(
        &[],
        Setup {
            stdin,
            ..Setup::default()
        },
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc()["upstream_tool"], "k8s-apply");
}

#[test]
fn bad_stdin_is_exit_2_with_a_json_error_that_says_where() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed",
            b"{\"ok\": true,\n \"tool\": }".to_vec(),
            "line 2 column",
        ),
        ("empty", Vec::new(), "stdin is empty"),
        (
            "non-utf8",
            b"{\"ok\":true,\"tool\":\"\xc3\x28\"}".to_vec(),
            "not UTF-8",
        ),
        (
            "huge",
            vec![b' '; stage::DEFAULT_MAX_INPUT_BYTES + 1],
            "more than 64 MiB",
        ),
        (
            "two documents",
            b"{\"ok\":true,\"tool\":\"a\",\"schema\":\"s\"} {}".to_vec(),
            "trailing characters",
        ),
    ];
    for (name, stdin, expected) in cases {
        let r = run(
            &[],
            Setup {
                stdin,
                need: Need::Required,
                ..Setup::default()
            },
        );
        assert_eq!(r.code, 2, "{name}");
        let doc = r.doc();
        assert_eq!(doc["error"]["kind"], "invalid-input", "{name}");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{name}: {message}");
        assert!(
            doc["error"]["hint"].as_str().unwrap().contains("pipe in"),
            "{name}"
        );
    }
}

#[test]
fn a_terminal_on_stdin_is_a_usage_error_only_when_input_is_required() {
    let r = run(
        &[],
        Setup {
            stdin_is_terminal: true,
            need: Need::Required,
            ..Setup::default()
        },
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.doc()["error"]["kind"], "usage");
    let r = run(
        &[],
        Setup {
            stdin_is_terminal: true,
            need: Need::Optional,
            ..Setup::default()
        },
    );
    assert_eq!(r.code, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever arrives on stdin, the tool never panics and prints exactly one JSON document; input
    /// that is not JSON is always exit 2 with an invalid-input error.
    #[test]
    fn arbitrary_stdin_never_panics_and_always_yields_one_document(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let r = run(&[], Setup { stdin: bytes.clone(), need: Need::Required, ..Setup::default() });
        let doc: Value = serde_json::from_str(&r.stdout).expect("one JSON document");
        prop_assert!(doc.is_object());
        if serde_json::from_slice::<Value>(&bytes).is_err() {
            prop_assert_eq!(r.code, 2);
            prop_assert_eq!(&doc["error"]["kind"], "invalid-input");
        }
    }

    /// JSON that is not a pipewright document is refused the same way.
    #[test]
    fn arbitrary_json_values_are_refused_unless_they_are_documents(value in arb_json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let r = run(&[], Setup { stdin: bytes, need: Need::Required, ..Setup::default() });
        let doc: Value = serde_json::from_str(&r.stdout).expect("one JSON document");
        match value.get("ok") {
            Some(Value::Bool(false)) => prop_assert_eq!(r.code, 1),
            Some(Value::Bool(true)) if value.get("tool").is_some_and(Value::is_string) && value.get("schema").is_some_and(Value::is_string) => {}
            _ => {
                prop_assert_eq!(r.code, 2);
                prop_assert_eq!(&doc["error"]["kind"], "invalid-input");
            }
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("ok".to_owned()),
                    Just("tool".to_owned()),
                    Just("schema".to_owned()),
                    "[a-z]{1,4}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn secrets_never_reach_stderr_or_the_document() {
    for github in [false, true] {
        let env = if github {
            Env::default().with("GITHUB_ACTIONS", "true")
        } else {
            Env::default()
        };
        let r = run(
            &["--outcome", "leak", "-vv"],
            Setup {
                env,
                ..Setup::default()
            },
        );
        assert_eq!(r.code, 3);
        assert!(!r.stdout.contains(SECRET), "stdout leaks: {}", r.stdout);
        let doc = r.doc();
        assert_eq!(doc["error"]["message"], "auth with *** failed");
        assert_eq!(doc["error"]["hint"], "rotate ***");
        assert_eq!(
            doc["error"]["causes"],
            serde_json::json!(["server said: bad key ***"])
        );

        let leaking: Vec<&str> = r.stderr.lines().filter(|l| l.contains(SECRET)).collect();
        if github {
            // The one line allowed to carry it is the mask command itself, printed first.
            assert_eq!(leaking, vec![format!("::add-mask::{SECRET}")]);
            assert!(r.stderr.starts_with("::add-mask::"), "{}", r.stderr);
        } else {
            assert!(leaking.is_empty(), "stderr leaks: {}", r.stderr);
        }
        assert!(r.stderr.contains("token is ***"), "{}", r.stderr);
        assert!(r.stderr.contains("key=***"), "{}", r.stderr);
    }
}

#[test]
fn github_actions_gets_groups_annotations_and_a_step_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let env = Env::default()
        .with("GITHUB_ACTIONS", "true")
        .with("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
    let r = run(
        &["--outcome", "github"],
        Setup {
            env: env.clone(),
            ..Setup::default()
        },
    );
    assert_eq!(r.code, 0);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines,
        vec![
            "::group::Apply manifests",
            "deployment.apps/api configured",
            "::warning::100%25 of pods: slow%0Asecond line",
            "::endgroup::"
        ]
    );
    let written = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(
        written,
        "earlier step\n| object | status |\n| --- | --- |\n| deployment/api | healthy |\n"
    );

    let r = run(
        &["--outcome", "invalid"],
        Setup {
            env,
            ..Setup::default()
        },
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "::error title=probe failed (invalid-input)::app.yaml document 2: missing metadata.name"
        ),
        "{}",
        r.stderr
    );
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("**probe failed** (invalid-input): app.yaml document 2")
    );
}

#[test]
fn no_github_commands_outside_github_actions() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let env = Env::default().with("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
    let r = run(
        &["--outcome", "github"],
        Setup {
            env,
            ..Setup::default()
        },
    );
    assert!(!r.stderr.contains("::"), "{}", r.stderr);
    assert!(r.stderr.contains("warning: 100% of pods: slow"));
    assert!(
        !summary.exists(),
        "no summary is written outside GitHub Actions"
    );
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let colourful = |stderr_is_terminal: bool, env: Env| {
        let r = run(
            &["--outcome", "invalid"],
            Setup {
                stderr_is_terminal,
                env,
                ..Setup::default()
            },
        );
        assert!(r.stderr.contains("app.yaml document 2"));
        r.stderr.contains('\x1b')
    };
    assert!(colourful(true, Env::default()), "a terminal gets colour");
    assert!(!colourful(false, Env::default()), "a pipe gets none");
    assert!(
        !colourful(true, Env::default().with("NO_COLOR", "1")),
        "NO_COLOR wins over a terminal"
    );
    assert!(!colourful(true, Env::default().with("TERM", "dumb")));
}

#[test]
fn quiet_keeps_errors_only_and_verbose_adds_debug() {
    let quiet = run(&["--outcome", "github", "-q"], Setup::default());
    assert_eq!(quiet.stderr, "");
    let quiet_failure = run(&["--outcome", "invalid", "-q"], Setup::default());
    assert!(
        quiet_failure.stderr.contains("error: probe: app.yaml"),
        "{}",
        quiet_failure.stderr
    );
}

#[test]
fn envelope_schema_is_generated_from_the_types() {
    testbed::schema::check_committed::<Envelope>("envelope");
}

#[test]
fn the_envelope_schema_rejects_inconsistent_documents() {
    let schema_rejects = |doc: Value| {
        std::panic::catch_unwind(|| testbed::schema::assert_valid("envelope", &doc)).is_err()
    };
    assert!(
        schema_rejects(
            serde_json::json!({"ok": false, "tool": "x", "schema": "pipewright.dev/x/v1"})
        ),
        "a failure needs an error"
    );
    assert!(schema_rejects(
        serde_json::json!({"ok": true, "tool": "x", "schema": "pipewright.dev/x/v1", "error": {"kind": "failed", "message": "m"}})
    ));
    assert!(
        schema_rejects(serde_json::json!({"ok": true, "tool": "x", "schema": "x/v1"})),
        "schema must be a pipewright id"
    );
    assert!(
        schema_rejects(
            serde_json::json!({"ok": false, "tool": "x", "schema": "pipewright.dev/x/v1", "error": {"kind": "oops", "message": "m"}})
        ),
        "unknown kind"
    );
}
