//! One reconcile pass: the resource types controllers write, an index of the objects they
//! manage (by kind, and children by controlling owner), the memory kept between passes, and the
//! write helpers that count what really changed.
//!
//! A pass is level-triggered: it looks at everything it manages. To stay cheap, each object is
//! skipped when its fingerprint (its own resourceVersion and its children's) is the one seen last
//! time and no simulated deadline of its has come.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::hash::fnv;
use super::meta;
use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::sim::Sim;
use crate::store::{DeleteOptions, Deleted, ObjectKey, Store};

/// The kinds controllers manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Pod,
    Node,
    Event,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    ControllerRevision,
    Job,
    Service,
    Ingress,
    Claim,
}

const KINDS: &[(Kind, &str, &str, &str)] = &[
    (Kind::Pod, "", "v1", "pods"),
    (Kind::Node, "", "v1", "nodes"),
    (Kind::Event, "", "v1", "events"),
    (Kind::Deployment, "apps", "v1", "deployments"),
    (Kind::ReplicaSet, "apps", "v1", "replicasets"),
    (Kind::StatefulSet, "apps", "v1", "statefulsets"),
    (Kind::DaemonSet, "apps", "v1", "daemonsets"),
    (
        Kind::ControllerRevision,
        "apps",
        "v1",
        "controllerrevisions",
    ),
    (Kind::Job, "batch", "v1", "jobs"),
    (Kind::Service, "", "v1", "services"),
    (Kind::Ingress, "networking.k8s.io", "v1", "ingresses"),
    (Kind::Claim, "", "v1", "persistentvolumeclaims"),
];

impl Kind {
    pub fn of(group: &str, plural: &str) -> Option<Self> {
        KINDS
            .iter()
            .find(|(_, g, _, p)| *g == group && *p == plural)
            .map(|(k, ..)| *k)
    }
}

/// The resource types controllers write, looked up once.
#[derive(Debug, Clone)]
pub struct Types {
    types: HashMap<Kind, ResourceType>,
}

impl Types {
    pub fn new(store: &Store) -> Option<Self> {
        let mut types = HashMap::new();
        for (kind, group, version, plural) in KINDS {
            types.insert(
                *kind,
                store.registry().by_plural(group, version, plural)?.clone(),
            );
        }
        Some(Self { types })
    }

    pub fn get(&self, kind: Kind) -> &ResourceType {
        // Every kind was inserted by `new`, which fails otherwise.
        &self.types[&kind]
    }

    pub fn key(&self, kind: Kind, namespace: &str, name: &str) -> ObjectKey {
        ObjectKey::new(self.get(kind), namespace, name)
    }
}

/// The objects of one pass, listed at its start. Objects created during the pass are seen by the
/// next one.
#[derive(Debug, Default)]
pub struct Index {
    pub by_kind: HashMap<Kind, Vec<ObjectKey>>,
    /// Controlling owner uid → dependants.
    pub children: HashMap<String, Vec<ObjectKey>>,
    /// Controlling owner uid → hash of its dependants' resourceVersions.
    child_prints: HashMap<String, u64>,
}

impl Index {
    pub fn build(store: &Store) -> Self {
        let mut index = Self::default();
        for (key, object) in store.iter() {
            let Some(kind) = Kind::of(&key.group, &key.plural) else {
                continue;
            };
            if kind == Kind::Event {
                continue;
            }
            index.by_kind.entry(kind).or_default().push(key.clone());
            if let Some(owner) = meta::controller_uid(object) {
                let rv = meta::text(object, "/metadata/resourceVersion");
                let print = index.child_prints.entry(owner.to_owned()).or_insert(0);
                *print = print.wrapping_add(fnv(&[rv.as_bytes(), key.name.as_bytes()]));
                index
                    .children
                    .entry(owner.to_owned())
                    .or_default()
                    .push(key.clone());
            }
        }
        index
    }

    pub fn of(&self, kind: Kind) -> &[ObjectKey] {
        self.by_kind.get(&kind).map_or(&[], Vec::as_slice)
    }

    pub fn children_of(&self, uid: &str) -> &[ObjectKey] {
        self.children.get(uid).map_or(&[], Vec::as_slice)
    }

    /// The fingerprint of an object and its dependants.
    pub fn print(&self, object: &Value) -> u64 {
        let own = fnv(&[meta::text(object, "/metadata/resourceVersion").as_bytes()]);
        own ^ self
            .child_prints
            .get(meta::uid(object))
            .copied()
            .unwrap_or(0)
            .rotate_left(17)
    }
}

/// What an object looked like when last reconciled, and when it next needs attention.
#[derive(Debug, Clone, Copy)]
struct Seen {
    print: u64,
    due_ms: Option<i64>,
}

/// Memory kept between passes.
#[derive(Debug, Default)]
pub struct Memory {
    seen: HashMap<String, Seen>,
    /// Per pod uid: its scripted behaviour and timeline.
    pub pods: HashMap<String, super::pods::PodRuntime>,
    /// Per object uid: when (simulated ms) a controller first saw it in its current shape, for
    /// delays such as a load balancer's.
    pub since: HashMap<String, i64>,
}

/// One pass over the store, with the store locked.
pub struct Pass<'a> {
    pub store: &'a mut Store,
    pub sim: &'a Sim,
    pub types: &'a Types,
    pub memory: &'a mut Memory,
    pub index: Index,
    pub now_ms: i64,
    /// `now` as Kubernetes writes timestamps.
    pub now: String,
    pub wrote: bool,
    due_ms: Option<i64>,
    visited: HashSet<String>,
}

