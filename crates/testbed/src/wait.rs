//! Waiting on a condition with a deadline: the only way tests here synchronise.

use std::time::{Duration, Instant};

/// Calls `probe` until it returns `Some`, backing off from 10 ms to 250 ms between calls, and
/// fails with a message naming `what` once `deadline` has passed.
pub fn wait_until<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> std::io::Result<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if start.elapsed() >= deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("gave up after {deadline:?} waiting for {what}"),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
