//! How lists and maps of an object merge: the one table that both server-side apply and strategic
//! merge patch consult.
//!
//! Real Kubernetes reads this from the OpenAPI schema of each type (`x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys`, `patchMergeKey`). We only describe the fields pipewright's
//! manifests and kubectl's own patches touch; every other list is atomic, which is also what
//! Kubernetes does for a list without merge information. Custom resources get only the
//! `metadata` rules, because we do not read their schemas.

use serde_json::Value;

use crate::resources::{Registry, ResourceType};

/// One field of a keyed list's key, with the value Kubernetes assumes when an item omits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyField {
    pub name: &'static str,
    pub default: Option<&'static str>,
}

/// How a list merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole and owned as one field.
    Atomic,
    /// A set of scalars: items are merged by value (`v:` in fieldsV1).
    Set,
    /// Items are objects identified by these key fields (`k:` in fieldsV1).
    Map(&'static [KeyField]),
}

const fn key(name: &'static str) -> KeyField {
    KeyField {
        name,
        default: None,
    }
}

const BY_NAME: &[KeyField] = &[key("name")];
const BY_UID: &[KeyField] = &[key("uid")];
const BY_TYPE: &[KeyField] = &[key("type")];
const BY_IP: &[KeyField] = &[key("ip")];
const BY_MOUNT_PATH: &[KeyField] = &[key("mountPath")];
const BY_DEVICE_PATH: &[KeyField] = &[key("devicePath")];
// Kubernetes defaults the protocol of a port to TCP, so an item without one keys as TCP.
const CONTAINER_PORT: &[KeyField] = &[
    key("containerPort"),
    KeyField {
        name: "protocol",
        default: Some("TCP"),
    },
];
const SERVICE_PORT: &[KeyField] = &[
    key("port"),
    KeyField {
        name: "protocol",
        default: Some("TCP"),
    },
];
const TOPOLOGY_SPREAD: &[KeyField] = &[key("topologyKey"), key("whenUnsatisfiable")];

/// The merge rules for one resource type.
#[derive(Debug, Clone)]
pub struct Schema {
    kind: String,
    builtin: bool,
}

impl Schema {
    pub fn for_resource(resource: &ResourceType) -> Self {
        Self {
            kind: resource.kind.clone(),
            builtin: is_builtin(resource),
        }
    }

    /// Rules for a built-in kind, when no [`ResourceType`] is at hand.
    pub fn for_kind(kind: &str, builtin: bool) -> Self {
        Self {
            kind: kind.to_owned(),
            builtin,
        }
    }

