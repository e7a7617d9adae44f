//! SDK errors as stage errors: the right kind (and so the right exit code), the service's own code
//! and message, what we were doing, and how to fix it when there is an obvious fix.
//!
//! The text never carries a secret: it is built from the error code, the first line of the
//! service's message (AWS's `SignatureDoesNotMatch` text can quote the signed request, whose
//! headers include the session token), the HTTP status and the request id.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt::{Debug, Write as _};

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use stage::{ErrorKind, StageError};

/// What an error code means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// Worth retrying: throttling, a server-side failure, a network problem. Exit 3 once retries
    /// are exhausted.
    Transient,
    /// The service refused our identity or its permissions. Exit 3.
    Unauthorized,
    /// The request was wrong: a parameter, a policy document, a name that does not exist. Exit 2.
    InvalidInput,
    /// Anything else the service refused. Exit 1.
    Failed,
}

impl Classification {
    pub fn kind(self) -> ErrorKind {
        match self {
            Self::Transient => ErrorKind::Unavailable,
            Self::Unauthorized => ErrorKind::Unauthorized,
            Self::InvalidInput => ErrorKind::InvalidInput,
            Self::Failed => ErrorKind::Failed,
        }
    }
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

const TRANSIENT: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    // STS could not reach the identity provider (GitHub's OIDC discovery document): worth retrying.
    "IDPCommunicationError",
];

const UNAUTHORIZED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "UnauthorizedException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "AuthFailure",
    "InvalidIdentityToken",
    "IDPRejectedClaim",
    "RegionDisabledException",
    "OptInRequired",
];

const INVALID_INPUT: &[&str] = &[
    "ValidationError",
    "ValidationException",
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidParameterCombination",
    "InvalidParameterException",
    "InvalidInput",
    "InvalidRequestException",
    "MissingParameter",
    "MalformedPolicyDocument",
    "MalformedPolicyDocumentException",
    "PackedPolicyTooLarge",
    "InvalidAuthorizationMessageException",
    "NoSuchEntity",
    "ResourceNotFoundException",
    "NotFoundException",
];

/// Classifies a service error by its code and, when the code is unknown, its HTTP status.
pub fn classify_code(code: Option<&str>, status: Option<u16>) -> Classification {
    if let Some(code) = code {
        if THROTTLING.contains(&code) || TRANSIENT.contains(&code) {
            return Classification::Transient;
        }
        if UNAUTHORIZED.contains(&code) {
            return Classification::Unauthorized;
        }
        if INVALID_INPUT.contains(&code) {
            return Classification::InvalidInput;
        }
    }
    match status {
        Some(429 | 500..=599) => Classification::Transient,
        Some(401 | 403) => Classification::Unauthorized,
        _ => Classification::Failed,
    }
}

fn hint_for(code: Option<&str>, class: Classification, what: &str) -> Option<String> {
    let hint = match code {
        Some("ExpiredToken" | "ExpiredTokenException") => {
            "the credentials have expired: get fresh ones (run oidc-creds again, or `aws sso login` for an SSO profile)".to_owned()
        }
        Some("RequestExpired") => {
            "the request's timestamp is too far from AWS's clock: check this machine's clock (NTP)".to_owned()
        }
        Some("InvalidClientTokenId" | "InvalidAccessKeyId" | "UnrecognizedClientException") => {
            "AWS does not recognise this access key: check which credentials are in use \
             (AWS_ACCESS_KEY_ID, AWS_PROFILE, the document piped in), and for an opt-in region that \
             it is enabled for the account"
                .to_owned()
        }
        Some("SignatureDoesNotMatch" | "InvalidSignatureException" | "IncompleteSignature") => {
            "the secret key does not match the access key, or this machine's clock is more than 5 minutes off".to_owned()
        }
        Some("MissingAuthenticationToken") => {
            "no credentials were sent: configure credentials (pipe in oidc-creds' document, or set AWS_PROFILE)".to_owned()
        }
        Some("RegionDisabledException" | "OptInRequired") => {
            "STS is not activated in this region for the account: activate it (IAM > Account settings) or pass another --region".to_owned()
        }
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "UnauthorizedAccess") => {
            format!("the identity in use may not call {what}: allow it in that identity's IAM policy (and any resource policy or SCP that applies)")
        }
        Some("NoSuchEntity" | "ResourceNotFoundException" | "NotFoundException") => {
            "check the name, the account and the region".to_owned()
        }
        Some("MalformedPolicyDocument" | "MalformedPolicyDocumentException") => {
            "the policy must be IAM policy JSON with a Version and a Statement list".to_owned()
        }
        Some("PackedPolicyTooLarge") => {
            "shorten the session policy or pass fewer --policy-arn values (session policies share a size limit with session tags)".to_owned()
        }
        _ if class == Classification::Transient => {
            "AWS was unavailable or throttling even after retries: run the step again later".to_owned()
        }
        _ => return None,
    };
    Some(hint)
}

