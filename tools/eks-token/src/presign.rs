//! The EKS bearer token: `k8s-aws-v1.` + the unpadded base64url of a presigned STS
//! `GetCallerIdentity` URL whose signature covers an `x-k8s-aws-id` header naming the cluster.
//!
//! EKS (aws-iam-authenticator) replays the URL to STS with that header; STS answers with the
//! caller's ARN only if the signature holds, which proves who the caller is and that the token
//! was made for this cluster. The signing is `aws-sigv4`'s; this module only builds the request,
//! and lays out the signed URL exactly as botocore does (`aws eks get-token`), so that tokens are
//! byte for byte what the AWS CLI would make for the same time, region and credentials.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use stage::{Secret, StageError};

/// The prefix of every EKS token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header whose signed value binds a token to one cluster.
pub const CLUSTER_HEADER: &str = "x-k8s-aws-id";
/// `X-Amz-Expires` of the presigned URL, as the AWS CLI sets it. EKS ignores it and accepts a
/// token for 15 minutes after its `X-Amz-Date`, but a token that differs from the CLI's in any
/// byte would be a token EKS was never tested with.
pub const URL_EXPIRES: Duration = Duration::from_mins(1);
/// The operation and API version in the URL, before the signature parameters (botocore's order).
const OPERATION_QUERY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
/// The signature parameters in the order botocore writes them. aws-sigv4 hands them over in its
/// own order (the signature before the session token); the signature covers the set, not the
/// order, so the order is only about looking exactly like the CLI's tokens.
const PARAM_ORDER: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// What a token is made from.
#[derive(Debug)]
pub struct TokenRequest<'a> {
    /// The cluster name (or, for EKS local clusters on Outposts, its id).
    pub cluster: &'a str,
    /// The signing region, e.g. `eu-west-1`.
    pub region: &'a str,
    /// The STS endpoint the URL points at, e.g. `https://sts.eu-west-1.amazonaws.com`.
    pub endpoint: &'a str,
    /// The credentials to sign with.
    pub credentials: &'a Credentials,
    /// The signing time.
    pub time: SystemTime,
}

/// The presigned `GetCallerIdentity` URL for a request: a secret, since anyone holding it can
/// prove to be the signer for the next 15 minutes.
pub fn presigned_url(request: &TokenRequest<'_>) -> Result<Secret, StageError> {
    let base = format!(
        "{}/?{OPERATION_QUERY}",
        request.endpoint.trim_end_matches('/')
    );
    let identity: Identity = request.credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(URL_EXPIRES);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(request.region)
        .name("sts")
        .time(request.time)
        .settings(settings)
        .build()
        .map_err(|e| internal(&e))?
        .into();
    let signable = SignableRequest::new(
        "GET",
        base.as_str(),
        std::iter::once((CLUSTER_HEADER, request.cluster)),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| {
        StageError::usage(format!(
            "the STS endpoint {:?} is not a URL: {e}",
            request.endpoint
        ))
        .with_hint("check AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL, e.g. https://sts.eu-west-1.amazonaws.com")
    })?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| internal(&e))?
        .into_parts();
    let (_headers, query) = instructions.into_parts();

    let mut url = base;
    for name in PARAM_ORDER {
        if let Some((_, value)) = query.iter().find(|(n, _)| *n == name) {
            url.push('&');
            url.push_str(name);
            url.push('=');
            url.push_str(&uri_encode(value));
        }
    }
    if query.len()
        != query
            .iter()
            .filter(|(n, _)| PARAM_ORDER.contains(n))
            .count()
    {
        // A new aws-sigv4 adding a parameter we do not place would make tokens STS refuses.
        return Err(StageError::new(
            stage::ErrorKind::Internal,
            "aws-sigv4 returned a presigning parameter eks-token does not know",
        ));
    }
    Ok(Secret::new(url))
}

/// The token for a presigned URL: `k8s-aws-v1.` + unpadded base64url.
pub fn token_from_url(url: &Secret) -> Secret {
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.expose());
    Secret::new(format!("{TOKEN_PREFIX}{encoded}"))
}

/// The URL inside a token (for tests and `-vv` diagnostics of the shape, never logged whole).
pub fn url_from_token(token: &str) -> Option<String> {
    let encoded = token.strip_prefix(TOKEN_PREFIX)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    String::from_utf8(raw).ok()
}

/// Percent-encodes everything but RFC 3986's unreserved characters, as `SigV4` and botocore do.
fn uri_encode(value: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn internal(e: &dyn std::fmt::Display) -> StageError {
    StageError::new(
        stage::ErrorKind::Internal,
        format!("could not presign the STS request: {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(session_token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token.map(str::to_owned),
            None,
            "test",
        )
    }

    fn at(text: &str) -> SystemTime {
        SystemTime::from(text.parse::<jiff::Timestamp>().unwrap())
    }

    fn url(session_token: Option<&str>, endpoint: &str) -> String {
        let creds = credentials(session_token);
        presigned_url(&TokenRequest {
            cluster: "my-cluster",
            region: "us-east-1",
            endpoint,
            credentials: &creds,
            time: at("2026-01-01T00:00:00Z"),
        })
        .unwrap()
        .expose()
        .to_owned()
    }

    #[test]
    fn the_url_has_botocores_layout() {
        let url = url(None, "https://sts.us-east-1.amazonaws.com");
        let (head, signature) = url.rsplit_once("&X-Amz-Signature=").unwrap();
        assert_eq!(
            head,
            "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fsts%2Faws4_request\
             &X-Amz-Date=20260101T000000Z&X-Amz-Expires=60\
             &X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"
        );
        assert_eq!(signature.len(), 64);
        assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn the_session_token_goes_before_the_signature_encoded() {
        let url = url(
            Some("FQoG/token+with=chars"),
            "https://sts.us-east-1.amazonaws.com/",
        );
        assert!(
            url.contains("&X-Amz-Security-Token=FQoG%2Ftoken%2Bwith%3Dchars&X-Amz-Signature="),
            "{url}"
        );
        assert!(url.starts_with("https://sts.us-east-1.amazonaws.com/?Action="));
    }

    #[test]
    fn tokens_round_trip_without_padding() {
        let url = Secret::new("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&a=b?");
        let token = token_from_url(&url);
        assert!(token.expose().starts_with(TOKEN_PREFIX));
        assert!(!token.expose().contains('='));
        assert!(!token.expose().contains('+') && !token.expose().contains('/'));
        assert_eq!(
            url_from_token(token.expose()).as_deref(),
            Some(url.expose())
        );
    }

    #[test]
    fn a_malformed_endpoint_is_a_usage_error() {
        let creds = credentials(None);
        let err = presigned_url(&TokenRequest {
            cluster: "c",
            region: "us-east-1",
            endpoint: "not a url",
            credentials: &creds,
            time: SystemTime::now(),
        })
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(uri_encode("aZ0-_.~"), "aZ0-_.~");
        assert_eq!(uri_encode("a/b+c=d;e f"), "a%2Fb%2Bc%3Dd%3Be%20f");
    }
}
