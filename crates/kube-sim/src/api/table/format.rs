//! How the API server's printers write values into table cells: ages, label maps and
//! selectors, container lists, and the small conventions (`<none>`, `<unset>`) kubectl users
//! recognise.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use crate::clock::parse_time;

/// A duration as `kubectl get` shows ages: two or three significant figures (`45s`, `2m3s`,
/// `15m`, `3h20m`, `26h`, `4d5h`, `120d`, `3y12d`). `nanos` is signed because a timestamp a
/// client wrote may lie in the future; more than a second or two ahead reads `<invalid>`.
pub fn human_duration(nanos: i128) -> String {
    const SECOND: i128 = 1_000_000_000;
    // Truncation toward zero, as the real printer converts to whole seconds.
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_remainder(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_remainder(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

fn with_remainder(whole: i128, unit: &str, rest: i128, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{whole}{unit}")
    } else {
        format!("{whole}{unit}{rest}{rest_unit}")
    }
}

/// How long ago `at` (a Kubernetes timestamp) was, or `<unknown>` when it is missing, as the
/// printers write every AGE cell.
pub fn since(at: Option<&str>, now: Timestamp) -> String {
    match at.and_then(parse_time) {
        Some(then) => human_duration(now.as_nanosecond() - then.as_nanosecond()),
        None => "<unknown>".to_owned(),
    }
}

/// The AGE of an object.
pub fn age(object: &Value, now: Timestamp) -> String {
    since(text_at(object, "/metadata/creationTimestamp"), now)
}

pub fn text_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// The string at `pointer`, or "" when absent (Go's zero value).
pub fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    text_at(object, pointer).unwrap_or("")
}

pub fn int(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

pub fn list<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub fn name(object: &Value) -> Value {
    Value::from(text(object, "/metadata/name"))
}

/// A string-to-string map as `k=v,k2=v2` in key order, `<none>` when empty.
pub fn labels(map: Option<&Value>) -> String {
    let pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        "<none>".to_owned()
    } else {
        pairs.join(",")
    }
}

/// A `LabelSelector` in selector syntax (`app=web,tier in (a,b),!legacy`), requirements in key
/// order; "" for an empty or missing selector.
pub fn selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|s| s.is_object()) else {
        return String::new();
    };
    // Requirements sort by key; for one key, matchLabels comes first as the real code adds it
    // first and sorts stably.
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            requirements.push((
                key.clone(),
                format!("{key}={}", value.as_str().unwrap_or_default()),
            ));
        }
    }
    for expression in list(selector, "/matchExpressions") {
        let key = text(expression, "/key");
        let values: BTreeSet<&str> = list(expression, "/values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let values = values.into_iter().collect::<Vec<_>>().join(",");
        let requirement = match text(expression, "/operator") {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        requirements.push((key.to_owned(), requirement));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    requirements
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join(",")
}

/// A `LabelSelector` as the printers' SELECTOR columns show it: `<none>` when it selects
/// nothing in particular.
pub fn selector_or_none(value: Option<&Value>) -> String {
    let text = selector(value);
    if text.is_empty() {
        "<none>".to_owned()
    } else {
        text
    }
}

/// The CONTAINERS and IMAGES cells of a pod template: names and images, comma-separated.
pub fn containers(object: &Value, spec: &str) -> (String, String) {
    let containers = list(object, &format!("{spec}/containers"));
    let names: Vec<&str> = containers.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// An int-or-string field (`maxUnavailable: 25%` or `1`) as text.
pub fn int_or_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `status` of the first condition of `kind` in a conditions list is `True`.
pub fn condition_true(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .find(|c| text(c, "/type") == kind)
        .is_some_and(|c| text(c, "/status") == "True")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn durations_read_as_kubectl_prints_them() {
        // The thresholds of apimachinery's HumanDuration: seconds below two minutes, minutes
        // and seconds below ten minutes, minutes below three hours, hours and minutes below
        // eight hours, hours below two days, days and hours below eight days, days below two
        // years, years and days below eight years.
        for (seconds, expected) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (123, "2m3s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 20 * 60, "3h20m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (4 * 86400 + 5 * 3600, "4d5h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (3 * 365 * 86400 + 12 * 86400, "3y12d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(seconds * S), expected, "{seconds}s");
        }
        // A fraction of a second does not round up.
        assert_eq!(human_duration(5 * S + S / 2), "5s");
    }

    #[test]
    fn selectors_print_in_key_order() {
        let selector_value = json!({
            "matchLabels": { "tier": "web", "app": "shop" },
            "matchExpressions": [
                { "key": "env", "operator": "In", "values": ["prod", "dev"] },
                { "key": "legacy", "operator": "DoesNotExist" },
                { "key": "canary", "operator": "Exists" },
                { "key": "zone", "operator": "NotIn", "values": ["b"] },
            ],
        });
        assert_eq!(
            selector(Some(&selector_value)),
            "app=shop,canary,env in (dev,prod),!legacy,tier=web,zone notin (b)"
        );
        assert_eq!(selector_or_none(Some(&json!({}))), "<none>");
        assert_eq!(labels(Some(&json!({ "b": "2", "a": "1" }))), "a=1,b=2");
        assert_eq!(labels(None), "<none>");
    }
}
