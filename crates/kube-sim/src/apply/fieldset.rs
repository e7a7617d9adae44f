//! Sets of field paths, and their `fieldsV1` encoding in `metadata.managedFields`.
//!
//! A set is a tree. At each level, *members* are the path elements owned as such (a scalar, an
//! atomic list, a list item's existence) and *children* are the path elements under which more
//! is owned. The encoding writes `f:<field>`, `k:<key json>`, `v:<value json>` and `i:<index>`
//! for the elements; an element that is both a member and has children carries `".": {}`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a map: `f:name`.
    Field(String),
    /// A keyed list item, by its key as compact JSON with sorted fields: `k:{"name":"web"}`.
    Key(String),
    /// An item of a set, by its value as compact JSON: `v:"finalizer"`.
    Value(String),
    /// A list item by position (only read, for entries other servers may have written).
    Index(u64),
}

impl PathElement {
    pub fn field(name: &str) -> Self {
        Self::Field(name.to_owned())
    }

    /// The element of a keyed list item whose key is these (field, value) pairs.
    pub fn key(pairs: &[(String, Value)]) -> Self {
        // serde_json's map is ordered by key, which is the order Kubernetes writes keys in.
        let object: Map<String, Value> = pairs.iter().cloned().collect();
        Self::Key(Value::Object(object).to_string())
    }

    pub fn value(value: &Value) -> Self {
        Self::Value(value.to_string())
    }

    fn encode(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(json) => format!("k:{json}"),
            Self::Value(json) => format!("v:{json}"),
            Self::Index(index) => format!("i:{index}"),
        }
    }

    fn decode(text: &str) -> Result<Self, String> {
        let (tag, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("invalid path element {text:?}"))?;
        let canonical_json = |json: &str| -> Result<String, String> {
            // Re-serialising puts the keys in our canonical order whatever order the writer used.
            serde_json::from_str::<Value>(json)
                .map(|value| value.to_string())
                .map_err(|e| format!("invalid JSON in path element {text:?}: {e}"))
        };
        match tag {
            "f" => Ok(Self::Field(rest.to_owned())),
            "k" => canonical_json(rest).map(Self::Key),
            "v" => canonical_json(rest).map(Self::Value),
            "i" => rest
                .parse()
                .map(Self::Index)
                .map_err(|_| format!("invalid index in path element {text:?}")),
            _ => Err(format!("unknown path element type in {text:?}")),
        }
    }
}

/// Kubernetes' notation in conflict messages: `.spec.replicas`, `[name="web"]`, `[="x"]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(json) => {
                let Ok(Value::Object(pairs)) = serde_json::from_str::<Value>(json) else {
                    return write!(f, "[{json}]");
                };
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            Self::Value(json) => write!(f, "[={json}]"),
            Self::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// A path as Kubernetes prints it: `.spec.template.spec.containers[name="web"].image`.
pub fn display_path(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds `path` as a member. The empty path (the root) is never a member.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|child| child.contains(rest)),
        }
    }

    /// Whether `element` itself is a member at this level.
    pub fn has_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// What is owned below `element`.
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    /// Whether `element` or anything below it is in the set.
    pub fn touches(&self, element: &PathElement) -> bool {
        self.members.contains(element) || self.children.contains_key(element)
    }

    #[must_use]
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_in_place(other);
        out
    }

    fn union_in_place(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            self.children
                .entry(element.clone())
                .or_default()
                .union_in_place(child);
        }
    }

    #[must_use]
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, child)| {
                let rest = match other.children.get(element) {
                    Some(theirs) => child.difference(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (element.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    #[must_use]
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, child)| {
                let common = child.intersection(other.children.get(element)?);
                (!common.is_empty()).then(|| (element.clone(), common))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Every member path, in order.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        // Members and children interleave in element order, as Kubernetes lists them.
        let elements: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for element in elements {
            prefix.push(element.clone());
            if self.members.contains(element) {
                out.push(prefix.clone());
            }
            if let Some(child) = self.children.get(element) {
                child.collect_paths(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.encode_level(false))
    }

    fn encode_level(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self {
            out.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for element in &self.members {
            out.insert(element.encode(), Value::Object(Map::new()));
        }
        for (element, child) in &self.children {
            let nested = child.encode_level(self.members.contains(element));
            out.insert(element.encode(), Value::Object(nested));
        }
        out
    }

    /// Reads a `fieldsV1` object.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        let object = value.as_object().ok_or("fieldsV1 must be an object")?;
        let mut set = FieldSet::new();
        for (text, nested) in object {
            if text == "." {
                // The caller records membership of the element this level belongs to.
                continue;
            }
            let element = PathElement::decode(text)?;
            let nested_object = nested
                .as_object()
                .ok_or_else(|| format!("fieldsV1 entry {text:?} must be an object"))?;
            if nested_object.is_empty() || nested_object.contains_key(".") {
                set.members.insert(element.clone());
            }
            let child = Self::from_fields_v1(nested)?;
            if !child.is_empty() {
                set.children.insert(element, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    #[test]
    fn encodes_members_children_and_dot() {
        let web = PathElement::key(&[("name".to_owned(), json!("web"))]);
        let mut set = FieldSet::new();
        set.insert(&[f("spec"), f("replicas")]);
        set.insert(&[f("spec"), f("containers"), web.clone()]);
        set.insert(&[f("spec"), f("containers"), web.clone(), f("image")]);
        set.insert(&[
            f("metadata"),
            f("finalizers"),
            PathElement::value(&json!("x")),
        ]);
        let encoded = set.to_fields_v1();
        assert_eq!(
            encoded,
            json!({
                "f:metadata": {"f:finalizers": {"v:\"x\"": {}}},
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}}},
                    "f:replicas": {}
                }
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&encoded).unwrap(), set);
    }

    #[test]
    fn keys_are_canonical_whatever_the_writer_order() {
        let decoded = FieldSet::from_fields_v1(
            &json!({"k:{\"protocol\":\"TCP\", \"containerPort\":80}": {}}),
        )
        .unwrap();
        let expected = PathElement::key(&[
            ("containerPort".to_owned(), json!(80)),
            ("protocol".to_owned(), json!("TCP")),
        ]);
        assert!(decoded.has_member(&expected));
        assert_eq!(expected.to_string(), "[containerPort=80,protocol=\"TCP\"]");
    }

    #[test]
    fn rejects_garbage() {
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:{oops": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&[f("a"), f("b")]);
        a.insert(&[f("a"), f("c")]);
        let mut b = FieldSet::new();
        b.insert(&[f("a"), f("c")]);
        b.insert(&[f("d")]);
        let mut only_b = FieldSet::new();
        only_b.insert(&[f("a"), f("b")]);
        assert_eq!(a.difference(&b), only_b);
        assert_eq!(a.intersection(&b).paths(), vec![vec![f("a"), f("c")]]);
        assert_eq!(a.union(&b).paths().len(), 3);
        assert!(a.difference(&a).is_empty());
        assert_eq!(display_path(&[f("spec"), f("replicas")]), ".spec.replicas");
    }
}
