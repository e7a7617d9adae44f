//! Ingresses, RBAC roles and bindings, `PodDisruptionBudgets` and `HorizontalPodAutoscalers`: the
//! rules manifests most often break in each.

use serde_json::{Value, json};

use super::errors::{Errors, Path};
use super::fields::{self, array_at, int_at, str_at};
use super::{meta, names, workloads};

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

pub fn ingress(errs: &mut Errors, object: &Value) {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let path = Path::root("spec");
    let rules = array_at(spec, "rules");
    let default_backend = spec.get("defaultBackend").filter(|b| !b.is_null());
    if rules.is_empty() && default_backend.is_none() {
        errs.invalid(
            &path,
            spec,
            "either `defaultBackend` or `rules` must be specified",
        );
    }
    if let Some(backend) = default_backend {
        ingress_backend(errs, backend, &path.child("defaultBackend"));
    }
    for (i, rule) in rules.iter().enumerate() {
        let at = path.child("rules").index(i);
        if let Some(host) = str_at(rule, "host").filter(|h| !h.is_empty()) {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            for msg in names::dns1123_subdomain(bare) {
                errs.invalid(&at.child("host"), &json!(host), &msg);
            }
        }
        let Some(http) = rule.get("http").filter(|h| !h.is_null()) else {
            continue;
        };
        let paths = array_at(http, "paths");
        if paths.is_empty() {
            errs.required(&at.child("http").child("paths"), "");
        }
        for (j, p) in paths.iter().enumerate() {
            let pat = at.child("http").child("paths").index(j);
            match str_at(p, "pathType") {
                None | Some("") => {
                    errs.required(&pat.child("pathType"), "pathType must be specified");
                }
                Some(t) if !PATH_TYPES.contains(&t) => {
                    errs.not_supported(&pat.child("pathType"), &json!(t), PATH_TYPES);
                }
                Some(t) => {
                    let text = str_at(p, "path").unwrap_or_default();
                    if t != "ImplementationSpecific" && !text.starts_with('/') {
                        errs.invalid(&pat.child("path"), &json!(text), "must be an absolute path");
                    }
                }
            }
            match p.get("backend").filter(|b| !b.is_null()) {
                Some(backend) => ingress_backend(errs, backend, &pat.child("backend")),
                None => errs.required(&pat.child("backend"), ""),
            }
        }
    }
}

fn ingress_backend(errs: &mut Errors, backend: &Value, path: &Path) {
    let service = backend.get("service").filter(|s| !s.is_null());
    let resource = backend.get("resource").filter(|s| !s.is_null());
    match (service, resource) {
        (Some(_), Some(_)) => errs.invalid(
            path,
            &json!(""),
            "cannot set both resource and service backends",
        ),
        (None, None) => errs.invalid(path, &json!(""), "resource or service backend is required"),
        (Some(service), None) => {
            let at = path.child("service");
            match str_at(service, "name") {
                None | Some("") => errs.required(&at.child("name"), ""),
                Some(name) => {
                    for msg in names::dns1035_label(name) {
                        errs.invalid(&at.child("name"), &json!(name), &msg);
                    }
                }
            }
            let port = service.get("port").unwrap_or(&Value::Null);
            let port_path = at.child("port");
            let name = str_at(port, "name").filter(|n| !n.is_empty());
            let number = int_at(port, "number").filter(|n| *n != 0);
            match (name, number) {
                (Some(_), Some(_)) => {
                    errs.invalid(&port_path, port, "cannot set both port name & port number");
                }
                (None, None) => errs.invalid(&port_path, port, "port name or number is required"),
                (Some(name), None) => {
                    for msg in names::port_name(name) {
                        errs.invalid(&port_path.child("name"), &json!(name), &msg);
                    }
                }
                (None, Some(n)) => fields::port_number(errs, n, &port_path.child("number")),
            }
        }
        (None, Some(_)) => {}
    }
}

/// `Role` and `ClusterRole` rules; namespaced roles may not name non-resource URLs.
pub fn role(errs: &mut Errors, object: &Value, namespaced: bool) {
    if !namespaced && object.get("aggregationRule").is_some_and(|a| !a.is_null()) {
        return;
    }
    for (i, rule) in array_at(object, "rules").iter().enumerate() {
        let at = Path::root("rules").index(i);
        if array_at(rule, "verbs").is_empty() {
            errs.required(&at.child("verbs"), "verbs must contain at least one value");
        }
        let urls = array_at(rule, "nonResourceURLs");
        if !urls.is_empty() {
            let value = rule.get("nonResourceURLs").unwrap_or(&Value::Null);
            if namespaced {
                errs.invalid(
                    &at.child("nonResourceURLs"),
                    value,
                    "namespaced rules cannot apply to non-resource URLs",
                );
            }
            if ["apiGroups", "resources", "resourceNames"]
                .iter()
                .any(|k| !array_at(rule, k).is_empty())
            {
                errs.invalid(
                    &at.child("nonResourceURLs"),
                    value,
                    "rules cannot apply to both regular resources and non-resource URLs",
                );
            }
            continue;
        }
        if array_at(rule, "apiGroups").is_empty() {
            errs.required(
                &at.child("apiGroups"),
                "resource rules must supply at least one api group",
            );
        }
        if array_at(rule, "resources").is_empty() {
            errs.required(
                &at.child("resources"),
                "resource rules must supply at least one resource",
            );
        }
    }
}

