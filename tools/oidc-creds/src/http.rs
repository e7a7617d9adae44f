//! One HTTPS GET for GitHub's OIDC token endpoint, with reqwest: the system's trust roots (so
//! `SSL_CERT_FILE` and corporate CAs work) and its proxy settings (`HTTPS_PROXY`, `NO_PROXY`), as
//! on any runner. The AWS SDK keeps its own HTTP stack for AWS calls.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

/// The most we read of an answer: a token response is a few kilobytes.
const MAX_BODY: usize = 1024 * 1024;
/// Connect plus answer, per attempt.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a request failed.
#[derive(Debug)]
pub enum Failure {
    /// The URL cannot be used (not http/https, no host).
    BadUrl(String),
    /// Connection, TLS or protocol trouble, or no answer in time: worth retrying.
    Transport(String),
    /// No trust roots to verify the server with: a setup problem, not worth retrying.
    NoTrustRoots(String),
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// GETs `url` with `headers`. `_ssl_cert_file` is read by the platform verifier from the
/// environment itself; the parameter stays so callers need not know that.
pub async fn get(
    url: &str,
    headers: &[(&str, &str)],
    _ssl_cert_file: Option<&str>,
) -> Result<Answer, Failure> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Failure::BadUrl(format!("{e} (in the token request URL)")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Failure::BadUrl(
            "the token request URL must be http(s)://host/…".to_owned(),
        ));
    }
    // The request carries the runner's bearer token, and the answer is a token for AWS: plain
    // http is for a stand-in on this machine only.
    if parsed.scheme() == "http" && !is_loopback(&parsed) {
        return Err(Failure::BadUrl(format!(
            "refusing to send the token request over plain http to {}: only https, or http to a \
             loopback address (127.0.0.1, ::1, localhost), is allowed",
            parsed.host_str().unwrap_or_default()
        )));
    }
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| Failure::NoTrustRoots(format!("cannot set up TLS: {e}")))?;
    let mut request = client.get(parsed);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let host = url.split('/').nth(2).unwrap_or(url).to_owned();
    // reqwest's errors name the URL, which holds no secret (the bearer token is a header).
    let response = request
        .send()
        .await
        .map_err(|e| Failure::Transport(format!("{host}: {}", describe(&e))))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::Transport(format!("{host}: {}", describe(&e))))?;
    if body.len() > MAX_BODY {
        return Err(Failure::Transport(format!(
            "{host}: an answer of {} bytes is too large",
            body.len()
        )));
    }
    Ok(Answer { status, body })
}

/// True for `localhost`, `127.0.0.0/8` and `::1`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The error with its chain of causes. (The URL in reqwest's message carries only the audience
/// query; the bearer token travels in a header and never appears.)
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
