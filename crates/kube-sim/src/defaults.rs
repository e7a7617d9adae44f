//! Defaulting, as the real API server does it on every write: fields clients may omit but
//! controllers and kubectl read (a Deployment's replicas and strategy, a Service's clusterIP).
//! Only missing fields are filled; a value the client set is never changed.

use serde_json::{Map, Value, json};

use crate::resources::ResourceType;

/// Fills in defaults. `live` is the stored object on updates (to keep allocated values such as
/// a Service's clusterIP); `seed` makes allocations differ between objects.
pub fn apply(resource: &ResourceType, object: &mut Value, live: Option<&Value>, seed: usize) {
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Namespace") => {
            set_default(object, "/spec/finalizers", json!(["kubernetes"]));
            set_default(object, "/status/phase", json!("Active"));
        }
        ("", "Service") => service(object, live, seed),
        ("", "Secret") => {
            secret_string_data(object);
            set_default(object, "/type", json!("Opaque"));
        }
        ("", "Pod") => pod_spec(object, "/spec"),
        ("", "PersistentVolumeClaim") => {
            set_default(object, "/status/phase", json!("Pending"));
        }
        ("apps", "Deployment") => {
            set_default(object, "/spec/replicas", json!(1));
            set_default(
                object,
                "/spec/strategy",
                json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } }),
            );
            if object
                .pointer("/spec/strategy/type")
                .and_then(Value::as_str)
                == Some("RollingUpdate")
            {
                set_default(
                    object,
                    "/spec/strategy/rollingUpdate/maxSurge",
                    json!("25%"),
                );
                set_default(
                    object,
                    "/spec/strategy/rollingUpdate/maxUnavailable",
                    json!("25%"),
                );
            }
            set_default(object, "/spec/revisionHistoryLimit", json!(10));
            set_default(object, "/spec/progressDeadlineSeconds", json!(600));
            pod_spec(object, "/spec/template/spec");
        }
        ("apps", "StatefulSet") => {
            set_default(object, "/spec/replicas", json!(1));
            set_default(object, "/spec/podManagementPolicy", json!("OrderedReady"));
            set_default(
                object,
                "/spec/updateStrategy",
                json!({ "type": "RollingUpdate", "rollingUpdate": { "partition": 0 } }),
            );
            if object
                .pointer("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                == Some("RollingUpdate")
            {
                set_default(
                    object,
                    "/spec/updateStrategy/rollingUpdate/partition",
                    json!(0),
                );
            }
            set_default(object, "/spec/revisionHistoryLimit", json!(10));
            pod_spec(object, "/spec/template/spec");
        }
        ("apps", "DaemonSet") => {
            set_default(
                object,
                "/spec/updateStrategy",
                json!({ "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 1, "maxSurge": 0 } }),
            );
            set_default(object, "/spec/revisionHistoryLimit", json!(10));
            pod_spec(object, "/spec/template/spec");
        }
        ("apps", "ReplicaSet") => {
            set_default(object, "/spec/replicas", json!(1));
            pod_spec(object, "/spec/template/spec");
        }
        ("batch", "Job") => {
            set_default(object, "/spec/backoffLimit", json!(6));
            set_default(object, "/spec/completions", json!(1));
            set_default(object, "/spec/parallelism", json!(1));
            // No Job-specific default: the pod template gets the Pod default (Always), which Job
            // validation then refuses, as a real API server does with a Job that names none.
            pod_spec(object, "/spec/template/spec");
        }
        ("batch", "CronJob") => {
            set_default(object, "/spec/concurrencyPolicy", json!("Allow"));
            set_default(object, "/spec/suspend", json!(false));
            set_default(object, "/spec/successfulJobsHistoryLimit", json!(3));
            set_default(object, "/spec/failedJobsHistoryLimit", json!(1));
        }
        _ => {}
    }
}

/// `stringData` is write-only: the API server folds it into `data` (base64), overriding keys
/// of the same name, and never stores or returns it.
fn secret_string_data(object: &mut Value) {
    use base64::Engine as _;
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return;
    };
    let data = map
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(data) = data.as_object_mut() {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or_default().to_owned();
            data.insert(
                key,
                json!(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

/// Marks a new CRD as accepted and established, as the apiextensions controller does at once.
pub fn establish_crd(crd: &mut Value, now: &str) {
    let condition = |kind: &str, reason: &str, message: &str| json!({ "type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message });
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(Value::Null),
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).map(|versions| {
            versions
                .iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect::<Vec<_>>()
        }),
    });
}

fn service(object: &mut Value, live: Option<&Value>, seed: usize) {
    set_default(object, "/spec/type", json!("ClusterIP"));
    set_default(object, "/spec/sessionAffinity", json!("None"));
    let kept_ip = live.and_then(|l| l.pointer("/spec/clusterIP")).cloned();
    if object.pointer("/spec/clusterIP").is_none() {
        let ip = kept_ip.unwrap_or_else(|| {
            let n = seed % 65_000 + 10;
            json!(format!("10.96.{}.{}", n / 250, n % 250 + 1))
        });
        set_default(object, "/spec/clusterIP", ip.clone());
        set_default(object, "/spec/clusterIPs", json!([ip]));
    }
    if let Some(ports) = object
        .pointer_mut("/spec/ports")
        .and_then(Value::as_array_mut)
    {
        for port in ports {
            set_default(port, "/protocol", json!("TCP"));
            if let Some(number) = port.get("port").cloned() {
                set_default(port, "/targetPort", number);
            }
        }
    }
    if object.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer") {
        set_default(object, "/spec/externalTrafficPolicy", json!("Cluster"));
    }
}

fn pod_spec(object: &mut Value, path: &str) {
    let Some(spec) = object.pointer_mut(path) else {
        return;
    };
    set_default(spec, "/restartPolicy", json!("Always"));
    set_default(spec, "/terminationGracePeriodSeconds", json!(30));
    set_default(spec, "/dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "/schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers {
                let image = container
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let latest = !image.rsplit('/').next().unwrap_or(image).contains(':')
                    || image.ends_with(":latest");
                let policy = if latest && !image.contains('@') {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                set_default(container, "/imagePullPolicy", json!(policy));
                set_default(
                    container,
                    "/terminationMessagePath",
                    json!("/dev/termination-log"),
                );
                set_default(container, "/terminationMessagePolicy", json!("File"));
                if let Some(ports) = container.get_mut("ports").and_then(Value::as_array_mut) {
                    for port in ports {
                        set_default(port, "/protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

/// Sets the value at a JSON pointer when nothing is there, creating parent objects as needed.
pub fn set_default(object: &mut Value, pointer: &str, value: Value) {
    if object.pointer(pointer).is_some_and(|v| !v.is_null()) {
        return;
    }
    let mut current = object;
    let mut segments = pointer.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        if !current.is_object() {
            if current.is_null() {
                *current = Value::Object(Map::new());
            } else {
                return;
            }
        }
        let Some(map) = current.as_object_mut() else {
            return;
        };
        if segments.peek().is_none() {
            map.insert(segment.to_owned(), value);
            return;
        }
        current = map
            .entry(segment.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn deployment_defaults_fill_only_what_is_missing() {
        let registry = Registry::builtin();
        let rt = registry.by_plural("apps", "v1", "deployments").unwrap();
        let mut d = json!({ "spec": { "replicas": 3, "template": { "spec": { "containers": [
            { "name": "api", "image": "registry/api:1.2", "ports": [{ "containerPort": 80 }] },
            { "name": "side", "image": "busybox" }
        ] } } } });
        apply(rt, &mut d, None, 0);
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let containers = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(containers[1]["imagePullPolicy"], "Always");
        assert_eq!(containers[0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn secret_string_data_becomes_base64_data() {
        let registry = Registry::builtin();
        let rt = registry.by_plural("", "v1", "secrets").unwrap();
        let mut secret =
            json!({ "data": { "a": "eA==", "b": "eQ==" }, "stringData": { "b": "new", "c": "z" } });
        apply(rt, &mut secret, None, 0);
        assert_eq!(
            secret,
            json!({ "data": { "a": "eA==", "b": "bmV3", "c": "eg==" }, "type": "Opaque" })
        );
    }

    #[test]
    fn service_keeps_its_cluster_ip_across_updates() {
        let registry = Registry::builtin();
        let rt = registry.by_plural("", "v1", "services").unwrap();
        let mut created = json!({ "spec": { "ports": [{ "port": 80 }] } });
        apply(rt, &mut created, None, 7);
        let ip = created["spec"]["clusterIP"].clone();
        assert!(ip.as_str().unwrap().starts_with("10.96."));
        assert_eq!(created["spec"]["ports"][0]["targetPort"], 80);
        let mut updated = json!({ "spec": { "ports": [{ "port": 81 }] } });
        apply(rt, &mut updated, Some(&created), 99);
        assert_eq!(updated["spec"]["clusterIP"], ip);
    }
}
