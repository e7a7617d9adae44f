//! RBAC authorization, turned on by a scenario: users from the kubeconfig and from EKS tokens get
//! exactly what their Roles and `ClusterRoles` say, and refusals are the real API server's 403.
//!
//! Expected messages are built from the real server's rules, not from kube-sim's output: the
//! apiserver's `responsewriters.forbiddenMessage` (`User %q cannot %s resource %q in API group
//! %q in the namespace %q`, `… at the cluster scope`, `User %q cannot %s path %q`) wrapped by
//! `apierrors.NewForbidden` (`<resource>.<group> "<name>" is forbidden: …`, details with name,
//! group and kind, empty ones omitted), and RBAC's reason for a binding to a missing role
//! (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`). Bootstrap roles are those of
//! the real `bootstrappolicy` (view has no Secrets; discovery is granted to
//! `system:authenticated`).

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine;
use http_body_util::BodyExt;
use kube_sim::rbac::{AccessEntry, Mode, StaticUser};
use kube_sim::{Config, EksAuth, KubeSim, Scenario};
use serde_json::{Value, json};

/// A scenario with RBAC on and these users (token `<name>-token`).
fn rbac_config(users: &[(&str, &[&str])]) -> Config {
    Config {
        scenario: Scenario {
            authorization: Some(Mode::Rbac),
            users: users
                .iter()
                .map(|(name, groups)| StaticUser {
                    name: (*name).to_owned(),
                    token: format!("{name}-token"),
                    groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                    uid: None,
                })
                .collect(),
            ..Scenario::default()
        },
        ..Config::default()
    }
}

async fn client_as(sim: &KubeSim, user: &str) -> kube::Client {
    sim.client_for_context(Some(user)).await.unwrap()
}

/// Sends one request and returns the status code and the JSON body.
async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(
            body.map_or_else(Vec::new, |b| serde_json::to_vec(b).unwrap())
                .into(),
        )
        .unwrap();
    let response = client.send(request).await.unwrap();
    let code = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
    (code, value)
}

/// Asserts a 2xx answer.
async fn ok(client: &kube::Client, method: &str, path: &str, body: Option<&Value>) -> Value {
    let (code, value) = call(client, method, path, body).await;
    assert!(
        (200..300).contains(&code),
        "{method} {path}: {code} {value}"
    );
    value
}

/// Asserts the real server's 403 Status, with this message and these details.
async fn forbidden(client: &kube::Client, method: &str, path: &str, message: &str, details: Value) {
    let (code, value) = call(client, method, path, Some(&json!({}))).await;
    assert_eq!(code, 403, "{method} {path}: {value}");
    assert_eq!(
        value,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "Forbidden",
            "details": details,
            "code": 403,
        }),
        "{method} {path}"
    );
}

fn role(namespace: &str, name: &str, rules: &Value) -> Value {
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": { "name": name, "namespace": namespace }, "rules": rules })
}

fn binding(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    role_kind: &str,
    role: &str,
    subject: (&str, &str),
) -> Value {
    let mut metadata = json!({ "name": name });
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": subject.0, "name": subject.1 }] })
}

const ROLES: &str = "/apis/rbac.authorization.k8s.io/v1";

async fn namespace(admin: &kube::Client, name: &str) {
    ok(
        admin,
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})),
    )
    .await;
}

async fn config_map(admin: &kube::Client, namespace: &str, name: &str) {
    ok(
        admin,
        "POST",
        &format!("/api/v1/namespaces/{namespace}/configmaps"),
        Some(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})),
    )
    .await;
}

#[tokio::test]
async fn without_the_scenario_switch_every_user_may_do_anything() {
    let mut config = rbac_config(&[("dev", &[])]);
    config.scenario.authorization = None;
    let sim = KubeSim::start(config).unwrap();
    let dev = client_as(&sim, "dev").await;
    ok(&dev, "GET", "/api/v1/namespaces/default/secrets", None).await;
    config_map(&dev, "default", "made-by-dev").await;
    // No bootstrap policy is stored either: the store is what it always was.
    let roles = ok(
        &sim.client().await.unwrap(),
        "GET",
        &format!("{ROLES}/clusterroles"),
        None,
    )
    .await;
    assert_eq!(roles["items"], json!([]));
    // A token nobody declared is still refused.
    let kubeconfig = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
    let mut stranger = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    stranger.auth_info.token = Some("nobody-token".to_owned().into());
    let (code, _) = call(
        &kube::Client::try_from(stranger).unwrap(),
        "GET",
        "/api",
        None,
    )
    .await;
    assert_eq!(code, 401);
}