/// The first line of a service message, shortened: enough to explain, never an echo of a request.
fn short_message(message: &str) -> String {
    const MAX: usize = 300;
    let first = message.lines().next().unwrap_or_default().trim();
    // "The Canonical String for this request should have been …" follows the first sentence of
    // AWS's signature errors and quotes the request; stop before it.
    let first = first
        .split("The Canonical String")
        .next()
        .unwrap_or(first)
        .trim();
    if first.chars().count() > MAX {
        let cut: String = first.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        first.to_owned()
    }
}

/// The error chain's texts, outermost first, for the causes of a transport failure.
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

fn find_credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// Turns an SDK error into a [`StageError`]: throttling, 5xx, timeouts and connection failures
/// are `unavailable`; refused credentials or permissions `unauthorized`; bad parameters
/// `invalid-input`; anything else `failed`. The message starts with `what` (e.g.
/// `sts:AssumeRoleWithWebIdentity`) and carries the service's code and message, the HTTP status
/// and request id; the hint says how to fix it when that is clear.
pub fn sdk_error<E, R>(what: &str, err: &SdkError<E, R>) -> StageError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: Debug + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let raw: &dyn Any = service.raw();
            let status = raw
                .downcast_ref::<HttpResponse>()
                .map(|r| r.status().as_u16());
            let code = e.code();
            let class = classify_code(code, status);
            let mut message = format!("{what}: {}", code.unwrap_or("error"));
            if let Some(text) = e.message().map(short_message).filter(|t| !t.is_empty()) {
                message.push_str(": ");
                message.push_str(&text);
            }
            let mut details = Vec::new();
            if let Some(status) = status {
                details.push(format!("HTTP {status}"));
            }
            if let Some(id) = e.meta().extra("aws_request_id") {
                details.push(format!("request id {id}"));
            }
            if !details.is_empty() {
                let _ = write!(message, " ({})", details.join(", "));
            }
            let error = StageError::new(class.kind(), message);
            match hint_for(code, class, what) {
                Some(hint) => error.with_hint(hint),
                None => error,
            }
        }
        SdkError::TimeoutError(_) => StageError::unavailable(format!(
            "{what}: no answer from AWS in time (connect {}s, attempt {}s), even after retries",
            crate::CONNECT_TIMEOUT.as_secs(),
            crate::OPERATION_ATTEMPT_TIMEOUT.as_secs()
        ))
        .with_hint("check the network path to AWS (proxy, firewall, AWS_ENDPOINT_URL)"),
        SdkError::DispatchFailure(failure) => {
            if let Some(creds) = StdError::source(err).and_then(find_credentials_error) {
                return credentials_error(what, creds);
            }
            let detail = StdError::source(err).map(chain_text).unwrap_or_default();
            // A client with no credentials provider fails before sending anything, with a long
            // explanation meant for SDK developers; ours says where credentials come from.
            if failure.is_other() && detail.contains("no identity resolver") {
                return StageError::unauthorized(format!(
                    "{what}: no AWS credentials configured, and this call must be signed"
                ))
                .with_hint(CREDENTIALS_HINT);
            }
            let kind = if failure.is_user() {
                ErrorKind::InvalidInput
            } else {
                ErrorKind::Unavailable
            };
            StageError::new(kind, format!("{what}: could not send the request: {detail}"))
                .with_hint("check the network path to AWS and any AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> setting")
        }
        SdkError::ResponseError(_) => {
            let detail = StdError::source(err).map(chain_text).unwrap_or_default();
            StageError::unavailable(format!("{what}: unreadable answer from AWS: {detail}"))
                .with_hint("if AWS_ENDPOINT_URL points somewhere, check that it is an AWS-compatible endpoint")
        }
        SdkError::ConstructionFailure(_) => {
            let detail = StdError::source(err).map(chain_text).unwrap_or_default();
            StageError::invalid_input(format!("{what}: could not build the request: {detail}"))
        }
        _ => StageError::new(ErrorKind::Failed, format!("{what}: {}", chain_text(err))),
    }
}

const CREDENTIALS_HINT: &str = "pipe in the document printed by oidc-creds, or configure credentials: \
     AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN";