/// `RoleBinding` and `ClusterRoleBinding`: the role reference (fixed for the binding's life) and
/// the subjects.
pub fn binding(errs: &mut Errors, object: &Value, namespaced: bool, live: Option<&Value>) {
    let role_ref = object.get("roleRef").unwrap_or(&Value::Null);
    let at = Path::root("roleRef");
    if str_at(role_ref, "apiGroup") != Some(RBAC_GROUP) {
        let group = str_at(role_ref, "apiGroup").unwrap_or_default();
        errs.not_supported(&at.child("apiGroup"), &json!(group), &[RBAC_GROUP]);
    }
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    match str_at(role_ref, "kind") {
        Some(kind) if kinds.contains(&kind) => {}
        other => errs.not_supported(&at.child("kind"), &json!(other.unwrap_or_default()), kinds),
    }
    match str_at(role_ref, "name") {
        None | Some("") => errs.required(&at.child("name"), ""),
        Some(name) => {
            for msg in names::path_segment(name) {
                errs.invalid(&at.child("name"), &json!(name), &msg);
            }
        }
    }
    for (i, subject) in array_at(object, "subjects").iter().enumerate() {
        let sp = Path::root("subjects").index(i);
        if str_at(subject, "name").is_none_or(str::is_empty) {
            errs.required(&sp.child("name"), "");
        }
        match str_at(subject, "kind").unwrap_or_default() {
            "ServiceAccount" => {
                if let Some(group) = str_at(subject, "apiGroup").filter(|g| !g.is_empty()) {
                    errs.not_supported(&sp.child("apiGroup"), &json!(group), &[""]);
                }
                if !namespaced && str_at(subject, "namespace").is_none_or(str::is_empty) {
                    errs.required(&sp.child("namespace"), "");
                }
            }
            "User" | "Group" => {
                if str_at(subject, "apiGroup") != Some(RBAC_GROUP) {
                    let group = str_at(subject, "apiGroup").unwrap_or_default();
                    errs.not_supported(&sp.child("apiGroup"), &json!(group), &[RBAC_GROUP]);
                }
            }
            other => errs.not_supported(
                &sp.child("kind"),
                &json!(other),
                &["ServiceAccount", "User", "Group"],
            ),
        }
    }
    if let Some(old) = live.and_then(|l| l.get("roleRef"))
        && old != role_ref
    {
        errs.invalid("roleRef", role_ref, "cannot change roleRef");
    }
}

pub fn pod_disruption_budget(errs: &mut Errors, object: &Value) {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let path = Path::root("spec");
    let min = spec.get("minAvailable").filter(|v| !v.is_null());
    let max = spec.get("maxUnavailable").filter(|v| !v.is_null());
    if min.is_some() && max.is_some() {
        errs.invalid(
            &path,
            spec,
            "minAvailable and maxUnavailable cannot be both set",
        );
    }
    for (key, value) in [("minAvailable", min), ("maxUnavailable", max)] {
        let at = path.child(key);
        let amount = workloads::int_or_percent(errs, value, &at);
        if let (Some(Value::String(_)), Some(percent)) = (value, amount)
            && percent > 100
        {
            errs.invalid(
                &at,
                value.unwrap_or(&Value::Null),
                "must not be greater than 100%",
            );
        }
    }
    if let Some(selector) = spec.get("selector").filter(|s| !s.is_null()) {
        meta::label_selector(errs, selector, &path.child("selector"));
    }
}

pub fn horizontal_pod_autoscaler(errs: &mut Errors, object: &Value) {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let path = Path::root("spec");
    let min = int_at(spec, "minReplicas");
    if let Some(m) = min.filter(|m| *m < 1) {
        errs.invalid(
            &path.child("minReplicas"),
            &json!(m),
            "must be greater than or equal to 1",
        );
    }
    let max = int_at(spec, "maxReplicas").unwrap_or(0);
    if max < 1 {
        errs.invalid(
            &path.child("maxReplicas"),
            &json!(max),
            "must be greater than 0",
        );
    }
    if let Some(m) = min
        && max < m
    {
        errs.invalid(
            &path.child("maxReplicas"),
            &json!(max),
            "must be greater than or equal to `minReplicas`",
        );
    }
    let target = spec.get("scaleTargetRef").unwrap_or(&Value::Null);
    let tp = path.child("scaleTargetRef");
    for key in ["kind", "name"] {
        if str_at(target, key).is_none_or(str::is_empty) {
            errs.required(&tp.child(key), "");
        }
    }
}
