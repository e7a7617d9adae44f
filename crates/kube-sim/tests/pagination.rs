//! Paginated lists through the kube client, as client-go's pager and kube-rs users page them:
//! every page comes from the state of the first (same resourceVersion), a compacted state
//! answers 410 `Expired` with a token that goes on from now, bad tokens get 400, and Table
//! lists page alike. Expected answers follow the real API server's storage layer.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectList, PostParams};
use kube_sim::{Config, KubeSim};

async fn with_config_maps(count: usize) -> (KubeSim, Api<ConfigMap>) {
    let sim = KubeSim::start(Config::default()).unwrap();
    let client = sim.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..count {
        create(&api, &format!("cm-{i:02}")).await;
    }
    (sim, api)
}

async fn create(api: &Api<ConfigMap>, name: &str) {
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
        ..Default::default()
    };
    api.create(&PostParams::default(), &cm).await.unwrap();
}

fn names(list: &ObjectList<ConfigMap>) -> Vec<String> {
    list.items
        .iter()
        .map(|cm| cm.metadata.name.clone().unwrap())
        .collect()
}

fn continue_of(list: &ObjectList<ConfigMap>) -> Option<String> {
    list.metadata.continue_.clone().filter(|c| !c.is_empty())
}

#[tokio::test]
async fn a_limited_list_walks_every_page() {
    let (_sim, api) = with_config_maps(7).await;
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(3);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = api.list(&params).await.unwrap();
        pages.push((page.items.len(), page.metadata.remaining_item_count));
        seen.extend(names(&page));
        token = continue_of(&page);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, [(3, Some(4)), (3, Some(1)), (1, None)]);
    let expected: Vec<String> = (0..7).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(seen, expected);

    // kube-rs' own pager walks the same pages.
    let all = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&all), expected);
    assert!(continue_of(&all).is_none());
}

#[tokio::test]
async fn later_pages_come_from_the_first_pages_state() {
    let (_sim, api) = with_config_maps(5).await;
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let version = first.metadata.resource_version.clone().unwrap();
    let token = continue_of(&first).unwrap();

    // Changes after the first page: a new object that sorts into the rest, one deleted.
    create(&api, "cm-02a").await;
    api.delete("cm-04", &DeleteParams::default()).await.unwrap();

    let rest = api
        .list(&ListParams::default().continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&rest), ["cm-02", "cm-03", "cm-04"]);
    assert_eq!(
        rest.metadata.resource_version.as_deref(),
        Some(version.as_str())
    );
    // A new list sees the changes.
    let now = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&now), ["cm-00", "cm-01", "cm-02", "cm-02a", "cm-03"]);
}

#[tokio::test]
async fn a_compacted_state_expires_with_a_token_that_goes_on_from_now() {
    let (sim, api) = with_config_maps(5).await;
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let token = continue_of(&first).unwrap();
    create(&api, "cm-09").await;
    sim.sim().list_snapshots.compact();

    let err = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    assert!(
        status.message.starts_with(
            "The provided continue parameter is too old to display a consistent list result."
        ),
        "{}",
        status.message
    );
    let inconsistent = status.metadata.and_then(|m| m.continue_).unwrap();

    // Going on with it lists the rest as it is now, the new object included.
    let rest = api
        .list(&ListParams::default().continue_token(&inconsistent))
        .await
        .unwrap();
    assert_eq!(names(&rest), ["cm-02", "cm-03", "cm-04", "cm-09"]);
}

#[tokio::test]
async fn a_compacted_state_is_no_loss_when_nothing_changed() {
    let (sim, api) = with_config_maps(3).await;
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    sim.sim().list_snapshots.compact();
    let rest = api
        .list(&ListParams::default().continue_token(&continue_of(&first).unwrap()))
        .await
        .unwrap();
    assert_eq!(names(&rest), ["cm-02"]);
}

#[tokio::test]
async fn bad_tokens_and_versions_are_refused() {
    let (sim, api) = with_config_maps(3).await;
    let bad_request = |err: kube::Error| match err {
        kube::Error::Api(status) => (status.code, status.reason, status.message),
        other => panic!("not an API error: {other}"),
    };
    let (code, reason, message) = bad_request(
        api.list(&ListParams::default().continue_token("not-a-token"))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
    assert!(
        message.starts_with("invalid continue token: continue key is not valid"),
        "{message}"
    );

    // kube-rs leaves resourceVersion out when it continues; other clients may not.
    let first = api.list(&ListParams::default().limit(1)).await.unwrap();
    let version = first.metadata.resource_version.clone().unwrap();
    let token = continue_of(&first).unwrap();
    let uri = format!(
        "/api/v1/namespaces/default/configmaps?limit=1&continue={token}&resourceVersion={version}"
    );
    let request = hyper::Request::get(uri).body(Vec::new()).unwrap();
    let client = sim.client().await.unwrap();
    let (code, _, message) = bad_request(
        client
            .request::<serde_json::Value>(request)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400);
    assert_eq!(
        message,
        "specifying resource version is not allowed when using continue"
    );
}

#[tokio::test]
async fn tables_page_too() {
    let (sim, _api) = with_config_maps(3).await;
    let client = sim.client().await.unwrap();
    let request = |uri: &str| {
        hyper::Request::get(uri)
            .header(
                "Accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .body(Vec::new())
            .unwrap()
    };
    let first: serde_json::Value = client
        .request(request("/api/v1/namespaces/default/configmaps?limit=2"))
        .await
        .unwrap();
    assert_eq!(first["kind"], "Table");
    assert_eq!(first["rows"].as_array().unwrap().len(), 2);
    assert_eq!(first["metadata"]["remainingItemCount"], 1);
    let token = first["metadata"]["continue"].as_str().unwrap();
    let rest: serde_json::Value = client
        .request(request(&format!(
            "/api/v1/namespaces/default/configmaps?limit=2&continue={token}"
        )))
        .await
        .unwrap();
    assert_eq!(rest["rows"][0]["cells"][0], "cm-02");
    assert_eq!(rest["rows"][0]["cells"][1], 1);
    assert!(rest["metadata"].get("continue").is_none());
    // The row carries the object's metadata, as kubectl needs for namespaces and names.
    assert_eq!(rest["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(
        rest["rows"][0]["object"]["metadata"]["namespace"],
        "default"
    );
}
