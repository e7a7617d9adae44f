//! RBAC evaluation over the Roles, `ClusterRoles` and bindings in the store: which rules apply to a
//! user (for `SelfSubjectRulesReview`) and whether one of them allows a request, with the reasons
//! the real RBAC authorizer gives.

use serde_json::{Value, json};

use super::attributes::{Attributes, ResourceAttributes};
use super::identity::UserInfo;
use crate::selectors::LabelSelector;
use crate::store::Store;

/// Called with a binding's description and its role's rules (or why they could not be found);
/// returns true to stop.
type Visitor<'v> = dyn FnMut(&str, Result<&[Value], String>) -> bool + 'v;

const GROUP: &str = "rbac.authorization.k8s.io";
const VERSION: &str = "v1";

/// An authorizer's answer and its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Why it was allowed (`RBAC: allowed by …`), or what went wrong while looking (a binding to
    /// a missing role); empty for a plain "no rule allows it".
    pub reason: String,
}

/// The rules granted to `user` in `namespace` (all of them at the cluster scope when empty), and
/// the errors met on the way (bindings to roles that do not exist).
pub fn rules_for(store: &Store, user: &UserInfo, namespace: &str) -> (Vec<Value>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    visit(store, user, namespace, &mut |_, found| match found {
        Ok(role_rules) => {
            rules.extend(role_rules.iter().cloned());
            false
        }
        Err(e) => {
            errors.push(e);
            false
        }
    });
    (rules, errors)
}

/// Whether a rule bound to `user` allows `attrs`.
pub fn decide(store: &Store, user: &UserInfo, attrs: &Attributes) -> Decision {
    let namespace = attrs.resource.as_ref().map_or("", |r| r.namespace.as_str());
    let mut errors = Vec::new();
    let mut allowed_by = None;
    visit(store, user, namespace, &mut |source, found| match found {
        Ok(rules) => {
            if rules.iter().any(|rule| allows(rule, attrs)) {
                allowed_by = Some(source.to_owned());
                return true;
            }
            false
        }
        Err(e) => {
            errors.push(e);
            false
        }
    });
    if let Some(source) = allowed_by {
        return Decision {
            allowed: true,
            reason: format!("RBAC: allowed by {source}"),
        };
    }
    let reason = match errors.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    };
    Decision {
        allowed: false,
        reason,
    }
}

/// Calls `visitor` with each binding (described as the real authorizer describes it) that names
/// `user`, and the rules of the role it refers to, until the visitor returns true. `ClusterRoleBindings`
/// come first, then the `RoleBindings` of `namespace`.
fn visit(store: &Store, user: &UserInfo, namespace: &str, visitor: &mut Visitor<'_>) {
    let registry = store.registry();
    let (Some(crb), Some(rb), Some(cr), Some(role)) = (
        registry.by_plural(GROUP, VERSION, "clusterrolebindings"),
        registry.by_plural(GROUP, VERSION, "rolebindings"),
        registry.by_plural(GROUP, VERSION, "clusterroles"),
        registry.by_plural(GROUP, VERSION, "roles"),
    ) else {
        return;
    };
    let cluster_roles = store.list(cr, None);
    let mut bindings: Vec<(&Value, &str)> =
        store.list(crb, None).into_iter().map(|b| (b, "")).collect();
    if !namespace.is_empty() {
        bindings.extend(
            store
                .list(rb, Some(namespace))
                .into_iter()
                .map(|b| (b, namespace)),
        );
    }
    for (binding, binding_ns) in bindings {
        let Some(subject) = matching_subject(binding, binding_ns, user) else {
            continue;
        };
        let binding_name = text(binding, "/metadata/name");
        let ref_kind = text(binding, "/roleRef/kind");
        let ref_name = text(binding, "/roleRef/name");
        let rules = match ref_kind {
            "ClusterRole" => effective_cluster_role_rules(&cluster_roles, ref_name)
                .ok_or_else(|| format!("clusterrole.{GROUP} {ref_name:?} not found")),
            "Role" if !binding_ns.is_empty() => store
                .list(role, Some(binding_ns))
                .into_iter()
                .find(|r| text(r, "/metadata/name") == ref_name)
                .map(|r| array(r, "/rules").to_vec())
                .ok_or_else(|| format!("role.{GROUP} {ref_name:?} not found")),
            _ => continue,
        };
        let source = if binding_ns.is_empty() {
            format!("ClusterRoleBinding {binding_name:?} of {ref_kind} {ref_name:?} to {subject}")
        } else {
            format!(
                "RoleBinding {:?} of {ref_kind} {ref_name:?} to {subject}",
                format!("{binding_name}/{binding_ns}")
            )
        };
        if visitor(&source, rules.as_deref().map_err(Clone::clone)) {
            return;
        }
    }
}

