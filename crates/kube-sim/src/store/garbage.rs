//! The garbage collector, run inside the store after every write that removes an object or
//! marks one for deletion, so its effects are visible to the next request as a fast real
//! collector's would be: dependents whose owners are all gone are deleted (Background), an
//! owner deleted in the Foreground waits with the `foregroundDeletion` finalizer until its
//! blocking dependents are gone, and an owner deleted with `orphan` first has its
//! ownerReferences taken off its dependents.
//!
//! Dependents go through the ordinary deletion path, so their own finalizers and a pod's grace
//! period are honoured; when they finally leave, their owners are looked at again.

use serde_json::Value;

use super::deletion::{
    DeleteOptions, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, finalizers, is_deleting, is_released,
};
use super::{EventType, ObjectKey, Propagation, Store};

/// A bound on the collector's work per write, against ownership cycles.
const MAX_STEPS: usize = 100_000;

/// How a dependent stands towards its owners.
#[derive(Debug, Default)]
struct Owners {
    /// Owners that exist and are not waiting for their dependents to go.
    solid: Vec<String>,
    /// Owners that are gone.
    dangling: Vec<String>,
    /// Owners being deleted in the Foreground.
    waiting: Vec<String>,
}

impl Store {
    /// Asks the collector to look at the dependents (and, once gone, the owners) of `object`.
    pub(super) fn queue_garbage(&mut self, object: &Value) {
        if let Some(uid) = object.pointer("/metadata/uid").and_then(Value::as_str) {
            self.garbage.push(uid.to_owned());
        }
    }

    /// Queues what a removal affects: the removed object's dependents, and its owners (a
    /// Foreground owner may have been waiting for it).
    pub(super) fn queue_removed(&mut self, object: &Value) {
        self.queue_garbage(object);
        for owner in owner_uids(object) {
            self.garbage.push(owner);
        }
    }

    /// Runs the collector until nothing more is to be done.
    pub(super) fn settle_garbage(&mut self) {
        let mut steps = 0;
        while let Some(uid) = self.garbage.pop() {
            steps += 1;
            if steps > MAX_STEPS {
                tracing::warn!("garbage collection stopped after {MAX_STEPS} steps");
                self.garbage.clear();
                return;
            }
            self.collect(&uid);
        }
    }

    fn collect(&mut self, uid: &str) {
        let dependents = self.dependents_of(uid);
        match self.key_of_uid(uid) {
            None => {
                for key in dependents {
                    self.attempt_to_delete(&key);
                }
            }
            Some(owner_key) => {
                let Some(owner) = self.objects.get(&owner_key).cloned() else {
                    return;
                };
                if !is_deleting(&owner) {
                    return;
                }
                let held_by = finalizers(&owner);
                if held_by.iter().any(|f| f == ORPHAN_FINALIZER) {
                    for key in &dependents {
                        self.drop_owner_reference(key, &[uid.to_owned()]);
                    }
                    self.release(&owner_key, ORPHAN_FINALIZER);
                } else if held_by.iter().any(|f| f == FOREGROUND_FINALIZER) {
                    for key in &dependents {
                        self.attempt_to_delete(key);
                    }
                    let blocking = self
                        .dependents_of(uid)
                        .iter()
                        .filter_map(|k| self.objects.get(k))
                        .any(|d| blocks(d, uid));
                    if !blocking {
                        self.release(&owner_key, FOREGROUND_FINALIZER);
                    }
                }
            }
        }
    }

