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

/// What a removed workflow command leaves behind.
pub const COMMAND_REMOVED: &str = "[workflow command removed]";

/// Removes from a text what must never be shown even when nobody registered it: GitHub Actions
/// workflow commands and the shapes of the credentials our tools and their children handle.
///
/// It exists for text that comes from another process (a kubeconfig exec plugin's output inside
/// kube-client's error, a `credential_process`'s output inside aws-config's error, container
/// logs): that child's secrets were never registered here, and a child that printed
/// `::add-mask::VALUE` has put the value itself into the text. The shapes are chosen so that
/// ordinary text (commit SHAs, image digests, uids, paths, base64 of certificates) is left alone:
///
/// - a workflow command (`::add-mask::…`, `::error …::…`, the legacy `##[add-mask]…`) at a line's
///   start or after a space, quote or escaped newline, from the command to the end of its line;
/// - a JWT: `eyJ` + base64url, three dot-separated segments (OIDC tokens, ServiceAccount tokens);
/// - an EKS token: `k8s-aws-v1.` + base64url;
/// - an AWS session token: base64 starting with the prefixes STS gives them (`IQoJb3JpZ2lu…`,
///   `FwoGZXIvYXdz…`, `FQoGZXIvYXdz…`, `AQoDYXdz…`), or any value after a `SessionToken` /
///   `security-token` / `aws_secret_access_key` style name;
/// - an AWS secret access key: a run of exactly 40 characters of `[A-Za-z0-9/+]` holding upper
///   and lower case letters and digits (a SHA-1 in hex has no upper case, so it is kept).
pub fn scrub(text: &str) -> String {
    use std::sync::LazyLock;

    use regex::Regex;

    // Unwraps on literals: covered by the tests below, never by input.
    #[allow(clippy::unwrap_used)]
    static COMMAND: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?m)(^|[\s"'`]|\\[nr])(?:::(?:add-mask|error|warning|notice|debug|group|endgroup|set-output|save-state|set-env|add-path|stop-commands|echo|add-matcher|remove-matcher)(?:[ \t][^\n]*?)?::|##\[(?:add-mask|error|warning|notice|debug|group|endgroup|set-output|set-env|add-path|command|section)[^\]\n]*\])[^\n]*"#,
        )
        .unwrap()
    });
    #[allow(clippy::unwrap_used)]
    static NAMED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?i)((?:session|security)[_-]?token|secret[_-]?access[_-]?key)(\\?["']?\s*[:=]\s*\\?["']?)[A-Za-z0-9/+=%_-]{16,}"#,
        )
        .unwrap()
    });
    #[allow(clippy::unwrap_used)]
    static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*|k8s-aws-v1\.[A-Za-z0-9_-]+|(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9/+=]{16,}",
        )
        .unwrap()
    });
    #[allow(clippy::unwrap_used)]
    static RUN40: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[A-Za-z0-9/+]+").unwrap());

    // A command counts where the runner would obey it (a line's start) and where a child's line
    // was embedded in another text (after a space, a quote or an escaped newline), not inside a
    // Rust path such as `kube::error::Error`.
    let text = COMMAND.replace_all(text, format!("${{1}}{COMMAND_REMOVED}"));
    let text = NAMED.replace_all(&text, format!("${{1}}${{2}}{MASK}"));
    let text = TOKENS.replace_all(&text, MASK);
    let text = RUN40.replace_all(&text, |caps: &regex::Captures<'_>| {
        let run = &caps[0];
        let looks_like_key = run.len() == 40
            && run.bytes().any(|b| b.is_ascii_uppercase())
            && run.bytes().any(|b| b.is_ascii_lowercase())
            && run.bytes().any(|b| b.is_ascii_digit());
        if looks_like_key {
            MASK.to_owned()
        } else {
            run.to_owned()
        }
    });
    text.into_owned()
}

/// Every line of a multi-line secret (a PEM key) that is long enough to mask on its own: output is
/// often shown line by line, and one line of a key is as secret as the whole.
pub fn lines_of(value: &str) -> impl Iterator<Item = &str> {
    value
        .lines()
        .map(str::trim)
        .filter(move |line| line.len() >= MIN_MASKED_LEN && line.len() < value.trim().len())
}

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

    #[test]
    fn scrub_removes_commands_and_credential_shapes() {
        let key = "wJalrXUtnFEMIK7MDENGbPxRfiCY1EXAMPLEKEY/";
        assert_eq!(key.len(), 40);
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOngifQ.c2lnbmF0dXJl";
        let text = format!(
            "exec failed: stderr: ::add-mask::{key}\n::error title=x::boom {jwt}\nnext line {key} k8s-aws-v1.aHR0cHM6Ly9zdHM end"
        );
        let out = scrub(&text);
        assert!(
            !out.contains(key) && !out.contains(jwt) && !out.contains("aHR0c"),
            "{out}"
        );
        assert!(
            out.starts_with("exec failed: stderr: [workflow command removed]\n"),
            "{out}"
        );
        assert!(out.contains("next line *** *** end"), "{out}");
        let named =
            scrub(r#"{"SessionToken":"abcdefghijklmnop1234","AWS_SECRET_ACCESS_KEY=short"}"#);
        assert_eq!(
            named,
            r#"{"SessionToken":"***","AWS_SECRET_ACCESS_KEY=short"}"#
        );
        let legacy = scrub("a\n##[add-mask]hunter2-secret\nb");
        assert_eq!(legacy, "a\n[workflow command removed]\nb");
    }

    #[test]
    fn scrub_keeps_ordinary_text() {
        for text in [
            "image docker.io/cloudtolocalllm/web:0123456789abcdef0123456789abcdef01234567",
            "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
            "uid 6f1b2c3d-1234-4abc-8def-0123456789ab, path /root/.cache/pipewright/eks-token",
            "deployment/api: 2 of 3 replicas ready; a::b::c is a Rust path, kube::error::Error",
            "arn:aws:iam::123456789012:role/deploy assumed by AKIAIOSFODNN7EXAMPLE",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    #[test]
    fn pem_lines_are_listed_but_not_one_line_values() {
        let pem = "-----BEGIN KEY-----\nMIIabc123\nxy\n-----END KEY-----\n";
        assert_eq!(
            lines_of(pem).collect::<Vec<_>>(),
            ["-----BEGIN KEY-----", "MIIabc123", "-----END KEY-----"]
        );
        assert_eq!(lines_of("one-line-secret").count(), 0);
    }
}
