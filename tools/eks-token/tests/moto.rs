//! eks-token against moto (STS, EKS): `--role-arn` assumes the role before signing, and
//! `eks-token kubeconfig` describes a real (simulated) cluster and writes a kubeconfig that
//! kube-rs reads, alone or merged into one a person already has.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{EksToken, Run, mode, query_param};
use kube::config::{ExecInteractiveMode, Kubeconfig};
use serde_json::Value;

const ROLE: &str = "arn:aws:iam::123456789012:role/eks-admin";

/// eks-token with moto's endpoint, region and dummy credentials.
fn eks_with(moto: &testbed::Moto) -> EksToken {
    let base = EksToken::bare();
    let config = base
        .home
        .path()
        .join("empty-aws-config")
        .display()
        .to_string();
    base.envs(&moto.env())
        // moto's env names files that do not exist; aws-config warns about those.
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &config)
}

struct Cluster {
    arn: String,
    endpoint: String,
    ca: String,
}

/// Creates an EKS cluster in moto (ACTIVE at once) and returns what `DescribeCluster` says of it.
async fn create_cluster(moto: &testbed::Moto, name: &str) -> Cluster {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(testbed_region(moto)))
        .endpoint_url(moto.endpoint());
    let env = moto.env();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    loader = loader.credentials_provider(aws_credential_types::Credentials::new(
        get("AWS_ACCESS_KEY_ID").unwrap(),
        get("AWS_SECRET_ACCESS_KEY").unwrap(),
        None,
        None,
        "test",
    ));
    let client = aws_sdk_eks::Client::new(&loader.load().await);
    client
        .create_cluster()
        .name(name)
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-0123456789abcdef0")
                .build(),
        )
        .send()
        .await
        .expect("moto creates the cluster");
    let described = client
        .describe_cluster()
        .name(name)
        .send()
        .await
        .expect("moto describes it");
    let cluster = described.cluster().unwrap();
    Cluster {
        arn: cluster.arn().unwrap().to_owned(),
        endpoint: cluster.endpoint().unwrap().to_owned(),
        ca: cluster
            .certificate_authority()
            .unwrap()
            .data()
            .unwrap()
            .to_owned(),
    }
}

fn testbed_region(moto: &testbed::Moto) -> String {
    moto.env()
        .into_iter()
        .find(|(k, _)| k == "AWS_REGION")
        .map(|(_, v)| v)
        .unwrap()
}

fn kubeconfig_doc(run: &Run) -> Value {
    run.assert_code(0);
    let doc = run.doc();
    testbed::schema::assert_valid("eks-token", &doc);
    assert_eq!(doc["ok"], true);
    doc
}

#[test]
fn role_arn_is_assumed_in_sts_and_the_token_is_signed_as_the_role() {
    let moto = testbed::Moto::start().expect("moto starts");
    let eks = eks_with(&moto);
    let first = eks.run(&["token", "--cluster", "prod", "--role-arn", ROLE, "-v"]);
    first.assert_code(0);
    let url = first.url();
    let credential = query_param(&url, "X-Amz-Credential").unwrap();
    assert!(
        credential.starts_with("ASIA"),
        "temporary credentials from sts:AssumeRole: {credential}"
    );
    assert!(query_param(&url, "X-Amz-Security-Token").is_some());
    assert!(url.starts_with(&format!("{}/?Action=GetCallerIdentity", moto.endpoint())));
    assert!(
        first.stderr.contains(&format!("assuming {ROLE}")),
        "{}",
        first.stderr
    );

    // Without the role: the environment's own key, a separate cache entry.
    let plain = eks.clone().run(&["token", "--cluster", "prod"]);
    assert!(
        query_param(&plain.url(), "X-Amz-Credential")
            .unwrap()
            .starts_with("AKIA")
    );

    // The cached role token needs no STS call: it is served with moto gone.
    drop(moto);
    let cached = eks.run(&["token", "--cluster", "prod", "--role-arn", ROLE]);
    cached.assert_code(0);
    assert_eq!(cached.token(), first.token());
}

#[test]
fn an_unreachable_sts_for_the_role_is_exit_3() {
    let eks = EksToken::with_env_credentials().env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let run = eks.run(&["token", "--cluster", "prod", "--role-arn", ROLE]);
    run.assert_code(3);
    let doc = run.doc();
    testbed::schema::assert_valid("eks-token", &doc);
    assert_eq!(doc["error"]["kind"], "unavailable");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sts:AssumeRole")
    );
}

