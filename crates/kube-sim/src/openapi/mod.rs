//! The OpenAPI v3 documents kubectl reads before it writes: `GET /openapi/v3` (an index of
//! group-versions) and one document per group-version.
//!
//! Why they matter: with its default `--validate=strict`, `kubectl apply` (client- or server-side)
//! first asks whether the server validates fields itself, by looking in the group-version
//! document for the kind's PATCH operation and its `fieldValidation` parameter (see [`paths`]).
//! Without that, kubectl falls back to `/openapi/v2` in protobuf, which kube-sim does not serve, and
//! gives up. `kubectl explain` reads the component schemas, found by their
//! `x-kubernetes-group-version-kind`. What kubectl requests, observed, is written down in the
//! team's `notes/kubectl-requests.md`.
//!
//! Documents are built on demand and cached by a fingerprint of what they are made from (the
//! registry's types in the group-version and the CRD schemas); the same fingerprint is the `hash`
//! the index publishes, so a client holding a document by its URL refetches when it changes.

mod builtin;
mod crd;
mod paths;
mod validate;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceType};

/// Bumped whenever generation changes what a document says for the same inputs, so clients that
/// cached an older kube-sim's documents under the same URL do not keep them.
const REVISION: &str = "1";

/// `GET /openapi/v3`: `{"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=…"}}}`
/// for every group-version in the registry.
///
/// The hash covers the registry's types but not the CRD schemas (this signature has no CRDs); a
/// CRD whose schema changes without a type being added or removed keeps its hash. Use
/// [`v3_index_with_crds`] to cover that too.
pub fn v3_index(registry: &Registry) -> Value {
    v3_index_with_crds(registry, &[])
}

/// [`v3_index`], with hashes that also change when a stored CRD's schema changes.
pub fn v3_index_with_crds(registry: &Registry, crds: &[Value]) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.group_versions() {
        for version in versions {
            let key = document_key(&group, &version);
            let hash = fingerprint(registry, crds, &group, &version);
            paths.insert(
                key.clone(),
                json!({ "serverRelativeURL": format!("/openapi/v3/{key}?hash={hash:016X}") }),
            );
        }
    }
    json!({ "paths": paths })
}

/// `GET /openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`: the document, or `None` when
/// the registry serves nothing in that group-version. `crds` are the stored
/// `CustomResourceDefinition` objects, whose `spec.versions[].schema.openAPIV3Schema` describe the
/// custom resources.
pub fn v3_group_version(
    registry: &Registry,
    crds: &[Value],
    group: &str,
    version: &str,
) -> Option<Value> {
    document(registry, crds, group, version).map(|doc| doc.as_ref().clone())
}

/// The paths (`spec.replicaz`, `spec.template.spec.containers[0].imagee`) of the fields of
/// `object` that the published schema of its kind does not declare, in document order; `None` when
/// the registry does not serve the object's `apiVersion` and `kind`.
///
/// kubectl relies on the server for this: it sends `fieldValidation=Strict` by default. A real API
/// server refuses such fields in every server-side apply, whatever `fieldValidation` says (see
/// [`apply_rejection_message`]), and in create, update and other patches under `Strict` (see
/// [`strict_decoding_message`]); under `Warn` it answers with one `Warning` header per field.
pub fn undeclared_fields(
    registry: &Registry,
    crds: &[Value],
    object: &Value,
) -> Option<Vec<String>> {
    let api_version = object.get("apiVersion").and_then(Value::as_str)?;
    let kind = object.get("kind").and_then(Value::as_str)?;
    let t = registry.by_kind(api_version, kind)?;
    let doc = document(registry, crds, &t.group, &t.version)?;
    let name = schema_name(t);
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)?;
    let schema = schemas.get(&name)?;
    let mut fields = Vec::new();
    validate::undeclared(schemas, schema, object, "", &mut fields);
    Some(fields)
}

/// The component schemas of the group-version serving the built-in `kind`, with the name of the
/// kind's own schema: what typed decoding walks (see `crate::validation`). `None` for kinds that
/// are not built in.
pub(crate) fn builtin_schemas(
    group: &str,
    version: &str,
    kind: &str,
) -> Option<(&'static Map<String, Value>, String)> {
    let k = builtin::find(group, version, kind)?;
    let schemas = builtin::by_group_version().get(&(k.group, k.version))?;
    Some((schemas, k.schema_name().into_owned()))
}

/// The `openAPIV3Schema` a stored CRD gives for the custom resource type `t`, if any.
pub(crate) fn crd_schema<'a>(crds: &'a [Value], t: &ResourceType) -> Option<&'a Value> {
    crd::declared_schema(crds, t)
}

