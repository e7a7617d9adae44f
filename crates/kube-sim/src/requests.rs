//! The request log: every request the server answered, with when it arrived and when its answer
//! was ready, for benchmarks and tests that count a client's round trips and how many of them
//! wait on one another (`kube-sim serve --request-log FILE`, `sim.sim().requests`).
//!
//! Off by default: a long-running simulator would otherwise keep every request in memory.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub status: u16,
    /// Since the log was turned on, in microseconds: when the request arrived…
    pub start_us: u64,
    /// …and when its answer (for a watch: its headers) was ready.
    pub end_us: u64,
}

/// Requests answered since [`RequestLog::enable`], kept in memory and, when given, appended to
/// a file as JSON lines.
#[derive(Debug)]
pub struct RequestLog {
    enabled: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    origin: Instant,
    entries: Vec<Request>,
    file: Option<std::fs::File>,
}

impl Default for RequestLog {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                origin: Instant::now(),
                entries: Vec::new(),
                file: None,
            }),
        }
    }
}

impl RequestLog {
    /// Starts logging (again), from an empty log whose clock starts now.
    pub fn enable(&self) {
        let mut inner = self.lock();
        inner.origin = Instant::now();
        inner.entries.clear();
        self.enabled.store(true, Ordering::Release);
    }

    /// Also appends every request to `file`, one JSON object a line.
    pub fn write_to(&self, file: std::fs::File) {
        self.lock().file = Some(file);
        self.enable();
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Records one request (nothing when the log is off).
    pub fn record(&self, method: &str, path: &str, status: u16, started: Instant) {
        if !self.is_enabled() {
            return;
        }
        let ended = Instant::now();
        let mut inner = self.lock();
        let micros = |at: Instant| {
            u64::try_from(at.saturating_duration_since(inner.origin).as_micros())
                .unwrap_or(u64::MAX)
        };
        let request = Request {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            start_us: micros(started),
            end_us: micros(ended),
        };
        if let Some(file) = inner.file.as_mut()
            && let Ok(line) = serde_json::to_string(&request)
        {
            // A benchmark's log; a full disk must not take the API down with it.
            let _ = writeln!(file, "{line}");
        }
        inner.entries.push(request);
    }

    /// The requests logged so far, in the order their answers were ready; the log goes on.
    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut self.lock().entries)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many of `requests` wait one for another: the longest chain in which each request arrived
/// after the one before it had been answered. Requests that overlap in time count once; with a
/// latency L added to every request, a client cannot finish faster than this many times L.
pub fn critical_path(requests: &[Request]) -> usize {
    let mut by_start: Vec<&Request> = requests.iter().collect();
    by_start.sort_by_key(|r| r.start_us);
    // depth[i]: the longest chain ending with request i.
    let mut depth: Vec<usize> = Vec::with_capacity(by_start.len());
    for (i, request) in by_start.iter().enumerate() {
        let before = by_start[..i]
            .iter()
            .zip(&depth)
            .filter(|(earlier, _)| earlier.end_us <= request.start_us)
            .map(|(_, d)| *d)
            .max()
            .unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

/// The time from the first arrival to the last answer.
pub fn span(requests: &[Request]) -> Duration {
    let start = requests.iter().map(|r| r.start_us).min().unwrap_or(0);
    let end = requests.iter().map(|r| r.end_us).max().unwrap_or(0);
    Duration::from_micros(end.saturating_sub(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(start_us: u64, end_us: u64) -> Request {
        Request {
            method: "GET".to_owned(),
            path: "/".to_owned(),
            status: 200,
            start_us,
            end_us,
        }
    }

    #[test]
    fn overlapping_requests_count_once_on_the_critical_path() {
        // Two in a row, then three at once, then one: a chain of four.
        let log = [
            request(0, 30),
            request(31, 61),
            request(62, 92),
            request(63, 93),
            request(64, 94),
            request(95, 125),
        ];
        assert_eq!(critical_path(&log), 4);
        assert_eq!(span(&log), Duration::from_micros(125));
        assert_eq!(critical_path(&[]), 0);
    }

    #[test]
    fn a_log_that_is_off_keeps_nothing() {
        let log = RequestLog::default();
        log.record("GET", "/api", 200, Instant::now());
        assert!(log.take().is_empty());
        log.enable();
        log.record("GET", "/api", 200, Instant::now());
        let taken = log.take();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].path, "/api");
    }
}
