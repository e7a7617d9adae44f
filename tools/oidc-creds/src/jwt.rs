//! Reading a JWT's claims without checking its signature: STS checks the token, we only explain
//! why STS refused it. The claims are not secret (they name the repository, branch and
//! environment); the token is, so nothing here ever prints the token itself.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The claims that a role's trust policy usually tests, in the order people compare them.
pub const EXPLAINED: &[&str] = &[
    "iss",
    "aud",
    "sub",
    "repository",
    "ref",
    "environment",
    "job_workflow_ref",
];

/// A token's payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(serde_json::Map<String, Value>);

impl Claims {
    /// Decodes the payload (second part) of a compact JWT. `None` when the token is not a JWT.
    pub fn decode(token: &str) -> Option<Self> {
        let mut parts = token.trim().split('.');
        let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        // Some issuers pad base64url; the JWT spec says not to, so accept both.
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(map) => Some(Self(map)),
            _ => None,
        }
    }

    /// A claim as text: strings as they are, arrays joined with ", ", anything else as JSON.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            other => Some(other.to_string()),
        }
    }

    /// The `exp` claim, when present.
    pub fn expires(&self) -> Option<jiff::Timestamp> {
        let seconds = self.0.get("exp")?.as_i64()?;
        jiff::Timestamp::from_second(seconds).ok()
    }

    /// One `name: value` line per explained claim (`(absent)` when missing), for a person to
    /// compare with the trust policy's conditions.
    pub fn explanation(&self) -> Vec<String> {
        EXPLAINED
            .iter()
            .map(|name| {
                format!(
                    "{name}: {}",
                    self.get(name).unwrap_or_else(|| "(absent)".to_owned())
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &Value) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        )
    }

    #[test]
    fn decodes_and_explains_github_claims() {
        let token = jwt(&serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com",
            "aud": ["sts.amazonaws.com", "other"],
            "sub": "repo:octo/web:ref:refs/heads/main",
            "repository": "octo/web",
            "ref": "refs/heads/main",
            "exp": 1_900_000_000,
        }));
        let claims = Claims::decode(&token).unwrap();
        let lines = claims.explanation();
        assert_eq!(lines[0], "iss: https://token.actions.githubusercontent.com");
        assert_eq!(lines[1], "aud: sts.amazonaws.com, other");
        assert_eq!(lines[2], "sub: repo:octo/web:ref:refs/heads/main");
        assert_eq!(lines[5], "environment: (absent)");
        assert_eq!(claims.expires().unwrap().as_second(), 1_900_000_000);
    }

    #[test]
    fn non_jwts_are_none() {
        assert!(Claims::decode("not a token").is_none());
        assert!(Claims::decode("a.b").is_none());
        assert!(Claims::decode("a.b.c.d").is_none());
        assert!(Claims::decode("a.!!!.c").is_none());
        let array = format!("h.{}.s", URL_SAFE_NO_PAD.encode("[1]"));
        assert!(Claims::decode(&array).is_none());
    }
}