impl std::fmt::Debug for Pass<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pass")
            .field("now", &self.now)
            .field("wrote", &self.wrote)
            .finish_non_exhaustive()
    }
}

impl<'a> Pass<'a> {
    pub fn new(
        store: &'a mut Store,
        sim: &'a Sim,
        types: &'a Types,
        memory: &'a mut Memory,
        now_ms: i64,
    ) -> Self {
        let index = Index::build(store);
        let now = crate::clock::format_time(
            jiff::Timestamp::from_millisecond(now_ms).unwrap_or_else(|_| sim.clock.now()),
        );
        store.observe_time(&now);
        Self {
            store,
            sim,
            types,
            memory,
            index,
            now_ms,
            now,
            wrote: false,
            due_ms: None,
            visited: HashSet::new(),
        }
    }

    /// The object at `key`, when it needs reconciling: it changed (or its dependants did, or
    /// `extra`, a hash of anything else it depends on) since last time, or a deadline of its has
    /// come. `None` when it is gone or can be skipped.
    pub fn changed(&mut self, key: &ObjectKey, extra: u64) -> Option<Value> {
        let object = self.store.get(key)?;
        let uid = meta::uid(object).to_owned();
        let print = self.index.print(object) ^ extra;
        let skip = match self.memory.seen.get(&uid) {
            Some(seen) if seen.print == print && seen.due_ms.is_none_or(|d| d > self.now_ms) => {
                Some(seen.due_ms)
            }
            _ => None,
        };
        let object = match skip {
            Some(due) => {
                self.wake_at(due);
                None
            }
            None => Some(object.clone()),
        };
        self.visited.insert(uid);
        object
    }

    /// Records that `object` (as it was when `changed` returned it) was reconciled, and when it
    /// next needs a look (simulated ms).
    pub fn done(&mut self, object: &Value, extra: u64, due_ms: Option<i64>) {
        let print = self.index.print(object) ^ extra;
        self.memory
            .seen
            .insert(meta::uid(object).to_owned(), Seen { print, due_ms });
        self.wake_at(due_ms);
    }

    /// Asks for another pass at `due_ms` (simulated).
    pub fn wake_at(&mut self, due_ms: Option<i64>) {
        if let Some(due) = due_ms {
            self.due_ms = Some(self.due_ms.map_or(due, |d| d.min(due)));
        }
    }

    /// Ends the pass: forgets objects that are gone and returns when the next one is due.
    pub fn finish(self) -> (bool, Option<i64>) {
        let visited = self.visited;
        self.memory.seen.retain(|uid, _| visited.contains(uid));
        (self.wrote, self.due_ms)
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Value> {
        self.store.get(key).cloned()
    }

    pub fn create(&mut self, kind: Kind, namespace: &str, object: Value) -> Option<Value> {
        let rt = self.types.get(kind).clone();
        match self.store.create(&rt, namespace, object, &self.now, false) {
            Ok(created) => {
                self.wrote = true;
                Some(created)
            }
            Err(e) => {
                log_failure("create", &rt, &e);
                None
            }
        }
    }

    /// Writes the whole object (spec and metadata; status is kept by the store).
    pub fn replace(&mut self, kind: Kind, object: Value) -> Option<Value> {
        self.write(kind, object, None)
    }

    /// Writes only `status`, when it differs from what is stored. Returns the stored object.
    pub fn set_status(&mut self, kind: Kind, live: &Value, status: Value) -> Value {
        if live.get("status") == Some(&status) {
            return live.clone();
        }
        let mut next = live.clone();
        next["status"] = status;
        self.write(kind, next, Some("status"))
            .unwrap_or_else(|| live.clone())
    }

    fn write(&mut self, kind: Kind, object: Value, subresource: Option<&str>) -> Option<Value> {
        let rt = self.types.get(kind).clone();
        let key = ObjectKey::new(&rt, meta::namespace(&object), meta::name(&object));
        let before = self.store.get(&key).map(meta::resource_version);
        match self.store.replace(&rt, &key, object, subresource, false) {
            Ok(stored) => {
                if before != Some(meta::resource_version(&stored)) {
                    self.wrote = true;
                }
                Some(stored)
            }
            Err(e) => {
                log_failure("update", &rt, &e);
                None
            }
        }
    }

    /// Deletes as a controller does (Background propagation, the object's own grace period).
    pub fn delete(&mut self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.delete_with(kind, namespace, name, &DeleteOptions::default())
    }

    pub fn delete_with(
        &mut self,
        kind: Kind,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Option<Value> {
        let rt = self.types.get(kind).clone();
        let key = ObjectKey::new(&rt, namespace, name);
        let before = self.store.get(&key).map(meta::resource_version);
        match self.store.delete(&rt, &key, options, &self.now) {
            Ok(deleted) => {
                if matches!(deleted, Deleted::Gone(_))
                    || before != Some(meta::resource_version(deleted.object()))
                {
                    self.wrote = true;
                }
                Some(deleted.object().clone())
            }
            Err(e) => {
                log_failure("delete", &rt, &e);
                None
            }
        }
    }

    /// The objects of `kind` owned (as controller) by `owner`, as stored now.
    pub fn owned(&self, kind: Kind, owner: &Value) -> Vec<Value> {
        let rt = self.types.get(kind);
        self.index
            .children_of(meta::uid(owner))
            .iter()
            .filter(|k| k.group == rt.group && k.plural == rt.plural)
            .filter_map(|k| self.store.get(k).cloned())
            .collect()
    }
}

fn log_failure(what: &str, rt: &ResourceType, error: &ApiError) {
    tracing::debug!(resource = %rt.plural, ?error, "controller could not {what}");
}