    /// The collector's verdict on one dependent: kept (its dangling references dropped) while
    /// it has an owner that stays, deleted otherwise: in the Foreground when an owner waits for
    /// it and it has dependents of its own, else in the Background.
    fn attempt_to_delete(&mut self, key: &ObjectKey) {
        let Some(object) = self.objects.get(key).cloned() else {
            return;
        };
        if is_deleting(&object)
            && !finalizers(&object)
                .iter()
                .any(|f| f == FOREGROUND_FINALIZER)
        {
            return;
        }
        let owners = self.classify_owners(&object);
        if !owners.solid.is_empty() {
            let gone: Vec<String> = owners.dangling.into_iter().chain(owners.waiting).collect();
            if !gone.is_empty() {
                self.drop_owner_reference(key, &gone);
            }
            return;
        }
        if is_deleting(&object) || (key.group.is_empty() && key.plural == "namespaces") {
            return;
        }
        let has_dependents = !self.dependents_of(meta_uid(&object)).is_empty();
        let propagation = if !owners.waiting.is_empty() && has_dependents {
            Propagation::Foreground
        } else {
            Propagation::Background
        };
        let Some(resource) = self.type_of(key) else {
            return;
        };
        let options = DeleteOptions {
            propagation: Some(propagation),
            ..DeleteOptions::default()
        };
        let now = self.now.clone();
        let _ = self.delete_object(&resource, key, object, &options, &now);
    }

    fn classify_owners(&self, object: &Value) -> Owners {
        let mut owners = Owners::default();
        for uid in owner_uids(object) {
            match self.key_of_uid(&uid).and_then(|k| self.objects.get(&k)) {
                None => owners.dangling.push(uid),
                Some(owner)
                    if is_deleting(owner)
                        && finalizers(owner).iter().any(|f| f == FOREGROUND_FINALIZER) =>
                {
                    owners.waiting.push(uid);
                }
                Some(_) => owners.solid.push(uid),
            }
        }
        owners
    }

    /// Takes the references to `owners` off an object.
    fn drop_owner_reference(&mut self, key: &ObjectKey, owners: &[String]) {
        let Some(mut object) = self.objects.get(key).cloned() else {
            return;
        };
        let Some(refs) = object
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        let before = refs.len();
        refs.retain(|r| {
            r.get("uid")
                .and_then(Value::as_str)
                .is_none_or(|u| !owners.iter().any(|o| o == u))
        });
        if refs.len() == before {
            return;
        }
        if refs.is_empty()
            && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
        {
            metadata.remove("ownerReferences");
        }
        self.commit(key.clone(), object, EventType::Modified);
    }

    /// Removes one of the collector's finalizers; the object goes if that was the last hold.
    fn release(&mut self, key: &ObjectKey, finalizer: &str) {
        let Some(mut object) = self.objects.get(key).cloned() else {
            return;
        };
        let remaining: Vec<String> = finalizers(&object)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            if remaining.is_empty() {
                metadata.remove("finalizers");
            } else {
                metadata.insert("finalizers".to_owned(), serde_json::json!(remaining));
            }
        }
        let stored = self.commit(key.clone(), object, EventType::Modified);
        if is_released(key, &stored) {
            self.remove(key);
        } else {
            self.queue_garbage(&stored);
        }
    }

    /// Keys of the objects with an ownerReference to `uid`.
    pub(super) fn dependents_of(&self, uid: &str) -> Vec<ObjectKey> {
        if uid.is_empty() {
            return Vec::new();
        }
        self.objects
            .iter()
            .filter(|(_, o)| owner_uids(o).iter().any(|u| u == uid))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn key_of_uid(&self, uid: &str) -> Option<ObjectKey> {
        self.objects
            .iter()
            .find(|(_, o)| meta_uid(o) == uid)
            .map(|(k, _)| k.clone())
    }

    /// The resource type an object is stored under.
    pub(super) fn type_of(&self, key: &ObjectKey) -> Option<crate::resources::ResourceType> {
        self.registry
            .all()
            .iter()
            .find(|t| t.group == key.group && t.plural == key.plural)
            .cloned()
    }
}

fn meta_uid(object: &Value) -> &str {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn owner_uids(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a dependent holds up its Foreground-deleted owner (`blockOwnerDeletion: true`).
fn blocks(dependent: &Value, owner_uid: &str) -> bool {
    dependent
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("uid").and_then(Value::as_str) == Some(owner_uid)
                    && r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
            })
        })
}
