//! kubectl's imperative `create` commands send protobuf bodies. Each object is created twice,
//! in two simulators: by `kubectl create …` (protobuf) and by posting, as JSON, what
//! `kubectl create … --dry-run=client -o json` prints (Go's JSON of the very same object). The
//! stored objects must be equal but for what the server sets itself (uid, resourceVersion,
//! creationTimestamp, generation, the time in managedFields) and the status controllers write.
//! Run with `KUBECTL=` each kubectl version (scripts/test.sh runs 1.32 and 1.35).

mod common;

use common::Kubectl;
use serde_json::Value;

/// One imperative create: kubectl's arguments, the collection it POSTs to, and the object's name.
struct Case {
    args: Vec<String>,
    collection: &'static str,
    name: &'static str,
}

fn case(args: &[&str], collection: &'static str, name: &'static str) -> Case {
    Case {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        collection,
        name,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Sends a request with a JSON body (or none) and returns the status and the JSON answer.
async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::ACCEPT, "application/json")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
        .expect("a request");
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .expect("the simulator answers");
    let status = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("a body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The object without what the server decides or controllers write, and without nulls: kubectl
/// 1.32 prints `creationTimestamp: null` in a pod template where protobuf carries nothing, and
/// Kubernetes reads a null and a missing field alike. Of managedFields, who wrote and how is
/// compared; the field sets reflect those nulls too.
fn comparable(object: Value) -> Value {
    let mut object = without_nulls(object);
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for key in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            metadata.remove(key);
        }
        // The Deployment controller writes this one, whenever it gets to it.
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.remove("deployment.kubernetes.io/revision");
            if annotations.is_empty() {
                metadata.remove("annotations");
            }
        }
        if let Some(Value::Array(entries)) = metadata.get_mut("managedFields") {
            for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
                entry.remove("time");
                entry.remove("fieldsV1");
            }
        }
    }
    if let Some(fields) = object.as_object_mut() {
        fields.remove("status");
    }
    object
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, without_nulls(v)))
            .collect(),
        Value::Array(items) => items.into_iter().map(without_nulls).collect(),
        other => other,
    }
}

/// Creates every case both ways and compares the stored objects.
fn compare(test: &str, cases: &[Case], files: &[(&str, String)]) {
    let Some(by_protobuf) = Kubectl::start(test) else {
        return;
    };
    let by_json = kube_sim::KubeSim::start(kube_sim::Config::default()).expect("kube-sim starts");
    let rt = runtime();
    let (pb_client, json_client) = rt.block_on(async {
        (
            by_protobuf.sim.client().await.expect("a client"),
            by_json.client().await.expect("a client"),
        )
    });
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(name, text)| ((*name).to_owned(), by_protobuf.file(name, text)))
        .collect();
    for case in cases {
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                files.iter().fold(a.clone(), |arg, (name, path)| {
                    arg.replace(&format!("@{name}"), path)
                })
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Flags go before a `--` that starts a container's command.
        let printed =
            by_protobuf.ok(&[&args[..2], &["--dry-run=client", "-o", "json"], &args[2..]].concat());
        let printed: Value = serde_json::from_str(&printed).expect("kubectl prints JSON");
        by_protobuf.ok(&args);
        let path = format!("{}/{}", case.collection, case.name);
        let (from_protobuf, from_json) = rt.block_on(async {
            // The query kubectl's own create sends.
            let create = format!(
                "{}?fieldManager=kubectl-create&fieldValidation=Strict",
                case.collection
            );
            let (code, created) = send(&json_client, "POST", &create, Some(&printed)).await;
            assert_eq!(code, 201, "{:?} as JSON: {created}", case.args);
            (
                send(&pb_client, "GET", &path, None).await,
                send(&json_client, "GET", &path, None).await,
            )
        });
        assert_eq!(from_protobuf.0, 200, "{path}: {}", from_protobuf.1);
        assert_eq!(
            comparable(from_protobuf.1),
            comparable(from_json.1),
            "kubectl {:?}: the object created from protobuf differs from the one created from JSON",
            case.args
        );
    }
}

#[test]
fn core_kinds_created_from_protobuf_equal_their_json_twins() {
    let cases = [
        case(
            &["create", "namespace", "pbtest"],
            "/api/v1/namespaces",
            "pbtest",
        ),
        case(
            &[
                "create",
                "configmap",
                "settings",
                "--from-literal=a=1",
                "--from-literal=b=",
                "--from-file=@notes.txt",
            ],
            "/api/v1/namespaces/default/configmaps",
            "settings",
        ),
        case(
            &[
                "create",
                "secret",
                "generic",
                "creds",
                "--from-literal=password=s3cret",
                "--type=Opaque",
            ],
            "/api/v1/namespaces/default/secrets",
            "creds",
        ),
        case(
            &[
                "create",
                "secret",
                "tls",
                "web-tls",
                "--cert=@tls.crt",
                "--key=@tls.key",
            ],
            "/api/v1/namespaces/default/secrets",
            "web-tls",
        ),
        case(
            &[
                "create",
                "secret",
                "docker-registry",
                "registry",
                "--docker-server=registry.example.com",
                "--docker-username=me",
                "--docker-password=pw",
                "--docker-email=me@example.com",
            ],
            "/api/v1/namespaces/default/secrets",
            "registry",
        ),
        case(
            &["create", "serviceaccount", "robot"],
            "/api/v1/namespaces/default/serviceaccounts",
            "robot",
        ),
    ];
    let key =
        rcgen::generate_simple_self_signed(vec!["example.com".to_owned()]).expect("a certificate");
    let files = [
        ("notes.txt", "line one\nline two\n".to_owned()),
        ("tls.crt", key.cert.pem()),
        ("tls.key", key.signing_key.serialize_pem()),
    ];
    compare(
        "core_kinds_created_from_protobuf_equal_their_json_twins",
        &cases,
        &files,
    );
}

