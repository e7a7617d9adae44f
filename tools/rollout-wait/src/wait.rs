//! The wait itself: judge every target each time the watched state changes, until all are
//! healthy, one is hopeless, or the time is up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use kube::api::ApiResource;
use serde_json::Value;
use stage::{Ctx, StageError};

use crate::health::{self, Health};
use crate::json::text;
use crate::pods::{self, Rules};
use crate::progress::Progress;
use crate::report::Status;
use crate::revision::{self, Owned};
use crate::target::{KnownKind, Rule, Target};
use crate::watch::{Spec, Store};

/// How often time-based rules (the unschedulable grace period) are looked at again when no
/// event arrives.
const TICK: Duration = Duration::from_millis(500);

/// How the wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Healthy,
    Degraded,
    Timeout,
}

/// One target's last verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub health: Health,
    /// The pods the target's pod-level rules looked at (current revision only).
    pub pods: Vec<Value>,
    /// Names of the objects between the target and its pods (a Deployment's new ReplicaSet),
    /// whose events explain it too.
    pub related: Vec<String>,
    pub healthy_after: Option<Duration>,
}

/// Where each target and its pods are found in the store: the stream of the target's kind, and
/// those of its namespace's Pods, ReplicaSets and ControllerRevisions when its rules need them.
#[derive(Debug)]
pub(crate) struct Plan {
    targets: Vec<usize>,
    pods: Vec<Option<usize>>,
    replica_sets: Vec<Option<usize>>,
    revisions: Vec<Option<usize>>,
}

impl Plan {
    /// Every stream target `i` is judged from.
    fn streams_of(&self, i: usize) -> impl Iterator<Item = usize> {
        [
            Some(self.targets[i]),
            self.pods[i],
            self.replica_sets[i],
            self.revisions[i],
        ]
        .into_iter()
        .flatten()
    }
}

/// Waits for `targets` from `started` until `deadline` at the latest (`quiet`: `-q`). Returns
/// how it ended and every target's last verdict.
pub async fn wait(
    ctx: &Ctx,
    client: &kube::Client,
    targets: &[Target],
    rules: Rules,
    quiet: bool,
    (started, deadline): (Instant, Instant),
) -> Result<(Ending, Vec<Verdict>), StageError> {
    if targets.is_empty() {
        // Nothing to watch is trivially healthy; starting no watches must not look like every
        // watch having ended.
        return Ok((Ending::Healthy, Vec::new()));
    }
    let mut store = Store::default();
    let plan = plan(&mut store, targets);
    let mut streams = store.start(client);
    let mut progress = Progress::new(ctx, targets, quiet);
    let mut unschedulable: HashMap<String, Instant> = HashMap::new();
    let mut verdicts: Vec<Verdict> = targets
        .iter()
        .map(|_| Verdict {
            health: health::missing(),
            pods: Vec::new(),
            related: Vec::new(),
            healthy_after: None,
        })
        .collect();
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            item = streams.next() => {
                let Some(item) = item else {
                    return Err(StageError::unavailable(format!(
                        "watching {}: every watch ended unexpectedly",
                        store.describe_all()
                    ))
                    .with_hint(
                        "the API server (or a proxy before it) closed the watch streams for good; \
                         run the step again, and check the API server's health if it recurs",
                    ));
                };
                store.apply(item)?;
                // Take whatever else has arrived before judging: one pass per burst, not per event.
                while let Some(Some(item)) = streams.next().now_or_never() {
                    store.apply(item)?;
                }
            }
            _ = tick.tick() => {}
            () = &mut sleep => {
                for (i, verdict) in verdicts.iter_mut().enumerate() {
                    // Never judged because a first list never came: say so, not "not found".
                    if let Some(stream) = plan.streams_of(i).find(|&s| !store.stream_synced(s)) {
                        verdict.health = health::not_listed(&store.describe(stream));
                    }
                    if verdict.health.status == Status::Progressing {
                        verdict.health.status = Status::Timeout;
                    }
                }
                progress.finish(&verdicts);
                return Ok((Ending::Timeout, verdicts));
            }
        }
        if !store.synced() {
            continue;
        }
        for (i, target) in targets.iter().enumerate() {
            let (health, pods) = judge(&store, &plan, i, target, &rules, &mut unschedulable);
            let related = related(&store, &plan, i, target);
            let verdict = &mut verdicts[i];
            if health.status == Status::Healthy && verdict.health.status != Status::Healthy {
                verdict.healthy_after = Some(started.elapsed());
            }
            verdict.health = health;
            verdict.pods = pods;
            verdict.related = related;
        }
        progress.update(&verdicts);
        ctx.set_pending(
            targets
                .iter()
                .zip(&verdicts)
                .filter(|(_, v)| v.health.status != Status::Healthy)
                .map(|(t, v)| format!("{}: {}", t.display(), v.health.message)),
        );
        if verdicts.iter().any(|v| v.health.status == Status::Degraded) {
            progress.finish(&verdicts);
            return Ok((Ending::Degraded, verdicts));
        }
        if verdicts.iter().all(|v| v.health.status == Status::Healthy) {
            progress.finish(&verdicts);
            return Ok((Ending::Healthy, verdicts));
        }
    }
}

