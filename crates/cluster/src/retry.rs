//! One retry policy for every idempotent Kubernetes API call pipewright makes.
//!
//! A remote EKS endpoint throttles (429, with a `Retry-After`), restarts behind its load balancer
//! (502/503/504), or drops a connection now and then. A deploy step that gives up at the first of
//! these fails pipelines for nothing; one that retries forever hangs them. So: a bounded number of
//! attempts and a bounded total time, exponential backoff with jitter so that many clients hit by
//! the same outage do not come back in lockstep, the server's own `Retry-After` when it gives one,
//! and one warning line on stderr per retry so a slow step explains itself.
//!
//! The kube client's own retry layer is switched off by [`crate::connect`]: two retry loops nested
//! would multiply attempts, and its defaults (15 retries, up to 1000 s apart) are meant for
//! controllers, not for a CI step with a deadline.
//!
//! Only wrap calls that are safe to repeat: reads, replaces guarded by a `resourceVersion`,
//! deletes, and creates whose 409 the caller recognises as its own earlier success.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

/// How hard to try. [`RetryPolicy::default`] is what every tool uses; tests shrink the delays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// The ceiling of the first retry's delay; it doubles per retry up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt (a `Retry-After`
    /// that would end beyond it ends the retries at once).
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts, 0.2 s doubling to 5 s, 60 s in all: rides out an API server restart or a
    /// throttling burst without hiding a real outage for long.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_mins(1),
        }
    }
}

impl RetryPolicy {
    /// The longest the delay before retry `retry` (1-based) can be: `base × 2^(retry-1)`, capped.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The delay before retry `retry`, for a random `fraction` in `[0, 1]`: between half the
    /// ceiling and the ceiling ("equal jitter"). Half is fixed so that a throttled server always
    /// gets some rest; half is random so that clients spread out.
    pub fn delay(&self, retry: u32, fraction: f64) -> Duration {
        let ceiling = self.ceiling(retry);
        let half = ceiling / 2;
        half + half.mul_f64(fraction.clamp(0.0, 1.0))
    }
}

/// Runs `call` under the default policy; see [`retry_with`].
pub async fn retry<T, F, Fut>(what: &str, call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retry_with(&RetryPolicy::default(), what, call).await
}

/// Runs `call` until it succeeds, fails in a way a retry cannot fix, or the policy's attempts or
/// time run out; returns the last error then. `what` names the call in the warning lines
/// ("reading release web").
pub async fn retry_with<T, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    mut call: F,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let start = Instant::now();
    let mut attempt = 1;
    loop {
        let err = match call().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let Some(transient) = transient(&err) else {
            return Err(err);
        };
        if attempt >= policy.max_attempts {
            return Err(err);
        }
        let backoff = policy.delay(attempt, jitter());
        // The server knows best how long it needs; a little backoff on top keeps the clients it
        // told the same thing from all returning in the same millisecond.
        let delay = transient
            .retry_after
            .map_or(backoff, |after| after + backoff / 4);
        if start.elapsed() + delay > policy.max_elapsed {
            return Err(err);
        }
        tracing::warn!(
            "{what}: {}; retry {attempt} of {} in {:.1}s",
            transient.reason,
            policy.max_attempts - 1,
            delay.as_secs_f64()
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// A random fraction in `[0, 1)`. Seeded from the OS per call: retries are rare, and a process
/// that cannot read the OS's randomness still retries, with a seed from the clock.
pub(crate) fn jitter() -> f64 {
    os_rng().random::<f64>()
}

/// A generator seeded from the OS (from the clock if the OS will not say).
pub(crate) fn os_rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::try_from_os_rng().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        rand::rngs::StdRng::seed_from_u64(u64::from(nanos))
    })
}

/// Why an error is worth another try, and when the server asked us to come back.
#[derive(Debug)]
pub(crate) struct Transient {
    pub reason: String,
    pub retry_after: Option<Duration>,
}

/// `Some` for the errors a retry can fix: 429, 500, 502, 503, 504, and failures to connect or to
/// read a response. A TLS certificate that does not verify is not one of them: it will not verify
/// the next time either.
pub(crate) fn transient(err: &kube::Error) -> Option<Transient> {
    match err {
        kube::Error::Api(status) => {
            if !matches!(status.code, 429 | 500 | 502 | 503 | 504) {
                return None;
            }
            let retry_after = status
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|secs| *secs > 0)
                .map(|secs| Duration::from_secs(u64::from(secs)));
            Some(Transient {
                reason: format!("the API server answered {} {}", status.code, status.reason),
                retry_after,
            })
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            if is_certificate_error(err) {
                return None;
            }
            Some(Transient {
                reason: format!("could not reach the API server ({})", innermost(err)),
                retry_after: None,
            })
        }
        _ => None,
    }
}

/// The most specific message in an error's source chain ("Connection refused (os error 111)").
pub(crate) fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Whether TLS verification failed. The error types of rustls sit several layers down a chain of
/// boxed errors; their text is the dependable part.
pub(crate) fn is_certificate_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.to_string().contains("certificate") {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ceilings_double_then_cap() {
        let p = RetryPolicy::default();
        let ceilings: Vec<u64> = (1..=7)
            .map(|n| u64::try_from(p.ceiling(n).as_millis()).unwrap())
            .collect();
        assert_eq!(ceilings, vec![200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        let status = |code: u16| {
            kube::Error::Api(
                kube::core::Status::failure("x", "Reason")
                    .with_code(code)
                    .boxed(),
            )
        };
        for code in [429, 500, 502, 503, 504] {
            assert!(transient(&status(code)).is_some(), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 410, 422] {
            assert!(transient(&status(code)).is_none(), "{code}");
        }
    }

    #[test]
    fn retry_after_comes_from_the_status_details() {
        let mut status = kube::core::Status::failure("slow down", "TooManyRequests").with_code(429);
        status.details = Some(kube::core::response::StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: Vec::new(),
            retry_after_seconds: 3,
        });
        let t = transient(&kube::Error::Api(status.boxed())).unwrap();
        assert_eq!(t.retry_after, Some(Duration::from_secs(3)));
    }

    proptest! {
        #[test]
        fn delays_stay_within_half_the_ceiling_and_the_ceiling(
            retry in 1u32..64, fraction in 0.0f64..=1.0,
            base_ms in 1u64..2_000, cap_ms in 1u64..60_000,
        ) {
            let p = RetryPolicy {
                base_delay: Duration::from_millis(base_ms),
                max_delay: Duration::from_millis(cap_ms),
                ..RetryPolicy::default()
            };
            let d = p.delay(retry, fraction);
            prop_assert!(d <= p.ceiling(retry));
            prop_assert!(d >= p.ceiling(retry) / 2);
            prop_assert!(d <= p.max_delay);
        }

        #[test]
        fn the_sum_of_all_delays_is_bounded(fractions in proptest::collection::vec(0.0f64..=1.0, 5)) {
            let p = RetryPolicy::default();
            let total: Duration = fractions
                .iter()
                .zip(1u32..)
                .map(|(f, n)| p.delay(n, *f))
                .sum();
            // Five retries of at most 0.2+0.4+0.8+1.6+3.2 s: well inside the policy's minute.
            prop_assert!(total <= Duration::from_millis(6_200));
            prop_assert!(total <= p.max_elapsed);
        }
    }
}
