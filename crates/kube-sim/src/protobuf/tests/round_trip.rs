//! Objects of many kinds through the encoder, then through the `k8s-pb` prost types (which keep
//! only the fields they know, at the tags and wire types they expect), then back through the
//! decoder: what comes out must be what went in.

use prost::Message as _;
use serde_json::{Value, json};

use crate::protobuf::{decode_object, encode_object};

/// Re-encodes the object message inside an envelope through its prost type.
fn through_prost(kind: &str, raw: &[u8]) -> Vec<u8> {
    use k8s_pb::api::{
        apps, autoscaling, batch, coordination, core, events, networking, policy, rbac,
    };
    use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions;
    use k8s_pb::apimachinery::pkg::apis::meta;
    fn again<M: prost::Message + Default>(raw: &[u8]) -> Vec<u8> {
        M::decode(raw)
            .expect("prost decodes our bytes")
            .encode_to_vec()
    }
    match kind {
        "Deployment" => again::<apps::v1::Deployment>(raw),
        "DeploymentList" => again::<apps::v1::DeploymentList>(raw),
        "StatefulSet" => again::<apps::v1::StatefulSet>(raw),
        "ControllerRevision" => again::<apps::v1::ControllerRevision>(raw),
        "Pod" => again::<core::v1::Pod>(raw),
        "Service" => again::<core::v1::Service>(raw),
        "Secret" => again::<core::v1::Secret>(raw),
        "ConfigMap" => again::<core::v1::ConfigMap>(raw),
        "Event" => again::<events::v1::Event>(raw),
        "CronJob" => again::<batch::v1::CronJob>(raw),
        "Ingress" => again::<networking::v1::Ingress>(raw),
        "ClusterRole" => again::<rbac::v1::ClusterRole>(raw),
        "PodDisruptionBudget" => again::<policy::v1::PodDisruptionBudget>(raw),
        "HorizontalPodAutoscaler" => again::<autoscaling::v2::HorizontalPodAutoscaler>(raw),
        "Lease" => again::<coordination::v1::Lease>(raw),
        "CustomResourceDefinition" => again::<apiextensions::v1::CustomResourceDefinition>(raw),
        "Status" => again::<meta::v1::Status>(raw),
        other => panic!("no prost type listed for {other}"),
    }
}

/// The envelope's raw object bytes (field 2 of the Unknown after the magic).
fn raw_of(envelope: &[u8]) -> Vec<u8> {
    k8s_pb::apimachinery::pkg::runtime::Unknown::decode(&envelope[4..])
        .expect("prost decodes our envelope")
        .raw
        .expect("the envelope holds the object")
}

fn rewrap(envelope: &[u8], raw: Vec<u8>) -> Vec<u8> {
    let mut unknown =
        k8s_pb::apimachinery::pkg::runtime::Unknown::decode(&envelope[4..]).expect("envelope");
    unknown.raw = Some(raw);
    let mut out = b"k8s\0".to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

/// JSON with its nulls removed: a null (an unset pointer or a zero time) is not written to the
/// wire, and Kubernetes reads a missing field and a null alike.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), without_nulls(v)))
            .collect(),
        Value::Array(items) => items.iter().map(without_nulls).collect(),
        other => other.clone(),
    }
}

fn assert_round_trip(object: &Value) {
    let kind = object["kind"].as_str().expect("kind");
    let expected = without_nulls(object);
    let object = &expected;
    let encoded = encode_object(object)
        .expect("encodes")
        .expect("a built-in kind");
    assert_eq!(&decode_object(&encoded).expect("decodes"), object, "{kind}");
    let via_prost = rewrap(&encoded, through_prost(kind, &raw_of(&encoded)));
    assert_eq!(
        &decode_object(&via_prost).expect("decodes"),
        object,
        "{kind} through prost"
    );
}

fn metadata(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "default",
        "uid": "6f1b4c2e-1111-4a5b-9c3d-222233334444",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "labels": { "app": name, "tier": "web" },
        "annotations": { "note": "" },
        "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "owner",
            "uid": "00000000-0000-0000-0000-000000000001", "controller": true,
            "blockOwnerDeletion": false,
        }],
        "finalizers": ["example.com/keep"],
        "managedFields": [{
            "manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
            "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1",
            "fieldsV1": { "f:metadata": { "f:labels": { "f:app": {} } } },
        }],
    })
}

