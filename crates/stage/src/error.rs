//! Errors as data: every failure a tool can report has a kind, and the kind alone decides the
//! exit code (DESIGN §3), in one place, so no code below `main` ever calls `exit`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What kind of failure ended a step. Serialised in kebab-case as `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The step ran and its outcome was a failure: a rollout went unhealthy, a check failed,
    /// a backup did not verify. Exit 1.
    Failed,
    /// The command line was wrong: an unknown flag, a missing argument. Nothing was changed. Exit 2.
    Usage,
    /// The input was wrong: a manifest, a file, the document on stdin. Nothing was changed. Exit 2.
    InvalidInput,
    /// A dependency (an API, a database, an endpoint) could not be reached, even after retries.
    /// Exit 3.
    Unavailable,
    /// A dependency refused our credentials. Exit 3.
    Unauthorized,
    /// The step's own `--timeout` ran out. Exit 124, as `timeout(1)` does.
    Timeout,
    /// A bug in pipewright itself (a panic). Exit 1.
    Internal,
}

impl ErrorKind {
    /// The process exit code for this kind of failure.
    pub const fn exit_code(self) -> u8 {
        match self {
            Self::Failed | Self::Internal => 1,
            Self::Usage | Self::InvalidInput => 2,
            Self::Unavailable | Self::Unauthorized => 3,
            Self::Timeout => 124,
        }
    }

    /// The kebab-case name used in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Usage => "usage",
            Self::InvalidInput => "invalid-input",
            Self::Unavailable => "unavailable",
            Self::Unauthorized => "unauthorized",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure a tool reports: a kind (which decides the exit code), a message that says what went
/// wrong and where, an optional hint that says how to fix it, and the underlying cause.
///
/// Messages are for people: "manifests/app.yaml document 3: missing metadata.name", not
/// "missing field". Never format a secret into one; wrap secrets in [`crate::Secret`], whose
/// `Display` is `***`. As a second line of defence the runner also masks every registered secret
/// value in the message, hint and causes before they reach stderr or stdout.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StageError {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    pending: Vec<String>,
    #[source]
    source: Option<Source>,
}

impl StageError {
    /// A failure of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            pending: Vec::new(),
            source: None,
        }
    }

    /// The step ran and failed (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    /// Bad command line (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// Bad input (exit 2).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// A dependency could not be reached (exit 3).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// A dependency refused authentication (exit 3).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    /// The step's `--timeout` ran out (exit 124).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// Adds how to fix it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds the underlying error; its chain is reported as `causes`.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Adds what the step was still waiting for (used with [`ErrorKind::Timeout`]).
    #[must_use]
    pub fn with_pending(mut self, pending: impl IntoIterator<Item = String>) -> Self {
        self.pending.extend(pending);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    pub fn pending(&self) -> &[String] {
        &self.pending
    }

    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// The `Display` of each error in the source chain, outermost first.
    pub fn causes(&self) -> Vec<String> {
        let mut causes = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(err) = next {
            causes.push(err.to_string());
            next = err.source();
        }
        causes
    }
}

/// How a step ends when it fails: the error, and whatever part of its report it could still fill
/// in (rollout-wait reports every object's state even when one of them failed).
#[derive(Debug)]
pub struct Failed<T> {
    pub error: StageError,
    pub partial: Option<T>,
}

impl<T> Failed<T> {
    /// A failure that still carries the tool's report.
    pub fn with_report(error: StageError, report: T) -> Self {
        Self {
            error,
            partial: Some(report),
        }
    }
}

impl<T> From<StageError> for Failed<T> {
    fn from(error: StageError) -> Self {
        Self {
            error,
            partial: None,
        }
    }
}

/// What a tool's `run` returns: its report, or a failure (`?` converts a [`StageError`]).
pub type StageResult<T> = Result<T, Failed<T>>;
