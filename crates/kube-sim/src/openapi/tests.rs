//! Unit tests of the OpenAPI documents: what kubectl looks up in them, checked the way kubectl
//! looks it up.

use serde_json::{Value, json};

use super::*;

fn widget_crd(size_description: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": { "kind": "Widget", "plural": "widgets", "singular": "widget" },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": { "status": {}, "scale": { "specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size" } },
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": { "type": "object", "properties": {
                            "size": { "type": "integer", "description": size_description },
                            "template": { "type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true },
                        } },
                        "status": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                    },
                } },
            }],
        },
    })
}

fn with_widget(size_description: &str) -> (Registry, Vec<Value>) {
    let crd = widget_crd(size_description);
    let mut registry = Registry::builtin();
    registry.add_crd(&crd).unwrap();
    (registry, vec![crd])
}

fn doc(registry: &Registry, crds: &[Value], t: &ResourceType) -> Value {
    v3_group_version(registry, crds, &t.group, &t.version)
        .unwrap_or_else(|| panic!("no document for {}", t.api_version()))
}

fn schemas(doc: &Value) -> &Map<String, Value> {
    doc.pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap()
}

/// The component schema tagged with this group-version-kind, found as `kubectl explain` finds it.
fn schema_for<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> Option<&'a Value> {
    let wanted = json!({ "group": group, "version": version, "kind": kind });
    schemas(doc).values().find(|s| {
        s.get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .is_some_and(|tags| tags.contains(&wanted))
    })
}

/// kubectl's test for server-side field validation: a PATCH operation tagged with the kind whose
/// parameters include `fieldValidation` in the query.
fn patch_operation<'a>(doc: &'a Value, t: &ResourceType) -> Option<&'a Value> {
    let wanted = json!({ "group": t.group, "version": t.version, "kind": t.kind });
    doc["paths"]
        .as_object()?
        .values()
        .filter_map(|item| item.get("patch"))
        .find(|op| op["x-kubernetes-group-version-kind"] == wanted)
}

fn has_field_validation(op: &Value) -> bool {
    op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
}

#[test]
fn every_builtin_kind_has_its_schema_tagged_with_its_group_version_kind() {
    let registry = Registry::builtin();
    for t in registry.all() {
        assert!(
            builtin::find(&t.group, &t.version, &t.kind).is_some(),
            "{} {} has no generated schema",
            t.api_version(),
            t.kind
        );
        let doc = doc(&registry, &[], t);
        let schema = schema_for(&doc, &t.group, &t.version, &t.kind)
            .unwrap_or_else(|| panic!("{} {}: no tagged schema", t.api_version(), t.kind));
        assert!(
            schema.pointer("/properties/metadata").is_some(),
            "{}: no metadata property",
            t.kind
        );
        assert!(
            schema_for(&doc, &t.group, &t.version, &t.list_kind()).is_some(),
            "{}: no list schema",
            t.kind
        );
    }
}

#[test]
fn deployment_schema_is_the_real_one() {
    let registry = Registry::builtin();
    let doc = v3_group_version(&registry, &[], "apps", "v1").unwrap();
    let deployment = &schemas(&doc)["io.k8s.api.apps.v1.Deployment"];
    let spec_ref = deployment
        .pointer("/properties/spec/allOf/0/$ref")
        .and_then(Value::as_str)
        .unwrap();
    assert_eq!(
        spec_ref,
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
    );
    let spec = &schemas(&doc)["io.k8s.api.apps.v1.DeploymentSpec"];
    assert_eq!(
        spec.pointer("/properties/replicas/type"),
        Some(&json!("integer"))
    );
    assert!(
        spec["required"]
            .as_array()
            .unwrap()
            .contains(&json!("selector"))
    );
}

#[test]
fn every_reference_resolves_within_its_document() {
    fn check(value: &Value, schemas: &Map<String, Value>, where_: &str) {
        match value {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref") {
                    let target = r
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                        .unwrap_or_else(|| panic!("{where_}: bad ref {r}"));
                    assert!(
                        schemas.contains_key(target),
                        "{where_}: {target} is missing"
                    );
                    // OpenAPI 3.0 ignores siblings of $ref; descriptions must sit beside an allOf.
                    assert_eq!(map.len(), 1, "{where_}: $ref with siblings: {map:?}");
                }
                for (key, v) in map {
                    // Under `properties` the keys are field names (JSONSchemaProps has one
                    // called `$ref`), so its values are schemas but the map itself is not.
                    match (key.as_str(), v) {
                        ("properties", Value::Object(fields)) => {
                            fields.values().for_each(|f| check(f, schemas, where_));
                        }
                        _ => check(v, schemas, where_),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| check(v, schemas, where_)),
            _ => {}
        }
    }
    let (registry, crds) = with_widget("size");
    for (group, versions) in registry.group_versions() {
        for version in versions {
            let doc = v3_group_version(&registry, &crds, &group, &version).unwrap();
            check(&doc, schemas(&doc), &format!("{group}/{version}"));
        }
    }
}

