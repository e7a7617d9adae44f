//! The order objects are applied in, in phases, and the reverse order they are pruned in.
//!
//! Objects that others depend on go first, so that each phase finds what it needs: a namespace
//! before what lives in it, a CRD (established) before its custom resources, a ServiceAccount and
//! the ConfigMaps and Secrets a pod mounts before the workload whose pods would otherwise fail to
//! start, and the objects that only point at workloads (Ingress, HPA, PDB) after them. Objects
//! within a phase do not depend on each other, so the caller may apply them concurrently; they are
//! kept in input order so that logs and reports are stable. Kinds we do not know (custom
//! resources, admission webhooks) come last: a webhook registered before its backing Deployment is
//! up would block every other write of the apply.

use crate::builtin::is_builtin_group;
use crate::manifest::ObjectRef;

/// One apply phase, in apply order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Namespaces,
    /// CustomResourceDefinitions; the caller waits until they are Established before the next
    /// phase, since custom resources of a CRD the API server has not yet served are refused.
    Definitions,
    /// `ServiceAccounts` and RBAC.
    Access,
    /// ConfigMaps, Secrets, storage, priority classes, limit ranges and quotas.
    Configuration,
    Services,
    Workloads,
    /// Ingress, HPA, PDB, NetworkPolicy, CronJob, custom resources and every kind not listed
    /// above.
    Rest,
}

impl Phase {
    /// Every phase, in apply order.
    pub const ALL: [Self; 7] = [
        Self::Namespaces,
        Self::Definitions,
        Self::Access,
        Self::Configuration,
        Self::Services,
        Self::Workloads,
        Self::Rest,
    ];

    /// The phase an object belongs to.
    pub fn of(key: &ObjectRef) -> Self {
        let group = key.group();
        // Only built-in groups are matched by kind: a custom resource called `Service` is a
        // custom resource and goes last.
        if !is_builtin_group(group) {
            return Self::Rest;
        }
        match (group, key.kind.as_str()) {
            ("", "Namespace") => Self::Namespaces,
            ("apiextensions.k8s.io", "CustomResourceDefinition") => Self::Definitions,
            ("", "ServiceAccount")
            | (
                "rbac.authorization.k8s.io",
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
            ) => Self::Access,
            (
                "",
                "ConfigMap"
                | "Secret"
                | "PersistentVolumeClaim"
                | "PersistentVolume"
                | "LimitRange"
                | "ResourceQuota",
            )
            | ("storage.k8s.io", "StorageClass")
            | ("scheduling.k8s.io", "PriorityClass") => Self::Configuration,
            ("", "Service") => Self::Services,
            ("", "Pod" | "ReplicationController")
            | ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
            | ("batch", "Job") => Self::Workloads,
            _ => Self::Rest,
        }
    }

    /// A short name for logs and `::group::` titles.
    pub fn name(self) -> &'static str {
        match self {
            Self::Namespaces => "namespaces",
            Self::Definitions => "custom resource definitions",
            Self::Access => "service accounts and RBAC",
            Self::Configuration => "configuration and storage",
            Self::Services => "services",
            Self::Workloads => "workloads",
            Self::Rest => "ingress, autoscaling, policies, cron jobs and custom resources",
        }
    }
}

/// The objects of one phase, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step<'a, T> {
    pub phase: Phase,
    pub items: Vec<&'a T>,
}

/// The non-empty phases of `items` in apply order (`phases(set.manifests())`).
pub fn phases<T: AsRef<ObjectRef>>(items: &[T]) -> Vec<Step<'_, T>> {
    Phase::ALL
        .iter()
        .filter_map(|&phase| {
            let members: Vec<&T> = items
                .iter()
                .filter(|item| Phase::of(item.as_ref()) == phase)
                .collect();
            (!members.is_empty()).then_some(Step {
                phase,
                items: members,
            })
        })
        .collect()
}

