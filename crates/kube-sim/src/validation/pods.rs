//! Pod spec checks, for Pods and every pod template: containers (names, images, ports,
//! environment, resources, probes, volume mounts), volumes, and the enumerated policies.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::errors::{Errors, Path};
use super::fields::{self, array_at, int_at, str_at};
use super::{names, quantity};

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PROBE_HANDLERS: &[&str] = &["exec", "httpGet", "tcpSocket", "grpc"];
/// The volume sources kube-sim's manifests and clients use; a volume needs exactly one.
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// Checks a pod spec at `path`.
pub fn pod_spec(errs: &mut Errors, spec: &Value, path: &Path) {
    let volumes = volumes(errs, spec, &path.child("volumes"));
    let mut seen = BTreeSet::new();
    for list in ["initContainers", "containers"] {
        let at = path.child(list);
        let containers = array_at(spec, list);
        if list == "containers" && containers.is_empty() {
            errs.required(&at, "");
        }
        for (i, container) in containers.iter().enumerate() {
            self::container(errs, container, &at.index(i), &volumes, &mut seen);
        }
    }
    if let Some(policy) = str_at(spec, "restartPolicy")
        && !RESTART_POLICIES.contains(&policy)
    {
        errs.not_supported(
            &path.child("restartPolicy"),
            &json!(policy),
            RESTART_POLICIES,
        );
    }
    if let Some(policy) = str_at(spec, "dnsPolicy")
        && !DNS_POLICIES.contains(&policy)
    {
        errs.not_supported(&path.child("dnsPolicy"), &json!(policy), DNS_POLICIES);
    }
    fields::non_negative(
        errs,
        spec,
        "terminationGracePeriodSeconds",
        &path.child("terminationGracePeriodSeconds"),
    );
}

/// Checks the volumes and returns their names, for the mounts to refer to.
fn volumes(errs: &mut Errors, spec: &Value, path: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, volume) in array_at(spec, "volumes").iter().enumerate() {
        let at = path.index(i);
        match str_at(volume, "name") {
            None | Some("") => errs.required(&at.child("name"), ""),
            Some(name) => {
                for msg in names::dns1123_label(name) {
                    errs.invalid(&at.child("name"), &json!(name), &msg);
                }
                if !names.insert(name.to_owned()) {
                    errs.duplicate(&at.child("name"), &json!(name));
                }
            }
        }
        let sources = VOLUME_SOURCES
            .iter()
            .filter(|s| volume.get(**s).is_some_and(|v| !v.is_null()))
            .count();
        if sources == 0 {
            errs.required(&at, "must specify a volume type");
        }
    }
    names
}

fn container(
    errs: &mut Errors,
    container: &Value,
    path: &Path,
    volumes: &BTreeSet<String>,
    seen: &mut BTreeSet<String>,
) {
    match str_at(container, "name") {
        None | Some("") => errs.required(&path.child("name"), ""),
        Some(name) => {
            for msg in names::dns1123_label(name) {
                errs.invalid(&path.child("name"), &json!(name), &msg);
            }
            if !seen.insert(name.to_owned()) {
                errs.duplicate(&path.child("name"), &json!(name));
            }
        }
    }
    if str_at(container, "image").is_none_or(|i| i.trim().is_empty()) {
        errs.required(&path.child("image"), "");
    }
    if let Some(policy) = str_at(container, "imagePullPolicy")
        && !PULL_POLICIES.contains(&policy)
    {
        errs.not_supported(
            &path.child("imagePullPolicy"),
            &json!(policy),
            PULL_POLICIES,
        );
    }
    ports(errs, container, &path.child("ports"));
    env(errs, container, &path.child("env"));
    resources(errs, container.get("resources"), &path.child("resources"));
    for (probe, success_must_be_one) in [
        ("livenessProbe", true),
        ("readinessProbe", false),
        ("startupProbe", true),
    ] {
        if let Some(p) = container.get(probe).filter(|p| !p.is_null()) {
            self::probe(errs, p, &path.child(probe), success_must_be_one);
        }
    }
    for (i, mount) in array_at(container, "volumeMounts").iter().enumerate() {
        let at = path.child("volumeMounts").index(i);
        match str_at(mount, "name") {
            None | Some("") => errs.required(&at.child("name"), ""),
            Some(name) if !volumes.contains(name) => {
                errs.not_found(&at.child("name"), &json!(name));
            }
            Some(_) => {}
        }
        if str_at(mount, "mountPath").is_none_or(str::is_empty) {
            errs.required(&at.child("mountPath"), "");
        }
    }
}

