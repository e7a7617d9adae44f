//! The life of one tool run, in one place: parse the command line, set up stderr, read the
//! upstream document, run the tool under its timeout, print the one document, choose the exit code.
//!
//! [`main`] does this for a real process; [`run_with`] does the same with the arguments,
//! environment and streams given, so tests drive the whole contract in-process.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use clap::error::ErrorKind as ClapErrorKind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing_subscriber::layer::SubscriberExt;

use crate::ctx::Ctx;
use crate::document::{Document, ErrorBody, Tool, mask_json_strings, render};
use crate::duration;
use crate::error::{ErrorKind, Failed, StageError, StageResult};
use crate::log::{Registry, Reporter, StderrLayer, Verbosity, mask_with, use_color};
use crate::upstream::{self, DEFAULT_MAX_INPUT_BYTES, Need, Upstream};

/// The flags every tool has. Flatten into the tool's `Cli` with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Print nothing on stderr but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr: -v debug, -vv trace, -vvv also the libraries' own logs
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// An overall `--timeout` for the step. Flatten it into tools that wait for something.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TimeoutArg {
    /// Give up after this long, with exit code 124 and what was still pending (e.g. 90s, 5m, 1h30m)
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub timeout: Option<Duration>,
}

/// A tool's command line, as the runner needs to see it.
pub trait StageCli: clap::Parser {
    fn common(&self) -> &CommonArgs;

    /// The step's overall time limit, if it has one.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// True when this run's output is read by a parent process rather than by a workflow step
    /// (oidc-creds run by an SDK as a `credential_process`). Like a run under a Kubernetes client
    /// (`KUBERNETES_EXEC_INFO`), such a run writes no GitHub Actions workflow commands: its parent
    /// quotes its stderr inside errors of its own, where `::add-mask::VALUE` would put the value
    /// itself on show.
    fn nested(&self) -> bool {
        false
    }
}

/// The variable Kubernetes clients (client-go, kube-rs) set when they run a credential plugin.
pub const EXEC_INFO_VAR: &str = "KUBERNETES_EXEC_INFO";

