//! The object store: every object by resource and name, one global resourceVersion, and the
//! recent history of changes that watches replay from.
//!
//! All writes go through here, from API handlers and controllers alike, so the rules real
//! clients rely on hold everywhere: a uid and creationTimestamp on create, a new resourceVersion on
//! every real change and none on a no-op, generation moving only when the spec changes, stale
//! resourceVersions refused. Deletion (finalizers, grace periods, namespaces) is in
//! `store/deletion.rs`, and the garbage collector that follows ownerReferences in
//! `store/garbage.rs`.

mod deletion;
mod garbage;

pub use deletion::{
    DeleteOptions, Deleted, FOREGROUND_FINALIZER, NAMESPACE_FINALIZER, ORPHAN_FINALIZER,
    finalizers, is_deleting,
};

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::api::status::{ApiError, qualified};
use crate::defaults;
use crate::resources::{Registry, ResourceType};

/// Where an object lives. Cluster-scoped objects have an empty namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(resource: &ResourceType, namespace: &str, name: &str) -> Self {
        Self {
            group: resource.group.clone(),
            plural: resource.plural.clone(),
            namespace: if resource.namespaced {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }
}

/// The kind of change a watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug, Clone)]
pub struct Change {
    pub resource_version: u64,
    pub event: EventType,
    pub key: ObjectKey,
    pub object: Arc<Value>,
}

/// How to treat the dependents of a deleted object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Background" => Some(Self::Background),
            "Foreground" => Some(Self::Foreground),
            "Orphan" => Some(Self::Orphan),
            _ => None,
        }
    }
}

/// How many changes are kept for watches to resume from; older resourceVersions get 410 Gone.
pub const DEFAULT_HISTORY: usize = 50_000;

/// The namespaces every cluster starts with.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

#[derive(Debug)]
pub struct Store {
    registry: Registry,
    objects: BTreeMap<ObjectKey, Value>,
    resource_version: u64,
    history: VecDeque<Change>,
    history_limit: usize,
    changes: broadcast::Sender<Change>,
    /// The latest simulated time a write carried (see `observe_time`).
    now: String,
    /// Uids the garbage collector has still to look at.
    garbage: Vec<String>,
}

