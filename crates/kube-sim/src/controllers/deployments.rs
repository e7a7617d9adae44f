//! The Deployment controller: one ReplicaSet per pod template (named with a pod-template-hash,
//! numbered by `deployment.kubernetes.io/revision`), rolled over with maxSurge/maxUnavailable
//! (or Recreate), and the status kubectl's `rollout status` judges: counts, the Available
//! condition and the Progressing condition with its deadline.

use serde_json::{Value, json};

use super::events::{self, Event};
use super::hash::{json_hash, safe_name};
use super::meta::{self, Condition, Stamp};
use super::pass::{Kind, Pass};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";

pub fn reconcile(pass: &mut Pass<'_>) {
    for key in pass.index.of(Kind::Deployment).to_vec() {
        let Some(d) = pass.changed(&key, 0) else {
            continue;
        };
        // Being deleted: the real controllers stop managing its pods (the garbage collector
        // takes them).
        if crate::store::is_deleting(&d) {
            pass.done(&d, 0, None);
            continue;
        }
        let due = sync(pass, d.clone());
        pass.done(&d, 0, due);
    }
}

/// A ReplicaSet as the controller tracks it during one sync.
#[derive(Debug, Clone)]
struct Set {
    object: Value,
    replicas: i64,
}

impl Set {
    fn new(object: Value) -> Self {
        let replicas = meta::int(&object, "/spec/replicas", 0);
        Self { object, replicas }
    }

    fn name(&self) -> &str {
        meta::name(&self.object)
    }

    fn status(&self, field: &str) -> i64 {
        meta::int(&self.object, &format!("/status/{field}"), 0)
    }
}

/// The rollout parameters of a Deployment.
#[derive(Debug, Clone, Copy)]
struct Plan {
    replicas: i64,
    surge: i64,
    unavailable: i64,
    recreate: bool,
    paused: bool,
}

impl Plan {
    fn of(d: &Value) -> Self {
        let replicas = meta::int(d, "/spec/replicas", 1).max(0);
        let recreate = meta::text(d, "/spec/strategy/type") == "Recreate";
        let (mut surge, mut unavailable) = if recreate {
            (0, 0)
        } else {
            (
                meta::scaled(
                    d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
                    replicas,
                    true,
                    1,
                ),
                meta::scaled(
                    d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
                    replicas,
                    false,
                    0,
                ),
            )
        };
        if !recreate && surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        surge = surge.max(0);
        unavailable = unavailable.clamp(0, replicas);
        let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        Self {
            replicas,
            surge,
            unavailable,
            recreate,
            paused,
        }
    }
}

/// Returns when the progress deadline would pass, if a rollout is under way.
fn sync(pass: &mut Pass<'_>, mut d: Value) -> Option<i64> {
    let plan = Plan::of(&d);
    let template = d
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut olds = Vec::new();
    let mut current = None;
    for rs in pass.owned(Kind::ReplicaSet, &d) {
        if current.is_none() && same_template(&rs, &template) {
            current = Some(Set::new(rs));
        } else {
            olds.push(Set::new(rs));
        }
    }
    olds.sort_by(|a, b| {
        revision(&a.object)
            .cmp(&revision(&b.object))
            .then_with(|| a.name().cmp(b.name()))
    });
    let max_old = olds.iter().map(|s| revision(&s.object)).max().unwrap_or(0);

    let mut created = false;
    let old_pods: i64 =
        olds.iter().map(|s| s.replicas).sum::<i64>() + old_pods_running(pass, &olds);
    let mut new = match current {
        Some(set) => Some(adopt(pass, &d, set, max_old, plan)),
        None if plan.paused => None,
        None if plan.recreate && old_pods > 0 => None,
        None => {
            let initial = if plan.recreate {
                plan.replicas
            } else {
                first_size(&olds, plan)
            };
            created = true;
            create(pass, &d, &template, max_old + 1, initial, plan)
        }
    };
    if let Some(set) = &new {
        let rev = meta::annotation(&set.object, REVISION)
            .unwrap_or("")
            .to_owned();
        if meta::annotation(&d, REVISION) != Some(rev.as_str()) {
            let mut next = d.clone();
            next["metadata"]["annotations"][REVISION] = json!(rev);
            if let Some(stored) = pass.replace(Kind::Deployment, next) {
                d = stored;
            }
        }
    }

    if !plan.paused {
        if plan.recreate {
            recreate(pass, &d, &mut olds, new.as_mut(), plan);
        } else if let Some(set) = new.as_mut()
            && !scale_up_new(pass, &d, set, &olds, plan)
        {
            scale_down_old(pass, &d, &mut olds, set, plan);
        }
        cleanup(pass, &d, &olds);
    }
    write_status(pass, &d, new.as_ref(), &olds, plan, created)
}

