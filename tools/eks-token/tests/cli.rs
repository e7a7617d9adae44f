//! The `eks-token` binary from a clean environment, without any server: flags, errors and their
//! exit codes, credentials piped on stdin, the ExecCredential version negotiation, the token
//! cache, secrets on stderr, and the schema of every document.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::{EksToken, FROZEN, KEY_ID, Run, SECRET_KEY, SESSION_TOKEN, mode, query_param};
use serde_json::{Value, json};

fn valid(run: &Run) -> Value {
    let doc = run.doc();
    testbed::schema::assert_valid("eks-token", &doc);
    doc
}

#[track_caller]
fn assert_error(run: &Run, code: i32, kind: &str, message_has: &str) -> Value {
    run.assert_code(code);
    let doc = valid(run);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["kind"], kind, "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(message_has),
        "{message_has:?} not in {message:?}"
    );
    assert!(
        run.stderr.contains(message_has),
        "the error is also on stderr: {}",
        run.stderr
    );
    doc
}

/// An oidc-creds document: the stage envelope, the `credential_process` fields, and its extras.
fn oidc_creds_document(expiration: &str) -> String {
    json!({
        "ok": true, "tool": "oidc-creds", "schema": "pipewright.dev/oidc-creds/v1",
        "Version": 1, "AccessKeyId": "ASIAPIPEDEXAMPLE0001", "SecretAccessKey": "piped/secret+key",
        "SessionToken": "piped-session-token-value", "Expiration": expiration,
        "AssumedRoleArn": "arn:aws:sts::123456789012:assumed-role/deploy/gha", "Region": "ap-south-1"
    })
    .to_string()
}

#[test]
fn the_committed_schema_is_generated_from_the_types() {
    testbed::schema::check_committed::<stage::Document<eks_token::Report>>("eks-token");
}

