//! The entries of `metadata.managedFields`: reading them from an object, identifying a manager,
//! and writing them back in the order the API server uses.

use serde_json::{Map, Value, json};

use super::fieldset::FieldSet;

pub const APPLY: &str = "Apply";
pub const UPDATE: &str = "Update";

/// One manager's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// Whether this entry belongs to the given writer. Appliers are one manager whatever
    /// apiVersion they apply with; updaters are one per apiVersion, as in Kubernetes.
    pub fn is(
        &self,
        manager: &str,
        operation: &str,
        api_version: &str,
        subresource: Option<&str>,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == APPLY || self.api_version == api_version)
    }

    /// How conflict messages name the manager: `"kubectl"` for an applier,
    /// `"kube-controller-manager" using apps/v1` for an updater.
    pub fn describe(&self) -> String {
        let subresource = self
            .subresource
            .as_ref()
            .map(|s| format!(" with subresource {s:?}"))
            .unwrap_or_default();
        let version = if self.operation == UPDATE {
            format!(" using {}", self.api_version)
        } else {
            String::new()
        };
        format!("{:?}{subresource}{version}", self.manager)
    }

    fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if let Some(time) = &self.time {
            entry["time"] = json!(time);
        }
        if let Some(subresource) = &self.subresource {
            entry["subresource"] = json!(subresource);
        }
        entry
    }

    fn from_json(value: &Value) -> Option<Self> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        if value
            .get("fieldsType")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "FieldsV1")
        {
            return None;
        }
        Some(Self {
            manager: text("manager").unwrap_or_default(),
            operation: text("operation")?,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            fields: FieldSet::from_fields_v1(
                value.get("fieldsV1").unwrap_or(&Value::Object(Map::new())),
            )
            .ok()?,
        })
    }
}

/// The entries recorded in `object` (entries that cannot be read are dropped, as the API server
/// resets managed fields it cannot decode).
pub fn read(object: &Value) -> Vec<ManagedEntry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(ManagedEntry::from_json).collect())
        .unwrap_or_default()
}

/// Writes `entries` (without the empty ones) into `object`, sorted as the API server sorts them:
/// by operation, then time, then manager.
pub fn write(object: &mut Value, mut entries: Vec<ManagedEntry>) {
    entries.retain(|entry| !entry.fields.is_empty());
    entries.sort_by(|a, b| {
        let seconds = |e: &ManagedEntry| {
            e.time
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or(0, jiff::Timestamp::as_second)
        };
        a.operation
            .cmp(&b.operation)
            .then_with(|| seconds(a).cmp(&seconds(b)))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let Some(object) = object.as_object_mut() else {
        return;
    };
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert(
            "managedFields".to_owned(),
            Value::Array(entries.iter().map(ManagedEntry::to_json).collect()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::fieldset::PathElement;

    fn entry(manager: &str, operation: &str, time: &str) -> ManagedEntry {
        let mut fields = FieldSet::new();
        fields.insert(&[PathElement::field("spec"), PathElement::field(manager)]);
        ManagedEntry {
            manager: manager.to_owned(),
            operation: operation.to_owned(),
            api_version: "apps/v1".to_owned(),
            time: Some(time.to_owned()),
            subresource: None,
            fields,
        }
    }

    #[test]
    fn round_trips_and_sorts() {
        let mut object = json!({"metadata": {"name": "x"}});
        let entries = vec![
            entry("b", UPDATE, "2024-01-01T00:00:00Z"),
            entry("a", UPDATE, "2024-01-02T00:00:00Z"),
            entry("z", APPLY, "2024-01-03T00:00:00Z"),
        ];
        write(&mut object, entries);
        let back = read(&object);
        let names: Vec<&str> = back.iter().map(|e| e.manager.as_str()).collect();
        assert_eq!(names, ["z", "b", "a"]);
        assert_eq!(
            object["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:z": {}}})
        );
    }

    #[test]
    fn empty_entries_vanish() {
        let mut object = json!({"metadata": {"managedFields": [{}]}});
        let mut e = entry("a", UPDATE, "2024-01-01T00:00:00Z");
        e.fields = FieldSet::new();
        write(&mut object, vec![e]);
        assert_eq!(object, json!({"metadata": {}}));
    }

    #[test]
    fn identity_and_description() {
        let mut e = entry("kubectl", UPDATE, "2024-01-01T00:00:00Z");
        assert!(e.is("kubectl", UPDATE, "apps/v1", None));
        assert!(!e.is("kubectl", UPDATE, "apps/v1beta1", None));
        assert_eq!(e.describe(), "\"kubectl\" using apps/v1");
        e.operation = APPLY.to_owned();
        assert!(e.is("kubectl", APPLY, "apps/v1beta1", None));
        assert!(!e.is("kubectl", APPLY, "apps/v1", Some("status")));
        assert_eq!(e.describe(), "\"kubectl\"");
    }
}
