//! The namespace controller: a Namespace being deleted (`Terminating`) is emptied — every object
//! in it deleted as a client's DELETE would be, so finalizers and pods' grace periods hold them
//! as long as they would — with the deletion conditions the real controller reports, and once
//! nothing is left its `kubernetes` finalizer is taken off and the Namespace goes.
//!
//! Like the real controller it starts a moment after the DELETE, not within it: `kubectl delete
//! -f` of a file that lists the Namespace first still finds the objects after it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::meta::{self, Condition, Stamp};
use super::pass::Pass;
use crate::store::{Change, DeleteOptions, EventType, NAMESPACE_FINALIZER, ObjectKey, is_deleting};

/// Simulated time between a namespace's DELETE and the controller's first sweep of it.
const FIRST_SWEEP_DELAY_MS: i64 = 1000;

/// How often a namespace still waiting for its contents is looked at again, when no deletion
/// wakes the controller first.
const RESYNC_MS: i64 = 5000;

/// Whether a change may matter to a terminating namespace: something went, or something is
/// being deleted (its finalizers changing, a namespace marked).
pub fn concerns(change: &Change) -> bool {
    change.event == EventType::Deleted || is_deleting(&change.object)
}

pub fn reconcile(pass: &mut Pass<'_>) {
    let Some(namespaces) = pass
        .store
        .registry()
        .by_plural("", "v1", "namespaces")
        .cloned()
    else {
        return;
    };
    let terminating: Vec<Value> = pass
        .store
        .list(&namespaces, None)
        .into_iter()
        .filter(|ns| is_deleting(ns))
        .cloned()
        .collect();
    for ns in terminating {
        sync(pass, &namespaces, &ns);
    }
}

/// What is left in a namespace: instances per resource, and per finalizer.
#[derive(Debug, Default)]
struct Remaining {
    by_resource: BTreeMap<String, usize>,
    by_finalizer: BTreeMap<String, usize>,
}

fn sync(pass: &mut Pass<'_>, namespaces: &crate::resources::ResourceType, ns: &Value) {
    let uid = meta::uid(ns).to_owned();
    let first_seen = *pass.memory.since.entry(uid).or_insert(pass.now_ms);
    if pass.now_ms < first_seen + FIRST_SWEEP_DELAY_MS {
        pass.wake_at(Some(first_seen + FIRST_SWEEP_DELAY_MS));
        return;
    }
    let name = meta::name(ns).to_owned();
    delete_contents(pass, &name);
    let remaining = remaining(pass, &name);
    let status = status(ns, &remaining, &pass.now);
    let key = ObjectKey::new(namespaces, "", &name);
    let mut stored = ns.clone();
    if ns.get("status") != Some(&status) {
        let mut next = ns.clone();
        next["status"] = status;
        match pass
            .store
            .replace(namespaces, &key, next, Some("status"), false)
        {
            Ok(s) => {
                pass.wrote = true;
                stored = s;
            }
            Err(e) => tracing::debug!(?e, "namespace controller could not write status"),
        }
    }
    if !remaining.by_resource.is_empty() {
        pass.wake_at(Some(pass.now_ms + RESYNC_MS));
        return;
    }
    // Empty: take the `kubernetes` finalizer off (the finalize subresource), which lets the
    // Namespace go once no metadata finalizer holds it.
    let finalizers: Vec<Value> = stored
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter(|f| f.as_str() != Some(NAMESPACE_FINALIZER))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut next = stored.clone();
    next["spec"]["finalizers"] = json!(finalizers);
    if next != stored {
        match pass
            .store
            .replace(namespaces, &key, next, Some("finalize"), false)
        {
            Ok(_) => pass.wrote = true,
            Err(e) => tracing::debug!(?e, "namespace controller could not finalize"),
        }
    }
}

/// Deletes every object in the namespace that is not being deleted yet.
fn delete_contents(pass: &mut Pass<'_>, namespace: &str) {
    let keys: Vec<ObjectKey> = pass
        .store
        .iter()
        .filter(|(k, o)| k.namespace == namespace && !is_deleting(o))
        .map(|(k, _)| k.clone())
        .collect();
    for key in keys {
        let Some(resource) = pass
            .store
            .registry()
            .all()
            .iter()
            .find(|t| t.group == key.group && t.plural == key.plural)
            .cloned()
        else {
            continue;
        };
        // The garbage collector may have taken it (or marked it) since the list.
        if pass.store.get(&key).is_none_or(is_deleting) {
            continue;
        }
        match pass
            .store
            .delete(&resource, &key, &DeleteOptions::default(), &pass.now)
        {
            Ok(_) => pass.wrote = true,
            Err(e) => tracing::debug!(?e, "namespace controller could not delete"),
        }
    }
}

fn remaining(pass: &Pass<'_>, namespace: &str) -> Remaining {
    let mut left = Remaining::default();
    for (key, object) in pass.store.iter().filter(|(k, _)| k.namespace == namespace) {
        // As the real controller names them: resource.group (`pods.` for the core group).
        *left
            .by_resource
            .entry(format!("{}.{}", key.plural, key.group))
            .or_default() += 1;
        for finalizer in crate::store::finalizers(object) {
            *left.by_finalizer.entry(finalizer).or_default() += 1;
        }
    }
    left
}

/// The status the real controller writes while it empties a namespace.
fn status(ns: &Value, remaining: &Remaining, now: &str) -> Value {
    let mut conditions: Vec<Value> = ns
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ok = [
        (
            "NamespaceDeletionDiscoveryFailure",
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        (
            "NamespaceDeletionContentFailure",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
    ];
    for (kind, reason, message) in ok {
        set(&mut conditions, kind, "False", reason, message, now);
    }
    if remaining.by_resource.is_empty() {
        set(
            &mut conditions,
            "NamespaceContentRemaining",
            "False",
            "ContentRemoved",
            "All content successfully removed",
            now,
        );
    } else {
        let list: Vec<String> = remaining
            .by_resource
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        let message = format!("Some resources are remaining: {}", list.join(", "));
        set(
            &mut conditions,
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            &message,
            now,
        );
    }
    if remaining.by_finalizer.is_empty() {
        set(
            &mut conditions,
            "NamespaceFinalizersRemaining",
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
            now,
        );
    } else {
        let list: Vec<String> = remaining
            .by_finalizer
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        let message = format!(
            "Some content in the namespace has finalizers remaining: {}",
            list.join(", ")
        );
        set(
            &mut conditions,
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            &message,
            now,
        );
    }
    json!({ "phase": "Terminating", "conditions": conditions })
}

fn set(
    conditions: &mut Vec<Value>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    let condition = Condition {
        kind,
        status,
        reason,
        message,
    };
    meta::set_condition(conditions, condition, now, Stamp::TransitionOnly);
}