fn pod_spec() -> Value {
    json!({
        "containers": [{
            "name": "web",
            "image": "nginx:1.27",
            "command": ["nginx", "-g", "daemon off;"],
            "ports": [{ "containerPort": 80, "protocol": "TCP", "name": "http" }],
            "env": [
                { "name": "MODE", "value": "prod" },
                { "name": "POD", "valueFrom": { "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.name" } } },
            ],
            "resources": {
                "limits": { "cpu": "500m", "memory": "256Mi" },
                "requests": { "cpu": "100m", "memory": "64Mi" },
            },
            "readinessProbe": {
                "httpGet": { "path": "/healthz", "port": "http", "scheme": "HTTP" },
                "initialDelaySeconds": 2,
                "periodSeconds": 5,
                "timeoutSeconds": 1,
                "successThreshold": 1,
                "failureThreshold": 3,
            },
            "livenessProbe": { "tcpSocket": { "port": 80 }, "periodSeconds": 10 },
            "volumeMounts": [{ "name": "cache", "mountPath": "/cache", "readOnly": true }],
            "securityContext": { "runAsUser": 0, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
        }],
        "volumes": [
            { "name": "cache", "emptyDir": { "sizeLimit": "1Gi" } },
            { "name": "config", "configMap": { "name": "settings", "defaultMode": 420, "optional": false } },
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 0,
        "dnsPolicy": "ClusterFirst",
        "automountServiceAccountToken": false,
        "nodeSelector": { "kubernetes.io/os": "linux" },
        "tolerations": [{ "key": "spot", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30 }],
    })
}

#[test]
fn workloads_round_trip() {
    assert_round_trip(&json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata("web"),
        "spec": {
            "replicas": 0,
            "selector": { "matchLabels": { "app": "web" }, "matchExpressions": [{ "key": "tier", "operator": "In", "values": ["web"] }] },
            "template": { "metadata": { "labels": { "app": "web" } }, "spec": pod_spec() },
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": "25%", "maxSurge": 1 } },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": 3,
            "replicas": 2,
            "conditions": [{
                "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                "message": "ok", "lastUpdateTime": "2026-01-02T03:04:05Z",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
            }],
        },
    }));
    assert_round_trip(&json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": { "name": "db" },
        "spec": {
            "serviceName": "db",
            "selector": { "matchLabels": { "app": "db" } },
            "template": { "metadata": {}, "spec": pod_spec() },
            "volumeClaimTemplates": [{
                "metadata": { "name": "data" },
                "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } }, "storageClassName": "" },
                "status": {},
            }],
        },
        "status": { "replicas": 0, "availableReplicas": 0 },
    }));
    assert_round_trip(&json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": { "name": "nightly", "namespace": "default" },
        "spec": {
            "schedule": "0 3 * * *",
            "suspend": false,
            "jobTemplate": { "metadata": {}, "spec": {
                "backoffLimit": 0,
                "template": { "metadata": {}, "spec": pod_spec() },
            } },
        },
        "status": { "lastScheduleTime": "2026-01-02T03:00:00Z" },
    }));
    assert_round_trip(&json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": { "name": "db-1" },
        "data": { "spec": { "template": { "metadata": {} } } },
        "revision": 1,
    }));
}

#[test]
fn core_objects_round_trip() {
    assert_round_trip(&json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata("web-1"),
        "spec": pod_spec(),
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "podIPs": [{ "ip": "10.0.0.7" }],
            "startTime": "2026-01-02T03:04:05Z",
            "conditions": [{ "type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-01-02T03:04:06Z" }],
            "containerStatuses": [{
                "name": "web", "ready": true, "restartCount": 0, "image": "nginx:1.27", "imageID": "",
                "state": { "running": { "startedAt": "2026-01-02T03:04:06Z" } },
                "lastState": {},
            }],
        },
    }));
    assert_round_trip(&json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": "web", "namespace": "default" },
        "spec": {
            "type": "LoadBalancer",
            "selector": { "app": "web" },
            "ports": [
                { "name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080 },
                { "name": "https", "protocol": "TCP", "port": 443, "targetPort": "https" },
            ],
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "allocateLoadBalancerNodePorts": true,
            "internalTrafficPolicy": "Cluster",
        },
        "status": { "loadBalancer": { "ingress": [{ "ip": "192.0.2.1" }] } },
    }));
    assert_round_trip(&json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": "creds" },
        "type": "kubernetes.io/dockerconfigjson",
        "data": { ".dockerconfigjson": "eyJhdXRocyI6e319", "empty": "" },
        "immutable": false,
    }));
    assert_round_trip(&json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": "settings" },
        "data": { "a": "1", "multi": "x\ny\n" },
        "binaryData": { "blob": "AAEC/w==" },
    }));
}

