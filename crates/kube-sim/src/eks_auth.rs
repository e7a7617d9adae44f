//! EKS-token authentication (to be written): decode `k8s-aws-v1.` tokens, check the presigned
//! STS GetCallerIdentity URL, call STS to learn the caller.

use crate::api::status::ApiError;

/// The prefix of every EKS bearer token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// Settings for EKS-token mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EksAuth {
    /// The cluster name tokens must be for (`x-k8s-aws-id`).
    pub cluster_name: String,
    /// Where to send the presigned GetCallerIdentity request (moto in tests) instead of the
    /// host in the token.
    pub sts_endpoint: String,
}

impl EksAuth {
    /// Verifies a token and returns the caller's ARN.
    pub async fn verify(&self, _token: &str) -> Result<String, ApiError> {
        Err(ApiError::unauthorized(
            "EKS-token authentication is not available yet",
        ))
    }
}
