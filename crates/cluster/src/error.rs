//! From a kube error to the stage contract's error kinds, with the API server's own words.
//!
//! The kind decides the exit code, so the mapping matters: a refused credential is exit 3
//! ("unauthorized"), not exit 1, and a server we could not reach after retries is exit 3
//! ("unavailable"), never a "failed" deploy.

use stage::StageError;

use crate::retry::{innermost, is_certificate_error, transient};

/// The [`StageError`] for a failed API call, given what we were doing ("recording revision 3 of
/// release web"). Call it on the error [`crate::retry()`] gave up with.
///
/// | answer | kind |
/// | --- | --- |
/// | 401, 403, no credentials | `unauthorized` |
/// | 400, 422 | `invalid-input` (the server refused the object, nothing changed) |
/// | 404, 409, 410, others | `failed` |
/// | 408, 429, 5xx, no connection | `unavailable` |
pub fn api_error(what: &str, err: &kube::Error) -> StageError {
    let error = match err {
        kube::Error::Api(status) => {
            let code = status.code;
            let detail = if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            };
            match code {
                401 => StageError::unauthorized(format!(
                    "{what}: the API server refused our credentials (401 Unauthorized): {detail}"
                ))
                .with_hint(
                    "check the kubeconfig's user: an expired token, or an exec plugin \
                     (eks-token) producing a token for another cluster or role",
                ),
                403 => StageError::unauthorized(format!("{what}: forbidden: {detail}")).with_hint(
                    "the identity has no permission for this; on EKS, check the access entry \
                     (or aws-auth mapping) and the RBAC bindings of the deploy role",
                ),
                404 => StageError::failed(format!("{what}: not found: {detail}")),
                409 => StageError::failed(format!("{what}: conflict: {detail}")),
                400 | 422 => StageError::invalid_input(format!(
                    "{what}: the API server refused it as invalid: {detail}"
                )),
                408 | 429 | 500..=599 => StageError::unavailable(format!(
                    "{what}: the API server answered {code} {} (gave up after retries): {detail}",
                    status.reason
                )),
                _ => StageError::failed(format!(
                    "{what}: the API server answered {code} {}: {detail}",
                    status.reason
                )),
            }
        }
        kube::Error::Auth(e) => StageError::unauthorized(format!(
            "{what}: could not get credentials for the API server: {e}"
        ))
        .with_hint(
            "check the kubeconfig's user entry (its exec plugin, token file or certificate)",
        ),
        _ if is_certificate_error(err) => StageError::unavailable(format!(
            "{what}: the API server's TLS certificate did not verify: {}",
            innermost(err)
        ))
        .with_hint("the kubeconfig's certificate-authority-data does not match this server"),
        _ if transient(err).is_some() => StageError::unavailable(format!(
            "{what}: could not reach the API server (gave up after retries): {}",
            innermost(err)
        )),
        kube::Error::InferKubeconfig(e) => {
            StageError::invalid_input(format!("{what}: bad kubeconfig: {e}"))
        }
        other => StageError::unavailable(format!("{what}: {other}")),
    };
    error.with_source(Cause::chain(err))
}

/// The source chain of an error, copied as text: `StageError` owns its source, and the kube
/// error stays with the caller.
#[derive(Debug)]
struct Cause {
    text: String,
    source: Option<Box<Cause>>,
}

impl Cause {
    fn chain(err: &(dyn std::error::Error + 'static)) -> Self {
        Self {
            text: err.to_string(),
            source: err.source().map(|s| Box::new(Self::chain(s))),
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stage::ErrorKind;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(message, reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn kinds_follow_the_status_code() {
        let cases = [
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Unauthorized),
            (404, ErrorKind::Failed),
            (409, ErrorKind::Failed),
            (422, ErrorKind::InvalidInput),
            (429, ErrorKind::Unavailable),
            (503, ErrorKind::Unavailable),
        ];
        for (code, kind) in cases {
            let e = api_error("reading", &status(code, "Reason", "the message"));
            assert_eq!(e.kind(), kind, "{code}");
            assert!(e.message().starts_with("reading: "), "{}", e.message());
            assert!(e.message().contains("the message"), "{}", e.message());
        }
    }
}