    /// Whether the type is one Kubernetes itself defines (strategic merge patch is only
    /// accepted for those).
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The merge type of the list at `path` (field names from the object's root; list items
    /// are not part of the path).
    pub fn list_type(&self, path: &[&str]) -> ListType {
        match path {
            ["metadata", "ownerReferences"] => return ListType::Map(BY_UID),
            ["metadata", "finalizers"] => return ListType::Set,
            _ => {}
        }
        if !self.builtin {
            return ListType::Atomic;
        }
        if let Some(rest) = self.pod_spec_relative(path) {
            return pod_spec_list(rest);
        }
        match (self.kind.as_str(), path) {
            ("Service", ["spec", "ports"]) => ListType::Map(SERVICE_PORT),
            (_, ["status", "conditions"]) | ("Node", ["status", "addresses"]) => {
                ListType::Map(BY_TYPE)
            }
            ("Pod", ["status", "podIPs" | "hostIPs"]) => ListType::Map(BY_IP),
            _ => ListType::Atomic,
        }
    }

    /// Whether the map at `path` is replaced and owned as a whole. Kubernetes marks label
    /// selectors atomic: a workload's `spec.selector` shows up as `f:selector: {}`.
    pub fn map_is_atomic(&self, path: &[&str]) -> bool {
        if !self.builtin {
            return false;
        }
        let Some(last) = path.last() else {
            return false;
        };
        match *last {
            // A Service's (and a ReplicationController's) selector is a plain string map.
            "selector" => !matches!(self.kind.as_str(), "Service" | "ReplicationController"),
            "labelSelector" | "podSelector" | "namespaceSelector" => true,
            _ => false,
        }
    }

    /// The part of `path` below a pod spec, when `path` is inside this kind's pod spec.
    fn pod_spec_relative<'p>(&self, path: &'p [&'p str]) -> Option<&'p [&'p str]> {
        let prefix: &[&str] = match self.kind.as_str() {
            "Pod" => &["spec"],
            "PodTemplate" => &["template", "spec"],
            "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "ReplicaSet"
            | "Job"
            | "ReplicationController" => &["spec", "template", "spec"],
            "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
            _ => return None,
        };
        path.strip_prefix(prefix)
    }
}

fn pod_spec_list(rest: &[&str]) -> ListType {
    match rest {
        [
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "volumes"
            | "imagePullSecrets"
            | "resourceClaims"
            | "schedulingGates",
        ] => ListType::Map(BY_NAME),
        [
            "containers" | "initContainers" | "ephemeralContainers",
            field,
        ] => match *field {
            "env" => ListType::Map(BY_NAME),
            "ports" => ListType::Map(CONTAINER_PORT),
            "volumeMounts" => ListType::Map(BY_MOUNT_PATH),
            "volumeDevices" => ListType::Map(BY_DEVICE_PATH),
            "resizePolicy" => ListType::Map(&[KeyField {
                name: "resourceName",
                default: None,
            }]),
            _ => ListType::Atomic,
        },
        ["hostAliases"] => ListType::Map(BY_IP),
        ["topologySpreadConstraints"] => ListType::Map(TOPOLOGY_SPREAD),
        _ => ListType::Atomic,
    }
}

/// Whether Kubernetes itself defines this type (as opposed to a `CustomResourceDefinition`).
pub fn is_builtin(resource: &ResourceType) -> bool {
    Registry::builtin()
        .all()
        .iter()
        .any(|t| t.group == resource.group && t.plural == resource.plural)
}

/// The key of a keyed list item as `(field, value)` pairs sorted by field name, the order
/// Kubernetes writes them in `k:{...}`. `None` when the item is not an object or lacks a key
/// field that has no default.
pub fn item_key(item: &Value, keys: &[KeyField]) -> Option<Vec<(String, Value)>> {
    let object = item.as_object()?;
    let mut pairs = Vec::with_capacity(keys.len());
    for field in keys {
        let value = match (object.get(field.name), field.default) {
            (Some(value), _) if !value.is_null() => value.clone(),
            (_, Some(default)) => Value::String(default.to_owned()),
            _ => return None,
        };
        pairs.push((field.name.to_owned(), value));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema(kind: &str) -> Schema {
        Schema::for_kind(kind, true)
    }

    #[test]
    fn containers_are_keyed_by_name_in_every_workload() {
        let keyed = ListType::Map(BY_NAME);
        assert_eq!(schema("Pod").list_type(&["spec", "containers"]), keyed);
        assert_eq!(
            schema("Deployment").list_type(&["spec", "template", "spec", "initContainers"]),
            keyed
        );
        assert_eq!(
            schema("CronJob").list_type(&[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "spec",
                "containers"
            ]),
            keyed
        );
        // The Deployment path means nothing for a Pod.
        assert_eq!(
            schema("Pod").list_type(&["spec", "template", "spec", "containers"]),
            ListType::Atomic
        );
    }

    #[test]
    fn container_fields_and_service_ports() {
        let s = schema("StatefulSet");
        let c = ["spec", "template", "spec", "containers"];
        assert_eq!(
            s.list_type(&[&c[..], &["env"]].concat()),
            ListType::Map(BY_NAME)
        );
        assert_eq!(
            s.list_type(&[&c[..], &["ports"]].concat()),
            ListType::Map(CONTAINER_PORT)
        );
        assert_eq!(
            s.list_type(&[&c[..], &["volumeMounts"]].concat()),
            ListType::Map(BY_MOUNT_PATH)
        );
        assert_eq!(s.list_type(&[&c[..], &["args"]].concat()), ListType::Atomic);
        assert_eq!(
            s.list_type(&["spec", "template", "spec", "tolerations"]),
            ListType::Atomic
        );
        assert_eq!(
            schema("Service").list_type(&["spec", "ports"]),
            ListType::Map(SERVICE_PORT)
        );
    }

    #[test]
    fn custom_resources_only_get_metadata_rules() {
        let s = Schema::for_kind("Widget", false);
        assert_eq!(s.list_type(&["status", "conditions"]), ListType::Atomic);
        assert_eq!(s.list_type(&["metadata", "finalizers"]), ListType::Set);
        assert!(!s.map_is_atomic(&["spec", "selector"]));
    }

    #[test]
    fn selectors_are_atomic_except_on_services() {
        assert!(schema("Deployment").map_is_atomic(&["spec", "selector"]));
        assert!(!schema("Service").map_is_atomic(&["spec", "selector"]));
    }

    #[test]
    fn item_keys_use_defaults_and_sort() {
        let key = item_key(
            &json!({"protocol": "UDP", "containerPort": 53}),
            CONTAINER_PORT,
        )
        .unwrap();
        assert_eq!(
            key,
            vec![
                ("containerPort".to_owned(), json!(53)),
                ("protocol".to_owned(), json!("UDP"))
            ]
        );
        let key = item_key(&json!({"containerPort": 80}), CONTAINER_PORT).unwrap();
        assert_eq!(key[1].1, json!("TCP"));
        assert!(item_key(&json!({"image": "x"}), BY_NAME).is_none());
        assert!(item_key(&json!("web"), BY_NAME).is_none());
    }
}