fn ports(errs: &mut Errors, container: &Value, path: &Path) {
    let mut names = BTreeSet::new();
    for (i, port) in array_at(container, "ports").iter().enumerate() {
        let at = path.index(i);
        if let Some(name) = str_at(port, "name").filter(|n| !n.is_empty()) {
            for msg in names::port_name(name) {
                errs.invalid(&at.child("name"), &json!(name), &msg);
            }
            if !names.insert(name.to_owned()) {
                errs.duplicate(&at.child("name"), &json!(name));
            }
        }
        match int_at(port, "containerPort") {
            None | Some(0) => errs.required(&at.child("containerPort"), ""),
            Some(n) => fields::port_number(errs, n, &at.child("containerPort")),
        }
        if let Some(n) = int_at(port, "hostPort").filter(|n| *n != 0) {
            fields::port_number(errs, n, &at.child("hostPort"));
        }
        // A missing protocol is defaulted to TCP.
        if let Some(p) = str_at(port, "protocol")
            && !PROTOCOLS.contains(&p)
        {
            errs.not_supported(&at.child("protocol"), &json!(p), PROTOCOLS);
        }
    }
}

fn env(errs: &mut Errors, container: &Value, path: &Path) {
    for (i, var) in array_at(container, "env").iter().enumerate() {
        let at = path.index(i);
        match str_at(var, "name") {
            None | Some("") => errs.required(&at.child("name"), ""),
            Some(name) => {
                for msg in names::env_var_name(name) {
                    errs.invalid(&at.child("name"), &json!(name), &msg);
                }
            }
        }
        let has_value = str_at(var, "value").is_some_and(|v| !v.is_empty());
        if has_value && var.get("valueFrom").is_some_and(|v| !v.is_null()) {
            errs.invalid(
                &at.child("valueFrom"),
                &json!(""),
                "may not be specified when `value` is not empty",
            );
        }
    }
}

/// Requests and limits: each quantity non-negative, each request at most its limit.
pub fn resources(errs: &mut Errors, resources: Option<&Value>, path: &Path) {
    let Some(resources) = resources else {
        return;
    };
    let parsed = |key: &str| -> Vec<(String, quantity::Quantity)> {
        resources
            .get(key)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, v)| {
                let text = match v {
                    Value::String(s) => s.trim().to_owned(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                quantity::parse(&text).ok().map(|q| (name.clone(), q))
            })
            .collect()
    };
    let limits = parsed("limits");
    let requests = parsed("requests");
    for (key, list) in [("limits", &limits), ("requests", &requests)] {
        for (name, q) in list {
            if q.is_negative() {
                errs.invalid(
                    &path.child(key).key(name),
                    &json!(q.canonical()),
                    fields::NON_NEGATIVE,
                );
            }
        }
    }
    for (name, request) in &requests {
        if let Some((_, limit)) = limits.iter().find(|(n, _)| n == name)
            && request.cmp_value(limit) == Ordering::Greater
        {
            errs.invalid(
                &path.child("requests"),
                &json!(request.canonical()),
                &format!(
                    "must be less than or equal to {name} limit of {}",
                    limit.canonical()
                ),
            );
        }
    }
}

fn probe(errs: &mut Errors, probe: &Value, path: &Path, success_must_be_one: bool) {
    let handlers: Vec<&str> = PROBE_HANDLERS
        .iter()
        .copied()
        .filter(|h| probe.get(*h).is_some_and(|v| !v.is_null()))
        .collect();
    match handlers.as_slice() {
        [] => errs.required(path, "must specify a handler type"),
        [_, extra, ..] => errs.forbidden(
            &path.child(extra),
            "may not specify more than 1 handler type",
        ),
        [_] => {}
    }
    for key in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        fields::non_negative(errs, probe, key, &path.child(key));
    }
    if success_must_be_one && let Some(n) = int_at(probe, "successThreshold").filter(|n| *n > 1) {
        errs.invalid(&path.child("successThreshold"), &json!(n), "must be 1");
    }
    for handler in ["httpGet", "tcpSocket", "grpc"] {
        if let Some(port) = probe.get(handler).and_then(|h| h.get("port")) {
            probe_port(errs, port, &path.child(handler).child("port"));
        }
    }
}

/// A probe's port: a number 1–65535 or a port name.
pub fn probe_port(errs: &mut Errors, port: &Value, path: &Path) {
    match port {
        Value::Number(n) => fields::port_number(errs, n.as_i64().unwrap_or(0), path),
        Value::String(name) => {
            for msg in names::port_name(name) {
                errs.invalid(path, &json!(name), &msg);
            }
        }
        _ => {}
    }
}
