//! Unit tests of server-side apply and update recording, written as the scenarios kubectl and
//! controllers produce on a real cluster.

use serde_json::{Value, json};

use super::*;
use crate::resources::Registry;

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T11:00:00Z";
const T2: &str = "2024-05-01T12:00:00Z";

fn resource(api_version: &str, kind: &str) -> ResourceType {
    Registry::builtin()
        .by_kind(api_version, kind)
        .unwrap()
        .clone()
}

fn deployments() -> ResourceType {
    resource("apps/v1", "Deployment")
}

fn head(kind: &str, api_version: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "web", "namespace": "default"}})
}

fn deployment(replicas: u64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]}
            }
        }
    })
}

/// What the caller does with the result: stores it with server-set metadata.
fn stored(mut object: Value, version: u64) -> Value {
    object["metadata"]["resourceVersion"] = json!(version.to_string());
    object["metadata"]["uid"] = json!("0b7e6c52-1111-2222-3333-444455556666");
    object["metadata"]["generation"] = json!(1);
    object["metadata"]["creationTimestamp"] = json!(T0);
    object
}

fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    now: &str,
) -> Result<Value, ApiError> {
    server_side_apply(live, applied, manager, false, None, now, &deployments())
}

fn entry<'a>(object: &'a Value, manager: &str) -> Option<&'a Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

fn fields<'a>(object: &'a Value, manager: &str) -> &'a Value {
    &entry(object, manager).unwrap()["fieldsV1"]
}

fn names(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect()
}

// ----- create and re-apply -----

#[test]
fn create_via_apply_records_the_applied_fields() {
    let created = apply(None, &deployment(2, "nginx:1"), "kubectl", T0).unwrap();
    assert_eq!(created["spec"]["replicas"], 2);
    let web = &created["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(web["ports"][0], json!({"containerPort": 8080}));
    let entry = entry(&created, "kubectl").unwrap();
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(entry["time"], T0);
    assert!(entry.get("subresource").is_none());
    assert_eq!(
        entry["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                    }}}
                }
            }
        })
    );
}

#[test]
fn the_result_reads_as_a_typed_deployment() {
    let created = apply(None, &deployment(2, "nginx:1"), "kubectl", T0).unwrap();
    let typed: k8s_openapi::api::apps::v1::Deployment =
        serde_json::from_value(stored(created, 1)).unwrap();
    let managed = typed.metadata.managed_fields.unwrap();
    assert_eq!(managed[0].manager.as_deref(), Some("kubectl"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));
}

#[test]
fn identical_reapply_leaves_the_object_as_it_was() {
    let live = stored(
        apply(None, &deployment(2, "nginx:1"), "kubectl", T0).unwrap(),
        1,
    );
    let again = apply(Some(&live), &deployment(2, "nginx:1"), "kubectl", T1).unwrap();
    assert_eq!(again, live);
}

