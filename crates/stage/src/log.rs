//! Everything a tool says on stderr: log events from `tracing`, the final error, GitHub Actions
//! commands. One [`Reporter`] owns the stream so that masking, colour and the GitHub format are
//! decided in one place.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::document::ErrorBody;
use crate::github;
use crate::secret::{lines_of, mask_values, scrub};

/// Whether to colour stderr: only for a person at a terminal, never when `NO_COLOR` is set to
/// anything (<https://no-color.org>), never for `TERM=dumb`.
pub(crate) fn use_color(
    stderr_is_terminal: bool,
    no_color: Option<&str>,
    term: Option<&str>,
) -> bool {
    stderr_is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
}

/// How much to say: `-q` errors only, default info, `-v` debug, `-vv` trace. Dependencies' own
/// events are shown from warnings up, and in full only at `-vvv`, because their debug output is
/// long and not written with our readers (or our secrets) in mind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verbosity {
    pub own: LevelFilter,
    pub dependencies: LevelFilter,
}

impl Verbosity {
    pub(crate) fn from_flags(quiet: bool, verbose: u8) -> Self {
        if quiet {
            return Self {
                own: LevelFilter::ERROR,
                dependencies: LevelFilter::ERROR,
            };
        }
        let own = match verbose {
            0 => LevelFilter::INFO,
            1 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        };
        let dependencies = if verbose >= 3 {
            LevelFilter::DEBUG
        } else {
            LevelFilter::WARN
        };
        Self { own, dependencies }
    }
}

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// The registered secret values of a run, longest first.
pub(crate) type Registry = Arc<RwLock<Vec<String>>>;

/// `text` masked with a registry's values, then scrubbed.
pub(crate) fn mask_with(registry: &Registry, text: &str) -> String {
    let secrets = registry.read().unwrap_or_else(PoisonError::into_inner);
    scrub(&mask_values(text, secrets.iter().map(String::as_str)))
}

/// The stderr stream of one run.
#[derive(Clone)]
pub(crate) struct Reporter {
    sink: Sink,
    color: bool,
    github: bool,
    secrets: Registry,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("color", &self.color)
            .field("github", &self.github)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    pub(crate) fn new(stderr: Box<dyn Write + Send>, color: bool, github: bool) -> Self {
        Self {
            sink: Arc::new(Mutex::new(stderr)),
            color,
            github,
            secrets: Arc::default(),
        }
    }

    pub(crate) fn color(&self) -> bool {
        self.color
    }

    pub(crate) fn github(&self) -> bool {
        self.github
    }

    /// Replaces every registered secret value in `text` with `***`, then removes workflow commands
    /// and credential shapes ([`scrub`]): text from child processes carries secrets we never
    /// registered.
    pub(crate) fn mask(&self, text: &str) -> String {
        mask_with(&self.secrets, text)
    }

    /// The registry itself, for the panic hook (which outlives nothing but must mask too).
    pub(crate) fn registry(&self) -> Registry {
        Arc::clone(&self.secrets)
    }

