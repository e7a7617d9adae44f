//! Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs: selector and template,
//! replica counts, strategies, the restart policy a controller allows, and the fields a running
//! workload may not change.

use serde_json::{Value, json};

use super::errors::{Errors, Path};
use super::fields::{self, int_at, is_empty_or_missing, str_at};
use super::{meta, pods};
use crate::selectors::LabelSelector;

const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";
const STATEFULSET_UPDATABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// Checks a workload of `kind`; `live` is the stored object on updates.
pub fn validate(errs: &mut Errors, kind: &str, object: &Value, live: Option<&Value>) {
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let path = Path::root("spec");
    match kind {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            let noun = match kind {
                "StatefulSet" => "statefulset",
                "DaemonSet" => "daemonset",
                _ => "deployment",
            };
            if kind != "DaemonSet" {
                fields::non_negative(errs, spec, "replicas", &path.child("replicas"));
            }
            selector_and_template(errs, spec, &path, noun, &["Always"]);
            fields::non_negative(
                errs,
                spec,
                "minReadySeconds",
                &path.child("minReadySeconds"),
            );
            fields::non_negative(
                errs,
                spec,
                "revisionHistoryLimit",
                &path.child("revisionHistoryLimit"),
            );
            match kind {
                "Deployment" => deployment(errs, spec, &path),
                "StatefulSet" => statefulset(errs, spec, &path),
                "DaemonSet" => update_strategy(errs, spec, &path, &["OnDelete", "RollingUpdate"]),
                _ => {}
            }
            if let Some(live) = live {
                immutable(
                    errs,
                    kind,
                    spec,
                    live.get("spec").unwrap_or(&Value::Null),
                    &path,
                );
            }
        }
        "Job" => {
            job(errs, spec, &path);
            if let Some(old) = live.and_then(|l| l.pointer("/spec/template"))
                && spec.get("template") != Some(old)
            {
                errs.invalid(
                    &path.child("template"),
                    spec.get("template").unwrap_or(&Value::Null),
                    "field is immutable",
                );
            }
        }
        "CronJob" => cronjob(errs, object, spec, &path),
        _ => {}
    }
}

/// The selector is required and not empty, the template's labels are valid and matched by it,
/// and the pod spec is valid with a restart policy the controller allows.
fn selector_and_template(
    errs: &mut Errors,
    spec: &Value,
    path: &Path,
    noun: &str,
    restart: &[&str],
) {
    let selector = spec.get("selector").filter(|s| !s.is_null());
    match selector {
        None => errs.required(&path.child("selector"), ""),
        Some(s)
            if is_empty_or_missing(s.get("matchLabels"))
                && is_empty_or_missing(s.get("matchExpressions")) =>
        {
            errs.invalid(
                &path.child("selector"),
                s,
                &format!("empty selector is invalid for {noun}"),
            );
        }
        Some(s) => meta::label_selector(errs, s, &path.child("selector")),
    }
    let template_path = path.child("template");
    let Some(template) = spec.get("template").filter(|t| !t.is_null()) else {
        errs.required(&template_path, "");
        return;
    };
    // The real server checks the match before the pod template itself.
    if let Some(s) = selector {
        let parsed = LabelSelector::from_object(s);
        if !parsed.is_empty() && !parsed.matches(template) {
            errs.invalid(
                &template_path.child("metadata").child("labels"),
                template.pointer("/metadata/labels").unwrap_or(&Value::Null),
                "`selector` does not match template `labels`",
            );
        }
    }
    if noun == "statefulset" {
        template_body(
            errs,
            &with_claim_volumes(spec, template),
            &template_path,
            restart,
        );
    } else {
        template_body(errs, template, &template_path, restart);
    }
}

