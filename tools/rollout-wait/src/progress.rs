//! Progress on stderr as counts change: one plain line per change in CI and pipes
//! (`deployment/api: 2/3 updated, 1/3 available`), a live block of one line per object redrawn in
//! place on a terminal.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;

use stage::Ctx;

use crate::report::Status;
use crate::target::Target;
use crate::wait::Verdict;

/// The progress display of one wait.
#[derive(Debug)]
pub struct Progress {
    names: Vec<String>,
    last: Vec<Option<String>>,
    live: bool,
    color: bool,
    drawn: usize,
}

impl Progress {
    pub fn new(ctx: &Ctx, targets: &[Target], quiet: bool) -> Self {
        // Cluster-scoped objects (a Namespace) do not make the list ambiguous.
        let namespaces: BTreeSet<_> = targets
            .iter()
            .filter_map(|t| t.namespace.as_deref())
            .collect();
        let names = targets
            .iter()
            .map(|t| match (&t.namespace, namespaces.len() > 1) {
                (Some(ns), true) => format!("{} ({ns})", t.display()),
                _ => t.display(),
            })
            .collect();
        Self {
            names,
            last: vec![None; targets.len()],
            // A live display only for a person watching, and never under -q (tracing decides
            // that for plain lines; a terminal display has to ask).
            // A `dumb` terminal cannot move the cursor: plain lines there too.
            live: ctx.stderr_is_terminal()
                && ctx.environment().get("TERM") != Some("dumb")
                && !ctx.github_actions()
                && !quiet,
            color: ctx.color(),
            drawn: 0,
        }
    }

    /// Shows what changed since the last call.
    pub fn update(&mut self, verdicts: &[Verdict]) {
        let lines: Vec<String> = verdicts.iter().map(line).collect();
        if self.live {
            if self
                .last
                .iter()
                .zip(&lines)
                .any(|(a, b)| a.as_ref() != Some(b))
            {
                self.redraw(&lines);
            }
        } else {
            for (i, text) in lines.iter().enumerate() {
                if self.last[i].as_ref() != Some(text) {
                    tracing::info!("{}: {text}", self.names[i]);
                }
            }
        }
        self.last = lines.into_iter().map(Some).collect();
    }

    /// The final state (a live display is left on screen as it ends).
    pub fn finish(&mut self, verdicts: &[Verdict]) {
        self.update(verdicts);
    }

    fn redraw(&mut self, lines: &[String]) {
        let mut out = String::new();
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A", self.drawn);
        }
        for (name, text) in self.names.iter().zip(lines) {
            let name = if self.color {
                format!("\x1b[1m{name}\x1b[0m")
            } else {
                name.clone()
            };
            let _ = writeln!(out, "\x1b[2K{name}: {text}");
        }
        self.drawn = lines.len();
        let mut stderr = std::io::stderr().lock();
        // A closed stderr is not the step's failure.
        let _ = stderr.write_all(out.as_bytes());
        let _ = stderr.flush();
    }
}

fn line(verdict: &Verdict) -> String {
    let health = &verdict.health;
    match health.status {
        Status::Healthy => match verdict.healthy_after {
            Some(after) => format!(
                "healthy after {} ({})",
                stage::duration::format(after),
                health.message
            ),
            None => format!("healthy ({})", health.message),
        },
        Status::Progressing => health
            .progress
            .clone()
            .unwrap_or_else(|| health.message.clone()),
        Status::Degraded => format!("failed: {}", health.reason),
        Status::Timeout => format!("still waiting: {}", health.message),
    }
}
