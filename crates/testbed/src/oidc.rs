//! A stand-in for GitHub Actions' OIDC token service: real RS256-signed JWTs with GitHub's claims,
//! served the way the Actions runtime serves them, from an issuer that publishes its discovery
//! document and keys like any OIDC provider.
//!
//! - `GET {request_url}&audience=AUD` with `Authorization: Bearer {request_token}` (the scheme is
//!   case-insensitive, the token is not) answers `{"count": 1, "value": JWT}`, as GitHub does;
//!   no or a wrong bearer token is 401, a missing audience gives GitHub's default
//!   (`https://github.com/OWNER`).
//! - `/.well-known/openid-configuration` and `/.well-known/jwks` make the service a believable
//!   issuer: a verifier can fetch the key by the token's `kid` and check the signature.
//!
//! The key is a fresh 2048-bit RSA key per service, so no key is ever shared between runs. The
//! issuer is this service's own URL (not `token.actions.githubusercontent.com`): the discovery
//! document and the `iss` claim must name the same place for a verifier to trust either.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine;
use serde_json::{Value, json};

use crate::http::{HttpServer, Request, Response};
use crate::process::other;

/// How long a token is valid: ten minutes, enough for a deploy step that uses it at once.
const LIFETIME_SECS: u64 = 600;
/// The path of the token endpoint, with the query GitHub's request URL carries.
const TOKEN_PATH: &str = "/_apis/pipelines/workflows/1/idtoken";

/// What the tokens say about the workflow run that asks for them.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// `OWNER/REPO`.
    pub repository: String,
    /// The job's GitHub environment: the `sub` claim becomes `repo:…:environment:NAME`.
    pub environment: Option<String>,
    /// `refs/heads/main`.
    pub git_ref: String,
    /// The commit.
    pub sha: String,
}

impl Default for Workflow {
    fn default() -> Self {
        Self {
            repository: "cloudtolocalllm/cloudtolocalllm".to_owned(),
            environment: Some("development".to_owned()),
            git_ref: "refs/heads/main".to_owned(),
            sha: "0000000000000000000000000000000000000000".to_owned(),
        }
    }
}

struct Signer {
    key: KeyPair,
    kid: String,
    jwk: Value,
}