/// The streams for `targets`: one per kind and namespace, shared by every target that needs it.
pub(crate) fn plan(store: &mut Store, targets: &[Target]) -> Plan {
    let pods_resource = KnownKind::by_group_kind("", "Pod").map(KnownKind::resource);
    let rs_resource = KnownKind::by_group_kind("apps", "ReplicaSet").map(KnownKind::resource);
    let revisions_resource = Some(ApiResource::erase::<
        k8s_openapi::api::apps::v1::ControllerRevision,
    >(&()));
    let mut plan = Plan {
        targets: Vec::new(),
        pods: Vec::new(),
        replica_sets: Vec::new(),
        revisions: Vec::new(),
    };
    for target in targets {
        let spec = Spec {
            resource: target.resource.clone(),
            namespace: target.namespace.clone(),
        };
        plan.targets
            .push(store.stream_for(spec, Some(&target.name), target.rule == Rule::Present));
        let stream = |store: &mut Store, resource: &Option<ApiResource>, wanted: bool| {
            resource.clone().filter(|_| wanted).map(|resource| {
                store.stream_for(
                    Spec {
                        resource,
                        namespace: target.namespace.clone(),
                    },
                    None,
                    false,
                )
            })
        };
        let needs_pods = matches!(
            target.rule,
            Rule::Deployment | Rule::StatefulSet | Rule::DaemonSet | Rule::ReplicaSet | Rule::Job
        );
        plan.pods.push(stream(store, &pods_resource, needs_pods));
        plan.replica_sets
            .push(stream(store, &rs_resource, target.rule == Rule::Deployment));
        plan.revisions.push(stream(
            store,
            &revisions_resource,
            target.rule == Rule::DaemonSet,
        ));
    }
    plan
}

/// The objects between target `i` and its pods: a Deployment's new ReplicaSet.
fn related(store: &Store, plan: &Plan, i: usize, target: &Target) -> Vec<String> {
    let (Some(object), Some(stream)) = (
        store.get(plan.targets[i], target.namespace.as_deref(), &target.name),
        plan.replica_sets[i],
    ) else {
        return Vec::new();
    };
    let replica_sets: Vec<&Value> = store.all(stream).collect();
    revision::new_replica_set(object, &replica_sets)
        .map(|rs| text(rs, "/metadata/name").to_owned())
        .into_iter()
        .collect()
}

