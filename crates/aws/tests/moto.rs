//! `load_config` and `sdk_error` against real peers: moto for STS, and small HTTP stand-ins that
//! answer as a throttled or failing AWS would. The library runs inside a stage tool driven by
//! `stage::run_with`, as it does in the real binaries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use pipewright_aws::{AwsArgs, ProcessCredentials, load_config, load_config_unsigned, sdk_error};
use serde_json::Value;
use stage::{CommonArgs, Ctx, Env, Io, Need, StageCli, StageResult, Tool};
use testbed::{HttpServer, Moto, Response, SharedBuf};

const TOOL: Tool = Tool::new("aws-probe", "moto");

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    aws: AwsArgs,
    /// The endpoint the STS client is pointed at.
    #[arg(long)]
    endpoint: String,
    /// What to call: identity | missing-role | unsigned-identity | unsigned-web-identity
    #[arg(long)]
    call: String,
    #[arg(long)]
    key: Option<String>,
}

impl StageCli for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

#[derive(serde::Serialize)]
struct Report {
    account: Option<String>,
    region: Option<String>,
}

async fn probe(cli: Cli, ctx: Ctx, _up: Option<Value>) -> StageResult<Report> {
    let creds = cli.key.as_ref().map(|key| {
        ProcessCredentials::temporary(
            key.clone(),
            "moto-secret-key-value",
            "moto-session-token-value",
            None,
        )
    });
    let config = if cli.call.starts_with("unsigned") {
        load_config_unsigned(&ctx, &cli.aws).await?
    } else {
        load_config(&ctx, &cli.aws, creds.as_ref()).await?
    };
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&config)
            .endpoint_url(&cli.endpoint)
            .build(),
    );
    let region = config.region().map(ToString::to_string);
    match cli.call.as_str() {
        "identity" | "unsigned-identity" => {
            let out = sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| sdk_error("sts:GetCallerIdentity", &e))?;
            Ok(Report {
                account: out.account,
                region,
            })
        }
        "missing-role" => {
            let iam = aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .endpoint_url(&cli.endpoint)
                    .build(),
            );
            iam.get_role()
                .role_name("pipewright-no-such-role")
                .send()
                .await
                .map_err(|e| sdk_error("iam:GetRole", &e))?;
            Ok(Report {
                account: None,
                region,
            })
        }
        "unsigned-web-identity" => {
            sts.assume_role_with_web_identity()
                .role_arn("arn:aws:iam::123456789012:role/x")
                .role_session_name("s")
                .web_identity_token("not-a-jwt")
                .send()
                .await
                .map_err(|e| sdk_error("sts:AssumeRoleWithWebIdentity", &e))?;
            Ok(Report {
                account: None,
                region,
            })
        }
        other => Err(stage::StageError::usage(format!("unknown call {other}")).into()),
    }
}

struct Run {
    code: u8,
    doc: Value,
    stderr: String,
}

fn run(args: &[&str], env: Env) -> Run {
    let stdout = SharedBuf::new();
    let stderr = SharedBuf::new();
    let io = Io {
        stdin: Box::new(std::io::empty()),
        stdout: Box::new(stdout.clone()),
        stderr: Box::new(stderr.clone()),
        stdin_is_terminal: true,
        stdout_is_terminal: false,
        stderr_is_terminal: false,
    };
    let command_line = std::iter::once("aws-probe").chain(args.iter().copied());
    let code = stage::run_with(TOOL, Need::None, command_line, env, io, probe);
    let doc = serde_json::from_str(&stdout.text())
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout.text()));
    Run {
        code,
        doc,
        stderr: stderr.text(),
    }
}

#[test]
fn explicit_credentials_reach_moto_and_are_never_shown() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    let r = run(
        &[
            "-vv",
            "--region",
            "eu-west-1",
            "--endpoint",
            &endpoint,
            "--call",
            "identity",
            "--key",
            "AKIAPIPEWRIGHTTEST01",
        ],
        Env::default(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["account"], "123456789012");
    assert_eq!(r.doc["region"], "eu-west-1");
    for secret in [
        "AKIAPIPEWRIGHTTEST01",
        "moto-secret-key-value",
        "moto-session-token-value",
    ] {
        assert!(
            !r.stderr.contains(secret),
            "{secret} on stderr:\n{}",
            r.stderr
        );
    }
}

