//! The `paths` of a group-version document: one entry per URL a resource type is served at, with
//! the operations kube-sim answers.
//!
//! kubectl reads one thing here, and it decides how `apply` validates: the PATCH operation tagged
//! with the kind's `x-kubernetes-group-version-kind` must list a `fieldValidation` query parameter.
//! If it does, kubectl leaves validation to the server (`fieldValidation=Strict`); if the path, the
//! tag or the parameter is missing, kubectl wants the protobuf `/openapi/v2` document to validate on
//! its own side, and stops when that is absent. The rest is here so `kubectl explain`, other
//! clients and humans reading the document see a faithful description.

use serde_json::{Map, Value, json};

use super::builtin::{DELETE_OPTIONS, PATCH, SCALE, STATUS};
use crate::resources::ResourceType;

/// Adds every path of `t` to `paths`. `item` and `list` are the component names of the kind's
/// schema and of its list schema. `strategic` says whether PATCH takes strategic merge patches:
/// built-ins do, custom resources do not, and kubectl's client-side apply reads exactly this (the
/// media type listed under the PATCH request body) to choose between a strategic and a JSON merge
/// patch.
pub(crate) fn add_resource(
    paths: &mut Map<String, Value>,
    t: &ResourceType,
    item: &str,
    list: &str,
    strategic: bool,
) {
    let base = if t.group.is_empty() {
        format!("/api/{}", t.version)
    } else {
        format!("/apis/{}/{}", t.group, t.version)
    };
    let scope = if t.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let collection = format!("{base}{scope}/{}", t.plural);
    let one = format!("{collection}/{{name}}");
    let op = Ops::new(t, strategic);

    paths.insert(
        collection.clone(),
        json!({
            "get": op.list(list, false),
            "post": op.write("post", "create", item),
            "delete": op.delete_collection(),
        }),
    );
    paths.insert(
        one.clone(),
        json!({
            "get": op.read("", item),
            "put": op.write("put", "replace", item),
            "patch": op.patch("", item, &op.gvk),
            "delete": op.delete(),
        }),
    );
    if t.status_subresource {
        paths.insert(
            format!("{one}/status"),
            json!({
                "get": op.read("Status", item),
                "put": op.write_sub("Status", item, &op.gvk),
                "patch": op.patch("Status", item, &op.gvk),
            }),
        );
    }
    if t.scale_subresource {
        let scale = SCALE.schema_name();
        let scale_gvk =
            json!({ "group": SCALE.group, "kind": SCALE.name, "version": SCALE.version });
        paths.insert(
            format!("{one}/scale"),
            json!({
                "get": op.read_as("Scale", &scale, &scale_gvk),
                "put": op.write_sub("Scale", &scale, &scale_gvk),
                "patch": op.patch("Scale", &scale, &scale_gvk),
            }),
        );
    }
    if t.namespaced {
        paths.insert(
            format!("{base}/{}", t.plural),
            json!({ "get": op.list(list, true) }),
        );
    }
}

/// Builds the operations of one resource type.
struct Ops<'a> {
    t: &'a ResourceType,
    /// `AppsV1`: the middle of every operation id.
    id_infix: String,
    /// `apps_v1`: the tag operations are grouped under.
    tag: String,
    /// The operation-level `x-kubernetes-group-version-kind` (a single object, unlike the list on
    /// schemas).
    gvk: Value,
    strategic: bool,
}

impl<'a> Ops<'a> {
    fn new(t: &'a ResourceType, strategic: bool) -> Self {
        let group_words: String = if t.group.is_empty() {
            "Core".to_owned()
        } else {
            t.group
                .trim_end_matches(".k8s.io")
                .split(['.', '-'])
                .map(capitalize)
                .collect()
        };
        let tag_group = if t.group.is_empty() {
            "core".to_owned()
        } else {
            t.group.trim_end_matches(".k8s.io").replace(['.', '-'], "_")
        };
        Self {
            t,
            id_infix: format!("{group_words}{}", capitalize(&t.version)),
            tag: format!("{tag_group}_{}", t.version),
            gvk: json!({ "group": t.group, "kind": t.kind, "version": t.version }),
            strategic,
        }
    }

    fn operation_id(&self, verb: &str, all_namespaces: bool, suffix: &str) -> String {
        let (infix, kind) = (&self.id_infix, &self.t.kind);
        if all_namespaces {
            format!("{verb}{infix}{kind}ForAllNamespaces")
        } else {
            let scope = if self.t.namespaced { "Namespaced" } else { "" };
            format!("{verb}{infix}{scope}{kind}{suffix}")
        }
    }

    /// The path parameters every operation on one object takes.
    fn object_params(&self) -> Vec<Value> {
        let mut params = vec![path_param("name", &format!("name of the {}", self.t.kind))];
        params.extend(self.namespace_param());
        params
    }

    fn namespace_param(&self) -> Option<Value> {
        self.t.namespaced.then(|| {
            path_param(
                "namespace",
                "object name and auth scope, such as for teams and projects",
            )
        })
    }

