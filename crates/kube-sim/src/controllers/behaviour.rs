//! Scripted pod behaviour (to be written): rules that choose, by image or annotation, how a pod
//! behaves (ready after N seconds, image pull errors, crash loops, OOM, never ready,
//! unschedulable).

use serde::Deserialize;

/// One rule of a scenario's `behaviours:` list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {}

/// The rules in force, changeable at run time.
#[derive(Debug, Default)]
pub struct Behaviours {}

impl Behaviours {
    pub fn new(rules: Vec<Rule>) -> Self {
        let _ = rules;
        Self {}
    }
}
