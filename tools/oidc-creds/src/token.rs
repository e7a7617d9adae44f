//! Where the web identity token comes from, in order: a file (`--token-file`, or
//! `AWS_WEB_IDENTITY_TOKEN_FILE` as the AWS SDKs use it on EKS), then the GitHub Actions runtime's
//! token service. Neither present is a usage error that tells a workflow author the one line
//! they are missing.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::time::Duration;

use stage::{Ctx, Secret, StageError};

use crate::http;

/// Where the token came from, for the report and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(String),
    GitHub,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "file {path}"),
            Self::GitHub => f.write_str("the GitHub Actions OIDC token service"),
        }
    }
}

pub const PERMISSION_HINT: &str = "give the job permission to request an OIDC token: add \
     `permissions: id-token: write` (and `contents: read`) to the workflow or the job; \
     outside GitHub Actions, pass --token-file with a web identity token";

/// A delay before retry number `attempt` (1-based): exponential from 250 ms, capped at 8 s, with
/// full jitter so that many jobs retrying at once spread out.
pub fn backoff(attempt: u32) -> Duration {
    let cap_ms = 250u64
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(10))
        .min(8_000);
    // A per-process random seed is all the randomness jitter needs.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    Duration::from_millis(hasher.finish() % (cap_ms + 1))
}

/// Gets the token. `attempts` bounds the requests to the GitHub token service.
pub async fn obtain(
    ctx: &Ctx,
    token_file: Option<&Path>,
    audience: &str,
    attempts: u32,
) -> Result<(Secret, Source), StageError> {
    if let Some(path) = token_file {
        let token = read_file(path)?;
        ctx.register_secret(&token);
        return Ok((token, Source::File(path.display().to_string())));
    }
    let url = ctx.env("ACTIONS_ID_TOKEN_REQUEST_URL");
    let bearer = ctx.env("ACTIONS_ID_TOKEN_REQUEST_TOKEN").map(Secret::new);
    if let Some(bearer) = &bearer {
        ctx.register_secret(bearer);
    }
    match (url, bearer) {
        (Some(url), Some(bearer)) => {
            let token = from_github(ctx, url, &bearer, audience, attempts).await?;
            Ok((token, Source::GitHub))
        }
        _ if ctx.github_actions() => Err(StageError::usage(
            "this GitHub Actions job cannot request an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL and \
             ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set, which is what happens without the id-token permission",
        )
        .with_hint(PERMISSION_HINT)),
        _ => Err(StageError::usage(
            "no web identity token: neither --token-file / AWS_WEB_IDENTITY_TOKEN_FILE nor the \
             GitHub Actions token service (ACTIONS_ID_TOKEN_REQUEST_URL) is available",
        )
        .with_hint(PERMISSION_HINT)),
    }
}

fn read_file(path: &Path) -> Result<Secret, StageError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StageError::invalid_input(format!("token file {}: cannot read it: {e}", path.display()))
            .with_hint("pass --token-file (or AWS_WEB_IDENTITY_TOKEN_FILE) naming a readable file holding the token")
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(
            StageError::invalid_input(format!("token file {} is empty", path.display())).with_hint(
                "the file must hold the web identity token (a JWT) issued for this audience",
            ),
        );
    }
    Ok(Secret::new(token))
}

/// The request URL with `audience` added to its query.
fn with_audience(url: &str, audience: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(audience.as_bytes()).collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}audience={encoded}")
}

async fn from_github(
    ctx: &Ctx,
    url: &str,
    bearer: &Secret,
    audience: &str,
    attempts: u32,
) -> Result<Secret, StageError> {
    let url = with_audience(url, audience);
    let authorization = format!("bearer {}", bearer.expose());
    let headers = [
        ("authorization", authorization.as_str()),
        ("accept", "application/json; api-version=2.0"),
    ];
    let attempts = attempts.max(1);
    let mut attempt = 1;
    loop {
        tracing::debug!(
            "requesting an OIDC token for audience {audience} (attempt {attempt} of {attempts})"
        );
        let outcome = http::get(&url, &headers, ctx.env("SSL_CERT_FILE")).await;
        let transient = match outcome {
            Ok(answer) if answer.status == 200 => return parse_answer(ctx, &answer.body),
            Ok(answer) if answer.status == 429 || answer.status >= 500 => {
                format!("the GitHub token service answered HTTP {}", answer.status)
            }
            Ok(answer) => return Err(refused(answer.status, &answer.body)),
            Err(http::Failure::Transport(why)) => why,
            Err(http::Failure::BadUrl(why)) => {
                return Err(StageError::invalid_input(format!(
                    "ACTIONS_ID_TOKEN_REQUEST_URL: {why}"
                )));
            }
            Err(http::Failure::NoTrustRoots(why)) => {
                return Err(StageError::unavailable(format!("cannot verify the GitHub token service: {why}"))
                    .with_hint("install the CA certificates (ca-certificates) or point SSL_CERT_FILE at a PEM bundle"));
            }
        };
        if attempt >= attempts {
            return Err(StageError::unavailable(format!(
                "could not get an OIDC token after {attempts} attempts: {transient}"
            ))
            .with_hint(
                "GitHub's token service is having trouble: re-run the job, or raise --retries",
            ));
        }
        let delay = backoff(attempt);
        tracing::warn!("{transient}; retrying in {} ms", delay.as_millis());
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

fn refused(status: u16, body: &[u8]) -> StageError {
    // The service's error text names the problem ("token expired", "audience not allowed") and
    // carries no token; keep it short anyway.
    let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
    let text = text.trim();
    let detail = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    let error = StageError::unauthorized(format!(
        "the GitHub token service refused the request with HTTP {status}{detail}"
    ));
    if matches!(status, 401 | 403) {
        error.with_hint(PERMISSION_HINT)
    } else {
        error.with_hint("check --audience: it must be a plain string such as sts.amazonaws.com")
    }
}

fn parse_answer(ctx: &Ctx, body: &[u8]) -> Result<Secret, StageError> {
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        value: Secret,
    }
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|e| {
        StageError::unavailable(format!(
            "the GitHub token service's answer is not the expected JSON ({{\"value\": \"<token>\"}}): {e}"
        ))
    })?;
    ctx.register_secret(&answer.value);
    if answer.value.is_empty() {
        return Err(StageError::unavailable(
            "the GitHub token service returned an empty token",
        ));
    }
    Ok(answer.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_is_appended_and_encoded() {
        assert_eq!(
            with_audience("https://x/t?api-version=2.0", "sts.amazonaws.com"),
            "https://x/t?api-version=2.0&audience=sts.amazonaws.com"
        );
        assert_eq!(
            with_audience("http://x/t", "a b&c"),
            "http://x/t?audience=a+b%26c"
        );
    }

    #[test]
    fn backoff_grows_but_stays_bounded() {
        for attempt in 1..40 {
            let cap = 250u64 * (1 << (attempt - 1).min(10));
            assert!(backoff(attempt) <= Duration::from_millis(cap.min(8_000)));
        }
    }

    #[test]
    fn token_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  header.payload.sig\n").unwrap();
        assert_eq!(read_file(&file).unwrap().expose(), "header.payload.sig");
        std::fs::write(&file, "\n").unwrap();
        assert_eq!(read_file(&file).unwrap_err().exit_code(), 2);
        assert!(
            read_file(&dir.path().join("none"))
                .unwrap_err()
                .message()
                .contains("cannot read")
        );
    }
}
