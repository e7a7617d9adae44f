//! The field table (`table.txt`, generated; see `generator/`) loaded into memory once: for each
//! Kubernetes message, its fields by tag with their JSON names, kinds and presence rules.

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("table.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Int32,
    Int64,
    Bool,
    Double,
    Bytes,
    Message,
    /// A map with string keys; the value kind is the field's `target` (`string`, `bytes` or a
    /// message name).
    Map,
}

/// What Go's JSON encoder does with a field's zero value, and so what a zero on the wire means
/// in JSON: Go's marshaller writes every non-pointer field, set or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Shown (a pointer, which is on the wire only when set, or a field without `omitempty`).
    Show,
    /// `omitempty` on a non-pointer: a zero scalar or an empty list is left out; a struct is not.
    Omit,
    /// `omitzero`: a zero struct is left out too.
    OmitZero,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub tag: u32,
    /// `None` for a struct Go inlines into its parent's JSON object.
    pub json: Option<String>,
    pub kind: Kind,
    pub repeated: bool,
    pub presence: Presence,
    pub target: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Message {
    /// A Go named slice (`type ExtraValue []string`): JSON is the bare array of field 1.
    pub slice: bool,
    pub fields: Vec<Field>,
}

impl Message {
    pub fn field(&self, tag: u32) -> Option<&Field> {
        self.fields.iter().find(|f| f.tag == tag)
    }
}

/// The message of this name (`io.k8s.api.apps.v1.Deployment`).
pub fn message(name: &str) -> Option<&'static Message> {
    table().get(name)
}

fn table() -> &'static HashMap<String, Message> {
    static LOADED: OnceLock<HashMap<String, Message>> = OnceLock::new();
    LOADED.get_or_init(|| parse(TABLE))
}

/// Parses the table. Lines it cannot read are skipped; the tests check that none are.
fn parse(text: &str) -> HashMap<String, Message> {
    let mut messages = HashMap::new();
    let mut current: Option<(String, Message)> = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let words: Vec<&str> = line.split(' ').collect();
        if words.first() == Some(&"message") {
            messages.extend(current.take());
            let name = words.get(1).copied().unwrap_or_default().to_owned();
            let slice = words.get(2) == Some(&"slice");
            current = Some((
                name,
                Message {
                    slice,
                    fields: Vec::new(),
                },
            ));
        } else if let Some((_, message)) = current.as_mut()
            && let Some(field) = parse_field(&words)
        {
            message.fields.push(field);
        }
    }
    messages.extend(current);
    messages
}

fn parse_field(words: &[&str]) -> Option<Field> {
    let tag = words.first()?.parse().ok()?;
    let json = match *words.get(1)? {
        "-" => None,
        name => Some(name.to_owned()),
    };
    let kind_word = *words.get(2)?;
    let (kind_name, repeated) = match kind_word.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (kind_word, false),
    };
    let kind = match kind_name {
        "string" => Kind::String,
        "int32" => Kind::Int32,
        "int64" => Kind::Int64,
        "bool" => Kind::Bool,
        "double" => Kind::Double,
        "bytes" => Kind::Bytes,
        "message" => Kind::Message,
        "map" => Kind::Map,
        _ => return None,
    };
    let presence = match *words.get(3)? {
        "show" => Presence::Show,
        "omit" => Presence::Omit,
        "omitzero" => Presence::OmitZero,
        _ => return None,
    };
    let target = words.get(4).map(|t| (*t).to_owned());
    if matches!(kind, Kind::Message | Kind::Map) && target.is_none() {
        return None;
    }
    Some(Field {
        tag,
        json,
        kind,
        repeated,
        presence,
        target,
    })
}

/// The message of a top-level kind: `apps/v1` `Deployment` is `io.k8s.api.apps.v1.Deployment`;
/// `Status` and the other `meta.k8s.io` kinds every group serves are found in `meta/v1`.
pub fn message_of_kind(api_version: &str, kind: &str) -> Option<(String, &'static Message)> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let package = match group {
        "" => "io.k8s.api.core".to_owned(),
        "apiextensions.k8s.io" => {
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions".to_owned()
        }
        "internal.apiserver.k8s.io" => "io.k8s.api.apiserverinternal".to_owned(),
        "meta.k8s.io" => "io.k8s.apimachinery.pkg.apis.meta".to_owned(),
        // Kubernetes names a group's Go package after the group's first label.
        _ => format!("io.k8s.api.{}", group.split('.').next().unwrap_or(group)),
    };
    [
        format!("{package}.{version}.{kind}"),
        format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}"),
    ]
    .into_iter()
    .find_map(|name| message(&name).map(|m| (name, m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_table_is_read() {
        let lines = TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("message "))
            .count();
        let fields: usize = table().values().map(|m| m.fields.len()).sum();
        assert_eq!(fields, lines);
        assert_eq!(
            table().len(),
            TABLE.lines().filter(|l| l.starts_with("message ")).count()
        );
    }

    #[test]
    fn every_target_is_in_the_table() {
        for (name, msg) in table() {
            for field in &msg.fields {
                if field.kind == Kind::Message
                    || (field.kind == Kind::Map
                        && !matches!(field.target.as_deref(), Some("string" | "bytes")))
                {
                    let target = field.target.as_deref().unwrap_or_default();
                    assert!(message(target).is_some(), "{name}.{}: {target}", field.tag);
                }
            }
        }
    }

    #[test]
    fn kinds_find_their_messages() {
        for (api_version, kind, name) in [
            ("v1", "Namespace", "io.k8s.api.core.v1.Namespace"),
            (
                "apps/v1",
                "DeploymentList",
                "io.k8s.api.apps.v1.DeploymentList",
            ),
            (
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                "io.k8s.api.rbac.v1.ClusterRole",
            ),
            (
                "networking.k8s.io/v1",
                "Ingress",
                "io.k8s.api.networking.v1.Ingress",
            ),
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            ),
            (
                "v1",
                "Status",
                "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
            ),
        ] {
            assert_eq!(
                message_of_kind(api_version, kind)
                    .map(|(n, _)| n)
                    .as_deref(),
                Some(name)
            );
        }
        assert!(message_of_kind("example.com/v1", "Widget").is_none());
    }
}
