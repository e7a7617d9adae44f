//! Handlers for collections and objects: get, list, create, replace, patch (including
//! server-side apply), delete, and the scale and log subresources. Watches are in `watch.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::body::{self, Body};
use crate::api::pagination;
use crate::api::patch::{PatchKind, apply_patch};
use crate::api::route::Target;
use crate::api::status::ApiError;
use crate::api::{table, watch};
use crate::apply;
use crate::resources::ResourceType;
use crate::selectors::Selection;
use crate::sim::{ContainerLogs, Sim};
use crate::store::{DeleteOptions, ObjectKey, Store};
use crate::validation::{self, Write};

/// One request to a resource path, with what the handlers need from the HTTP layer.
#[derive(Debug)]
pub struct ObjectRequest<'a> {
    pub method: &'a str,
    pub target: Target,
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    pub accept: String,
    pub user_agent: String,
    pub body: Vec<u8>,
}

pub fn handle(
    sim: &Arc<Sim>,
    request: &ObjectRequest<'_>,
) -> Result<hyper::Response<Body>, ApiError> {
    let resource = {
        let store = sim.store();
        store
            .registry()
            .by_plural(
                &request.target.group,
                &request.target.version,
                &request.target.plural,
            )
            .cloned()
    };
    let Some(resource) = resource else {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    if !resource.namespaced && request.target.namespace.is_some() {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let watching = request.target.watch
        || request
            .query
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1");
    let target = &request.target;
    match (
        request.method,
        target.name.as_deref(),
        target.subresource.as_deref(),
    ) {
        ("GET", None, None) if watching => watch::start(sim, &resource, request),
        ("GET", None, None) => pagination::list(sim, &resource, request),
        ("POST", None, None) => create(sim, &resource, request),
        ("DELETE", None, None) => delete_collection(sim, &resource, request),
        ("GET", Some(name), None | Some("status")) => {
            let tables = table::Tables::for_request(sim, &resource, request)?;
            let key = key(&resource, target, name);
            let store = sim.store();
            let object = store
                .get(&key)
                .ok_or_else(|| ApiError::not_found(&resource.group, &resource.plural, name))?;
            Ok(table::object_response(
                tables.as_ref(),
                object,
                &sim.clock,
                &request.accept,
            ))
        }
        ("GET", Some(name), Some("log"))
            if resource.plural == "pods" && resource.group.is_empty() =>
        {
            pod_log(sim, &resource, target, name, &request.query)
        }
        ("GET", Some(name), Some("scale")) if resource.scale_subresource => {
            let store = sim.store();
            let object = store
                .get(&key(&resource, target, name))
                .ok_or_else(|| ApiError::not_found(&resource.group, &resource.plural, name))?;
            Ok(body::object(200, &scale_of(object), &request.accept))
        }
        ("PUT", Some(name), sub @ (None | Some("status" | "scale"))) => {
            replace(sim, &resource, request, name, sub)
        }
        ("PUT", Some(name), sub @ Some("finalize"))
            if resource.plural == "namespaces" && resource.group.is_empty() =>
        {
            replace(sim, &resource, request, name, sub)
        }
        ("PATCH", Some(name), sub @ (None | Some("status" | "scale"))) => {
            patch(sim, &resource, request, name, sub)
        }
        ("DELETE", Some(name), None) => delete(sim, &resource, request, name),
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            request.method,
            target.subresource.as_deref().unwrap_or(&resource.plural)
        ))),
    }
}

fn key(resource: &ResourceType, target: &Target, name: &str) -> ObjectKey {
    ObjectKey::new(resource, target.namespace.as_deref().unwrap_or(""), name)
}

fn dry_run(query: &BTreeMap<String, String>) -> Result<bool, ApiError> {
    match query.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "unsupported dryRun value {other:?}: only All is supported"
        ))),
    }
}

/// The field manager of a write: `fieldManager`, else the client's name from its User-Agent, as
/// the real API server does.
fn manager(request: &ObjectRequest<'_>) -> String {
    if let Some(manager) = request.query.get("fieldManager").filter(|m| !m.is_empty()) {
        return manager.clone();
    }
    let agent = request.user_agent.split('/').next().unwrap_or("").trim();
    if agent.is_empty() {
        "unknown".to_owned()
    } else {
        agent.to_owned()
    }
}

fn parse_body(request: &ObjectRequest<'_>) -> Result<Value, ApiError> {
    if request.body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if crate::protobuf::is_protobuf(&request.content_type) {
        return crate::protobuf::request_body(&request.body);
    }
    if request.content_type.contains("protobuf") || request.content_type.contains("cbor") {
        // CBOR is not simulated; clients fall back to JSON on a 415.
        return Err(ApiError::unsupported_media_type(&request.content_type));
    }
    let is_yaml = request.content_type.contains("yaml");
    let value: Result<Value, String> = if is_yaml {
        serde_yaml_ng::from_slice(&request.body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(&request.body).map_err(|e| e.to_string())
    };
    value.map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not valid {} (Content-Type {:?}): {e}",
            if is_yaml { "YAML" } else { "JSON" },
            request.content_type
        ))
    })
}

