//! What we know about Kubernetes' built-in kinds without asking a cluster: which API group an
//! `apiVersion` names, whether a group is built in, and whether a built-in kind is namespaced.
//!
//! Discovery is the authority on what a cluster serves; this table is what tests, offline checks
//! and the ordering rules use, and a fallback the caller may chain after discovery.

/// The API group of an `apiVersion`: `apps` for `apps/v1`, the empty string for the core `v1`.
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(group, _)| group)
}

/// Whether `group` belongs to Kubernetes itself rather than to a CustomResourceDefinition.
///
/// A CRD's group must contain a dot, and the `*.k8s.io` namespace is reserved for the project
/// (a CRD needs an approval annotation to use it), so a dot-free group or a `.k8s.io` suffix means
/// a built-in kind. This keeps a custom resource that happens to be called `Service` or `Job` out
/// of the rules meant for the real ones.
pub fn is_builtin_group(group: &str) -> bool {
    !group.contains('.') || group.ends_with(".k8s.io")
}

/// Whether a built-in kind is namespaced, or `None` when it is not one we know.
///
/// Only the group and kind are consulted: the version a cluster serves is discovery's business.
pub fn builtin_scope(api_version: &str, kind: &str) -> Option<bool> {
    let namespaced = match (group_of(api_version), kind) {
        (
            "",
            "Pod"
            | "Service"
            | "ConfigMap"
            | "Secret"
            | "ServiceAccount"
            | "PersistentVolumeClaim"
            | "Endpoints"
            | "LimitRange"
            | "ResourceQuota"
            | "ReplicationController"
            | "PodTemplate"
            | "Event",
        )
        | (
            "apps" | "extensions",
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ControllerRevision",
        )
        | ("batch", "Job" | "CronJob")
        | ("autoscaling", "HorizontalPodAutoscaler")
        | ("policy", "PodDisruptionBudget")
        | ("networking.k8s.io" | "extensions", "Ingress" | "NetworkPolicy")
        | ("rbac.authorization.k8s.io", "Role" | "RoleBinding")
        | ("coordination.k8s.io", "Lease")
        | ("discovery.k8s.io", "EndpointSlice") => true,
        ("", "Namespace" | "Node" | "PersistentVolume")
        | ("networking.k8s.io", "IngressClass")
        | ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding")
        | ("storage.k8s.io", "StorageClass" | "CSIDriver" | "VolumeAttachment")
        | ("scheduling.k8s.io", "PriorityClass")
        | ("node.k8s.io", "RuntimeClass")
        | ("apiextensions.k8s.io", "CustomResourceDefinition")
        | ("apiregistration.k8s.io", "APIService")
        | ("certificates.k8s.io", "CertificateSigningRequest")
        | (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding",
        ) => false,
        _ => return None,
    };
    Some(namespaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        assert_eq!(group_of("v1"), "");
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("example.com/v1alpha1"), "example.com");
        assert!(is_builtin_group(""));
        assert!(is_builtin_group("apps"));
        assert!(is_builtin_group("networking.k8s.io"));
        assert!(!is_builtin_group("example.com"));
        assert!(!is_builtin_group("cluster.x-k8s.io"));
    }

    #[test]
    fn scopes() {
        assert_eq!(builtin_scope("v1", "ConfigMap"), Some(true));
        assert_eq!(builtin_scope("v1", "Namespace"), Some(false));
        assert_eq!(builtin_scope("apps/v1", "Deployment"), Some(true));
        assert_eq!(
            builtin_scope("rbac.authorization.k8s.io/v1", "ClusterRole"),
            Some(false)
        );
        assert_eq!(builtin_scope("example.com/v1", "Widget"), None);
        // The group matters: a custom kind named like a built-in one is unknown here.
        assert_eq!(builtin_scope("example.com/v1", "Deployment"), None);
    }
}
