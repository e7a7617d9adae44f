//! Property tests of server-side apply: re-applying is a no-op, applying is declarative (the
//! result does not depend on what the manager applied before), a manager withdrawing its
//! configuration undoes exactly its own contribution, fieldsV1 round-trips, and a strategic
//! merge patch without lists is a JSON merge patch.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::resources::Registry;

fn deployments() -> ResourceType {
    Registry::builtin()
        .by_kind("apps/v1", "Deployment")
        .cloned()
        .unwrap()
}

fn identity() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}})
}

fn stored(mut object: Value) -> Value {
    object["metadata"]["resourceVersion"] = json!("1");
    object["metadata"]["uid"] = json!("uid-1");
    object
}

fn without_times(mut object: Value) -> Value {
    if let Some(entries) = object
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        for entry in entries {
            entry.as_object_mut().unwrap().remove("time");
        }
    }
    object
}

fn small_map(prefix: &'static str, max: usize) -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(vec!["a", "b", "c", "d"]).prop_map(move |k| format!("{prefix}{k}")),
        "[a-z]{1,3}",
        0..max,
    )
}

/// A container: image (maybe) and env vars (maybe), named with the manager's prefix.
fn container(
    prefix: &'static str,
) -> impl Strategy<Value = (Option<String>, BTreeMap<String, String>)> {
    (prop::option::of("[a-z]{1,4}:[0-9]"), small_map(prefix, 3))
}

fn container_value(name: &str, image: Option<&String>, env: &BTreeMap<String, String>) -> Value {
    let mut c = json!({ "name": name });
    if let Some(image) = image {
        c["image"] = json!(image);
    }
    if !env.is_empty() {
        c["env"] = Value::Array(
            env.iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect(),
        );
    }
    c
}

/// A configuration of manager `prefix`: labels, replicas, and containers of its own.
fn config(prefix: &'static str, with_replicas: bool) -> impl Strategy<Value = Value> {
    (
        prop::option::of(small_map(prefix, 4)),
        prop::option::of(0u64..5),
        prop::collection::btree_map(
            prop::sample::select(vec!["x", "y", "z"]).prop_map(move |n| format!("{prefix}{n}")),
            container(prefix),
            0..3,
        ),
    )
        .prop_map(move |(labels, replicas, containers)| {
            let mut c = identity();
            if let Some(labels) = labels {
                c["metadata"]["labels"] = json!(labels);
            }
            if let (true, Some(replicas)) = (with_replicas, replicas) {
                c["spec"]["replicas"] = json!(replicas);
            }
            if !containers.is_empty() {
                let items: Vec<Value> = containers
                    .iter()
                    .map(|(name, (image, env))| container_value(name, image.as_ref(), env))
                    .collect();
                c["spec"]["template"]["spec"]["containers"] = Value::Array(items);
            }
            c
        })
}

/// Adds env vars of manager "b-" to containers `a` applied.
fn with_env_in(mut b: Value, a: &Value, env: &BTreeMap<String, String>) -> Value {
    let Some(theirs) = a
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
    else {
        return b;
    };
    if env.is_empty() {
        return b;
    }
    let mut items = b
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for container in theirs {
        items.push(container_value(
            container["name"].as_str().unwrap(),
            None,
            env,
        ));
    }
    b["spec"]["template"]["spec"]["containers"] = Value::Array(items);
    b
}

fn nested_map() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i8>().prop_map(|n| json!(n)),
        "[a-z]{0,3}".prop_map(Value::String)
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map(
            prop::sample::select(vec!["p", "q", "r", "s"]).prop_map(str::to_owned),
            inner,
            0..4,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>()))
    })
}

proptest! {
    // Failures are reported in the test output; nothing is written into the source tree.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn reapplying_the_same_configuration_changes_nothing(c in config("a-", true)) {
        let first = stored(server_side_apply(None, &c, "m", false, None, "2024-01-01T00:00:00Z", &deployments()).unwrap());
        let again = server_side_apply(Some(&first), &c, "m", false, None, "2024-01-02T00:00:00Z", &deployments()).unwrap();
        prop_assert_eq!(again, first);
    }

    #[test]
    fn withdrawing_a_configuration_removes_exactly_its_fields(
        a in config("a-", true),
        b in config("b-", false),
        b_env in small_map("b-", 3),
    ) {
        let r = deployments();
        let b = with_env_in(b, &a, &b_env);
        let only_a = stored(server_side_apply(None, &a, "a", false, None, "2024-01-01T00:00:00Z", &r).unwrap());
        let both = stored(server_side_apply(Some(&only_a), &b, "b", false, None, "2024-01-02T00:00:00Z", &r).unwrap());
        let withdrawn = server_side_apply(Some(&both), &identity(), "b", false, None, "2024-01-03T00:00:00Z", &r).unwrap();
        prop_assert_eq!(withdrawn, only_a);
    }

    #[test]
    fn applying_over_an_earlier_configuration_equals_applying_afresh(
        c1 in config("a-", true),
        c2 in config("a-", true),
    ) {
        let r = deployments();
        let first = stored(server_side_apply(None, &c1, "m", false, None, "2024-01-01T00:00:00Z", &r).unwrap());
        let over = server_side_apply(Some(&first), &c2, "m", false, None, "2024-01-02T00:00:00Z", &r).unwrap();
        let fresh = server_side_apply(None, &c2, "m", false, None, "2024-01-02T00:00:00Z", &r).unwrap();
        prop_assert_eq!(without_times(stored(over)), without_times(stored(fresh)));
    }

    #[test]
    fn fields_v1_round_trips(c in config("a-", true)) {
        let set = typed::field_set(&Schema::for_resource(&deployments()), &c).unwrap();
        prop_assert_eq!(FieldSet::from_fields_v1(&set.to_fields_v1()).unwrap(), set);
    }

    #[test]
    fn strategic_merge_without_lists_is_a_merge_patch(original in nested_map(), patch in nested_map()) {
        let (Value::Object(_), Value::Object(_)) = (&original, &patch) else { return Ok(()) };
        let mut expected = original.clone();
        json_patch::merge(&mut expected, &patch);
        let schema = Schema::for_resource(&deployments());
        prop_assert_eq!(strategic::apply(&schema, &original, &patch).unwrap(), expected);
    }
}
