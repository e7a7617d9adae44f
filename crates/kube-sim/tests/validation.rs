//! Invalid objects are refused as a real API server refuses them, and valid ones are not.
//!
//! Each case sends one object over HTTPS through the kube client and checks the HTTP status, the
//! Status `reason`, the field paths of `details.causes` and key words of the message. The
//! expected answers come from the Kubernetes validation sources (`pkg/apis/*/validation`,
//! apimachinery's `util/validation` and `resource.Quantity`, Go's `encoding/json` errors) and
//! from messages real clusters print, not from kube-sim's output.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube_sim::{Config, KubeSim};
use serde_json::{Value, json};

/// Where an object of this `apiVersion` and `kind` is served.
fn resource_of(object: &Value) -> (ApiResource, bool) {
    let api_version = object["apiVersion"].as_str().unwrap();
    let kind = object["kind"].as_str().unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let (plural, namespaced) = match kind {
        "Namespace" => ("namespaces", false),
        "ClusterRole" => ("clusterroles", false),
        "ClusterRoleBinding" => ("clusterrolebindings", false),
        "CustomResourceDefinition" => ("customresourcedefinitions", false),
        "Ingress" => ("ingresses", true),
        "PodDisruptionBudget" => ("poddisruptionbudgets", true),
        "HorizontalPodAutoscaler" => ("horizontalpodautoscalers", true),
        "Widget" => ("widgets", true),
        other => {
            return (
                ApiResource::from_gvk_with_plural(
                    &GroupVersionKind::gvk(group, version, other),
                    &format!("{}s", other.to_lowercase()),
                ),
                true,
            );
        }
    };
    (
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural),
        namespaced,
    )
}

fn api_for(client: &Client, object: &Value) -> Api<DynamicObject> {
    let (resource, namespaced) = resource_of(object);
    if namespaced {
        Api::namespaced_with(client.clone(), "default", &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    }
}

async fn create(client: &Client, object: &Value) -> Result<DynamicObject, kube::core::Status> {
    let dynamic: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    api_for(client, object)
        .create(&PostParams::default(), &dynamic)
        .await
        .map_err(status)
}

fn status(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

// ---- valid objects, each case breaks one thing ----

fn pod_spec() -> Value {
    json!({ "containers": [{
        "name": "web", "image": "registry.example/web:1.0",
        "ports": [{ "name": "http", "containerPort": 8080 }],
        "env": [{ "name": "MODE", "value": "prod" }],
        "resources": { "requests": { "cpu": "250m", "memory": "128Mi" }, "limits": { "cpu": "1", "memory": "256Mi" } },
        "livenessProbe": { "httpGet": { "path": "/healthz", "port": "http" }, "periodSeconds": 10 },
        "readinessProbe": { "tcpSocket": { "port": 8080 } },
        "volumeMounts": [{ "name": "config", "mountPath": "/etc/web" }]
    }], "volumes": [{ "name": "config", "configMap": { "name": "web" } }] })
}

fn deployment() -> Value {
    json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "web", "labels": { "app": "web" } },
        "spec": { "replicas": 2, "selector": { "matchLabels": { "app": "web" } },
            "template": { "metadata": { "labels": { "app": "web" } }, "spec": pod_spec() } } })
}

fn workload(kind: &str) -> Value {
    let mut d = deployment();
    d["kind"] = json!(kind);
    if kind == "DaemonSet" {
        d["spec"].as_object_mut().unwrap().remove("replicas");
    }
    if kind == "StatefulSet" {
        d["spec"]["serviceName"] = json!("web");
    }
    d
}

fn pod() -> Value {
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "web" }, "spec": pod_spec() })
}

fn job() -> Value {
    json!({ "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": "migrate" },
        "spec": { "backoffLimit": 2, "template": { "spec": { "restartPolicy": "Never",
            "containers": [{ "name": "migrate", "image": "registry.example/migrate:1" }] } } } })
}

fn cronjob() -> Value {
    json!({ "apiVersion": "batch/v1", "kind": "CronJob", "metadata": { "name": "backup" },
        "spec": { "schedule": "0 3 * * *", "jobTemplate": { "spec": { "template": { "spec": {
            "restartPolicy": "OnFailure", "containers": [{ "name": "backup", "image": "registry.example/backup:1" }] } } } } } })
}

fn service() -> Value {
    json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "web" },
        "spec": { "selector": { "app": "web" }, "ports": [{ "name": "http", "port": 80, "targetPort": "http" }] } })
}

fn config_map() -> Value {
    json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "web" }, "data": { "app.properties": "a=b" } })
}

fn secret() -> Value {
    json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "tls" }, "type": "kubernetes.io/tls",
        "data": { "tls.crt": "Y2VydA==", "tls.key": "a2V5" } })
}

fn ingress() -> Value {
    json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": { "name": "web" },
        "spec": { "rules": [{ "host": "shop.example.com", "http": { "paths": [{ "path": "/", "pathType": "Prefix",
            "backend": { "service": { "name": "web", "port": { "number": 80 } } } }] } }] } })
}

fn role() -> Value {
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": { "name": "reader" },
        "rules": [{ "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"] }] })
}

fn cluster_role() -> Value {
    let mut r = role();
    r["kind"] = json!("ClusterRole");
    r["metadata"]["name"] = json!("validation-reader");
    r
}

fn role_binding() -> Value {
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": { "name": "read" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader" },
        "subjects": [{ "kind": "ServiceAccount", "name": "default", "namespace": "default" }] })
}

fn pdb() -> Value {
    json!({ "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": { "name": "web" },
        "spec": { "minAvailable": 1, "selector": { "matchLabels": { "app": "web" } } } })
}

