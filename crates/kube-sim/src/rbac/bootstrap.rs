//! The part of the real API server's bootstrap RBAC policy that users bind to or rely on: the
//! user-facing `ClusterRoles` `cluster-admin`, `admin`, `edit` and `view` (the last three
//! aggregated from `system:aggregate-to-*`, with the real rules), and what every authenticated
//! user may do (`system:discovery`, `system:basic-user`, `system:public-info-viewer`). Stored
//! when a scenario turns RBAC on, so bindings to them work and `kubectl get clusterrole view`
//! shows them.

use serde_json::{Value, json};

use super::identity::{AUTHENTICATED, MASTERS};
use super::rules::effective_cluster_role_rules;
use crate::store::Store;

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({ "apiGroups": groups, "resources": resources, "verbs": verbs })
}

fn paths(urls: &[&str]) -> Value {
    json!({ "nonResourceURLs": urls, "verbs": ["get"] })
}

/// `system:aggregate-to-view`: read access to everything but Secrets and RBAC.
fn aggregate_to_view() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
            READ,
        ),
        rule(
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
            READ,
        ),
        rule(&[""], &["namespaces"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            READ,
        ),
        rule(
            &["extensions"],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
    ]
}

/// `system:aggregate-to-edit`: writes to workloads and config, Secrets included.
fn aggregate_to_edit() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(
            &["extensions"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ],
            WRITE,
        ),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
        rule(&["coordination.k8s.io"], &["leases"], ALL),
    ]
}

/// `system:aggregate-to-admin`: namespace RBAC on top of edit.
fn aggregate_to_admin() -> Vec<Value> {
    vec![
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
        rule(
            &["rbac.authorization.k8s.io"],
            &["rolebindings", "roles"],
            ALL,
        ),
    ]
}

fn cluster_role(
    name: &str,
    labels: &[(&str, &str)],
    rules: Option<Vec<Value>>,
    aggregate_label: Option<&str>,
) -> Value {
    let mut all_labels = serde_json::Map::new();
    all_labels.insert(
        "kubernetes.io/bootstrapping".to_owned(),
        json!("rbac-defaults"),
    );
    for (k, v) in labels {
        all_labels.insert((*k).to_owned(), json!(v));
    }
    let mut role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": all_labels,
            "annotations": { "rbac.authorization.kubernetes.io/autoupdate": "true" },
        },
        "rules": rules.unwrap_or_default(),
    });
    if let Some(label) = aggregate_label {
        role["aggregationRule"] =
            json!({ "clusterRoleSelectors": [{ "matchLabels": { label: "true" } }] });
    }
    role
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g }))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": { "kubernetes.io/bootstrapping": "rbac-defaults" },
            "annotations": { "rbac.authorization.kubernetes.io/autoupdate": "true" },
        },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
        "subjects": subjects,
    })
}

const TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

/// The `ClusterRoles`, before aggregation fills in `admin`, `edit` and `view`.
pub fn cluster_roles() -> Vec<Value> {
    vec![
        cluster_role(
            "cluster-admin",
            &[],
            Some(vec![
                rule(&["*"], &["*"], &["*"]),
                json!({ "nonResourceURLs": ["*"], "verbs": ["*"] }),
            ]),
            None,
        ),
        cluster_role("admin", &[], None, Some(TO_ADMIN)),
        cluster_role("edit", &[(TO_ADMIN, "true")], None, Some(TO_EDIT)),
        cluster_role("view", &[(TO_EDIT, "true")], None, Some(TO_VIEW)),
        cluster_role(
            "system:aggregate-to-admin",
            &[(TO_ADMIN, "true")],
            Some(aggregate_to_admin()),
            None,
        ),
        cluster_role(
            "system:aggregate-to-edit",
            &[(TO_EDIT, "true")],
            Some(aggregate_to_edit()),
            None,
        ),
        cluster_role(
            "system:aggregate-to-view",
            &[(TO_VIEW, "true")],
            Some(aggregate_to_view()),
            None,
        ),
        cluster_role(
            "system:discovery",
            &[],
            Some(vec![paths(&[
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ])]),
            None,
        ),
        cluster_role(
            "system:basic-user",
            &[],
            Some(vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ]),
            None,
        ),
        cluster_role(
            "system:public-info-viewer",
            &[],
            Some(vec![paths(&[
                "/healthz",
                "/livez",
                "/readyz",
                "/version",
                "/version/",
            ])]),
            None,
        ),
    ]
}

pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", "cluster-admin", &[MASTERS]),
        binding("system:discovery", "system:discovery", &[AUTHENTICATED]),
        binding("system:basic-user", "system:basic-user", &[AUTHENTICATED]),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &[AUTHENTICATED, "system:unauthenticated"],
        ),
    ]
}

/// Stores the bootstrap policy, with the aggregated roles' rules filled in as the aggregation
/// controller would.
pub fn seed(store: &mut Store, now: &str) {
    let registry = store.registry();
    let (Some(cr), Some(crb)) = (
        registry
            .by_plural("rbac.authorization.k8s.io", "v1", "clusterroles")
            .cloned(),
        registry
            .by_plural("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
            .cloned(),
    ) else {
        return;
    };
    let mut roles = cluster_roles();
    let aggregated: Vec<Option<Vec<Value>>> = {
        let refs: Vec<&Value> = roles.iter().collect();
        roles
            .iter()
            .map(|r| {
                r.get("aggregationRule").and(effective_cluster_role_rules(
                    &refs,
                    r["metadata"]["name"].as_str().unwrap_or(""),
                ))
            })
            .collect()
    };
    for (role, rules) in roles.iter_mut().zip(aggregated) {
        if let Some(rules) = rules {
            role["rules"] = Value::Array(rules);
        }
    }
    for role in roles {
        let _ = store.create(&cr, "", role, now, false);
    }
    for binding in cluster_role_bindings() {
        let _ = store.create(&crb, "", binding, now, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_policy_lets_every_authenticated_user_discover() {
        let mut store = Store::new(10, "2026-01-01T00:00:00Z");
        seed(&mut store, "2026-01-01T00:00:00Z");
        let user = crate::rbac::UserInfo::authenticated("someone", &[]);
        let attrs =
            crate::rbac::Attributes::of_request("GET", "/api", &std::collections::BTreeMap::new());
        let decision = crate::rbac::rules::decide(&store, &user, &attrs);
        assert!(decision.allowed, "{decision:?}");
        assert_eq!(
            decision.reason,
            r#"RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated""#
        );
    }

    #[test]
    fn view_edit_and_admin_aggregate_upwards() {
        let roles = cluster_roles();
        let refs: Vec<&Value> = roles.iter().collect();
        let view = effective_cluster_role_rules(&refs, "view").unwrap();
        let edit = effective_cluster_role_rules(&refs, "edit").unwrap();
        let admin = effective_cluster_role_rules(&refs, "admin").unwrap();
        assert_eq!(view, aggregate_to_view());
        assert_eq!(
            edit.len(),
            aggregate_to_view().len() + aggregate_to_edit().len()
        );
        assert_eq!(admin.len(), edit.len() + aggregate_to_admin().len());
        let grants_secrets = |rules: &[Value]| {
            rules.iter().any(|r| {
                r["resources"]
                    .as_array()
                    .is_some_and(|rs| rs.contains(&json!("secrets")))
            })
        };
        assert!(!grants_secrets(&view));
        assert!(grants_secrets(&edit));
    }
}