#[test]
fn every_kind_advertises_server_side_field_validation_on_patch() {
    let (registry, crds) = with_widget("size");
    for t in registry.all() {
        let doc = doc(&registry, &crds, t);
        let op = patch_operation(&doc, t)
            .unwrap_or_else(|| panic!("{} {}: no PATCH operation", t.api_version(), t.kind));
        assert!(
            has_field_validation(op),
            "{}: no fieldValidation parameter",
            t.kind
        );
        let smp = op
            .pointer("/requestBody/content/application~1strategic-merge-patch+json")
            .is_some();
        assert_eq!(
            smp,
            t.group != "example.com",
            "{}: strategic merge patch is for built-ins only",
            t.kind
        );
    }
}

#[test]
fn paths_follow_scope_and_subresources() {
    let registry = Registry::builtin();
    let apps = v3_group_version(&registry, &[], "apps", "v1").unwrap();
    let paths = apps["paths"].as_object().unwrap();
    for path in [
        "/apis/apps/v1/namespaces/{namespace}/deployments",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
        "/apis/apps/v1/deployments",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let scale = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
    assert_eq!(
        scale["x-kubernetes-group-version-kind"],
        json!({ "group": "autoscaling", "version": "v1", "kind": "Scale" })
    );
    assert!(schema_for(&apps, "autoscaling", "v1", "Scale").is_some());

    let core = v3_group_version(&registry, &[], "", "v1").unwrap();
    let core_paths = core["paths"].as_object().unwrap();
    assert!(core_paths.contains_key("/api/v1/namespaces/{name}"));
    assert!(!core_paths.contains_key("/api/v1/namespaces/{namespace}/namespaces"));
    assert!(!core_paths.contains_key("/api/v1/namespaces/{namespace}/configmaps/{name}/status"));
    assert_eq!(
        core_paths["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]["operationId"],
        "patchCoreV1NamespacedConfigMap"
    );
}

#[test]
fn index_lists_every_group_version() {
    let (registry, crds) = with_widget("size");
    let index = v3_index_with_crds(&registry, &crds);
    let paths = index["paths"].as_object().unwrap();
    let mut expected: Vec<String> = Vec::new();
    for (group, versions) in registry.group_versions() {
        for version in versions {
            expected.push(document_key(&group, &version));
        }
    }
    let mut listed: Vec<String> = paths.keys().cloned().collect();
    expected.sort();
    listed.sort();
    assert_eq!(listed, expected);
    assert!(
        listed.contains(&"api/v1".to_owned()) && listed.contains(&"apis/example.com/v1".to_owned())
    );
    let url = paths["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
    let hash = url.strip_prefix("/openapi/v3/apis/apps/v1?hash=").unwrap();
    assert!(
        hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{url}"
    );
}

#[test]
fn hashes_change_with_the_documents_and_only_then() {
    let url = |index: &Value, key: &str| {
        index["paths"][key]["serverRelativeURL"]
            .as_str()
            .map(str::to_owned)
    };
    let before = v3_index(&Registry::builtin());
    assert_eq!(
        before,
        v3_index(&Registry::builtin()),
        "the index must be stable"
    );
    assert_eq!(url(&before, "apis/example.com/v1"), None);

    let (registry, crds) = with_widget("size");
    let after = v3_index_with_crds(&registry, &crds);
    assert!(url(&after, "apis/example.com/v1").is_some());
    assert_eq!(
        url(&before, "apis/apps/v1"),
        url(&after, "apis/apps/v1"),
        "unrelated documents keep their hash"
    );

    // A CRD whose schema changes while its types stay the same.
    let (registry2, crds2) = with_widget("how big");
    let edited = v3_index_with_crds(&registry2, &crds2);
    assert_ne!(
        url(&after, "apis/example.com/v1"),
        url(&edited, "apis/example.com/v1")
    );
    let old = v3_group_version(&registry, &crds, "example.com", "v1").unwrap();
    let new = v3_group_version(&registry2, &crds2, "example.com", "v1").unwrap();
    assert_eq!(
        old.pointer(
            "/components/schemas/com.example.v1.Widget/properties/spec/properties/size/description"
        ),
        Some(&json!("size"))
    );
    assert_eq!(
        new.pointer(
            "/components/schemas/com.example.v1.Widget/properties/spec/properties/size/description"
        ),
        Some(&json!("how big"))
    );

    // Adding a version to the core group (a type) changes that group-version's hash.
    let mut grown = Registry::builtin();
    grown.add_crd(&json!({ "spec": { "group": "apps", "scope": "Namespaced", "names": { "kind": "Thing", "plural": "things" }, "versions": [{ "name": "v1" }] } })).unwrap();
    assert_ne!(
        url(&before, "apis/apps/v1"),
        url(&v3_index(&grown), "apis/apps/v1")
    );
}

#[test]
fn custom_resource_schema_comes_from_its_crd() {
    let (registry, crds) = with_widget("size");
    let doc = v3_group_version(&registry, &crds, "example.com", "v1").unwrap();
    let widget = schema_for(&doc, "example.com", "v1", "Widget").unwrap();
    assert_eq!(
        widget.pointer("/properties/spec/properties/size/type"),
        Some(&json!("integer"))
    );
    assert_eq!(
        widget.pointer("/properties/metadata/allOf/0/$ref"),
        Some(&json!(format!(
            "#/components/schemas/{}",
            builtin::OBJECT_META
        )))
    );
    assert_eq!(
        widget.pointer("/properties/apiVersion/type"),
        Some(&json!("string"))
    );
    assert!(schema_for(&doc, "example.com", "v1", "WidgetList").is_some());
    assert!(schemas(&doc).contains_key(builtin::OBJECT_META));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale"));
    // Served by the registry without a schema anywhere: still a document, accepting any field.
    let mut bare = Registry::builtin();
    bare.add_crd(&json!({ "spec": { "group": "bare.example.com", "scope": "Cluster", "names": { "kind": "Bare", "plural": "bares" }, "versions": [{ "name": "v1" }] } }))
        .unwrap();
    let doc = v3_group_version(&bare, &[], "bare.example.com", "v1").unwrap();
    let schema = schema_for(&doc, "bare.example.com", "v1", "Bare").unwrap();
    assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], json!(true));
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .contains_key("/apis/bare.example.com/v1/bares/{name}")
    );
}

