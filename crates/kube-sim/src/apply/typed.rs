//! Walks over objects that know their list and map merge types ([`Schema`]): the field set a
//! value sets, the comparison of two values, the merge of an applied configuration into a live
//! object, and the pruning of fields a manager stopped applying.
//!
//! These follow the structured-merge-diff library the API server uses, so that ownership and
//! conflicts come out as they would on a real cluster.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, PathElement, display_path};
use super::schema::{ListType, Schema, item_key};

/// What changed between two values: paths added, modified (leaves only) and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

/// How a value is walked at one place in the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Map,
    List(ListType),
    Leaf,
}

/// A walk in progress: the schema and the field names from the root to the current value.
struct Walk<'s> {
    schema: &'s Schema,
    names: Vec<String>,
}

impl<'s> Walk<'s> {
    fn new(schema: &'s Schema) -> Self {
        Self {
            schema,
            names: Vec::new(),
        }
    }

    fn shape(&self, value: &Value) -> Shape {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        match value {
            Value::Object(_) if !self.schema.map_is_atomic(&names) => Shape::Map,
            Value::Array(items) => match self.schema.list_type(&names) {
                ListType::Atomic => Shape::Leaf,
                // A set only holds scalars; anything else is owned as a whole.
                ListType::Set if items.iter().any(|item| item.is_object() || item.is_array()) => {
                    Shape::Leaf
                }
                list => Shape::List(list),
            },
            _ => Shape::Leaf,
        }
    }

    /// The path element of a list item, `None` when the item cannot be identified.
    fn element(list: ListType, item: &Value) -> Option<PathElement> {
        match list {
            ListType::Map(keys) => item_key(item, keys).map(|pairs| PathElement::key(&pairs)),
            ListType::Set => Some(PathElement::value(item)),
            ListType::Atomic => None,
        }
    }

    // ----- the set of fields a value sets -----

    fn fields_of_map(
        &mut self,
        map: &Map<String, Value>,
        path: &mut Vec<PathElement>,
        out: &mut FieldSet,
    ) -> Result<(), String> {
        for (name, value) in map {
            self.names.push(name.clone());
            path.push(PathElement::field(name));
            let result = self.fields_of_value(value, path, out);
            path.pop();
            self.names.pop();
            result?;
        }
        Ok(())
    }

    fn fields_of_value(
        &mut self,
        value: &Value,
        path: &mut Vec<PathElement>,
        out: &mut FieldSet,
    ) -> Result<(), String> {
        match (self.shape(value), value) {
            (Shape::Map, Value::Object(map)) if !map.is_empty() => {
                self.fields_of_map(map, path, out)
            }
            (Shape::List(list), Value::Array(items)) => self.fields_of_list(list, items, path, out),
            _ => {
                out.insert(path);
                Ok(())
            }
        }
    }

