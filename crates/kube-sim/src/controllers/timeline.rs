//! The kubelet's restart arithmetic in simulated time: a container (or an image pull) is tried,
//! the try lasts a while, then the kubelet waits a back-off that doubles from 10 s up to 5 min
//! before the next try. Everything is a pure function of (start, now), so a pod's status can be
//! recomputed at any moment, including after the clock jumped ahead by hours.

/// The first back-off.
pub const BACKOFF_START_MS: i64 = 10_000;
/// Kubelet's cap on the back-off.
pub const BACKOFF_CAP_MS: i64 = 300_000;

/// The back-off after try `k` (0-based): 10 s, 20 s, 40 s, … capped at 5 min.
pub fn backoff_ms(k: u32) -> i64 {
    if k >= 5 {
        BACKOFF_CAP_MS
    } else {
        (BACKOFF_START_MS << k).min(BACKOFF_CAP_MS)
    }
}

/// Where a series of tries stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// The current (or last) try, 0-based.
    pub k: u32,
    /// When try `k` started.
    pub started: i64,
    /// When try `k` ends (or ended).
    pub active_end: i64,
    /// When try `k + 1` starts, after the back-off.
    pub next_start: i64,
}

impl Cycle {
    /// Whether `now` falls in the back-off after try `k`.
    pub fn waiting(&self, now: i64) -> bool {
        now >= self.active_end
    }

    /// When try `k - 1` started (for the previous run's times).
    pub fn previous_start(&self, active_ms: i64) -> Option<i64> {
        self.k
            .checked_sub(1)
            .map(|p| self.started - backoff_ms(p) - active_ms)
    }
}

/// Tries that each last `active_ms`, starting at `start`, followed by kubelet back-offs.
pub fn cycle(start: i64, active_ms: i64, now: i64) -> Cycle {
    let mut k: u32 = 0;
    let mut started = start;
    loop {
        let wait = backoff_ms(k);
        let next_start = started + active_ms + wait;
        if now < next_start {
            return Cycle {
                k,
                started,
                active_end: started + active_ms,
                next_start,
            };
        }
        if wait >= BACKOFF_CAP_MS {
            // Every later cycle has the same length: jump over the whole ones at once.
            let length = active_ms + BACKOFF_CAP_MS;
            let whole = (now - started) / length;
            started += whole * length;
            k = k.saturating_add(u32::try_from(whole).unwrap_or(u32::MAX));
            continue;
        }
        started = next_start;
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes() {
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 9].map(backoff_ms),
            [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]
        );
    }

    #[test]
    fn cycles_follow_the_backoff() {
        // Runs of 1 s: run 0 at 0, run 1 at 11 s, run 2 at 32 s, run 3 at 73 s.
        assert_eq!(
            cycle(0, 1000, 500),
            Cycle {
                k: 0,
                started: 0,
                active_end: 1000,
                next_start: 11_000
            }
        );
        assert!(cycle(0, 1000, 5000).waiting(5000));
        assert_eq!(cycle(0, 1000, 11_000).k, 1);
        assert_eq!(cycle(0, 1000, 32_500).started, 32_000);
        assert_eq!(cycle(0, 1000, 32_500).previous_start(1000), Some(11_000));
    }

    #[test]
    fn long_jumps_are_arithmetic() {
        let slow = {
            let mut k = 0;
            let mut s = 0;
            while s + 1000 + backoff_ms(k) <= 86_400_000 {
                s += 1000 + backoff_ms(k);
                k += 1;
            }
            (k, s)
        };
        let fast = cycle(0, 1000, 86_400_000);
        assert_eq!((fast.k, fast.started), slow);
    }
}
