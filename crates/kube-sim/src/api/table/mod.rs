//! `meta.k8s.io` Table responses: what `kubectl get` asks for (`Accept:
//! application/json;as=Table;v=v1;g=meta.k8s.io`) so that the server, not kubectl, decides the
//! columns. Each kind has the columns and cell values of the real API server's printers
//! (`pods.rs`, `workloads.rs`, `network.rs`, `config.rs`, `cluster.rs`); custom resources get
//! their CRD's `additionalPrinterColumns`, and kinds without a printer the server's default
//! table (`custom.rs`).
//!
//! As on the real server, every column is computed, `-o wide` ones (priority 1) included, and
//! kubectl hides what it was not asked for. Rows carry the object as `includeObject` says:
//! its metadata by default (kubectl needs the namespace and name), the whole object, or none.

mod cluster;
mod config;
mod custom;
pub mod format;
mod jsonpath;
mod network;
mod pods;
mod workloads;

use std::borrow::Cow;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::api::body::{self, Body};
use crate::api::objects::ObjectRequest;
use crate::api::status::ApiError;
use crate::clock::Clock;
use crate::resources::ResourceType;
use crate::sim::Sim;
use crate::store::Store;

/// One column as the printers declare it.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub name: &'static str,
    /// OpenAPI type of the cells: `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: &'static str,
    /// `name` for the column that holds the object's name.
    pub format: &'static str,
    /// 0 for columns `kubectl get` shows, 1 for those only `-o wide` shows.
    pub priority: u8,
    pub description: &'static str,
}

impl Col {
    pub const fn new(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Self {
            name,
            kind,
            format: "",
            priority: 0,
            description,
        }
    }

    /// A column only `-o wide` shows.
    pub const fn wide(name: &'static str, kind: &'static str, description: &'static str) -> Self {
        Self {
            priority: 1,
            ..Self::new(name, kind, description)
        }
    }
}

/// The NAME column every printer starts with.
pub const NAME: Col = Col {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace; clients use it to refer to the object.",
};

/// The AGE column: how long ago the object was created.
pub const AGE: Col = Col::new(
    "Age",
    "string",
    "When the server created the object (metadata.creationTimestamp), as an age.",
);

/// The wide CONTAINERS and IMAGES columns of kinds with a pod template.
pub const CONTAINERS: Col = Col::wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
pub const IMAGES: Col = Col::wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

/// A built-in kind's printer: its columns and how to fill a row's cells from an object.
#[derive(Debug)]
pub struct Builtin {
    pub columns: &'static [Col],
    pub cells: fn(&Value, Timestamp) -> Vec<Value>,
}

/// Which printer a resource gets.
#[derive(Debug)]
pub enum Printer {
    Builtin(&'static Builtin),
    /// A custom resource: its CRD's printer columns (an AGE column when it declares none).
    Custom(custom::Columns),
    /// The server's default for kinds without a printer: NAME and CREATED AT.
    Default,
}

impl Printer {
    /// The printer for objects of `resource`; custom resources read their CRD from `store`.
    pub fn for_resource(store: &Store, resource: &ResourceType) -> Self {
        if let Some(builtin) = builtin(&resource.group, &resource.plural) {
            return Self::Builtin(builtin);
        }
        match custom::Columns::for_resource(store, resource) {
            Some(columns) => Self::Custom(columns),
            None => Self::Default,
        }
    }

    fn column_definitions(&self) -> Vec<Value> {
        match self {
            Self::Builtin(builtin) => builtin.columns.iter().map(definition).collect(),
            Self::Custom(columns) => columns.definitions(),
            Self::Default => custom::DEFAULT_COLUMNS.iter().map(definition).collect(),
        }
    }

