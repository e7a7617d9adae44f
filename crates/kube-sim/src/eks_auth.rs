//! EKS-token authentication, as aws-iam-authenticator does it for a real EKS cluster.
//!
//! An EKS bearer token is `k8s-aws-v1.` followed by the unpadded base64url of a presigned STS
//! `GetCallerIdentity` URL whose signature covers an `x-k8s-aws-id` header naming the cluster.
//! The server checks the URL's shape, that the cluster header is among the signed ones and that
//! the token is fresh, then replays the request to STS with `x-k8s-aws-id: <this cluster>`. STS
//! answers with the caller's ARN only if the signature holds, which is what proves both who the
//! caller is and that the token was made for this cluster.
//!
//! In tests STS is moto (`sts_endpoint`), reached over plain HTTP. moto does not check
//! signatures, so a token made for another cluster is only refused by a real STS; everything else
//! is checked here.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::api::status::ApiError;

/// The prefix of every EKS bearer token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// How long a token is accepted after it was signed (EKS's 15 minutes).
const TOKEN_LIFETIME: Duration = Duration::from_mins(15);
/// How far in the future a signing time may be (clock skew).
const ALLOWED_SKEW: Duration = Duration::from_mins(5);

/// Settings for EKS-token mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksAuth {
    /// The cluster name tokens must be for (`x-k8s-aws-id`).
    pub cluster_name: String,
    /// Where to replay the presigned GetCallerIdentity request (`http://host:port`), instead of
    /// the host in the token.
    pub sts_endpoint: String,
}

/// What a well-formed token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    /// The host the URL was signed for (sent as `Host` when replaying it).
    pub host: String,
    /// The query string, as signed.
    pub query: String,
    /// The same signature in `Authorization` header form.
    pub authorization: String,
}

impl EksAuth {
    /// Verifies a token and returns the caller's ARN.
    pub async fn verify(&self, token: &str) -> Result<String, ApiError> {
        let request = decode(token, SystemTime::now())?;
        self.caller_arn(&request).await
    }

    async fn caller_arn(&self, request: &PresignedRequest) -> Result<String, ApiError> {
        let endpoint = self.sts_endpoint.trim_end_matches('/');
        let address = endpoint.strip_prefix("http://").ok_or_else(|| {
            ApiError::internal("EKS-token mode needs an http:// STS endpoint (a local stand-in)")
        })?;
        let unreachable = |e: &dyn std::fmt::Display| {
            ApiError::unauthorized(format!(
                "Unauthorized: could not verify the token with STS: {e}"
            ))
        };
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| unreachable(&e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(connection);
        // The presigned query is replayed as it was signed. moto finds the service of a request
        // by its Authorization header's credential scope, so the same signature is repeated
        // there in header form (a local stand-in is all `sts_endpoint` ever is).
        let sts_request = hyper::Request::get(format!("/?{}", request.query))
            .header(hyper::header::HOST, &request.host)
            .header("x-k8s-aws-id", &self.cluster_name)
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::AUTHORIZATION, &request.authorization)
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(&e))?;
        let response = sender
            .send_request(sts_request)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        if !status.is_success() {
            return Err(ApiError::unauthorized(format!(
                "Unauthorized: STS refused the token ({status})"
            )));
        }
        caller_arn_from(&body)
            .ok_or_else(|| ApiError::unauthorized("Unauthorized: STS gave no caller ARN"))
    }
}

