//! The PATCH request body types: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
//! strategic merge patch; apply patches go to [`crate::apply::server_side_apply`].

use serde_json::{Value, json};

use crate::api::status::ApiError;
use crate::apply::schema::Schema;
use crate::apply::strategic;
use crate::resources::ResourceType;

/// A PATCH body type, chosen by the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchKind {
    /// The kind for a `Content-Type` header, ignoring parameters such as `charset=utf-8`.
    pub fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::StrategicMerge => "application/strategic-merge-patch+json",
            Self::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Applies a JSON, merge or strategic-merge patch body to `live` (Apply is handled by `server_side_apply`).
pub fn apply_patch(
    live: &Value,
    body: &[u8],
    kind: PatchKind,
    resource: &ResourceType,
) -> Result<Value, ApiError> {
    let patched = match kind {
        PatchKind::Json => json_patch_of(live, body)?,
        PatchKind::Merge => {
            let patch = parse_object(body, "merge patch")?;
            let mut doc = live.clone();
            json_patch::merge(&mut doc, &patch);
            doc
        }
        PatchKind::StrategicMerge => {
            let schema = Schema::for_resource(resource);
            if !schema.is_builtin() {
                // Custom resources have no patch strategies; the API server refuses this type.
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            let patch = parse_object(body, "strategic merge patch")?;
            strategic::apply(&schema, live, &patch).map_err(ApiError::bad_request)?
        }
        PatchKind::Apply => {
            return Err(ApiError::internal(
                "apply patches are handled by server-side apply, not apply_patch",
            ));
        }
    };
    if !patched.is_object() {
        return Err(ApiError::bad_request(
            "the patched object is not a JSON object",
        ));
    }
    Ok(patched)
}

fn json_patch_of(live: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let operations: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the JSON patch is not a valid list of operations: {e}"
        ))
    })?;
    let mut doc = live.clone();
    json_patch::patch(&mut doc, &operations).map_err(|e| {
        // The API server answers every failed operation, a failed `test` included, with this
        // generic 422; the specific reason goes in a cause so it is not lost.
        ApiError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        )
        .with_details(
            json!({ "causes": [{ "reason": "FieldValueInvalid", "message": e.to_string() }] }),
        )
    })?;
    Ok(doc)
}

