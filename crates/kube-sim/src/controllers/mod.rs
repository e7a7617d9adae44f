//! Controllers that make the simulated cluster move: Deployments → ReplicaSets → Pods with
//! scripted behaviour, StatefulSets, DaemonSets, Jobs, LoadBalancer Services, Ingresses,
//! PersistentVolumeClaims, and the Nodes they run on.
//!
//! One task reconciles everything, level-triggered, in passes over the locked store. A pass runs
//! when a relevant object changed (any write wakes `Sim::changed`) or when a simulated deadline
//! one of them set has come (a pod due to become ready, a back-off ending, a progress deadline);
//! a short real-time tick notices deadlines reached by the clock alone. Each pass writes only what
//! really changes, so a quiet cluster costs nothing but the tick.

pub mod behaviour;
mod daemonsets;
mod deployments;
mod events;
mod hash;
mod jobs;
mod kubelet;
mod meta;
mod namespaces;
mod network;
mod nodes;
mod pass;
mod pods;
mod replicasets;
mod revisions;
mod statefulsets;
mod termination;
mod timeline;
mod volumes;

use std::sync::Arc;
use std::time::Duration;

use pass::{Kind, Memory, Pass, Types};

use crate::sim::Sim;
use crate::store::Store;

/// How often simulated deadlines are checked when nothing is written.
const TICK: Duration = Duration::from_millis(20);

/// Passes in a row before the loop yields to the server anyway.
const MAX_CASCADE: usize = 50;

/// Runs every controller until the runtime shuts down.
pub async fn run(sim: Arc<Sim>) {
    let Some(types) = Types::new(&sim.store()) else {
        tracing::error!("built-in resource types missing: controllers not started");
        return;
    };
    let mut memory = Memory::default();
    let mut seen_rv = 0;
    // Start with a pass: it creates the nodes.
    let mut due: Option<i64> = Some(i64::MIN);
    let mut cascade = 0;
    loop {
        let now_ms = sim.clock.now().as_millisecond();
        let wrote = {
            let mut store = sim.store();
            let relevant = relevant_changes(&store, seen_rv);
            // Our own writes count as changes for the next pass: they are what the controllers
            // further down the chain (ReplicaSet → Pod) react to.
            seen_rv = store.resource_version();
            if relevant || due.is_some_and(|d| d <= now_ms) {
                let mut pass = Pass::new(&mut store, &sim, &types, &mut memory, now_ms);
                reconcile(&mut pass);
                let (wrote, next) = pass.finish();
                due = next;
                wrote
            } else {
                false
            }
        };
        if wrote && cascade < MAX_CASCADE {
            // Our own writes (a new ReplicaSet, its pods) need the next step at once.
            cascade += 1;
            tokio::task::yield_now().await;
            continue;
        }
        cascade = 0;
        tokio::select! {
            () = sim.changed.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Whether anything a controller manages changed since `since` (events do not count: only
/// controllers write them). Deletions of any kind count, for the namespace controller.
fn relevant_changes(store: &Store, since: u64) -> bool {
    if store.resource_version() == since {
        return false;
    }
    match store.changes_since(since) {
        Some(changes) => changes.iter().any(|c| {
            Kind::of(&c.key.group, &c.key.plural).is_some_and(|k| k != Kind::Event)
                || namespaces::concerns(c)
        }),
        None => true,
    }
}

/// One pass of every controller, owners before what they own so a cascade settles quickly.
fn reconcile(pass: &mut Pass<'_>) {
    nodes::ensure(pass);
    deployments::reconcile(pass);
    replicasets::reconcile(pass);
    statefulsets::reconcile(pass);
    daemonsets::reconcile(pass);
    jobs::reconcile(pass);
    pods::reconcile(pass);
    network::reconcile(pass);
    volumes::reconcile(pass);
    namespaces::reconcile(pass);
}