/// What a real API server says when a server-side apply carries undeclared `fields` (as
/// [`undeclared_fields`] gives them): `failed to create typed patch object (default/web; apps/v1,
/// Kind=Deployment): .spec.replicaz: field not declared in schema`. Real servers send it in a
/// `Status` with code 500 and no reason (kubectl prints `Error from server: …`).
pub fn apply_rejection_message(object: &Value, fields: &[String]) -> String {
    let text = |path: &str| format!(".{path}: field not declared in schema");
    let detail = if let [only] = fields {
        text(only)
    } else {
        std::iter::once("errors:".to_owned())
            .chain(fields.iter().map(|f| format!("  {}", text(f))))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let meta = |field: &str| {
        object
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (group, version) = crate::resources::split_api_version(api_version);
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!(
        "failed to create typed patch object ({}/{}; {group}/{version}, Kind={kind}): {detail}",
        meta("namespace"),
        meta("name")
    )
}

/// What a real API server says when a create or update under `fieldValidation=Strict` carries
/// undeclared `fields`: `Deployment in version "v1" cannot be handled as a Deployment: strict
/// decoding error: unknown field "spec.replicaz"`, in a `Status` with code 400, reason `BadRequest`.
pub fn strict_decoding_message(object: &Value, fields: &[String]) -> String {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (_, version) = crate::resources::split_api_version(api_version);
    let unknown: Vec<String> = fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        unknown.join(", ")
    )
}

/// The document of a group-version, from the cache when its inputs have not changed.
fn document(registry: &Registry, crds: &[Value], group: &str, version: &str) -> Option<Arc<Value>> {
    let key = (group.to_owned(), version.to_owned());
    let hash = fingerprint(registry, crds, group, version);
    if let Some((_, doc)) = cache().get(&key).filter(|(cached, _)| *cached == hash) {
        return Some(Arc::clone(doc));
    }
    let doc = Arc::new(build(registry, crds, group, version)?);
    // Replacing, not adding: at most one document per group-version is current, so a long-running
    // kube-sim with many CRD edits does not accumulate stale ones.
    cache().insert(key, (hash, Arc::clone(&doc)));
    Some(doc)
}

/// The component name of a served type's schema.
fn schema_name(t: &ResourceType) -> String {
    builtin::find(&t.group, &t.version, &t.kind)
        .map_or_else(|| crd::component_name(t), |k| k.schema_name().into_owned())
}

/// The index key and URL path of a group-version: `api/v1`, `apis/apps/v1`.
fn document_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

type Cache = BTreeMap<(String, String), (u64, Arc<Value>)>;

fn cache() -> MutexGuard<'static, Cache> {
    static CACHE: Mutex<Cache> = Mutex::new(BTreeMap::new());
    // A panic while holding the lock cannot leave a half-written entry (insert is the only write),
    // so a poisoned cache is still good.
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn build(registry: &Registry, crds: &[Value], group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = registry.in_group_version(group, version).collect();
    if types.is_empty() {
        return None;
    }
    let has_builtin = types
        .iter()
        .any(|t| builtin::find(&t.group, &t.version, &t.kind).is_some());
    // Only a group-version with built-ins pays for generating the built-in schemas.
    let mut schemas = if has_builtin {
        builtin::by_group_version()
            .iter()
            .find(|((g, v), _)| *g == group && *v == version)
            .map_or_else(|| builtin::common().clone(), |(_, schemas)| schemas.clone())
    } else {
        builtin::common().clone()
    };
    let mut paths = Map::new();
    for t in types {
        let known = builtin::find(&t.group, &t.version, &t.kind).is_some();
        let item = schema_name(t);
        if !known {
            schemas.insert(
                item.clone(),
                crd::resource_schema(t, crd::declared_schema(crds, t)),
            );
            let (list_name, list) = builtin::list_schema(&item, &t.group, &t.version, &t.kind);
            schemas.insert(list_name, list);
        }
        paths::add_resource(&mut paths, t, &item, &format!("{item}List"), known);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "v1.33.0" },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": { "type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication" },
            },
        },
        "security": [{ "BearerToken": [] }],
    }))
}

/// What a document is made of, hashed: the built-in schemas are fixed for a build (covered by
/// the crate version and [`REVISION`]); the rest is the registry's types and their CRD schemas.
fn fingerprint(registry: &Registry, crds: &[Value], group: &str, version: &str) -> u64 {
    let mut hash = Fnv::new();
    hash.write(env!("CARGO_PKG_VERSION"));
    hash.write(REVISION);
    hash.write(group);
    hash.write(version);
    let mut buf = String::new();
    for t in registry.in_group_version(group, version) {
        buf.clear();
        // Debug output lists every field, so a new field in ResourceType is covered too.
        let _ = write!(buf, "{t:?}");
        hash.write(&buf);
        if builtin::find(&t.group, &t.version, &t.kind).is_none() {
            match crd::declared_schema(crds, t) {
                Some(schema) => hash.write(&schema.to_string()),
                None => hash.write("-"),
            }
        }
    }
    hash.0
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike `DefaultHasher`), which matters
/// because kubectl keeps documents on disk by URL between runs.
struct Fnv(u64);

impl Fnv {
    const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, s: &str) {
        for byte in s.bytes().chain(std::iter::once(0xff)) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests;