fn credentials_error(what: &str, err: &CredentialsError) -> StageError {
    let detail = chain_text(err);
    match err {
        CredentialsError::ProviderTimedOut(_) => StageError::unavailable(format!(
            "{what}: the credential source did not answer in time: {detail}"
        ))
        .with_hint("check the network path to the credential source (SSO, instance metadata, STS)"),
        CredentialsError::CredentialsNotLoaded(_) => StageError::unauthorized(format!(
            "{what}: no AWS credentials found: {detail}"
        ))
        .with_hint(CREDENTIALS_HINT),
        _ => StageError::unauthorized(format!(
            "{what}: the credential source failed: {detail}"
        ))
        .with_hint("check the profile's settings (SSO session, credential_process, role_arn) with `aws configure list`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    /// A service error the way a generated client reports an unmodelled code.
    #[derive(Debug)]
    struct TestError(ErrorMetadata);
    impl std::fmt::Display for TestError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}", self.0.code().unwrap_or("unhandled"))
        }
    }
    impl StdError for TestError {}
    impl ProvideErrorMetadata for TestError {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn service(
        code: Option<&str>,
        message: &str,
        status: u16,
    ) -> SdkError<TestError, HttpResponse> {
        let mut meta = ErrorMetadata::builder()
            .message(message)
            .custom("aws_request_id", "req-123");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(TestError(meta.build()), raw)
    }

    #[test]
    fn codes_pick_the_kind_and_exit_code() {
        for (code, status, kind) in [
            (Some("Throttling"), 400, ErrorKind::Unavailable),
            (Some("IDPCommunicationError"), 400, ErrorKind::Unavailable),
            (None, 503, ErrorKind::Unavailable),
            (None, 500, ErrorKind::Unavailable),
            (Some("AccessDenied"), 403, ErrorKind::Unauthorized),
            (Some("InvalidClientTokenId"), 403, ErrorKind::Unauthorized),
            (Some("ExpiredToken"), 400, ErrorKind::Unauthorized),
            (
                Some("UnrecognizedClientException"),
                400,
                ErrorKind::Unauthorized,
            ),
            (Some("SignatureDoesNotMatch"), 403, ErrorKind::Unauthorized),
            (Some("InvalidIdentityToken"), 400, ErrorKind::Unauthorized),
            (Some("ValidationError"), 400, ErrorKind::InvalidInput),
            (Some("InvalidParameterValue"), 400, ErrorKind::InvalidInput),
            (Some("SomethingNew"), 400, ErrorKind::Failed),
            (None, 401, ErrorKind::Unauthorized),
        ] {
            let err = sdk_error("sts:GetCallerIdentity", &service(code, "m", status));
            assert_eq!(err.kind(), kind, "{code:?} {status}");
        }
    }

    #[test]
    fn message_names_the_call_code_status_and_request_id() {
        let err = sdk_error(
            "sts:AssumeRoleWithWebIdentity",
            &service(
                Some("AccessDenied"),
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                403,
            ),
        );
        assert_eq!(
            err.message(),
            "sts:AssumeRoleWithWebIdentity: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity (HTTP 403, request id req-123)"
        );
        assert!(
            err.hint()
                .unwrap()
                .contains("sts:AssumeRoleWithWebIdentity")
        );
        assert_eq!(err.exit_code(), 3);
    }

    #[test]
    fn signature_errors_never_echo_the_canonical_request() {
        let err = sdk_error(
            "sts:GetCallerIdentity",
            &service(
                Some("SignatureDoesNotMatch"),
                "The request signature we calculated does not match the signature you provided. The Canonical String for this request should have been\n'POST\n/\nx-amz-security-token:SESSIONTOKENVALUE'",
                403,
            ),
        );
        assert!(
            !err.message().contains("SESSIONTOKENVALUE"),
            "{}",
            err.message()
        );
        assert!(
            err.message()
                .contains("does not match the signature you provided")
        );
        assert!(err.hint().unwrap().contains("clock"));
    }

    #[test]
    fn transport_failures_are_unavailable_with_the_cause() {
        let err: SdkError<TestError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))));
        let stage = sdk_error("eks:DescribeCluster", &err);
        assert_eq!(stage.kind(), ErrorKind::Unavailable);
        assert!(
            stage
                .message()
                .starts_with("eks:DescribeCluster: could not send the request")
        );
        assert!(
            stage.message().contains("connection refused"),
            "{}",
            stage.message()
        );

        let err: SdkError<TestError, HttpResponse> =
            SdkError::timeout_error(Box::new(std::io::Error::other("slow")));
        assert_eq!(sdk_error("x", &err).kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn missing_credentials_are_unauthorized_with_a_hint() {
        let err: SdkError<TestError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(CredentialsError::not_loaded(
                    "no providers in chain provided credentials",
                )),
                None,
            ));
        let stage = sdk_error("sts:GetCallerIdentity", &err);
        assert_eq!(stage.kind(), ErrorKind::Unauthorized, "{}", stage.message());
        assert!(stage.hint().unwrap().contains("oidc-creds"));
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);
        assert!(short_message(&long).chars().count() <= 301);
        assert_eq!(short_message("first\nsecond"), "first");
    }
}
