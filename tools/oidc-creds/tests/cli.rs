//! The `oidc-creds` binary against real peers: moto for STS and IAM, a local HTTP server playing
//! GitHub's OIDC token service, and STS stand-ins that answer errors (throttling, refusals) as STS
//! does. Every run has a cleared environment, and every run's stderr (at `-v`) and error
//! documents are checked for secrets.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use testbed::{HttpServer, Moto, Request, Response};

const REQUEST_TOKEN: &str = "gh-runtime-request-token-0001";
const ROLE: &str = "arn:aws:iam::111122223333:role/deploy";
const STAND_IN_KEY: &str = "ASIASTANDINKEY000001";
const STAND_IN_SECRET: &str = "stand-in-secret-access-key";
const STAND_IN_SESSION: &str = "stand-in-session-token-value";

/// An unsigned JWT with GitHub-like claims: STS stand-ins and moto do not check signatures.
fn jwt() -> String {
    let claims = json!({
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "sts.amazonaws.com",
        "sub": "repo:octo/web:ref:refs/heads/main",
        "repository": "octo/web",
        "ref": "refs/heads/main",
        "environment": "production",
        "job_workflow_ref": "octo/web/.github/workflows/deploy.yml@refs/heads/main",
        "exp": 4_102_444_800_i64,
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"not-a-real-signature-0123456789")
    )
}

/// GitHub's token service: checks the bearer token and the audience, fails the first `fail_first`
/// calls with 503.
fn github(fail_first: usize) -> HttpServer {
    let calls = AtomicUsize::new(0);
    HttpServer::start(move |req: &Request| {
        if calls.fetch_add(1, Ordering::SeqCst) < fail_first {
            return Response::text(503, "try again");
        }
        if req.header("authorization") != Some(&format!("bearer {REQUEST_TOKEN}")) {
            return Response::text(401, "bad runtime token");
        }
        if req.query("audience") != Some("sts.amazonaws.com") {
            return Response::text(400, "unexpected audience");
        }
        Response::json(200, &json!({ "value": jwt(), "count": 1 }))
    })
    .expect("start the GitHub stand-in")
}

fn sts_error(status: u16, code: &str, message: &str) -> Response {
    Response {
        status,
        headers: vec![
            ("content-type".to_owned(), "text/xml".to_owned()),
            ("x-amzn-requestid".to_owned(), "req-standin-1".to_owned()),
        ],
        body: format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-standin-1</RequestId></ErrorResponse>"
        )
        .into_bytes(),
    }
}

fn sts_ok(body: &str) -> Response {
    Response {
        status: 200,
        headers: vec![("content-type".to_owned(), "text/xml".to_owned())],
        body: body.as_bytes().to_vec(),
    }
}

/// An STS stand-in: `AssumeRoleWithWebIdentity` fails with `failure` for the first `fail_first`
/// calls (all calls when `fail_first` is `usize::MAX`), then succeeds; `GetCallerIdentity` answers
/// for account 111122223333.
fn sts_stand_in(failure: fn() -> Response, fail_first: usize) -> (HttpServer, Arc<AtomicUsize>) {
    let assume_calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&assume_calls);
    let server = HttpServer::start(move |req: &Request| {
        let body = String::from_utf8_lossy(&req.body);
        if body.contains("Action=AssumeRoleWithWebIdentity") {
            if counter.fetch_add(1, Ordering::SeqCst) < fail_first {
                return failure();
            }
            return sts_ok(&format!(
                "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult>\
                 <AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/deploy/s</Arn><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser>\
                 <Credentials><AccessKeyId>{STAND_IN_KEY}</AccessKeyId><SecretAccessKey>{STAND_IN_SECRET}</SecretAccessKey>\
                 <SessionToken>{STAND_IN_SESSION}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>\
                 </AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"
            ));
        }
        if body.contains("Action=GetCallerIdentity") {
            return sts_ok(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
                 <Arn>arn:aws:sts::111122223333:assumed-role/deploy/s</Arn><UserId>AROAEXAMPLE:s</UserId><Account>111122223333</Account>\
                 </GetCallerIdentityResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
            );
        }
        sts_error(400, "InvalidAction", "not played by this stand-in")
    })
    .expect("start the STS stand-in");
    (server, assume_calls)
}