#[test]
fn unknown_group_versions_have_no_document() {
    let registry = Registry::builtin();
    assert_eq!(v3_group_version(&registry, &[], "apps", "v2"), None);
    assert_eq!(v3_group_version(&registry, &[], "example.com", "v1"), None);
}

fn deployment(extra_spec: &Value, container: &Value) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "default", "labels": { "app.kubernetes.io/name": "web" }, "creationTimestamp": null },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "strategy": { "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 0 } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [container], "nodeSelector": { "disk": "ssd" } },
            },
        },
    });
    if let (Some(spec), Some(extra)) = (d["spec"].as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    d
}

#[test]
fn undeclared_fields_are_found_where_kubernetes_finds_them() {
    let registry = Registry::builtin();
    let container = json!({ "name": "web", "image": "nginx", "ports": [{ "containerPort": 80 }], "resources": { "limits": { "cpu": "500m", "memory": 1_000_000 } } });
    assert_eq!(
        undeclared_fields(&registry, &[], &deployment(&json!({}), &container)),
        Some(vec![])
    );

    let typo = json!({ "name": "web", "imagee": "nginx" });
    let fields = undeclared_fields(
        &registry,
        &[],
        &deployment(&json!({ "replicaz": 3 }), &typo),
    )
    .unwrap();
    assert_eq!(
        fields,
        vec![
            "spec.replicaz".to_owned(),
            "spec.template.spec.containers[0].imagee".to_owned()
        ]
    );

    let service = json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "s" }, "spec": { "ports": [{ "port": 80, "targetPort": "http" }], "colour": "red" } });
    assert_eq!(
        undeclared_fields(&registry, &[], &service),
        Some(vec!["spec.colour".to_owned()])
    );
    let unserved = json!({ "apiVersion": "example.com/v1", "kind": "Widget" });
    assert_eq!(undeclared_fields(&registry, &[], &unserved), None);
}

#[test]
fn undeclared_fields_of_custom_resources_follow_their_crd() {
    let (registry, crds) = with_widget("size");
    let widget = |spec: Value, status: Value| json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" }, "spec": spec, "status": status });
    let embedded =
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p" }, "anything": [1] });
    assert_eq!(
        undeclared_fields(
            &registry,
            &crds,
            &widget(
                json!({ "size": 1, "template": embedded }),
                json!({ "free": { "form": true } })
            )
        ),
        Some(vec![])
    );
    assert_eq!(
        undeclared_fields(
            &registry,
            &crds,
            &widget(json!({ "colour": "red" }), json!({}))
        ),
        Some(vec!["spec.colour".to_owned()])
    );
}

#[test]
fn rejection_messages_read_like_the_api_servers() {
    let object = deployment(&json!({}), &json!({ "name": "web" }));
    assert_eq!(
        apply_rejection_message(&object, &["spec.replicaz".to_owned()]),
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.replicaz: field not declared in schema"
    );
    assert_eq!(
        apply_rejection_message(&object, &["spec.a".to_owned(), "spec.b".to_owned()]),
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): errors:\n  .spec.a: field not declared in schema\n  .spec.b: field not declared in schema"
    );
    assert_eq!(
        strict_decoding_message(&object, &["spec.a".to_owned(), "spec.b".to_owned()]),
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.a\", unknown field \"spec.b\""
    );
}

#[test]
fn builtin_table_has_no_duplicates() {
    let mut seen = std::collections::BTreeSet::new();
    for k in builtin::KINDS {
        assert!(seen.insert((k.group, k.version, k.name)), "{k:?} twice");
    }
}
