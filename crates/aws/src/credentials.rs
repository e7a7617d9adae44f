//! AWS's `credential_process` document: the JSON an external program prints so that AWS SDKs and
//! the CLI can use the credentials it obtained. `oidc-creds` prints it; `eks-token` reads it.
//!
//! The format is AWS's, not ours, so its fields are in Pascal case: `Version` (always 1),
//! `AccessKeyId`, `SecretAccessKey`, and optionally `SessionToken` and `Expiration` (RFC 3339).
//! SDKs ignore fields they do not know, which lets a pipewright document carry the stage envelope
//! beside them.

use std::time::SystemTime;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};
use stage::{Ctx, Secret, StageError};

/// The provider name the SDK reports for credentials that came from a document (it shows in the
/// SDK's own debug logs, and tells them apart from the standard chain's).
pub const PROVIDER_NAME: &str = "pipewright";

/// A `credential_process` document. Its secrets are [`Secret`]s, revealed when serialised: carrying
/// them is this document's purpose. Anything else holding one masks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    /// The document format's version; AWS defines only 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u8,
    /// The access key id (`ASIA…` for temporary credentials).
    #[serde(serialize_with = "stage::secret::reveal")]
    pub access_key_id: Secret,
    /// The secret access key.
    #[serde(serialize_with = "stage::secret::reveal")]
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "reveal_optional"
    )]
    pub session_token: Option<Secret>,
    /// When the credentials stop working (RFC 3339, e.g. `2025-01-31T12:00:00Z`); absent for
    /// long-term keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
}

// serde calls `serialize_with` functions with a reference to the field, here `&Option<Secret>`.
#[allow(clippy::ref_option)]
fn reveal_optional<S: Serializer>(
    secret: &Option<Secret>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => stage::secret::reveal(secret, serializer),
        None => serializer.serialize_none(),
    }
}

impl ProcessCredentials {
    /// Temporary credentials with an expiry, as STS returns them.
    pub fn temporary(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: impl Into<String>,
        expiration: Option<jiff::Timestamp>,
    ) -> Self {
        Self {
            version: 1,
            access_key_id: Secret::new(access_key_id),
            secret_access_key: Secret::new(secret_access_key),
            session_token: Some(Secret::new(session_token)),
            expiration: expiration.map(|t| t.to_string()),
        }
    }