/// The environment variables of a run. `Debug` shows names only: values hold credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The current process's environment (values that are not UTF-8 are converted lossily).
    pub fn from_process() -> Self {
        Self(
            std::env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Sets a variable (builder style, for tests).
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// The three standard streams of a run, and whether each is a terminal.
pub struct Io {
    pub stdin: Box<dyn Read + Send>,
    pub stdout: Box<dyn Write + Send>,
    pub stderr: Box<dyn Write + Send>,
    pub stdin_is_terminal: bool,
    pub stdout_is_terminal: bool,
    pub stderr_is_terminal: bool,
}

impl Io {
    /// The process's own streams.
    pub fn process() -> Self {
        Self {
            stdin_is_terminal: std::io::stdin().is_terminal(),
            stdout_is_terminal: std::io::stdout().is_terminal(),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            stdin: Box::new(std::io::stdin()),
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
        }
    }
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("stdin_is_terminal", &self.stdin_is_terminal)
            .field("stdout_is_terminal", &self.stdout_is_terminal)
            .field("stderr_is_terminal", &self.stderr_is_terminal)
            .finish_non_exhaustive()
    }
}

/// Runs a tool as the process: its `main` is `stage::main(TOOL, Need::…, run)`.
pub fn main<C, U, T, F, Fut>(tool: Tool, need: Need, run: F) -> ExitCode
where
    C: StageCli,
    U: DeserializeOwned,
    T: Serialize,
    F: FnOnce(C, Ctx, Option<U>) -> Fut,
    Fut: Future<Output = StageResult<T>>,
{
    install_panic_document(tool);
    let code = execute(
        tool,
        need,
        std::env::args_os(),
        Env::from_process(),
        Io::process(),
        &Logging::Global,
        run,
    );
    ExitCode::from(code)
}

/// Runs a tool with the given arguments (the first is the program name), environment and
/// streams, and returns its exit code. Logging is installed for the current thread only, so
/// tests can run many of these at once.
pub fn run_with<C, U, T, F, Fut, A>(tool: Tool, need: Need, args: A, env: Env, io: Io, run: F) -> u8
where
    C: StageCli,
    U: DeserializeOwned,
    T: Serialize,
    F: FnOnce(C, Ctx, Option<U>) -> Fut,
    Fut: Future<Output = StageResult<T>>,
    A: IntoIterator,
    A::Item: Into<OsString> + Clone,
{
    execute(tool, need, args, env, io, &Logging::ThisThread, run)
}

enum Logging {
    Global,
    ThisThread,
}

fn execute<C, U, T, F, Fut, A>(
    tool: Tool,
    need: Need,
    args: A,
    env: Env,
    io: Io,
    logging: &Logging,
    run: F,
) -> u8
where
    C: StageCli,
    U: DeserializeOwned,
    T: Serialize,
    F: FnOnce(C, Ctx, Option<U>) -> Fut,
    Fut: Future<Output = StageResult<T>>,
    A: IntoIterator,
    A::Item: Into<OsString> + Clone,
{
    let Io {
        mut stdin,
        mut stdout,
        mut stderr,
        stdin_is_terminal,
        stdout_is_terminal,
        stderr_is_terminal,
    } = io;
    let color = use_color(stderr_is_terminal, env.get("NO_COLOR"), env.get("TERM"));

    let cli = match C::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            return command_line_error(
                &tool,
                &e,
                color,
                stdout_is_terminal,
                &mut *stdout,
                &mut *stderr,
            );
        }
    };

    let nested = cli.nested() || env.get(EXEC_INFO_VAR).is_some_and(|v| !v.is_empty());
    let github = env.get("GITHUB_ACTIONS") == Some("true") && !nested;
    let reporter = Reporter::new(stderr, color, github);
    let verbosity = Verbosity::from_flags(cli.common().quiet, cli.common().verbose);
    let own_targets = vec![tool.crate_name, "stage", "cluster", "pipewright_aws"];
    let subscriber = tracing_subscriber::registry().with(StderrLayer::new(
        reporter.clone(),
        verbosity,
        own_targets,
    ));
    let _guard = match logging {
        Logging::Global => {
            set_panic_registry(reporter.registry());
            // Fails only if a subscriber is already set, in which case that one keeps logging.
            let _ = tracing::subscriber::set_global_default(subscriber);
            None
        }
        Logging::ThisThread => Some(tracing::subscriber::set_default(subscriber)),
    };

    let ctx = Ctx::new(tool, env, reporter, stderr_is_terminal);
    let timeout = cli.timeout();
    let outcome: StageResult<T> = match upstream::read::<U>(
        need,
        &mut *stdin,
        stdin_is_terminal,
        DEFAULT_MAX_INPUT_BYTES,
    ) {
        Ok(Upstream::Failed(bytes)) => {
            tracing::info!("the previous step failed: doing nothing and passing its document on");
            write_stdout(&mut *stdout, &bytes, !bytes.ends_with(b"\n"));
            return ErrorKind::Failed.exit_code();
        }
        Ok(Upstream::Absent) => run_tool(&ctx, timeout, run(cli, ctx.clone(), None)),
        Ok(Upstream::Document(doc)) => run_tool(&ctx, timeout, run(cli, ctx.clone(), Some(doc))),
        Err(error) => Err(error.into()),
    };
    emit(&ctx, outcome, stdout_is_terminal, &mut *stdout)
}

/// Runs the tool's future on a single-threaded runtime: our steps wait on the network, not the
/// CPU, and one thread starts faster and keeps logging on the thread that set it up.
fn run_tool<T>(
    ctx: &Ctx,
    timeout: Option<Duration>,
    future: impl Future<Output = StageResult<T>>,
) -> StageResult<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            StageError::new(
                ErrorKind::Internal,
                format!("could not start the async runtime: {e}"),
            )
        })?;
    runtime.block_on(async {
        let Some(limit) = timeout else {
            return future.await;
        };
        if let Ok(outcome) = tokio::time::timeout(limit, future).await {
            return outcome;
        }
        let pending = ctx.pending();
        let message = if pending.is_empty() {
            format!("timed out after {}", duration::format(limit))
        } else {
            format!(
                "timed out after {} waiting for {}",
                duration::format(limit),
                pending.join(", ")
            )
        };
        Err(StageError::timeout(message)
            .with_hint("raise --timeout if the step is slow but progressing")
            .with_pending(pending)
            .into())
    })
}

/// Prints the document for the outcome and returns the exit code.
fn emit<T: Serialize>(
    ctx: &Ctx,
    outcome: StageResult<T>,
    pretty: bool,
    stdout: &mut dyn Write,
) -> u8 {
    let tool = ctx.tool();
    let (doc, code) = match outcome {
        Ok(body) if tool.carries_credentials => {
            return match render(&Document::success(tool, body), pretty) {
                Ok(text) => {
                    write_stdout(stdout, text.as_bytes(), false);
                    0
                }
                Err(e) => serialisation_bug(ctx, &e, pretty, stdout),
            };
        }
        Ok(body) => (Document::success(tool, body), 0),
        Err(Failed { error, partial }) => {
            let body = ErrorBody::from_error(&error, |text| ctx.mask(text));
            ctx.reporter().failure(tool.name, &body);
            ctx.step_summary(&format!(
                "**{} failed** ({}): {}\n",
                tool.name, body.kind, body.message
            ));
            (Document::failure(tool, body, partial), error.exit_code())
        }
    };
    match render(&doc, pretty) {
        Ok(text) => {
            // The whole document, not only the error: a report quotes container logs, events and
            // messages of the cluster, which may hold any secret this run has seen.
            let text = mask_json_strings(&text, |s| ctx.mask(s));
            write_stdout(stdout, text.as_bytes(), false);
            code
        }
        Err(e) => serialisation_bug(ctx, &e, pretty, stdout),
    }
}

