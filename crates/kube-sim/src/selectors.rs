//! Label selectors (`app=web,tier!=db,env in (a,b),!canary,release`) and the field selectors
//! clients use (`metadata.name=x`, `metadata.namespace=y`, `involvedObject.name=z`, ...).

use serde_json::Value;

use crate::api::status::ApiError;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unable to parse requirement: invalid label selector {part:?}"
                ))
            })?);
        }
        Ok(Self(requirements))
    }

    /// From a `matchLabels`/`matchExpressions` selector object (as in a Deployment's spec).
    pub fn from_object(selector: &Value) -> Self {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                requirements.push(Requirement::Equals(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        for expr in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expr
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            match expr.get("operator").and_then(Value::as_str) {
                Some("In") => requirements.push(Requirement::In(key, values)),
                Some("NotIn") => requirements.push(Requirement::NotIn(key, values)),
                Some("Exists") => requirements.push(Requirement::Exists(key)),
                Some("DoesNotExist") => requirements.push(Requirement::NotExists(key)),
                _ => {}
            }
        }
        Self(requirements)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` match.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
        })
    }
}

/// Splits on commas that are not inside `( )`.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Option<Requirement> {
    if let Some(key) = part.strip_prefix('!') {
        return valid_key(key.trim()).then(|| Requirement::NotExists(key.trim().to_owned()));
    }
    if let Some((key, value)) = part.split_once("!=") {
        return valid_key(key.trim())
            .then(|| Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned()));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return valid_key(key.trim())
            .then(|| Requirement::Equals(key.trim().to_owned(), value.trim().to_owned()));
    }
    for (word, negated) in [(" notin ", true), (" in ", false)] {
        if let Some((key, rest)) = part.split_once(word) {
            let list = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
            let values = list
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            let key = key.trim().to_owned();
            if !valid_key(&key) {
                return None;
            }
            return Some(if negated {
                Requirement::NotIn(key, values)
            } else {
                Requirement::In(key, values)
            });
        }
    }
    valid_key(part).then(|| Requirement::Exists(part.to_owned()))
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// A parsed field selector: `path=value` and `path!=value` terms on a few well-known fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector {part:?}: expected field=value"
                )));
            };
            terms.push((field.trim().to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self(terms))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = object.pointer(&pointer).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            (actual.as_deref().unwrap_or("") == value) == *equal
        })
    }
}

/// The `labelSelector` and `fieldSelector` of a list, watch or delete-collection request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selection {
    pub fn from_query(
        query: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, ApiError> {
        let param = |name: &str| query.get(name).map_or("", String::as_str);
        Ok(Self {
            labels: LabelSelector::parse(param("labelSelector"))?,
            fields: FieldSelector::parse(param("fieldSelector"))?,
        })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(labels: &Value) -> Value {
        json!({ "metadata": { "name": "web-1", "namespace": "app", "labels": labels } })
    }

    #[test]
    fn every_operator() {
        let o = obj(&json!({ "app": "web", "tier": "front", "release": "r1" }));
        for (selector, expected) in [
            ("app=web", true),
            ("app==web", true),
            ("app=api", false),
            ("tier!=db", true),
            ("app in (web, api)", true),
            ("app notin (web)", false),
            ("missing notin (x)", true),
            ("release", true),
            ("!release", false),
            ("!canary", true),
            ("app=web,tier in (front),!canary", true),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(selector).unwrap().matches(&o),
                expected,
                "{selector}"
            );
        }
    }

    #[test]
    fn bad_selectors_are_400() {
        assert_eq!(LabelSelector::parse("app in web").unwrap_err().code, 400);
        assert_eq!(LabelSelector::parse("a b=c").unwrap_err().code, 400);
    }

    #[test]
    fn match_expressions_from_objects() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": { "app": "web" },
            "matchExpressions": [{ "key": "tier", "operator": "In", "values": ["front"] }]
        }));
        assert!(s.matches(&obj(&json!({ "app": "web", "tier": "front" }))));
        assert!(!s.matches(&obj(&json!({ "app": "web" }))));
    }

    #[test]
    fn field_selectors_on_name_and_namespace() {
        let o = obj(&json!({}));
        assert!(
            FieldSelector::parse("metadata.name=web-1")
                .unwrap()
                .matches(&o)
        );
        assert!(
            FieldSelector::parse("metadata.name!=web-2,metadata.namespace=app")
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.name=web-2")
                .unwrap()
                .matches(&o)
        );
    }
}
