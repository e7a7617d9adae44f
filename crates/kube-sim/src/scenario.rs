//! The `--scenario FILE` of `kube-sim serve` (YAML or JSON): the pace of simulated time, the
//! cluster's shape, faults, and scripted pod behaviours. Everything in it can also be changed at
//! run time through the library handle.

use std::path::Path;

use serde::Deserialize;

use crate::controllers::behaviour::Rule;
use crate::faults::Faults;

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
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
