//! What time it is, for signing and for the token cache.
//!
//! `PIPEWRIGHT_EKS_TOKEN_TIME` (an RFC 3339 time) replaces the clock. It exists for tests: a token
//! signed at a known time can be compared with another implementation's, and the cache's expiry
//! can be tested without waiting. Nobody should set it otherwise: a token signed for another time
//! is refused by EKS. So it exists only in debug builds (what `cargo test` builds): a release
//! binary never reads it, whatever the environment says.

use stage::{Ctx, StageError};

/// The variable that freezes the clock (tests only).
pub const FROZEN_TIME_VAR: &str = "PIPEWRIGHT_EKS_TOKEN_TIME";

/// The current time, or in a debug build the frozen one.
#[cfg(not(debug_assertions))]
pub fn now(_ctx: &Ctx) -> Result<jiff::Timestamp, StageError> {
    Ok(jiff::Timestamp::now())
}

/// The current time, or in a debug build the frozen one.
#[cfg(debug_assertions)]
pub fn now(ctx: &Ctx) -> Result<jiff::Timestamp, StageError> {
    match ctx.env(FROZEN_TIME_VAR) {
        None => Ok(jiff::Timestamp::now()),
        Some(text) => text.parse().map_err(|e| {
            StageError::usage(format!(
                "{FROZEN_TIME_VAR}={text:?} is not an RFC 3339 time: {e}"
            ))
            .with_hint(format!(
                "{FROZEN_TIME_VAR} is for tests, e.g. 2026-01-01T00:00:00Z; unset it to use the clock"
            ))
        }),
    }
}

/// A time as the AWS CLI writes `expirationTimestamp`: RFC 3339 in UTC, whole seconds, `Z`.
pub fn format_rfc3339(time: jiff::Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_format_drops_fractions() {
        let t: jiff::Timestamp = "2026-01-01T00:14:00.987654Z".parse().unwrap();
        assert_eq!(format_rfc3339(t), "2026-01-01T00:14:00Z");
    }
}
