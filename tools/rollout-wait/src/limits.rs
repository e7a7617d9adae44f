//! How much evidence a report carries: a container that logs megabytes on one line, or a crash
//! loop of stack traces, must not make a report that buries the reason or fills the job log.
//!
//! Each log line, event message and container message is cut at [`MAX_LINE_BYTES`]; each log read
//! asks the API for at most [`LOG_READ_BYTES`] (`limitBytes`); the log lines of a whole report
//! stop at [`MAX_EVIDENCE_BYTES`]. Every cut says so where it happened.

/// The most bytes of one log line or message shown: 2 KiB.
pub const MAX_LINE_BYTES: usize = 2 * 1024;
/// The most bytes read from one container's log (the API's `limitBytes`): 256 KiB.
pub const LOG_READ_BYTES: usize = 256 * 1024;
/// The most bytes of log lines in one report: 512 KiB.
pub const MAX_EVIDENCE_BYTES: usize = 512 * 1024;
/// The most log lines `--log-lines` may ask for per container.
pub const MAX_LOG_LINES: u32 = 1000;

/// What ends a line that was cut.
pub const TRUNCATED: &str = "… (truncated)";

/// `text` cut to at most [`MAX_LINE_BYTES`] (at a character boundary), marked when cut.
pub fn clip(text: &str) -> String {
    clip_to(text, MAX_LINE_BYTES)
}

/// `text` masked, then clipped: in this order, because a cut through a secret would leave a
/// prefix of it that the mask no longer recognises.
pub fn masked_clip(text: &str, mask: impl Fn(&str) -> String) -> String {
    clip(&mask(text))
}

fn clip_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED}", &text[..end])
}

/// The lines of one log read (`read` bytes long, asked for its last `tail` lines), each masked
/// by `mask` and then cut, as many as the report's budget still holds: `spent` is the bytes of
/// log lines the report has so far, and grows by what is taken. Masked before cut, so that a cut
/// never leaves half a secret unmasked.
pub fn log_lines(
    text: &str,
    read: usize,
    tail: i64,
    spent: &mut usize,
    mask: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let line = clip(&mask(line));
        if *spent + line.len() > MAX_EVIDENCE_BYTES {
            lines.push(evidence_full());
            *spent = MAX_EVIDENCE_BYTES;
            return lines;
        }
        *spent += line.len();
        lines.push(line);
    }
    if read >= LOG_READ_BYTES {
        lines.push(format!(
            "… (log read cut at {} KiB: only the start of the last {tail} lines is shown)",
            LOG_READ_BYTES / 1024
        ));
    }
    lines
}

/// The line that stands for log lines left out because the report holds enough already.
pub fn evidence_full() -> String {
    format!(
        "… (more log lines left out: a report shows at most {} KiB of them)",
        MAX_EVIDENCE_BYTES / 1024
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_across_the_cut_is_masked_whole() {
        let secret = "s3cr3t-password-value";
        let text = format!("{}{secret} and more", "x".repeat(MAX_LINE_BYTES - 8));
        let mask = |t: &str| t.replace(secret, "***");
        let shown = masked_clip(&text, mask);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        // Cut first, then masked: the prefix before the cut would stay.
        assert!(mask(&clip(&text)).contains("s3cr3t"));
    }

    #[test]
    fn a_reports_log_lines_stop_at_the_evidence_limit() {
        let mask = |l: &str| l.replace("hunter2", "***");
        let mut spent = 0;
        let lines = log_lines("a hunter2\nb\n", 12, 20, &mut spent, mask);
        assert_eq!(lines, ["a ***", "b"]);
        assert_eq!(spent, 6);
        // Near the limit: what fits, then the marker, and nothing more for later containers.
        let mut spent = MAX_EVIDENCE_BYTES - 3;
        let lines = log_lines("abc\ndef\n", 8, 20, &mut spent, mask);
        assert_eq!(lines, ["abc".to_owned(), evidence_full()]);
        assert_eq!(spent, MAX_EVIDENCE_BYTES);
        // A read that reached limitBytes says so.
        let mut spent = 0;
        let lines = log_lines("x\n", LOG_READ_BYTES, 20, &mut spent, mask);
        assert!(
            lines[1].starts_with("… (log read cut at 256 KiB"),
            "{lines:?}"
        );
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary_and_marked() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(MAX_LINE_BYTES); // two bytes each
        let cut = clip(&long);
        assert!(cut.ends_with(TRUNCATED));
        assert_eq!(cut.len(), MAX_LINE_BYTES + TRUNCATED.len());
        assert_eq!(clip_to("aé", 2), format!("a{TRUNCATED}"));
    }
}