/// A StatefulSet's containers may mount its `volumeClaimTemplates` by name: the controller adds
/// one volume per claim to every pod it makes, and the real server validates the template as such.
fn with_claim_volumes(spec: &Value, template: &Value) -> Value {
    let claims: Vec<Value> = fields::array_at(spec, "volumeClaimTemplates")
        .iter()
        .filter_map(|c| c.pointer("/metadata/name").and_then(Value::as_str))
        .map(|name| json!({ "name": name, "persistentVolumeClaim": { "claimName": name } }))
        .collect();
    if claims.is_empty() {
        return template.clone();
    }
    let mut template = template.clone();
    let volumes = &mut template["spec"]["volumes"];
    if let Some(list) = volumes.as_array_mut() {
        list.extend(claims);
    } else {
        *volumes = Value::Array(claims);
    }
    template
}

fn template_body(errs: &mut Errors, template: &Value, path: &Path, restart: &[&str]) {
    let meta_path = path.child("metadata");
    meta::labels(
        errs,
        template.pointer("/metadata/labels"),
        &meta_path.child("labels"),
    );
    let spec_path = path.child("spec");
    let spec = template.get("spec").unwrap_or(&Value::Null);
    pods::pod_spec(errs, spec, &spec_path);
    // Missing means the default, Always, which a Job then refuses, as the real server does.
    let policy = str_at(spec, "restartPolicy").unwrap_or("Always");
    if !restart.contains(&policy) {
        errs.not_supported(&spec_path.child("restartPolicy"), &json!(policy), restart);
    }
}

fn deployment(errs: &mut Errors, spec: &Value, path: &Path) {
    let strategy_path = path.child("strategy");
    let strategy = spec.get("strategy").unwrap_or(&Value::Null);
    let rolling = strategy.get("rollingUpdate").filter(|r| !r.is_null());
    match str_at(strategy, "type") {
        Some("Recreate") if rolling.is_some() => errs.forbidden(
            &strategy_path.child("rollingUpdate"),
            "may not be specified when strategy `type` is 'Recreate'",
        ),
        Some("Recreate" | "RollingUpdate") | None => {}
        Some(other) => errs.not_supported(
            &strategy_path.child("type"),
            &json!(other),
            &["Recreate", "RollingUpdate"],
        ),
    }
    if let Some(rolling) = rolling {
        let at = strategy_path.child("rollingUpdate");
        let surge = int_or_percent(errs, rolling.get("maxSurge"), &at.child("maxSurge"));
        let unavailable = int_or_percent(
            errs,
            rolling.get("maxUnavailable"),
            &at.child("maxUnavailable"),
        );
        if surge == Some(0) && unavailable == Some(0) {
            errs.invalid(
                &at.child("maxUnavailable"),
                rolling.get("maxUnavailable").unwrap_or(&Value::Null),
                "may not be 0 when `maxSurge` is 0",
            );
        }
        if let (Some(Value::String(_)), Some(u)) = (rolling.get("maxUnavailable"), unavailable)
            && u > 100
        {
            errs.invalid(
                &at.child("maxUnavailable"),
                rolling.get("maxUnavailable").unwrap_or(&Value::Null),
                "must not be greater than 100%",
            );
        }
    }
    fields::non_negative(
        errs,
        spec,
        "progressDeadlineSeconds",
        &path.child("progressDeadlineSeconds"),
    );
    if let (Some(deadline), Some(min_ready)) = (
        int_at(spec, "progressDeadlineSeconds"),
        int_at(spec, "minReadySeconds"),
    ) && deadline <= min_ready
    {
        errs.invalid(
            &path.child("progressDeadlineSeconds"),
            &json!(deadline),
            "must be greater than minReadySeconds",
        );
    }
}