fn create(
    sim: &Arc<Sim>,
    resource: &ResourceType,
    request: &ObjectRequest<'_>,
) -> Result<hyper::Response<Body>, ApiError> {
    let mut object = parse_body(request)?;
    let dry_run = dry_run(&request.query)?;
    let now = sim.clock.now_rfc3339();
    strip_managed_fields(&mut object);
    apply::record_update_for(None, &mut object, &manager(request), None, &now, resource);
    let namespace = request.target.namespace.clone().unwrap_or_default();
    let created = sim.write(|store| {
        check_fields(store, &object, request, false)?;
        validation::create(
            store,
            resource,
            &namespace,
            object,
            &now,
            dry_run,
            Write::Create,
        )
    })?;
    Ok(body::object(201, &created, &request.accept))
}

fn replace(
    sim: &Arc<Sim>,
    resource: &ResourceType,
    request: &ObjectRequest<'_>,
    name: &str,
    subresource: Option<&str>,
) -> Result<hyper::Response<Body>, ApiError> {
    let mut object = parse_body(request)?;
    update(sim, resource, request, name, subresource, |store, live| {
        if subresource != Some("scale") {
            check_fields(store, &object, request, false)?;
            keep_managed_fields(&mut object, live);
        }
        Ok(object)
    })
}

/// PUT and the patches other than apply: `change` turns the live object (or its Scale view, for
/// the scale subresource) into the new one; the writer is recorded in managedFields, the result
/// stored, and the answer is the object (or its Scale view).
fn update(
    sim: &Arc<Sim>,
    resource: &ResourceType,
    request: &ObjectRequest<'_>,
    name: &str,
    subresource: Option<&str>,
    change: impl FnOnce(&Store, &Value) -> Result<Value, ApiError>,
) -> Result<hyper::Response<Body>, ApiError> {
    let dry_run = dry_run(&request.query)?;
    let key = key(resource, &request.target, name);
    let now = sim.clock.now_rfc3339();
    let manager = manager(request);
    let status_sub = subresource.filter(|s| *s == "status");
    let scale = subresource == Some("scale");
    sim.write(|store| {
        let live = store
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&resource.group, &resource.plural, name))?;
        let mut next = if scale {
            with_scale(&live, &change(store, &scale_of(&live))?)?
        } else {
            change(store, &live)?
        };
        apply::record_update_for(Some(&live), &mut next, &manager, status_sub, &now, resource);
        let write = Write::of_method(request.method);
        let only = subresource.filter(|s| *s != "scale");
        let stored = validation::replace(store, resource, &key, next, only, dry_run, write)?;
        Ok(body::object(
            200,
            &if scale { scale_of(&stored) } else { stored },
            &request.accept,
        ))
    })
}