/// Only a bug can get here (a report type serde cannot represent as JSON).
fn serialisation_bug(ctx: &Ctx, e: &serde_json::Error, pretty: bool, stdout: &mut dyn Write) -> u8 {
    let tool = ctx.tool();
    let error = StageError::new(
        ErrorKind::Internal,
        format!("could not serialise the report: {e}"),
    );
    let body = ErrorBody::from_error(&error, |text| ctx.mask(text));
    ctx.reporter().failure(tool.name, &body);
    let doc = Document::<()>::failure(tool, body, None);
    if let Ok(text) = render(&doc, pretty) {
        write_stdout(stdout, text.as_bytes(), false);
    }
    error.exit_code()
}

fn write_stdout(stdout: &mut dyn Write, bytes: &[u8], add_newline: bool) {
    // A reader that went away (`| head`) is its own business: not an error of ours.
    let _ = stdout.write_all(bytes);
    if add_newline {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}

/// Help and version go to stdout as text (exit 0); a wrong command line is a usage error: clap's
/// explanation on stderr and a JSON document on stdout (exit 2).
fn command_line_error(
    tool: &Tool,
    error: &clap::Error,
    color: bool,
    pretty: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let rendered = if color {
        error.render().ansi().to_string()
    } else {
        error.render().to_string()
    };
    if matches!(
        error.kind(),
        ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion
    ) {
        write_stdout(stdout, rendered.as_bytes(), !rendered.ends_with('\n'));
        return 0;
    }
    let _ = stderr.write_all(rendered.as_bytes());
    let plain = error.render().to_string();
    // clap's message may run over several lines ("the following required arguments were not
    // provided:" then the flags): keep all of it up to the usage line.
    let message = plain
        .lines()
        .take_while(|line| !line.starts_with("Usage:"))
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("tip:"))
        .collect::<Vec<_>>()
        .join(" ");
    let message = message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_owned();
    let message = if message.is_empty() {
        "invalid command line".to_owned()
    } else {
        message
    };
    let body = ErrorBody {
        kind: ErrorKind::Usage,
        message,
        hint: Some(format!("run `{} --help` for usage and examples", tool.name)),
        causes: Vec::new(),
        pending: Vec::new(),
    };
    if let Ok(text) = render(&Document::<()>::failure(tool, body, None), pretty) {
        write_stdout(stdout, text.as_bytes(), false);
    }
    ErrorKind::Usage.exit_code()
}

/// The secrets of the process's run, for the panic hook. Set once the run's reporter exists;
/// before that no secret is known, and the hook still scrubs credential shapes.
static PANIC_REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn set_panic_registry(registry: Registry) {
    *PANIC_REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(registry);
}

/// A panic's text masked like everything else the run writes. `try_lock`: a panic while the
/// registry is being changed must not deadlock; the text is then only scrubbed.
fn mask_panic_text(text: &str) -> String {
    let registry = PANIC_REGISTRY
        .try_lock()
        .ok()
        .and_then(|guard| guard.clone());
    match registry {
        Some(registry) => mask_with(&registry, text),
        None => crate::secret::scrub(text),
    }
}

/// A panic is a bug, but the pipeline downstream still deserves its one document. The panic's
/// message (its payload, which may quote any value the code held) goes through the run's mask
/// registry: the standard hook, which prints it as it is, is not used.
fn install_panic_document(tool: Tool) {
    std::panic::set_hook(Box::new(move |info| {
        let masked = mask_panic_text(&info.to_string());
        let thread = std::thread::current();
        let _ = writeln!(
            std::io::stderr(),
            "thread '{}' {masked}",
            thread.name().unwrap_or("<unnamed>")
        );
        let body = ErrorBody {
            kind: ErrorKind::Internal,
            message: format!("pipewright bug: {masked}"),
            hint: Some(
                "please report it with the command line (secrets removed) and this message"
                    .to_owned(),
            ),
            causes: Vec::new(),
            pending: Vec::new(),
        };
        if let Ok(text) = render(&Document::<()>::failure(&tool, body, None), false) {
            write_stdout(&mut std::io::stdout(), text.as_bytes(), false);
        }
        std::process::exit(i32::from(ErrorKind::Internal.exit_code()));
    }));
}