#[test]
fn help_and_version_are_text_with_examples() {
    let eks = EksToken::bare();
    for args in [
        &["--help"][..],
        &["token", "--help"],
        &["kubeconfig", "--help"],
    ] {
        let run = eks.run(args);
        run.assert_code(0);
        assert!(run.stdout.contains("Examples:"), "{args:?}: {}", run.stdout);
    }
    let help = eks.run(&["token", "--help"]).stdout;
    for flag in [
        "--cluster",
        "--region",
        "--profile",
        "--role-arn",
        "--api-version",
        "--no-cache",
    ] {
        assert!(help.contains(flag), "{flag}");
    }
    let help = eks.run(&["kubeconfig", "--help"]).stdout;
    for flag in [
        "--alias",
        "--user-alias",
        "--out",
        "--exec-api-version",
        "--exec-command",
        "--server",
        "--certificate-authority",
        "EKS_SERVER_URL",
        "EKS_CA_FILE",
    ] {
        assert!(help.contains(flag), "{flag}");
    }
    let run = eks.run(&["--version"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("eks-token "));
}

#[test]
fn a_token_from_environment_credentials() {
    let run = EksToken::with_env_credentials().frozen_at(FROZEN).run(&[
        "token",
        "--cluster",
        "prod",
        "--no-cache",
    ]);
    run.assert_code(0);
    let doc = valid(&run);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["kind"], "ExecCredential");
    assert_eq!(doc["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(doc["spec"], json!({}));
    assert_eq!(doc["status"]["expirationTimestamp"], "2026-01-01T00:14:00Z");
    let url = run.url();
    assert!(url.starts_with(
        "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
    ));
    assert_eq!(query_param(&url, "X-Amz-Expires"), Some("60"));
    assert_eq!(
        query_param(&url, "X-Amz-SignedHeaders"),
        Some("host%3Bx-k8s-aws-id")
    );
    assert_eq!(
        query_param(&url, "X-Amz-Credential"),
        Some("AKIDEXAMPLE%2F20260101%2Feu-west-1%2Fsts%2Faws4_request")
    );
    assert_eq!(run.stdout.lines().count(), 1, "compact for a pipe");
    assert!(
        run.stderr.contains("token for cluster prod (eu-west-1)"),
        "{}",
        run.stderr
    );
}

#[test]
fn region_flags_and_variables_in_order() {
    let eks = EksToken::with_env_credentials().without("AWS_REGION");
    let region_of = |run: &Run| {
        run.assert_code(0);
        query_param(&run.url(), "X-Amz-Credential")
            .unwrap()
            .split("%2F")
            .nth(2)
            .unwrap()
            .to_owned()
    };
    let args = ["token", "--cluster", "c", "--no-cache"];
    let eks = eks.env("AWS_DEFAULT_REGION", "eu-north-1");
    assert_eq!(region_of(&eks.run(&args)), "eu-north-1");
    let eks = eks.env("AWS_REGION", "eu-central-1");
    assert_eq!(region_of(&eks.run(&args)), "eu-central-1");
    assert_eq!(
        region_of(&eks.run(&[
            "token",
            "--cluster",
            "c",
            "--no-cache",
            "--region",
            "sa-east-1"
        ])),
        "sa-east-1"
    );
    // A profile's region, from the config file.
    let config = eks.home.path().join("config");
    std::fs::write(&config, "[profile ci]\nregion = ca-central-1\n").unwrap();
    let eks = EksToken::with_env_credentials()
        .without("AWS_REGION")
        .env("AWS_CONFIG_FILE", &config.display().to_string());
    assert_eq!(
        region_of(&eks.run(&["token", "--cluster", "c", "--no-cache", "--profile", "ci"])),
        "ca-central-1"
    );
}

#[test]
fn no_region_is_a_usage_error() {
    let run = EksToken::with_env_credentials()
        .without("AWS_REGION")
        .run(&["token", "--cluster", "prod"]);
    let doc = assert_error(&run, 2, "usage", "no AWS region");
    assert!(doc["error"]["hint"].as_str().unwrap().contains("--region"));
}

#[test]
fn no_credentials_is_a_usage_error_that_names_the_sources() {
    let run = EksToken::bare()
        .env("AWS_REGION", "eu-west-1")
        .run(&["token", "--cluster", "prod"]);
    let doc = assert_error(&run, 2, "usage", "no AWS credentials");
    assert!(
        doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("oidc-creds")
    );
}

#[test]
fn bad_names_and_flags_are_refused_before_anything_is_signed() {
    let eks = EksToken::with_env_credentials();
    assert_error(
        &eks.run(&["token", "--cluster", "my cluster"]),
        2,
        "usage",
        "not an EKS cluster name",
    );
    assert_error(
        &eks.run(&[
            "token",
            "--cluster",
            "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
        ]),
        2,
        "usage",
        "not an EKS cluster name",
    );
    assert_error(
        &eks.run(&["token", "--cluster", "prod", "--role-arn", "deploy"]),
        2,
        "usage",
        "not an IAM role ARN",
    );
    assert_error(
        &eks.run(&["kubeconfig", "--cluster", "x!"]),
        2,
        "usage",
        "not an EKS cluster name",
    );
    let run = eks.run(&["token", "--cluster", "prod", "--api-version", "v1alpha1"]);
    run.assert_code(2);
    assert_eq!(valid(&run)["error"]["kind"], "usage");
    let run = eks.run(&["token"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--cluster"), "{}", run.stderr);
    let run = eks.run(&["token", "--cluster", "prod", "--region", "Europe"]);
    assert_error(&run, 2, "usage", "not a region name");
    let run = eks
        .clone()
        .frozen_at("yesterday")
        .run(&["token", "--cluster", "prod"]);
    assert_error(&run, 2, "usage", "PIPEWRIGHT_EKS_TOKEN_TIME");
    assert!(!eks.cache_dir().exists(), "nothing was cached");
}

#[test]
fn the_cluster_can_come_from_the_environment() {
    let run = EksToken::with_env_credentials()
        .env("EKS_CLUSTER_NAME", "from-env")
        .run(&["token", "--no-cache"]);
    run.assert_code(0);
    assert!(run.stderr.contains("from-env"), "{}", run.stderr);
}

#[test]
fn endpoint_overrides() {
    let eks = EksToken::with_env_credentials();
    let args = ["token", "--cluster", "c", "--no-cache"];
    let run = eks
        .clone()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
        .run(&args);
    run.assert_code(0);
    assert!(
        run.url().starts_with("http://127.0.0.1:4566/?Action="),
        "{}",
        run.url()
    );
    let run = eks
        .clone()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5000/")
        .run(&args);
    assert!(
        run.url().starts_with("http://127.0.0.1:5000/?Action="),
        "{}",
        run.url()
    );
    let run = eks
        .clone()
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5000")
        .env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
        .run(&args);
    assert!(
        run.url()
            .starts_with("https://sts.eu-west-1.amazonaws.com/?"),
        "{}",
        run.url()
    );
    let run = eks
        .clone()
        .env("AWS_ENDPOINT_URL_STS", "sts.local")
        .run(&args);
    assert_error(&run, 2, "usage", "AWS_ENDPOINT_URL_STS");
    let run = eks
        .clone()
        .env("AWS_USE_FIPS_ENDPOINT", "true")
        .env("AWS_REGION", "us-east-2")
        .run(&args);
    run.assert_code(0);
    assert!(
        run.url()
            .starts_with("https://sts-fips.us-east-2.amazonaws.com/?"),
        "{}",
        run.url()
    );
}

#[test]
fn credentials_piped_from_oidc_creds_sign_the_token() {
    let run = EksToken::bare()
        .frozen_at(FROZEN)
        .stdin(oidc_creds_document("2026-01-01T01:00:00Z"))
        .run(&["token", "--cluster", "prod", "--no-cache", "-v"]);
    run.assert_code(0);
    valid(&run);
    let url = run.url();
    assert_eq!(
        query_param(&url, "X-Amz-Credential"),
        Some("ASIAPIPEDEXAMPLE0001%2F20260101%2Fap-south-1%2Fsts%2Faws4_request"),
        "the document's keys and Region"
    );
    assert_eq!(
        query_param(&url, "X-Amz-Security-Token"),
        Some("piped-session-token-value")
    );
    assert!(
        run.stderr.contains("credential document on stdin"),
        "{}",
        run.stderr
    );

    // AWS_REGION still wins over the document's Region, and piped keys over the environment's.
    let run = EksToken::with_env_credentials()
        .stdin(oidc_creds_document("2026-01-01T01:00:00Z"))
        .frozen_at(FROZEN)
        .run(&["token", "--cluster", "prod", "--no-cache"]);
    assert!(
        query_param(&run.url(), "X-Amz-Credential")
            .unwrap()
            .starts_with("ASIAPIPEDEXAMPLE0001%2F20260101%2Feu-west-1%2F")
    );
}

#[test]
fn credentials_expiring_soon_shorten_the_token_and_expired_ones_are_refused() {
    let run = EksToken::bare()
        .frozen_at(FROZEN)
        .stdin(oidc_creds_document("2026-01-01T00:05:00Z"))
        .run(&["token", "--cluster", "prod", "--no-cache"]);
    run.assert_code(0);
    assert_eq!(
        run.doc()["status"]["expirationTimestamp"],
        "2026-01-01T00:05:00Z"
    );

    let run = EksToken::bare()
        .frozen_at(FROZEN)
        .stdin(oidc_creds_document("2025-12-31T23:00:00Z"))
        .run(&["token", "--cluster", "prod"]);
    assert_error(&run, 3, "unauthorized", "expired");
}

#[test]
fn upstream_failures_pass_through_and_bad_documents_are_refused() {
    let failed = r#"{"ok":false,"tool":"oidc-creds","schema":"pipewright.dev/oidc-creds/v1","error":{"kind":"unauthorized","message":"AccessDenied"}}"#;
    let run = EksToken::with_env_credentials()
        .stdin(failed)
        .run(&["token", "--cluster", "prod"]);
    run.assert_code(1);
    assert_eq!(run.stdout.trim_end(), failed, "passed on byte for byte");

    let eks = EksToken::with_env_credentials();
    let run = eks
        .clone()
        .stdin("{\"ok\": tru")
        .run(&["token", "--cluster", "prod"]);
    assert_error(&run, 2, "invalid-input", "stdin");
    let other =
        r#"{"ok":true,"tool":"k8s-apply","schema":"pipewright.dev/k8s-apply/v1","objects":[]}"#;
    let run = eks
        .clone()
        .stdin(other)
        .run(&["token", "--cluster", "prod"]);
    assert_error(&run, 2, "invalid-input", "cannot use: missing field");
    let empty_key = oidc_creds_document("2026-01-01T01:00:00Z").replace("piped/secret+key", "");
    let run = eks
        .clone()
        .stdin(empty_key)
        .run(&["token", "--cluster", "prod"]);
    assert_error(&run, 2, "invalid-input", "SecretAccessKey is empty");
}

#[test]
fn as_an_exec_plugin_stdin_is_not_read_and_progress_is_quiet() {
    // kubectl hands its plugin its own stdin when interactive; a manifest piped to `kubectl
    // apply -f -` is no document for us.
    let run = EksToken::with_env_credentials()
        .env("KUBERNETES_EXEC_INFO", r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true}}"#)
        .stdin("apiVersion: v1\nkind: ConfigMap\n")
        .run(&["token", "--cluster", "prod"]);
    run.assert_code(0);
    valid(&run);
    assert_eq!(run.stderr, "", "nothing on kubectl's terminal");
}

#[test]
fn the_api_version_is_negotiated_with_the_client() {
    let info = |v: &str| {
        format!(
            r#"{{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/{v}","spec":{{"interactive":false}}}}"#
        )
    };
    let cases: &[(Option<String>, &[&str], &str, bool)] = &[
        (None, &[], "v1beta1", false),
        (None, &["--api-version", "v1"], "v1", false),
        (
            None,
            &["--api-version", "client.authentication.k8s.io/v1"],
            "v1",
            false,
        ),
        (Some(info("v1")), &[], "v1", false),
        (Some(info("v1beta1")), &[], "v1beta1", false),
        (
            Some(info("v1beta1")),
            &["--api-version", "v1"],
            "v1beta1",
            true,
        ),
        (Some(info("v1alpha1")), &[], "v1beta1", true),
        (
            Some("{not json".to_owned()),
            &["--api-version", "v1"],
            "v1",
            true,
        ),
    ];
    for (exec_info, extra, expected, warns) in cases {
        let mut eks = EksToken::with_env_credentials();
        if let Some(info) = exec_info {
            eks = eks.env("KUBERNETES_EXEC_INFO", info);
        }
        let mut args = vec!["token", "--cluster", "prod", "--no-cache"];
        args.extend_from_slice(extra);
        let run = eks.run(&args);
        run.assert_code(0);
        assert_eq!(
            valid(&run)["apiVersion"],
            format!("client.authentication.k8s.io/{expected}"),
            "{exec_info:?} {extra:?}"
        );
        assert_eq!(
            run.stderr.contains("warning:"),
            *warns,
            "{exec_info:?} {extra:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn the_cache_serves_until_shortly_before_expiry() {
    let eks = EksToken::with_env_credentials();
    let args = ["token", "--cluster", "prod", "-v"];
    let first = eks.clone().frozen_at(FROZEN).run(&args);
    first.assert_code(0);
    let files: Vec<_> = std::fs::read_dir(eks.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(&eks.cache_dir()), 0o700);

    // Ten minutes later: the same token, the same expiry, nothing signed.
    let hit = eks.clone().frozen_at("2026-01-01T00:10:00Z").run(&args);
    hit.assert_code(0);
    assert_eq!(hit.token(), first.token());
    assert_eq!(
        hit.doc()["status"]["expirationTimestamp"],
        "2026-01-01T00:14:00Z"
    );
    assert!(hit.stderr.contains("from the cache"), "{}", hit.stderr);

    // Within a minute of expiry: a new one, signed now, which replaces the old in the cache.
    let renewed = eks.clone().frozen_at("2026-01-01T00:13:30Z").run(&args);
    renewed.assert_code(0);
    assert_ne!(renewed.token(), first.token());
    assert_eq!(
        renewed.doc()["status"]["expirationTimestamp"],
        "2026-01-01T00:27:30Z"
    );
    assert!(!renewed.stderr.contains("from the cache"));
    let again = eks.clone().frozen_at("2026-01-01T00:14:00Z").run(&args);
    assert_eq!(again.token(), renewed.token());

    // Another cluster, role or identity is another entry.
    let other =
        eks.clone()
            .frozen_at("2026-01-01T00:14:00Z")
            .run(&["token", "--cluster", "staging"]);
    assert_ne!(other.token(), renewed.token());
    let other_key = eks
        .clone()
        .env("AWS_ACCESS_KEY_ID", "AKIDOTHEREXAMPLE")
        .frozen_at("2026-01-01T00:14:00Z")
        .run(&["token", "--cluster", "prod"]);
    assert!(
        query_param(&other_key.url(), "X-Amz-Credential")
            .unwrap()
            .starts_with("AKIDOTHEREXAMPLE")
    );
    assert_eq!(std::fs::read_dir(eks.cache_dir()).unwrap().count(), 3);
}

#[test]
fn no_cache_neither_reads_nor_writes_and_xdg_cache_home_moves_it() {
    let eks = EksToken::with_env_credentials();
    let first = eks
        .clone()
        .frozen_at(FROZEN)
        .run(&["token", "--cluster", "prod"]);
    let bypass = eks.clone().frozen_at("2026-01-01T00:01:00Z").run(&[
        "token",
        "--cluster",
        "prod",
        "--no-cache",
    ]);
    assert_ne!(bypass.token(), first.token());
    let cached = eks
        .clone()
        .frozen_at("2026-01-01T00:02:00Z")
        .run(&["token", "--cluster", "prod"]);
    assert_eq!(
        cached.token(),
        first.token(),
        "--no-cache did not overwrite the entry"
    );

    let xdg = eks.home.path().join("xdg");
    let run = eks
        .clone()
        .env("XDG_CACHE_HOME", &xdg.display().to_string())
        .run(&["token", "--cluster", "prod"]);
    run.assert_code(0);
    assert_eq!(
        std::fs::read_dir(xdg.join("pipewright/eks-token"))
            .unwrap()
            .count(),
        1
    );

    let fresh = EksToken::with_env_credentials();
    fresh
        .run(&["token", "--cluster", "prod", "--no-cache"])
        .assert_code(0);
    assert!(!fresh.cache_dir().exists());
}

#[test]
fn an_unwritable_cache_is_a_warning_not_a_failure() {
    let eks = EksToken::with_env_credentials();
    let blocker = eks.home.path().join("blocked");
    std::fs::write(&blocker, "a file where the cache directory should be").unwrap();
    let run = eks
        .clone()
        .env("XDG_CACHE_HOME", &blocker.display().to_string())
        .run(&["token", "--cluster", "prod"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("could not write the token cache"),
        "{}",
        run.stderr
    );
}

#[test]
fn secrets_never_reach_stderr() {
    let piped = oidc_creds_document("2026-01-01T01:00:00Z");
    let runs = [
        EksToken::with_env_credentials()
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .frozen_at(FROZEN)
            .run(&["token", "--cluster", "prod", "-vvv"]),
        EksToken::bare()
            .stdin(piped.clone())
            .frozen_at(FROZEN)
            .run(&["token", "--cluster", "prod", "-vvv"]),
        // Failures after the credentials were read.
        EksToken::bare()
            .stdin(piped.clone())
            .frozen_at(FROZEN)
            .env("AWS_ENDPOINT_URL_STS", "ftp://x")
            .run(&["token", "--cluster", "prod", "-vvv"]),
        EksToken::with_env_credentials()
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .run(&["kubeconfig", "--cluster", "prod", "-vvv"]),
    ];
    for run in &runs {
        let mut secrets = vec![
            SECRET_KEY,
            SESSION_TOKEN,
            "piped/secret+key",
            "piped-session-token-value",
            "k8s-aws-v1.",
            "X-Amz-Signature",
        ];
        if run.code == 0 {
            let token = run.token();
            secrets.push(Box::leak(token.into_boxed_str()));
        }
        for secret in secrets {
            assert!(
                !run.stderr.contains(secret),
                "{secret:?} on stderr:\n{}",
                run.stderr
            );
            if run.code != 0 {
                assert!(
                    !run.stdout.contains(secret),
                    "{secret:?} in the error document"
                );
            }
        }
        assert!(
            !run.stderr.contains(KEY_ID),
            "access key ids are masked too: {}",
            run.stderr
        );
    }
}

#[test]
fn under_github_actions_the_token_is_masked_before_anything_else() {
    let run = EksToken::with_env_credentials()
        .env("GITHUB_ACTIONS", "true")
        .run(&["token", "--cluster", "prod", "--no-cache"]);
    run.assert_code(0);
    let token = run.token();
    let mask = format!("::add-mask::{token}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == mask)
        .expect("the token is masked");
    assert!(
        lines[..at].iter().all(|l| l.starts_with("::add-mask::")),
        "only masks before it: {lines:?}"
    );
}