#[tokio::test]
async fn kubeconfig_from_a_moto_cluster_reads_back_with_kube() {
    let moto = testbed::Moto::start().expect("moto starts");
    let cluster = create_cluster(&moto, "prod").await;
    let eks = eks_with(&moto);
    let out = eks.home.path().join("out/kubeconfig");
    let run = eks.run(&[
        "kubeconfig",
        "--cluster",
        "prod",
        "--out",
        &out.display().to_string(),
    ]);
    let doc = kubeconfig_doc(&run);
    assert_eq!(doc["action"], "created");
    assert_eq!(doc["kubeconfig"], out.display().to_string());
    assert_eq!(doc["context"], cluster.arn);
    assert_eq!(doc["cluster"]["arn"], cluster.arn);
    assert_eq!(doc["cluster"]["endpoint"], cluster.endpoint);
    assert_eq!(doc["cluster"]["status"], "ACTIVE");
    assert_eq!(doc["exec"]["command"], "eks-token");
    assert_eq!(mode(&out), 0o600);
    assert!(
        run.stderr.contains("added context"),
        "progress: {}",
        run.stderr
    );

    let config = Kubeconfig::read_from(&out).expect("kube reads the kubeconfig");
    assert_eq!(
        config.current_context.as_deref(),
        Some(cluster.arn.as_str())
    );
    let named = &config.clusters[0];
    assert_eq!(named.name, cluster.arn);
    let c = named.cluster.as_ref().unwrap();
    assert_eq!(c.server.as_deref(), Some(cluster.endpoint.as_str()));
    assert_eq!(
        c.certificate_authority_data.as_deref(),
        Some(cluster.ca.as_str())
    );
    let exec = config.auth_infos[0]
        .auth_info
        .as_ref()
        .unwrap()
        .exec
        .as_ref()
        .unwrap();
    assert_eq!(
        exec.api_version.as_deref(),
        Some("client.authentication.k8s.io/v1beta1")
    );
    assert_eq!(exec.command.as_deref(), Some("eks-token"));
    assert_eq!(
        exec.args.as_deref(),
        Some(&["token", "--cluster", "prod", "--region", "us-east-1"].map(str::to_owned)[..])
    );
    assert!(matches!(
        exec.interactive_mode,
        Some(ExecInteractiveMode::Never)
    ));
    let context = config.contexts[0].context.as_ref().unwrap();
    assert_eq!(context.cluster, cluster.arn);
    assert_eq!(context.user.as_deref(), Some(cluster.arn.as_str()));
}

#[tokio::test]
async fn kubeconfig_flags_are_carried_into_the_exec_plugin() {
    let moto = testbed::Moto::start().expect("moto starts");
    create_cluster(&moto, "prod").await;
    let eks = eks_with(&moto);
    let profiles = eks.home.path().join("aws-config");
    std::fs::write(&profiles, "[profile ci]\nregion = us-east-1\n").unwrap();
    let out = eks.home.path().join("kubeconfig");
    let run = eks
        .clone()
        .env("AWS_CONFIG_FILE", &profiles.display().to_string())
        .run(&[
            "kubeconfig",
            "--cluster",
            "prod",
            "--out",
            &out.display().to_string(),
            "--alias",
            "prod-admin",
            "--user-alias",
            "ci",
            "--exec-api-version",
            "v1",
            "--exec-command",
            "/opt/bin/eks-token",
            "--role-arn",
            ROLE,
            "--profile",
            "ci",
        ]);
    let doc = kubeconfig_doc(&run);
    assert_eq!(doc["context"], "prod-admin");
    assert_eq!(doc["user"], "ci");
    let config = Kubeconfig::read_from(&out).unwrap();
    assert_eq!(config.current_context.as_deref(), Some("prod-admin"));
    assert_eq!(config.auth_infos[0].name, "ci");
    let exec = config.auth_infos[0]
        .auth_info
        .as_ref()
        .unwrap()
        .exec
        .as_ref()
        .unwrap();
    assert_eq!(
        exec.api_version.as_deref(),
        Some("client.authentication.k8s.io/v1")
    );
    assert_eq!(exec.command.as_deref(), Some("/opt/bin/eks-token"));
    assert_eq!(
        exec.args.as_deref().unwrap(),
        [
            "token",
            "--cluster",
            "prod",
            "--region",
            "us-east-1",
            "--profile",
            "ci",
            "--role-arn",
            ROLE
        ]
    );
}