#[test]
fn region_falls_back_to_aws_default_region_and_is_required() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    let args = [
        "--endpoint",
        endpoint.as_str(),
        "--call",
        "identity",
        "--key",
        "AKIAPIPEWRIGHTTEST01",
    ];
    let r = run(
        &args,
        Env::default().with("AWS_DEFAULT_REGION", "ap-south-1"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["region"], "ap-south-1");

    // No region anywhere (and no profile files to find one in): a usage error that says what to do.
    let mut args = args.to_vec();
    args.extend(["--profile", "pipewright-no-such-profile"]);
    let r = run(&args, Env::default());
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(r.doc["error"]["kind"], "usage");
        assert!(
            r.doc["error"]["hint"]
                .as_str()
                .unwrap()
                .contains("pass --region or set AWS_REGION")
        );
    }

    let r = run(
        &[
            "--region",
            "Not A Region",
            "--endpoint",
            &endpoint,
            "--call",
            "identity",
        ],
        Env::default(),
    );
    assert_eq!(r.code, 2);
    assert!(
        r.doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Not A Region")
    );
}

#[test]
fn missing_entities_are_invalid_input_with_the_code() {
    let moto = Moto::start().unwrap();
    let endpoint = moto.endpoint();
    let r = run(
        &[
            "--region",
            "us-east-1",
            "--endpoint",
            &endpoint,
            "--call",
            "missing-role",
            "--key",
            "AKIAPIPEWRIGHTTEST01",
        ],
        Env::default(),
    );
    let message = r.doc["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("iam:GetRole: NoSuchEntity"),
        "{message}"
    );
    assert_eq!(r.doc["error"]["kind"], "invalid-input", "{message}");
    assert!(
        r.doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("check the name")
    );
    assert_eq!(r.code, 2);
}

#[test]
fn signed_calls_without_any_credentials_say_where_to_get_them() {
    let server = throttling_sts(Arc::new(AtomicUsize::new(0)));
    let r = run(
        &[
            "--region",
            "us-east-1",
            "--endpoint",
            &server.url(),
            "--call",
            "unsigned-identity",
        ],
        Env::default(),
    );
    assert_eq!(r.code, 3, "{}", r.doc);
    assert_eq!(r.doc["error"]["kind"], "unauthorized", "{}", r.doc);
    assert!(
        server.requests().is_empty(),
        "nothing is sent unsigned by accident"
    );
}

/// A stand-in that answers every request as a throttled STS does.
fn throttling_sts(count: Arc<AtomicUsize>) -> HttpServer {
    HttpServer::start(move |_req| {
        count.fetch_add(1, Ordering::SeqCst);
        Response {
            status: 400,
            headers: vec![
                ("content-type".to_owned(), "text/xml".to_owned()),
                ("x-amzn-requestid".to_owned(), "abc-1".to_owned()),
            ],
            body: b"<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>abc-1</RequestId></ErrorResponse>".to_vec(),
        }
    })
    .expect("start the STS stand-in")
}

#[test]
fn throttling_is_retried_a_bounded_number_of_times_then_unavailable() {
    let count = Arc::new(AtomicUsize::new(0));
    let server = throttling_sts(Arc::clone(&count));
    let r = run(
        &[
            "--region",
            "us-east-1",
            "--endpoint",
            &server.url(),
            "--call",
            "identity",
            "--key",
            "AKIAPIPEWRIGHTTEST01",
        ],
        Env::default(),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.doc["error"]["kind"], "unavailable");
    let message = r.doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("Throttling: Rate exceeded"), "{message}");
    assert!(message.contains("request id abc-1"), "{message}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        pipewright_aws::DEFAULT_MAX_ATTEMPTS as usize,
        "one attempt plus retries, no more"
    );
}

#[test]
fn unreachable_endpoints_are_unavailable() {
    // Bind and drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let r = run(
        &[
            "--region",
            "us-east-1",
            "--endpoint",
            &endpoint,
            "--call",
            "identity",
            "--key",
            "AKIAPIPEWRIGHTTEST01",
        ],
        Env::default(),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.doc["error"]["kind"], "unavailable");
    assert!(
        r.doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not send the request")
    );
}

#[test]
fn unsigned_requests_carry_no_authorization() {
    let server = throttling_sts(Arc::new(AtomicUsize::new(0)));
    let _ = run(
        &[
            "--region",
            "us-east-1",
            "--endpoint",
            &server.url(),
            "--call",
            "unsigned-web-identity",
        ],
        Env::default(),
    );
    let requests = server.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.header("authorization").is_none()));
}