/// Checks a token's shape and freshness (at `now`) and returns the request it carries.
pub fn decode(token: &str, now: SystemTime) -> Result<PresignedRequest, ApiError> {
    let refuse =
        |why: &str| ApiError::unauthorized(format!("Unauthorized: invalid EKS token: {why}"));
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| refuse("missing the k8s-aws-v1. prefix"))?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| refuse("not base64url"))?;
    let url = String::from_utf8(raw).map_err(|_| refuse("not a URL"))?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| refuse("not an http(s) URL"))?;
    let (host, path_and_query) = rest.split_once('/').ok_or_else(|| refuse("no path"))?;
    let query = path_and_query
        .strip_prefix('?')
        .ok_or_else(|| refuse("the path must be / with a query"))?;
    // Parameter names are matched case-insensitively, as the authenticator does.
    let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    let param = |name: &str| params.get(name).map(String::as_str);
    if param("action") != Some("GetCallerIdentity") {
        return Err(refuse("the URL is not an STS GetCallerIdentity request"));
    }
    if param("x-amz-algorithm") != Some("AWS4-HMAC-SHA256") || param("x-amz-signature").is_none() {
        return Err(refuse("the URL is not presigned with SigV4"));
    }
    let signed: Vec<&str> = param("x-amz-signedheaders")
        .unwrap_or("")
        .split(';')
        .collect();
    if !signed.contains(&"x-k8s-aws-id") {
        return Err(refuse("x-k8s-aws-id is not among the signed headers"));
    }
    let signed_at = param("x-amz-date")
        .and_then(parse_amz_date)
        .ok_or_else(|| refuse("bad or missing X-Amz-Date"))?;
    if signed_at > now + ALLOWED_SKEW {
        return Err(refuse("signed in the future"));
    }
    if now > signed_at + TOKEN_LIFETIME {
        return Err(refuse("expired"));
    }
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}, SignedHeaders={}, Signature={}",
        param("x-amz-credential").unwrap_or_default(),
        param("x-amz-signedheaders").unwrap_or_default(),
        param("x-amz-signature").unwrap_or_default()
    );
    Ok(PresignedRequest {
        host: host.to_owned(),
        query: query.to_owned(),
        authorization,
    })
}

/// `20260101T120000Z` → a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", text)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp();
    let secs = u64::try_from(ts.as_second()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The ARN from a JSON or XML GetCallerIdentity response.
fn caller_arn_from(body: &[u8]) -> Option<String> {
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        return json
            .pointer("/GetCallerIdentityResponse/GetCallerIdentityResult/Arn")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Arn>")? + "<Arn>".len();
    let end = text[start..].find("</Arn>")? + start;
    Some(text[start..end].trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(query: &str) -> String {
        let url = format!("https://sts.us-east-1.amazonaws.com/?{query}");
        format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
        )
    }

    const GOOD: &str = "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261123%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20261123T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=abc";

    fn at(text: &str) -> SystemTime {
        parse_amz_date(text).unwrap()
    }

    #[test]
    fn a_fresh_well_formed_token_is_accepted() {
        let request = decode(&token(GOOD), at("20261123T120500Z")).unwrap();
        assert_eq!(request.host, "sts.us-east-1.amazonaws.com");
        assert!(request.query.starts_with("Action=GetCallerIdentity"));
    }

    #[test]
    fn every_defect_is_refused_with_a_reason() {
        let now = at("20261123T120500Z");
        for (query, why) in [
            (
                GOOD.replace("GetCallerIdentity", "AssumeRole"),
                "not an STS GetCallerIdentity",
            ),
            (
                GOOD.replace("host%3Bx-k8s-aws-id", "host"),
                "x-k8s-aws-id is not among the signed headers",
            ),
            (GOOD.replace("&X-Amz-Signature=abc", ""), "not presigned"),
            (
                GOOD.replace("20261123T120000Z", "20261123T100000Z"),
                "expired",
            ),
            (
                GOOD.replace("20261123T120000Z", "20261123T130000Z"),
                "signed in the future",
            ),
        ] {
            let err = decode(&token(&query), now).unwrap_err();
            assert_eq!(err.code, 401);
            assert!(err.message.contains(why), "{why}: {}", err.message);
        }
        assert!(
            decode("k8s-aws-v1.!!!", now)
                .unwrap_err()
                .message
                .contains("base64url")
        );
        assert!(
            decode("Bearer-ish", now)
                .unwrap_err()
                .message
                .contains("prefix")
        );
    }

    #[test]
    fn the_arn_comes_from_json_or_xml() {
        let json = br#"{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Arn":"arn:aws:sts::123456789012:assumed-role/deploy/ci","Account":"123456789012"}}}"#;
        assert_eq!(
            caller_arn_from(json).as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/deploy/ci")
        );
        let xml = b"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::1:user/x</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>";
        assert_eq!(
            caller_arn_from(xml).as_deref(),
            Some("arn:aws:iam::1:user/x")
        );
    }
}