/// The ReplicaSet's template without its pod-template-hash label is the Deployment's.
fn same_template(rs: &Value, template: &Value) -> bool {
    let Some(mut own) = rs.pointer("/spec/template").cloned() else {
        return false;
    };
    if let Some(labels) = own
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    own == *template
}

fn revision(rs: &Value) -> i64 {
    meta::annotation(rs, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// How big a brand-new ReplicaSet starts: everything when nothing old runs, else what the
/// surge allows.
fn first_size(olds: &[Set], plan: Plan) -> i64 {
    let running: i64 = olds.iter().map(|s| s.replicas).sum();
    if running == 0 {
        return plan.replicas;
    }
    (plan.replicas + plan.surge - running).clamp(0, plan.replicas)
}

fn create(
    pass: &mut Pass<'_>,
    d: &Value,
    template: &Value,
    revision: i64,
    replicas: i64,
    plan: Plan,
) -> Option<Set> {
    let hash = safe_name(json_hash(template));
    let name = format!("{}-{hash}", meta::name(d));
    let mut template = template.clone();
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = d
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let mut annotations = d
        .pointer("/metadata/annotations")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let Some(a) = annotations.as_object_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        a.remove(REVISION_HISTORY);
    }
    annotations[REVISION] = json!(revision.to_string());
    annotations[DESIRED] = json!(plan.replicas.to_string());
    annotations[MAX_REPLICAS] = json!((plan.replicas + plan.surge).to_string());
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": meta::namespace(d),
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "annotations": annotations,
            "ownerReferences": meta::owner_reference(d),
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": meta::int(d, "/spec/minReadySeconds", 0),
            "selector": selector,
            "template": template,
        },
    });
    let created = pass.create(Kind::ReplicaSet, meta::namespace(d), rs)?;
    if replicas > 0 {
        let message = format!("Scaled up replica set {name} from 0 to {replicas}");
        events::record(
            pass,
            d,
            &Event::normal("deployment-controller", "ScalingReplicaSet", message),
        );
    }
    Some(Set::new(created))
}