    /// The SDK's form of these credentials, for a client's credentials provider.
    /// An `Expiration` that does not parse is treated as absent; [`Self::validate`] rejects it
    /// beforehand for documents from outside.
    pub fn to_sdk(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.expose(),
            self.secret_access_key.expose(),
            self.session_token.as_ref().map(|t| t.expose().to_owned()),
            self.expires_at().ok().flatten().map(SystemTime::from),
            PROVIDER_NAME,
        )
    }

    /// Declares the three secret values to the run, so they are masked on stderr and in errors,
    /// and under GitHub Actions in the whole job log. Call it before anything could print them.
    pub fn register_secrets(&self, ctx: &Ctx) {
        ctx.register_secret(&self.access_key_id);
        ctx.register_secret(&self.secret_access_key);
        if let Some(token) = &self.session_token {
            ctx.register_secret(token);
        }
    }

    /// When the credentials expire, if the document says.
    pub fn expires_at(&self) -> Result<Option<jiff::Timestamp>, StageError> {
        let Some(text) = &self.expiration else {
            return Ok(None);
        };
        text.parse::<jiff::Timestamp>().map(Some).map_err(|e| {
            StageError::invalid_input(format!(
                "credential document: Expiration {text:?} is not an RFC 3339 time: {e}"
            ))
            .with_hint("write it as e.g. 2025-01-31T12:00:00Z, or leave it out for long-term keys")
        })
    }

    /// Checks a document that came from outside (stdin, a file): version 1, non-empty keys, a
    /// readable expiry. Errors name the field and never show a value.
    pub fn validate(&self) -> Result<(), StageError> {
        if self.version != 1 {
            return Err(StageError::invalid_input(format!(
                "credential document: Version is {}, but AWS's credential_process format only has version 1",
                self.version
            )));
        }
        for (field, value) in [
            ("AccessKeyId", &self.access_key_id),
            ("SecretAccessKey", &self.secret_access_key),
        ] {
            if value.expose().trim().is_empty() {
                return Err(StageError::invalid_input(format!(
                    "credential document: {field} is empty"
                ))
                .with_hint("pipe in the document printed by `oidc-creds`, or any credential_process output"));
            }
        }
        self.expires_at().map(|_| ())
    }

    /// Whether the credentials expire within `margin` from `now` (or already have).
    pub fn expires_within(&self, now: jiff::Timestamp, margin: std::time::Duration) -> bool {
        match self.expires_at() {
            Ok(Some(at)) => jiff::SignedDuration::try_from(margin)
                .ok()
                .and_then(|m| now.checked_add(m).ok())
                .is_none_or(|deadline| at <= deadline),
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ProcessCredentials {
        ProcessCredentials::temporary(
            "ASIAEXAMPLEKEY000001",
            "secret/example+key",
            "session-token-example",
            Some("2030-01-02T03:04:05Z".parse().unwrap()),
        )
    }

    #[test]
    fn serialises_as_aws_documents_it_with_the_values_revealed() {
        let text = serde_json::to_string(&sample()).unwrap();
        assert_eq!(
            text,
            r#"{"Version":1,"AccessKeyId":"ASIAEXAMPLEKEY000001","SecretAccessKey":"secret/example+key","SessionToken":"session-token-example","Expiration":"2030-01-02T03:04:05Z"}"#
        );
    }

    #[test]
    fn optional_fields_are_left_out_and_read_back() {
        let doc: ProcessCredentials = serde_json::from_str(
            r#"{"Version":1,"AccessKeyId":"AKIAEXAMPLE","SecretAccessKey":"s3cret-key","ok":true,"tool":"oidc-creds"}"#,
        )
        .unwrap();
        assert_eq!(doc.session_token, None);
        assert_eq!(doc.expiration, None);
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"Version":1,"AccessKeyId":"AKIAEXAMPLE","SecretAccessKey":"s3cret-key"}"#
        );
        doc.validate().unwrap();
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("ASIAEXAMPLEKEY000001"), "{shown}");
        assert!(!shown.contains("secret/example+key"), "{shown}");
        assert!(!shown.contains("session-token-example"), "{shown}");
    }

    #[test]
    fn converts_to_sdk_credentials_with_expiry() {
        let sdk = sample().to_sdk();
        assert_eq!(sdk.access_key_id(), "ASIAEXAMPLEKEY000001");
        assert_eq!(sdk.secret_access_key(), "secret/example+key");
        assert_eq!(sdk.session_token(), Some("session-token-example"));
        let expected: jiff::Timestamp = "2030-01-02T03:04:05Z".parse().unwrap();
        assert_eq!(sdk.expiry(), Some(SystemTime::from(expected)));
    }

    #[test]
    fn validate_rejects_other_versions_empty_keys_and_bad_times_without_values() {
        let mut doc = sample();
        doc.version = 2;
        assert!(
            doc.validate()
                .unwrap_err()
                .message()
                .contains("Version is 2")
        );

        let mut doc = sample();
        doc.secret_access_key = Secret::new(" ");
        let err = doc.validate().unwrap_err();
        assert!(err.message().contains("SecretAccessKey is empty"));
        assert_eq!(err.exit_code(), 2);

        let mut doc = sample();
        doc.expiration = Some("tomorrow".to_owned());
        let err = doc.validate().unwrap_err();
        assert!(err.message().contains("Expiration"));
        assert!(!err.message().contains("ASIAEXAMPLEKEY000001"));
    }

    #[test]
    fn expiry_margin() {
        let doc = sample();
        let now: jiff::Timestamp = "2030-01-02T03:00:00Z".parse().unwrap();
        assert!(!doc.expires_within(now, std::time::Duration::from_mins(1)));
        assert!(doc.expires_within(now, std::time::Duration::from_mins(10)));
        let mut forever = sample();
        forever.expiration = None;
        assert!(!forever.expires_within(now, std::time::Duration::from_mins(10)));
    }
}
