//! Who may talk to the simulator: a static bearer token (the default, written into the
//! kubeconfig), and optionally EKS-style tokens (`k8s-aws-v1.` + a presigned STS
//! GetCallerIdentity URL), checked the way aws-iam-authenticator does.

use hyper::HeaderMap;

use crate::api::status::ApiError;
use crate::eks_auth::EksAuth;

/// How requests are authenticated.
#[derive(Debug)]
pub struct Authenticator {
    token: Option<String>,
    eks: Option<EksAuth>,
}

impl Authenticator {
    pub fn new(token: Option<String>, eks: Option<EksAuth>) -> Self {
        Self { token, eks }
    }

    /// Accepts the request or answers 401 with a Status body.
    pub async fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let presented = headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(ApiError::unauthorized("Unauthorized: no bearer token"));
        };
        if let Some(token) = &self.token
            && constant_time_eq(presented.as_bytes(), token.as_bytes())
        {
            return Ok(());
        }
        if let Some(eks) = &self.eks
            && presented.starts_with(crate::eks_auth::TOKEN_PREFIX)
        {
            return eks.verify(presented).await.map(|_| ());
        }
        Err(ApiError::unauthorized("Unauthorized"))
    }
}

/// Compares without an early exit, so response time says nothing about how much of a token
/// matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
