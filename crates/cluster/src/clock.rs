//! The wall clock that decides when a deploy lock has expired, replaceable in tests.
//!
//! A Lease records times written by whichever machine renewed it; comparing them with our own
//! clock is how a waiter notices a dead holder quickly. Tests pass a clock set ahead to make a
//! lock look expired without waiting for it (and one set behind to prove that expiry is also
//! noticed without trusting the other machine's clock; see `lock`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

/// A source of "now". Cheap to clone.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl WallClock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(Timestamp::now))
    }

    /// The system clock moved forward by `ahead` (as if this machine's clock ran fast).
    pub fn ahead(ahead: Duration) -> Self {
        Self(Arc::new(move || {
            let now = Timestamp::now();
            now.checked_add(ahead).unwrap_or(now)
        }))
    }

    /// The system clock moved back by `behind` (as if this machine's clock ran slow).
    pub fn behind(behind: Duration) -> Self {
        Self(Arc::new(move || {
            let now = Timestamp::now();
            now.checked_sub(behind).unwrap_or(now)
        }))
    }

    /// Any function of nothing that tells the time.
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WallClock({})", self.now())
    }
}