#[test]
fn reapply_with_a_change_updates_value_and_time() {
    let live = stored(
        apply(None, &deployment(2, "nginx:1"), "kubectl", T0).unwrap(),
        1,
    );
    let next = apply(Some(&live), &deployment(2, "nginx:2"), "kubectl", T1).unwrap();
    assert_eq!(
        next["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    assert_eq!(entry(&next, "kubectl").unwrap()["time"], T1);
    // Server-set metadata survives.
    assert_eq!(next["metadata"]["uid"], live["metadata"]["uid"]);
    assert_eq!(next["metadata"]["resourceVersion"], "1");
}

// ----- removal of fields a manager stops applying -----

#[test]
fn a_field_no_longer_applied_is_removed() {
    let mut with_tier = deployment(2, "nginx:1");
    with_tier["metadata"]["labels"]["tier"] = json!("front");
    with_tier["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--verbose"]);
    let live = stored(apply(None, &with_tier, "kubectl", T0).unwrap(), 1);
    let next = apply(Some(&live), &deployment(2, "nginx:1"), "kubectl", T1).unwrap();
    assert_eq!(next["metadata"]["labels"], json!({"app": "web"}));
    assert!(
        next["spec"]["template"]["spec"]["containers"][0]
            .get("args")
            .is_none()
    );
    assert!(
        fields(&next, "kubectl")["f:metadata"]["f:labels"]
            .get("f:tier")
            .is_none()
    );
}

#[test]
fn a_field_another_manager_owns_stays_when_dropped() {
    let live = stored(apply(None, &deployment(3, "nginx:1"), "a", T0).unwrap(), 1);
    let mut replicas_only = head("Deployment", "apps/v1");
    replicas_only["spec"] = json!({"replicas": 3});
    let live = stored(apply(Some(&live), &replicas_only, "b", T1).unwrap(), 2);
    // Shared ownership: same value, no conflict, both own it.
    assert!(fields(&live, "a")["f:spec"].get("f:replicas").is_some());
    assert!(fields(&live, "b")["f:spec"].get("f:replicas").is_some());

    let mut without_replicas = deployment(3, "nginx:1");
    without_replicas["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas");
    let next = apply(Some(&live), &without_replicas, "a", T2).unwrap();
    assert_eq!(next["spec"]["replicas"], 3);
    assert!(fields(&next, "a")["f:spec"].get("f:replicas").is_none());
    assert!(fields(&next, "b")["f:spec"].get("f:replicas").is_some());
}

#[test]
fn applying_only_identity_withdraws_everything_the_manager_owned() {
    let live = stored(apply(None, &deployment(3, "nginx:1"), "a", T0).unwrap(), 1);
    let mut labels = head("Deployment", "apps/v1");
    labels["metadata"]["labels"] = json!({"team": "x"});
    let live = stored(apply(Some(&live), &labels, "b", T1).unwrap(), 2);
    let next = apply(Some(&live), &head("Deployment", "apps/v1"), "b", T2).unwrap();
    assert_eq!(next["metadata"]["labels"], json!({"app": "web"}));
    assert!(entry(&next, "b").is_none());
    assert_eq!(next["spec"], live["spec"]);
}

// ----- conflicts -----

#[test]
fn changing_a_field_another_applier_owns_is_a_conflict() {
    let live = stored(apply(None, &deployment(3, "nginx:1"), "a", T0).unwrap(), 1);
    let mut replicas = head("Deployment", "apps/v1");
    replicas["spec"] = json!({"replicas": 5});
    let err = apply(Some(&live), &replicas, "b", T1).unwrap_err();
    assert_eq!(err.code, 409);
    assert_eq!(err.reason, "Conflict");
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
    );
    let details = err.details.unwrap();
    assert_eq!(
        details["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"a\"", "field": ".spec.replicas"}])
    );
}

#[test]
fn conflicts_with_an_updater_name_its_api_version_and_list_every_field() {
    let mut created = deployment(3, "nginx:1");
    record_update(None, &mut created, "kubectl-client-side-apply", None, T0);
    let live = stored(created, 1);
    let err = apply(Some(&live), &deployment(5, "nginx:2"), "kubectl", T1).unwrap_err();
    assert_eq!(
        err.message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
         - .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
    );
    let causes = err.details.unwrap()["causes"].clone();
    assert_eq!(
        causes[0]["message"],
        "conflict with \"kubectl-client-side-apply\" using apps/v1"
    );
    assert_eq!(
        causes[1]["field"],
        ".spec.template.spec.containers[name=\"web\"].image"
    );
}

#[test]
fn force_takes_ownership() {
    let live = stored(apply(None, &deployment(3, "nginx:1"), "a", T0).unwrap(), 1);
    let mut replicas = head("Deployment", "apps/v1");
    replicas["spec"] = json!({"replicas": 5});
    let next =
        server_side_apply(Some(&live), &replicas, "b", true, None, T1, &deployments()).unwrap();
    assert_eq!(next["spec"]["replicas"], 5);
    assert!(fields(&next, "a")["f:spec"].get("f:replicas").is_none());
    assert_eq!(fields(&next, "b"), &json!({"f:spec": {"f:replicas": {}}}));
    // a re-applying its old value now conflicts with b.
    let err = apply(Some(&stored(next, 2)), &deployment(3, "nginx:1"), "a", T2).unwrap_err();
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"b\": .spec.replicas"
    );
}

