//! The `JSONPath` subset CRD printer columns use: `.a.b`, `['a.b']`, `[0]`, `[*]` and filters
//! `[?(@.type=="Ready")]`. A column shows the first value found, so evaluation stops there.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    /// `[?(@.a.b == "x")]` (or `!=`): items whose field compares as asked.
    Filter {
        fields: Vec<String>,
        equal: bool,
        value: Value,
    },
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path(Vec<Step>);

impl Path {
    /// Parses `.a.b[0]`, with or without the `{…}` template braces; `None` when it is not a
    /// path of the supported form.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text)
            .trim();
        let text = text.strip_prefix('$').unwrap_or(text);
        let mut steps = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let field = &after[..end];
                if field.is_empty() {
                    return None;
                }
                steps.push(Step::Field(field.to_owned()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = closing_bracket(after)?;
                steps.push(bracket(after[..end].trim())?);
                rest = &after[end + 1..];
            } else {
                return None;
            }
        }
        Some(Self(steps))
    }

    /// The first value the path reaches in `object`.
    pub fn first<'a>(&self, object: &'a Value) -> Option<&'a Value> {
        walk(&self.0, object)
    }
}

/// Where the `]` closing a bracket starts at; quotes may hold `]`.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn unquote(text: &str) -> Option<&str> {
    text.strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| text.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
}

fn bracket(inside: &str) -> Option<Step> {
    if inside == "*" {
        return Some(Step::All);
    }
    if let Some(name) = unquote(inside) {
        return Some(Step::Field(name.to_owned()));
    }
    if let Ok(index) = inside.parse::<i64>() {
        return Some(Step::Index(index));
    }
    let condition = inside.strip_prefix("?(")?.strip_suffix(')')?.trim();
    let (left, equal, right) = if let Some((l, r)) = condition.split_once("==") {
        (l, true, r)
    } else {
        let (l, r) = condition.split_once("!=")?;
        (l, false, r)
    };
    let fields = left
        .trim()
        .strip_prefix("@.")?
        .split('.')
        .map(str::to_owned)
        .collect();
    let right = right.trim();
    let value = match unquote(right) {
        Some(text) => Value::String(text.to_owned()),
        None => serde_json::from_str(right).ok()?,
    };
    Some(Step::Filter {
        fields,
        equal,
        value,
    })
}

fn walk<'a>(steps: &[Step], value: &'a Value) -> Option<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(value);
    };
    match step {
        Step::Field(name) => walk(rest, value.get(name)?),
        Step::Index(index) => {
            let items = value.as_array()?;
            let at = if *index < 0 {
                items
                    .len()
                    .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
            } else {
                usize::try_from(*index).ok()?
            };
            walk(rest, items.get(at)?)
        }
        Step::All => match value {
            Value::Array(items) => items.iter().find_map(|item| walk(rest, item)),
            Value::Object(map) => map.values().find_map(|item| walk(rest, item)),
            _ => None,
        },
        Step::Filter {
            fields,
            equal,
            value: wanted,
        } => value.as_array()?.iter().find_map(|item| {
            let found = fields.iter().try_fold(item, |v, f| v.get(f));
            (found.is_some_and(|f| f == wanted) == *equal)
                .then(|| walk(rest, item))
                .flatten()
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_paths_printer_columns_use() {
        let object = json!({
            "spec": { "replicas": 3, "hosts": ["a", "b"], "labels": { "app.kubernetes.io/name": "shop" } },
            "status": { "conditions": [
                { "type": "Synced", "status": "True" },
                { "type": "Ready", "status": "False", "reason": "Waiting" },
            ] },
        });
        let first = |path: &str| Path::parse(path).and_then(|p| p.first(&object).cloned());
        assert_eq!(first(".spec.replicas"), Some(json!(3)));
        assert_eq!(first("{.spec.hosts[1]}"), Some(json!("b")));
        assert_eq!(first(".spec.hosts[-1]"), Some(json!("b")));
        assert_eq!(first(".spec.hosts[*]"), Some(json!("a")));
        assert_eq!(
            first(".spec.labels['app.kubernetes.io/name']"),
            Some(json!("shop"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type==\"Ready\")].reason"),
            Some(json!("Waiting"))
        );
        assert_eq!(
            first(".status.conditions[?(@.type=='Ready')].status"),
            Some(json!("False"))
        );
        assert_eq!(first(".status.missing"), None);
        assert_eq!(first(".spec.hosts[5]"), None);
        assert!(Path::parse("spec.replicas").is_none());
        assert!(Path::parse(".spec[").is_none());
    }
}