// One request per line of the Role's reach reads best as a single list.
#[allow(clippy::too_many_lines)]
#[tokio::test]
async fn a_namespaced_role_allows_exactly_its_verbs() {
    let sim = KubeSim::start(rbac_config(&[("dev", &[])])).unwrap();
    let admin = sim.client().await.unwrap();
    namespace(&admin, "app").await;
    config_map(&admin, "app", "settings").await;
    let rules = json!([{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "update"] }]);
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/namespaces/app/roles"),
        Some(&role("app", "cm-editor", &rules)),
    )
    .await;
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/namespaces/app/rolebindings"),
        Some(&binding(
            "RoleBinding",
            Some("app"),
            "dev-cm",
            "Role",
            "cm-editor",
            ("User", "dev"),
        )),
    )
    .await;
    let dev = client_as(&sim, "dev").await;

    ok(&dev, "GET", "/api/v1/namespaces/app/configmaps", None).await;
    let cm = ok(
        &dev,
        "GET",
        "/api/v1/namespaces/app/configmaps/settings",
        None,
    )
    .await;
    let mut changed = cm.clone();
    changed["data"]["k"] = json!("w");
    ok(
        &dev,
        "PUT",
        "/api/v1/namespaces/app/configmaps/settings",
        Some(&changed),
    )
    .await;

    forbidden(
        &dev,
        "POST",
        "/api/v1/namespaces/app/configmaps",
        r#"configmaps is forbidden: User "dev" cannot create resource "configmaps" in API group "" in the namespace "app""#,
        json!({ "kind": "configmaps" }),
    )
    .await;
    forbidden(
        &dev,
        "DELETE",
        "/api/v1/namespaces/app/configmaps/settings",
        r#"configmaps "settings" is forbidden: User "dev" cannot delete resource "configmaps" in API group "" in the namespace "app""#,
        json!({ "name": "settings", "kind": "configmaps" }),
    )
    .await;
    forbidden(
        &dev,
        "PATCH",
        "/api/v1/namespaces/app/configmaps/settings",
        r#"configmaps "settings" is forbidden: User "dev" cannot patch resource "configmaps" in API group "" in the namespace "app""#,
        json!({ "name": "settings", "kind": "configmaps" }),
    )
    .await;
    // list is granted, watch is not.
    forbidden(
        &dev,
        "GET",
        "/api/v1/namespaces/app/configmaps?watch=true",
        r#"configmaps is forbidden: User "dev" cannot watch resource "configmaps" in API group "" in the namespace "app""#,
        json!({ "kind": "configmaps" }),
    )
    .await;
    forbidden(
        &dev,
        "DELETE",
        "/api/v1/namespaces/app/configmaps",
        r#"configmaps is forbidden: User "dev" cannot deletecollection resource "configmaps" in API group "" in the namespace "app""#,
        json!({ "kind": "configmaps" }),
    )
    .await;
    // The Role is the namespace's only: not other namespaces, not the cluster scope.
    forbidden(
        &dev,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        r#"configmaps is forbidden: User "dev" cannot list resource "configmaps" in API group "" in the namespace "default""#,
        json!({ "kind": "configmaps" }),
    )
    .await;
    forbidden(
        &dev,
        "GET",
        "/api/v1/configmaps",
        r#"configmaps is forbidden: User "dev" cannot list resource "configmaps" in API group "" at the cluster scope"#,
        json!({ "kind": "configmaps" }),
    )
    .await;
    forbidden(
        &dev,
        "GET",
        "/apis/apps/v1/namespaces/app/deployments/web",
        r#"deployments.apps "web" is forbidden: User "dev" cannot get resource "deployments" in API group "apps" in the namespace "app""#,
        json!({ "name": "web", "group": "apps", "kind": "deployments" }),
    )
    .await;
}

