//! eks-token's tokens against independent implementations, from the test venv: botocore presigns
//! the same `GetCallerIdentity` request (same frozen time, region, credentials and endpoint) and
//! the URLs must be identical, signature included; and the real `aws eks get-token` must print
//! the same ExecCredential as eks-token, field for field, once the stage envelope is set aside.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{EksToken, FROZEN, KEY_ID, SECRET_KEY, SESSION_TOKEN, venv_python};
use serde_json::{Value, json};

/// Presigns each case with botocore, the way `aws eks get-token` does (the cluster header added
/// before signing), with botocore's clock frozen at the case's time.
const BOTOCORE_PRESIGN: &str = r#"
import datetime, json, sys
import botocore.auth, botocore.session
out = []
for case in json.load(sys.stdin):
    when = datetime.datetime.strptime(case["time"], "%Y-%m-%dT%H:%M:%SZ")
    botocore.auth.get_current_datetime = lambda *a, **k: when
    session = botocore.session.get_session()
    client = session.create_client(
        "sts",
        region_name=case["region"],
        endpoint_url=case.get("endpoint"),
        aws_access_key_id=case["key"],
        aws_secret_access_key=case["secret"],
        aws_session_token=case.get("token"),
    )
    def add_header(request, cluster=case["cluster"], **kwargs):
        request.headers["x-k8s-aws-id"] = cluster
    client.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
    out.append(client.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET"))
json.dump(out, sys.stdout)
"#;

/// Runs the AWS CLI's own `main` with its clock frozen (signing and `expirationTimestamp`).
const AWS_CLI_FROZEN: &str = r#"
import datetime, os, sys
when = datetime.datetime.strptime(os.environ["FROZEN"], "%Y-%m-%dT%H:%M:%SZ")
import awscli.clidriver
import botocore.auth
import awscli.customizations.eks.get_token as get_token
get_token.get_current_datetime = lambda *a, **k: when
botocore.auth.get_current_datetime = lambda *a, **k: when
sys.exit(awscli.clidriver.main())
"#;

fn python(script: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Case {
    region: &'static str,
    cluster: &'static str,
    time: &'static str,
    session_token: Option<&'static str>,
    endpoint: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        region: "eu-west-1",
        cluster: "prod",
        time: FROZEN,
        session_token: None,
        endpoint: None,
    },
    Case {
        region: "us-east-1",
        cluster: "my_cluster-2",
        time: "2026-07-04T23:59:59Z",
        session_token: Some(SESSION_TOKEN),
        endpoint: None,
    },
    // The partitions: China's own domain, GovCloud's regional names.
    Case {
        region: "cn-north-1",
        cluster: "prod",
        time: FROZEN,
        session_token: Some(SESSION_TOKEN),
        endpoint: None,
    },
    Case {
        region: "us-gov-west-1",
        cluster: "a",
        time: FROZEN,
        session_token: None,
        endpoint: None,
    },
    // An endpoint override with a port, as in the test bed: the port is part of the signed host.
    Case {
        region: "us-east-1",
        cluster: "kube-sim",
        time: FROZEN,
        session_token: Some(SESSION_TOKEN),
        endpoint: Some("http://127.0.0.1:5000"),
    },
];

#[test]
fn token_urls_are_identical_to_botocores_presigned_urls() {
    let request: Vec<Value> = CASES
        .iter()
        .map(|c| {
            json!({"region": c.region, "cluster": c.cluster, "time": c.time, "key": KEY_ID,
                   "secret": SECRET_KEY, "token": c.session_token, "endpoint": c.endpoint})
        })
        .collect();
    let expected: Vec<String> = serde_json::from_str(&python(
        BOTOCORE_PRESIGN,
        &[],
        &[],
        &Value::from(request).to_string(),
    ))
    .unwrap();

    for (case, botocore_url) in CASES.iter().zip(&expected) {
        let mut eks = EksToken::with_env_credentials()
            .frozen_at(case.time)
            .env("AWS_REGION", case.region);
        if let Some(token) = case.session_token {
            eks = eks.env("AWS_SESSION_TOKEN", token);
        }
        if let Some(endpoint) = case.endpoint {
            eks = eks.env("AWS_ENDPOINT_URL_STS", endpoint);
        }
        let run = eks.run(&["token", "--cluster", case.cluster, "--no-cache"]);
        run.assert_code(0);
        assert_eq!(
            &run.url(),
            botocore_url,
            "region {} cluster {}",
            case.region,
            case.cluster
        );
    }
}

#[test]
fn aws_eks_get_token_prints_the_same_exec_credential() {
    for api_version in ["v1beta1", "v1"] {
        let exec_info = format!(
            r#"{{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/{api_version}","spec":{{"interactive":false}}}}"#
        );
        // AWS CLI v1 signs for the global STS endpoint unless told otherwise; EKS accepts both,
        // and eks-token uses the regional one, as botocore does by default now.
        let cli = python(
            AWS_CLI_FROZEN,
            &[
                "eks",
                "get-token",
                "--cluster-name",
                "prod",
                "--output",
                "json",
            ],
            &[
                ("FROZEN", FROZEN),
                ("AWS_ACCESS_KEY_ID", KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
                ("AWS_SESSION_TOKEN", SESSION_TOKEN),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
                ("KUBERNETES_EXEC_INFO", &exec_info),
            ],
            "",
        );
        let cli: Value = serde_json::from_str(&cli).unwrap();

        let run = EksToken::with_env_credentials()
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("KUBERNETES_EXEC_INFO", &exec_info)
            .frozen_at(FROZEN)
            .run(&["token", "--cluster", "prod", "--no-cache"]);
        run.assert_code(0);
        let mut ours = run.doc();
        testbed::schema::assert_valid("eks-token", &ours);
        let envelope = ours.as_object_mut().unwrap();
        assert_eq!(envelope.remove("ok"), Some(json!(true)));
        assert_eq!(envelope.remove("tool"), Some(json!("eks-token")));
        assert_eq!(
            envelope.remove("schema"),
            Some(json!("pipewright.dev/eks-token/v1"))
        );
        assert_eq!(ours, cli, "ExecCredential {api_version}");
    }
}
