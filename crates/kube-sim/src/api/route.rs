//! Turning a request path and query into what it addresses.

use std::collections::BTreeMap;

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`
    Resources {
        group: String,
        version: String,
    },
    OpenApiV2,
    OpenApiV3Index,
    OpenApiV3 {
        group: String,
        version: String,
    },
    /// A collection, an object, or an object's subresource.
    Object(Target),
    NotFound,
}

/// A resource path: `/apis/apps/v1/namespaces/app/deployments/web/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub group: String,
    pub version: String,
    pub plural: String,
    /// `None` for cluster-scoped resources and all-namespace lists.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The legacy `/watch/` path prefix.
    pub watch: bool,
}

pub fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group((*group).to_owned()),
        ["api", version] => Route::Resources {
            group: String::new(),
            version: (*version).to_owned(),
        },
        ["apis", group, version] => Route::Resources {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        },
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        ["openapi", "v3", "api", version] => Route::OpenApiV3 {
            group: String::new(),
            version: (*version).to_owned(),
        },
        ["openapi", "v3", "apis", group, version] => Route::OpenApiV3 {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        },
        ["api", version, rest @ ..] => object("", version, rest),
        ["apis", group, version, rest @ ..] => object(group, version, rest),
        _ => Route::NotFound,
    }
}

fn object(group: &str, version: &str, rest: &[&str]) -> Route {
    let (watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let target =
        |namespace: Option<&str>, plural: &str, name: Option<&str>, subresource: Option<&str>| {
            Route::Object(Target {
                group: group.to_owned(),
                version: version.to_owned(),
                plural: plural.to_owned(),
                namespace: namespace.map(str::to_owned),
                name: name.map(str::to_owned),
                subresource: subresource.map(str::to_owned),
                watch,
            })
        };
    match rest {
        // The namespace object itself, and its subresources.
        ["namespaces", name @ ("status" | "finalize")] if group.is_empty() => {
            target(None, "namespaces", Some(name), None)
        }
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            target(None, "namespaces", Some(name), Some(sub))
        }
        ["namespaces", ns, plural] => target(Some(ns), plural, None, None),
        ["namespaces", ns, plural, name] => target(Some(ns), plural, Some(name), None),
        ["namespaces", ns, plural, name, sub] => target(Some(ns), plural, Some(name), Some(sub)),
        [plural] => target(None, plural, None, None),
        [plural, name] => target(None, plural, Some(name), None),
        [plural, name, sub] => target(None, plural, Some(name), Some(sub)),
        _ => Route::NotFound,
    }
}

/// Query parameters, decoded; the last value wins for a repeated name.
pub fn query(raw: Option<&str>) -> BTreeMap<String, String> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse(path) {
            Route::Object(t) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let t = target("/apis/apps/v1/namespaces/app/deployments/web/status");
        assert_eq!(
            (
                t.group.as_str(),
                t.plural.as_str(),
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            (
                "apps",
                "deployments",
                Some("app"),
                Some("web"),
                Some("status")
            )
        );
        let t = target("/api/v1/namespaces/app");
        assert_eq!(
            (t.plural.as_str(), t.namespace, t.name.as_deref()),
            ("namespaces", None, Some("app"))
        );
        let t = target("/api/v1/namespaces/app/status");
        assert_eq!(
            (t.name.as_deref(), t.subresource.as_deref()),
            (Some("app"), Some("status"))
        );
        let t = target("/api/v1/namespaces");
        assert_eq!((t.plural.as_str(), t.name), ("namespaces", None));
        let t = target("/apis/rbac.authorization.k8s.io/v1/clusterroles/view");
        assert_eq!((t.namespace, t.name.as_deref()), (None, Some("view")));
        let t = target("/api/v1/watch/namespaces/app/pods");
        assert!(t.watch);
        assert_eq!(t.plural, "pods");
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(parse("/api"), Route::CoreVersions);
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::Resources {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Route::OpenApiV3 {
                group: "apps".into(),
                version: "v1".into()
            }
        );
    }

    #[test]
    fn queries_are_decoded() {
        let q = query(Some("labelSelector=app%3Dweb%2Ctier+in+%28a%29&watch=true"));
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["watch"], "true");
    }
}