fn hpa() -> Value {
    json!({ "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": { "name": "web" },
        "spec": { "minReplicas": 2, "maxReplicas": 5,
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" } } })
}

fn namespace() -> Value {
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "team-a" } })
}

fn container(o: &mut Value) -> &mut Value {
    if o["kind"] == "Pod" {
        &mut o["spec"]["containers"][0]
    } else {
        &mut o["spec"]["template"]["spec"]["containers"][0]
    }
}

/// One invalid object and the answer a real API server gives.
struct Case {
    what: &'static str,
    base: fn() -> Value,
    change: fn(&mut Value),
    code: u16,
    reason: &'static str,
    /// Field paths that must each appear among `details.causes` (none for 400s).
    fields: &'static [&'static str],
    /// The cause type of the first field.
    cause: &'static str,
    /// Words the message must contain.
    words: &'static [&'static str],
}

const BAD: u16 = 400;
const INVALID: u16 = 422;

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let c = |what, base, change, code, fields, cause, words| Case {
        what,
        base,
        change,
        code,
        reason: if code == BAD { "BadRequest" } else { "Invalid" },
        fields,
        cause,
        words,
    };
    vec![
        // Bodies that do not decode into the typed object: 400, in Go's JSON decoder's words.
        c(
            "replicas as a string",
            deployment,
            |o| o["spec"]["replicas"] = json!("two"),
            BAD,
            &[],
            "",
            &[
                "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
            ],
        ),
        c(
            "replicas beyond int32",
            deployment,
            |o| o["spec"]["replicas"] = json!(3_000_000_000_i64),
            BAD,
            &[],
            "",
            &[
                "cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32",
            ],
        ),
        c(
            "ConfigMap data value as a list",
            config_map,
            |o| o["data"]["app.properties"] = json!(["a", "b"]),
            BAD,
            &[],
            "",
            &[
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap",
                "cannot unmarshal array into Go struct field ConfigMap.data of type string",
            ],
        ),
        c(
            "CPU limit `lots`",
            deployment,
            |o| container(o)["resources"]["limits"]["cpu"] = json!("lots"),
            BAD,
            &[],
            "",
            &[
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ],
        ),
        c(
            "memory `1Gb`",
            pod,
            |o| container(o)["resources"]["limits"]["memory"] = json!("1Gb"),
            BAD,
            &[],
            "",
            &[
                "Pod in version \"v1\" cannot be handled as a Pod",
                "quantities must match the regular expression",
            ],
        ),
        c(
            "image as a number",
            deployment,
            |o| container(o)["image"] = json!(5),
            BAD,
            &[],
            "",
            &[
                "cannot unmarshal number into Go struct field Container.spec.template.spec.containers.image of type string",
            ],
        ),
        c(
            "hostNetwork as a string",
            pod,
            |o| o["spec"]["hostNetwork"] = json!("yes"),
            BAD,
            &[],
            "",
            &["cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool"],
        ),
        c(
            "containers as an object",
            pod,
            |o| o["spec"]["containers"] = json!({ "name": "web" }),
            BAD,
            &[],
            "",
            &[
                "cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container",
            ],
        ),
        c(
            "targetPort as a boolean",
            service,
            |o| o["spec"]["ports"][0]["targetPort"] = json!(true),
            BAD,
            &[],
            "",
            &[
                "Service in version \"v1\" cannot be handled as a Service",
                "json: cannot unmarshal bool into Go value of type int32",
            ],
        ),
        c(
            "Secret data not base64",
            secret,
            |o| o["data"]["tls.key"] = json!("not base64!"),
            BAD,
            &[],
            "",
            &[
                "Secret in version \"v1\" cannot be handled as a Secret",
                "illegal base64 data at input byte 3",
            ],
        ),
        c(
            "backoffLimit as a fraction",
            job,
            |o| o["spec"]["backoffLimit"] = json!(1.5),
            BAD,
            &[],
            "",
            &[
                "cannot unmarshal number 1.5 into Go struct field JobSpec.spec.backoffLimit of type int32",
            ],
        ),
        c(
            "Service port as a string",
            service,
            |o| o["spec"]["ports"][0]["port"] = json!("80"),
            BAD,
            &[],
            "",
            &[
                "cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32",
            ],
        ),
        // Validation: 422 Invalid with field causes.
        c(
            "selector not matching the template",
            deployment,
            |o| o["spec"]["template"]["metadata"]["labels"] = json!({ "app": "api" }),
            INVALID,
            &["spec.template.metadata.labels"],
            "FieldValueInvalid",
            &[
                "Deployment.apps \"web\" is invalid",
                "`selector` does not match template `labels`",
            ],
        ),
        c(
            "container without an image",
            deployment,
            |o| {
                container(o).as_object_mut().unwrap().remove("image");
            },
            INVALID,
            &["spec.template.spec.containers[0].image"],
            "FieldValueRequired",
            &["Required value"],
        ),
        c(
            "Service port 70000",
            service,
            |o| o["spec"]["ports"][0]["port"] = json!(70000),
            INVALID,
            &["spec.ports[0].port"],
            "FieldValueInvalid",
            &[
                "Service \"web\" is invalid",
                "Invalid value: 70000: must be between 1 and 65535, inclusive",
            ],
        ),
        c(
            "negative replicas",
            deployment,
            |o| o["spec"]["replicas"] = json!(-1),
            INVALID,
            &["spec.replicas"],
            "FieldValueInvalid",
            &["Invalid value: -1: must be greater than or equal to 0"],
        ),
        c(
            "no selector",
            deployment,
            |o| {
                o["spec"].as_object_mut().unwrap().remove("selector");
            },
            INVALID,
            &["spec.selector"],
            "FieldValueRequired",
            &["spec.selector: Required value"],
        ),
        c(
            "empty selector",
            deployment,
            |o| o["spec"]["selector"] = json!({}),
            INVALID,
            &["spec.selector"],
            "FieldValueInvalid",
            &["empty selector is invalid for deployment"],
        ),
        c(
            "Deployment restartPolicy Never",
            deployment,
            |o| o["spec"]["template"]["spec"]["restartPolicy"] = json!("Never"),
            INVALID,
            &["spec.template.spec.restartPolicy"],
            "FieldValueNotSupported",
            &["Unsupported value: \"Never\": supported values: \"Always\""],
        ),
        c(
            "Job restartPolicy Always",
            job,
            |o| o["spec"]["template"]["spec"]["restartPolicy"] = json!("Always"),
            INVALID,
            &["spec.template.spec.restartPolicy"],
            "FieldValueNotSupported",
            &["supported values: \"OnFailure\", \"Never\""],
        ),
        c(
            "ConfigMap name with capitals",
            config_map,
            |o| o["metadata"]["name"] = json!("Web_Config"),
            INVALID,
            &["metadata.name"],
            "FieldValueInvalid",
            &["a lowercase RFC 1123 subdomain must consist of"],
        ),
        c(
            "Namespace name with a dot",
            namespace,
            |o| o["metadata"]["name"] = json!("team.a"),
            INVALID,
            &["metadata.name"],
            "FieldValueInvalid",
            &[
                "Namespace \"team.a\" is invalid",
                "a lowercase RFC 1123 label must consist of",
            ],
        ),
        c(
            "Service name starting with a digit",
            service,
            |o| o["metadata"]["name"] = json!("1web"),
            INVALID,
            &["metadata.name"],
            "FieldValueInvalid",
            &["a DNS-1035 label must consist of"],
        ),
        c(
            "label value with spaces",
            config_map,
            |o| o["metadata"]["labels"] = json!({ "tier": "front end" }),
            INVALID,
            &["metadata.labels"],
            "FieldValueInvalid",
            &["a valid label must be an empty string or consist of alphanumeric characters"],
        ),
        c(
            "label key with a space",
            config_map,
            |o| o["metadata"]["labels"] = json!({ "my tier": "front" }),
            INVALID,
            &["metadata.labels"],
            "FieldValueInvalid",
            &["name part must consist of alphanumeric characters"],
        ),
        c(
            "label value over 63 characters",
            config_map,
            |o| o["metadata"]["labels"] = json!({ "tier": "x".repeat(64) }),
            INVALID,
            &["metadata.labels"],
            "FieldValueInvalid",
            &["must be no more than 63 characters"],
        ),
        c(
            "annotations over 256 KiB",
            config_map,
            |o| o["metadata"]["annotations"] = json!({ "big": "x".repeat(262_145) }),
            INVALID,
            &["metadata.annotations"],
            "FieldValueTooLong",
            &["Too long: must have at most 262144 bytes"],
        ),
        c(
            "generateName with capitals",
            config_map,
            |o| {
                o["metadata"] = json!({ "generateName": "Web-" });
            },
            INVALID,
            &["metadata.generateName"],
            "FieldValueInvalid",
            &["a lowercase RFC 1123 subdomain"],
        ),
        c(
            "container without a name",
            pod,
            |o| {
                container(o).as_object_mut().unwrap().remove("name");
            },
            INVALID,
            &["spec.containers[0].name"],
            "FieldValueRequired",
            &["Required value"],
        ),
        c(
            "pod without containers",
            pod,
            |o| o["spec"]["containers"] = json!([]),
            INVALID,
            &["spec.containers"],
            "FieldValueRequired",
            &["spec.containers: Required value"],
        ),
        c(
            "containerPort 0",
            pod,
            |o| container(o)["ports"][0]["containerPort"] = json!(0),
            INVALID,
            &["spec.containers[0].ports[0].containerPort"],
            "FieldValueRequired",
            &["Required value"],
        ),
        c(
            "containerPort 70000",
            deployment,
            |o| container(o)["ports"][0]["containerPort"] = json!(70000),
            INVALID,
            &["spec.template.spec.containers[0].ports[0].containerPort"],
            "FieldValueInvalid",
            &["must be between 1 and 65535, inclusive"],
        ),
        c(
            "port name with an underscore",
            pod,
            |o| container(o)["ports"][0]["name"] = json!("http_port"),
            INVALID,
            &["spec.containers[0].ports[0].name"],
            "FieldValueInvalid",
            &["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"],
        ),
        c(
            "port name over 15 characters",
            pod,
            |o| container(o)["ports"][0]["name"] = json!("a-very-long-port-name"),
            INVALID,
            &["spec.containers[0].ports[0].name"],
            "FieldValueInvalid",
            &["must be no more than 15 characters"],
        ),
        c(
            "protocol in lower case",
            pod,
            |o| container(o)["ports"][0]["protocol"] = json!("tcp"),
            INVALID,
            &["spec.containers[0].ports[0].protocol"],
            "FieldValueNotSupported",
            &["supported values: \"SCTP\", \"TCP\", \"UDP\""],
        ),
        c(
            "two containers with one name",
            pod,
            |o| {
                let copy = container(o).clone();
                o["spec"]["containers"].as_array_mut().unwrap().push(copy);
            },
            INVALID,
            &["spec.containers[1].name"],
            "FieldValueDuplicate",
            &["Duplicate value: \"web\""],
        ),
        c(
            "CPU request above its limit",
            pod,
            |o| container(o)["resources"]["requests"]["cpu"] = json!("2"),
            INVALID,
            &["spec.containers[0].resources.requests"],
            "FieldValueInvalid",
            &["Invalid value: \"2\": must be less than or equal to cpu limit of 1"],
        ),
        c(
            "memory request above its limit",
            deployment,
            |o| container(o)["resources"]["requests"]["memory"] = json!("1Gi"),
            INVALID,
            &["spec.template.spec.containers[0].resources.requests"],
            "FieldValueInvalid",
            &["must be less than or equal to memory limit of 256Mi"],
        ),
        c(
            "negative memory limit",
            pod,
            |o| {
                container(o)["resources"] = json!({ "limits": { "memory": "-1Gi" } });
            },
            INVALID,
            &["spec.containers[0].resources.limits[memory]"],
            "FieldValueInvalid",
            &["must be greater than or equal to 0"],
        ),
        c(
            "probe without a handler",
            pod,
            |o| container(o)["livenessProbe"] = json!({ "periodSeconds": 5 }),
            INVALID,
            &["spec.containers[0].livenessProbe"],
            "FieldValueRequired",
            &["must specify a handler type"],
        ),
        c(
            "probe with two handlers",
            pod,
            |o| container(o)["livenessProbe"]["tcpSocket"] = json!({ "port": 8080 }),
            INVALID,
            &["spec.containers[0].livenessProbe.tcpSocket"],
            "FieldValueForbidden",
            &["may not specify more than 1 handler type"],
        ),
        c(
            "negative probe period",
            pod,
            |o| container(o)["readinessProbe"]["periodSeconds"] = json!(-1),
            INVALID,
            &["spec.containers[0].readinessProbe.periodSeconds"],
            "FieldValueInvalid",
            &["must be greater than or equal to 0"],
        ),
        c(
            "liveness successThreshold 2",
            pod,
            |o| container(o)["livenessProbe"]["successThreshold"] = json!(2),
            INVALID,
            &["spec.containers[0].livenessProbe.successThreshold"],
            "FieldValueInvalid",
            &["must be 1"],
        ),
        c(
            "probe port out of range",
            pod,
            |o| container(o)["readinessProbe"]["tcpSocket"]["port"] = json!(0),
            INVALID,
            &["spec.containers[0].readinessProbe.tcpSocket.port"],
            "FieldValueInvalid",
            &["must be between 1 and 65535, inclusive"],
        ),
        c(
            "env name with '='",
            pod,
            |o| container(o)["env"][0]["name"] = json!("A=B"),
            INVALID,
            &["spec.containers[0].env[0].name"],
            "FieldValueInvalid",
            &[
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ],
        ),
        c(
            "mount of an undeclared volume",
            pod,
            |o| container(o)["volumeMounts"][0]["name"] = json!("data"),
            INVALID,
            &["spec.containers[0].volumeMounts[0].name"],
            "FieldValueNotFound",
            &["Not found: \"data\""],
        ),
        c(
            "mount without a path",
            pod,
            |o| {
                container(o)["volumeMounts"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("mountPath");
            },
            INVALID,
            &["spec.containers[0].volumeMounts[0].mountPath"],
            "FieldValueRequired",
            &["Required value"],
        ),
        c(
            "volume without a source",
            pod,
            |o| o["spec"]["volumes"][0] = json!({ "name": "config" }),
            INVALID,
            &["spec.volumes[0]"],
            "FieldValueRequired",
            &["must specify a volume type"],
        ),
        c(
            "pod restartPolicy Sometimes",
            pod,
            |o| o["spec"]["restartPolicy"] = json!("Sometimes"),
            INVALID,
            &["spec.restartPolicy"],
            "FieldValueNotSupported",
            &["supported values: \"Always\", \"OnFailure\", \"Never\""],
        ),
        c(
            "Service type Foo",
            service,
            |o| o["spec"]["type"] = json!("Foo"),
            INVALID,
            &["spec.type"],
            "FieldValueNotSupported",
            &["supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""],
        ),
        c(
            "Service without ports",
            service,
            |o| o["spec"]["ports"] = json!([]),
            INVALID,
            &["spec.ports"],
            "FieldValueRequired",
            &["spec.ports: Required value"],
        ),
        c(
            "two Service ports without names",
            service,
            |o| o["spec"]["ports"] = json!([{ "port": 80 }, { "port": 443 }]),
            INVALID,
            &["spec.ports[0].name", "spec.ports[1].name"],
            "FieldValueRequired",
            &["[spec.ports[0].name: Required value, spec.ports[1].name: Required value]"],
        ),
        c(
            "duplicate Service port names",
            service,
            |o| {
                o["spec"]["ports"] =
                    json!([{ "name": "http", "port": 80 }, { "name": "http", "port": 8080 }]);
            },
            INVALID,
            &["spec.ports[1].name"],
            "FieldValueDuplicate",
            &["Duplicate value: \"http\""],
        ),
        c(
            "targetPort 70000",
            service,
            |o| o["spec"]["ports"][0]["targetPort"] = json!(70000),
            INVALID,
            &["spec.ports[0].targetPort"],
            "FieldValueInvalid",
            &["must be between 1 and 65535, inclusive"],
        ),
        c(
            "targetPort name with an underscore",
            service,
            |o| o["spec"]["ports"][0]["targetPort"] = json!("web_http"),
            INVALID,
            &["spec.ports[0].targetPort"],
            "FieldValueInvalid",
            &["must contain only alpha-numeric characters"],
        ),
        c(
            "nodePort on a ClusterIP Service",
            service,
            |o| o["spec"]["ports"][0]["nodePort"] = json!(30080),
            INVALID,
            &["spec.ports[0].nodePort"],
            "FieldValueForbidden",
            &["may not be used when `type` is 'ClusterIP'"],
        ),
        c(
            "nodePort outside the range",
            service,
            |o| {
                o["spec"]["type"] = json!("NodePort");
                o["spec"]["ports"][0]["nodePort"] = json!(80);
            },
            INVALID,
            &["spec.ports[0].nodePort"],
            "FieldValueInvalid",
            &["provided port is not in the valid range. The range of valid ports is 30000-32767"],
        ),
        c(
            "sessionAffinity Sticky",
            service,
            |o| o["spec"]["sessionAffinity"] = json!("Sticky"),
            INVALID,
            &["spec.sessionAffinity"],
            "FieldValueNotSupported",
            &["supported values: \"ClientIP\", \"None\""],
        ),
        c(
            "ConfigMap key with a space",
            config_map,
            |o| o["data"] = json!({ "app properties": "a=b" }),
            INVALID,
            &["data[app properties]"],
            "FieldValueInvalid",
            &["a valid config key must consist of alphanumeric characters, '-', '_' or '.'"],
        ),
        c(
            "TLS Secret without a key",
            secret,
            |o| {
                o["data"].as_object_mut().unwrap().remove("tls.key");
            },
            INVALID,
            &["data[tls.key]"],
            "FieldValueRequired",
            &["Required value"],
        ),
        c(
            "StatefulSet selector not matching",
            || workload("StatefulSet"),
            |o| o["spec"]["selector"]["matchLabels"]["app"] = json!("db"),
            INVALID,
            &["spec.template.metadata.labels"],
            "FieldValueInvalid",
            &[
                "StatefulSet.apps \"web\" is invalid",
                "`selector` does not match template `labels`",
            ],
        ),
        c(
            "DaemonSet restartPolicy OnFailure",
            || workload("DaemonSet"),
            |o| o["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure"),
            INVALID,
            &["spec.template.spec.restartPolicy"],
            "FieldValueNotSupported",
            &["supported values: \"Always\""],
        ),
        c(
            "ReplicaSet with an empty selector",
            || workload("ReplicaSet"),
            |o| o["spec"]["selector"] = json!({ "matchLabels": {} }),
            INVALID,
            &["spec.selector"],
            "FieldValueInvalid",
            &["empty selector is invalid for deployment"],
        ),
        c(
            "selector operator Is",
            deployment,
            |o| {
                o["spec"]["selector"]["matchExpressions"] =
                    json!([{ "key": "tier", "operator": "Is", "values": ["web"] }]);
            },
            INVALID,
            &["spec.selector.matchExpressions[0].operator"],
            "FieldValueInvalid",
            &["not a valid selector operator"],
        ),
        c(
            "Recreate with rollingUpdate",
            deployment,
            |o| {
                o["spec"]["strategy"] =
                    json!({ "type": "Recreate", "rollingUpdate": { "maxSurge": 1 } });
            },
            INVALID,
            &["spec.strategy.rollingUpdate"],
            "FieldValueForbidden",
            &["may not be specified when strategy `type` is 'Recreate'"],
        ),
        c(
            "maxSurge not a percentage",
            deployment,
            |o| {
                o["spec"]["strategy"] =
                    json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "abc" } });
            },
            INVALID,
            &["spec.strategy.rollingUpdate.maxSurge"],
            "FieldValueInvalid",
            &["a valid percent string must be a numeric string followed by an ending '%'"],
        ),
        c(
            "maxSurge and maxUnavailable both 0",
            deployment,
            |o| o["spec"]["strategy"] = json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 0, "maxUnavailable": 0 } }),
            INVALID,
            &["spec.strategy.rollingUpdate.maxUnavailable"],
            "FieldValueInvalid",
            &["may not be 0 when `maxSurge` is 0"],
        ),
        c(
            "negative Job parallelism",
            job,
            |o| o["spec"]["parallelism"] = json!(-1),
            INVALID,
            &["spec.parallelism"],
            "FieldValueInvalid",
            &["must be greater than or equal to 0"],
        ),
        c(
            "CronJob without a schedule",
            cronjob,
            |o| {
                o["spec"].as_object_mut().unwrap().remove("schedule");
            },
            INVALID,
            &["spec.schedule"],
            "FieldValueRequired",
            &["Required value"],
        ),
        c(
            "CronJob pods that restart Always",
            cronjob,
            |o| {
                o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                    .as_object_mut()
                    .unwrap()
                    .remove("restartPolicy");
            },
            INVALID,
            &["spec.jobTemplate.spec.template.spec.restartPolicy"],
            "FieldValueNotSupported",
            &["Unsupported value: \"Always\""],
        ),
        c(
            "Ingress path without pathType",
            ingress,
            |o| {
                o["spec"]["rules"][0]["http"]["paths"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("pathType");
            },
            INVALID,
            &["spec.rules[0].http.paths[0].pathType"],
            "FieldValueRequired",
            &["pathType must be specified"],
        ),
        c(
            "Ingress pathType Foo",
            ingress,
            |o| o["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("Foo"),
            INVALID,
            &["spec.rules[0].http.paths[0].pathType"],
            "FieldValueNotSupported",
            &["supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\""],
        ),
        c(
            "Ingress relative path",
            ingress,
            |o| o["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("shop"),
            INVALID,
            &["spec.rules[0].http.paths[0].path"],
            "FieldValueInvalid",
            &["must be an absolute path"],
        ),
        c(
            "Ingress backend without a port",
            ingress,
            |o| o["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = json!({}),
            INVALID,
            &["spec.rules[0].http.paths[0].backend.service.port"],
            "FieldValueInvalid",
            &["port name or number is required"],
        ),
        c(
            "Ingress host with capitals",
            ingress,
            |o| o["spec"]["rules"][0]["host"] = json!("Shop.Example.com"),
            INVALID,
            &["spec.rules[0].host"],
            "FieldValueInvalid",
            &["a lowercase RFC 1123 subdomain"],
        ),
        c(
            "Role rule without verbs",
            role,
            |o| o["rules"][0]["verbs"] = json!([]),
            INVALID,
            &["rules[0].verbs"],
            "FieldValueRequired",
            &["verbs must contain at least one value"],
        ),
        c(
            "Role with non-resource URLs",
            role,
            |o| o["rules"] = json!([{ "nonResourceURLs": ["/healthz"], "verbs": ["get"] }]),
            INVALID,
            &["rules[0].nonResourceURLs"],
            "FieldValueInvalid",
            &["namespaced rules cannot apply to non-resource URLs"],
        ),
        c(
            "ClusterRole rule without apiGroups",
            cluster_role,
            |o| {
                o["rules"][0].as_object_mut().unwrap().remove("apiGroups");
            },
            INVALID,
            &["rules[0].apiGroups"],
            "FieldValueRequired",
            &["resource rules must supply at least one api group"],
        ),
        c(
            "RoleBinding to a Foo",
            role_binding,
            |o| o["roleRef"]["kind"] = json!("Foo"),
            INVALID,
            &["roleRef.kind"],
            "FieldValueNotSupported",
            &["supported values: \"Role\", \"ClusterRole\""],
        ),
        c(
            "PDB with both bounds",
            pdb,
            |o| o["spec"]["maxUnavailable"] = json!(1),
            INVALID,
            &["spec"],
            "FieldValueInvalid",
            &["minAvailable and maxUnavailable cannot be both set"],
        ),
        c(
            "PDB minAvailable 150%",
            pdb,
            |o| o["spec"]["minAvailable"] = json!("150%"),
            INVALID,
            &["spec.minAvailable"],
            "FieldValueInvalid",
            &["must not be greater than 100%"],
        ),
        c(
            "HPA minReplicas 0",
            hpa,
            |o| o["spec"]["minReplicas"] = json!(0),
            INVALID,
            &["spec.minReplicas"],
            "FieldValueInvalid",
            &["must be greater than or equal to 1"],
        ),
        c(
            "HPA maxReplicas below minReplicas",
            hpa,
            |o| o["spec"]["maxReplicas"] = json!(1),
            INVALID,
            &["spec.maxReplicas"],
            "FieldValueInvalid",
            &["must be greater than or equal to `minReplicas`"],
        ),
        c(
            "several errors at once",
            deployment,
            |o| {
                container(o).as_object_mut().unwrap().remove("image");
                container(o)["ports"][0]["containerPort"] = json!(70000);
            },
            INVALID,
            &[
                "spec.template.spec.containers[0].image",
                "spec.template.spec.containers[0].ports[0].containerPort",
            ],
            "FieldValueRequired",
            &[
                "Deployment.apps \"web\" is invalid: [",
                "Required value",
                "must be between 1 and 65535, inclusive",
            ],
        ),
    ]
}

fn check(case: &Case, got: &kube::core::Status) {
    let what = case.what;
    assert_eq!(got.code, case.code, "{what}: code, got {got:?}");
    assert_eq!(got.reason, case.reason, "{what}: reason, got {got:?}");
    for word in case.words {
        assert!(
            got.message.contains(word),
            "{what}: message {:?} lacks {word:?}",
            got.message
        );
    }
    let causes = got
        .details
        .as_ref()
        .map(|d| d.causes.clone())
        .unwrap_or_default();
    for field in case.fields {
        assert!(
            causes.iter().any(|c| c.field == *field),
            "{what}: no cause for {field}, got {causes:?}"
        );
    }
    if let Some(first) = case.fields.first() {
        let first_cause = causes.iter().find(|c| c.field == *first).unwrap();
        assert_eq!(
            first_cause.reason, case.cause,
            "{what}: cause type of {first}"
        );
        assert!(
            got.message
                .contains(&format!("{first}: {}", first_cause.message)),
            "{what}: message and cause agree"
        );
    }
}

#[tokio::test]
async fn invalid_objects_are_refused_with_the_real_status() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let client = sim.client().await.unwrap();
    let cases = cases();
    assert!(cases.len() >= 60, "the table has {} cases", cases.len());
    for case in &cases {
        let mut object = (case.base)();
        (case.change)(&mut object);
        match create(&client, &object).await {
            Ok(created) => panic!("{}: created {:?}", case.what, created.metadata.name),
            Err(status) => check(case, &status),
        }
    }
}

#[tokio::test]
async fn valid_counterparts_are_accepted() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let client = sim.client().await.unwrap();
    let mut node_port = service();
    node_port["metadata"]["name"] = json!("web-node");
    node_port["spec"]["type"] = json!("NodePort");
    node_port["spec"]["ports"][0]["nodePort"] = json!(30080);
    let mut headless = service();
    headless["metadata"]["name"] = json!("db");
    headless["spec"] = json!({ "clusterIP": "None", "selector": { "app": "db" } });
    let mut generated = config_map();
    generated["metadata"] = json!({ "generateName": "web-" });
    let mut exprs = deployment();
    exprs["metadata"]["name"] = json!("web-exprs");
    exprs["spec"]["selector"] =
        json!({ "matchExpressions": [{ "key": "app", "operator": "In", "values": ["web"] }] });
    let mut quantities = pod();
    quantities["metadata"]["name"] = json!("quantities");
    container(&mut quantities)["resources"] = json!({ "requests": { "cpu": 0.5, "memory": "1e6", "ephemeral-storage": "1.5Gi" },
        "limits": { "cpu": "500m", "memory": "1M", "ephemeral-storage": "1536Mi" } });
    let mut ports = service();
    ports["metadata"]["name"] = json!("web-ports");
    ports["spec"]["ports"] = json!([{ "name": "http", "port": 80, "targetPort": 0 }, { "name": "https", "port": 443, "targetPort": 8443 }]);
    // A StatefulSet's containers mount its claim templates by name, with no matching volume.
    let mut claims = workload("StatefulSet");
    claims["metadata"]["name"] = json!("db");
    claims["spec"]["volumeClaimTemplates"] = json!([{ "metadata": { "name": "data" },
        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } } }]);
    container(&mut claims)["volumeMounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "data", "mountPath": "/var/lib/data" }));
    let valid = [
        deployment(),
        workload("StatefulSet"),
        claims,
        workload("DaemonSet"),
        workload("ReplicaSet"),
        pod(),
        job(),
        cronjob(),
        service(),
        node_port,
        headless,
        ports,
        config_map(),
        secret(),
        ingress(),
        role(),
        cluster_role(),
        role_binding(),
        pdb(),
        hpa(),
        namespace(),
        generated,
        exprs,
        quantities,
    ];
    for object in &valid {
        let created = create(&client, object).await;
        assert!(
            created.is_ok(),
            "{} {}: {:?}",
            object["kind"],
            object["metadata"],
            created.err()
        );
    }
}

