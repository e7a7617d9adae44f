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

#[cfg(test)]
mod tests {
    use super::*;

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
