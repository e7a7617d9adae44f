//! Services: type, ports (numbers, names, protocols, target and node ports), session affinity,
//! and on update the allocated cluster IP, which may not change.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::errors::{Errors, Path};
use super::fields::{self, array_at, int_at, str_at};
use super::names;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
/// The default `--service-node-port-range` of kube-apiserver.
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30_000..=32_767;

pub fn validate(errs: &mut Errors, object: &Value, live: Option<&Value>) {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let path = Path::root("spec");
    let kind = str_at(spec, "type").unwrap_or("ClusterIP");
    if !TYPES.contains(&kind) {
        errs.not_supported(&path.child("type"), &json!(kind), TYPES);
    }
    let headless = str_at(spec, "clusterIP") == Some("None");
    let ports = array_at(spec, "ports");
    if kind == "ExternalName" {
        match str_at(spec, "externalName") {
            None | Some("") => errs.required(&path.child("externalName"), ""),
            Some(name) => {
                for msg in names::dns1123_subdomain(name.trim_end_matches('.')) {
                    errs.invalid(&path.child("externalName"), &json!(name), &msg);
                }
            }
        }
    } else if ports.is_empty() && !headless {
        errs.required(&path.child("ports"), "");
    }
    let mut seen = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let at = path.child("ports").index(i);
        match str_at(port, "name").filter(|n| !n.is_empty()) {
            None if ports.len() > 1 => errs.required(&at.child("name"), ""),
            None => {}
            Some(name) => {
                for msg in names::dns1123_label(name) {
                    errs.invalid(&at.child("name"), &json!(name), &msg);
                }
                if !seen.insert(name.to_owned()) {
                    errs.duplicate(&at.child("name"), &json!(name));
                }
            }
        }
        fields::port_number(errs, int_at(port, "port").unwrap_or(0), &at.child("port"));
        if let Some(p) = str_at(port, "protocol")
            && !PROTOCOLS.contains(&p)
        {
            errs.not_supported(&at.child("protocol"), &json!(p), PROTOCOLS);
        }
        // 0 and "" mean "the same as port", as the real server defaults them.
        match port.get("targetPort") {
            Some(Value::Number(n)) if n.as_i64() == Some(0) => {}
            Some(Value::String(name)) if name.is_empty() => {}
            Some(Value::Number(n)) => {
                fields::port_number(errs, n.as_i64().unwrap_or(0), &at.child("targetPort"));
            }
            Some(Value::String(name)) => {
                for msg in names::port_name(name) {
                    errs.invalid(&at.child("targetPort"), &json!(name), &msg);
                }
            }
            _ => {}
        }
        if let Some(node_port) = int_at(port, "nodePort").filter(|n| *n != 0) {
            if kind == "ClusterIP" || kind == "ExternalName" {
                errs.forbidden(
                    &at.child("nodePort"),
                    &format!("may not be used when `type` is '{kind}'"),
                );
            } else if !NODE_PORTS.contains(&node_port) {
                errs.invalid(
                    &at.child("nodePort"),
                    &json!(node_port),
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                );
            }
        }
    }
    if let Some(affinity) = str_at(spec, "sessionAffinity")
        && !["ClientIP", "None"].contains(&affinity)
    {
        errs.not_supported(
            &path.child("sessionAffinity"),
            &json!(affinity),
            &["ClientIP", "None"],
        );
    }
    if let Some(policy) = str_at(spec, "externalTrafficPolicy") {
        if !["Cluster", "Local"].contains(&policy) {
            errs.not_supported(
                &path.child("externalTrafficPolicy"),
                &json!(policy),
                &["Cluster", "Local"],
            );
        } else if kind != "NodePort" && kind != "LoadBalancer" {
            errs.invalid(
                &path.child("externalTrafficPolicy"),
                &json!(policy),
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            );
        }
    }
    if let Some(live) = live {
        cluster_ip_kept(errs, spec, live, &path);
    }
}

/// An allocated cluster IP stays for the Service's life (an empty one in an update means "keep").
fn cluster_ip_kept(errs: &mut Errors, spec: &Value, live: &Value, path: &Path) {
    let old = live
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("");
    let new = str_at(spec, "clusterIP").unwrap_or("");
    let external =
        |s: &Value| s.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
    if old.is_empty()
        || new.is_empty()
        || old == new
        || external(live)
        || spec.get("type") == Some(&json!("ExternalName"))
    {
        return;
    }
    let ips = spec
        .get("clusterIPs")
        .cloned()
        .unwrap_or_else(|| json!([new]));
    errs.invalid(
        &path.child("clusterIPs").index(0),
        &ips,
        "may not change once set",
    );
}