#[tokio::test]
async fn kubeconfig_merges_into_the_first_kubeconfig_path_and_keeps_the_rest() {
    let moto = testbed::Moto::start().expect("moto starts");
    let cluster = create_cluster(&moto, "prod").await;
    let eks = eks_with(&moto);
    let first = eks.home.path().join("first.yaml");
    let second = eks.home.path().join("second.yaml");
    std::fs::write(
        &first,
        "\
apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
- name: dev
  cluster:
    server: https://dev.example:6443
    insecure-skip-tls-verify: true
users:
- name: dev
  user:
    token: dev-token
contexts:
- name: dev
  context:
    cluster: dev
    user: dev
    namespace: team-a
current-context: dev
",
    )
    .unwrap();
    std::fs::write(&second, "apiVersion: v1\nkind: Config\n").unwrap();
    let kubeconfig = format!("{}:{}", first.display(), second.display());
    let eks = eks.env("KUBECONFIG", &kubeconfig);

    let run = eks.run(&["kubeconfig", "--cluster", "prod", "--alias", "prod"]);
    let doc = kubeconfig_doc(&run);
    assert_eq!(doc["action"], "updated");
    assert_eq!(doc["kubeconfig"], first.display().to_string());
    assert_eq!(mode(&first), 0o600);
    assert_eq!(
        std::fs::read_to_string(&second).unwrap(),
        "apiVersion: v1\nkind: Config\n",
        "the second KUBECONFIG file is left alone"
    );

    let config = Kubeconfig::read_from(&first).unwrap();
    assert_eq!(config.current_context.as_deref(), Some("prod"));
    let names = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        config
            .clusters
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>(),
        names(vec!["dev", &cluster.arn])
    );
    assert_eq!(
        config
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>(),
        names(vec!["dev", "prod"])
    );
    let dev_user = config.auth_infos[0].auth_info.as_ref().unwrap();
    assert!(dev_user.token.is_some(), "the other user keeps its token");
    let dev_context = config.contexts[0].context.as_ref().unwrap();
    assert_eq!(dev_context.namespace.as_deref(), Some("team-a"));
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(text.contains("colors: true"), "{text}");
    assert!(text.contains("insecure-skip-tls-verify: true"), "{text}");
    assert!(text.contains("dev-token"), "{text}");

    // Again: the entries are replaced, not added twice.
    let again = eks.run(&["kubeconfig", "--cluster", "prod", "--alias", "prod"]);
    kubeconfig_doc(&again);
    let config = Kubeconfig::read_from(&first).unwrap();
    assert_eq!(config.clusters.len(), 2);
    assert_eq!(config.auth_infos.len(), 2);
    assert_eq!(config.contexts.len(), 2);

    // The file of KUBECONFIG that already holds the cluster is the one updated.
    let eks = eks.env(
        "KUBECONFIG",
        &format!("{}:{}", second.display(), first.display()),
    );
    let run = eks.run(&["kubeconfig", "--cluster", "prod", "--alias", "prod"]);
    assert_eq!(
        kubeconfig_doc(&run)["kubeconfig"],
        first.display().to_string()
    );
}

#[tokio::test]
async fn kubeconfig_defaults_to_the_home_kube_config() {
    let moto = testbed::Moto::start().expect("moto starts");
    create_cluster(&moto, "prod").await;
    let eks = eks_with(&moto);
    let run = eks.run(&["kubeconfig", "--cluster", "prod"]);
    let doc = kubeconfig_doc(&run);
    let path = eks.home.path().join(".kube/config");
    assert_eq!(doc["kubeconfig"], path.display().to_string());
    assert_eq!(doc["action"], "created");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&eks.home.path().join(".kube")), 0o700);
}

#[test]
fn kubeconfig_for_a_missing_cluster_or_into_a_broken_file_changes_nothing() {
    let moto = testbed::Moto::start().expect("moto starts");
    let eks = eks_with(&moto);
    let run = eks.run(&["kubeconfig", "--cluster", "nope"]);
    run.assert_code(2);
    let doc = run.doc();
    testbed::schema::assert_valid("eks-token", &doc);
    assert_eq!(doc["error"]["kind"], "invalid-input");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no EKS cluster named \"nope\" in us-east-1"),
        "{doc}"
    );
    assert!(!eks.home.path().join(".kube").exists());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(create_cluster(&moto, "prod"));
    let broken = eks.home.path().join("broken.yaml");
    std::fs::write(&broken, "clusters: [\n").unwrap();
    let run = eks.run(&[
        "kubeconfig",
        "--cluster",
        "prod",
        "--out",
        &broken.display().to_string(),
    ]);
    run.assert_code(2);
    assert!(
        run.doc()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broken.yaml")
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "clusters: [\n");
    assert!(Path::new(&broken).exists());
}
