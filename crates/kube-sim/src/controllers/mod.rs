//! Controllers that make the simulated cluster move (to be written): Deployments, ReplicaSets,
//! Pods with scripted behaviour, StatefulSets, DaemonSets, Jobs, LoadBalancer Services, Ingresses,
//! PersistentVolumeClaims.

pub mod behaviour;

use std::sync::Arc;

use crate::sim::Sim;

/// Runs every controller until the runtime shuts down.
pub async fn run(sim: Arc<Sim>) {
    let _ = sim;
}
