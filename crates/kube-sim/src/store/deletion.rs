//! Deletion as the real API server stores it: `DeleteOptions` (propagation, grace period,
//! preconditions, dry run), `metadata.deletionTimestamp` and `deletionGracePeriodSeconds`,
//! finalizers that hold a deleted object until they are removed, graceful deletion of pods, and
//! namespaces that go `Terminating` until the namespace controller has emptied them.
//!
//! An object leaves the store only when nothing holds it: no finalizer, and no grace period still
//! running. What happens to its dependents is the garbage collector's business (`garbage.rs`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{EventType, ObjectKey, Propagation, Store};
use crate::api::status::ApiError;
use crate::clock::{format_time, parse_time};
use crate::resources::ResourceType;

/// The garbage collector's finalizers, added by DELETE with a propagation policy.
pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The namespace controller's finalizer, in a Namespace's `spec.finalizers`.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

/// A pod's grace period when neither the request nor the pod says otherwise.
const DEFAULT_POD_GRACE_SECONDS: i64 = 30;

/// What a DELETE asks for: the fields of `meta/v1 DeleteOptions` kube-sim honours, from the
/// query or the request body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads the options from the query and a JSON DeleteOptions body, the query winning as it
    /// does on the real server.
    pub fn from_request(query: &BTreeMap<String, String>, body: &[u8]) -> Result<Self, ApiError> {
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body).unwrap_or(Value::Null)
        };
        let text = |field: &str| {
            query
                .get(field)
                .cloned()
                .or_else(|| body.get(field).and_then(Value::as_str).map(str::to_owned))
        };
        let propagation = match text("propagationPolicy") {
            None => match orphan_dependents(query, &body) {
                Some(true) => Some(Propagation::Orphan),
                Some(false) => Some(Propagation::Background),
                None => None,
            },
            Some(policy) => Some(Propagation::parse(&policy).ok_or_else(|| {
                ApiError::invalid(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    &[(
                        "propagationPolicy",
                        format!(
                            "Unsupported value: {policy:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                        ),
                    )],
                )
            })?),
        };
        let grace_period_seconds = match query.get("gracePeriodSeconds") {
            Some(text) => Some(text.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value for gracePeriodSeconds: {text:?}: not an integer"
                ))
            })?),
            None => body.get("gracePeriodSeconds").and_then(Value::as_i64),
        };
        if grace_period_seconds.is_some_and(|g| g < 0) {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                &[(
                    "gracePeriodSeconds",
                    "Invalid value: must be >= 0".to_owned(),
                )],
            ));
        }
        let dry_run = query.get("dryRun").is_some_and(|d| d == "All")
            || body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|modes| modes.iter().any(|m| m == "All"));
        let precondition = |field: &str| {
            body.pointer(&format!("/preconditions/{field}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(Self {
            propagation,
            grace_period_seconds,
            precondition_uid: precondition("uid"),
            precondition_resource_version: precondition("resourceVersion"),
            dry_run,
        })
    }
}

/// The deprecated `orphanDependents` option.
fn orphan_dependents(query: &BTreeMap<String, String>, body: &Value) -> Option<bool> {
    query
        .get("orphanDependents")
        .map(|o| o == "true")
        .or_else(|| body.get("orphanDependents").and_then(Value::as_bool))
}

/// The outcome of a DELETE.
#[derive(Debug, Clone, PartialEq)]
pub enum Deleted {
    /// Removed from the store; the object as it was last.
    Gone(Value),
    /// Still stored, with a deletionTimestamp: finalizers or a grace period hold it.
    Deleting(Value),
}

impl Deleted {
    pub fn object(&self) -> &Value {
        match self {
            Self::Gone(o) | Self::Deleting(o) => o,
        }
    }

    /// The response body a real API server gives: the object while it is still being deleted;
    /// once removed, the object for pods (their storage returns it) and a success `Status` with
    /// the name, group, resource and uid for everything else.
    pub fn response(&self, resource: &ResourceType) -> Value {
        match self {
            Self::Deleting(object) => object.clone(),
            Self::Gone(object) if resource.group.is_empty() && resource.plural == "pods" => {
                object.clone()
            }
            Self::Gone(object) => json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": object.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
                    "group": resource.group,
                    "kind": resource.plural,
                    "uid": object.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                },
            }),
        }
    }
}

/// Whether an object has been asked to go.
pub fn is_deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