/// A running token service; stops when dropped.
pub struct GitHubOidc {
    server: HttpServer,
    request_token: String,
    issued: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for GitHubOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bearer token and the issued JWTs are secrets: never in a Debug dump.
        f.debug_struct("GitHubOidc")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl GitHubOidc {
    /// Starts the service on a free loopback port with a new key.
    pub fn start(workflow: Workflow) -> std::io::Result<Self> {
        let signer = Arc::new(signer()?);
        let request_token = format!("gha-{}", random_hex(16)?);
        let issuer: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
        let handed_out = Arc::new(Mutex::new(Vec::new()));
        let (bearer, iss, log) = (
            request_token.clone(),
            Arc::clone(&issuer),
            Arc::clone(&handed_out),
        );
        let server = HttpServer::start(move |request| {
            let issuer = iss.get().map_or("", String::as_str);
            answer(request, &signer, &workflow, issuer, &bearer, &log)
        })?;
        let _ = issuer.set(server.url());
        Ok(Self {
            server,
            request_token,
            issued: handed_out,
        })
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL`: already has a query, as GitHub's does, so clients append
    /// `&audience=…`.
    pub fn request_url(&self) -> String {
        format!("{}{TOKEN_PATH}?api-version=2.0", self.server.url())
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, the bearer token the request must carry.
    pub fn request_token(&self) -> &str {
        &self.request_token
    }

    /// The issuer (`iss`), which serves `/.well-known/openid-configuration`.
    pub fn issuer(&self) -> String {
        self.server.url()
    }

    /// Every JWT handed out so far (tests check that none leaks into output).
    pub fn issued(&self) -> Vec<String> {
        self.issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}

fn answer(
    request: &Request,
    signer: &Signer,
    workflow: &Workflow,
    issuer: &str,
    bearer: &str,
    handed_out: &Mutex<Vec<String>>,
) -> Response {
    match request.path() {
        "/.well-known/openid-configuration" => Response::json(
            200,
            &json!({
                "issuer": issuer,
                "jwks_uri": format!("{issuer}/.well-known/jwks"),
                "subject_types_supported": ["public", "pairwise"],
                "response_types_supported": ["id_token"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref",
                    "sha", "repository", "repository_owner", "environment", "run_id",
                    "run_number", "run_attempt", "actor", "workflow", "event_name",
                    "ref_type", "job_workflow_ref"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid"],
            }),
        ),
        "/.well-known/jwks" => Response::json(200, &json!({ "keys": [signer.jwk] })),
        TOKEN_PATH if request.method == "GET" => {
            let authorised = request
                .header("authorization")
                .and_then(|h| h.split_once(' '))
                .is_some_and(|(scheme, token)| {
                    scheme.eq_ignore_ascii_case("bearer") && token.trim() == bearer
                });
            if !authorised {
                return Response::json(401, &json!({"message": "Bad credentials"}));
            }
            let owner = workflow
                .repository
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let query = request.target.split_once('?').map_or("", |(_, q)| q);
            let audience = form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "audience")
                .map_or_else(
                    || format!("https://github.com/{owner}"),
                    |(_, a)| a.into_owned(),
                );
            match sign(signer, &claims(workflow, issuer, &audience)) {
                Ok(jwt) => {
                    handed_out
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(jwt.clone());
                    Response::json(200, &json!({"count": 1, "value": jwt}))
                }
                Err(e) => Response::text(500, format!("signing failed: {e}")),
            }
        }
        _ => Response::json(404, &json!({"message": "Not Found"})),
    }
}

/// The claims GitHub puts in a job's token.
fn claims(workflow: &Workflow, issuer: &str, audience: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let repo = &workflow.repository;
    let owner = repo.split('/').next().unwrap_or_default();
    let sub = workflow.environment.as_ref().map_or_else(
        || format!("repo:{repo}:ref:{}", workflow.git_ref),
        |env| format!("repo:{repo}:environment:{env}"),
    );
    let mut claims = json!({
        "jti": random_hex(16).unwrap_or_default(),
        "sub": sub,
        "aud": audience,
        "ref": workflow.git_ref,
        "sha": workflow.sha,
        "repository": repo,
        "repository_owner": owner,
        "repository_visibility": "private",
        "run_id": "1",
        "run_number": "1",
        "run_attempt": "1",
        "actor": owner,
        "workflow": "deploy",
        "event_name": "push",
        "ref_type": "branch",
        "job_workflow_ref": format!("{repo}/.github/workflows/deploy.yml@{}", workflow.git_ref),
        "iss": issuer,
        "nbf": now.saturating_sub(5),
        "iat": now,
        "exp": now + LIFETIME_SECS,
    });
    if let (Some(env), Some(map)) = (&workflow.environment, claims.as_object_mut()) {
        map.insert("environment".to_owned(), Value::String(env.clone()));
    }
    claims
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(signer: &Signer, claims: &Value) -> std::io::Result<String> {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": signer.kid});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut signature = vec![0; signer.key.public_modulus_len()];
    signer
        .key
        .sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| other("RSA signing failed"))?;
    Ok(format!("{input}.{}", b64(&signature)))
}

fn signer() -> std::io::Result<Signer> {
    let key =
        KeyPair::generate(KeySize::Rsa2048).map_err(|_| other("RSA key generation failed"))?;
    let (n, e) = rsa_public_components(key.public_key().as_ref())
        .ok_or_else(|| other("the generated RSA public key is not the DER expected"))?;
    let kid = random_hex(8)?;
    let jwk = json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": b64(&n), "e": b64(&e),
    });
    Ok(Signer { key, kid, jwk })
}

/// `n` and `e` (big-endian, no leading zero) of a DER `RSAPublicKey` (RFC 8017):
/// `SEQUENCE { INTEGER n, INTEGER e }`.
pub(crate) fn rsa_public_components(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (tag, body, _) = der_item(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag_n, n, rest) = der_item(body)?;
    let (tag_e, e, _) = der_item(rest)?;
    if tag_n != 0x02 || tag_e != 0x02 {
        return None;
    }
    let strip = |v: &[u8]| {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        v[start..].to_vec()
    };
    Some((strip(n), strip(e)))
}

/// One DER item: (tag, contents, what follows).
fn der_item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn random_hex(bytes: usize) -> std::io::Result<String> {
    use aws_lc_rs::rand::SecureRandom;
    use std::fmt::Write;
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| other("no randomness"))?;
    Ok(buf.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_public_key_components() {
        // SEQUENCE { INTEGER 0x00C1, INTEGER 0x010001 }
        let der = [
            0x30, 0x09, 0x02, 0x02, 0x00, 0xC1, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        let (n, e) = rsa_public_components(&der).unwrap();
        assert_eq!(n, [0xC1]);
        assert_eq!(e, [0x01, 0x00, 0x01]);
        assert!(rsa_public_components(&der[..5]).is_none());
    }
}