impl Store {
    /// A store holding the initial namespaces, timestamped `now`.
    pub fn new(history_limit: usize, now: &str) -> Self {
        let (changes, _) = broadcast::channel(4096);
        let mut store = Self {
            registry: Registry::builtin(),
            objects: BTreeMap::new(),
            resource_version: 1000,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            changes,
            now: now.to_owned(),
            garbage: Vec::new(),
        };
        let namespaces = store.registry.by_plural("", "v1", "namespaces").cloned();
        for name in INITIAL_NAMESPACES {
            if let Some(rt) = &namespaces {
                let ns = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } });
                let _ = store.create(rt, "", ns, now, false);
            }
        }
        store
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// A receiver of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The changes after `resource_version`, or `None` when that is older than the history kept.
    pub fn changes_since(&self, resource_version: u64) -> Option<Vec<Change>> {
        let oldest = self
            .history
            .front()
            .map_or(self.resource_version, |c| c.resource_version);
        if resource_version + 1 < oldest {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|c| c.resource_version > resource_version)
                .cloned()
                .collect(),
        )
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of a resource, in one namespace or all, in name order.
    pub fn list(&self, resource: &ResourceType, namespace: Option<&str>) -> Vec<&Value> {
        // Keys sort by group, plural, namespace, name: one kind (in one namespace) is a range.
        let namespace = namespace.filter(|_| resource.namespaced);
        let start = ObjectKey {
            group: resource.group.clone(),
            plural: resource.plural.clone(),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(|(k, _)| {
                k.group == resource.group
                    && k.plural == resource.plural
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(_, v)| v)
            .collect()
    }

    /// Every object, for controllers and garbage collection.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &Value)> {
        self.objects.iter()
    }

    /// Creates an object. `namespace` is the one from the request path ("" for cluster-scoped).
    pub fn create(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        mut object: Value,
        now: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        check_type(resource, &mut object)?;
        self.observe_time(now);
        self.refuse_in_terminating_namespace(resource, namespace, &object)?;
        let key = self.place(resource, namespace, &mut object)?;
        let name = key.name.clone();
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(
                &resource.group,
                &resource.plural,
                &name,
            ));
        }
        if resource.group == "apiextensions.k8s.io"
            && resource.plural == "customresourcedefinitions"
        {
            self.check_crd(&object)?;
        }

        defaults::apply(resource, &mut object, None, self.objects.len());
        let metadata = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ApiError::internal("metadata vanished"))?;
        metadata.insert("uid".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
        metadata.insert("creationTimestamp".to_owned(), json!(now));
        metadata.insert("generation".to_owned(), json!(1));
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            metadata.remove(field);
        }
        if dry_run {
            object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
            return Ok(object);
        }
        if resource.group == "apiextensions.k8s.io"
            && resource.plural == "customresourcedefinitions"
        {
            self.registry
                .add_crd(&object)
                .map_err(|why| invalid(resource, &name, "spec", &why))?;
            defaults::establish_crd(&mut object, now);
        }
        Ok(self.commit(key, object, EventType::Added))
    }

    /// Settles a new object's name (from `generateName` if need be) and namespace, checking
    /// both, and returns where it will be stored.
    fn place(
        &self,
        resource: &ResourceType,
        namespace: &str,
        object: &mut Value,
    ) -> Result<ObjectKey, ApiError> {
        let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Err(invalid(
                resource,
                "",
                "metadata",
                "Required value: metadata is required",
            ));
        };
        if metadata
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let Some(prefix) = metadata.get("generateName").and_then(Value::as_str) else {
                return Err(invalid(
                    resource,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            };
            let name = format!("{prefix}{}", random_suffix());
            metadata.insert("name".to_owned(), json!(name));
        }
        let name = metadata
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        // RBAC objects are named like path segments (`system:discovery`), not DNS names.
        let checked = if resource.group == "rbac.authorization.k8s.io" {
            crate::rbac::valid_path_segment_name(&name)
        } else {
            valid_name(&name)
        };
        if let Err(why) = checked {
            let message = format!("Invalid value: {name:?}: {why}");
            return Err(invalid(resource, &name, "metadata.name", &message));
        }
        if !resource.namespaced {
            metadata.remove("namespace");
            return Ok(ObjectKey::new(resource, "", &name));
        }
        let in_body = metadata.get("namespace").and_then(Value::as_str);
        if in_body.is_some_and(|ns| !namespace.is_empty() && ns != namespace) {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let ns = if namespace.is_empty() {
            in_body.unwrap_or("default")
        } else {
            namespace
        }
        .to_owned();
        if !self.namespace_exists(&ns) {
            return Err(ApiError::not_found("", "namespaces", &ns));
        }
        metadata.insert("namespace".to_owned(), json!(ns));
        Ok(ObjectKey::new(resource, &ns, &name))
    }

    /// Replaces an object (PUT, and the result of a patch or an apply). A `resourceVersion` in the
    /// new object must match the stored one. With `subresource == Some("status")` only the
    /// status is taken; otherwise the status is kept when the type has a status subresource.
    /// Returns the stored object, unchanged (same resourceVersion) when nothing changed.
    pub fn replace(
        &mut self,
        resource: &ResourceType,
        key: &ObjectKey,
        mut object: Value,
        subresource: Option<&str>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        check_type(resource, &mut object)?;
        let Some(live) = self.objects.get(key) else {
            return Err(ApiError::not_found(
                &resource.group,
                &resource.plural,
                &key.name,
            ));
        };
        let live_rv = live
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(rv) = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && !rv.is_empty()
            && rv != live_rv
        {
            return Err(ApiError::conflict(
                &resource.group,
                &resource.plural,
                &key.name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        if object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .is_some_and(|n| n != key.name)
        {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }

        let mut next = if subresource == Some("finalize") {
            // A Namespace's finalize subresource: only `spec.finalizers` is taken.
            let mut next = live.clone();
            next["spec"]["finalizers"] = object
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or_else(|| json!([]));
            next
        } else if subresource == Some("status") {
            let mut next = live.clone();
            next["status"] = object.get("status").cloned().unwrap_or(Value::Null);
            if let Some(fields) = object.pointer("/metadata/managedFields") {
                next["metadata"]["managedFields"] = fields.clone();
            }
            next
        } else {
            if resource.status_subresource {
                match live.get("status") {
                    Some(status) => object["status"] = status.clone(),
                    None => {
                        if let Some(o) = object.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            object
        };
        // Identity and server-owned fields come from the stored object, whatever the client sent.
        for field in [
            "uid",
            "creationTimestamp",
            "generation",
            "name",
            "namespace",
            "resourceVersion",
        ] {
            match live.pointer(&format!("/metadata/{field}")) {
                Some(value) => next["metadata"][field] = value.clone(),
                None => {
                    if let Some(m) = next.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove(field);
                    }
                }
            }
        }
        Self::check_deleting_update(resource, live, &mut next)?;
        defaults::apply(resource, &mut next, Some(live), 0);
        if spec_of(&next, resource) != spec_of(live, resource) {
            let generation = live
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            next["metadata"]["generation"] = json!(generation + 1);
        }
        if next == *live {
            return Ok(next);
        }
        if dry_run {
            return Ok(next);
        }
        let stored = self.commit(key.clone(), next, EventType::Modified);
        Ok(self.finish_if_released(key, stored))
    }

    /// Takes an object out of the store for good, and queues what that affects for the garbage
    /// collector (a CRD takes its custom objects with it).
    fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.record(key.clone(), object.clone(), EventType::Deleted);
        self.queue_removed(&object);
        if key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions" {
            self.drop_crd(&object);
        }
        Some(object)
    }

    fn drop_crd(&mut self, crd: &Value) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let custom: Vec<ObjectKey> = self
            .objects
            .keys()
            .filter(|k| k.group == group && k.plural == plural)
            .cloned()
            .collect();
        for key in custom {
            self.remove(&key);
        }
        self.registry.remove_crd(&group, &plural);
    }

    /// Stores an object with a new resourceVersion and tells the watchers.
    fn commit(&mut self, key: ObjectKey, mut object: Value, event: EventType) -> Value {
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.objects.insert(key.clone(), object.clone());
        self.record(key, object.clone(), event);
        object
    }

    fn record(&mut self, key: ObjectKey, object: Value, event: EventType) {
        let change = Change {
            resource_version: self.resource_version,
            event,
            key,
            object: Arc::new(object),
        };
        if self.history.len() >= self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        // No receivers is normal (nobody watching).
        let _ = self.changes.send(change);
    }

    fn namespace_exists(&self, name: &str) -> bool {
        self.objects.contains_key(&deletion::namespace_key(name))
    }

    fn check_crd(&self, crd: &Value) -> Result<(), ApiError> {
        let mut probe = self.registry.clone();
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name != format!("{plural}.{group}") {
            return Err(ApiError::invalid(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                name,
                &[(
                    "metadata.name",
                    format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
                )],
            ));
        }
        probe.add_crd(crd).map(|_| ()).map_err(|why| {
            ApiError::invalid(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                name,
                &[("spec", why)],
            )
        })
    }
}

/// The part of an object whose change moves `generation`: everything but metadata, and but
/// status for types with a status subresource.
fn spec_of<'a>(object: &'a Value, resource: &ResourceType) -> Vec<(&'a String, &'a Value)> {
    object
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| {
                    k.as_str() != "metadata"
                        && !(resource.status_subresource && k.as_str() == "status")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The body's apiVersion and kind must be the resource's (filled in when absent).
fn check_type(resource: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let api_version = resource.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
        _ => {
            map.insert("apiVersion".to_owned(), json!(api_version));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != resource.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind
            )));
        }
        _ => {
            map.insert("kind".to_owned(), json!(resource.kind));
        }
    }
    Ok(())
}

fn invalid(resource: &ResourceType, name: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        &resource.group,
        &resource.kind,
        name,
        &[(field, message.to_owned())],
    )
}

/// A DNS-1123 subdomain, as most object names must be.
fn valid_name(name: &str) -> Result<(), &'static str> {
    if name.len() > 253 {
        return Err("must be no more than 253 characters");
    }
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ok_ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok_chars && ok_ends {
        Ok(())
    } else {
        Err(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        )
    }
}

/// Five characters for `generateName`, as Kubernetes adds.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4();
    bytes.as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// `deployments.apps "web"`, for messages.
pub fn describe(key: &ObjectKey) -> String {
    format!("{} \"{}\"", qualified(&key.group, &key.plural), key.name)
}
