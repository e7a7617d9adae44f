//! Fault injection: what a remote, busy or flaky API server does to its clients. Per-request
//! latency, a fraction of 429s (with Retry-After) and of 5xx answers, watch streams cut after N
//! events or seconds, and the whole API down for a window (connections closed at once).
//!
//! Fractions are applied deterministically, not by chance: with a fraction of 0.25, exactly every
//! fourth request fails. Tests that count retries then never depend on luck.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The faults to inject; all off by default. Also the `faults:` section of a scenario file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Added to every request before it is answered, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction (0 to 1) of requests answered 429 Too Many Requests with `Retry-After: 1`.
    #[serde(default)]
    pub throttle_fraction: f64,
    /// Fraction (0 to 1) of requests answered with `error_status` (default 500).
    #[serde(default)]
    pub error_fraction: f64,
    /// The status for injected errors: 500, 502, 503 or 504.
    #[serde(default)]
    pub error_status: Option<u16>,
    /// Watch streams end after this many events.
    #[serde(default)]
    pub watch_cut_after_events: Option<u64>,
    /// Watch streams end after this many (real) milliseconds.
    #[serde(default)]
    pub watch_cut_after_ms: Option<u64>,
    /// From start (or from when set at run time), the API is down for this many milliseconds.
    #[serde(default)]
    pub down_for_ms: Option<u64>,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Serve,
    Throttle,
    Error(u16),
}

/// Faults in force, and the counters that spread fractions evenly.
#[derive(Debug, Default)]
pub struct FaultState {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    faults: Faults,
    down_until: Option<Instant>,
    throttle_credit: f64,
    error_credit: f64,
    injected: u64,
}

impl FaultState {
    pub fn new(faults: Faults) -> Self {
        let state = Self::default();
        state.set(faults);
        state
    }

    /// Replaces the faults in force (the down window, if any, starts now).
    pub fn set(&self, faults: Faults) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.down_until = faults
            .down_for_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        inner.faults = faults;
        inner.throttle_credit = 0.0;
        inner.error_credit = 0.0;
    }

    pub fn get(&self) -> Faults {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .faults
            .clone()
    }

    /// Whether the API is down right now (the connection should be closed unanswered).
    pub fn is_down(&self) -> bool {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.down_until.is_some_and(|until| Instant::now() < until)
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(
            self.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .faults
                .latency_ms,
        )
    }

    /// Decides the fate of the next request.
    pub fn next_verdict(&self) -> Verdict {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.throttle_credit += inner.faults.throttle_fraction.clamp(0.0, 1.0);
        if inner.throttle_credit >= 1.0 {
            inner.throttle_credit -= 1.0;
            inner.injected += 1;
            return Verdict::Throttle;
        }
        inner.error_credit += inner.faults.error_fraction.clamp(0.0, 1.0);
        if inner.error_credit >= 1.0 {
            inner.error_credit -= 1.0;
            inner.injected += 1;
            return Verdict::Error(inner.faults.error_status.unwrap_or(500));
        }
        Verdict::Serve
    }

    /// How many faults (429s and 5xx) have been injected so far.
    pub fn injected(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .injected
    }

    /// When a watch stream must end: after this many events, and/or after this long.
    pub fn watch_limits(&self) -> (Option<u64>, Option<Duration>) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (
            inner.faults.watch_cut_after_events,
            inner.faults.watch_cut_after_ms.map(Duration::from_millis),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_exact_and_evenly_spread() {
        let state = FaultState::new(Faults {
            throttle_fraction: 0.25,
            ..Faults::default()
        });
        let verdicts: Vec<Verdict> = (0..8).map(|_| state.next_verdict()).collect();
        let throttled: Vec<usize> = verdicts
            .iter()
            .enumerate()
            .filter(|(_, v)| **v == Verdict::Throttle)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(throttled, vec![3, 7]);
        assert_eq!(state.injected(), 2);
    }

    #[test]
    fn errors_use_the_configured_status() {
        let state = FaultState::new(Faults {
            error_fraction: 1.0,
            error_status: Some(503),
            ..Faults::default()
        });
        assert_eq!(state.next_verdict(), Verdict::Error(503));
    }

    #[test]
    fn down_window_ends() {
        let state = FaultState::new(Faults {
            down_for_ms: Some(0),
            ..Faults::default()
        });
        assert!(!state.is_down());
        state.set(Faults {
            down_for_ms: Some(60_000),
            ..Faults::default()
        });
        assert!(state.is_down());
        state.set(Faults::default());
        assert!(!state.is_down());
    }
}