    fn cells(&self, object: &Value, now: Timestamp) -> Vec<Value> {
        match self {
            Self::Builtin(builtin) => (builtin.cells)(object, now),
            Self::Custom(columns) => columns.cells(object, now),
            Self::Default => custom::default_cells(object),
        }
    }
}

fn definition(col: &Col) -> Value {
    json!({
        "name": col.name,
        "type": col.kind,
        "format": col.format,
        "description": col.description,
        "priority": col.priority,
    })
}

/// The printers of the built-in kinds, by API group and resource.
fn builtin(group: &str, plural: &str) -> Option<&'static Builtin> {
    Some(match (group, plural) {
        ("", "pods") => &pods::PODS,
        ("", "services") => &network::SERVICES,
        ("", "endpoints") => &network::ENDPOINTS,
        ("", "configmaps") => &config::CONFIG_MAPS,
        ("", "secrets") => &config::SECRETS,
        ("", "serviceaccounts") => &config::SERVICE_ACCOUNTS,
        ("", "persistentvolumeclaims") => &config::PERSISTENT_VOLUME_CLAIMS,
        ("", "events") => &cluster::EVENTS,
        ("", "namespaces") => &cluster::NAMESPACES,
        ("", "nodes") => &cluster::NODES,
        ("apps", "deployments") => &workloads::DEPLOYMENTS,
        ("apps", "replicasets") => &workloads::REPLICA_SETS,
        ("apps", "statefulsets") => &workloads::STATEFUL_SETS,
        ("apps", "daemonsets") => &workloads::DAEMON_SETS,
        ("apps", "controllerrevisions") => &workloads::CONTROLLER_REVISIONS,
        ("batch", "jobs") => &workloads::JOBS,
        ("batch", "cronjobs") => &workloads::CRON_JOBS,
        ("autoscaling", "horizontalpodautoscalers") => &workloads::HORIZONTAL_POD_AUTOSCALERS,
        ("policy", "poddisruptionbudgets") => &workloads::POD_DISRUPTION_BUDGETS,
        ("networking.k8s.io", "ingresses") => &network::INGRESSES,
        ("networking.k8s.io", "networkpolicies") => &network::NETWORK_POLICIES,
        ("coordination.k8s.io", "leases") => &config::LEASES,
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => {
            &config::ROLE_BINDINGS
        }
        _ => return None,
    })
}

/// What a request asked for when it asked for a Table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRequest {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`, whichever the client listed first.
    pub api_version: &'static str,
    pub include: Include,
}

/// `includeObject`: what each row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    Object,
    Metadata,
    None,
}

impl TableRequest {
    /// The Table the client asks for, if any: the first media range of `accept` the server
    /// can produce decides, as in the real server's negotiation. `None` means a plain object.
    pub fn from_request(
        accept: &str,
        query: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<Self>, ApiError> {
        let Some(api_version) = negotiate(accept) else {
            return Ok(None);
        };
        let include = match query.get("includeObject").map_or("", String::as_str) {
            "" | "Metadata" => Include::Metadata,
            "Object" => Include::Object,
            "None" => Include::None,
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unable to convert to Table as requested: includeObject: Unsupported value: {other:?}: supported values: \"\", \"Metadata\", \"None\", \"Object\""
                )));
            }
        };
        Ok(Some(Self {
            api_version,
            include,
        }))
    }
}

/// The Table version the first acceptable media range of an Accept header names, or `None`
/// when that range is a plain representation (JSON, YAML, protobuf, `*/*`).
fn negotiate(accept: &str) -> Option<&'static str> {
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut params = Map::new();
        for param in parts {
            if let Some((key, value)) = param.split_once('=') {
                params.insert(key.trim().to_owned(), json!(value.trim()));
            }
        }
        let param = |key: &str| params.get(key).and_then(Value::as_str).unwrap_or("");
        match param("as") {
            "" if !media.is_empty() => return None,
            "" => {}
            "Table" if param("g") == "meta.k8s.io" && media == "application/json" => {
                match param("v") {
                    "v1" => return Some("meta.k8s.io/v1"),
                    "v1beta1" => return Some("meta.k8s.io/v1beta1"),
                    // An unknown Table version is skipped, as the real negotiation does.
                    _ => {}
                }
            }
            // Other conversions (PartialObjectMetadata, Table in protobuf) are not ours:
            // answer as before, with the object itself.
            _ => return None,
        }
    }
    None
}

/// Builds `meta.k8s.io` Tables for one request.
#[derive(Debug)]
pub struct Tables {
    pub request: TableRequest,
    pub printer: Printer,
}

impl Tables {
    /// The Tables a request asks for, or `None` when it wants the objects themselves.
    pub fn for_request(
        sim: &Sim,
        resource: &ResourceType,
        request: &ObjectRequest<'_>,
    ) -> Result<Option<Self>, ApiError> {
        let Some(request) = TableRequest::from_request(&request.accept, &request.query)? else {
            return Ok(None);
        };
        let printer = Printer::for_resource(&sim.store(), resource);
        Ok(Some(Self { request, printer }))
    }

    /// A Table of `objects`. `list_meta` is the list's metadata (resourceVersion, continue,
    /// remainingItemCount); `headers` is false for every watch event after the first.
    pub fn table(
        &self,
        objects: &[&Value],
        list_meta: Value,
        now: Timestamp,
        headers: bool,
    ) -> Value {
        let rows: Vec<Value> = objects.iter().map(|o| self.row(o, now)).collect();
        let mut table = json!({
            "kind": "Table",
            "apiVersion": self.request.api_version,
            "rows": rows,
        });
        table["metadata"] = list_meta;
        if headers {
            table["columnDefinitions"] = Value::Array(self.printer.column_definitions());
        }
        table
    }