#[tokio::test]
async fn view_reads_everything_but_secrets_and_writes_nothing() {
    let sim = KubeSim::start(rbac_config(&[("viewer", &["viewers"])])).unwrap();
    let admin = sim.client().await.unwrap();
    config_map(&admin, "default", "settings").await;
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/clusterrolebindings"),
        Some(&binding(
            "ClusterRoleBinding",
            None,
            "viewers-view",
            "ClusterRole",
            "view",
            ("Group", "viewers"),
        )),
    )
    .await;
    let viewer = client_as(&sim, "viewer").await;
    ok(&viewer, "GET", "/api/v1/configmaps", None).await;
    ok(
        &viewer,
        "GET",
        "/api/v1/namespaces/default/configmaps/settings",
        None,
    )
    .await;
    ok(
        &viewer,
        "GET",
        "/apis/apps/v1/namespaces/default/deployments?watch=true&timeoutSeconds=1",
        None,
    )
    .await;
    ok(&viewer, "GET", "/api/v1/namespaces", None).await;
    forbidden(
        &viewer,
        "GET",
        "/api/v1/namespaces/default/secrets",
        r#"secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "default""#,
        json!({ "kind": "secrets" }),
    )
    .await;
    forbidden(
        &viewer,
        "PUT",
        "/api/v1/namespaces/default/configmaps/settings",
        r#"configmaps "settings" is forbidden: User "viewer" cannot update resource "configmaps" in API group "" in the namespace "default""#,
        json!({ "name": "settings", "kind": "configmaps" }),
    )
    .await;
    forbidden(
        &viewer,
        "GET",
        &format!("{ROLES}/namespaces/default/roles"),
        r#"roles.rbac.authorization.k8s.io is forbidden: User "viewer" cannot list resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "default""#,
        json!({ "group": "rbac.authorization.k8s.io", "kind": "roles" }),
    )
    .await;
    // The bootstrap roles are stored with view's rules aggregated into it.
    let view = ok(&admin, "GET", &format!("{ROLES}/clusterroles/view"), None).await;
    assert!(view["rules"].as_array().unwrap().iter().any(|r| {
        r["resources"]
            .as_array()
            .unwrap()
            .contains(&json!("pods/log"))
    }));
}

#[tokio::test]
async fn resource_names_and_subresources_are_their_own_permissions() {
    let sim = KubeSim::start(rbac_config(&[("dev", &[])])).unwrap();
    let admin = sim.client().await.unwrap();
    config_map(&admin, "default", "allowed").await;
    config_map(&admin, "default", "other").await;
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    ok(
        &admin,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        Some(&deployment),
    )
    .await;
    let rules = json!([
        { "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["allowed"], "verbs": ["get", "watch"] },
        { "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"] },
        { "apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "update"] },
    ]);
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/namespaces/default/roles"),
        Some(&role("default", "narrow", &rules)),
    )
    .await;
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/namespaces/default/rolebindings"),
        Some(&binding(
            "RoleBinding",
            Some("default"),
            "dev-narrow",
            "Role",
            "narrow",
            ("User", "dev"),
        )),
    )
    .await;
    let dev = client_as(&sim, "dev").await;

    ok(
        &dev,
        "GET",
        "/api/v1/namespaces/default/configmaps/allowed",
        None,
    )
    .await;
    // A watch narrowed to the allowed name by field selector is a request for that name.
    ok(&dev, "GET", "/api/v1/namespaces/default/configmaps?watch=1&fieldSelector=metadata.name%3Dallowed&timeoutSeconds=1", None).await;
    forbidden(
        &dev,
        "GET",
        "/api/v1/namespaces/default/configmaps/other",
        r#"configmaps "other" is forbidden: User "dev" cannot get resource "configmaps" in API group "" in the namespace "default""#,
        json!({ "name": "other", "kind": "configmaps" }),
    )
    .await;
    forbidden(
        &dev,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        r#"configmaps is forbidden: User "dev" cannot list resource "configmaps" in API group "" in the namespace "default""#,
        json!({ "kind": "configmaps" }),
    )
    .await;

    // pods, but not pods/log.
    ok(&dev, "GET", "/api/v1/namespaces/default/pods", None).await;
    forbidden(
        &dev,
        "GET",
        "/api/v1/namespaces/default/pods/web-1/log",
        r#"pods "web-1" is forbidden: User "dev" cannot get resource "pods/log" in API group "" in the namespace "default""#,
        json!({ "name": "web-1", "kind": "pods" }),
    )
    .await;
    // deployments/scale, but not deployments.
    let scale = ok(
        &dev,
        "GET",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        None,
    )
    .await;
    assert_eq!(scale["spec"]["replicas"], 1);
    forbidden(
        &dev,
        "GET",
        "/apis/apps/v1/namespaces/default/deployments/web",
        r#"deployments.apps "web" is forbidden: User "dev" cannot get resource "deployments" in API group "apps" in the namespace "default""#,
        json!({ "name": "web", "group": "apps", "kind": "deployments" }),
    )
    .await;
    forbidden(
        &dev,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        r#"deployments.apps "web" is forbidden: User "dev" cannot patch resource "deployments/scale" in API group "apps" in the namespace "default""#,
        json!({ "name": "web", "group": "apps", "kind": "deployments" }),
    )
    .await;
}