    fn operation(
        &self,
        action: &str,
        id: String,
        description: String,
        params: Vec<Value>,
        gvk: &Value,
    ) -> Map<String, Value> {
        let mut op = Map::new();
        op.insert("description".to_owned(), Value::String(description));
        op.insert("operationId".to_owned(), Value::String(id));
        op.insert("tags".to_owned(), json!([self.tag]));
        op.insert("parameters".to_owned(), Value::Array(params));
        op.insert(
            "x-kubernetes-action".to_owned(),
            Value::String(action.to_owned()),
        );
        op.insert("x-kubernetes-group-version-kind".to_owned(), gvk.clone());
        op
    }

    fn list(&self, list: &str, all_namespaces: bool) -> Value {
        let mut params = if all_namespaces {
            Vec::new()
        } else {
            self.namespace_param().into_iter().collect()
        };
        params.extend(
            LIST_QUERY
                .iter()
                .map(|(name, kind, doc)| query_param(name, kind, doc)),
        );
        let description = format!("list or watch objects of kind {}", self.t.kind);
        let mut op = self.operation(
            "list",
            self.operation_id("list", all_namespaces, ""),
            description,
            params,
            &self.gvk,
        );
        op.insert("responses".to_owned(), responses(&[("200", "OK", list)]));
        Value::Object(op)
    }

    fn read(&self, suffix: &str, item: &str) -> Value {
        self.read_as(suffix, item, &self.gvk)
    }

    fn read_as(&self, suffix: &str, schema: &str, gvk: &Value) -> Value {
        let mut params = self.object_params();
        params.push(pretty());
        let what = if suffix.is_empty() {
            String::new()
        } else {
            format!("{} of ", suffix.to_ascii_lowercase())
        };
        let description = format!("read {what}the specified {}", self.t.kind);
        let mut op = self.operation(
            "get",
            self.operation_id("read", false, suffix),
            description,
            params,
            gvk,
        );
        op.insert("responses".to_owned(), responses(&[("200", "OK", schema)]));
        Value::Object(op)
    }

    /// `create` (POST to the collection) or `replace` (PUT to the object).
    fn write(&self, action: &str, verb: &str, item: &str) -> Value {
        let mut params = if action == "post" {
            self.namespace_param().into_iter().collect()
        } else {
            self.object_params()
        };
        params.extend(
            WRITE_QUERY
                .iter()
                .map(|(name, kind, doc)| query_param(name, kind, doc)),
        );
        let description = format!(
            "{verb} {} {}",
            if action == "post" {
                "a"
            } else {
                "the specified"
            },
            self.t.kind
        );
        let mut op = self.operation(
            action,
            self.operation_id(verb, false, ""),
            description,
            params,
            &self.gvk,
        );
        op.insert(
            "requestBody".to_owned(),
            body(&[("application/json", item), ("application/yaml", item)]),
        );
        let codes: &[(&str, &str, &str)] = if action == "post" {
            &[
                ("200", "OK", item),
                ("201", "Created", item),
                ("202", "Accepted", item),
            ]
        } else {
            &[("200", "OK", item), ("201", "Created", item)]
        };
        op.insert("responses".to_owned(), responses(codes));
        Value::Object(op)
    }

    /// PUT to a subresource.
    fn write_sub(&self, suffix: &str, schema: &str, gvk: &Value) -> Value {
        let mut params = self.object_params();
        params.extend(
            WRITE_QUERY
                .iter()
                .map(|(name, kind, doc)| query_param(name, kind, doc)),
        );
        let description = format!(
            "replace {} of the specified {}",
            suffix.to_ascii_lowercase(),
            self.t.kind
        );
        let mut op = self.operation(
            "put",
            self.operation_id("replace", false, suffix),
            description,
            params,
            gvk,
        );
        op.insert(
            "requestBody".to_owned(),
            body(&[("application/json", schema), ("application/yaml", schema)]),
        );
        op.insert(
            "responses".to_owned(),
            responses(&[("200", "OK", schema), ("201", "Created", schema)]),
        );
        Value::Object(op)
    }

    fn patch(&self, suffix: &str, schema: &str, gvk: &Value) -> Value {
        let mut params = self.object_params();
        params.extend(
            WRITE_QUERY
                .iter()
                .map(|(name, kind, doc)| query_param(name, kind, doc)),
        );
        params.push(query_param(
            "force",
            "boolean",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        ));
        let what = if suffix.is_empty() {
            String::new()
        } else {
            format!("{} of ", suffix.to_ascii_lowercase())
        };
        let description = format!("partially update {what}the specified {}", self.t.kind);
        let mut op = self.operation(
            "patch",
            self.operation_id("patch", false, suffix),
            description,
            params,
            gvk,
        );
        let mut media = vec![
            ("application/apply-patch+yaml", PATCH),
            ("application/json-patch+json", PATCH),
            ("application/merge-patch+json", PATCH),
        ];
        if self.strategic {
            media.push(("application/strategic-merge-patch+json", PATCH));
        }
        op.insert("requestBody".to_owned(), body(&media));
        op.insert(
            "responses".to_owned(),
            responses(&[("200", "OK", schema), ("201", "Created", schema)]),
        );
        Value::Object(op)
    }