    /// Remembers a secret value so that nothing this reporter writes can show it, and under GitHub
    /// Actions tells the runner to mask it in the whole job log, before anything else is printed.
    pub(crate) fn register_secret(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if secrets.iter().any(|s| s == value) {
            return;
        }
        if self.github {
            for line in github::add_mask_lines(value) {
                self.write_unmasked(&line);
            }
        }
        secrets.push(value.to_owned());
        // A PEM key is often shown one line at a time (a log line, a table cell): each line of a
        // multi-line value is masked on its own as well.
        for line in lines_of(value) {
            if !secrets.iter().any(|s| s == line) {
                secrets.push(line.to_owned());
            }
        }
        // Longest first, so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Writes a workflow command of our own, whose text the caller has masked: masking the whole
    /// line would remove the command itself.
    pub(crate) fn command(&self, line: &str) {
        self.write_unmasked(line);
    }

    fn write_unmasked(&self, text: &str) {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        // stderr going away (a closed pipe) must never turn into a failure of the step.
        let _ = writeln!(sink, "{text}");
        let _ = sink.flush();
    }

    fn paint(&self, text: &str, ansi: &str) -> String {
        if self.color {
            format!("\x1b[{ansi}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// One log event.
    pub(crate) fn event(&self, level: Level, message: &str) {
        let message = &self.mask(message);
        let line = match level {
            Level::ERROR if self.github => github::annotation(github::Level::Error, None, message),
            Level::WARN if self.github => github::annotation(github::Level::Warning, None, message),
            Level::ERROR => format!("{}: {message}", self.paint("error", "1;31")),
            Level::WARN => format!("{}: {message}", self.paint("warning", "1;33")),
            Level::INFO => message.to_owned(),
            Level::DEBUG => format!("{}: {message}", self.paint("debug", "2")),
            Level::TRACE => format!("{}: {message}", self.paint("trace", "2")),
        };
        self.write_unmasked(&line);
    }

    /// The error that ended the step, with its causes and hint. The body is already masked.
    pub(crate) fn failure(&self, tool: &str, error: &ErrorBody) {
        let mut detail = error.message.clone();
        for cause in &error.causes {
            let _ = write!(detail, "\n  caused by: {cause}");
        }
        if let Some(hint) = &error.hint {
            let _ = write!(detail, "\n  hint: {hint}");
        }
        let detail = self.mask(&detail);
        if self.github {
            let title = format!("{tool} failed ({})", error.kind);
            self.write_unmasked(&github::annotation(
                github::Level::Error,
                Some(&title),
                &detail,
            ));
        } else {
            self.write_unmasked(&format!(
                "{}: {tool}: {detail}",
                self.paint("error", "1;31")
            ));
        }
    }
}

/// Dependencies whose errors are ours to report. kube's HTTP layer logs every 5xx and
/// connection failure at ERROR, retried or not; the tools retry those themselves and say so in
/// their own words, so kube's line would be a false `error:` (an `::error::` annotation under
/// GitHub Actions). Shown from `-vvv` on, with the rest of the dependencies' debug output.
const QUIET_TARGETS: [&str; 1] = ["kube_client::client"];

/// The `tracing` layer that renders events through a [`Reporter`].
pub(crate) struct StderrLayer {
    reporter: Reporter,
    verbosity: Verbosity,
    own_targets: Vec<&'static str>,
}

impl StderrLayer {
    pub(crate) fn new(
        reporter: Reporter,
        verbosity: Verbosity,
        own_targets: Vec<&'static str>,
    ) -> Self {
        Self {
            reporter,
            verbosity,
            own_targets,
        }
    }

    fn max_level_for(&self, target: &str) -> LevelFilter {
        let own = self.own_targets.iter().any(|own| {
            target == *own
                || target
                    .strip_prefix(own)
                    .is_some_and(|rest| rest.starts_with("::"))
        });
        if own {
            self.verbosity.own
        } else if QUIET_TARGETS.iter().any(|quiet| target.starts_with(quiet))
            && self.verbosity.dependencies < LevelFilter::DEBUG
        {
            LevelFilter::OFF
        } else {
            self.verbosity.dependencies
        }
    }
}

impl<S: Subscriber> Layer<S> for StderrLayer {
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *metadata.level() <= self.max_level_for(metadata.target())
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() > self.max_level_for(metadata.target()) {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        self.reporter.event(*metadata.level(), &visitor.finish());
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.verbosity.own.max(self.verbosity.dependencies))
    }
}

/// Renders an event as `message key=value key=value`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(self) -> String {
        self.message + &self.fields
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_color(true, None, Some("xterm")));
        assert!(
            use_color(true, Some(""), None),
            "an empty NO_COLOR does not count"
        );
        assert!(!use_color(true, Some("1"), None));
        assert!(!use_color(false, None, None));
        assert!(!use_color(true, None, Some("dumb")));
    }

    #[test]
    fn verbosity_keeps_dependencies_quiet_until_vvv() {
        let v = Verbosity::from_flags(false, 2);
        assert_eq!(v.own, LevelFilter::TRACE);
        assert_eq!(v.dependencies, LevelFilter::WARN);
        assert_eq!(
            Verbosity::from_flags(false, 3).dependencies,
            LevelFilter::DEBUG
        );
        assert_eq!(Verbosity::from_flags(true, 0).own, LevelFilter::ERROR);
    }

    #[test]
    fn own_targets_match_whole_path_segments() {
        let layer = StderrLayer::new(
            Reporter::new(Box::new(std::io::sink()), false, false),
            Verbosity::from_flags(false, 1),
            vec!["stage"],
        );
        assert_eq!(layer.max_level_for("stage"), LevelFilter::DEBUG);
        assert_eq!(layer.max_level_for("stage::runner"), LevelFilter::DEBUG);
        assert_eq!(layer.max_level_for("stagecoach"), LevelFilter::WARN);
    }

    #[test]
    fn kube_client_errors_show_only_with_dependency_debug_output() {
        let layer = |verbose| {
            StderrLayer::new(
                Reporter::new(Box::new(std::io::sink()), false, false),
                Verbosity::from_flags(false, verbose),
                vec!["stage"],
            )
        };
        let target = "kube_client::client::builder";
        assert_eq!(layer(0).max_level_for(target), LevelFilter::OFF);
        assert_eq!(layer(2).max_level_for(target), LevelFilter::OFF);
        assert_eq!(layer(3).max_level_for(target), LevelFilter::DEBUG);
        // Other dependencies keep their warnings.
        assert_eq!(layer(0).max_level_for("hyper_util"), LevelFilter::WARN);
    }
}