#[test]
fn workloads_created_from_protobuf_equal_their_json_twins() {
    let cases = [
        case(
            &[
                "create",
                "deployment",
                "web",
                "--image=nginx:1.27",
                "--replicas=0",
                "--port=80",
            ],
            "/apis/apps/v1/namespaces/default/deployments",
            "web",
        ),
        case(
            &[
                "create",
                "deployment",
                "multi",
                "--image=nginx:1.27",
                "--image=busybox:1.36",
                "--replicas=3",
            ],
            "/apis/apps/v1/namespaces/default/deployments",
            "multi",
        ),
        case(
            &[
                "create",
                "job",
                "once",
                "--image=busybox:1.36",
                "--",
                "sh",
                "-c",
                "echo hi",
            ],
            "/apis/batch/v1/namespaces/default/jobs",
            "once",
        ),
        case(
            &[
                "create",
                "cronjob",
                "nightly",
                "--image=busybox:1.36",
                "--schedule=0 3 * * *",
                "--restart=OnFailure",
                "--",
                "date",
            ],
            "/apis/batch/v1/namespaces/default/cronjobs",
            "nightly",
        ),
        case(
            &[
                "create",
                "poddisruptionbudget",
                "web-pdb",
                "--selector=app=web",
                "--min-available=50%",
            ],
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            "web-pdb",
        ),
        case(
            &[
                "create",
                "poddisruptionbudget",
                "db-pdb",
                "--selector=app=db",
                "--max-unavailable=1",
            ],
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            "db-pdb",
        ),
    ];
    compare(
        "workloads_created_from_protobuf_equal_their_json_twins",
        &cases,
        &[],
    );
}

#[test]
fn services_and_ingresses_created_from_protobuf_equal_their_json_twins() {
    let cases = [
        case(
            &[
                "create",
                "service",
                "clusterip",
                "web",
                "--tcp=80:8080",
                "--tcp=443:https",
            ],
            "/api/v1/namespaces/default/services",
            "web",
        ),
        case(
            &[
                "create",
                "service",
                "clusterip",
                "headless",
                "--clusterip=None",
            ],
            "/api/v1/namespaces/default/services",
            "headless",
        ),
        case(
            &[
                "create",
                "service",
                "nodeport",
                "np",
                "--tcp=80:8080",
                "--node-port=30080",
            ],
            "/api/v1/namespaces/default/services",
            "np",
        ),
        case(
            &["create", "service", "loadbalancer", "lb", "--tcp=443:8443"],
            "/api/v1/namespaces/default/services",
            "lb",
        ),
        case(
            &[
                "create",
                "ingress",
                "site",
                "--class=nginx",
                "--rule=example.com/=web:80",
                "--rule=example.com/api*=api:http,tls=site-tls",
                "--annotation=team=web",
            ],
            "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
            "site",
        ),
    ];
    compare(
        "services_and_ingresses_created_from_protobuf_equal_their_json_twins",
        &cases,
        &[],
    );
}

#[test]
fn rbac_kinds_created_from_protobuf_equal_their_json_twins() {
    let cases = [
        case(
            &[
                "create",
                "role",
                "reader",
                "--verb=get,list,watch",
                "--resource=pods,deployments.apps",
                "--resource-name=web",
            ],
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
            "reader",
        ),
        case(
            &[
                "create",
                "rolebinding",
                "read-it",
                "--role=reader",
                "--user=alice",
                "--group=devs",
                "--serviceaccount=default:robot",
            ],
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            "read-it",
        ),
        case(
            &[
                "create",
                "clusterrole",
                "node-reader",
                "--verb=get",
                "--resource=nodes",
                "--non-resource-url=/healthz",
            ],
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            "node-reader",
        ),
        case(
            &[
                "create",
                "clusterrole",
                "aggregate",
                "--aggregation-rule=rbac.example.com/aggregate=true",
            ],
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            "aggregate",
        ),
        case(
            &[
                "create",
                "clusterrolebinding",
                "read-nodes",
                "--clusterrole=node-reader",
                "--user=bob",
            ],
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            "read-nodes",
        ),
    ];
    compare(
        "rbac_kinds_created_from_protobuf_equal_their_json_twins",
        &cases,
        &[],
    );
}