/// Judges one target: its kind's rule, then (unless healthy) the pod-level rules.
fn judge(
    store: &Store,
    plan: &Plan,
    i: usize,
    target: &Target,
    rules: &Rules,
    unschedulable: &mut HashMap<String, Instant>,
) -> (Health, Vec<Value>) {
    let Some(object) = store.get(plan.targets[i], target.namespace.as_deref(), &target.name) else {
        return (health::missing(), Vec::new());
    };
    let mut health = health::judge(target.rule, object);
    let pods = if target.rule == Rule::Pod {
        vec![object.clone()]
    } else {
        let all = |stream: Option<usize>| -> Vec<&Value> {
            stream.map_or_else(Vec::new, |s| store.all(s).collect())
        };
        let (pods, replica_sets, revisions) = (
            all(plan.pods[i]),
            all(plan.replica_sets[i]),
            all(plan.revisions[i]),
        );
        let owned = Owned {
            pods: &pods,
            replica_sets: &replica_sets,
            revisions: &revisions,
        };
        revision::current_pods(target.rule, object, owned)
    };
    // Before the controller has seen the new spec, the pods belong to the old one: judging them
    // would blame this rollout for the last one's failure (a rollback from a broken version).
    let observed = match target.rule {
        // The kinds whose controllers write observedGeneration (Jobs and Pods have none).
        Rule::Deployment | Rule::StatefulSet | Rule::DaemonSet | Rule::ReplicaSet => {
            revision::generation_observed(object)
        }
        _ => true,
    };
    if health.status != Status::Progressing || !observed {
        return (health, pods);
    }
    let now = Instant::now();
    for pod in &pods {
        let uid = text(pod, "/metadata/uid").to_owned();
        let unschedulable_for = if pods::unschedulable(pod).is_some() {
            Some(now.duration_since(*unschedulable.entry(uid).or_insert(now)))
        } else {
            unschedulable.remove(&uid);
            None
        };
        if let Some(fault) = pods::fault(pod, rules, unschedulable_for, target.rule != Rule::Job) {
            health = Health {
                status: Status::Degraded,
                reason: fault.reason,
                message: fault.message,
                progress: health.progress,
            };
            return (health, pods);
        }
    }
    if target.rule == Rule::Job
        && let Some(exceeded) = crate::job::backoff_exceeded(object, &pods)
    {
        health = Health {
            status: Status::Degraded,
            reason: "BackoffLimitExceeded".to_owned(),
            message: exceeded,
            progress: health.progress,
        };
    }
    (health, pods)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: &str, namespace: &str, name: &str) -> Target {
        let known = KnownKind::find(kind).unwrap();
        Target {
            resource: known.resource(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
            rule: known.rule,
        }
    }

    #[test]
    fn one_watch_per_kind_and_namespace() {
        let mut targets: Vec<Target> = (0..50)
            .map(|n| target("deployment", "shop", &format!("api-{n}")))
            .collect();
        targets.push(target("configmap", "shop", "config"));
        let mut store = Store::default();
        let planned = plan(&mut store, &targets);
        // Deployments, their Pods and ReplicaSets, and the ConfigMap: four, not fifty-odd.
        assert_eq!(store.len(), 4);
        assert!(
            planned.targets[..50]
                .iter()
                .all(|&s| s == planned.targets[0])
        );
        assert!(
            planned.pods[..50]
                .iter()
                .all(|&s| s.is_some() && s == planned.pods[0])
        );
        assert_eq!(planned.pods[50], None, "a ConfigMap needs no pods");
        let configmaps = planned.targets[50];
        assert!(
            store.metadata_only(configmaps),
            "presence needs metadata only"
        );
        assert!(!store.metadata_only(planned.targets[0]));
        assert!(!store.metadata_only(planned.pods[0].unwrap()));

        // Another namespace is another watch of each kind it needs; a DaemonSet adds its
        // ControllerRevisions.
        targets.push(target("deployment", "web", "front"));
        targets.push(target("daemonset", "shop", "agent"));
        let mut store = Store::default();
        plan(&mut store, &targets);
        assert_eq!(store.len(), 4 + 3 + 2);
    }
}
