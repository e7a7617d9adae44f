//! EKS-token mode against moto's STS: a well-formed, fresh token is accepted and the caller is
//! learned from STS; stale or malformed ones get 401. (Real signatures are made and checked by
//! eks-token's own tests; moto does not verify them.)

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use kube_sim::{Config, EksAuth, KubeSim};

fn token_signed_at(when: jiff::Timestamp) -> String {
    let date = when.strftime("%Y%m%dT%H%M%SZ").to_string();
    let url = format!(
        "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
         &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIATESTBEDEXAMPLE01%2F{}%2Fus-east-1%2Fsts%2Faws4_request\
         &X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=00",
        &date[..8]
    );
    format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
}

/// A kube client for `sim` that presents `token` instead of the kubeconfig's.
async fn client_with_token(sim: &KubeSim, token: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    config.auth_info.token = Some(token.to_owned().into());
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn eks_tokens_are_checked_and_the_caller_is_asked_of_sts() {
    let moto = testbed::Moto::start().expect("moto starts");
    let sim = KubeSim::start(Config {
        token: None,
        eks: Some(EksAuth {
            cluster_name: "kube-sim".to_owned(),
            sts_endpoint: moto.endpoint(),
        }),
        ..Config::default()
    })
    .unwrap();

    let fresh = client_with_token(&sim, &token_signed_at(jiff::Timestamp::now())).await;
    let listed = Api::<Namespace>::all(fresh)
        .list(&ListParams::default())
        .await;
    assert!(listed.is_ok(), "a fresh token is accepted: {listed:?}");

    let an_hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let stale = client_with_token(&sim, &token_signed_at(an_hour_ago)).await;
    match Api::<Namespace>::all(stale)
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 401);
            assert!(status.message.contains("expired"), "{}", status.message);
        }
        other => panic!("an expired token must be refused, got {other:?}"),
    }

    let garbage = client_with_token(&sim, "k8s-aws-v1.bm90IGEgdXJs").await;
    assert!(
        Api::<Namespace>::all(garbage)
            .list(&ListParams::default())
            .await
            .is_err()
    );

    // With no static token configured, the kubeconfig's (empty) token is refused too.
    let static_client = sim.client().await.unwrap();
    assert!(
        Api::<Namespace>::all(static_client)
            .list(&ListParams::default())
            .await
            .is_err()
    );
}