/// The non-empty phases of `items` in deletion (prune) order: the reverse of [`phases`], so that
/// what points at a workload goes before it, and a namespace or CRD, which takes everything in it
/// along, goes last. Within a phase the input order is kept.
pub fn deletion_phases<T: AsRef<ObjectRef>>(items: &[T]) -> Vec<Step<'_, T>> {
    let mut steps = phases(items);
    steps.reverse();
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(api_version: &str, kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }

    const KINDS: &[(&str, &str, Phase)] = &[
        ("v1", "Namespace", Phase::Namespaces),
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            Phase::Definitions,
        ),
        ("v1", "ServiceAccount", Phase::Access),
        ("rbac.authorization.k8s.io/v1", "Role", Phase::Access),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", Phase::Access),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", Phase::Access),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            Phase::Access,
        ),
        ("v1", "ConfigMap", Phase::Configuration),
        ("v1", "Secret", Phase::Configuration),
        ("v1", "PersistentVolumeClaim", Phase::Configuration),
        ("storage.k8s.io/v1", "StorageClass", Phase::Configuration),
        (
            "scheduling.k8s.io/v1",
            "PriorityClass",
            Phase::Configuration,
        ),
        ("v1", "LimitRange", Phase::Configuration),
        ("v1", "ResourceQuota", Phase::Configuration),
        ("v1", "Service", Phase::Services),
        ("apps/v1", "Deployment", Phase::Workloads),
        ("apps/v1", "StatefulSet", Phase::Workloads),
        ("apps/v1", "DaemonSet", Phase::Workloads),
        ("apps/v1", "ReplicaSet", Phase::Workloads),
        ("batch/v1", "Job", Phase::Workloads),
        ("v1", "Pod", Phase::Workloads),
        ("networking.k8s.io/v1", "Ingress", Phase::Rest),
        ("autoscaling/v2", "HorizontalPodAutoscaler", Phase::Rest),
        ("policy/v1", "PodDisruptionBudget", Phase::Rest),
        ("networking.k8s.io/v1", "NetworkPolicy", Phase::Rest),
        ("batch/v1", "CronJob", Phase::Rest),
        ("example.com/v1", "Widget", Phase::Rest),
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            Phase::Rest,
        ),
    ];

    #[test]
    fn every_listed_kind_has_its_phase() {
        for (api_version, kind, phase) in KINDS {
            assert_eq!(Phase::of(&key(api_version, kind, "x")), *phase, "{kind}");
        }
    }

    #[test]
    fn custom_kinds_named_like_builtin_ones_go_last() {
        assert_eq!(
            Phase::of(&key("example.com/v1", "Service", "x")),
            Phase::Rest
        );
        assert_eq!(
            Phase::of(&key("example.com/v1", "Namespace", "x")),
            Phase::Rest
        );
    }

    #[test]
    fn phases_skip_empty_ones_and_keep_input_order() {
        let items = vec![
            key("apps/v1", "Deployment", "b"),
            key("v1", "ConfigMap", "c"),
            key("v1", "Namespace", "n"),
            key("apps/v1", "Deployment", "a"),
        ];
        let steps = phases(&items);
        let names: Vec<(Phase, Vec<&str>)> = steps
            .iter()
            .map(|s| (s.phase, s.items.iter().map(|k| k.name.as_str()).collect()))
            .collect();
        assert_eq!(
            names,
            vec![
                (Phase::Namespaces, vec!["n"]),
                (Phase::Configuration, vec!["c"]),
                (Phase::Workloads, vec!["b", "a"]),
            ]
        );
        let reverse: Vec<Phase> = deletion_phases(&items).iter().map(|s| s.phase).collect();
        assert_eq!(
            reverse,
            vec![Phase::Workloads, Phase::Configuration, Phase::Namespaces]
        );
    }

    #[test]
    fn no_items_no_phases() {
        assert!(phases::<ObjectRef>(&[]).is_empty());
    }

    proptest! {
        #[test]
        fn phases_are_an_ordered_permutation(picks in proptest::collection::vec(0..KINDS.len(), 0..40)) {
            let items: Vec<ObjectRef> = picks
                .iter()
                .enumerate()
                .map(|(i, &k)| key(KINDS[k].0, KINDS[k].1, &format!("o{i}")))
                .collect();
            for (steps, forward) in [(phases(&items), true), (deletion_phases(&items), false)] {
                let flat: Vec<&ObjectRef> = steps.iter().flat_map(|s| s.items.iter().copied()).collect();
                // A permutation: same length, and every item exactly once (names are unique).
                prop_assert_eq!(flat.len(), items.len());
                let mut names: Vec<&str> = flat.iter().map(|k| k.name.as_str()).collect();
                names.sort_unstable();
                names.dedup();
                prop_assert_eq!(names.len(), items.len());
                // Phases strictly ordered, each item in its own phase, input order within one.
                for pair in steps.windows(2) {
                    let ordered = if forward { pair[0].phase < pair[1].phase } else { pair[0].phase > pair[1].phase };
                    prop_assert!(ordered);
                }
                for step in &steps {
                    prop_assert!(!step.items.is_empty());
                    let positions: Vec<usize> = step.items.iter().map(|k| {
                        prop_assert_eq!(Phase::of(k), step.phase);
                        Ok(items.iter().position(|i| i == *k).unwrap_or(usize::MAX))
                    }).collect::<Result<_, TestCaseError>>()?;
                    prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }
}
