//! The `--scenario FILE` of `kube-sim serve` (YAML or JSON): the pace of simulated time, the
//! cluster's shape, faults, and scripted pod behaviours. Everything in it can also be changed at
//! run time through the library handle.

use std::path::Path;

use serde::Deserialize;

use crate::controllers::behaviour::Rule;
use crate::faults::Faults;
use crate::rbac::{AccessEntry, Mode, StaticUser};

/// A scenario file. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// How many simulated seconds pass per real second (default 1).
    pub pace: Option<f64>,
    /// Simulated nodes (default 3).
    pub nodes: Option<u32>,
    /// Simulated seconds before a LoadBalancer Service gets a hostname (default 2).
    pub load_balancer_delay_seconds: Option<u64>,
    /// The cluster name EKS tokens must name (default `kube-sim`).
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub faults: Faults,
    #[serde(default)]
    pub behaviours: Vec<Rule>,
    /// `RBAC` to enforce Roles and bindings; `AlwaysAllow` (the default) lets every
    /// authenticated user do anything.
    pub authorization: Option<Mode>,
    /// Users with their own static tokens and groups, besides the kubeconfig's administrator.
    /// Each gets a kubeconfig context of its name.
    #[serde(default)]
    pub users: Vec<StaticUser>,
    /// EKS access entries: the user and groups of each IAM principal presenting an EKS token.
    #[serde(default)]
    pub access_entries: Vec<AccessEntry>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
