//! Server-side apply and `metadata.managedFields`: who owns which field of an object, how an
//! applied configuration merges into it, and when two managers conflict.
//!
//! The model is the API server's (structured-merge-diff): an applier owns exactly the fields of
//! its last applied configuration; any other write takes the fields it changes away from their
//! owners; an apply that would change a field someone else owns is refused unless forced.

pub mod conflict;
pub mod fieldset;
pub mod managers;
pub mod schema;
pub mod scope;
pub mod strategic;
pub mod typed;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use crate::api::status::ApiError;
use crate::resources::{Registry, ResourceType};
use conflict::Conflict;
use fieldset::{FieldSet, display_path};
use managers::{APPLY, ManagedEntry, UPDATE};
use schema::Schema;
use scope::Scope;

/// The manager Kubernetes names as owner of everything an object held before its first apply.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Server-side apply of `applied` (the body of an apply-patch request, already parsed to JSON) by
/// `manager` onto `live` (None = the object does not exist yet: create). Returns the new object,
/// with `metadata.managedFields` updated (operation `Apply`, `fieldsType` `FieldsV1`, time = now,
/// apiVersion of the applied object). The caller stores it (it sets resourceVersion, uid,
/// generation, creationTimestamp itself). `subresource` is Some("status") for apply to /status.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: &str,
    resource: &ResourceType,
) -> Result<Value, ApiError> {
    let api_version = check_applied(live, applied, resource)?;
    if live.is_none() && subresource.is_some() {
        let name = applied
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Err(ApiError::not_found(&resource.group, &resource.plural, name));
    }
    let scope = Scope::new(subresource, resource.status_subresource);
    let schema = Schema::for_resource(resource);
    let config = scope.config(applied);
    let applied_set = typed::field_set(&schema, &scope.tracked(&config)).map_err(|e| {
        ApiError::bad_request(format!(
            "failed to create typed patch object ({}): {e}",
            gvk_name(applied)
        ))
    })?;
    let applied_set = Scope::owned(&applied_set);

    let live_object = live.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
    let mut entries = match live {
        Some(live) if has_managed_fields(live) => managers::read(live),
        Some(_) => before_first_apply(&schema, scope, &live_object, now),
        None => Vec::new(),
    };

    let mut merged = typed::merge(&schema, &live_object, &config);
    let position = entries
        .iter()
        .position(|e| e.is(manager, APPLY, &api_version, subresource));
    let last = position
        .map(|i| entries[i].fields.clone())
        .unwrap_or_default();
    let own = if let Some(i) = position {
        i
    } else {
        entries.push(ManagedEntry {
            manager: manager.to_owned(),
            operation: APPLY.to_owned(),
            api_version: api_version.clone(),
            time: None,
            subresource: subresource.map(str::to_owned),
            fields: FieldSet::new(),
        });
        entries.len() - 1
    };
    entries[own].fields = applied_set;
    entries[own].api_version.clone_from(&api_version);

    let owned = entries
        .iter()
        .fold(Scope::unowned(), |all, e| all.union(&e.fields));
    typed::prune(&schema, &mut merged, &last, &owned);

    let changes = typed::compare(
        &schema,
        Some(&scope.tracked(&live_object)),
        Some(&scope.tracked(&merged)),
    );
    let taken = Scope::owned(&changes.added.union(&changes.modified));
    let removed = Scope::owned(&changes.removed);
    let conflicts = find_conflicts(&entries, own, &taken);
    if !conflicts.is_empty() && !force {
        return Err(conflict::error(&conflicts));
    }
    for (i, entry) in entries.iter_mut().enumerate() {
        if i != own {
            entry.fields = entry.fields.difference(&taken).difference(&removed);
        }
    }
    // An apply that changes nothing leaves the object as it was, times included, as Kubernetes
    // does; a manager new to the object still gets a time (Kubernetes leaves it out).
    if merged != live_object || entries[own].time.is_none() {
        entries[own].time = Some(now.to_owned());
    }
    managers::write(&mut merged, entries);
    Ok(merged)
}

/// Records a non-apply write (create, update/PUT, merge/json/strategic patch) by `manager` in
/// `new.metadata.managedFields` (operation "Update"): the fields whose values changed from `old`
/// (all set fields on create) become owned by this manager, and are taken away from every other
/// manager, appliers included (an update never conflicts). Entries with empty field sets are
/// dropped.
///
/// Without the resource type at hand, whether `status` belongs to the main resource is looked up
/// among the built-in types; use [`record_update_for`] when the type is known.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = new.get("kind").and_then(Value::as_str).unwrap_or_default();
    let registry = Registry::builtin();
    let builtin = registry.by_kind(api_version, kind);
    let schema = Schema::for_kind(kind, builtin.is_some());
    let scope = Scope::new(subresource, builtin.is_some_and(|t| t.status_subresource));
    record(&schema, scope, old, new, manager, subresource, now);
}