    /// A Table of one object, as GET of a named object and each watch event carry it.
    pub fn single(&self, object: &Value, now: Timestamp, headers: bool) -> Value {
        let meta = match object.pointer("/metadata/resourceVersion") {
            Some(rv) => json!({ "resourceVersion": rv }),
            None => json!({}),
        };
        self.table(&[object], meta, now, headers)
    }

    fn row(&self, object: &Value, now: Timestamp) -> Value {
        let mut row = json!({ "cells": self.printer.cells(object, now) });
        if let Some(conditions) = pods::row_conditions(&self.printer, object) {
            row["conditions"] = conditions;
        }
        row["object"] = match self.request.include {
            Include::Object => object.clone(),
            Include::Metadata => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": self.request.api_version,
                "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
            }),
            Include::None => Value::Null,
        };
        row
    }
}

/// The answer to GET of one object: the object, or its Table when one was asked for.
pub fn object_response(
    tables: Option<&Tables>,
    object: &Value,
    clock: &Clock,
    accept: &str,
) -> hyper::Response<Body> {
    match tables {
        Some(tables) => body::json(200, &tables.single(object, clock.now(), true)),
        None => body::object(200, object, accept),
    }
}

/// Tables for a watch: the first event carries the column definitions, later ones only rows,
/// as the real server sends them.
#[derive(Debug)]
pub struct WatchTables {
    tables: Tables,
    headers_sent: bool,
}

impl WatchTables {
    pub fn for_request(
        sim: &Sim,
        resource: &ResourceType,
        request: &ObjectRequest<'_>,
    ) -> Result<Option<Self>, ApiError> {
        Ok(
            Tables::for_request(sim, resource, request)?.map(|tables| Self {
                tables,
                headers_sent: false,
            }),
        )
    }
}

/// The object a watch event carries: the changed object, or a Table of it.
pub fn watch_object<'a>(
    tables: Option<&mut WatchTables>,
    object: &'a Value,
    clock: &Clock,
) -> Cow<'a, Value> {
    match tables {
        Some(watch) => {
            let table = watch
                .tables
                .single(object, clock.now(), !watch.headers_sent);
            watch.headers_sent = true;
            Cow::Owned(table)
        }
        None => Cow::Borrowed(object),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    #[test]
    fn the_first_acceptable_range_decides() {
        assert_eq!(negotiate(KUBECTL), Some("meta.k8s.io/v1"));
        assert_eq!(
            negotiate(
                "application/json;as=Table;v=v2;g=meta.k8s.io, application/json;as=Table;v=v1beta1;g=meta.k8s.io"
            ),
            Some("meta.k8s.io/v1beta1")
        );
        assert_eq!(negotiate("application/json"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(negotiate("*/*"), None);
        assert_eq!(
            negotiate("application/json, application/json;as=Table;v=v1;g=meta.k8s.io"),
            None
        );
    }

    #[test]
    fn include_object_is_checked() {
        let mut query = BTreeMap::new();
        let request = TableRequest::from_request(KUBECTL, &query)
            .unwrap()
            .unwrap();
        assert_eq!(request.include, Include::Metadata);
        query.insert("includeObject".to_owned(), "Object".to_owned());
        let request = TableRequest::from_request(KUBECTL, &query)
            .unwrap()
            .unwrap();
        assert_eq!(request.include, Include::Object);
        query.insert("includeObject".to_owned(), "Everything".to_owned());
        let err = TableRequest::from_request(KUBECTL, &query).unwrap_err();
        assert_eq!((err.code, err.reason), (400, "BadRequest"));
        assert!(
            TableRequest::from_request("application/json", &query)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn rows_carry_metadata_by_default_and_headers_only_when_asked() {
        let tables = Tables {
            request: TableRequest {
                api_version: "meta.k8s.io/v1",
                include: Include::Metadata,
            },
            printer: Printer::Default,
        };
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "a", "namespace": "ns", "resourceVersion": "7",
                          "creationTimestamp": "2026-01-01T00:00:00Z" },
            "data": { "k": "v" },
        });
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let table = tables.single(&cm, now, true);
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["metadata"]["resourceVersion"], "7");
        assert_eq!(table["columnDefinitions"][1]["name"], "Created At");
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["a", "2026-01-01T00:00:00Z"])
        );
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(table["rows"][0]["object"]["metadata"]["namespace"], "ns");
        assert!(table["rows"][0]["object"].get("data").is_none());
        let later = tables.single(&cm, now, false);
        assert!(later.get("columnDefinitions").is_none());
    }
}