fn patch(
    sim: &Arc<Sim>,
    resource: &ResourceType,
    request: &ObjectRequest<'_>,
    name: &str,
    subresource: Option<&str>,
) -> Result<hyper::Response<Body>, ApiError> {
    let kind = PatchKind::from_content_type(&request.content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(&request.content_type))?;
    let dry_run = dry_run(&request.query)?;
    let key = key(resource, &request.target, name);
    let now = sim.clock.now_rfc3339();
    let manager = manager(request);
    let force = request.query.get("force").is_some_and(|f| f == "true");
    let status_sub = subresource.filter(|s| *s == "status");
    if kind == PatchKind::Apply {
        if !request.query.contains_key("fieldManager") {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let applied = parse_body(request)?;
        return sim.write(|store| {
            check_fields(store, &applied, request, true)?;
            let live = store.get(&key).cloned();
            let merged = apply::server_side_apply(
                live.as_ref(),
                &applied,
                &manager,
                force,
                status_sub,
                &now,
                resource,
            )?;
            let (code, stored) = if live.is_some() {
                (
                    200,
                    validation::replace(
                        store,
                        resource,
                        &key,
                        merged,
                        status_sub,
                        dry_run,
                        Write::Apply,
                    )?,
                )
            } else {
                let namespace = request.target.namespace.clone().unwrap_or_default();
                (
                    201,
                    validation::create(
                        store,
                        resource,
                        &namespace,
                        merged,
                        &now,
                        dry_run,
                        Write::Apply,
                    )?,
                )
            };
            Ok(body::object(code, &stored, &request.accept))
        });
    }
    update(sim, resource, request, name, subresource, |_, view| {
        apply_patch(view, &request.body, kind, resource)
    })
}

fn delete(
    sim: &Arc<Sim>,
    resource: &ResourceType,
    request: &ObjectRequest<'_>,
    name: &str,
) -> Result<hyper::Response<Body>, ApiError> {
    dry_run(&request.query)?;
    let options = DeleteOptions::from_request(&request.query, &request.body)?;
    let key = key(resource, &request.target, name);
    let now = sim.clock.now_rfc3339();
    let deleted = sim.write(|store| store.delete(resource, &key, &options, &now))?;
    Ok(body::object(
        200,
        &deleted.response(resource),
        &request.accept,
    ))
}

fn delete_collection(
    sim: &Arc<Sim>,
    resource: &ResourceType,
    request: &ObjectRequest<'_>,
) -> Result<hyper::Response<Body>, ApiError> {
    dry_run(&request.query)?;
    let options = DeleteOptions::from_request(&request.query, &request.body)?;
    let selection = Selection::from_query(&request.query)?;
    let now = sim.clock.now_rfc3339();
    let deleted = sim.write(|store| {
        let keys: Vec<ObjectKey> = store
            .list(resource, request.target.namespace.as_deref())
            .into_iter()
            .filter(|o| selection.matches(o))
            .filter_map(|o| {
                let name = o.pointer("/metadata/name")?.as_str()?;
                let ns = o
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                Some(ObjectKey::new(resource, ns, name))
            })
            .collect();
        keys.iter()
            .filter_map(|k| store.delete(resource, k, &options, &now).ok())
            .map(|d| d.object().clone())
            .collect::<Vec<Value>>()
    });
    Ok(body::json(
        200,
        &json!({ "kind": resource.list_kind(), "apiVersion": resource.api_version(), "metadata": {}, "items": deleted }),
    ))
}

/// Refuses fields the type's schema does not declare, as a real API server does: always for
/// server-side apply (a 500 with no reason, as the real server answers), and for other writes
/// when the client asks for `fieldValidation=Strict` (kubectl's default).
fn check_fields(
    store: &Store,
    object: &Value,
    request: &ObjectRequest<'_>,
    apply: bool,
) -> Result<(), ApiError> {
    let strict = request
        .query
        .get("fieldValidation")
        .is_some_and(|v| v == "Strict");
    if !apply && !strict {
        return Ok(());
    }
    let Some(fields) =
        crate::openapi::undeclared_fields(store.registry(), &super::crds(store), object)
    else {
        return Ok(());
    };
    if fields.is_empty() {
        return Ok(());
    }
    Err(if apply {
        ApiError::new(
            500,
            "",
            crate::openapi::apply_rejection_message(object, &fields),
        )
    } else {
        ApiError::bad_request(crate::openapi::strict_decoding_message(object, &fields))
    })
}

fn pod_log(
    sim: &Arc<Sim>,
    resource: &ResourceType,
    target: &Target,
    name: &str,
    query: &BTreeMap<String, String>,
) -> Result<hyper::Response<Body>, ApiError> {
    let namespace = target.namespace.clone().unwrap_or_default();
    let pod = sim
        .store()
        .get(&key(resource, target, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let container = match query.get("container") {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let previous = query.get("previous").is_some_and(|p| p == "true");
    let logs: ContainerLogs = sim
        .logs()
        .get(&(namespace, name.to_owned(), container.clone()))
        .cloned()
        .unwrap_or_default();
    let ever_ran = !logs.previous.is_empty();
    let lines = if previous {
        logs.previous
    } else {
        logs.current
    };
    if previous && lines.is_empty() {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    if !previous && lines.is_empty() {
        // A container that never started has no log yet; the kubelet says why.
        let waiting = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .and_then(|statuses| {
                statuses
                    .iter()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str()))
            })
            .and_then(|c| c.pointer("/state/waiting/reason"))
            .and_then(Value::as_str);
        if let Some(reason) = waiting.filter(|_| !ever_ran) {
            return Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
            )));
        }
    }
    let tail = query
        .get("tailLines")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let shown = &lines[lines.len().saturating_sub(tail)..];
    let mut text = shown.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    // limitBytes counts bytes from the start of what would be shown, as the kubelet's does; it
    // may cut a character in two, so the body is bytes.
    let mut bytes = text.into_bytes();
    if let Some(limit) = query
        .get("limitBytes")
        .and_then(|l| l.parse::<usize>().ok())
    {
        bytes.truncate(limit);
    }
    Ok(body::bytes(200, "text/plain", bytes.into()))
}

/// The `autoscaling/v1` Scale view of a scalable object.
fn scale_of(object: &Value) -> Value {
    let metadata = object.get("metadata").cloned().unwrap_or(Value::Null);
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
            "creationTimestamp": metadata.get("creationTimestamp"),
        },
        "spec": { "replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0)) },
        "status": { "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector },
    })
}

/// The object with the replicas a Scale asks for.
fn with_scale(live: &Value, scale: &Value) -> Result<Value, ApiError> {
    let replicas = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::bad_request("a Scale needs spec.replicas, a number of at least 0")
        })?;
    let mut next = live.clone();
    next["spec"]["replicas"] = json!(replicas);
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .filter(|v| v.is_string())
    {
        next["metadata"]["resourceVersion"] = rv.clone();
    }
    Ok(next)
}

/// Clients may not write managedFields on create; the server records them.
fn strip_managed_fields(object: &mut Value) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
}

/// A PUT that omits managedFields keeps the stored ones (as the real server does).
fn keep_managed_fields(next: &mut Value, live: &Value) {
    if next.pointer("/metadata/managedFields").is_none()
        && let Some(fields) = live.pointer("/metadata/managedFields")
        && let Some(metadata) = next.get_mut("metadata").and_then(Value::as_object_mut)
    {
        metadata.insert("managedFields".to_owned(), fields.clone());
    }
}