#[tokio::test]
async fn workload_fields_are_kept_on_update() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let client = sim.client().await.unwrap();
    let merge = |patch: Value| Patch::Merge(patch);
    let params = PatchParams::default();
    let refused = |result: Result<DynamicObject, kube::Error>| status(result.expect_err("refused"));

    let d = deployment();
    create(&client, &d).await.unwrap();
    let deployments = api_for(&client, &d);
    // A new image is an ordinary update; a new selector is not.
    deployments.patch("web", &params, &merge(json!({ "spec": { "template": { "spec": { "containers": [{ "name": "web", "image": "registry.example/web:2.0" }] } } } }))).await.unwrap();
    let err = refused(
        deployments
            .patch(
                "web",
                &params,
                &merge(json!({ "spec": {
        "selector": { "matchLabels": { "app": "web", "track": "stable" } },
        "template": { "metadata": { "labels": { "app": "web", "track": "stable" } } } } })),
            )
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message.contains("spec.selector: Invalid value: ")
            && err.message.contains("field is immutable"),
        "{}",
        err.message
    );
    // A patch that breaks a type is answered against `patch`.
    let err = refused(
        deployments
            .patch(
                "web",
                &params,
                &merge(json!({ "spec": { "replicas": "two" } })),
            )
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert_eq!(err.details.unwrap().causes[0].field, "patch");
    assert!(err.message.contains(
        "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    ));

    let s = workload("StatefulSet");
    create(&client, &s).await.unwrap();
    let statefulsets = api_for(&client, &s);
    statefulsets
        .patch("web", &params, &merge(json!({ "spec": { "replicas": 3 } })))
        .await
        .unwrap();
    let err = refused(
        statefulsets
            .patch(
                "web",
                &params,
                &merge(json!({ "spec": { "serviceName": "other" } })),
            )
            .await,
    );
    assert_eq!(err.details.unwrap().causes[0].field, "spec");
    assert!(err.message.contains("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy'"));

    let j = job();
    create(&client, &j).await.unwrap();
    let jobs = api_for(&client, &j);
    let mut live: DynamicObject = jobs.get("migrate").await.unwrap();
    live.data["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.example/migrate:2");
    // Unconditional: the Job controller writes status meanwhile, and a stale resourceVersion
    // would be a 409 before any validation.
    live.metadata.resource_version = None;
    let err = status(
        jobs.replace("migrate", &PostParams::default(), &live)
            .await
            .err()
            .unwrap(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("spec.template: Invalid value: ")
            && err.message.contains("field is immutable")
    );
}

#[tokio::test]
async fn service_config_and_binding_fields_are_kept_on_update() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let client = sim.client().await.unwrap();
    let merge = |patch: Value| Patch::Merge(patch);
    let params = PatchParams::default();
    let refused = |result: Result<DynamicObject, kube::Error>| status(result.expect_err("refused"));

    let svc = service();
    create(&client, &svc).await.unwrap();
    let services = api_for(&client, &svc);
    let ip = services.get("web").await.unwrap().data["spec"]["clusterIP"].clone();
    let other = if ip == json!("10.96.200.200") {
        "10.96.200.201"
    } else {
        "10.96.200.200"
    };
    let err = refused(
        services
            .patch(
                "web",
                &params,
                &merge(json!({ "spec": { "clusterIP": other, "clusterIPs": [other] } })),
            )
            .await,
    );
    assert_eq!(err.details.unwrap().causes[0].field, "spec.clusterIPs[0]");
    assert!(err.message.contains("may not change once set"));
    // Changing type ClusterIP → NodePort keeps the IP and is allowed.
    services
        .patch(
            "web",
            &params,
            &merge(json!({ "spec": { "type": "NodePort" } })),
        )
        .await
        .unwrap();

    let mut cm = config_map();
    cm["immutable"] = json!(true);
    create(&client, &cm).await.unwrap();
    let maps = api_for(&client, &cm);
    let err = refused(
        maps.patch(
            "web",
            &params,
            &merge(json!({ "data": { "app.properties": "a=c" } })),
        )
        .await,
    );
    assert!(
        err.message
            .contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{}",
        err.message
    );
    let err = refused(
        maps.patch("web", &params, &merge(json!({ "immutable": false })))
            .await,
    );
    assert!(
        err.message
            .contains("immutable: Forbidden: field is immutable when `immutable` is set"),
        "{}",
        err.message
    );

    let sec = secret();
    create(&client, &sec).await.unwrap();
    let secrets = api_for(&client, &sec);
    let err = refused(
        secrets
            .patch("tls", &params, &merge(json!({ "type": "Opaque" })))
            .await,
    );
    assert!(
        err.message
            .contains("type: Invalid value: \"Opaque\": field is immutable"),
        "{}",
        err.message
    );

    create(&client, &role()).await.unwrap();
    let rb = role_binding();
    create(&client, &rb).await.unwrap();
    let err = refused(
        api_for(&client, &rb)
            .patch(
                "read",
                &params,
                &merge(json!({ "roleRef": { "name": "writer" } })),
            )
            .await,
    );
    assert!(
        err.message.contains("roleRef: Invalid value: ")
            && err.message.contains("cannot change roleRef"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn dry_run_and_server_side_apply_are_validated_too() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let client = sim.client().await.unwrap();
    let mut bad = deployment();
    bad["spec"]["replicas"] = json!(-1);
    let dynamic: DynamicObject = serde_json::from_value(bad.clone()).unwrap();
    let api = api_for(&client, &bad);
    let err = status(
        api.create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &dynamic,
        )
        .await
        .err()
        .unwrap(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let err = status(
        api.patch(
            "web",
            &PatchParams::apply("validation-test"),
            &Patch::Apply(&bad),
        )
        .await
        .err()
        .unwrap(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert_eq!(err.details.unwrap().causes[0].field, "spec.replicas");
    let good = deployment();
    api.patch(
        "web",
        &PatchParams::apply("validation-test"),
        &Patch::Apply(&good),
    )
    .await
    .unwrap();
    let err = status(
        api.patch(
            "web",
            &PatchParams::apply("validation-test"),
            &Patch::Apply(&bad),
        )
        .await
        .err()
        .unwrap(),
    );
    assert_eq!(err.code, 422);
}

fn widget_crd() -> Value {
    json!({ "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": { "name": "widgets.example.com" },
        "spec": { "group": "example.com", "scope": "Namespaced",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget" },
            "versions": [{ "name": "v1", "served": true, "storage": true, "schema": { "openAPIV3Schema": {
                "type": "object", "properties": { "spec": { "type": "object", "required": ["size"], "properties": {
                    "size": { "type": "integer", "minimum": 1, "maximum": 10 },
                    "color": { "type": "string", "enum": ["red", "blue"] },
                    "code": { "type": "string", "pattern": "^[a-z]+-[0-9]+$", "maxLength": 12 },
                    "port": { "x-kubernetes-int-or-string": true },
                    "tags": { "type": "array", "maxItems": 2, "items": { "type": "string" } },
                    "extra": { "type": "object", "x-kubernetes-preserve-unknown-fields": true }
                } } } } } }] } })
}

#[tokio::test]
async fn custom_resources_follow_their_crd_schema() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let client = sim.client().await.unwrap();
    create(&client, &widget_crd()).await.unwrap();
    let widget = |spec: Value| json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" }, "spec": spec });
    let table: &[(Value, &str, &str, &[&str])] = &[
        (
            json!({ "size": "big" }),
            "spec.size",
            "FieldValueTypeInvalid",
            &["spec.size in body must be of type integer: \"string\""],
        ),
        (
            json!({ "size": 0 }),
            "spec.size",
            "FieldValueInvalid",
            &["spec.size in body should be greater than or equal to 1"],
        ),
        (
            json!({ "size": 11 }),
            "spec.size",
            "FieldValueInvalid",
            &["spec.size in body should be less than or equal to 10"],
        ),
        (
            json!({ "color": "red" }),
            "spec.size",
            "FieldValueRequired",
            &["spec.size: Required value"],
        ),
        (
            json!({ "size": 2, "color": "pink" }),
            "spec.color",
            "FieldValueNotSupported",
            &["Unsupported value: \"pink\": supported values: \"red\", \"blue\""],
        ),
        (
            json!({ "size": 2, "code": "ABC" }),
            "spec.code",
            "FieldValueInvalid",
            &["spec.code in body should match '^[a-z]+-[0-9]+$'"],
        ),
        (
            json!({ "size": 2, "code": "abcdefghij-12" }),
            "spec.code",
            "FieldValueTooLong",
            &["may not be longer than 12"],
        ),
        (
            json!({ "size": 2, "port": true }),
            "spec.port",
            "FieldValueTypeInvalid",
            &["must be of type integer,string"],
        ),
        (
            json!({ "size": 2, "tags": ["a", "b", "c"] }),
            "spec.tags",
            "FieldValueTooMany",
            &["must have at most 2 items"],
        ),
    ];
    for (spec, field, cause, words) in table {
        let err = create(&client, &widget(spec.clone()))
            .await
            .err()
            .unwrap_or_else(|| panic!("{spec} was accepted"));
        assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"), "{spec}");
        assert!(
            err.message
                .starts_with("Widget.example.com \"w\" is invalid: "),
            "{}",
            err.message
        );
        let causes = err.details.unwrap().causes;
        let found = causes
            .iter()
            .find(|c| c.field == *field)
            .unwrap_or_else(|| panic!("{spec}: {causes:?}"));
        assert_eq!(found.reason, *cause, "{spec}");
        for word in *words {
            assert!(
                err.message.contains(word),
                "{spec}: {} lacks {word}",
                err.message
            );
        }
    }
    let ok = widget(
        json!({ "size": 3, "color": "blue", "code": "ab-1", "port": "http", "tags": ["x"], "extra": { "any": [1, "two"] } }),
    );
    create(&client, &ok).await.unwrap();
}
