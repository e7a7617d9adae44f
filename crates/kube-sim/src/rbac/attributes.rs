//! What a request asks to do, in the authorizer's terms (the real server's `RequestInfo`): a verb
//! on a resource (group, resource, subresource, namespace, name) or on a non-resource path, and
//! the 403 the real server answers when no rule allows it.

use std::collections::BTreeMap;

use serde_json::json;

use crate::api::route::{self, Route};
use crate::api::status::{ApiError, qualified};

/// A request to an object or collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    /// Empty at the cluster scope.
    pub namespace: String,
    /// Empty for collections.
    pub name: String,
}

impl ResourceAttributes {
    /// `pods/log`, or `pods`: what rules name.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// A request as the authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    /// The URL path, which non-resource rules match.
    pub path: String,
    /// `None` for a non-resource request (`/api`, `/version`, `/openapi/v3`).
    pub resource: Option<ResourceAttributes>,
}

impl Attributes {
    /// The attributes of an HTTP request, derived as the real server derives them.
    pub fn of_request(method: &str, path: &str, query: &BTreeMap<String, String>) -> Self {
        let Route::Object(target) = route::parse(path) else {
            return Self {
                verb: method.to_ascii_lowercase(),
                path: path.to_owned(),
                resource: None,
            };
        };
        let mut name = target.name.clone().unwrap_or_default();
        let verb = match method {
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" if name.is_empty() => "deletecollection",
            "DELETE" => "delete",
            _ if target.watch => "watch",
            _ if !name.is_empty() => "get",
            _ => {
                // A list or watch narrowed to one name by field selector is authorized as a
                // request for that name, so `resourceNames` rules can allow `kubectl get pod x -w`.
                if let Some(only) = query.get("fieldSelector").and_then(|s| exact_name(s)) {
                    name = only;
                }
                if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                    "watch"
                } else {
                    "list"
                }
            }
        };
        // A Namespace's own path lies in that namespace, so a RoleBinding there can grant
        // access to the Namespace object.
        let namespace = if target.group.is_empty() && target.plural == "namespaces" {
            target.name.clone().unwrap_or_default()
        } else {
            target.namespace.clone().unwrap_or_default()
        };
        Self {
            verb: verb.to_owned(),
            path: path.to_owned(),
            resource: Some(ResourceAttributes {
                group: target.group,
                version: target.version,
                resource: target.plural,
                subresource: target.subresource.unwrap_or_default(),
                namespace,
                name,
            }),
        }
    }

    /// The 403 the real server writes: `secrets "db" is forbidden: User "dev" cannot get
    /// resource "secrets" in API group "" in the namespace "app"`, with `reason` (RBAC's
    /// explanation, such as a binding to a missing role) appended after a colon when present.
    pub fn forbidden(&self, username: &str, reason: &str) -> ApiError {
        let why = match &self.resource {
            None => format!(
                "User {username:?} cannot {} path {:?}",
                self.verb, self.path
            ),
            Some(r) if r.namespace.is_empty() => format!(
                "User {username:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                self.verb,
                r.combined_resource(),
                r.group
            ),
            Some(r) => format!(
                "User {username:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                self.verb,
                r.combined_resource(),
                r.group,
                r.namespace
            ),
        };
        let why = if reason.is_empty() {
            why
        } else {
            format!("{why}: {reason}")
        };
        let Some(r) = &self.resource else {
            return ApiError::new(403, "Forbidden", format!("forbidden: {why}"))
                .with_details(json!({}));
        };
        let subject = qualified(&r.group, &r.resource);
        let message = if r.name.is_empty() {
            format!("{subject} is forbidden: {why}")
        } else {
            format!("{subject} {:?} is forbidden: {why}", r.name)
        };
        // Empty fields are left out, as the real server's `omitempty` does.
        let mut details = serde_json::Map::new();
        for (key, value) in [
            ("name", &r.name),
            ("group", &r.group),
            ("kind", &r.resource),
        ] {
            if !value.is_empty() {
                details.insert(key.to_owned(), json!(value));
            }
        }
        ApiError::new(403, "Forbidden", message).with_details(details.into())
    }
}

/// `metadata.name=web` (alone or among other terms) → `web`.
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let (field, value) = term.split_once('=')?;
        let value = value.strip_prefix('=').unwrap_or(value);
        (field.trim() == "metadata.name" && !field.ends_with('!') && !value.is_empty())
            .then(|| value.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: &[(&str, &str)]) -> Attributes {
        let query = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Attributes::of_request(method, path, &query)
    }

    #[test]
    fn verbs_follow_method_and_shape() {
        let verb = |m, p, q: &[(&str, &str)]| attrs(m, p, q).verb;
        assert_eq!(verb("GET", "/api/v1/namespaces/a/pods", &[]), "list");
        assert_eq!(
            verb("GET", "/api/v1/namespaces/a/pods", &[("watch", "true")]),
            "watch"
        );
        assert_eq!(verb("GET", "/api/v1/watch/namespaces/a/pods", &[]), "watch");
        assert_eq!(verb("GET", "/api/v1/namespaces/a/pods/p", &[]), "get");
        assert_eq!(verb("POST", "/api/v1/namespaces/a/pods", &[]), "create");
        assert_eq!(verb("PUT", "/api/v1/namespaces/a/pods/p", &[]), "update");
        assert_eq!(verb("PATCH", "/api/v1/namespaces/a/pods/p", &[]), "patch");
        assert_eq!(verb("DELETE", "/api/v1/namespaces/a/pods/p", &[]), "delete");
        assert_eq!(
            verb("DELETE", "/api/v1/namespaces/a/pods", &[]),
            "deletecollection"
        );
        assert_eq!(verb("GET", "/apis", &[]), "get");
    }

    #[test]
    fn a_field_selected_name_and_a_namespace_path_are_attributed() {
        let a = attrs(
            "GET",
            "/api/v1/namespaces/a/pods",
            &[("fieldSelector", "metadata.name=web"), ("watch", "1")],
        );
        let r = a.resource.unwrap();
        assert_eq!((a.verb.as_str(), r.name.as_str()), ("watch", "web"));
        let r = attrs("GET", "/api/v1/namespaces/team", &[])
            .resource
            .unwrap();
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("team", "team"));
    }

    #[test]
    fn forbidden_messages_have_the_three_real_shapes() {
        let a = attrs("GET", "/api/v1/namespaces/app/pods/web/log", &[]);
        let err = a.forbidden("dev", "");
        assert_eq!(
            err.message,
            r#"pods "web" is forbidden: User "dev" cannot get resource "pods/log" in API group "" in the namespace "app""#
        );
        assert_eq!(err.details, Some(json!({"name": "web", "kind": "pods"})));
        let a = attrs("GET", "/apis/apps/v1/deployments", &[]);
        assert_eq!(
            a.forbidden("dev", "").message,
            r#"deployments.apps is forbidden: User "dev" cannot list resource "deployments" in API group "apps" at the cluster scope"#
        );
        let a = attrs("GET", "/metrics", &[]);
        assert_eq!(
            a.forbidden("dev", "").message,
            r#"forbidden: User "dev" cannot get path "/metrics""#
        );
    }
}