/// One run of the binary with a cleared environment.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn doc(&self) -> Value {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "exactly one document on stdout: {}",
            self.stdout
        );
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Nothing secret on stderr, and no secret in a failure document.
    fn assert_no_secrets(&self, secrets: &[&str]) {
        for secret in secrets.iter().chain([&REQUEST_TOKEN, &jwt().as_str()]) {
            assert!(
                !self.stderr.contains(secret),
                "secret {secret} on stderr:\n{}",
                self.stderr
            );
            if self.code != 0 {
                assert!(
                    !self.stdout.contains(secret),
                    "secret {secret} in the error document"
                );
            }
        }
        // Parts of the token are secrets too (a signature alone could be replayed with the rest).
        let token = jwt();
        let signature = token.rsplit('.').next().expect("a JWT has a signature");
        assert!(!self.stderr.contains(signature));
    }
}

struct Setup {
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Setup {
    fn new() -> Self {
        let home = tempfile::tempdir().expect("a temporary HOME");
        let config = home.path().join("aws-config");
        let env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".to_owned(), home.path().display().to_string()),
            ("AWS_CONFIG_FILE".to_owned(), config.display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
                home.path().join("none").display().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
            ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
        ];
        Self { home, env }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    fn github(self, server: &HttpServer) -> Self {
        self.with(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{}/token?api-version=2.0", server.url()),
        )
        .with("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    }

    fn moto(mut self, moto: &Moto) -> Self {
        for (k, v) in moto.env() {
            if !matches!(
                k.as_str(),
                "AWS_CONFIG_FILE"
                    | "AWS_SHARED_CREDENTIALS_FILE"
                    | "AWS_REGION"
                    | "AWS_DEFAULT_REGION"
            ) {
                self = self.with(&k, &v);
            }
        }
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("oidc-creds"));
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args);
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("run oidc-creds");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

#[test]
fn schema_is_committed() {
    testbed::schema::check_committed::<stage::Document<oidc_creds::Report>>("oidc-creds");
}

#[test]
fn github_token_to_moto_credentials() {
    let moto = Moto::start().unwrap();
    let gh = github(0);
    let setup = Setup::new()
        .moto(&moto)
        .github(&gh)
        .with("GITHUB_REPOSITORY", "octo/web")
        .with("GITHUB_RUN_ID", "4242");
    let r = setup.run(&["-v", "--role-arn", ROLE, "--duration", "900"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.doc();
    testbed::schema::assert_valid("oidc-creds", &doc);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["schema"], "pipewright.dev/oidc-creds/v1");
    assert_eq!(doc["Version"], 1);
    assert_eq!(
        doc["AccountId"], "111122223333",
        "moto's account comes from the role ARN"
    );
    assert_eq!(doc["Region"], "eu-west-1");
    assert_eq!(doc["SessionName"], "octo-web-4242");
    assert!(
        doc["AssumedRoleArn"]
            .as_str()
            .unwrap()
            .contains("assumed-role/deploy/octo-web-4242")
    );
    let key = doc["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = doc["SecretAccessKey"].as_str().unwrap().to_owned();
    let session = doc["SessionToken"].as_str().unwrap().to_owned();
    assert!(
        doc["Expiration"]
            .as_str()
            .unwrap()
            .parse::<jiff_free::Ts>()
            .is_ok()
    );
    r.assert_no_secrets(&[&key, &secret, &session]);
    // The document is also a credential_process document, as AWS SDKs read it.
    let creds: pipewright_aws_doc::ProcessCredentials = serde_json::from_value(doc).unwrap();
    assert_eq!(creds.access_key_id, key);
    // GitHub's service saw our bearer token and the default audience, once.
    let requests = gh.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].query("audience"), Some("sts.amazonaws.com"));
    assert!(requests[0].target.starts_with("/token?api-version=2.0&"));
}

/// Minimal local parsers, so the test does not trust the code under test to read its own output.
mod jiff_free {
    #[derive(Debug)]
    pub struct Ts;
    impl std::str::FromStr for Ts {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            let ok = s.len() >= 20
                && s.as_bytes()[4] == b'-'
                && s.as_bytes()[10] == b'T'
                && s.ends_with('Z');
            if ok { Ok(Ts) } else { Err(s.to_owned()) }
        }
    }
}
mod pipewright_aws_doc {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct ProcessCredentials {
        pub version: u8,
        pub access_key_id: String,
        pub secret_access_key: String,
        pub session_token: Option<String>,
        pub expiration: Option<String>,
    }
    impl ProcessCredentials {
        pub fn check(&self) {
            assert_eq!(self.version, 1);
            assert!(!self.secret_access_key.is_empty());
            assert!(self.session_token.is_some() && self.expiration.is_some());
        }
    }
}

#[test]
fn github_503s_are_retried() {
    let gh = github(2);
    let (sts, assumes) = sts_stand_in(|| sts_error(400, "Throttling", "Rate exceeded"), 0);
    let setup = Setup::new()
        .github(&gh)
        .with("AWS_ENDPOINT_URL_STS", &sts.url());
    let r = setup.run(&["-v", "--role-arn", ROLE]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(gh.requests().len(), 3, "two 503s, then the token");
    assert_eq!(assumes.load(Ordering::SeqCst), 1);
    assert!(r.stderr.contains("HTTP 503; retrying"), "{}", r.stderr);
    r.assert_no_secrets(&[STAND_IN_KEY, STAND_IN_SECRET, STAND_IN_SESSION]);
}

#[test]
fn github_failures_give_up_after_retries() {
    let gh = github(usize::MAX);
    let setup = Setup::new().github(&gh);
    let r = setup.run(&["--role-arn", ROLE, "--retries", "1"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.doc()["error"]["kind"], "unavailable");
    assert_eq!(gh.requests().len(), 2);
    r.assert_no_secrets(&[]);
}

#[test]
fn sts_throttling_and_idp_errors_are_retried() {
    for failure in [
        (|| sts_error(400, "Throttling", "Rate exceeded")) as fn() -> Response,
        || {
            sts_error(
                400,
                "IDPCommunicationError",
                "could not reach the identity provider",
            )
        },
        || Response::text(503, "unavailable"),
    ] {
        let gh = github(0);
        let (sts, assumes) = sts_stand_in(failure, 2);
        let setup = Setup::new()
            .github(&gh)
            .with("AWS_ENDPOINT_URL_STS", &sts.url());
        let r = setup.run(&["-v", "--role-arn", ROLE]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            assumes.load(Ordering::SeqCst),
            3,
            "two failures, then success"
        );
        let doc = r.doc();
        assert_eq!(doc["AccessKeyId"], STAND_IN_KEY);
        r.assert_no_secrets(&[STAND_IN_KEY, STAND_IN_SECRET, STAND_IN_SESSION]);
    }
}

#[test]
fn refusals_are_not_retried_and_explain_the_claims() {
    for failure in [
        (|| {
            sts_error(
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            )
        }) as fn() -> Response,
        || sts_error(400, "InvalidIdentityToken", "Incorrect token audience"),
    ] {
        let gh = github(0);
        let (sts, assumes) = sts_stand_in(failure, usize::MAX);
        let setup = Setup::new()
            .github(&gh)
            .with("AWS_ENDPOINT_URL_STS", &sts.url());
        let r = setup.run(&["-v", "--role-arn", ROLE]);
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert_eq!(
            assumes.load(Ordering::SeqCst),
            1,
            "a refusal is not retried"
        );
        let doc = r.doc();
        testbed::schema::assert_valid("oidc-creds", &doc);
        assert_eq!(doc["error"]["kind"], "unauthorized");
        let message = doc["error"]["message"].as_str().unwrap();
        for claim in [
            "iss: https://token.actions.githubusercontent.com",
            "aud: sts.amazonaws.com",
            "sub: repo:octo/web:ref:refs/heads/main",
            "repository: octo/web",
            "ref: refs/heads/main",
            "environment: production",
            "job_workflow_ref: octo/web/.github/workflows/deploy.yml@refs/heads/main",
        ] {
            assert!(message.contains(claim), "{claim} missing from {message}");
            assert!(r.stderr.contains(claim), "{claim} missing from stderr");
        }
        assert!(
            doc["error"]["hint"]
                .as_str()
                .unwrap()
                .contains("trust policy of arn:aws:iam::111122223333:role/deploy")
        );
        r.assert_no_secrets(&[]);
    }
}

#[test]
fn missing_id_token_permission_is_explained() {
    let r = Setup::new()
        .with("GITHUB_ACTIONS", "true")
        .run(&["--role-arn", ROLE]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let doc = r.doc();
    assert_eq!(doc["error"]["kind"], "usage");
    assert!(
        doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("permissions: id-token: write")
    );
    assert!(
        r.stderr
            .contains("::error title=oidc-creds failed (usage)::"),
        "{}",
        r.stderr
    );

    // Outside GitHub Actions, the same hint, and --token-file is offered.
    let r = Setup::new().run(&["--role-arn", ROLE]);
    assert_eq!(r.code, 2);
    assert!(
        r.doc()["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--token-file")
    );
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let gh = github(0);
    let (sts, assumes) = sts_stand_in(|| sts_error(400, "Throttling", "x"), 0);
    let setup = Setup::new()
        .github(&gh)
        .with("AWS_ENDPOINT_URL_STS", &sts.url());
    for (args, needle) in [
        (
            vec!["--role-arn", "arn:aws:iam::1234:role/deploy"],
            "--role-arn",
        ),
        (vec!["--role-arn", "deploy"], "not an IAM role ARN"),
        (
            vec![
                "--role-arn",
                ROLE,
                "--chain-role-arn",
                "arn:aws:iam::111122223333:user/x",
            ],
            "--chain-role-arn",
        ),
        (vec!["--role-arn", ROLE, "--duration", "899"], "900"),
        (
            vec!["--role-arn", ROLE, "--session-name", "has space"],
            "--session-name",
        ),
        (vec!["--role-arn", ROLE, "--policy", "{oops"], "--policy"),
        (
            vec!["--role-arn", ROLE, "--policy-arn", "ReadOnly"],
            "--policy-arn",
        ),
        (
            vec!["--role-arn", ROLE, "--allowed-account-id", "12"],
            "--allowed-account-id",
        ),
        (vec!["--role-arn", ROLE, "--format", "env"], "--output-file"),
        (
            vec!["--role-arn", ROLE, "--format", "aws-config"],
            "profile",
        ),
        (vec!["--role-arn", ROLE, "--region", "Nowhere 1"], "region"),
        (vec![], "--role-arn"),
    ] {
        let r = setup.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        let doc = r.doc();
        let text = format!("{} {}", doc["error"]["message"], doc["error"]["hint"]);
        assert!(text.contains(needle), "{args:?}: {text}");
    }
    assert!(gh.requests().is_empty(), "nothing sent to GitHub");
    assert!(sts.requests().is_empty(), "nothing sent to STS");
    assert_eq!(assumes.load(Ordering::SeqCst), 0);
}

#[test]
fn chained_roles_and_allowed_accounts() {
    let moto = Moto::start().unwrap();
    let gh = github(0);
    let setup = Setup::new().moto(&moto).github(&gh);
    let second = "arn:aws:iam::444455556666:role/deployer";
    let r = setup.run(&[
        "-v",
        "--role-arn",
        ROLE,
        "--chain-role-arn",
        second,
        "--allowed-account-id",
        "444455556666",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.doc();
    assert_eq!(doc["AccountId"], "444455556666");
    assert!(
        doc["AssumedRoleArn"]
            .as_str()
            .unwrap()
            .contains("assumed-role/deployer/"),
        "{doc}"
    );
    r.assert_no_secrets(&[
        doc["AccessKeyId"].as_str().unwrap(),
        doc["SecretAccessKey"].as_str().unwrap(),
        doc["SessionToken"].as_str().unwrap(),
    ]);

    let r = setup.run(&[
        "--role-arn",
        ROLE,
        "--allowed-account-id",
        "999988887777,444455556666",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let message = r.doc()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("111122223333") && message.contains("999988887777"),
        "{message}"
    );
    assert!(
        !r.stdout.contains("AccessKeyId"),
        "no credentials for the wrong account"
    );
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("the written file")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn output_files_env_and_github_env() {
    let gh = github(0);
    let (sts, _) = sts_stand_in(|| sts_error(400, "Throttling", "x"), 0);
    let setup = Setup::new()
        .github(&gh)
        .with("AWS_ENDPOINT_URL_STS", &sts.url());
    let secrets = [STAND_IN_KEY, STAND_IN_SECRET, STAND_IN_SESSION];

    // json to a file: the file holds AWS's document, stdout none of the secrets.
    let file = setup.home.path().join("creds.json");
    let r = setup.run(&["--role-arn", ROLE, "--output-file", file.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&file), 0o600);
    let written: pipewright_aws_doc::ProcessCredentials =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    written.check();
    assert_eq!(written.access_key_id, STAND_IN_KEY);
    let doc = r.doc();
    testbed::schema::assert_valid("oidc-creds", &doc);
    assert_eq!(doc["WrittenTo"], file.to_str().unwrap());
    for s in secrets {
        assert!(!r.stdout.contains(s));
    }

    // env: export lines in a 0600 file that a shell can source.
    let file = setup.home.path().join("creds.env");
    let r = setup.run(&[
        "--role-arn",
        ROLE,
        "--format",
        "env",
        "--output-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(mode(&file), 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("export AWS_ACCESS_KEY_ID={STAND_IN_KEY}\n")),
        "{text}"
    );
    assert!(text.contains("export AWS_REGION=eu-west-1\n"));
    let sourced = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". '{}' && printf %s \"$AWS_SESSION_TOKEN\"",
            file.display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&sourced.stdout), STAND_IN_SESSION);
    for s in secrets {
        assert!(!r.stdout.contains(s));
    }

    // github-env: heredoc entries appended to $GITHUB_ENV, stdout without secrets.
    let github_env = setup.home.path().join("github_env");
    std::fs::write(&github_env, "EARLIER=1\n").unwrap();
    let setup = setup.with("GITHUB_ENV", github_env.to_str().unwrap());
    let r = setup.run(&["-v", "--role-arn", ROLE, "--format", "github-env"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&github_env).unwrap();
    assert!(text.starts_with("EARLIER=1\n"), "appended, not replaced");
    let entries = parse_github_env(&text);
    assert_eq!(entries["AWS_ACCESS_KEY_ID"], STAND_IN_KEY);
    assert_eq!(entries["AWS_SECRET_ACCESS_KEY"], STAND_IN_SECRET);
    assert_eq!(entries["AWS_SESSION_TOKEN"], STAND_IN_SESSION);
    assert_eq!(entries["AWS_REGION"], "eu-west-1");
    let doc = r.doc();
    testbed::schema::assert_valid("oidc-creds", &doc);
    assert!(doc.get("AccessKeyId").is_none());
    for s in secrets {
        assert!(!r.stdout.contains(s));
    }
    r.assert_no_secrets(&secrets);
}

/// Reads `$GITHUB_ENV` the way the runner does: `NAME=value` lines and `NAME<<DELIM` blocks.
fn parse_github_env(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_owned(), value.to_owned());
        }
    }
    out
}

#[test]
fn aws_config_profile_runs_oidc_creds_as_credential_process() {
    let gh = github(0);
    let (sts, assumes) = sts_stand_in(|| sts_error(400, "Throttling", "x"), 0);
    let setup = Setup::new()
        .github(&gh)
        .with("AWS_ENDPOINT_URL_STS", &sts.url());
    let config = setup.home.path().join("aws-config");
    std::fs::write(&config, "[profile other]\nregion = us-west-2\n").unwrap();
    let r = setup.run(&[
        "--role-arn",
        ROLE,
        "--format",
        "aws-config",
        "--profile",
        "deploy",
        "--policy-arn",
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.doc();
    testbed::schema::assert_valid("oidc-creds", &doc);
    assert_eq!(doc["Profile"], "deploy");
    assert!(doc.get("SecretAccessKey").is_none());
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with("[profile other]\nregion = us-west-2\n"),
        "{text}"
    );
    assert!(text.contains("[profile deploy]\n"), "{text}");
    assert!(text.contains("region = eu-west-1\n"));
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("credential_process = "))
        .unwrap();
    assert!(
        line.contains("--role-arn arn:aws:iam::111122223333:role/deploy"),
        "{line}"
    );
    assert!(
        line.contains("--policy-arn arn:aws:iam::aws:policy/ReadOnlyAccess"),
        "{line}"
    );

    // What an SDK does when it needs credentials: run the command with the job's environment.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .env_clear()
        .envs(setup.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_PROFILE", "deploy")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds: pipewright_aws_doc::ProcessCredentials =
        serde_json::from_slice(&out.stdout).unwrap();
    creds.check();
    assert_eq!(creds.access_key_id, STAND_IN_KEY);
    assert_eq!(assumes.load(Ordering::SeqCst), 2);
}

#[test]
fn under_github_actions_secrets_are_masked_first() {
    let gh = github(0);
    let (sts, _) = sts_stand_in(|| sts_error(400, "Throttling", "x"), 0);
    let summary = tempfile::NamedTempFile::new().unwrap();
    let setup = Setup::new()
        .github(&gh)
        .with("AWS_ENDPOINT_URL_STS", &sts.url())
        .with("GITHUB_ACTIONS", "true")
        .with("GITHUB_STEP_SUMMARY", summary.path().to_str().unwrap());
    let r = setup.run(&["-vv", "--role-arn", ROLE]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let token = jwt();
    for secret in [
        REQUEST_TOKEN,
        token.as_str(),
        STAND_IN_KEY,
        STAND_IN_SECRET,
        STAND_IN_SESSION,
    ] {
        let first = r.stderr.lines().find(|l| l.contains(secret));
        assert_eq!(
            first,
            Some(format!("::add-mask::{secret}").as_str()),
            "the first stderr line naming a secret must mask it:\n{}",
            r.stderr
        );
        // Announcing a value again is harmless; printing it any other way is not.
        for line in r.stderr.lines().filter(|l| l.contains(secret)) {
            assert_eq!(
                line,
                format!("::add-mask::{secret}"),
                "only mask lines name a secret"
            );
        }
    }
    assert!(r.stderr.contains("::group::STS"));
    let summary = std::fs::read_to_string(summary.path()).unwrap();
    assert!(
        summary.contains("| role session | account | region | expires |"),
        "{summary}"
    );
    assert!(summary.contains("111122223333"));
}

#[test]
fn token_file_is_read_instead_of_github() {
    let (sts, _) = sts_stand_in(|| sts_error(400, "Throttling", "x"), 0);
    let setup = Setup::new().with("AWS_ENDPOINT_URL_STS", &sts.url());
    let file = setup.home.path().join("token");
    std::fs::write(&file, format!("{}\n", jwt())).unwrap();
    let setup = setup
        .with("AWS_WEB_IDENTITY_TOKEN_FILE", file.to_str().unwrap())
        .with("AWS_ROLE_ARN", ROLE);
    let r = setup.run(&["-v"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let body = String::from_utf8_lossy(&sts.requests()[0].body).into_owned();
    assert!(body.contains("WebIdentityToken="), "{body}");
    assert!(
        sts.requests()
            .iter()
            .all(|r| r.header("authorization").is_none()
                || !String::from_utf8_lossy(&r.body).contains("AssumeRoleWithWebIdentity")),
        "the web identity call is unsigned"
    );
    r.assert_no_secrets(&[STAND_IN_KEY, STAND_IN_SECRET, STAND_IN_SESSION]);
}

#[test]
fn revoke_sessions_puts_the_deny_policy() {
    let moto = Moto::start().unwrap();
    let setup = Setup::new().moto(&moto);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let iam = runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(moto.endpoint())
            .credentials_provider(aws_sdk_iam::config::Credentials::for_tests())
            .load()
            .await;
        let iam = aws_sdk_iam::Client::new(&config);
        iam.create_role()
            .role_name("deploy")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await
            .unwrap();
        iam
    });
    let r = setup.run(&["revoke-sessions", "--role-name", "deploy"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.doc();
    testbed::schema::assert_valid("oidc-creds", &doc);
    assert_eq!(doc["RoleName"], "deploy");
    assert_eq!(doc["PolicyName"], "AWSRevokeOlderSessions");
    let policy = runtime.block_on(async {
        iam.get_role_policy()
            .role_name("deploy")
            .policy_name("AWSRevokeOlderSessions")
            .send()
            .await
            .unwrap()
            .policy_document
    });
    let decoded: String = form_urlencoded::parse(format!("p={policy}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let policy: Value = serde_json::from_str(&decoded).unwrap();
    assert_eq!(policy["Statement"][0]["Effect"], "Deny");
    let cutoff = policy["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap();
    assert_eq!(cutoff, doc["RevokedBefore"]);

    // A role that does not exist: invalid input, exit 2.
    let r = setup.run(&["revoke-sessions", "--role-name", "nope"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.doc()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NoSuchEntity")
    );
}

#[test]
fn help_has_examples() {
    let r = Setup::new().run(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:"));
    assert!(r.stdout.contains("--format github-env"));
}

/// A failing `credential_process` under GitHub Actions (issue 12, Secrets 1): eks-token's SDK runs
/// the profile oidc-creds wrote; the child gets the job's OIDC token, then STS is unreachable.
/// The SDK's error quotes the child's output, and eks-token reports that error: neither the OIDC
/// token nor the runner's request token may appear in eks-token's stdout, stderr or step summary.
#[test]
fn a_failing_credential_process_leaks_no_secret_through_its_parent() {
    let gh = github(0);
    let (sts, _) = sts_stand_in(|| sts_error(400, "Throttling", "x"), 0);
    let setup = Setup::new()
        .github(&gh)
        .with("AWS_ENDPOINT_URL_STS", &sts.url());
    let config = setup.home.path().join("aws-config");
    let r = setup.run(&[
        "--role-arn",
        ROLE,
        "--format",
        "aws-config",
        "--profile",
        "deploy",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let summary = setup.home.path().join("summary.md");
    let output = std::process::Command::new(testbed::workspace_bin("eks-token"))
        .args(["token", "--cluster", "prod", "--no-cache"])
        .env_clear()
        .envs(setup.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "deploy")
        // Nobody listens there: the child's AssumeRoleWithWebIdentity fails after it got the token.
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("XDG_CACHE_HOME", setup.home.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = std::fs::read_to_string(&summary).unwrap_or_default();
    assert_ne!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("credential") || stdout.contains("credential"),
        "eks-token says the credentials failed: {stdout}\n{stderr}"
    );
    assert!(
        summary.contains("eks-token failed"),
        "the summary is written: {summary:?}"
    );
    let token = jwt();
    for (place, text) in [
        ("stdout", stdout.as_ref()),
        ("stderr", stderr.as_ref()),
        ("the step summary", summary.as_str()),
    ] {
        for secret in [token.as_str(), REQUEST_TOKEN] {
            assert!(
                !text.contains(secret),
                "{secret} is in eks-token's {place}:\n{text}"
            );
        }
        assert!(!text.contains("::add-mask::"), "{place}: {text}");
    }
}

/// The runner's request token never travels over plain http to another machine (issue 12,
/// Secrets 5); the loopback stand-ins above show that http to this machine still works.
#[test]
fn a_plain_http_token_service_elsewhere_is_refused() {
    let setup = Setup::new()
        .with(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "http://token.example.invalid/token?api-version=2.0",
        )
        .with("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN);
    let r = setup.run(&["--role-arn", ROLE]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.contains("plain http"), "{}", r.stdout);
    assert!(!r.stdout.contains(REQUEST_TOKEN) && !r.stderr.contains(REQUEST_TOKEN));
}
