//! Tables of kinds without a built-in printer. Custom resources print their CRD's
//! `additionalPrinterColumns` for the served version (each a `JSONPath` into the object), or an
//! AGE column when the CRD declares none; everything else (`Role`, `ClusterRole`, CRDs
//! themselves) gets the API server's default table: NAME and CREATED AT.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::format::{self, text};
use super::jsonpath::Path;
use super::{Col, NAME};
use crate::resources::ResourceType;
use crate::store::Store;

pub const DEFAULT_COLUMNS: [Col; 2] = [
    NAME,
    Col::new(
        "Created At",
        "date",
        "When the server created the object (metadata.creationTimestamp).",
    ),
];

/// NAME and the creation time as written (RFC 3339, UTC).
pub fn default_cells(object: &Value) -> Vec<Value> {
    let created = format::text_at(object, "/metadata/creationTimestamp")
        .and_then(crate::clock::parse_time)
        .map_or_else(
            || "0001-01-01T00:00:00Z".to_owned(),
            crate::clock::format_time,
        );
    vec![format::name(object), json!(created)]
}

/// A CRD's printer columns for one version.
#[derive(Debug)]
pub struct Columns(Vec<Column>);

#[derive(Debug)]
struct Column {
    name: String,
    kind: String,
    format: String,
    description: String,
    priority: i64,
    /// `None` when the CRD's `JSONPath` does not parse: the column stays empty.
    path: Option<Path>,
}

impl Columns {
    /// The columns of the CRD that serves `resource`, or `None` when no CRD does (a built-in
    /// kind without a printer).
    pub fn for_resource(store: &Store, resource: &ResourceType) -> Option<Self> {
        let crds = store.registry().by_plural(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
        )?;
        let crd = store
            .get(&crate::store::ObjectKey::new(
                crds,
                "",
                &format!("{}.{}", resource.plural, resource.group),
            ))?
            .clone();
        let version = format::list(&crd, "/spec/versions")
            .iter()
            .find(|v| text(v, "/name") == resource.version)
            .cloned()
            .unwrap_or(Value::Null);
        Some(Self::from_version(&version))
    }

    fn from_version(version: &Value) -> Self {
        let declared = format::list(version, "/additionalPrinterColumns");
        if declared.is_empty() {
            // What the apiextensions server serves for a CRD without printer columns.
            return Self(vec![Column {
                name: "Age".to_owned(),
                kind: "date".to_owned(),
                format: String::new(),
                description: "When the server created the object (metadata.creationTimestamp)."
                    .to_owned(),
                priority: 0,
                path: Path::parse(".metadata.creationTimestamp"),
            }]);
        }
        Self(
            declared
                .iter()
                .map(|column| {
                    let json_path = text(column, "/jsonPath");
                    Column {
                        name: text(column, "/name").to_owned(),
                        kind: text(column, "/type").to_owned(),
                        format: text(column, "/format").to_owned(),
                        description: match text(column, "/description") {
                            "" => format!(
                                "Custom resource definition column (in JSONPath format): {json_path}"
                            ),
                            given => given.to_owned(),
                        },
                        priority: format::int(column, "/priority"),
                        path: Path::parse(json_path),
                    }
                })
                .collect(),
        )
    }

    pub fn definitions(&self) -> Vec<Value> {
        let mut definitions = vec![super::definition(&NAME)];
        definitions.extend(self.0.iter().map(|c| {
            json!({
                "name": c.name,
                "type": c.kind,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        }));
        definitions
    }

    pub fn cells(&self, object: &Value, now: Timestamp) -> Vec<Value> {
        let mut cells = vec![format::name(object)];
        cells.extend(self.0.iter().map(|column| {
            let found = column.path.as_ref().and_then(|p| p.first(object));
            found.map_or(Value::Null, |value| cell(&column.kind, value, now))
        }));
        cells
    }
}

/// A found value as a cell of a column of `kind`: strings print as `JSONPath` prints them, other
/// types pass through when the value has that type and are empty (null) otherwise.
fn cell(kind: &str, value: &Value, now: Timestamp) -> Value {
    match (kind, value) {
        (_, Value::Null) => Value::Null,
        ("string", Value::String(s)) => json!(s),
        ("string", other) => json!(other.to_string()),
        ("integer", Value::Number(n)) => n
            .as_i64()
            // Truncated (and saturated), as Go converts a float64 to int64.
            .or_else(|| {
                #[allow(clippy::cast_possible_truncation)]
                n.as_f64().map(|f| f.trunc() as i64)
            })
            .map_or(Value::Null, |i| json!(i)),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => match crate::clock::parse_time(s) {
            Some(_) => json!(format::since(Some(s), now)),
            None => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn printer_columns_follow_their_json_paths() {
        let version = json!({
            "name": "v1",
            "additionalPrinterColumns": [
                { "name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status" },
                { "name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas" },
                { "name": "Paused", "type": "boolean", "jsonPath": ".spec.paused", "priority": 1 },
                { "name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp" },
                { "name": "Owner", "type": "string", "jsonPath": ".spec.owner", "description": "Who owns it." },
            ],
        });
        let columns = Columns::from_version(&version);
        let definitions = columns.definitions();
        assert_eq!(definitions[0]["name"], "Name");
        assert_eq!(
            definitions[1]["description"],
            "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type==\"Ready\")].status"
        );
        assert_eq!(definitions[3]["priority"], 1);
        assert_eq!(definitions[5]["description"], "Who owns it.");
        let object = json!({
            "metadata": { "name": "shop", "creationTimestamp": "2026-03-01T11:00:00Z" },
            "spec": { "replicas": 2.0, "paused": "no" },
            "status": { "conditions": [
                { "type": "Synced", "status": "False" }, { "type": "Ready", "status": "True" },
            ] },
        });
        assert_eq!(
            columns.cells(&object, now()),
            vec![
                json!("shop"),
                json!("True"),
                json!(2),
                Value::Null,
                json!("60m"),
                Value::Null
            ]
        );
    }

    #[test]
    fn without_printer_columns_an_age() {
        let columns = Columns::from_version(&json!({ "name": "v1" }));
        assert_eq!(columns.definitions()[1]["name"], "Age");
        assert_eq!(columns.definitions()[1]["type"], "date");
        let object =
            json!({ "metadata": { "name": "a", "creationTimestamp": "2026-03-01T11:59:00Z" } });
        assert_eq!(
            columns.cells(&object, now()),
            vec![json!("a"), json!("60s")]
        );
    }

    #[test]
    fn the_default_table_shows_the_creation_time() {
        let role = json!({ "metadata": { "name": "reader", "creationTimestamp": "2026-03-01T11:00:00Z" } });
        assert_eq!(
            default_cells(&role),
            vec![json!("reader"), json!("2026-03-01T11:00:00Z")]
        );
    }
}
