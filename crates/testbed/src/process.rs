//! Child processes of the test bed: free ports, log files, and the marker that finds leaks.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

/// Every directory the test bed creates, and so every server's command line, contains this
/// string: `pgrep -f pipewright-testbed` after a suite finds anything it left running.
pub const LEAK_MARKER: &str = "pipewright-testbed";

/// A TCP port free on 127.0.0.1 right now. Another process may take it before ours binds, so
/// launchers retry on a bind failure.
pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(crate) fn other(message: impl Into<String>) -> std::io::Error {
    std::io::Error::other(message.into())
}
