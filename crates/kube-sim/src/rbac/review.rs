//! The review endpoints clients ask about access with: `SelfSubjectAccessReview` (`kubectl auth
//! can-i`), `SelfSubjectRulesReview` (`can-i --list`), `SubjectAccessReview` and
//! `LocalSubjectAccessReview` (about another user, for those allowed to ask), and
//! `authentication.k8s.io` `SelfSubjectReview` (`kubectl auth whoami`). Each is a create that
//! stores nothing and answers the posted object with its `status` filled in (201).

use serde_json::{Value, json};

use super::attributes::{Attributes, ResourceAttributes};
use super::identity::UserInfo;
use super::{Mode, decide, rules_in};
use crate::api::body::{self, Body};
use crate::api::route::Target;
use crate::api::status::ApiError;
use crate::sim::Sim;

/// The review resources: (group, version, plural, kind).
pub const REVIEWS: &[(&str, &str, &str, &str)] = &[
    (
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "v1",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
    ),
    (
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
    ),
];

/// Whether `group`/`plural` is a review resource (served for `create` only).
pub fn is_review(group: &str, plural: &str) -> bool {
    REVIEWS
        .iter()
        .any(|(g, _, p, _)| *g == group && *p == plural)
}

/// Answers a request to a review resource.
pub fn handle(
    sim: &Sim,
    mode: Mode,
    user: &UserInfo,
    method: &str,
    target: &Target,
    content_type: &str,
    body: &[u8],
) -> Result<hyper::Response<Body>, ApiError> {
    let Some(&(group, version, plural, kind)) = REVIEWS
        .iter()
        .find(|(g, v, p, _)| *g == target.group && *v == target.version && *p == target.plural)
    else {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    if method != "POST" || target.name.is_some() {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method} {plural})"
        )));
    }
    let mut review = decode(content_type, body)?;
    if !review.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    review["apiVersion"] = json!(format!("{group}/{version}"));
    review["kind"] = json!(kind);
    review["metadata"] = json!({ "creationTimestamp": null });
    let status = match kind {
        "SelfSubjectReview" => json!({ "userInfo": user }),
        "SelfSubjectRulesReview" => {
            let namespace = review
                .pointer("/spec/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            rules_review(sim, mode, user, namespace)
        }
        "SelfSubjectAccessReview" => access_review(sim, mode, user, &review["spec"], kind, "")?,
        _ => {
            let subject = subject_of(&review["spec"], kind)?;
            let namespace = target.namespace.as_deref().unwrap_or("");
            access_review(sim, mode, &subject, &review["spec"], kind, namespace)?
        }
    };
    review["status"] = status;
    Ok(body::json(201, &review))
}

fn decode(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if crate::protobuf::is_protobuf(content_type) {
        // kubectl's `auth can-i` and `auth whoami` post their reviews in protobuf only.
        return crate::protobuf::request_body(body);
    }
    let parsed = if content_type.contains("yaml") {
        serde_yaml_ng::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| ApiError::bad_request(format!("the request body does not decode: {e}")))
}

/// The user a (Local)`SubjectAccessReview` asks about.
fn subject_of(spec: &Value, kind: &str) -> Result<UserInfo, ApiError> {
    let strings = |field: &str| -> Vec<String> {
        spec.get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let user = spec.get("user").and_then(Value::as_str).unwrap_or("");
    let groups = strings("groups");
    if user.is_empty() && groups.is_empty() {
        return Err(ApiError::invalid(
            "authorization.k8s.io",
            kind,
            "",
            &[(
                "spec.user",
                r#"Invalid value: "": at least one of user or group must be specified"#.to_owned(),
            )],
        ));
    }
    Ok(UserInfo {
        username: user.to_owned(),
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        groups,
        extra: serde_json::from_value(spec.get("extra").cloned().unwrap_or_else(|| json!({})))
            .unwrap_or_default(),
    })
}

/// `{allowed, reason}` for the attributes in `spec`. `namespace` is the path's, which a
/// `LocalSubjectAccessReview`'s attributes must agree with.
fn access_review(
    sim: &Sim,
    mode: Mode,
    user: &UserInfo,
    spec: &Value,
    kind: &str,
    namespace: &str,
) -> Result<Value, ApiError> {
    let text = |v: &Value, field: &str| {
        v.get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let attrs = match (
        spec.get("resourceAttributes"),
        spec.get("nonResourceAttributes"),
    ) {
        (Some(r), None) => {
            let resource = ResourceAttributes {
                group: text(r, "group"),
                version: text(r, "version"),
                resource: text(r, "resource"),
                subresource: text(r, "subresource"),
                namespace: text(r, "namespace"),
                name: text(r, "name"),
            };
            if kind == "LocalSubjectAccessReview" && resource.namespace != namespace {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {namespace}"
                )));
            }
            Attributes {
                verb: text(r, "verb"),
                path: String::new(),
                resource: Some(resource),
            }
        }
        (None, Some(n)) => Attributes {
            verb: text(n, "verb"),
            path: text(n, "path"),
            resource: None,
        },
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "authorization.k8s.io",
                kind,
                "",
                &[("spec.nonResourceAttributes", "Invalid value: \"\": cannot be specified in combination with resourceAttributes".to_owned())],
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "authorization.k8s.io",
                kind,
                "",
                &[("spec.resourceAttributes", "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".to_owned())],
            ));
        }
    };
    let decision = decide(sim, mode, user, &attrs);
    let mut status = json!({ "allowed": decision.allowed });
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    Ok(status)
}

fn rules_review(sim: &Sim, mode: Mode, user: &UserInfo, namespace: &str) -> Value {
    let (rules, errors) = rules_in(sim, mode, user, namespace);
    let (resource_rules, non_resource_rules) = super::rules::split_rules(&rules);
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    status
}