    fn delete(&self) -> Value {
        let mut params = self.object_params();
        params.extend(
            DELETE_QUERY
                .iter()
                .map(|(name, kind, doc)| query_param(name, kind, doc)),
        );
        let description = format!("delete the specified {}", self.t.kind);
        let mut op = self.operation(
            "delete",
            self.operation_id("delete", false, ""),
            description,
            params,
            &self.gvk,
        );
        op.insert(
            "requestBody".to_owned(),
            body(&[("application/json", DELETE_OPTIONS)]),
        );
        op.insert(
            "responses".to_owned(),
            responses(&[("200", "OK", STATUS), ("202", "Accepted", STATUS)]),
        );
        Value::Object(op)
    }

    fn delete_collection(&self) -> Value {
        let mut params: Vec<Value> = self.namespace_param().into_iter().collect();
        params.extend(
            DELETE_QUERY
                .iter()
                .chain(LIST_QUERY)
                .map(|(name, kind, doc)| query_param(name, kind, doc)),
        );
        let description = format!("delete collection of {}", self.t.kind);
        let mut op = self.operation(
            "deletecollection",
            self.operation_id("deleteCollection", false, ""),
            description,
            params,
            &self.gvk,
        );
        op.insert(
            "requestBody".to_owned(),
            body(&[("application/json", DELETE_OPTIONS)]),
        );
        op.insert("responses".to_owned(), responses(&[("200", "OK", STATUS)]));
        Value::Object(op)
    }
}

/// Query parameters as (name, JSON type, description).
type QueryParam = (&'static str, &'static str, &'static str);

const PRETTY: QueryParam = (
    "pretty",
    "string",
    "If 'true', then the output is pretty printed.",
);

const WRITE_QUERY: &[QueryParam] = &[
    (
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. Valid values are: All (process all dry run stages).",
    ),
    (
        "fieldManager",
        "string",
        "A name associated with the actor or entity that is making these changes. Required for apply requests.",
    ),
    (
        "fieldValidation",
        "string",
        "How the server handles unknown or duplicate fields in the request body: Ignore drops them silently, Warn drops them with a warning per field, Strict fails the request.",
    ),
    PRETTY,
];

const DELETE_QUERY: &[QueryParam] = &[
    (
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. Valid values are: All (process all dry run stages).",
    ),
    (
        "gracePeriodSeconds",
        "integer",
        "The duration in seconds before the object should be deleted.",
    ),
    (
        "propagationPolicy",
        "string",
        "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
    ),
    (
        "orphanDependents",
        "boolean",
        "Deprecated: use propagationPolicy.",
    ),
    PRETTY,
];

const LIST_QUERY: &[QueryParam] = &[
    (
        "allowWatchBookmarks",
        "boolean",
        "Requests watch events with type BOOKMARK.",
    ),
    (
        "continue",
        "string",
        "The continue option from a previous, paginated list call.",
    ),
    (
        "fieldSelector",
        "string",
        "A selector to restrict the list of returned objects by their fields.",
    ),
    (
        "labelSelector",
        "string",
        "A selector to restrict the list of returned objects by their labels.",
    ),
    (
        "limit",
        "integer",
        "The maximum number of responses to return for a list call.",
    ),
    (
        "resourceVersion",
        "string",
        "Constrains which resource versions the request may be served from.",
    ),
    (
        "resourceVersionMatch",
        "string",
        "Determines how resourceVersion is applied to list calls.",
    ),
    (
        "sendInitialEvents",
        "boolean",
        "Whether a watch starts with synthetic events for the current state.",
    ),
    (
        "timeoutSeconds",
        "integer",
        "Timeout for the list/watch call.",
    ),
    (
        "watch",
        "boolean",
        "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
    ),
    PRETTY,
];

fn pretty() -> Value {
    query_param(PRETTY.0, PRETTY.1, PRETTY.2)
}

fn query_param(name: &str, kind: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": { "type": kind, "uniqueItems": true } })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string", "uniqueItems": true } })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn body(types: &[(&str, &str)]) -> Value {
    let content: Map<String, Value> = types
        .iter()
        .map(|(media, schema)| ((*media).to_owned(), json!({ "schema": schema_ref(schema) })))
        .collect();
    json!({ "content": content, "required": true })
}

fn responses(codes: &[(&str, &str, &str)]) -> Value {
    let mut out = Map::new();
    for (code, description, schema) in codes {
        let content: Map<String, Value> = ["application/json", "application/yaml"]
            .iter()
            .map(|media| ((*media).to_owned(), json!({ "schema": schema_ref(schema) })))
            .collect();
        out.insert(
            (*code).to_owned(),
            json!({ "description": description, "content": content }),
        );
    }
    out.insert("401".to_owned(), json!({ "description": "Unauthorized" }));
    Value::Object(out)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