fn parse_object(body: &[u8], what: &str) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!("the {what} is empty")));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the {what} is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the {what} must be a JSON object"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::Registry;

    fn resource(api_version: &str, kind: &str) -> ResourceType {
        Registry::builtin()
            .by_kind(api_version, kind)
            .unwrap()
            .clone()
    }

    fn deployments() -> ResourceType {
        resource("apps/v1", "Deployment")
    }

    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a"]},
            "spec": {
                "replicas": 2,
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}],
                             "ports": [{"containerPort": 8080}], "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                            {"name": "proxy", "image": "envoy:1"}
                        ],
                        "volumes": [{"name": "data", "emptyDir": {}}],
                        "tolerations": [{"key": "a", "operator": "Exists"}]
                    }
                }
            }
        })
    }

    fn patch(kind: PatchKind, body: &Value) -> Result<Value, ApiError> {
        apply_patch(&live(), body.to_string().as_bytes(), kind, &deployments())
    }

    fn strategic(body: &Value) -> Value {
        patch(PatchKind::StrategicMerge, body).unwrap()
    }

    fn names(items: &Value) -> Vec<&str> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn content_types_ignore_parameters_and_case() {
        assert_eq!(
            PatchKind::from_content_type("application/json-patch+json"),
            Some(PatchKind::Json)
        );
        assert_eq!(
            PatchKind::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchKind::Merge)
        );
        assert_eq!(
            PatchKind::from_content_type("Application/Strategic-Merge-Patch+JSON"),
            Some(PatchKind::StrategicMerge)
        );
        assert_eq!(
            PatchKind::from_content_type("application/apply-patch+yaml;charset=utf-8"),
            Some(PatchKind::Apply)
        );
        assert_eq!(PatchKind::from_content_type("application/json"), None);
        for kind in [
            PatchKind::Json,
            PatchKind::Merge,
            PatchKind::StrategicMerge,
            PatchKind::Apply,
        ] {
            assert_eq!(
                PatchKind::from_content_type(kind.content_type()),
                Some(kind)
            );
        }
    }

    // ----- JSON merge patch -----

    #[test]
    fn merge_patch_merges_maps_deletes_nulls_and_replaces_lists() {
        let out = patch(
            PatchKind::Merge,
            &json!({"metadata": {"labels": {"tier": null, "new": "x"}}, "spec": {"replicas": 5,
                "template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}}),
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "web", "new": "x"}));
        assert_eq!(out["spec"]["replicas"], 5);
        assert_eq!(
            names(&out["spec"]["template"]["spec"]["containers"]),
            ["only"]
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["volumes"],
            live()["spec"]["template"]["spec"]["volumes"]
        );
    }

    #[test]
    fn malformed_merge_patches_are_bad_requests() {
        for body in [&b"{not json"[..], b"[1, 2]", b"", b"  "] {
            let err = apply_patch(&live(), body, PatchKind::Merge, &deployments()).unwrap_err();
            assert_eq!(
                (err.code, err.reason),
                (400, "BadRequest"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    // ----- JSON patch -----

    #[test]
    fn json_patch_applies_operations_in_order() {
        let out = patch(
            PatchKind::Json,
            &json!([
                {"op": "test", "path": "/spec/replicas", "value": 2},
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}},
                {"op": "remove", "path": "/metadata/labels/tier"},
                {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "third"}}
            ]),
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(out["metadata"]["annotations"], json!({"a": "b"}));
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            names(&out["spec"]["template"]["spec"]["containers"]),
            ["web", "proxy", "third"]
        );
    }

    #[test]
    fn a_failed_test_operation_is_unprocessable() {
        let err = patch(
            PatchKind::Json,
            &json!([{"op": "test", "path": "/spec/replicas", "value": 9}]),
        )
        .unwrap_err();
        assert_eq!((err.code, err.reason), (422, "Invalid"));
        assert_eq!(
            err.message,
            "the server rejected our request due to an error in our request"
        );
        let cause = err.details.unwrap()["causes"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(cause.contains("/spec/replicas"), "{cause}");
        // So is an operation on a path that does not exist.
        let err = patch(
            PatchKind::Json,
            &json!([{"op": "remove", "path": "/spec/nothing"}]),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn malformed_json_patches_are_bad_requests() {
        for body in [
            json!({"op": "add"}),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"path": "/a"}]),
        ] {
            let err = patch(PatchKind::Json, &body).unwrap_err();
            assert_eq!(err.code, 400, "{body}");
        }
        let err = patch(
            PatchKind::Json,
            &json!([{"op": "replace", "path": "", "value": [1]}]),
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
    }

    // ----- strategic merge patch -----

    #[test]
    fn set_image_merges_the_named_container_only() {
        // What `kubectl set image deployment/web web=nginx:2` sends.
        let out = strategic(
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}}),
        );
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(names(containers), ["web", "proxy"]);
        assert_eq!(containers[0]["image"], "nginx:2");
        assert_eq!(
            containers[0]["env"],
            live()["spec"]["template"]["spec"]["containers"][0]["env"]
        );
        assert_eq!(containers[1]["image"], "envoy:1");
    }

    #[test]
    fn label_and_restart_patches() {
        // `kubectl label deployment/web tier-` and `kubectl rollout restart`.
        let out = strategic(&json!({"metadata": {"labels": {"tier": null, "team": "x"}}}));
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "web", "team": "x"})
        );
        let out = strategic(&json!({"spec": {"template": {"metadata": {"annotations":
            {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}}}}}));
        assert_eq!(
            out["spec"]["template"]["metadata"]["labels"],
            json!({"app": "web"})
        );
        assert_eq!(
            out["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "2024-05-01T10:00:00Z"
        );
    }

    #[test]
    fn keyed_lists_inside_containers_merge_by_key() {
        let out = strategic(&json!({"spec": {"template": {"spec": {
            "containers": [{"name": "web",
                "env": [{"name": "A", "value": "changed"}, {"name": "B", "value": "2"}],
                "ports": [{"containerPort": 9090}, {"containerPort": 8080, "name": "http"}],
                "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}],
            "volumes": [{"name": "cache", "emptyDir": {}}],
            "tolerations": [{"key": "b", "operator": "Exists"}]
        }}}}));
        let pod = &out["spec"]["template"]["spec"];
        let web = &pod["containers"][0];
        assert_eq!(
            web["env"],
            json!([{"name": "A", "value": "changed"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(
            web["ports"],
            json!([{"containerPort": 8080, "name": "http"}, {"containerPort": 9090}])
        );
        assert_eq!(names(&web["volumeMounts"]), ["data", "cache"]);
        assert_eq!(names(&pod["volumes"]), ["data", "cache"]);
        // Tolerations have no merge key: replaced.
        assert_eq!(
            pod["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
    }

    #[test]
    fn delete_and_replace_directives() {
        let out = strategic(&json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}],
            "containers": [{"name": "proxy", "$patch": "delete"}],
            "volumes": [{"$patch": "replace"}, {"name": "fresh", "emptyDir": {}}]
        }}}}));
        let pod = &out["spec"]["template"]["spec"];
        assert_eq!(names(&pod["containers"]), ["web"]);
        assert_eq!(names(&pod["volumes"]), ["fresh"]);
        assert!(pod.as_object().unwrap().keys().all(|k| !k.starts_with('$')));

        // What `kubectl rollout undo` sends: the whole template replaced.
        let template = json!({"metadata": {"labels": {"app": "web", "rev": "1"}}, "spec": {"containers": [{"name": "web", "image": "nginx:0"}]}});
        let mut body = json!({"spec": {"template": template.clone()}});
        body["spec"]["template"]["$patch"] = json!("replace");
        assert_eq!(strategic(&body)["spec"]["template"], template);

        let out = strategic(&json!({"spec": {"template": {"spec": {"$patch": "delete"}}}}));
        assert!(out["spec"]["template"].get("spec").is_none());
    }

    #[test]
    fn primitive_lists_and_retain_keys() {
        let out = strategic(&json!({"metadata": {"finalizers": ["b", "a"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let out = strategic(
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c"]));
        let out = strategic(
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn bad_strategic_patches() {
        let err = patch(
            PatchKind::StrategicMerge,
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains("merge key"), "{}", err.message);
        let err = patch(
            PatchKind::StrategicMerge,
            &json!({"spec": {"$patch": "explode"}}),
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
        let err = patch(PatchKind::StrategicMerge, &json!(["x"])).unwrap_err();
        assert_eq!(err.code, 400);
    }

    #[test]
    fn custom_resources_refuse_strategic_merge_patches() {
        let widgets = ResourceType {
            group: "example.com".to_owned(),
            plural: "widgets".to_owned(),
            kind: "Widget".to_owned(),
            ..deployments()
        };
        let err = apply_patch(&json!({}), b"{}", PatchKind::StrategicMerge, &widgets).unwrap_err();
        assert_eq!((err.code, err.reason), (415, "UnsupportedMediaType"));
        assert!(apply_patch(&json!({}), b"{\"a\": 1}", PatchKind::Merge, &widgets).is_ok());
    }

    #[test]
    fn apply_patches_go_elsewhere() {
        assert_eq!(patch(PatchKind::Apply, &json!({})).unwrap_err().code, 500);
    }
}