pub fn finalizers(object: &Value) -> Vec<String> {
    string_list(object.pointer("/metadata/finalizers"))
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn set_finalizers(object: &mut Value, list: &[String]) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if list.is_empty() {
        metadata.remove("finalizers");
    } else {
        metadata.insert("finalizers".to_owned(), json!(list));
    }
}

fn is_namespace(resource: &ResourceType) -> bool {
    resource.group.is_empty() && resource.plural == "namespaces"
}

fn is_pod(resource: &ResourceType) -> bool {
    resource.group.is_empty() && resource.plural == "pods"
}

/// `now + seconds`, as Kubernetes writes timestamps.
fn later(now: &str, seconds: i64) -> String {
    parse_time(now)
        .and_then(|t| t.checked_add(jiff::SignedDuration::from_secs(seconds)).ok())
        .map_or_else(|| now.to_owned(), format_time)
}

/// The finalizers after a DELETE with `propagation`: the garbage collector's two are replaced
/// by the one the policy asks for; without a policy, one already there stays (as the real
/// server's `deletionFinalizersForGarbageCollection` decides).
fn finalizers_for(current: &[String], propagation: Option<Propagation>) -> Vec<String> {
    let wanted = match propagation {
        Some(Propagation::Orphan) => Some(ORPHAN_FINALIZER),
        Some(Propagation::Foreground) => Some(FOREGROUND_FINALIZER),
        Some(Propagation::Background) => None,
        None => {
            return current.to_vec();
        }
    };
    let mut next: Vec<String> = current
        .iter()
        .filter(|f| *f != ORPHAN_FINALIZER && *f != FOREGROUND_FINALIZER)
        .cloned()
        .collect();
    if let Some(f) = wanted {
        next.push(f.to_owned());
    }
    next
}

/// The grace period a pod deletion gets: the request's, else the pod's
/// `terminationGracePeriodSeconds`; none for a pod never scheduled or already finished.
fn pod_grace_seconds(pod: &Value, requested: Option<i64>) -> i64 {
    let unscheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if unscheduled || finished {
        return 0;
    }
    requested.unwrap_or_else(|| {
        pod.pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_POD_GRACE_SECONDS)
    })
}

