//! End to end, with the real binaries and peers: kube-sim in EKS-token mode (its STS is moto)
//! accepts eks-token's tokens from kubectl and from kube-rs, with eks-token as the kubeconfig's
//! exec plugin; and a GitHub OIDC stand-in → `oidc-creds | eks-token token` → kube-sim.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use common::{EksToken, eks_token_path};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube_sim::{Config, EksAuth, KubeSim};
use serde_yaml_ng::Value;

const CLUSTER: &str = "kube-sim";

fn start_sim(moto: &testbed::Moto) -> KubeSim {
    KubeSim::start(Config {
        token: None,
        eks: Some(EksAuth {
            cluster_name: CLUSTER.to_owned(),
            sts_endpoint: moto.endpoint(),
        }),
        ..Config::default()
    })
    .expect("kube-sim starts")
}

fn moto_var(moto: &testbed::Moto, name: &str) -> String {
    moto.env()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap()
}

/// Creates the cluster in moto so that `eks-token kubeconfig` can describe it.
async fn create_moto_cluster(moto: &testbed::Moto) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(moto_var(moto, "AWS_REGION")))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_credential_types::Credentials::new(
            moto_var(moto, "AWS_ACCESS_KEY_ID"),
            moto_var(moto, "AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "test",
        ))
        .load()
        .await;
    aws_sdk_eks::Client::new(&config)
        .create_cluster()
        .name(CLUSTER)
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-0123456789abcdef0")
                .build(),
        )
        .send()
        .await
        .expect("moto creates the cluster");
}

/// A kubeconfig written by `eks-token kubeconfig` for the moto cluster, pointed at kube-sim's
/// server and CA (moto's endpoint is fictional), with the environment the plugin needs to sign
/// for moto in the exec section, so that kubectl and kube-rs run it the same way.
fn kubeconfig_for_sim(
    moto: &testbed::Moto,
    sim: &KubeSim,
    dir: &Path,
    api_version: &str,
) -> std::path::PathBuf {
    let out = dir.join(format!("kubeconfig-{api_version}"));
    let eks = EksToken::bare().envs(&moto.env());
    let empty = eks
        .home
        .path()
        .join("empty-aws-config")
        .display()
        .to_string();
    let run = eks
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .run(&[
            "kubeconfig",
            "--cluster",
            CLUSTER,
            "--out",
            &out.display().to_string(),
            "--exec-api-version",
            api_version,
            "--exec-command",
            &eks_token_path().display().to_string(),
        ]);
    run.assert_code(0);

    let sim_config: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(sim.kubeconfig_path()).unwrap()).unwrap();
    let mut config: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    config["clusters"][0]["cluster"] = sim_config["clusters"][0]["cluster"].clone();
    let mut env = vec![
        (
            "XDG_CACHE_HOME".to_owned(),
            dir.join("cache").display().to_string(),
        ),
        ("AWS_CONFIG_FILE".to_owned(), empty.clone()),
        ("AWS_SHARED_CREDENTIALS_FILE".to_owned(), empty),
    ];
    env.extend(moto.env().into_iter().filter(|(k, _)| {
        !matches!(
            k.as_str(),
            "AWS_CONFIG_FILE" | "AWS_SHARED_CREDENTIALS_FILE"
        )
    }));
    config["users"][0]["user"]["exec"]["env"] = Value::Sequence(
        env.into_iter()
            .map(|(name, value)| {
                let mut entry = serde_yaml_ng::Mapping::new();
                entry.insert("name".into(), name.into());
                entry.insert("value".into(), value.into());
                Value::Mapping(entry)
            })
            .collect(),
    );
    std::fs::write(&out, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    // The HOME of the `eks-token kubeconfig` run goes away with `eks`; the file stays in `dir`.
    out
}

async fn list_namespaces(client: kube::Client) -> Vec<String> {
    Api::<Namespace>::all(client)
        .list(&ListParams::default())
        .await
        .expect("kube-sim lists namespaces")
        .items
        .into_iter()
        .filter_map(|ns| ns.metadata.name)
        .collect()
}