/// An existing ReplicaSet for the current template: after a rollback it becomes the newest
/// revision again (remembering its old numbers), and its replica annotations follow the spec.
fn adopt(pass: &mut Pass<'_>, d: &Value, set: Set, max_old: i64, plan: Plan) -> Set {
    let mut rs = set.object.clone();
    let own = revision(&rs);
    if own <= max_old {
        let mut history: Vec<String> = meta::annotation(&rs, REVISION_HISTORY)
            .map(|h| {
                h.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if own > 0 {
            history.push(own.to_string());
        }
        rs["metadata"]["annotations"][REVISION] = json!((max_old + 1).to_string());
        rs["metadata"]["annotations"][REVISION_HISTORY] = json!(history.join(","));
    }
    rs["metadata"]["annotations"][DESIRED] = json!(plan.replicas.to_string());
    rs["metadata"]["annotations"][MAX_REPLICAS] = json!((plan.replicas + plan.surge).to_string());
    let min_ready = meta::int(d, "/spec/minReadySeconds", 0);
    if meta::int(&rs, "/spec/minReadySeconds", 0) != min_ready {
        rs["spec"]["minReadySeconds"] = json!(min_ready);
    }
    if rs == set.object {
        return set;
    }
    pass.replace(Kind::ReplicaSet, rs).map_or(set, Set::new)
}

fn scale(pass: &mut Pass<'_>, d: &Value, set: &mut Set, to: i64) {
    if set.replicas == to {
        return;
    }
    let mut rs = set.object.clone();
    rs["spec"]["replicas"] = json!(to);
    if let Some(stored) = pass.replace(Kind::ReplicaSet, rs) {
        let direction = if to > set.replicas { "up" } else { "down" };
        let message = format!(
            "Scaled {direction} replica set {} from {} to {to}",
            set.name(),
            set.replicas
        );
        events::record(
            pass,
            d,
            &Event::normal("deployment-controller", "ScalingReplicaSet", message),
        );
        *set = Set::new(stored);
    }
}

/// Grows (or trims) the new ReplicaSet within the surge. Returns whether it changed.
fn scale_up_new(pass: &mut Pass<'_>, d: &Value, new: &mut Set, olds: &[Set], plan: Plan) -> bool {
    let running_old: i64 = olds.iter().map(|s| s.replicas).sum();
    let target = if running_old == 0 || new.replicas >= plan.replicas {
        plan.replicas
    } else {
        let total = running_old + new.replicas;
        let room = plan.replicas + plan.surge - total;
        if room <= 0 {
            new.replicas
        } else {
            new.replicas + room.min(plan.replicas - new.replicas)
        }
    };
    if target == new.replicas {
        return false;
    }
    scale(pass, d, new, target);
    true
}

/// Shrinks old ReplicaSets as far as maxUnavailable allows: unhealthy replicas first, then
/// available ones beyond the minimum.
fn scale_down_old(pass: &mut Pass<'_>, d: &Value, olds: &mut [Set], new: &Set, plan: Plan) {
    let old_total: i64 = olds.iter().map(|s| s.replicas).sum();
    if old_total == 0 {
        return;
    }
    let all_total = old_total + new.replicas;
    let min_available = plan.replicas - plan.unavailable;
    let new_unavailable = new.replicas - new.status("availableReplicas");
    let max_down = all_total - min_available - new_unavailable;
    if max_down <= 0 {
        return;
    }
    let mut cleaned = 0;
    for set in olds.iter_mut() {
        if cleaned >= max_down {
            break;
        }
        let unhealthy = set.replicas - set.status("availableReplicas");
        if set.replicas == 0 || unhealthy <= 0 {
            continue;
        }
        let by = (max_down - cleaned).min(unhealthy);
        let to = set.replicas - by;
        scale(pass, d, set, to);
        cleaned += by;
    }
    let available: i64 = olds
        .iter()
        .map(|s| s.status("availableReplicas"))
        .sum::<i64>()
        + new.status("availableReplicas");
    if available <= min_available {
        return;
    }
    let total_down = available - min_available;
    let mut done = 0;
    for set in olds.iter_mut() {
        if done >= total_down {
            break;
        }
        if set.replicas == 0 {
            continue;
        }
        let by = set.replicas.min(total_down - done);
        let to = set.replicas - by;
        scale(pass, d, set, to);
        done += by;
    }
}

/// Recreate: every old pod goes first (terminating ones too: they still run until they stop),
/// then the new ReplicaSet gets all replicas.
fn recreate(pass: &mut Pass<'_>, d: &Value, olds: &mut [Set], new: Option<&mut Set>, plan: Plan) {
    for set in olds.iter_mut() {
        scale(pass, d, set, 0);
    }
    let old_pods = old_pods_running(pass, olds);
    if let Some(set) = new
        && old_pods == 0
    {
        scale(pass, d, set, plan.replicas);
    }
}

/// Pods of the old ReplicaSets that still run, terminating ones included (the deployment
/// controller's `oldPodsRunning`).
fn old_pods_running(pass: &Pass<'_>, olds: &[Set]) -> i64 {
    olds.iter()
        .map(|s| {
            let running = pass
                .owned(Kind::Pod, &s.object)
                .iter()
                .filter(|p| !matches!(meta::text(p, "/status/phase"), "Succeeded" | "Failed"))
                .count();
            s.status("replicas")
                .max(i64::try_from(running).unwrap_or(i64::MAX))
        })
        .sum()
}

/// Deletes the oldest empty ReplicaSets beyond `revisionHistoryLimit`.
fn cleanup(pass: &mut Pass<'_>, d: &Value, olds: &[Set]) {
    let limit =
        usize::try_from(meta::int(d, "/spec/revisionHistoryLimit", 10).max(0)).unwrap_or(10);
    let empty: Vec<&Set> = olds
        .iter()
        .filter(|s| s.replicas == 0 && s.status("replicas") == 0)
        .collect();
    if empty.len() <= limit {
        return;
    }
    for set in &empty[..empty.len() - limit] {
        pass.delete(Kind::ReplicaSet, meta::namespace(&set.object), set.name());
    }
}

fn write_status(
    pass: &mut Pass<'_>,
    d: &Value,
    new: Option<&Set>,
    olds: &[Set],
    plan: Plan,
    created: bool,
) -> Option<i64> {
    let all = || new.into_iter().chain(olds.iter());
    let replicas: i64 = all().map(|s| s.status("replicas")).sum();
    let updated = new.map_or(0, |s| s.status("replicas"));
    let ready: i64 = all().map(|s| s.status("readyReplicas")).sum();
    let available: i64 = all().map(|s| s.status("availableReplicas")).sum();
    let old_status = d.get("status").cloned().unwrap_or_else(|| json!({}));
    let was = |f: &str| meta::int(&old_status, &format!("/{f}"), 0);

    let mut conditions = old_status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let now = pass.now.clone();
    set_available(
        &mut conditions,
        available >= plan.replicas - plan.unavailable,
        &now,
    );
    let generation = meta::int(d, "/metadata/generation", 1);
    let complete =
        updated == plan.replicas && replicas == plan.replicas && available == plan.replicas;
    let progressed = updated > was("updatedReplicas")
        || (replicas - updated) < (was("replicas") - was("updatedReplicas"))
        || ready > was("readyReplicas")
        || available > was("availableReplicas");
    let seen = match (created, complete, progressed) {
        (true, _, _) => Seen::Created,
        (_, true, _) => Seen::Complete,
        (_, _, true) => Seen::Progressed,
        _ => Seen::Stalled,
    };
    let progress = Progress {
        rs_name: new.map(|s| s.name().to_owned()),
        deployment: meta::name(d).to_owned(),
        seen,
        rolled_out: replicas == updated,
    };
    let deadline_ms = d
        .pointer("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
        .map(|s| s * 1000);
    let mut due = None;
    if plan.paused {
        let paused = Condition {
            kind: "Progressing",
            status: "Unknown",
            reason: "DeploymentPaused",
            message: "Deployment is paused",
        };
        meta::set_condition(
            &mut conditions,
            paused,
            &now,
            Stamp::WithUpdate { touch: false },
        );
    } else if deadline_ms.is_some() {
        progress.judge(&mut conditions, deadline_ms, pass.now_ms, &now);
        due = deadline_due(&conditions, deadline_ms, complete);
    }
    // Available first, then Progressing, as the real controller lists them.
    conditions.sort_by_key(|c| match meta::text(c, "/type") {
        "Available" => 0,
        "Progressing" => 1,
        _ => 2,
    });

    let mut status = json!({ "observedGeneration": generation });
    meta::put_count(&mut status, "replicas", replicas);
    meta::put_count(&mut status, "updatedReplicas", updated);
    meta::put_count(&mut status, "readyReplicas", ready);
    meta::put_count(&mut status, "availableReplicas", available);
    meta::put_count(
        &mut status,
        "unavailableReplicas",
        (plan.replicas - available).max(0),
    );
    status["conditions"] = json!(conditions);
    if let Some(c) = old_status.get("collisionCount") {
        status["collisionCount"] = c.clone();
    }
    pass.set_status(Kind::Deployment, d, status);
    due
}

/// What the Progressing condition is decided from.
#[derive(Debug)]
struct Progress {
    rs_name: Option<String>,
    deployment: String,
    seen: Seen,
    /// Only the new ReplicaSet has replicas.
    rolled_out: bool,
}

/// What happened since the last status, most significant first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Created,
    Complete,
    Progressed,
    Stalled,
}

impl Progress {
    fn about(&self, what: &str) -> String {
        match &self.rs_name {
            Some(n) => format!("ReplicaSet \"{n}\" {what}"),
            None => format!("Deployment \"{}\" {what}", self.deployment),
        }
    }

    /// Sets the Progressing condition as the deployment controller does: a new ReplicaSet, a
    /// finished rollout, progress since the last status, or no progress for longer than the
    /// deadline.
    fn judge(&self, conditions: &mut Vec<Value>, deadline_ms: Option<i64>, now_ms: i64, now: &str) {
        let current = conditions
            .iter()
            .find(|c| meta::text(c, "/type") == "Progressing")
            .cloned();
        let finished_before = current
            .as_ref()
            .is_some_and(|c| meta::text(c, "/reason") == "NewReplicaSetAvailable")
            && self.rolled_out;
        let name = self.rs_name.as_deref().unwrap_or("");
        match self.seen {
            Seen::Created => {
                let message = format!("Created new replica set \"{name}\"");
                set_progressing(
                    conditions,
                    "True",
                    "NewReplicaSetCreated",
                    &message,
                    now,
                    true,
                );
            }
            // A resync of a finished rollout (or a scale): nothing to estimate.
            _ if finished_before => {}
            Seen::Complete => {
                let message = self.about("has successfully progressed.");
                set_progressing(
                    conditions,
                    "True",
                    "NewReplicaSetAvailable",
                    &message,
                    now,
                    false,
                );
            }
            Seen::Progressed => {
                let message = self.about("is progressing.");
                set_progressing(conditions, "True", "ReplicaSetUpdated", &message, now, true);
            }
            Seen::Stalled if timed_out(current.as_ref(), deadline_ms, now_ms) => {
                let message = self.about("has timed out progressing.");
                set_progressing(
                    conditions,
                    "False",
                    "ProgressDeadlineExceeded",
                    &message,
                    now,
                    false,
                );
            }
            Seen::Stalled if current.is_none() && self.rs_name.is_some() => {
                let message = format!("Found new replica set \"{name}\"");
                set_progressing(
                    conditions,
                    "True",
                    "FoundNewReplicaSet",
                    &message,
                    now,
                    true,
                );
            }
            Seen::Stalled => {}
        }
    }
}

fn set_available(conditions: &mut Vec<Value>, enough: bool, now: &str) {
    let condition = if enough {
        Condition {
            kind: "Available",
            status: "True",
            reason: "MinimumReplicasAvailable",
            message: "Deployment has minimum availability.",
        }
    } else {
        Condition {
            kind: "Available",
            status: "False",
            reason: "MinimumReplicasUnavailable",
            message: "Deployment does not have minimum availability.",
        }
    };
    meta::set_condition(
        conditions,
        condition,
        now,
        Stamp::WithUpdate { touch: false },
    );
}

fn set_progressing(
    conditions: &mut Vec<Value>,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
    touch: bool,
) {
    let condition = Condition {
        kind: "Progressing",
        status,
        reason,
        message,
    };
    meta::set_condition(conditions, condition, now, Stamp::WithUpdate { touch });
}

/// The deployment controller's test: the last progress is older than the deadline.
fn timed_out(progressing: Option<&Value>, deadline_ms: Option<i64>, now_ms: i64) -> bool {
    let (Some(c), Some(deadline)) = (progressing, deadline_ms) else {
        return false;
    };
    match meta::text(c, "/reason") {
        "NewReplicaSetAvailable" => false,
        "ProgressDeadlineExceeded" => true,
        _ => last_update_ms(c).is_some_and(|from| from + deadline < now_ms),
    }
}

/// When an unfinished rollout runs out of time, so a pass looks again then.
fn deadline_due(conditions: &[Value], deadline_ms: Option<i64>, complete: bool) -> Option<i64> {
    if complete {
        return None;
    }
    let c = conditions
        .iter()
        .find(|c| meta::text(c, "/type") == "Progressing")?;
    if meta::text(c, "/status") != "True" || meta::text(c, "/reason") == "NewReplicaSetAvailable" {
        return None;
    }
    Some(last_update_ms(c)? + deadline_ms? + 1)
}

fn last_update_ms(condition: &Value) -> Option<i64> {
    crate::clock::parse_time(meta::text(condition, "/lastUpdateTime"))
        .map(jiff::Timestamp::as_millisecond)
}