#[test]
fn cluster_objects_round_trip() {
    assert_round_trip(&json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": { "name": "web" },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{ "hosts": ["example.com"], "secretName": "tls" }],
            "rules": [{ "host": "example.com", "http": { "paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": { "service": { "name": "web", "port": { "number": 80 } } },
            }] } }],
        },
        "status": { "loadBalancer": {} },
    }));
    assert_round_trip(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": { "name": "reader" },
        "rules": [{ "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"] }],
        "aggregationRule": { "clusterRoleSelectors": [{ "matchLabels": { "agg": "true" } }] },
    }));
    assert_round_trip(&json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": { "name": "web" },
        "spec": { "maxUnavailable": "50%", "selector": { "matchLabels": { "app": "web" } } },
        "status": { "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0 },
    }));
    assert_round_trip(&json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "web" },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" },
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } }],
        },
        "status": { "currentReplicas": 1, "desiredReplicas": 1 },
    }));
    assert_round_trip(&json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": { "name": "leader" },
        "spec": { "holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "2026-01-02T03:04:05.123456Z" },
    }));
    assert_round_trip(&json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": { "name": "web.1" },
        "eventTime": "2026-01-02T03:04:05.000001Z",
        "reportingController": "kube-sim",
        "reportingInstance": "kube-sim-1",
        "action": "Scheduled",
        "reason": "Scheduled",
        "regarding": { "kind": "Pod", "name": "web-1", "namespace": "default" },
        "note": "assigned",
        "type": "Normal",
        "deprecatedFirstTimestamp": null,
        "deprecatedLastTimestamp": null,
    }));
    assert_round_trip(&json!({
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": "deployments.apps \"web\" not found",
        "reason": "NotFound",
        "details": { "name": "web", "group": "apps", "kind": "deployments" },
        "code": 404,
    }));
}

#[test]
fn a_custom_resource_definition_round_trips() {
    assert_round_trip(&json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList" },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["size"],
                            "properties": {
                                "size": { "type": "integer", "minimum": 1.0, "default": 3 },
                                "mode": { "type": "string", "enum": ["a", "b"] },
                                "tags": { "type": "array", "items": { "type": "string" } },
                                "extra": { "type": "object", "additionalProperties": { "type": "string" } },
                                "free": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                                "closed": { "type": "object", "additionalProperties": false },
                                "port": { "x-kubernetes-int-or-string": true },
                            },
                        },
                    },
                } },
                "additionalPrinterColumns": [{ "name": "Size", "type": "integer", "jsonPath": ".spec.size" }],
                "subresources": { "status": {}, "scale": { "specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size" } },
            }],
        },
        "status": { "acceptedNames": { "plural": "widgets", "kind": "Widget" }, "storedVersions": ["v1"] },
    }));
}

#[test]
fn a_list_round_trips_with_its_items() {
    assert_round_trip(&json!({
        "apiVersion": "apps/v1",
        "kind": "DeploymentList",
        "metadata": { "resourceVersion": "77" },
        "items": [
            { "metadata": { "name": "a" }, "spec": { "replicas": 1, "selector": {}, "template": { "metadata": {}, "spec": {} }, "strategy": {} }, "status": {} },
            { "metadata": { "name": "b" }, "spec": { "selector": {}, "template": { "metadata": {}, "spec": {} }, "strategy": {} }, "status": {} },
        ],
    }));
}

#[test]
fn custom_kinds_have_no_protobuf_form() {
    let widget =
        json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" } });
    assert_eq!(encode_object(&widget), Ok(None));
}
