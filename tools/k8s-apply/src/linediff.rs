//! A line diff and its unified rendering (`@@ -a,b +c,d @@` hunks with context), small enough
//! to own: the inputs are single Kubernetes objects rendered as YAML.
//!
//! The common prefix and suffix are matched first (a deploy usually changes a few lines of a
//! long object); the middle is diffed by longest common subsequence. If the middle is too large
//! for a quadratic table, it is reported as all removed then all added: still a correct diff,
//! just not a minimal one, and memory stays bounded.

use std::fmt::Write as _;

/// Cells of the LCS table beyond which the middle is not diffed line by line (4 MiB of `u32`).
const MAX_TABLE_CELLS: usize = 1 << 20;

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
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_mid, new_mid) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );

    let mut script: Vec<(Edit, &str)> = old[..prefix].iter().map(|l| (Edit::Keep, *l)).collect();
    let cells = (old_mid.len() + 1).saturating_mul(new_mid.len() + 1);
    if cells <= MAX_TABLE_CELLS {
        lcs_script(old_mid, new_mid, &mut script);
    } else {
        script.extend(old_mid.iter().map(|l| (Edit::Remove, *l)));
        script.extend(new_mid.iter().map(|l| (Edit::Add, *l)));
    }
    script.extend(old[old.len() - suffix..].iter().map(|l| (Edit::Keep, *l)));
    script
}

/// Appends the LCS edit script of `old` against `new`. The table holds, for each pair of
/// suffixes, the length of their longest common subsequence; walking it from the front keeps a
/// line when both sides agree and otherwise takes the side that keeps the longer subsequence,
/// removals before additions on ties (as `diff -u` reads best).
fn lcs_script<'a>(old: &[&'a str], new: &[&'a str], script: &mut Vec<(Edit, &'a str)>) {
    let width = new.len() + 1;
    let mut table = vec![0u32; (old.len() + 1) * width];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            table[i * width + j] = if old[i] == new[j] {
                table[(i + 1) * width + j + 1] + 1
            } else {
                table[(i + 1) * width + j].max(table[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < new.len() {
        if old[i] == new[j] {
            script.push((Edit::Keep, old[i]));
            i += 1;
            j += 1;
        } else if table[(i + 1) * width + j] >= table[i * width + j + 1] {
            script.push((Edit::Remove, old[i]));
            i += 1;
        } else {
            script.push((Edit::Add, new[j]));
            j += 1;
        }
    }
    script.extend(old[i..].iter().map(|l| (Edit::Remove, *l)));
    script.extend(new[j..].iter().map(|l| (Edit::Add, *l)));
}

/// A unified diff of two texts with `context` lines around each change, or the empty string when
/// they are equal. Lines are compared without their line endings.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str, context: usize) -> String {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let script = diff_lines(&old_lines, &new_lines);
    let changes: Vec<usize> = script
        .iter()
        .enumerate()
        .filter(|(_, (edit, _))| *edit != Edit::Keep)
        .map(|(i, _)| i)
        .collect();
    if changes.is_empty() {
        return String::new();
    }

    // Hunks as ranges of the script: each change with its context, merged when they touch.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &at in &changes {
        let start = at.saturating_sub(context);
        let end = (at + context + 1).min(script.len());
        match hunks.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => hunks.push((start, end)),
        }
    }

    // Line numbers before each script position, on each side.
    let mut old_before = Vec::with_capacity(script.len() + 1);
    let mut new_before = Vec::with_capacity(script.len() + 1);
    let (mut o, mut n) = (0usize, 0usize);
    for (edit, _) in &script {
        old_before.push(o);
        new_before.push(n);
        match edit {
            Edit::Keep => {
                o += 1;
                n += 1;
            }
            Edit::Remove => o += 1,
            Edit::Add => n += 1,
        }
    }
    old_before.push(o);
    new_before.push(n);

    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    for (start, end) in hunks {
        let old_count = old_before[end] - old_before[start];
        let new_count = new_before[end] - new_before[start];
        let _ = writeln!(
            out,
            "@@ -{} +{} @@",
            range(old_before[start], old_count),
            range(new_before[start], new_count)
        );
        for (edit, line) in &script[start..end] {
            let mark = match edit {
                Edit::Keep => ' ',
                Edit::Remove => '-',
                Edit::Add => '+',
            };
            let _ = writeln!(out, "{mark}{line}");
        }
    }
    out
}

/// A hunk range as GNU diff writes it: `start,count` with 1-based `start`, the count left out
/// when it is 1, and an empty range given as the line before it.
fn range(lines_before: usize, count: usize) -> String {
    match count {
        0 => format!("{lines_before},0"),
        1 => format!("{}", lines_before + 1),
        _ => format!("{},{count}", lines_before + 1),
    }
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
    fn large_middles_fall_back_to_remove_then_add() {
        let old: Vec<String> = (0..2000).map(|i| format!("old {i}")).collect();
        let new: Vec<String> = (0..2000).map(|i| format!("new {i}")).collect();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let script = diff_lines(&old, &new);
        assert_eq!(script.len(), 4000);
        assert!(script[..2000].iter().all(|(e, _)| *e == Edit::Remove));
        assert!(script[2000..].iter().all(|(e, _)| *e == Edit::Add));
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
