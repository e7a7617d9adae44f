//! GitHub Actions workflow commands, written on stderr when `GITHUB_ACTIONS=true`.
//!
//! The runner reads commands from any output stream of a step. Messages and property values are
//! escaped as the runner expects, or a `%` or newline in a message would cut it short or be taken
//! for an escape: data escapes `%`, CR and LF; property values also `:` and `,`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Escapes the message part of a workflow command (after the final `::`).
pub fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes a property value of a workflow command (`title=…`, `file=…`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The severity of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
        }
    }
}

/// An annotation line, e.g. `::error title=k8s-apply::deployment/api%0Aimage not found`.
pub fn annotation(level: Level, title: Option<&str>, message: &str) -> String {
    match title {
        Some(title) => format!(
            "::{} title={}::{}",
            level.command(),
            escape_property(title),
            escape_data(message)
        ),
        None => format!("::{}::{}", level.command(), escape_data(message)),
    }
}

/// The `::add-mask::` lines for a secret. The runner masks line by line, so a multi-line secret
/// (a PEM key) is announced one line at a time.
pub fn add_mask_lines(secret: &str) -> Vec<String> {
    secret
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| format!("::add-mask::{}", escape_data(line)))
        .collect()
}

/// Starts a collapsible group in the log.
pub fn group_start(name: &str) -> String {
    format!("::group::{}", escape_data(name))
}

/// Ends the current group.
pub const GROUP_END: &str = "::endgroup::";

/// Appends Markdown to the job's step summary file (`$GITHUB_STEP_SUMMARY`).
pub fn append_step_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(markdown.as_bytes())?;
    if !markdown.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// A Markdown table. Cells are escaped so that a `|` or a newline in a value keeps the table intact.
pub fn markdown_table<R, C>(headers: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = C>,
    C: IntoIterator,
    C::Item: AsRef<str>,
{
    fn cell(text: &str) -> String {
        text.replace('|', "\\|").replace(['\r', '\n'], " ")
    }
    let row_line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = row_line(headers.iter().map(|h| cell(h)).collect());
    out.push('|');
    out.push_str(&" --- |".repeat(headers.len()));
    out.push('\n');
    for row in rows {
        out.push_str(&row_line(
            row.into_iter().map(|c| cell(c.as_ref())).collect(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_escapes_percent_and_newlines_in_that_order() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        // An already escaped-looking sequence must survive a round trip through the runner.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn annotations_with_and_without_title() {
        assert_eq!(
            annotation(Level::Error, Some("k8s-apply: failed"), "line1\nline2"),
            "::error title=k8s-apply%3A failed::line1%0Aline2"
        );
        assert_eq!(
            annotation(Level::Warning, None, "careful"),
            "::warning::careful"
        );
    }

    #[test]
    fn multi_line_secrets_are_masked_line_by_line() {
        assert_eq!(
            add_mask_lines("-----BEGIN-----\nabc%def\n\n-----END-----\n"),
            vec![
                "::add-mask::-----BEGIN-----",
                "::add-mask::abc%25def",
                "::add-mask::-----END-----"
            ]
        );
    }

    #[test]
    fn tables_escape_pipes() {
        let t = markdown_table(&["object", "status"], [["deployment/a|b", "healthy"]]);
        assert_eq!(
            t,
            "| object | status |\n| --- | --- |\n| deployment/a\\|b | healthy |\n"
        );
    }
}