#[tokio::test]
async fn discovery_is_open_to_every_authenticated_user_and_nothing_else_is() {
    let sim = KubeSim::start(rbac_config(&[("nobody", &[])])).unwrap();
    let nobody = client_as(&sim, "nobody").await;
    for path in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps/v1",
        "/version",
        "/openapi/v3",
        "/openapi/v3/apis/apps/v1",
        "/healthz",
    ] {
        ok(&nobody, "GET", path, None).await;
    }
    forbidden(
        &nobody,
        "GET",
        "/api/v1/namespaces",
        r#"namespaces is forbidden: User "nobody" cannot list resource "namespaces" in API group "" at the cluster scope"#,
        json!({ "kind": "namespaces" }),
    )
    .await;
    // A Namespace's own path lies in that namespace.
    forbidden(
        &nobody,
        "GET",
        "/api/v1/namespaces/default",
        r#"namespaces "default" is forbidden: User "nobody" cannot get resource "namespaces" in API group "" in the namespace "default""#,
        json!({ "name": "default", "kind": "namespaces" }),
    )
    .await;
    forbidden(
        &nobody,
        "GET",
        "/metrics",
        r#"forbidden: User "nobody" cannot get path "/metrics""#,
        json!({}),
    )
    .await;
    forbidden(
        &nobody,
        "POST",
        "/apis",
        r#"forbidden: User "nobody" cannot post path "/apis""#,
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn a_binding_to_a_missing_role_is_named_in_the_refusal() {
    let sim = KubeSim::start(rbac_config(&[("dev", &[])])).unwrap();
    let admin = sim.client().await.unwrap();
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/namespaces/default/rolebindings"),
        Some(&binding(
            "RoleBinding",
            Some("default"),
            "dangling",
            "ClusterRole",
            "no-such-role",
            ("User", "dev"),
        )),
    )
    .await;
    forbidden(
        &client_as(&sim, "dev").await,
        "GET",
        "/api/v1/namespaces/default/pods",
        r#"pods is forbidden: User "dev" cannot list resource "pods" in API group "" in the namespace "default": RBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not found"#,
        json!({ "kind": "pods" }),
    )
    .await;
}