/// The subject of `binding` that is `user`, described (`User "dev"`), if any.
fn matching_subject(binding: &Value, binding_ns: &str, user: &UserInfo) -> Option<String> {
    array(binding, "/subjects").iter().find_map(|s| {
        let name = text(s, "/name");
        let matched = match text(s, "/kind") {
            "User" => user.username == name,
            "Group" => user.in_group(name),
            "ServiceAccount" => {
                let ns = match text(s, "/namespace") {
                    "" => binding_ns,
                    ns => ns,
                };
                user.username == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        };
        matched.then(|| describe_subject(s, binding_ns))
    })
}

fn describe_subject(subject: &Value, binding_ns: &str) -> String {
    let kind = text(subject, "/kind");
    let name = text(subject, "/name");
    if kind == "ServiceAccount" {
        let ns = match text(subject, "/namespace") {
            "" => binding_ns,
            ns => ns,
        };
        return format!("{kind} {:?}", format!("{name}/{ns}"));
    }
    format!("{kind} {name:?}")
}

/// A `ClusterRole`'s rules; for one with an `aggregationRule`, the rules of every `ClusterRole` its
/// selectors match, followed transitively, as the aggregation controller would have written them.
pub fn effective_cluster_role_rules(cluster_roles: &[&Value], name: &str) -> Option<Vec<Value>> {
    let role = cluster_roles
        .iter()
        .find(|r| text(r, "/metadata/name") == name)?;
    let mut rules = Vec::new();
    let mut seen = vec![name.to_owned()];
    collect(cluster_roles, role, &mut seen, &mut rules);
    Some(rules)
}

fn collect(cluster_roles: &[&Value], role: &Value, seen: &mut Vec<String>, rules: &mut Vec<Value>) {
    let Some(selectors) = role
        .pointer("/aggregationRule/clusterRoleSelectors")
        .and_then(Value::as_array)
    else {
        for rule in array(role, "/rules") {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
        return;
    };
    for selector in selectors {
        let selector = LabelSelector::from_object(selector);
        // An empty selector matches nothing here: the controller ignores it rather than
        // aggregating every role in the cluster.
        if selector.is_empty() {
            continue;
        }
        for other in cluster_roles {
            let other_name = text(other, "/metadata/name");
            if seen.iter().any(|s| s == other_name) || !selector.matches(other) {
                continue;
            }
            seen.push(other_name.to_owned());
            collect(cluster_roles, other, seen, rules);
        }
    }
}

/// Whether one `PolicyRule` allows the request.
pub fn allows(rule: &Value, attrs: &Attributes) -> bool {
    if !has(rule, "/verbs", &attrs.verb) {
        return false;
    }
    match &attrs.resource {
        Some(r) => resource_rule_allows(rule, r),
        None => array(rule, "/nonResourceURLs")
            .iter()
            .filter_map(Value::as_str)
            .any(|url| non_resource_url_matches(url, &attrs.path)),
    }
}

fn resource_rule_allows(rule: &Value, r: &ResourceAttributes) -> bool {
    let combined = r.combined_resource();
    let resource_matches = array(rule, "/resources")
        .iter()
        .filter_map(Value::as_str)
        .any(|res| {
            res == "*"
                || res == combined
                || (!r.subresource.is_empty()
                    && res.strip_prefix("*/") == Some(r.subresource.as_str()))
        });
    let names = array(rule, "/resourceNames");
    has(rule, "/apiGroups", &r.group)
        && resource_matches
        && (names.is_empty() || names.iter().any(|n| n.as_str() == Some(r.name.as_str())))
}

/// `*`, an exact path, or a prefix ending in `*`.
fn non_resource_url_matches(rule_url: &str, path: &str) -> bool {
    rule_url == "*"
        || rule_url == path
        || rule_url
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix))
}

/// Whether a string list field holds `value` or `*`.
fn has(rule: &Value, pointer: &str, value: &str) -> bool {
    array(rule, pointer)
        .iter()
        .filter_map(Value::as_str)
        .any(|v| v == "*" || v == value)
}

fn array<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Rules as `SelfSubjectRulesReview` lists them: resource rules and non-resource rules apart.
pub fn split_rules(rules: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for rule in rules {
        let verbs = rule.get("verbs").cloned().unwrap_or_else(|| json!([]));
        if let Some(urls) = rule
            .get("nonResourceURLs")
            .filter(|u| !array(u, "").is_empty())
        {
            non_resource_rules.push(json!({ "verbs": verbs, "nonResourceURLs": urls }));
        }
        if !array(rule, "/resources").is_empty() {
            let mut entry = json!({ "verbs": verbs });
            for field in ["apiGroups", "resources", "resourceNames"] {
                if let Some(values) = rule.get(field).filter(|v| !array(v, "").is_empty()) {
                    entry[field] = values.clone();
                }
            }
            resource_rules.push(entry);
        }
    }
    (resource_rules, non_resource_rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(verb: &str, group: &str, res: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.to_owned(),
            path: String::new(),
            resource: Some(ResourceAttributes {
                group: group.to_owned(),
                resource: res.to_owned(),
                subresource: sub.to_owned(),
                name: name.to_owned(),
                namespace: "app".to_owned(),
                ..ResourceAttributes::default()
            }),
        }
    }

    #[test]
    fn rules_match_verbs_groups_resources_subresources_and_names() {
        let rule = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "*/scale"], "resourceNames": ["web"]});
        assert!(allows(&rule, &resource("get", "", "pods", "", "web")));
        assert!(!allows(&rule, &resource("get", "", "pods", "", "db")));
        assert!(!allows(&rule, &resource("list", "", "pods", "", "")));
        assert!(!allows(&rule, &resource("get", "", "pods", "log", "web")));
        assert!(allows(
            &rule,
            &resource("get", "", "deployments", "scale", "web")
        ));
        assert!(!allows(&rule, &resource("get", "apps", "pods", "", "web")));
        let all = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]});
        assert!(allows(
            &all,
            &resource("deletecollection", "x.io", "things", "status", "")
        ));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_prefix() {
        assert!(non_resource_url_matches("/apis/*", "/apis/apps/v1"));
        assert!(non_resource_url_matches("/version", "/version"));
        assert!(!non_resource_url_matches("/version", "/version/x"));
        assert!(!non_resource_url_matches("/api/*", "/apis"));
    }
}
