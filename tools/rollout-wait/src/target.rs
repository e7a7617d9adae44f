//! What to watch: the objects of the upstream document, or `KIND/NAME` arguments as kubectl takes
//! them (`deployment/api`, `sts/db`), or kinds with `--selector`. Each becomes a [`Target`] with
//! its API resource and the health [`Rule`] of its kind.

use kube::api::ApiResource;
use serde::Deserialize;
use stage::StageError;

/// Which health rule applies (see `health.rs` and the table in `docs/rollout-wait.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    Service,
    Ingress,
    PersistentVolumeClaim,
    Pod,
    CustomResourceDefinition,
    /// Healthy once it exists.
    Present,
}

/// A kind we know without asking the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownKind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    pub rule: Rule,
    /// What kubectl also accepts for it (singular, short names).
    pub aliases: &'static [&'static str],
}

/// The kinds with a health rule, and the common ones that are only "present".
pub const KNOWN: &[KnownKind] = &[
    known(
        "apps",
        "Deployment",
        "deployments",
        Rule::Deployment,
        &["deployment", "deploy"],
    ),
    known(
        "apps",
        "StatefulSet",
        "statefulsets",
        Rule::StatefulSet,
        &["statefulset", "sts"],
    ),
    known(
        "apps",
        "DaemonSet",
        "daemonsets",
        Rule::DaemonSet,
        &["daemonset", "ds"],
    ),
    known(
        "apps",
        "ReplicaSet",
        "replicasets",
        Rule::ReplicaSet,
        &["replicaset", "rs"],
    ),
    known("batch", "Job", "jobs", Rule::Job, &["job"]),
    known(
        "",
        "Service",
        "services",
        Rule::Service,
        &["service", "svc"],
    ),
    known(
        "networking.k8s.io",
        "Ingress",
        "ingresses",
        Rule::Ingress,
        &["ingress", "ing"],
    ),
    known(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        Rule::PersistentVolumeClaim,
        &["persistentvolumeclaim", "pvc"],
    ),
    known("", "Pod", "pods", Rule::Pod, &["pod", "po"]),
    KnownKind {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        namespaced: false,
        rule: Rule::CustomResourceDefinition,
        aliases: &["customresourcedefinition", "crd", "crds"],
    },
    known(
        "",
        "ConfigMap",
        "configmaps",
        Rule::Present,
        &["configmap", "cm"],
    ),
    known("", "Secret", "secrets", Rule::Present, &["secret"]),
    known(
        "",
        "ServiceAccount",
        "serviceaccounts",
        Rule::Present,
        &["serviceaccount", "sa"],
    ),
    known(
        "batch",
        "CronJob",
        "cronjobs",
        Rule::Present,
        &["cronjob", "cj"],
    ),
    KnownKind {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        namespaced: false,
        rule: Rule::Present,
        aliases: &["namespace", "ns"],
    },
];

const fn known(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    rule: Rule,
    aliases: &'static [&'static str],
) -> KnownKind {
    KnownKind {
        group,
        version: "v1",
        kind,
        plural,
        namespaced: true,
        rule,
        aliases,
    }
}

impl KnownKind {
    /// Looks a kind up as kubectl users write it: `deployment`, `deployments`, `deploy`,
    /// `deployments.apps`, any case.
    pub fn find(word: &str) -> Option<&'static Self> {
        let word = word.to_ascii_lowercase();
        let (name, group) = word.split_once('.').unwrap_or((&word, ""));
        KNOWN.iter().find(|k| {
            (group.is_empty() || group == k.group)
                && (name == k.plural
                    || name == k.kind.to_ascii_lowercase()
                    || k.aliases.contains(&name))
        })
    }

    /// By group and kind, as an upstream document names them.
    pub fn by_group_kind(group: &str, kind: &str) -> Option<&'static Self> {
        KNOWN.iter().find(|k| k.group == group && k.kind == kind)
    }

    pub fn resource(&self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            api_version,
            kind: self.kind.to_owned(),
            plural: self.plural.to_owned(),
        }
    }
}

/// The rule for a group and kind, whatever its version.
pub fn rule_for(group: &str, kind: &str) -> Rule {
    KnownKind::by_group_kind(group, kind).map_or(Rule::Present, |k| k.rule)
}

/// One object to watch.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: ApiResource,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
    pub rule: Rule,
}

