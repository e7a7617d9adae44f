//! The ExecCredential document kubectl (client-go) and kube-rs read from an exec plugin, and the
//! choice of its `apiVersion`.
//!
//! The document eks-token prints is this ExecCredential with the stage envelope (`ok`, `tool`,
//! `schema`) beside its fields. client-go decodes exec plugin output leniently (unknown fields are
//! ignored), as does kube-rs, and both are tested against the real binary; see
//! `docs/eks-token.md` for why the envelope is always there rather than behind a switch.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use stage::Secret;

/// The ExecCredential API versions eks-token speaks. `v1alpha1` is gone from kubectl since 1.24.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// What `aws eks get-token` answers when nobody asks otherwise, and what every kubectl since
    /// 1.11 reads.
    #[serde(rename = "client.authentication.k8s.io/v1beta1")]
    V1beta1,
    /// kubectl 1.22 and later; requires `interactiveMode` in the kubeconfig.
    #[serde(rename = "client.authentication.k8s.io/v1")]
    V1,
}

impl ApiVersion {
    /// The full `apiVersion` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V1beta1 => "client.authentication.k8s.io/v1beta1",
            Self::V1 => "client.authentication.k8s.io/v1",
        }
    }

    /// Reads `v1beta1`, `v1`, or the full `client.authentication.k8s.io/…` form.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text
            .trim()
            .trim_start_matches("client.authentication.k8s.io/")
        {
            "v1beta1" => Ok(Self::V1beta1),
            "v1" => Ok(Self::V1),
            _ => Err(format!(
                "{text:?} is not an ExecCredential API version eks-token speaks: use v1beta1 or v1"
            )),
        }
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `apiVersion` to answer with, and a warning for stderr when the choice was not clean.
///
/// kubectl passes `KUBERNETES_EXEC_INFO` (`{"apiVersion": …, "spec": {"interactive": …}}`) and
/// refuses an answer in another version than the one it asked for, so a version it names wins
/// over `--api-version`. Without it (an older client, or a person at a shell) `--api-version`
/// decides, else v1beta1, as the AWS CLI does.
pub fn negotiate(
    flag: Option<ApiVersion>,
    exec_info: Option<&str>,
) -> (ApiVersion, Option<String>) {
    let fallback = flag.unwrap_or(ApiVersion::V1beta1);
    let Some(raw) = exec_info.filter(|s| !s.trim().is_empty()) else {
        return (fallback, None);
    };
    let asked = serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("apiVersion")?.as_str().map(str::to_owned));
    let Some(asked) = asked else {
        return (
            fallback,
            Some(format!(
                "KUBERNETES_EXEC_INFO is not the JSON a Kubernetes client passes (no apiVersion); answering with {fallback}"
            )),
        );
    };
    match ApiVersion::parse(&asked) {
        Ok(version) => {
            let warning = flag.filter(|f| *f != version).map(|f| {
                format!("the Kubernetes client asked for {version}; --api-version {f} is ignored")
            });
            (version, warning)
        }
        Err(_) => (
            fallback,
            Some(format!(
                "the Kubernetes client asked for ExecCredential {asked}, which eks-token does not speak; answering with {fallback} (set apiVersion to v1beta1 or v1 in the kubeconfig's exec section)"
            )),
        ),
    }
}

/// An ExecCredential with a bearer token. Fields in the order and spelling of `aws eks get-token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecCredential {
    /// Always `ExecCredential`.
    pub kind: ExecCredentialKind,
    /// `client.authentication.k8s.io/v1beta1` or `client.authentication.k8s.io/v1`.
    pub api_version: ApiVersion,
    /// Always empty: the spec is what the client sends the plugin, not the answer.
    pub spec: ExecCredentialSpec,
    /// The credential.
    pub status: ExecCredentialStatus,
}

/// The `kind` of an ExecCredential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ExecCredentialKind {
    ExecCredential,
}

/// The (empty) `spec` of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ExecCredentialSpec {}

/// The `status` of an ExecCredential: the token and when the client should ask again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecCredentialStatus {
    /// When the client should get a new token: RFC 3339, UTC, whole seconds.
    pub expiration_timestamp: String,
    /// The bearer token, `k8s-aws-v1.…`. Shown here because carrying it is this document's purpose;
    /// masked everywhere else.
    #[serde(serialize_with = "stage::secret::reveal")]
    pub token: Secret,
}

impl ExecCredential {
    pub fn new(api_version: ApiVersion, token: Secret, expiration_timestamp: String) -> Self {
        Self {
            kind: ExecCredentialKind::ExecCredential,
            api_version,
            spec: ExecCredentialSpec {},
            status: ExecCredentialStatus {
                expiration_timestamp,
                token,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_INFO: &str = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;

    #[test]
    fn the_client_decides_when_it_says() {
        assert_eq!(negotiate(None, Some(V1_INFO)), (ApiVersion::V1, None));
        let (version, warning) = negotiate(Some(ApiVersion::V1beta1), Some(V1_INFO));
        assert_eq!(version, ApiVersion::V1);
        assert!(warning.unwrap().contains("--api-version"));
    }

    #[test]
    fn without_exec_info_the_flag_then_v1beta1_decide() {
        assert_eq!(negotiate(None, None), (ApiVersion::V1beta1, None));
        assert_eq!(
            negotiate(Some(ApiVersion::V1), None),
            (ApiVersion::V1, None)
        );
        assert_eq!(
            negotiate(Some(ApiVersion::V1), Some("")),
            (ApiVersion::V1, None)
        );
    }

    #[test]
    fn unusable_exec_info_falls_back_with_a_warning() {
        for info in [
            "not json",
            r#"{"kind":"ExecCredential"}"#,
            r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
        ] {
            let (version, warning) = negotiate(Some(ApiVersion::V1), Some(info));
            assert_eq!(version, ApiVersion::V1, "{info}");
            assert!(warning.is_some(), "{info}");
        }
    }

    #[test]
    fn serialises_like_the_aws_cli_with_the_token_revealed() {
        let cred = ExecCredential::new(
            ApiVersion::V1beta1,
            Secret::new("k8s-aws-v1.abc"),
            "2026-01-01T00:14:00Z".to_owned(),
        );
        assert_eq!(
            serde_json::to_string(&cred).unwrap(),
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{},"status":{"expirationTimestamp":"2026-01-01T00:14:00Z","token":"k8s-aws-v1.abc"}}"#
        );
    }

    #[test]
    fn versions_parse_short_and_long() {
        assert_eq!(ApiVersion::parse("v1"), Ok(ApiVersion::V1));
        assert_eq!(
            ApiVersion::parse("client.authentication.k8s.io/v1beta1"),
            Ok(ApiVersion::V1beta1)
        );
        assert!(ApiVersion::parse("v1alpha1").is_err());
    }
}
