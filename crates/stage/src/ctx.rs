//! What a running tool may ask of its surroundings: the environment it was given, stderr's
//! capabilities, secret registration, GitHub Actions groups and step summary, and the list of
//! things it is still waiting for (reported if `--timeout` runs out).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use crate::document::Tool;
use crate::github;
use crate::log::Reporter;
use crate::runner::Env;
use crate::secret::Secret;

/// The run's context, cheap to clone and to pass into tasks.
#[derive(Clone, Debug)]
pub struct Ctx {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tool: Tool,
    env: Env,
    reporter: Reporter,
    stderr_is_terminal: bool,
    pending: Mutex<Vec<String>>,
}

impl Ctx {
    pub(crate) fn new(tool: Tool, env: Env, reporter: Reporter, stderr_is_terminal: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                tool,
                env,
                reporter,
                stderr_is_terminal,
                pending: Mutex::default(),
            }),
        }
    }

    pub fn tool(&self) -> &Tool {
        &self.inner.tool
    }

    /// An environment variable of the run, `None` when unset or empty (CI systems often export
    /// empty variables, which should not override defaults).
    pub fn env(&self, name: &str) -> Option<&str> {
        self.inner.env.get(name).filter(|v| !v.is_empty())
    }

    /// The whole environment of the run (to pass on to SDKs and child processes).
    pub fn environment(&self) -> &Env {
        &self.inner.env
    }

    /// True under GitHub Actions (`GITHUB_ACTIONS=true`).
    pub fn github_actions(&self) -> bool {
        self.inner.reporter.github()
    }

    /// True when a person is watching stderr: live progress displays are allowed.
    pub fn stderr_is_terminal(&self) -> bool {
        self.inner.stderr_is_terminal
    }

    /// True when stderr may be coloured.
    pub fn color(&self) -> bool {
        self.inner.reporter.color()
    }

    /// Declares a secret: from now on its value is masked in everything this run writes on stderr
    /// and in error documents, and under GitHub Actions it is masked in the whole job log.
    /// Call it as soon as the value is known, before anything could print it.
    pub fn register_secret(&self, secret: &Secret) {
        self.inner.reporter.register_secret(secret.expose());
    }

    /// `text` with every registered secret value replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        self.inner.reporter.mask(text)
    }

    /// Starts a collapsible log group under GitHub Actions (a no-op elsewhere); it ends when the
    /// returned guard is dropped.
    #[must_use = "the group ends when this guard is dropped"]
    pub fn group(&self, name: &str) -> Group {
        if self.github_actions() {
            let name = self.mask(name);
            self.inner.reporter.command(&github::group_start(&name));
        }
        Group { ctx: self.clone() }
    }

    /// Appends Markdown to `$GITHUB_STEP_SUMMARY` under GitHub Actions (masked; a no-op elsewhere).
    /// A summary that cannot be written is a warning, never a failure of the step.
    pub fn step_summary(&self, markdown: &str) {
        let Some(path) = self.step_summary_path() else {
            return;
        };
        if let Err(e) = github::append_step_summary(&path, &self.mask(markdown)) {
            tracing::warn!(
                "could not append to the step summary {}: {e}",
                path.display()
            );
        }
    }

    fn step_summary_path(&self) -> Option<PathBuf> {
        if !self.github_actions() {
            return None;
        }
        self.env("GITHUB_STEP_SUMMARY").map(PathBuf::from)
    }

    /// Replaces the list of things the step is still waiting for; the runner reports it if the
    /// step's `--timeout` runs out.
    pub fn set_pending(&self, items: impl IntoIterator<Item = impl Into<String>>) {
        let mut pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *pending = items.into_iter().map(Into::into).collect();
    }

    pub(crate) fn pending(&self) -> Vec<String> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn reporter(&self) -> &Reporter {
        &self.inner.reporter
    }
}

/// An open GitHub Actions log group; see [`Ctx::group`].
#[derive(Debug)]
pub struct Group {
    ctx: Ctx,
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.ctx.github_actions() {
            self.ctx.inner.reporter.command(github::GROUP_END);
        }
    }
}
