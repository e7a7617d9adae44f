//! Simulated time. Controllers and timestamps read this clock, never the wall clock, so a test
//! can make a 10-minute progress deadline pass in a second (`pace`) or at once (`advance`)
//! without sleeping.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use jiff::Timestamp;

/// The simulator's clock: `start + elapsed real time × pace + manual advances`.
#[derive(Debug)]
pub struct Clock {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Simulated time at `anchor`.
    base: Timestamp,
    anchor: Instant,
    pace: f64,
}

impl Clock {
    /// A clock that starts now and runs at `pace` (1.0 = real time).
    pub fn new(pace: f64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                base: Timestamp::now(),
                anchor: Instant::now(),
                pace: sanitize(pace),
            }),
        }
    }

    /// The simulated now.
    pub fn now(&self) -> Timestamp {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.now()
    }

    /// The simulated now, formatted as Kubernetes does (RFC 3339, whole seconds, `Z`).
    pub fn now_rfc3339(&self) -> String {
        format_time(self.now())
    }

    /// Moves simulated time forward at once.
    pub fn advance(&self, by: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = inner.now();
        inner.base = now.checked_add(by).unwrap_or(now);
        inner.anchor = Instant::now();
    }

    /// Changes how fast simulated time runs from now on.
    pub fn set_pace(&self, pace: f64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.base = inner.now();
        inner.anchor = Instant::now();
        inner.pace = sanitize(pace);
    }

    pub fn pace(&self) -> f64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pace
    }

    /// How long in real time until `simulated` has passed, at the current pace.
    pub fn real_duration(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.pace())
    }
}

impl Inner {
    fn now(&self) -> Timestamp {
        let elapsed = self.anchor.elapsed().mul_f64(self.pace);
        self.base.checked_add(elapsed).unwrap_or(self.base)
    }
}

fn sanitize(pace: f64) -> f64 {
    if pace.is_finite() && pace > 0.0 {
        pace
    } else {
        1.0
    }
}

/// RFC 3339 with whole seconds, as Kubernetes writes `metav1.Time`.
pub fn format_time(t: Timestamp) -> String {
    let whole = Timestamp::from_second(t.as_second()).unwrap_or(t);
    whole.to_string()
}

/// Parses a Kubernetes timestamp.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_time_without_waiting() {
        let clock = Clock::new(1.0);
        let before = clock.now();
        clock.advance(Duration::from_mins(10));
        let after = clock.now();
        assert!(after.duration_since(before).as_secs() >= 600);
    }

    #[test]
    fn timestamps_look_like_kubernetes_ones() {
        let t: Timestamp = "2026-11-23T15:04:05.123Z".parse().unwrap();
        assert_eq!(format_time(t), "2026-11-23T15:04:05Z");
        assert_eq!(
            parse_time("2026-11-23T15:04:05Z"),
            Some("2026-11-23T15:04:05Z".parse().unwrap())
        );
    }

    #[test]
    fn a_bad_pace_falls_back_to_real_time() {
        assert!((Clock::new(0.0).pace() - 1.0).abs() < f64::EPSILON);
        assert!((Clock::new(f64::NAN).pace() - 1.0).abs() < f64::EPSILON);
    }
}
