//! The GitHub OIDC stand-in hands out real RS256 JWTs that verify against the key its issuer
//! publishes, with GitHub's claims, only to the bearer of the request token.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use serde_json::Value;

fn get(url: &str, bearer: Option<&str>) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let auth = bearer.map_or(String::new(), |b| format!("Authorization: bearer {b}\r\n"));
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn tokens_verify_against_the_published_key_and_carry_githubs_claims() {
    let oidc = testbed::GitHubOidc::start(testbed::Workflow::default()).unwrap();
    let url = format!("{}&audience=sts.amazonaws.com", oidc.request_url());

    assert_eq!(get(&url, None).0, 401);
    assert_eq!(get(&url, Some("not-the-token")).0, 401);
    assert!(oidc.issued().is_empty());

    let (status, body) = get(&url, Some(oidc.request_token()));
    assert_eq!(status, 200, "{body}");
    let jwt = serde_json::from_str::<Value>(&body).unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(oidc.issued(), std::slice::from_ref(&jwt));

    let (_, discovery) = get(
        &format!("{}/.well-known/openid-configuration", oidc.issuer()),
        None,
    );
    let discovery: Value = serde_json::from_str(&discovery).unwrap();
    assert_eq!(discovery["issuer"], oidc.issuer());
    let (_, jwks) = get(discovery["jwks_uri"].as_str().unwrap(), None);
    let jwks: Value = serde_json::from_str(&jwks).unwrap();

    let parts: Vec<&str> = jwt.split('.').collect();
    let header: Value = serde_json::from_slice(&b64(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    assert_eq!(header["alg"], "RS256");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    let public = RsaPublicKeyComponents {
        n: b64(key["n"].as_str().unwrap()),
        e: b64(key["e"].as_str().unwrap()),
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &b64(parts[2]),
        )
        .expect("the signature verifies with the published key");
    let mut tampered = b64(parts[2]);
    tampered[10] ^= 1;
    assert!(
        public
            .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &tampered)
            .is_err()
    );

    assert_eq!(claims["iss"], oidc.issuer());
    assert_eq!(claims["aud"], "sts.amazonaws.com");
    assert_eq!(
        claims["sub"],
        "repo:cloudtolocalllm/cloudtolocalllm:environment:development"
    );
    assert_eq!(claims["environment"], "development");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 3600, "{claims}");

    // Without an audience, GitHub's default: the owner's URL.
    let (_, body) = get(&oidc.request_url(), Some(oidc.request_token()));
    let jwt = serde_json::from_str::<Value>(&body).unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(&b64(jwt.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["aud"], "https://github.com/cloudtolocalllm");
}