#[tokio::test]
async fn kube_rs_and_kubectl_reach_kube_sim_through_the_exec_plugin() {
    let moto = testbed::Moto::start().expect("moto starts");
    create_moto_cluster(&moto).await;
    let sim = start_sim(&moto);
    let dir = tempfile::tempdir().unwrap();

    for api_version in ["v1beta1", "v1"] {
        let path = kubeconfig_for_sim(&moto, &sim, dir.path(), api_version);

        // kube-rs runs the plugin (and reads the document with the envelope beside the
        // ExecCredential's fields).
        let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let names = list_namespaces(client).await;
        assert!(
            names.iter().any(|n| n == "default"),
            "{api_version}: {names:?}"
        );

        // kubectl, if there is one.
        let Some(kubectl) = kubectl() else {
            eprintln!(
                "SKIPPED the kubectl half: kubectl not found (set KUBECTL or put it on PATH)"
            );
            continue;
        };
        let out = Command::new(kubectl)
            .args(["get", "namespaces", "-o", "name", "--request-timeout=30s"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("KUBECONFIG", &path)
            .env("KUBECACHEDIR", dir.path().join("kubectl-cache"))
            .output()
            .expect("kubectl runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "kubectl ({api_version}) failed: {stderr}"
        );
        assert!(stdout.lines().any(|l| l == "namespace/default"), "{stdout}");
        assert!(!stderr.contains("k8s-aws-v1."), "{stderr}");
    }
    // Both plugin runs shared the token cache (one entry: same cluster, region, key).
    let cached = std::fs::read_dir(dir.path().join("cache/pipewright/eks-token"))
        .unwrap()
        .count();
    assert_eq!(cached, 1);
}

fn kubectl() -> Option<std::path::PathBuf> {
    let program = std::env::var_os("KUBECTL").map_or_else(|| "kubectl".into(), Into::into);
    Command::new(&program)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(program)
}

/// A JWT as GitHub's token service returns one (the signature is not checked by moto).
fn github_jwt() -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = jiff::Timestamp::now().as_second();
    format!(
        "{}.{}.{}",
        b64(serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "test"})),
        b64(serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com",
            "aud": "sts.amazonaws.com",
            "sub": "repo:example/pipewright:ref:refs/heads/main",
            "repository": "example/pipewright",
            "ref": "refs/heads/main",
            "iat": now, "nbf": now, "exp": now + 300,
        })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"not-a-real-signature"),
    )
}

#[tokio::test]
async fn github_oidc_to_oidc_creds_to_eks_token_to_kube_sim() {
    let moto = testbed::Moto::start().expect("moto starts");
    let sim = start_sim(&moto);
    let jwt = github_jwt();
    let served = jwt.clone();
    let github = testbed::HttpServer::start(move |request| {
        // The auth scheme is case-insensitive (RFC 9110); the token is not.
        let authorised = request
            .header("authorization")
            .and_then(|h| h.split_once(' '))
            .is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer") && token == "gha-request-token"
            });
        let audience = request.query("audience") == Some("sts.amazonaws.com");
        if authorised && audience {
            testbed::Response::json(200, &serde_json::json!({ "value": served }))
        } else {
            testbed::Response::text(401, "bad request token or audience")
        }
    })
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let empty = home.path().join("empty-aws-config");
    std::fs::write(&empty, "").unwrap();
    // What both steps share in a workflow: the runner's variables, the region, the endpoint. No
    // AWS keys: eks-token's credentials can only come from the pipe.
    let common_env = [
        ("HOME", home.path().display().to_string()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_CONFIG_FILE", empty.display().to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", empty.display().to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ];

    let mut oidc = Command::new(testbed::workspace_bin("oidc-creds"))
        .args(["--role-arn", "arn:aws:iam::123456789012:role/deploy"])
        .env_clear()
        .envs(common_env.iter().map(|(k, v)| (k, v)))
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/_apis/token?api-version=2.0", github.url()),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gha-request-token")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("oidc-creds runs");
    let pipe = oidc.stdout.take().unwrap();
    let eks = Command::new(eks_token_path())
        .args(["token", "--cluster", CLUSTER, "--no-cache"])
        .env_clear()
        .envs(common_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eks-token runs");
    let eks_out = eks.wait_with_output().unwrap();
    let mut oidc_stderr = String::new();
    oidc.stderr
        .take()
        .unwrap()
        .read_to_string(&mut oidc_stderr)
        .unwrap();
    let oidc_status = oidc.wait().unwrap();
    let eks_stderr = String::from_utf8_lossy(&eks_out.stderr);
    assert!(oidc_status.success(), "oidc-creds failed: {oidc_stderr}");
    assert!(eks_out.status.success(), "eks-token failed: {eks_stderr}");
    assert!(
        github.requests().iter().any(|r| r.path() == "/_apis/token"),
        "oidc-creds asked the GitHub stand-in for its token"
    );

    let doc: serde_json::Value = serde_json::from_slice(&eks_out.stdout).unwrap();
    testbed::schema::assert_valid("eks-token", &doc);
    let token = doc["status"]["token"].as_str().unwrap();
    let url = eks_token::url_from_token(token).unwrap();
    let credential = common::query_param(&url, "X-Amz-Credential").unwrap();
    assert!(
        credential.starts_with("ASIA"),
        "signed with the web identity session from the pipe: {credential}"
    );
    for secret in [token, jwt.as_str()] {
        assert!(!eks_stderr.contains(secret) && !oidc_stderr.contains(secret));
    }

    let kubeconfig = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    config.auth_info.token = Some(token.to_owned().into());
    let names = list_namespaces(kube::Client::try_from(config).unwrap()).await;
    assert!(names.iter().any(|n| n == "default"), "{names:?}");
}
