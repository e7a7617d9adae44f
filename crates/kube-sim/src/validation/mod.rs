//! Refusing what a real API server refuses, before it is stored: bodies that do not decode into
//! the kind's typed form (400 `BadRequest`, in the words of Go's JSON decoder) and objects that
//! break the validation rules of the real server (422 `Invalid`, with one cause per field).
//!
//! Every client write goes through here: create, update, the three patch types and server-side
//! apply, dry runs included. What is checked is the object that would be stored, defaults filled
//! in, as the real server validates after defaulting. The simulator's own controllers write to
//! the store directly and are not checked (the real controllers' writes are valid by
//! construction; re-checking them would only slow the simulation).

mod config;
mod decode;
mod errors;
mod fields;
mod meta;
mod names;
mod pods;
mod policy;
pub mod quantity;
mod schema;
mod services;
mod workloads;

use serde_json::{Value, json};

use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::store::{ObjectKey, Store};
use errors::{Errors, Path};

/// How the object reached the server, which decides how a decoding error is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Update,
    Patch,
    Apply,
}

impl Write {
    /// PATCH requests other than server-side apply.
    pub fn of_method(method: &str) -> Self {
        if method == "PATCH" {
            Self::Patch
        } else {
            Self::Update
        }
    }
}

/// Creates `object` (as [`Store::create`] does) once it decodes and validates.
pub fn create(
    store: &mut Store,
    resource: &ResourceType,
    namespace: &str,
    mut object: Value,
    now: &str,
    dry_run: bool,
    write: Write,
) -> Result<Value, ApiError> {
    name_from_generate_name(&mut object);
    let mut preview = object.clone();
    if let Some(map) = preview.as_object_mut() {
        map.insert("apiVersion".to_owned(), json!(resource.api_version()));
        map.insert("kind".to_owned(), json!(resource.kind));
    }
    if resource.namespaced
        && let Some(meta) = preview.get_mut("metadata").and_then(Value::as_object_mut)
        && !namespace.is_empty()
    {
        meta.insert("namespace".to_owned(), json!(namespace));
    }
    crate::defaults::apply(resource, &mut preview, None, 0);
    check(store, resource, &preview, None, write)?;
    store.create(resource, namespace, object, now, dry_run)
}

/// Replaces the object at `key` with `next` (as [`Store::replace`] does) once the result decodes
/// and validates. Status writes are only decoded: the spec they keep was checked when written.
pub fn replace(
    store: &mut Store,
    resource: &ResourceType,
    key: &ObjectKey,
    next: Value,
    subresource: Option<&str>,
    dry_run: bool,
    write: Write,
) -> Result<Value, ApiError> {
    let live = store.get(key).cloned();
    let preview = store.replace(resource, key, next.clone(), subresource, true)?;
    if subresource == Some("status") {
        decoded(resource, &preview, write)?;
    } else {
        check(store, resource, &preview, live.as_ref(), write)?;
    }
    if dry_run {
        return Ok(preview);
    }
    store.replace(resource, key, next, subresource, false)
}

/// The name a `generateName` stands for, settled before checking so that the checked object and
/// the stored one are the same.
fn name_from_generate_name(object: &mut Value) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let named = meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if named {
        return;
    }
    if let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
        let name = format!("{prefix}{}", crate::store::random_suffix());
        meta.insert("name".to_owned(), json!(name));
    }
}

fn check(
    store: &Store,
    resource: &ResourceType,
    object: &Value,
    live: Option<&Value>,
    write: Write,
) -> Result<(), ApiError> {
    decoded(resource, object, write)?;
    let mut errs = Errors::default();
    rules(store, resource, object, live, &mut errs);
    if errs.is_empty() {
        return Ok(());
    }
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(errs.into_api_error(&resource.group, &resource.kind, name))
}

/// The typed-decoding check of built-in kinds.
fn decoded(resource: &ResourceType, object: &Value, write: Write) -> Result<(), ApiError> {
    let Some((schemas, root)) =
        crate::openapi::builtin_schemas(&resource.group, &resource.version, &resource.kind)
    else {
        return Ok(());
    };
    let Some(error) = decode::first_error(schemas, &root, object) else {
        return Ok(());
    };
    if write == Write::Patch {
        // The real server decodes the patched object and reports the failure against `patch`.
        let mut errs = Errors::default();
        errs.invalid("patch", &json!(object.to_string()), &error);
        return Err(errs.into_api_error("", "", ""));
    }
    let kind = &resource.kind;
    Err(ApiError::bad_request(format!(
        "{kind} in version {:?} cannot be handled as a {kind}: {error}",
        resource.version
    )))
}

/// The validation rules of the kind (or of the CRD schema, for custom resources).
fn rules(
    store: &Store,
    resource: &ResourceType,
    object: &Value,
    live: Option<&Value>,
    errs: &mut Errors,
) {
    let null = Value::Null;
    let metadata = object.get("metadata").unwrap_or(&null);
    let rule = names::name_rule(&resource.group, &resource.kind);
    meta::object_meta(errs, metadata, &Path::root("metadata"), Some(rule));
    let spec = object.get("spec").unwrap_or(&null);
    match (resource.group.as_str(), resource.kind.as_str()) {
        ("", "Pod") => pods::pod_spec(errs, spec, &Path::root("spec")),
        ("", "Service") => services::validate(errs, object, live),
        ("", "ConfigMap") => config::config_map(errs, object, live),
        ("", "Secret") => config::secret(errs, object, live),
        ("apps" | "batch", kind) => workloads::validate(errs, kind, object, live),
        ("networking.k8s.io", "Ingress") => policy::ingress(errs, object),
        ("rbac.authorization.k8s.io", "Role") => policy::role(errs, object, true),
        ("rbac.authorization.k8s.io", "ClusterRole") => policy::role(errs, object, false),
        ("rbac.authorization.k8s.io", "RoleBinding") => policy::binding(errs, object, true, live),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            policy::binding(errs, object, false, live);
        }
        ("policy", "PodDisruptionBudget") => policy::pod_disruption_budget(errs, object),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            policy::horizontal_pod_autoscaler(errs, object);
        }
        _ => {
            if crate::openapi::builtin_schemas(&resource.group, &resource.version, &resource.kind)
                .is_none()
                && let Some(schema) = crd_schema(store, resource)
            {
                schema::validate(errs, &schema, object);
            }
        }
    }
}

/// The `openAPIV3Schema` of the stored CRD serving `resource`, if any.
fn crd_schema(store: &Store, resource: &ResourceType) -> Option<Value> {
    let crds: Vec<Value> = store
        .registry()
        .by_plural("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .map(|rt| store.list(rt, None).into_iter().cloned().collect())
        .unwrap_or_default();
    crate::openapi::crd_schema(&crds, resource).cloned()
}