    fn fields_of_list(
        &mut self,
        list: ListType,
        items: &[Value],
        path: &mut Vec<PathElement>,
        out: &mut FieldSet,
    ) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for (index, item) in items.iter().enumerate() {
            let Some(element) = Self::element(list, item) else {
                return Err(match list {
                    ListType::Map(keys) => {
                        let names: Vec<&str> = keys.iter().map(|k| k.name).collect();
                        format!(
                            "{}: element {index}: associative list with keys has an element that omits key field(s) {names:?}",
                            display_path(path)
                        )
                    }
                    _ => format!(
                        "{}: element {index} cannot be identified",
                        display_path(path)
                    ),
                });
            };
            if !seen.insert(element.clone()) {
                return Err(format!(
                    "{}: duplicate entries for key {element}",
                    display_path(path)
                ));
            }
            path.push(element);
            out.insert(path);
            if let (Value::Object(map), ListType::Map(_)) = (item, list) {
                self.fields_of_map(map, path, out)?;
            }
            path.pop();
        }
        Ok(())
    }

    // ----- comparison -----

    fn compare(
        &mut self,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
        out: &mut Comparison,
    ) {
        let lshape = lhs.map(|v| self.shape(v));
        let rshape = rhs.map(|v| self.shape(v));
        let shape = match (lshape, rshape) {
            (Some(a), Some(b)) if a == b => a,
            (Some(a), None) | (None, Some(a)) => a,
            _ => Shape::Leaf,
        };
        let descended = match shape {
            Shape::Map => {
                let lmap = lhs.and_then(Value::as_object);
                let rmap = rhs.and_then(Value::as_object);
                let empty = lmap.is_none_or(Map::is_empty) && rmap.is_none_or(Map::is_empty);
                if !empty {
                    let names: BTreeSet<&String> =
                        lmap.into_iter().chain(rmap).flat_map(Map::keys).collect();
                    for name in names {
                        self.names.push(name.clone());
                        path.push(PathElement::field(name));
                        self.compare(
                            lmap.and_then(|m| m.get(name)),
                            rmap.and_then(|m| m.get(name)),
                            path,
                            out,
                        );
                        path.pop();
                        self.names.pop();
                    }
                }
                !empty
            }
            Shape::List(list) => {
                let litems = lhs.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                let ritems = rhs.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                let empty = litems.is_empty() && ritems.is_empty();
                if !empty {
                    let lindex = index_items(list, litems);
                    let rindex = index_items(list, ritems);
                    let elements: BTreeSet<&PathElement> =
                        lindex.keys().chain(rindex.keys()).collect();
                    for element in elements {
                        path.push(element.clone());
                        self.compare(
                            lindex.get(element).copied(),
                            rindex.get(element).copied(),
                            path,
                            out,
                        );
                        path.pop();
                    }
                }
                !empty
            }
            Shape::Leaf => false,
        };
        if lhs.is_none() {
            out.added.insert(path);
        } else if rhs.is_none() {
            out.removed.insert(path);
        } else if !descended && lhs != rhs {
            out.modified.insert(path);
        }
    }

    // ----- merge -----

    /// `config` merged onto `live`; `None` when the result is to be absent (an applied null).
    fn merge(&mut self, live: Option<&Value>, config: &Value) -> Option<Value> {
        if config.is_null() {
            return None;
        }
        let shape = self.shape(config);
        match (live, config) {
            (Some(Value::Object(lmap)), Value::Object(cmap)) if shape == Shape::Map => {
                let mut out = lmap.clone();
                for (name, value) in cmap {
                    self.names.push(name.clone());
                    match self.merge(lmap.get(name), value) {
                        Some(merged) => {
                            out.insert(name.clone(), merged);
                        }
                        None => {
                            out.remove(name);
                        }
                    }
                    self.names.pop();
                }
                Some(Value::Object(out))
            }
            (Some(live_value @ Value::Array(litems)), Value::Array(citems)) => match shape {
                Shape::List(list) if self.shape(live_value) == shape => {
                    Some(Value::Array(self.merge_list(list, litems, citems)))
                }
                _ => Some(without_nulls(config)),
            },
            _ => Some(without_nulls(config)),
        }
    }

    /// Merges keyed or set items: the applied items in their applied order, with live-only items
    /// kept where they were relative to them.
    fn merge_list(&mut self, list: ListType, live: &[Value], config: &[Value]) -> Vec<Value> {
        let lindex = index_items(list, live);
        let celements: Vec<Option<PathElement>> = config
            .iter()
            .map(|item| Self::element(list, item))
            .collect();
        let cpos: BTreeMap<&PathElement, usize> = celements
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.as_ref()?, i)))
            .collect();
        let mut out = Vec::with_capacity(live.len().max(config.len()));
        let mut next = 0;
        let mut emit_until = |this: &mut Self, end: usize, out: &mut Vec<Value>| {
            while next <= end && next < config.len() {
                let live_item = celements[next]
                    .as_ref()
                    .and_then(|e| lindex.get(e).copied());
                if let Some(merged) = this.merge(live_item, &config[next]) {
                    out.push(merged);
                }
                next += 1;
            }
        };
        for item in live {
            match Self::element(list, item).and_then(|e| cpos.get(&e).copied()) {
                None => out.push(item.clone()),
                Some(pos) => emit_until(self, pos, &mut out),
            }
        }
        emit_until(self, config.len(), &mut out);
        out
    }

    // ----- pruning -----

    /// Removes from `value` what `last` owned and nobody (`owned`) owns any more.
    fn prune(&mut self, value: &mut Value, last: &FieldSet, owned: Option<&FieldSet>) {
        match self.shape(value) {
            Shape::Map => {
                let Value::Object(map) = value else { return };
                let names: Vec<String> = map
                    .keys()
                    .filter(|name| last.touches(&PathElement::field(name)))
                    .cloned()
                    .collect();
                for name in names {
                    let element = PathElement::field(&name);
                    // A field stays while anyone owns it or anything under it; then only the
                    // parts the applier owned alone go.
                    if !owned.is_some_and(|o| o.touches(&element)) {
                        map.remove(&name);
                    } else if let (Some(last_child), Some(child)) =
                        (last.child(&element), map.get_mut(&name))
                    {
                        self.names.push(name);
                        self.prune(child, last_child, owned.and_then(|o| o.child(&element)));
                        self.names.pop();
                    }
                }
            }
            Shape::List(kind) => {
                let Value::Array(items) = value else { return };
                items.retain_mut(|item| {
                    let Some(element) = Self::element(kind, item) else {
                        return true;
                    };
                    // A list item's existence is owned through its own member (`.`): owning a
                    // field inside someone else's item does not keep the item.
                    if last.has_member(&element) && !owned.is_some_and(|o| o.has_member(&element)) {
                        return false;
                    }
                    if let Some(last_child) = last.child(&element) {
                        self.prune(item, last_child, owned.and_then(|o| o.child(&element)));
                    }
                    true
                });
            }
            Shape::Leaf => {}
        }
    }
}

/// The fields `value` sets, as server-side apply records them for the applier.
pub fn field_set(schema: &Schema, value: &Value) -> Result<FieldSet, String> {
    let mut out = FieldSet::new();
    Walk::new(schema).fields_of_value(value, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// What changed from `lhs` to `rhs` (either may be absent).
pub fn compare(schema: &Schema, lhs: Option<&Value>, rhs: Option<&Value>) -> Comparison {
    let mut out = Comparison::default();
    if lhs.is_some() || rhs.is_some() {
        Walk::new(schema).compare(lhs, rhs, &mut Vec::new(), &mut out);
    }
    out
}

/// `config` merged onto `live`: maps recursively, keyed lists and sets item by item, everything
/// else replaced.
pub fn merge(schema: &Schema, live: &Value, config: &Value) -> Value {
    Walk::new(schema)
        .merge(Some(live), config)
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// Removes from `value` the fields in `last` that nobody in `owned` owns.
pub fn prune(schema: &Schema, value: &mut Value, last: &FieldSet, owned: &FieldSet) {
    Walk::new(schema).prune(value, last, Some(owned));
}

fn index_items(list: ListType, items: &[Value]) -> BTreeMap<PathElement, &Value> {
    let mut index = BTreeMap::new();
    for item in items {
        if let Some(element) = Walk::element(list, item) {
            // Kubernetes tolerates duplicates already stored; the first one stands for the key.
            index.entry(element).or_insert(item);
        }
    }
    index
}

/// `value` without null map entries: an applied null means "absent".
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}
