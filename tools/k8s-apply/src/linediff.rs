//! The unified rendering of a line diff (`@@ -a,b +c,d @@` hunks with context) of two single
//! Kubernetes objects rendered as YAML, for `k8s-apply diff` and `--dry-run=server`.
//!
//! The diff itself is the `similar` crate's (Myers, with a deadline so that a huge object cannot
//! stall the run); this module only fixes what we promise of its output: nothing for equal texts,
//! and line endings that do not count.

use std::time::Duration;

use similar::{Algorithm, DiffTag, TextDiff};

/// How long the diff may look for a minimal edit script before it settles for a correct, larger
/// one.
const DEADLINE: Duration = Duration::from_secs(1);

/// What happens to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Keep,
    Remove,
    Add,
}

/// The edit script turning `old` into `new`: every line of `old` is kept or removed, every line
/// of `new` is kept or added, in order.
pub fn diff_lines<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<(Edit, &'a str)> {
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(DEADLINE)
        .diff_slices(old, new);
    // From the operations' ranges, so that the lines are borrowed from the inputs.
    let mut script = Vec::with_capacity(old.len().max(new.len()));
    for op in diff.ops() {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        let (old_lines, new_lines) = (&old[old_range], &new[new_range]);
        let mark = |edit: Edit, lines: &[&'a str]| {
            lines
                .iter()
                .map(move |line| (edit, *line))
                .collect::<Vec<_>>()
        };
        match tag {
            DiffTag::Equal => script.extend(mark(Edit::Keep, old_lines)),
            DiffTag::Delete => script.extend(mark(Edit::Remove, old_lines)),
            DiffTag::Insert => script.extend(mark(Edit::Add, new_lines)),
            DiffTag::Replace => {
                script.extend(mark(Edit::Remove, old_lines));
                script.extend(mark(Edit::Add, new_lines));
            }
        }
    }
    script
}

/// A unified diff of two texts with `context` lines around each change, or the empty string when
/// they are equal. Lines are compared without their line endings.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str, context: usize) -> String {
    let old = normalize_endings(old);
    let new = normalize_endings(new);
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(DEADLINE)
        .diff_lines(&old, &new);
    if diff.ops().iter().all(|op| op.tag() == DiffTag::Equal) {
        return String::new();
    }
    diff.unified_diff()
        .context_radius(context)
        .header(old_label, new_label)
        .to_string()
}

/// `\r\n` as `\n`, and a final newline, so that neither reads as a change.
fn normalize_endings(text: &str) -> String {
    let mut text = text.replace("\r\n", "\n");
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "y", 3), "");
        assert_eq!(unified("", "", "x", "y", 3), "");
    }

    #[test]
    fn one_changed_line_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            unified(old, new, "live", "applied", 3),
            "--- live\n+++ applied\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_make_two_hunks_and_near_ones_one() {
        let lines: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
        let with = |changed: &[usize]| {
            let mut edited = lines.clone();
            for &i in changed {
                edited[i - 1] = format!("changed {i}");
            }
            edited.join("\n") + "\n"
        };
        let old = with(&[]);
        // Lines 2 and 10: 7 unchanged lines apart, more than twice the context.
        let diff = unified(&old, &with(&[2, 10]), "a", "b", 3);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(
            diff.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+changed 2\n"),
            "{diff}"
        );
        assert!(diff.contains("@@ -7,7 +7,7 @@\n"), "{diff}");
        // Lines 2 and 9: 6 apart, so their contexts touch and make one hunk.
        let diff = unified(&old, &with(&[2, 9]), "a", "b", 3);
        assert_eq!(diff.matches("@@ -").count(), 1, "{diff}");
        assert!(diff.contains("@@ -1,12 +1,12 @@\n"), "{diff}");
    }

    #[test]
    fn from_nothing_and_to_nothing() {
        assert_eq!(
            unified("", "a\nb\n", "/dev/null", "new", 3),
            "--- /dev/null\n+++ new\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
        assert_eq!(
            unified("a\n", "", "old", "/dev/null", 3),
            "--- old\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n"
        );
    }

    #[test]
    fn line_endings_do_not_count() {
        assert_eq!(unified("a\r\nb\r\n", "a\nb\n", "x", "y", 3), "");
    }

    #[test]
    fn large_rewrites_still_rebuild_both_sides() {
        let old: Vec<String> = (0..2000).map(|i| format!("old {i}")).collect();
        let new: Vec<String> = (0..2000).map(|i| format!("new {i}")).collect();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let script = diff_lines(&old, &new);
        assert_eq!(script.len(), 4000);
        assert_eq!(
            script.iter().filter(|(e, _)| *e == Edit::Remove).count(),
            2000
        );
        assert_eq!(script.iter().filter(|(e, _)| *e == Edit::Add).count(), 2000);
    }

    proptest! {
        #[test]
        fn the_script_rebuilds_both_sides(
            old in proptest::collection::vec("[abc]", 0..30),
            new in proptest::collection::vec("[abc]", 0..30),
        ) {
            let old: Vec<&str> = old.iter().map(String::as_str).collect();
            let new: Vec<&str> = new.iter().map(String::as_str).collect();
            let script = diff_lines(&old, &new);
            let rebuilt_old: Vec<&str> = script.iter().filter(|(e, _)| *e != Edit::Add).map(|(_, l)| *l).collect();
            let rebuilt_new: Vec<&str> = script.iter().filter(|(e, _)| *e != Edit::Remove).map(|(_, l)| *l).collect();
            prop_assert_eq!(rebuilt_old, old);
            prop_assert_eq!(rebuilt_new, new);
        }
    }
}
