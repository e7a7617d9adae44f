//! The simulator's shared state: the store, the clock, the faults, pod logs, and the knobs that
//! controllers read. One `Arc<Sim>` is shared by the HTTP handlers and the controllers.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::controllers::behaviour::Behaviours;
use crate::faults::FaultState;
use crate::store::Store;

/// Log lines of one container: its current run and its previous one (`kubectl logs --previous`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerLogs {
    pub current: Vec<String>,
    pub previous: Vec<String>,
}

/// (namespace, pod, container) → logs.
pub type LogKey = (String, String, String);

/// Settings that shape the simulated cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// How many nodes exist (DaemonSets run one pod per node).
    pub nodes: u32,
    /// Seconds (simulated) before a LoadBalancer Service gets its hostname.
    pub load_balancer_delay_secs: u64,
    /// The cluster's name (EKS-token mode checks tokens against it).
    pub cluster_name: String,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            nodes: 3,
            load_balancer_delay_secs: 2,
            cluster_name: "kube-sim".to_owned(),
        }
    }
}

#[derive(Debug)]
pub struct Sim {
    store: Mutex<Store>,
    pub clock: Clock,
    pub faults: FaultState,
    pub settings: ClusterSettings,
    /// Scripted pod behaviour rules, changeable at run time.
    pub behaviours: Behaviours,
    logs: Mutex<BTreeMap<LogKey, ContainerLogs>>,
    /// Woken on every write, so controllers react at once instead of on their next tick.
    pub changed: Notify,
    /// The states paginated lists are served from (`limit`/`continue`).
    pub list_snapshots: crate::api::pagination::Snapshots,
    /// Every request answered, when turned on (`--request-log`).
    pub requests: crate::requests::RequestLog,
}

impl Sim {
    pub fn new(
        store: Store,
        clock: Clock,
        faults: FaultState,
        settings: ClusterSettings,
        behaviours: Behaviours,
    ) -> Self {
        Self {
            store: Mutex::new(store),
            clock,
            faults,
            settings,
            behaviours,
            logs: Mutex::default(),
            changed: Notify::new(),
            list_snapshots: crate::api::pagination::Snapshots::default(),
            requests: crate::requests::RequestLog::default(),
        }
    }

    /// The store, locked. Hold it briefly and never across an `.await`.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the locked store and wakes the controllers afterwards.
    pub fn write<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let result = f(&mut self.store());
        self.changed.notify_one();
        result
    }

    pub fn logs(&self) -> MutexGuard<'_, BTreeMap<LogKey, ContainerLogs>> {
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