#[test]
fn an_update_takes_fields_from_an_applier_without_conflict() {
    let live = stored(
        apply(None, &deployment(3, "nginx:1"), "kubectl", T0).unwrap(),
        1,
    );
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(6);
    record_update(
        Some(&live),
        &mut scaled,
        "horizontal-pod-autoscaler",
        None,
        T1,
    );
    assert!(
        fields(&scaled, "kubectl")["f:spec"]
            .get("f:replicas")
            .is_none()
    );
    assert_eq!(
        fields(&scaled, "horizontal-pod-autoscaler"),
        &json!({"f:spec": {"f:replicas": {}}})
    );
    let hpa = entry(&scaled, "horizontal-pod-autoscaler").unwrap();
    assert_eq!(hpa["operation"], "Update");
    assert_eq!(hpa["time"], T1);
    let err = apply(
        Some(&stored(scaled, 2)),
        &deployment(3, "nginx:1"),
        "kubectl",
        T2,
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"horizontal-pod-autoscaler\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn an_object_without_managed_fields_belongs_to_before_first_apply() {
    let live = stored(deployment(3, "nginx:1"), 1);
    let err = apply(Some(&live), &deployment(4, "nginx:1"), "kubectl", T1).unwrap_err();
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
    );
    let next = apply(Some(&live), &deployment(3, "nginx:1"), "kubectl", T1).unwrap();
    assert_eq!(
        entry(&next, BEFORE_FIRST_APPLY).unwrap()["operation"],
        "Update"
    );
    assert!(entry(&next, "kubectl").is_some());
}

// ----- keyed lists -----