#[tokio::test]
async fn reviews_answer_for_the_caller_and_for_others_to_admins() {
    let sim = KubeSim::start(rbac_config(&[("dev", &["developers"])])).unwrap();
    let admin = sim.client().await.unwrap();
    let rules = json!([{ "apiGroups": [""], "resources": ["pods"], "verbs": ["list"] }]);
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/namespaces/default/roles"),
        Some(&role("default", "pod-lister", &rules)),
    )
    .await;
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/namespaces/default/rolebindings"),
        Some(&binding(
            "RoleBinding",
            Some("default"),
            "devs",
            "Role",
            "pod-lister",
            ("Group", "developers"),
        )),
    )
    .await;
    let dev = client_as(&sim, "dev").await;
    let ssar = |verb: &str| {
        json!({ "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": { "resourceAttributes": { "namespace": "default", "verb": verb, "resource": "pods" } } })
    };
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let yes = ok(&dev, "POST", path, Some(&ssar("list"))).await;
    assert_eq!(yes["status"]["allowed"], true, "{yes}");
    assert_eq!(yes["spec"], ssar("list")["spec"]);
    let no = ok(&dev, "POST", path, Some(&ssar("delete"))).await;
    assert_eq!(no["status"]["allowed"], false, "{no}");

    let rules_review = ok(
        &dev,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        Some(&json!({ "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": { "namespace": "default" } })),
    )
    .await;
    let resource_rules = rules_review["status"]["resourceRules"].as_array().unwrap();
    assert!(
        resource_rules
            .contains(&json!({ "verbs": ["list"], "apiGroups": [""], "resources": ["pods"] })),
        "{rules_review}"
    );
    assert!(
        resource_rules.iter().any(|r| r["resources"]
            .as_array()
            .unwrap()
            .contains(&json!("selfsubjectaccessreviews"))),
        "system:basic-user applies to every authenticated user: {rules_review}"
    );

    let whoami = ok(
        &dev,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Some(&json!({ "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview" })),
    )
    .await;
    assert_eq!(
        whoami["status"]["userInfo"],
        json!({ "username": "dev", "groups": ["developers", "system:authenticated"] })
    );

    // Asking about someone else is for those allowed to create SubjectAccessReviews.
    let review_of_dev = json!({ "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": { "user": "dev", "groups": ["developers"], "resourceAttributes": { "namespace": "default", "verb": "list", "resource": "pods" } } });
    let answer = ok(
        &admin,
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(&review_of_dev),
    )
    .await;
    assert_eq!(answer["status"]["allowed"], true, "{answer}");
    assert_eq!(
        answer["status"]["reason"],
        r#"RBAC: allowed by RoleBinding "devs/default" of Role "pod-lister" to Group "developers""#
    );
    forbidden(
        &dev,
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        r#"subjectaccessreviews.authorization.k8s.io is forbidden: User "dev" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope"#,
        json!({ "group": "authorization.k8s.io", "kind": "subjectaccessreviews" }),
    )
    .await;
    // The reviews are served in discovery, for create only.
    let discovery = ok(&dev, "GET", "/apis/authorization.k8s.io/v1", None).await;
    let ssar_entry = discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "selfsubjectaccessreviews")
        .unwrap();
    assert_eq!(ssar_entry["verbs"], json!(["create"]));
}

/// Asks moto's STS for a role session (unsigned AssumeRoleWithWebIdentity) and returns its
/// access key id; moto then answers GetCallerIdentity for that key with the assumed-role ARN.
async fn assume_role(sts: &str, role_arn: &str, session: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = sts.trim_start_matches("http://").trim_end_matches('/');
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", role_arn)
        .append_pair("RoleSessionName", session)
        .append_pair("WebIdentityToken", "a.b.c")
        .finish();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: sts.amazonaws.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let start = response.find("<AccessKeyId>").unwrap() + "<AccessKeyId>".len();
    let end = response[start..].find("</AccessKeyId>").unwrap() + start;
    response[start..end].to_owned()
}

fn eks_token(access_key: &str) -> String {
    let now = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let url = format!(
        "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15\
         &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={access_key}%2F{}%2Fus-east-1%2Fsts%2Faws4_request\
         &X-Amz-Date={now}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=00",
        &now[..8]
    );
    format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
}