fn grace_of(object: &Value) -> i64 {
    object
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Starts deleting: the timestamp (`at`), the grace period, and one more generation, as the
/// real server bumps it when an object is first marked.
fn mark(object: &mut Value, at: &str, grace: i64) {
    if !is_deleting(object)
        && let Some(generation) = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .filter(|g| *g > 0)
    {
        object["metadata"]["generation"] = json!(generation + 1);
    }
    if !is_deleting(object) {
        object["metadata"]["deletionTimestamp"] = json!(at);
    }
    object["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
}

impl Store {
    /// Deletes an object as the real server does: marks it and keeps it while finalizers or a
    /// grace period hold it, removes it otherwise; dependents are then the garbage collector's.
    pub fn delete(
        &mut self,
        resource: &ResourceType,
        key: &ObjectKey,
        options: &DeleteOptions,
        now: &str,
    ) -> Result<Deleted, ApiError> {
        self.observe_time(now);
        let Some(live) = self.objects.get(key).cloned() else {
            return Err(ApiError::not_found(
                &resource.group,
                &resource.plural,
                &key.name,
            ));
        };
        check_preconditions(resource, key, &live, options)?;
        let outcome = if is_namespace(resource) {
            self.delete_namespace(key, live, options, now)
        } else {
            self.delete_object(resource, key, live, options, now)
        };
        if !options.dry_run {
            self.settle_garbage();
        }
        Ok(outcome)
    }

    pub(super) fn delete_object(
        &mut self,
        resource: &ResourceType,
        key: &ObjectKey,
        live: Value,
        options: &DeleteOptions,
        now: &str,
    ) -> Deleted {
        let mut next = live.clone();
        if is_deleting(&live) && grace_of(&live) > 0 {
            // A grace period is running: only a shorter one changes anything, and finalizers
            // can no longer be changed by DeleteOptions.
            let Some(shorter) = options
                .grace_period_seconds
                .filter(|g| *g < grace_of(&live))
            else {
                return Deleted::Deleting(live);
            };
            let requested = later(
                live.pointer("/metadata/deletionTimestamp")
                    .and_then(Value::as_str)
                    .unwrap_or(now),
                -grace_of(&live),
            );
            next["metadata"]["deletionTimestamp"] = json!(later(&requested, shorter));
            next["metadata"]["deletionGracePeriodSeconds"] = json!(shorter);
        } else {
            // An object already held by finalizers keeps its zero grace period.
            let grace = if is_pod(resource) && !is_deleting(&live) {
                pod_grace_seconds(&live, options.grace_period_seconds)
            } else {
                0
            };
            set_finalizers(
                &mut next,
                &finalizers_for(&finalizers(&live), options.propagation),
            );
            mark(&mut next, &later(now, grace), grace);
        }
        if grace_of(&next) == 0 && finalizers(&next).is_empty() {
            if options.dry_run {
                return Deleted::Gone(live);
            }
            return Deleted::Gone(self.remove(key).unwrap_or(live));
        }
        if options.dry_run {
            return Deleted::Deleting(next);
        }
        let stored = self.commit(key.clone(), next, EventType::Modified);
        self.queue_garbage(&stored);
        Deleted::Deleting(stored)
    }

    /// A namespace goes `Terminating` and stays until the namespace controller has emptied it
    /// and taken its `kubernetes` finalizer away.
    fn delete_namespace(
        &mut self,
        key: &ObjectKey,
        live: Value,
        options: &DeleteOptions,
        now: &str,
    ) -> Deleted {
        let mut next = live.clone();
        set_finalizers(
            &mut next,
            &finalizers_for(&finalizers(&live), options.propagation),
        );
        mark(&mut next, now, 0);
        next["status"]["phase"] = json!("Terminating");
        let spec_finalizers = string_list(next.pointer("/spec/finalizers"));
        if spec_finalizers.is_empty() && finalizers(&next).is_empty() {
            if options.dry_run {
                return Deleted::Gone(live);
            }
            return Deleted::Gone(self.remove(key).unwrap_or(live));
        }
        if options.dry_run || next == live {
            return Deleted::Deleting(next);
        }
        let stored = self.commit(key.clone(), next, EventType::Modified);
        self.queue_garbage(&stored);
        Deleted::Deleting(stored)
    }

    /// Whether `namespace` exists and is being deleted.
    pub fn namespace_terminating(&self, namespace: &str) -> bool {
        self.objects
            .get(&namespace_key(namespace))
            .is_some_and(is_deleting)
    }

    /// The `NamespaceLifecycle` admission check: nothing new goes into a namespace that is being
    /// terminated (403, with the real message and cause).
    pub(super) fn refuse_in_terminating_namespace(
        &self,
        resource: &ResourceType,
        path_namespace: &str,
        object: &Value,
    ) -> Result<(), ApiError> {
        if !resource.namespaced {
            return Ok(());
        }
        let namespace = if path_namespace.is_empty() {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
        } else {
            path_namespace
        };
        if !self.namespace_terminating(namespace) {
            return Ok(());
        }
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let resource_name = crate::api::status::qualified(&resource.group, &resource.plural);
        let why = format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        );
        let message = if name.is_empty() {
            format!("{resource_name} is forbidden: {why}")
        } else {
            format!("{resource_name} \"{name}\" is forbidden: {why}")
        };
        Err(
            ApiError::new(403, "Forbidden", message).with_details(json!({
                "name": name,
                "group": resource.group,
                "kind": resource.plural,
                "causes": [{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {namespace} is being terminated"),
                    "field": "metadata.namespace",
                }],
            })),
        )
    }

    /// Checks an update of `live` into `next` against the deletion rules, and carries the
    /// deletion fields over (clients cannot set or clear them).
    pub(super) fn check_deleting_update(
        resource: &ResourceType,
        live: &Value,
        next: &mut Value,
    ) -> Result<(), ApiError> {
        for field in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
            match live.pointer(&format!("/metadata/{field}")) {
                Some(value) => next["metadata"][field] = value.clone(),
                None => {
                    if let Some(m) = next.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove(field);
                    }
                }
            }
        }
        if !is_deleting(live) {
            return Ok(());
        }
        let old = finalizers(live);
        let mut added: Vec<String> = finalizers(next)
            .into_iter()
            .filter(|f| !old.contains(f))
            .collect();
        if added.is_empty() {
            return Ok(());
        }
        added.sort();
        added.dedup();
        let list = added
            .iter()
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{list}}}"
        );
        let name = live
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind_group = if resource.group.is_empty() {
            resource.kind.clone()
        } else {
            format!("{}.{}", resource.kind, resource.group)
        };
        Err(ApiError::new(
            422,
            "Invalid",
            format!("{kind_group} \"{name}\" is invalid: metadata.finalizers: {message}"),
        )
        .with_details(json!({
            "name": name,
            "group": resource.group,
            "kind": resource.kind,
            "causes": [{ "reason": "FieldValueForbidden", "message": message, "field": "metadata.finalizers" }],
        })))
    }

    /// After an update of a deleting object: removes it once nothing holds it any more (its
    /// last finalizer gone and no grace period running; for a namespace, its `spec.finalizers`
    /// empty too). Returns the object as it was last stored.
    pub(super) fn finish_if_released(&mut self, key: &ObjectKey, stored: Value) -> Value {
        if !is_deleting(&stored) {
            return stored;
        }
        let result = if is_released(key, &stored) {
            self.remove(key).unwrap_or(stored)
        } else {
            self.queue_garbage(&stored);
            stored
        };
        self.settle_garbage();
        result
    }

    /// Remembers the latest simulated time a write carried, for the deletions the garbage
    /// collector makes on behalf of writes that carry none (an update removing a finalizer).
    pub fn observe_time(&mut self, now: &str) {
        if now > self.now.as_str() {
            now.clone_into(&mut self.now);
        }
    }
}