#[test]
fn two_managers_each_own_their_container() {
    let live = stored(apply(None, &deployment(1, "nginx:1"), "a", T0).unwrap(), 1);
    let mut sidecar = head("Deployment", "apps/v1");
    sidecar["spec"] =
        json!({"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}});
    let live = stored(apply(Some(&live), &sidecar, "b", T1).unwrap(), 2);
    assert_eq!(
        names(&live["spec"]["template"]["spec"]["containers"]),
        ["web", "proxy"]
    );
    assert_eq!(
        fields(&live, "b"),
        &json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"proxy\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
    );
    // a re-applies unchanged: b's container stays.
    let same = apply(Some(&live), &deployment(1, "nginx:1"), "a", T2).unwrap();
    assert_eq!(same, live);
    // a changes its image: only its container changes, no conflict.
    let next = apply(Some(&live), &deployment(1, "nginx:2"), "a", T2).unwrap();
    let containers = &next["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], "nginx:2");
    assert_eq!(containers[1]["image"], "envoy:1");
    // b withdraws its container.
    let next = apply(
        Some(&stored(next, 3)),
        &head("Deployment", "apps/v1"),
        "b",
        T2,
    )
    .unwrap();
    assert_eq!(
        names(&next["spec"]["template"]["spec"]["containers"]),
        ["web"]
    );
}

#[test]
fn env_ports_volumes_and_mounts_merge_by_key() {
    let mut first = deployment(1, "nginx:1");
    first["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "A", "value": "1"}]);
    first["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "data", "mountPath": "/data"}]);
    first["spec"]["template"]["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
    let live = stored(apply(None, &first, "a", T0).unwrap(), 1);

    let mut second = head("Deployment", "apps/v1");
    second["spec"] = json!({"template": {"spec": {
        "containers": [{
            "name": "web",
            "env": [{"name": "B", "value": "2"}],
            "ports": [{"containerPort": 9090, "name": "metrics"}],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]
        }],
        "volumes": [{"name": "cache", "emptyDir": {"medium": "Memory"}}]
    }}});
    let live = stored(apply(Some(&live), &second, "b", T1).unwrap(), 2);
    let pod = &live["spec"]["template"]["spec"];
    let web = &pod["containers"][0];
    assert_eq!(names(&web["env"]), ["A", "B"]);
    assert_eq!(
        web["ports"],
        json!([{"containerPort": 8080}, {"containerPort": 9090, "name": "metrics"}])
    );
    assert_eq!(names(&web["volumeMounts"]), ["data", "cache"]);
    assert_eq!(names(&pod["volumes"]), ["data", "cache"]);
    let b_web = &fields(&live, "b")["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
    assert!(b_web["f:env"].get("k:{\"name\":\"B\"}").is_some());
    assert!(b_web["f:env"].get("k:{\"name\":\"A\"}").is_none());
    assert!(
        b_web["f:volumeMounts"]
            .get("k:{\"mountPath\":\"/cache\"}")
            .is_some()
    );
    assert!(b_web.get("f:image").is_none());

    // a drops its env var and volume: only a's items go.
    let mut fewer = first.clone();
    fewer["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("env");
    fewer["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("volumeMounts");
    fewer["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("volumes");
    let next = apply(Some(&live), &fewer, "a", T2).unwrap();
    let pod = &next["spec"]["template"]["spec"];
    assert_eq!(names(&pod["containers"][0]["env"]), ["B"]);
    assert_eq!(names(&pod["containers"][0]["volumeMounts"]), ["cache"]);
    assert_eq!(names(&pod["volumes"]), ["cache"]);
}

#[test]
fn a_container_dropped_by_its_only_applier_goes_with_its_fields() {
    let mut two = deployment(1, "nginx:1");
    two["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "proxy", "image": "envoy:1"}));
    let live = stored(apply(None, &two, "a", T0).unwrap(), 1);
    let next = apply(Some(&live), &deployment(1, "nginx:1"), "a", T1).unwrap();
    assert_eq!(
        names(&next["spec"]["template"]["spec"]["containers"]),
        ["web"]
    );
    let owned = &fields(&next, "a")["f:spec"]["f:template"]["f:spec"]["f:containers"];
    assert!(owned.get("k:{\"name\":\"proxy\"}").is_none());
}

#[test]
fn applied_order_wins_for_shared_items() {
    let mut two = deployment(1, "nginx:1");
    two["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "proxy", "image": "envoy:1"}));
    let live = stored(apply(None, &two, "a", T0).unwrap(), 1);
    let mut swapped = two.clone();
    swapped["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .reverse();
    let next = apply(Some(&live), &swapped, "a", T1).unwrap();
    assert_eq!(
        names(&next["spec"]["template"]["spec"]["containers"]),
        ["proxy", "web"]
    );
}

#[test]
fn cronjob_containers_are_keyed_too() {
    let cronjobs = resource("batch/v1", "CronJob");
    let mut job = head("CronJob", "batch/v1");
    job["spec"] = json!({"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": "Never",
        "containers": [{"name": "backup", "image": "pg:16", "env": [{"name": "A", "value": "1"}]}]
    }}}}});
    let live = stored(
        server_side_apply(None, &job, "a", false, None, T0, &cronjobs).unwrap(),
        1,
    );
    let mut extra = head("CronJob", "batch/v1");
    extra["spec"] = json!({"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "backup", "env": [{"name": "B", "value": "2"}]}]
    }}}}});
    let next = server_side_apply(Some(&live), &extra, "b", false, None, T1, &cronjobs).unwrap();
    let env = &next["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(names(env), ["A", "B"]);
}

#[test]
fn service_ports_key_by_port_and_protocol() {
    let services = resource("v1", "Service");
    let mut svc = head("Service", "v1");
    svc["spec"] = json!({"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]});
    let live = stored(
        server_side_apply(None, &svc, "a", false, None, T0, &services).unwrap(),
        1,
    );
    assert_eq!(
        fields(&live, "a")["f:spec"],
        json!({
            "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}},
            "f:selector": {"f:app": {}}
        })
    );
    let mut dns = head("Service", "v1");
    dns["spec"] = json!({"ports": [{"port": 80, "protocol": "UDP"}]});
    let next = server_side_apply(Some(&live), &dns, "b", false, None, T1, &services).unwrap();
    assert_eq!(next["spec"]["ports"].as_array().unwrap().len(), 2);
}

#[test]
fn finalizers_are_a_set() {
    let configmaps = resource("v1", "ConfigMap");
    let mut a = head("ConfigMap", "v1");
    a["metadata"]["finalizers"] = json!(["example.com/a"]);
    let live = stored(
        server_side_apply(None, &a, "a", false, None, T0, &configmaps).unwrap(),
        1,
    );
    assert_eq!(
        fields(&live, "a"),
        &json!({"f:metadata": {"f:finalizers": {"v:\"example.com/a\"": {}}}})
    );
    let mut b = head("ConfigMap", "v1");
    b["metadata"]["finalizers"] = json!(["example.com/b"]);
    let live = stored(
        server_side_apply(Some(&live), &b, "b", false, None, T1, &configmaps).unwrap(),
        2,
    );
    assert_eq!(
        live["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/b"])
    );
    let next = server_side_apply(
        Some(&live),
        &head("ConfigMap", "v1"),
        "a",
        false,
        None,
        T2,
        &configmaps,
    )
    .unwrap();
    assert_eq!(next["metadata"]["finalizers"], json!(["example.com/b"]));
}

#[test]
fn lists_without_merge_keys_are_atomic() {
    let mut tolerations = deployment(1, "nginx:1");
    tolerations["spec"]["template"]["spec"]["tolerations"] =
        json!([{"key": "a", "operator": "Exists"}]);
    let live = stored(apply(None, &tolerations, "a", T0).unwrap(), 1);
    assert_eq!(
        fields(&live, "a")["f:spec"]["f:template"]["f:spec"]["f:tolerations"],
        json!({})
    );
    let mut other = head("Deployment", "apps/v1");
    other["spec"] =
        json!({"template": {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}});
    let err = apply(Some(&live), &other, "b", T1).unwrap_err();
    assert!(
        err.message.ends_with(": .spec.template.spec.tolerations"),
        "{}",
        err.message
    );
}

// ----- what is never merged or owned -----

#[test]
fn status_of_the_main_resource_is_neither_merged_nor_owned() {
    let mut with_status = deployment(1, "nginx:1");
    with_status["status"] = json!({"replicas": 9});
    with_status["metadata"]["uid"] = json!("client-made-up");
    with_status["metadata"]["generation"] = json!(42);
    let created = apply(None, &with_status, "kubectl", T0).unwrap();
    assert!(created.get("status").is_none());
    assert!(created["metadata"].get("uid").is_none());
    assert!(created["metadata"].get("generation").is_none());
    let owned = fields(&created, "kubectl");
    assert!(owned.get("f:status").is_none());
    assert_eq!(owned["f:metadata"], json!({"f:labels": {"f:app": {}}}));
}

#[test]
fn apply_to_status_touches_only_status() {
    let mut live = stored(
        apply(None, &deployment(1, "nginx:1"), "kubectl", T0).unwrap(),
        1,
    );
    live["status"] = json!({"replicas": 1});
    let mut report = deployment(7, "ignored:1");
    report["status"] =
        json!({"readyReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
    let next = server_side_apply(
        Some(&live),
        &report,
        "controller",
        false,
        Some("status"),
        T1,
        &deployments(),
    )
    .unwrap();
    assert_eq!(next["spec"], live["spec"]);
    assert_eq!(next["status"]["replicas"], 1);
    assert_eq!(next["status"]["readyReplicas"], 1);
    let entry = entry(&next, "controller").unwrap();
    assert_eq!(entry["subresource"], "status");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Available\"}": {".": {}, "f:status": {}, "f:type": {}}}, "f:readyReplicas": {}}})
    );
    let missing = server_side_apply(
        None,
        &report,
        "controller",
        false,
        Some("status"),
        T1,
        &deployments(),
    )
    .unwrap_err();
    assert_eq!(missing.code, 404);
}

#[test]
fn identity_fields_never_conflict() {
    let live = stored(apply(None, &deployment(1, "nginx:1"), "a", T0).unwrap(), 1);
    let next = apply(Some(&live), &head("Deployment", "apps/v1"), "b", T1).unwrap();
    assert_eq!(next, live);
    assert!(entry(&next, "b").is_none());
}

// ----- bad requests -----

#[test]
fn the_applied_object_must_say_what_it_is() {
    for missing in ["/apiVersion", "/kind", "/metadata/name"] {
        let mut body = deployment(1, "nginx:1");
        let (parent, field) = missing.rsplit_once('/').unwrap();
        body.pointer_mut(if parent.is_empty() { "" } else { parent })
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(field);
        let err = apply(None, &body, "kubectl", T0).unwrap_err();
        assert_eq!(err.code, 400, "{missing}");
    }
    let mut wrong_kind = deployment(1, "nginx:1");
    wrong_kind["kind"] = json!("StatefulSet");
    assert_eq!(
        apply(None, &wrong_kind, "kubectl", T0).unwrap_err().code,
        400
    );
    let err = apply(None, &json!(["not", "an", "object"]), "kubectl", T0).unwrap_err();
    assert_eq!(err.reason, "BadRequest");
}

#[test]
fn a_stale_resource_version_is_a_conflict() {
    let live = stored(
        apply(None, &deployment(1, "nginx:1"), "kubectl", T0).unwrap(),
        5,
    );
    let mut stale = deployment(2, "nginx:1");
    stale["metadata"]["resourceVersion"] = json!("4");
    let err = apply(Some(&live), &stale, "kubectl", T1).unwrap_err();
    assert_eq!(err.code, 409);
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );
    stale["metadata"]["resourceVersion"] = json!("5");
    assert_eq!(
        apply(Some(&live), &stale, "kubectl", T1).unwrap()["spec"]["replicas"],
        2
    );
}

#[test]
fn malformed_keyed_lists_are_rejected() {
    let mut duplicate = deployment(1, "nginx:1");
    let web = duplicate["spec"]["template"]["spec"]["containers"][0].clone();
    duplicate["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(web);
    let err = apply(None, &duplicate, "kubectl", T0).unwrap_err();
    assert_eq!(err.code, 400);
    assert!(
        err.message
            .contains("duplicate entries for key [name=\"web\"]"),
        "{}",
        err.message
    );

    let mut nameless = deployment(1, "nginx:1");
    nameless["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let err = apply(None, &nameless, "kubectl", T0).unwrap_err();
    assert!(err.message.contains("omits key field"), "{}", err.message);

    let mut managed = deployment(1, "nginx:1");
    managed["metadata"]["managedFields"] = json!([{"manager": "x"}]);
    assert_eq!(apply(None, &managed, "kubectl", T0).unwrap_err().code, 400);
}

// ----- update recording -----

#[test]
fn create_by_update_owns_every_field_set() {
    let mut created = deployment(2, "nginx:1");
    record_update(None, &mut created, "kubectl-create", None, T0);
    let entry = entry(&created, "kubectl-create").unwrap();
    assert_eq!(entry["operation"], "Update");
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["time"], T0);
    let owned = &entry["fieldsV1"];
    // Maps and list items an update creates are owned themselves (`.`), as on a real server.
    assert_eq!(
        owned["f:metadata"]["f:labels"],
        json!({".": {}, "f:app": {}})
    );
    assert!(owned["f:metadata"].get("f:name").is_none());
    let web = &owned["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
    assert!(web.get(".").is_some());
    assert!(web.get("f:image").is_some());
}

#[test]
fn an_update_moves_changed_fields_to_its_manager() {
    let mut created = deployment(2, "nginx:1");
    record_update(None, &mut created, "kubectl-create", None, T0);
    let live = stored(created, 1);
    let mut edited = live.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    edited["metadata"]["labels"]["edited"] = json!("yes");
    record_update(Some(&live), &mut edited, "kubectl-edit", None, T1);
    let creator = fields(&edited, "kubectl-create");
    assert!(
        creator["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]
            .get("f:image")
            .is_none()
    );
    assert_eq!(
        fields(&edited, "kubectl-edit"),
        &json!({
            "f:metadata": {"f:labels": {"f:edited": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {"f:image": {}}}}}}
        })
    );
    let managers: Vec<&str> = edited["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["kubectl-create", "kubectl-edit"]);
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    let mut created = deployment(2, "nginx:1");
    record_update(None, &mut created, "kubectl-create", None, T0);
    let live = stored(created, 1);
    let mut same = live.clone();
    record_update(Some(&live), &mut same, "kubectl-edit", None, T1);
    assert_eq!(same, live);
}

#[test]
fn an_update_removing_an_applied_field_takes_it_from_the_applier() {
    let mut labelled = deployment(1, "nginx:1");
    labelled["metadata"]["labels"]["tier"] = json!("front");
    let live = stored(apply(None, &labelled, "kubectl", T0).unwrap(), 1);
    let mut unlabelled = live.clone();
    unlabelled["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("tier");
    record_update(Some(&live), &mut unlabelled, "kubectl-label", None, T1);
    assert!(
        fields(&unlabelled, "kubectl")["f:metadata"]["f:labels"]
            .get("f:tier")
            .is_none()
    );
    // Removing gives the updater nothing to own.
    assert!(entry(&unlabelled, "kubectl-label").is_none());
}

#[test]
fn status_updates_are_recorded_against_the_subresource() {
    let mut created = deployment(1, "nginx:1");
    record_update(None, &mut created, "kubectl-create", None, T0);
    let live = stored(created, 1);
    let mut reported = live.clone();
    reported["status"] = json!({"replicas": 1, "readyReplicas": 1});
    record_update(
        Some(&live),
        &mut reported,
        "kube-controller-manager",
        Some("status"),
        T1,
    );
    let recorded = entry(&reported, "kube-controller-manager").unwrap();
    assert_eq!(recorded["subresource"], "status");
    assert_eq!(
        recorded["fieldsV1"],
        json!({"f:status": {".": {}, "f:readyReplicas": {}, "f:replicas": {}}})
    );

    // Through the main resource, a Deployment's status is not owned by anyone.
    let mut via_main = live.clone();
    via_main["status"] = json!({"replicas": 1});
    record_update(Some(&live), &mut via_main, "someone", None, T1);
    assert!(entry(&via_main, "someone").is_none());
}

#[test]
fn record_update_for_a_custom_resource_tracks_its_status_when_it_has_no_subresource() {
    let widgets = ResourceType {
        group: "example.com".to_owned(),
        version: "v1".to_owned(),
        kind: "Widget".to_owned(),
        plural: "widgets".to_owned(),
        singular: "widget".to_owned(),
        namespaced: true,
        short_names: Vec::new(),
        status_subresource: false,
        scale_subresource: false,
        categories: Vec::new(),
    };
    let mut widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"ok": true}});
    record_update_for(None, &mut widget, "me", None, T0, &widgets);
    assert_eq!(
        fields(&widget, "me"),
        &json!({"f:status": {".": {}, "f:ok": {}}})
    );
}

#[test]
fn managed_fields_sent_with_an_update_replace_or_reset_the_record() {
    let mut created = deployment(1, "nginx:1");
    record_update(None, &mut created, "kubectl-create", None, T0);
    let live = stored(created, 1);
    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    reset["spec"]["replicas"] = json!(3);
    record_update(Some(&live), &mut reset, "editor", None, T1);
    let managed = reset["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0]["manager"], "editor");
}