#[tokio::test]
async fn an_eks_role_session_gets_the_rights_of_its_access_entry_groups() {
    let moto = testbed::Moto::start().expect("moto starts");
    let deployer_role = "arn:aws:iam::123456789012:role/deployer";
    let mut config = rbac_config(&[]);
    config.eks = Some(EksAuth {
        cluster_name: "kube-sim".to_owned(),
        sts_endpoint: moto.endpoint(),
    });
    config.scenario.access_entries = vec![AccessEntry {
        principal_arn: deployer_role.to_owned(),
        username: Some("deployer:{{SessionName}}".to_owned()),
        kubernetes_groups: vec!["deployers".to_owned()],
    }];
    let sim = KubeSim::start(config).unwrap();
    let admin = sim.client().await.unwrap();
    ok(
        &admin,
        "POST",
        &format!("{ROLES}/namespaces/default/rolebindings"),
        Some(&binding(
            "RoleBinding",
            Some("default"),
            "deployers-edit",
            "ClusterRole",
            "edit",
            ("Group", "deployers"),
        )),
    )
    .await;

    let client_with = |token: String| {
        let sim = &sim;
        async move {
            let kubeconfig = kube::config::Kubeconfig::read_from(sim.kubeconfig_path()).unwrap();
            let mut config = kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .unwrap();
            config.auth_info.token = Some(token.into());
            kube::Client::try_from(config).unwrap()
        }
    };
    let key = assume_role(&moto.endpoint(), deployer_role, "ci-run-7").await;
    let deployer = client_with(eks_token(&key)).await;
    let whoami = ok(
        &deployer,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Some(&json!({ "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview" })),
    )
    .await;
    assert_eq!(
        whoami["status"]["userInfo"]["username"], "deployer:ci-run-7",
        "{whoami}"
    );
    assert_eq!(
        whoami["status"]["userInfo"]["groups"],
        json!(["deployers", "system:authenticated"])
    );
    assert_eq!(
        whoami["status"]["userInfo"]["extra"]["canonicalArn"],
        json!([deployer_role])
    );

    config_map(&deployer, "default", "made-by-ci").await;
    forbidden(
        &deployer,
        "GET",
        "/api/v1/namespaces/kube-system/configmaps",
        r#"configmaps is forbidden: User "deployer:ci-run-7" cannot list resource "configmaps" in API group "" in the namespace "kube-system""#,
        json!({ "kind": "configmaps" }),
    )
    .await;

    // A role without an access entry is not let in at all, as on EKS.
    let key = assume_role(
        &moto.endpoint(),
        "arn:aws:iam::123456789012:role/stranger",
        "x",
    )
    .await;
    let (code, status) = call(&client_with(eks_token(&key)).await, "GET", "/api", None).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (401, Some("Unauthorized")),
        "{status}"
    );
}

#[test]
fn kubectl_can_i_whoami_and_forbidden_errors_under_rbac() {
    use common::Kubectl;
    let Some(k) = Kubectl::start_with(
        "kubectl_can_i_whoami_and_forbidden_errors_under_rbac",
        rbac_config(&[("viewer", &["viewers"])]),
    ) else {
        return;
    };
    let file = k.file(
        "binding.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: viewers}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n\
         subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: viewers}]\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: x}\n",
    );
    k.ok(&["apply", "-f", &file]);

    assert_eq!(
        k.ok(&["--context", "viewer", "auth", "can-i", "list", "pods"])
            .trim(),
        "yes"
    );
    assert_eq!(
        k.ok(&[
            "--context",
            "viewer",
            "auth",
            "can-i",
            "get",
            "deployments.apps",
            "-A"
        ])
        .trim(),
        "yes"
    );
    let no = k.run(&["--context", "viewer", "auth", "can-i", "get", "secrets"]);
    assert_eq!(
        (no.status.code(), String::from_utf8_lossy(&no.stdout).trim()),
        (Some(1), "no")
    );
    let no = k.run(&[
        "--context",
        "viewer",
        "auth",
        "can-i",
        "create",
        "configmaps",
    ]);
    assert_eq!(
        (no.status.code(), String::from_utf8_lossy(&no.stdout).trim()),
        (Some(1), "no")
    );
    assert_eq!(
        k.ok(&["auth", "can-i", "delete", "secrets", "--all-namespaces"])
            .trim(),
        "yes"
    );

    let list = k.ok(&[
        "--context",
        "viewer",
        "auth",
        "can-i",
        "--list",
        "-n",
        "default",
    ]);
    assert!(
        list.lines()
            .any(|l| l.split_whitespace().next() == Some("pods/log")),
        "view's rules are listed: {list}"
    );

    let whoami = k.ok(&["--context", "viewer", "auth", "whoami"]);
    assert!(
        whoami
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Username", "viewer"]),
        "{whoami}"
    );

    let err = k.fails(&["--context", "viewer", "get", "secrets"]);
    assert_eq!(
        err.trim(),
        r#"Error from server (Forbidden): secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "default""#
    );
    let err = k.fails(&["--context", "viewer", "get", "secret", "db"]);
    assert_eq!(
        err.trim(),
        r#"Error from server (Forbidden): secrets "db" is forbidden: User "viewer" cannot get resource "secrets" in API group "" in the namespace "default""#
    );
}