fn check_preconditions(
    resource: &ResourceType,
    key: &ObjectKey,
    live: &Value,
    options: &DeleteOptions,
) -> Result<(), ApiError> {
    let meta = |field: &str| {
        live.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    if let Some(uid) = &options.precondition_uid
        && *uid != meta("uid")
    {
        return Err(ApiError::conflict(
            &resource.group,
            &resource.plural,
            &key.name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta("uid")
            ),
        ));
    }
    if let Some(rv) = &options.precondition_resource_version
        && *rv != meta("resourceVersion")
    {
        return Err(ApiError::conflict(
            &resource.group,
            &resource.plural,
            &key.name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in meta: {}",
                meta("resourceVersion")
            ),
        ));
    }
    Ok(())
}

/// Whether nothing holds a deleting object any more: no finalizer, no grace period running,
/// and for a namespace no `spec.finalizers` either.
pub(super) fn is_released(key: &ObjectKey, stored: &Value) -> bool {
    let namespace_held = key.group.is_empty()
        && key.plural == "namespaces"
        && !string_list(stored.pointer("/spec/finalizers")).is_empty();
    is_deleting(stored) && finalizers(stored).is_empty() && grace_of(stored) == 0 && !namespace_held
}

pub(super) fn namespace_key(name: &str) -> ObjectKey {
    ObjectKey {
        group: String::new(),
        plural: "namespaces".to_owned(),
        namespace: String::new(),
        name: name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_replaces_the_collectors_finalizers_and_none_keeps_them() {
        let current = vec!["example.com/keep".to_owned(), ORPHAN_FINALIZER.to_owned()];
        assert_eq!(
            finalizers_for(&current, Some(Propagation::Foreground)),
            ["example.com/keep", FOREGROUND_FINALIZER]
        );
        assert_eq!(
            finalizers_for(&current, Some(Propagation::Background)),
            ["example.com/keep"]
        );
        assert_eq!(finalizers_for(&current, None), current);
    }

    #[test]
    fn unscheduled_and_finished_pods_have_no_grace_period() {
        let scheduled =
            json!({ "spec": { "nodeName": "node-1", "terminationGracePeriodSeconds": 5 } });
        assert_eq!(pod_grace_seconds(&scheduled, None), 5);
        assert_eq!(pod_grace_seconds(&scheduled, Some(0)), 0);
        assert_eq!(pod_grace_seconds(&json!({ "spec": {} }), Some(10)), 0);
        let done = json!({ "spec": { "nodeName": "n" }, "status": { "phase": "Succeeded" } });
        assert_eq!(pod_grace_seconds(&done, None), 0);
    }

    #[test]
    fn options_come_from_query_and_body() {
        let mut query = BTreeMap::new();
        query.insert("gracePeriodSeconds".to_owned(), "0".to_owned());
        let body = br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","preconditions":{"uid":"u1"}}"#;
        let options = DeleteOptions::from_request(&query, body).unwrap();
        assert_eq!(options.grace_period_seconds, Some(0));
        assert_eq!(options.propagation, Some(Propagation::Foreground));
        assert_eq!(options.precondition_uid.as_deref(), Some("u1"));
        let orphan =
            DeleteOptions::from_request(&BTreeMap::new(), br#"{"orphanDependents":true}"#).unwrap();
        assert_eq!(orphan.propagation, Some(Propagation::Orphan));
    }
}