/// An int-or-percent field (`maxSurge: 1`, `maxSurge: "25%"`): the number it stands for (the
/// percentage for strings), after checking it is non-negative and well formed.
pub fn int_or_percent(errs: &mut Errors, value: Option<&Value>, path: &Path) -> Option<i64> {
    match value? {
        Value::Number(n) => {
            let n = n.as_i64()?;
            if n < 0 {
                errs.invalid(path, &json!(n), fields::NON_NEGATIVE);
            }
            Some(n)
        }
        Value::String(text) => {
            let digits = text
                .strip_suffix('%')
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            let Some(percent) = digits.and_then(|d| d.parse::<i64>().ok()) else {
                errs.invalid(path, &json!(text), PERCENT_MSG);
                return None;
            };
            Some(percent)
        }
        _ => None,
    }
}

fn statefulset(errs: &mut Errors, spec: &Value, path: &Path) {
    if let Some(policy) = str_at(spec, "podManagementPolicy")
        && !["OrderedReady", "Parallel"].contains(&policy)
    {
        errs.not_supported(
            &path.child("podManagementPolicy"),
            &json!(policy),
            &["OrderedReady", "Parallel"],
        );
    }
    update_strategy(errs, spec, path, &["OnDelete", "RollingUpdate"]);
}

fn update_strategy(errs: &mut Errors, spec: &Value, path: &Path, allowed: &[&str]) {
    if let Some(kind) = spec.pointer("/updateStrategy/type").and_then(Value::as_str)
        && !allowed.contains(&kind)
    {
        errs.not_supported(
            &path.child("updateStrategy").child("type"),
            &json!(kind),
            allowed,
        );
    }
}

/// What a running workload may not change.
fn immutable(errs: &mut Errors, kind: &str, spec: &Value, old: &Value, path: &Path) {
    if kind == "StatefulSet" {
        let frozen = |s: &Value| -> Value {
            let mut s = s.clone();
            if let Some(map) = s.as_object_mut() {
                map.retain(|k, _| !STATEFULSET_UPDATABLE.contains(&k.as_str()));
            }
            s
        };
        if frozen(spec) != frozen(old) {
            errs.forbidden(
                path,
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            );
        }
        return;
    }
    if spec.get("selector") != old.get("selector") {
        errs.invalid(
            &path.child("selector"),
            spec.get("selector").unwrap_or(&Value::Null),
            "field is immutable",
        );
    }
}

fn job(errs: &mut Errors, spec: &Value, path: &Path) {
    for key in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ] {
        fields::non_negative(errs, spec, key, &path.child(key));
    }
    if let Some(selector) = spec.get("selector").filter(|s| !s.is_null()) {
        meta::label_selector(errs, selector, &path.child("selector"));
    }
    let template_path = path.child("template");
    match spec.get("template").filter(|t| !t.is_null()) {
        None => errs.required(&template_path, ""),
        Some(template) => template_body(errs, template, &template_path, &["OnFailure", "Never"]),
    }
}

fn cronjob(errs: &mut Errors, object: &Value, spec: &Value, path: &Path) {
    if let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str)
        && name.len() > 52
    {
        errs.invalid(
            "metadata.name",
            &json!(name),
            "must be no more than 52 characters",
        );
    }
    match str_at(spec, "schedule") {
        None | Some("") => errs.required(&path.child("schedule"), ""),
        Some(schedule) => {
            let fields = schedule.split_whitespace().count();
            if !schedule.starts_with('@') && fields != 5 {
                errs.invalid(
                    &path.child("schedule"),
                    &json!(schedule),
                    &format!("unparseable schedule: expected exactly 5 fields, found {fields}: {schedule}"),
                );
            }
        }
    }
    if let Some(policy) = str_at(spec, "concurrencyPolicy")
        && !["Allow", "Forbid", "Replace"].contains(&policy)
    {
        errs.not_supported(
            &path.child("concurrencyPolicy"),
            &json!(policy),
            &["Allow", "Forbid", "Replace"],
        );
    }
    let job_path = path.child("jobTemplate").child("spec");
    match spec.pointer("/jobTemplate/spec") {
        Some(job_spec) => job(errs, job_spec, &job_path),
        None => errs.required(&job_path, ""),
    }
}
