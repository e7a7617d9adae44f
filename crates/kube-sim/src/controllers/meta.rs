//! Small readers and builders for the JSON objects controllers handle: typed field access with
//! defaults, owner references, selectors, conditions that keep their timestamps.

use serde_json::{Value, json};

/// The string at a JSON pointer, or "".
pub fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The integer at a JSON pointer, or `default`.
pub fn int(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

pub fn name(object: &Value) -> &str {
    text(object, "/metadata/name")
}

pub fn namespace(object: &Value) -> &str {
    text(object, "/metadata/namespace")
}

pub fn uid(object: &Value) -> &str {
    text(object, "/metadata/uid")
}

pub fn resource_version(object: &Value) -> u64 {
    text(object, "/metadata/resourceVersion")
        .parse()
        .unwrap_or(0)
}

pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// The uid of the object's controlling owner.
pub fn controller_uid(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// An owner reference making `owner` the controller of what carries it, so the store's garbage
/// collector deletes the dependant with its owner.
pub fn owner_reference(owner: &Value) -> Value {
    json!([{
        "apiVersion": text(owner, "/apiVersion"),
        "kind": text(owner, "/kind"),
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

/// A scaled int-or-percent value (`maxSurge: 25%` of 4 replicas), rounding up or down as the
/// deployment controller does.
pub fn scaled(value: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) => match s
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<i64>().ok())
        {
            Some(percent) => {
                let scaled = total * percent;
                if round_up {
                    (scaled + 99).div_euclid(100)
                } else {
                    scaled.div_euclid(100)
                }
            }
            None => s.parse().unwrap_or(default),
        },
        _ => default,
    }
}

/// A condition to set: type, status, reason, message.
#[derive(Debug, Clone, Copy)]
pub struct Condition<'a> {
    pub kind: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// Which timestamps a condition carries. Deployments have `lastUpdateTime`, moved when the
/// condition is re-asserted (`touch`) or its reason or message changes; other types only have
/// `lastTransitionTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    TransitionOnly,
    WithUpdate { touch: bool },
}

/// Puts a condition into `conditions`. The transition time moves only when the status flips:
/// never rewriting times of an unchanged condition is what lets a no-op pass write nothing.
pub fn set_condition(conditions: &mut Vec<Value>, c: Condition<'_>, now: &str, stamp: Stamp) {
    let existing = conditions
        .iter()
        .position(|x| x.get("type").and_then(Value::as_str) == Some(c.kind));
    let old = existing.map(|i| conditions[i].clone());
    let same_status = old.as_ref().is_some_and(|o| text(o, "/status") == c.status);
    let same_text = old
        .as_ref()
        .is_some_and(|o| text(o, "/reason") == c.reason && text(o, "/message") == c.message);
    let transition = match &old {
        Some(o) if same_status => o
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(now)),
        _ => json!(now),
    };
    let mut condition = json!({ "type": c.kind, "status": c.status });
    if let Stamp::WithUpdate { touch } = stamp {
        let update = match &old {
            Some(o) if same_status && same_text && !touch => o
                .get("lastUpdateTime")
                .cloned()
                .unwrap_or_else(|| json!(now)),
            _ => json!(now),
        };
        condition["lastUpdateTime"] = update;
    }
    condition["lastTransitionTime"] = transition;
    condition["reason"] = json!(c.reason);
    condition["message"] = json!(c.message);
    match existing {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

/// Whether a pod reports Ready=True.
pub fn pod_ready(pod: &Value) -> bool {
    condition(pod, "Ready").is_some_and(|c| text(c, "/status") == "True")
}

/// Running or Pending pods count towards a workload's replicas; finished ones do not.
pub fn pod_active(pod: &Value) -> bool {
    !matches!(text(pod, "/status/phase"), "Succeeded" | "Failed")
        && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// Inserts `count` into a status object only when non-zero, as Go's `omitempty` does, so
/// statuses look like a real server's and compare equal across passes.
pub fn put_count(status: &mut Value, field: &str, count: i64) {
    if count != 0 {
        status[field] = json!(count);
    }
}

/// Template labels plus `extra`, as pods and ReplicaSets carry them.
pub fn labels_with(template_labels: Option<&Value>, extra: &[(&str, &str)]) -> Value {
    let mut labels = template_labels
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    for (k, v) in extra {
        labels[*k] = json!(v);
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_like_the_deployment_controller() {
        assert_eq!(scaled(Some(&json!("25%")), 3, true, 0), 1);
        assert_eq!(scaled(Some(&json!("25%")), 3, false, 0), 0);
        assert_eq!(scaled(Some(&json!(2)), 3, false, 0), 2);
        assert_eq!(scaled(None, 3, false, 1), 1);
    }

    #[test]
    fn conditions_keep_their_times_unless_they_change() {
        let mut conditions = Vec::new();
        let up = Condition {
            kind: "Available",
            status: "True",
            reason: "R",
            message: "m",
        };
        set_condition(
            &mut conditions,
            up,
            "t1",
            Stamp::WithUpdate { touch: false },
        );
        set_condition(
            &mut conditions,
            up,
            "t2",
            Stamp::WithUpdate { touch: false },
        );
        assert_eq!(conditions[0]["lastUpdateTime"], "t1");
        set_condition(&mut conditions, up, "t3", Stamp::WithUpdate { touch: true });
        assert_eq!(
            (
                conditions[0]["lastUpdateTime"].as_str(),
                conditions[0]["lastTransitionTime"].as_str()
            ),
            (Some("t3"), Some("t1"))
        );
        set_condition(
            &mut conditions,
            Condition {
                status: "False",
                ..up
            },
            "t4",
            Stamp::WithUpdate { touch: false },
        );
        assert_eq!(conditions[0]["lastTransitionTime"], "t4");
    }
}