/// [`record_update`] for a known resource type.
pub fn record_update_for(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
    resource: &ResourceType,
) {
    let scope = Scope::new(subresource, resource.status_subresource);
    record(
        &Schema::for_resource(resource),
        scope,
        old,
        new,
        manager,
        subresource,
        now,
    );
}

fn record(
    schema: &Schema,
    scope: Scope,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let supplied = new
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    let previous = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .and_then(Value::as_array);
    // A writer that sends managedFields of its own replaces them (`[{}]` clears them), as on a
    // real server; echoing back what it read changes nothing.
    let mut entries = match supplied {
        Some(list) if Some(list) != previous => managers::read(new),
        _ => old.map(managers::read).unwrap_or_default(),
    };
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let old_view = old.map_or_else(|| Value::Object(Map::new()), |o| scope.tracked(o));
    let changes = typed::compare(schema, Some(&old_view), Some(&scope.tracked(new)));
    let taken = Scope::owned(&changes.added.union(&changes.modified));
    let removed = Scope::owned(&changes.removed);
    for entry in &mut entries {
        entry.fields = entry.fields.difference(&taken).difference(&removed);
    }
    if !taken.is_empty() {
        let own = entries
            .iter()
            .position(|e| e.is(manager, UPDATE, &api_version, subresource));
        match own {
            Some(i) => {
                entries[i].fields = entries[i].fields.union(&taken);
                entries[i].time = Some(now.to_owned());
            }
            None => entries.push(ManagedEntry {
                manager: manager.to_owned(),
                operation: UPDATE.to_owned(),
                api_version,
                time: Some(now.to_owned()),
                subresource: subresource.map(str::to_owned),
                fields: taken,
            }),
        }
    }
    managers::write(new, entries);
}

/// Checks the applied object's identity against the type and the live object; returns its
/// apiVersion.
fn check_applied(
    live: Option<&Value>,
    applied: &Value,
    resource: &ResourceType,
) -> Result<String, ApiError> {
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration must be an object",
        ));
    }
    let text = |pointer: &str| {
        applied
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let api_version = text("/apiVersion")
        .ok_or_else(|| ApiError::bad_request("apiVersion must be set in the applied object"))?;
    let kind = text("/kind")
        .ok_or_else(|| ApiError::bad_request("kind must be set in the applied object"))?;
    let name = text("/metadata/name")
        .ok_or_else(|| ApiError::bad_request("metadata.name must be set in the applied object"))?;
    let expected = resource.api_version();
    if api_version != expected {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected})"
        )));
    }
    if kind != resource.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            resource.kind
        )));
    }
    if applied
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    if let Some(live) = live {
        let live_name = live
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if live_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({live_name})"
            )));
        }
    }
    if let Some(version) = text("/metadata/resourceVersion") {
        let live_version = live
            .and_then(|l| l.pointer("/metadata/resourceVersion"))
            .and_then(Value::as_str);
        if live_version != Some(version) {
            return Err(ApiError::conflict(
                &resource.group,
                &resource.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
    }
    Ok(api_version.to_owned())
}

/// The fields other managers own that this apply changes, grouped by manager in a stable order.
fn find_conflicts(entries: &[ManagedEntry], own: usize, taken: &FieldSet) -> Vec<Conflict> {
    let mut others: Vec<&ManagedEntry> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != own)
        .map(|(_, e)| e)
        .collect();
    others.sort_by_key(|e| e.describe());
    others
        .into_iter()
        .flat_map(|entry| {
            let manager = entry.describe();
            entry
                .fields
                .intersection(taken)
                .paths()
                .into_iter()
                .map(move |path| Conflict {
                    manager: manager.clone(),
                    path: display_path(&path),
                })
        })
        .collect()
}

/// Ownership of an object that predates managed fields: everything it holds belongs to one
/// updater, so the first applier cannot silently take it over.
fn before_first_apply(schema: &Schema, scope: Scope, live: &Value, now: &str) -> Vec<ManagedEntry> {
    let changes = typed::compare(
        schema,
        Some(&Value::Object(Map::new())),
        Some(&scope.tracked(live)),
    );
    let fields = Scope::owned(&changes.added.union(&changes.modified));
    if fields.is_empty() {
        return Vec::new();
    }
    vec![ManagedEntry {
        manager: BEFORE_FIRST_APPLY.to_owned(),
        operation: UPDATE.to_owned(),
        api_version: live
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        time: Some(now.to_owned()),
        subresource: None,
        fields,
    }]
}

fn has_managed_fields(object: &Value) -> bool {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    copy
}

/// `apps/v1, Kind=Deployment` `ns/name`, as the API server names an object in apply errors.
fn gvk_name(object: &Value) -> String {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let namespace = text("/metadata/namespace");
    let name = text("/metadata/name");
    let full = if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    };
    format!(
        "{}, Kind={} {}",
        text("/apiVersion"),
        text("/kind"),
        json!(full)
    )
}
