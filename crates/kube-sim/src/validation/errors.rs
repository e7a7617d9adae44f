//! Field errors as the real API server words them (`spec.replicas: Invalid value: -1: must be
//! greater than or equal to 0`) and the 422 `Invalid` Status they add up to, with one
//! `details.causes[]` entry per error.

use serde_json::{Value, json};

use crate::api::status::ApiError;

/// The `reason` of a cause: Kubernetes' `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    /// A value of the wrong JSON type for a CRD schema.
    TypeInvalid,
}

impl Reason {
    pub fn cause_type(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
        }
    }
}

/// One field error: where, what kind, and the text after the field (`Invalid value: 70000:
/// must be between 1 and 65535, inclusive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub reason: Reason,
    pub field: String,
    pub body: String,
}

/// How a bad value is shown: numbers and booleans bare, strings quoted, anything else as JSON
/// (what servers from 1.33 print for maps and structs).
pub fn show(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// The errors found in one object, in the order the real validators report them.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    fn push(&mut self, reason: Reason, field: &str, value: Option<&Value>, detail: &str) {
        let mut body = reason.words().to_owned();
        if let Some(value) = value {
            body.push_str(": ");
            body.push_str(&show(value));
        }
        if !detail.is_empty() {
            body.push_str(": ");
            body.push_str(detail);
        }
        self.0.push(FieldError {
            reason,
            field: field.to_owned(),
            body,
        });
    }

    pub fn invalid(&mut self, field: &str, value: &Value, detail: &str) {
        self.push(Reason::Invalid, field, Some(value), detail);
    }

    pub fn type_invalid(&mut self, field: &str, value: &Value, detail: &str) {
        self.push(Reason::TypeInvalid, field, Some(value), detail);
    }

    pub fn required(&mut self, field: &str, detail: &str) {
        self.push(Reason::Required, field, None, detail);
    }

    pub fn forbidden(&mut self, field: &str, detail: &str) {
        self.push(Reason::Forbidden, field, None, detail);
    }

    pub fn duplicate(&mut self, field: &str, value: &Value) {
        self.push(Reason::Duplicate, field, Some(value), "");
    }

    pub fn not_found(&mut self, field: &str, value: &Value) {
        self.push(Reason::NotFound, field, Some(value), "");
    }

    pub fn too_long(&mut self, field: &str, max_bytes: usize) {
        let detail = format!("must have at most {max_bytes} bytes");
        self.push(Reason::TooLong, field, None, &detail);
    }

    /// A string longer than a schema's `maxLength`.
    pub fn too_long_max_length(&mut self, field: &str, max: u64) {
        let detail = format!("may not be longer than {max}");
        self.push(Reason::TooLong, field, None, &detail);
    }

    pub fn too_many(&mut self, field: &str, count: usize, max: usize) {
        let detail = format!("must have at most {max} items");
        self.push(Reason::TooMany, field, Some(&json!(count)), &detail);
    }

    /// `Unsupported value: "Never": supported values: "Always"`.
    pub fn not_supported(&mut self, field: &str, value: &Value, supported: &[&str]) {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        self.push(Reason::NotSupported, field, Some(value), &detail);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The 422 `Invalid` Status: `Deployment.apps "web" is invalid: <error>` for one error,
    /// `… is invalid: [<error>, <error>]` for several (repeated texts said once, as the real
    /// aggregate does).
    pub fn into_api_error(self, group: &str, kind: &str, name: &str) -> ApiError {
        let mut texts: Vec<String> = Vec::new();
        for e in &self.0 {
            let text = format!("{}: {}", e.field, e.body);
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
        let summary = match texts.as_slice() {
            [only] => only.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let causes: Vec<Value> = self
            .0
            .iter()
            .map(
                |e| json!({ "reason": e.reason.cause_type(), "message": e.body, "field": e.field }),
            )
            .collect();
        ApiError::new(
            422,
            "Invalid",
            format!("{qualified} {name:?} is invalid: {summary}"),
        )
        .with_details(json!({ "name": name, "group": group, "kind": kind, "causes": causes }))
    }
}

/// A field path as the real server prints it: `spec.template.spec.containers[0].image`,
/// `data[my key]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn root(name: &str) -> Self {
        Self(name.to_owned())
    }

    #[must_use]
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    #[must_use]
    pub fn key(&self, k: &str) -> Self {
        Self(format!("{}[{k}]", self.0))
    }
}

impl std::ops::Deref for Path {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_error_is_said_alone_and_several_in_brackets() {
        let mut one = Errors::default();
        one.invalid(
            "spec.replicas",
            &json!(-1),
            "must be greater than or equal to 0",
        );
        let err = one.into_api_error("apps", "Deployment", "web");
        assert_eq!(
            err.message,
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let mut two = Errors::default();
        two.required("spec.template.spec.containers[0].image", "");
        two.not_supported("spec.type", &json!("Foo"), &["ClusterIP", "NodePort"]);
        let err = two.into_api_error("", "Service", "web");
        assert_eq!(
            err.message,
            "Service \"web\" is invalid: [spec.template.spec.containers[0].image: Required value, spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"NodePort\"]"
        );
        let details = err.details.unwrap_or_default();
        assert_eq!(details["causes"][1]["reason"], "FieldValueNotSupported");
        assert_eq!(
            details["causes"][0]["field"],
            "spec.template.spec.containers[0].image"
        );
    }
}
