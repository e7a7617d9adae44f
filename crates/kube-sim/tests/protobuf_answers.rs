//! Clients that accept only `application/vnd.kubernetes.protobuf` get protobuf answers: every
//! built-in collection of a running cluster (controllers have made ReplicaSets, Pods, Events,
//! Endpoints…) is read both ways and the protobuf, decoded, must say what the JSON says. Errors
//! come back as a protobuf Status, custom resources are refused with 406, and a protobuf create
//! is answered in protobuf.

use std::time::{Duration, Instant};

use kube_sim::protobuf::{MEDIA_TYPE, decode_object};
use serde_json::{Value, json};

const JSON: &str = "application/json";

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    accept: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::ACCEPT, accept)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(kube::client::Body::from(body))
        .expect("a request");
    let response = client.send(request).await.expect("the simulator answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("a body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

async fn get_json(client: &kube::Client, path: &str) -> Value {
    let answer = send(client, "GET", path, JSON, JSON, Vec::new()).await;
    assert_eq!(answer.status, 200, "{path}");
    serde_json::from_slice(&answer.body).expect("JSON")
}

async fn post_json(client: &kube::Client, path: &str, object: &Value) {
    let answer = send(
        client,
        "POST",
        path,
        JSON,
        JSON,
        object.to_string().into_bytes(),
    )
    .await;
    assert_eq!(
        answer.status,
        201,
        "{path}: {}",
        String::from_utf8_lossy(&answer.body)
    );
}

/// Go's JSON leaves zero values of `omitempty` fields out, and list items carry no apiVersion
/// and kind; otherwise the decoded protobuf must hold exactly what the JSON holds.
fn same(json: &Value, decoded: &Value, path: &str, differences: &mut Vec<String>) {
    match (json, decoded) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                match have.get(key) {
                    Some(got) => same(value, got, &format!("{path}.{key}"), differences),
                    None if is_zero(value) => {}
                    None if path.ends_with(']') && (key == "apiVersion" || key == "kind") => {}
                    None => differences.push(format!("{path}.{key}: {value} is missing")),
                }
            }
            for key in have.keys().filter(|k| !want.contains_key(*k)) {
                differences.push(format!("{path}.{key}: {} was not in the JSON", have[key]));
            }
        }
        (Value::Array(want), Value::Array(have)) if want.len() == have.len() => {
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                same(w, h, &format!("{path}[{i}]"), differences);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (want, have) if want == have => {}
        (want, have) => differences.push(format!("{path}: JSON {want}, protobuf {have}")),
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

const COLLECTIONS: &[&str] = &[
    "/api/v1/namespaces",
    "/api/v1/nodes",
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/secrets",
    "/api/v1/namespaces/default/services",
    "/api/v1/namespaces/default/serviceaccounts",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/events",
    "/api/v1/namespaces/default/endpoints",
    "/api/v1/namespaces/default/persistentvolumeclaims",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/replicasets",
    "/apis/apps/v1/namespaces/default/statefulsets",
    "/apis/apps/v1/namespaces/default/controllerrevisions",
    "/apis/batch/v1/namespaces/default/jobs",
    "/apis/batch/v1/namespaces/default/cronjobs",
    "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "/apis/coordination.k8s.io/v1/namespaces/default/leases",
    "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
    "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
];

#[allow(clippy::too_many_lines, reason = "a table: one object for each kind")]
fn workloads() -> Vec<(&'static str, Value)> {
    let template = json!({
        "metadata": { "labels": { "app": "web" } },
        "spec": { "containers": [{
            "name": "web", "image": "nginx:1.27",
            "ports": [{ "containerPort": 80 }],
            "resources": { "requests": { "cpu": "100m" }, "limits": { "memory": "64Mi" } },
        }] },
    });
    vec![
        (
            "/apis/apps/v1/namespaces/default/deployments",
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web" },
                "spec": { "replicas": 2, "selector": { "matchLabels": { "app": "web" } }, "template": template },
            }),
        ),
        (
            "/apis/apps/v1/namespaces/default/statefulsets",
            json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": { "name": "db" },
                "spec": { "serviceName": "db", "replicas": 1, "selector": { "matchLabels": { "app": "db" } },
                    "template": { "metadata": { "labels": { "app": "db" } }, "spec": { "containers": [{ "name": "db", "image": "postgres:16" }] } } },
            }),
        ),
        (
            "/api/v1/namespaces/default/services",
            json!({
                "apiVersion": "v1", "kind": "Service", "metadata": { "name": "web" },
                "spec": { "type": "LoadBalancer", "selector": { "app": "web" }, "ports": [{ "port": 80, "targetPort": "http" }] },
            }),
        ),
        (
            "/api/v1/namespaces/default/configmaps",
            json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "settings" },
                "data": { "a": "1", "empty": "" }, "binaryData": { "b": "AAEC" },
            }),
        ),
        (
            "/api/v1/namespaces/default/serviceaccounts",
            json!({
                "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "robot" },
                "automountServiceAccountToken": false, "imagePullSecrets": [{ "name": "registry" }],
            }),
        ),
        (
            "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": { "name": "web" },
                "spec": { "rules": [{ "host": "example.com", "http": { "paths": [{ "path": "/", "pathType": "Prefix",
                    "backend": { "service": { "name": "web", "port": { "name": "http" } } } }] } }] },
            }),
        ),
        (
            "/apis/batch/v1/namespaces/default/cronjobs",
            json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": { "name": "nightly" },
                "spec": { "schedule": "0 3 * * *", "jobTemplate": { "spec": { "template": { "spec": {
                    "restartPolicy": "OnFailure", "containers": [{ "name": "c", "image": "busybox" }] } } } } },
            }),
        ),
        (
            "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers",
            json!({
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": { "name": "web" },
                "spec": { "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" },
                    "minReplicas": 2, "maxReplicas": 4,
                    "metrics": [{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 80 } } }] },
            }),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": { "name": "reader" },
                "rules": [{ "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"] }, { "nonResourceURLs": ["/healthz"], "verbs": ["get"] }],
            }),
        ),
        (
            "/api/v1/namespaces/default/secrets",
            json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "creds" },
                "stringData": { "password": "s3cret" }, "data": { "bin": "AAEC" },
            }),
        ),
        (
            "/apis/batch/v1/namespaces/default/jobs",
            json!({
                "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": "once" },
                "spec": { "backoffLimit": 0, "template": { "spec": { "restartPolicy": "Never", "containers": [{ "name": "c", "image": "busybox" }] } } },
            }),
        ),
        (
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": { "name": "web" },
                "spec": { "minAvailable": "50%", "selector": { "matchLabels": { "app": "web" } } },
            }),
        ),
        (
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": { "name": "leader" },
                "spec": { "holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": "2026-01-02T03:04:05.123456Z" },
            }),
        ),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": { "name": "widgets.example.com" },
                "spec": { "group": "example.com", "scope": "Namespaced",
                    "names": { "plural": "widgets", "singular": "widget", "kind": "Widget" },
                    "versions": [{ "name": "v1", "served": true, "storage": true, "schema": { "openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": true,
                        "properties": { "spec": { "type": "object", "properties": { "size": { "type": "integer", "default": 1 } } } },
                    } } }] },
            }),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_builtin_collection_reads_the_same_in_protobuf_and_json() {
    let sim = kube_sim::KubeSim::start(kube_sim::Config::default()).expect("kube-sim starts");
    let client = sim.client().await.expect("a client");
    for (path, object) in workloads() {
        post_json(&client, path, &object).await;
    }
    // Wait for the controllers to have made the Deployment's pods and events, so the lists hold
    // what a running cluster holds.
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let deployment =
            get_json(&client, "/apis/apps/v1/namespaces/default/deployments/web").await;
        if deployment.pointer("/status/availableReplicas") == Some(&json!(2)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Deployment never became available: {deployment}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for path in COLLECTIONS {
        // Controllers keep writing: compare two reads between which nothing changed.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let before = get_json(&client, path).await;
            let answer = send(&client, "GET", path, MEDIA_TYPE, JSON, Vec::new()).await;
            let after = get_json(&client, path).await;
            assert_eq!(answer.status, 200, "{path}");
            assert_eq!(answer.content_type, MEDIA_TYPE, "{path}");
            if before != after {
                assert!(Instant::now() < deadline, "{path} never held still");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let decoded = decode_object(&answer.body).expect("the answer decodes");
            let mut differences = Vec::new();
            same(&before, &decoded, path, &mut differences);
            assert!(
                differences.is_empty(),
                "{path}:\n{}",
                differences.join("\n")
            );
            let empty_here = ["persistentvolumeclaims", "endpoints"];
            if !empty_here.iter().any(|plural| path.ends_with(plural)) {
                assert!(
                    before["items"]
                        .as_array()
                        .is_some_and(|items| !items.is_empty()),
                    "{path} is empty"
                );
            }
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_custom_resources_and_creates_under_a_protobuf_only_accept() {
    let sim = kube_sim::KubeSim::start(kube_sim::Config::default()).expect("kube-sim starts");
    let client = sim.client().await.expect("a client");

    let missing = send(
        &client,
        "GET",
        "/apis/apps/v1/namespaces/default/deployments/nope",
        MEDIA_TYPE,
        JSON,
        Vec::new(),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, MEDIA_TYPE);
    let status = decode_object(&missing.body).expect("a protobuf Status");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["code"], 404);
    assert_eq!(status["message"], "deployments.apps \"nope\" not found");
    assert_eq!(
        status["details"],
        json!({ "name": "nope", "group": "apps", "kind": "deployments" })
    );

    // A protobuf body of a ConfigMap, made by encoding its JSON; the answer is protobuf too.
    let config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "settings", "labels": { "app": "web" } },
        "data": { "a": "1" }, "binaryData": { "b": "AAEC" },
    });
    let body = kube_sim::protobuf::encode_object(&config_map)
        .expect("encodes")
        .expect("built-in");
    let created = send(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        MEDIA_TYPE,
        MEDIA_TYPE,
        body,
    )
    .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(created.content_type, MEDIA_TYPE);
    let created = decode_object(&created.body).expect("decodes");
    assert_eq!(created["data"], json!({ "a": "1" }));
    assert_eq!(created["binaryData"], json!({ "b": "AAEC" }));
    assert!(
        created
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .is_some_and(|u| !u.is_empty())
    );
    let stored = get_json(&client, "/api/v1/namespaces/default/configmaps/settings").await;
    assert_eq!(stored["metadata"]["labels"], json!({ "app": "web" }));

    for (path, object) in workloads()
        .into_iter()
        .filter(|(p, _)| p.contains("customresourcedefinitions"))
    {
        post_json(&client, path, &object).await;
    }
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let deadline = Instant::now() + Duration::from_secs(30);
    while send(&client, "GET", widgets, JSON, JSON, Vec::new())
        .await
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "the CRD was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    post_json(
        &client,
        widgets,
        &json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" } }),
    )
    .await;
    let refused = send(&client, "GET", widgets, MEDIA_TYPE, JSON, Vec::new()).await;
    assert_eq!(refused.status, 406);
    // A protobuf body for a custom kind: the real server has no protobuf form for it (415).
    let mut widget_body = b"k8s\0".to_vec();
    widget_body.extend([0x0a, 0x18, 0x0a, 0x0e]);
    widget_body.extend(b"example.com/v1");
    widget_body.extend([0x12, 0x06]);
    widget_body.extend(b"Widget");
    let unsupported = send(&client, "POST", widgets, JSON, MEDIA_TYPE, widget_body).await;
    assert_eq!(
        unsupported.status,
        415,
        "{}",
        String::from_utf8_lossy(&unsupported.body)
    );
}