impl Target {
    /// `deployment/api`, as kubectl names objects.
    pub fn display(&self) -> String {
        format!("{}/{}", self.resource.kind.to_ascii_lowercase(), self.name)
    }

    /// `deployment/api in shop`, for messages that mix namespaces.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} in namespace {ns}", self.display()),
            None => self.display(),
        }
    }
}

/// What rollout-wait reads from the upstream document (k8s-apply's apply or rollback).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upstream {
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub revision: Option<u32>,
    /// The release's namespace, when the upstream step says it.
    #[serde(default, alias = "namespace")]
    pub release_namespace: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    pub objects: Vec<UpstreamObject>,
}

/// One object of the upstream document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamObject {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default)]
    pub action: Option<String>,
}

impl UpstreamObject {
    /// The group of its `apiVersion` (`apps/v1` → `apps`, `v1` → the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map_or("", |(group, _)| group)
    }
}

/// Parses `KIND/NAME` (or `KIND NAME`-less `KIND` with a selector) arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Named(&'static KnownKind, String),
    Kind(&'static KnownKind),
}

/// Reads the positional arguments; `KIND/NAME`, or bare kinds (comma lists allowed) when a
/// selector is given.
pub fn parse_args(args: &[String], selector: bool) -> Result<Vec<Arg>, StageError> {
    let mut out = Vec::new();
    for arg in args {
        let (kinds, name) = match arg.split_once('/') {
            Some((kind, name)) => (kind, Some(name)),
            None => (arg.as_str(), None),
        };
        for word in kinds.split(',').filter(|w| !w.is_empty()) {
            let Some(kind) = KnownKind::find(word) else {
                return Err(
                    StageError::usage(format!("argument {arg:?}: unknown kind {word:?}"))
                        .with_hint(format!(
                            "use one of: {}",
                            KNOWN
                                .iter()
                                .map(|k| k.aliases[0])
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                );
            };
            match name {
                Some("") => {
                    return Err(StageError::usage(format!(
                        "argument {arg:?}: no name after the '/'; write KIND/NAME, e.g. deployment/api"
                    )));
                }
                Some(name) => {
                    if kinds.contains(',') {
                        return Err(StageError::usage(format!(
                            "argument {arg:?}: a name goes with one kind; write deployment/api statefulset/db"
                        )));
                    }
                    out.push(Arg::Named(kind, name.to_owned()));
                }
                None if selector => out.push(Arg::Kind(kind)),
                None => {
                    return Err(StageError::usage(format!(
                        "argument {arg:?} names a kind but no object; write {}/NAME, or add --selector",
                        kind.aliases[0]
                    )));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_as_kubectl_users_write_them() {
        for word in ["deployment", "Deployments", "deploy", "deployments.apps"] {
            assert_eq!(
                KnownKind::find(word).map(|k| k.kind),
                Some("Deployment"),
                "{word}"
            );
        }
        assert_eq!(KnownKind::find("sts").map(|k| k.kind), Some("StatefulSet"));
        assert_eq!(KnownKind::find("svc").map(|k| k.rule), Some(Rule::Service));
        assert!(KnownKind::find("deployments.batch").is_none());
        assert!(KnownKind::find("widget").is_none());
    }

    #[test]
    fn arguments_need_names_unless_a_selector_is_given() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let parsed = parse_args(&args(&["deployment/api", "sts/db"]), false).unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(matches!(&parsed[1], Arg::Named(k, n) if k.kind == "StatefulSet" && n == "db"));
        let err = parse_args(&args(&["deployment"]), false).unwrap_err();
        assert!(err.message().contains("--selector"), "{}", err.message());
        assert_eq!(
            parse_args(&args(&["deploy,sts"]), true).unwrap().len(),
            2,
            "comma lists with a selector"
        );
        let err = parse_args(&args(&["gizmo/x"]), false).unwrap_err();
        assert!(err.message().contains("unknown kind"), "{}", err.message());
        assert!(err.hint().unwrap().contains("deployment"));
        assert!(parse_args(&args(&["deployment/"]), false).is_err());
    }

    #[test]
    fn rules_ignore_the_version() {
        assert_eq!(rule_for("apps", "Deployment"), Rule::Deployment);
        assert_eq!(rule_for("example.com", "Widget"), Rule::Present);
    }
}
