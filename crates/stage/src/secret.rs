//! A string that must never be printed by accident.
//!
//! `Debug`, `Display` and `Serialize` all give `***`, so a secret that slips into a log line, an
//! error message or a JSON report shows nothing. The few outputs whose purpose is to carry a
//! credential (oidc-creds' `credential_process` document, eks-token's ExecCredential) opt in per
//! field with `#[serde(serialize_with = "stage::secret::reveal")]`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

/// What a secret looks like wherever it is shown.
pub const MASK: &str = "***";

/// A secret value: a key, a token, a password, Secret data.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must use it (a request header, a file written 0600).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

/// Serialises the secret's real value. For the fields of credential documents only:
/// `#[serde(serialize_with = "stage::secret::reveal")]`.
pub fn reveal<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

/// Replaces every occurrence of the given secret values in a text with [`MASK`].
///
/// Values shorter than [`MIN_MASKED_LEN`] are left alone: masking every "a" would make output
/// unreadable, and anything that short is no secret.
pub fn mask_values<'a>(text: &str, values: impl IntoIterator<Item = &'a str>) -> String {
    let mut masked = text.to_owned();
    for value in values {
        if value.len() >= MIN_MASKED_LEN && masked.contains(value) {
            masked = masked.replace(value, MASK);
        }
    }
    masked
}

/// The shortest value [`mask_values`] masks.
pub const MIN_MASKED_LEN: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendering_hides_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s:#?}"), "***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn reveal_is_opt_in_per_field() {
        #[derive(Serialize)]
        struct Creds {
            #[serde(serialize_with = "reveal")]
            key: Secret,
            token: Secret,
        }
        let c = Creds {
            key: Secret::new("AKIAEXAMPLE"),
            token: Secret::new("tok-123456"),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"key":"AKIAEXAMPLE","token":"***"}"#
        );
    }

    #[test]
    fn secrets_deserialise_from_plain_strings() {
        let s: Secret = serde_json::from_str("\"pw-1234\"").unwrap();
        assert_eq!(s.expose(), "pw-1234");
    }

    #[test]
    fn mask_values_replaces_all_occurrences_but_not_tiny_values() {
        let out = mask_values("a pw-1234 b pw-1234 abc", ["pw-1234", "abc"]);
        assert_eq!(out, "a *** b *** abc");
    }
}
