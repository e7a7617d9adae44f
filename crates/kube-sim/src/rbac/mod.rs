//! Authorization, off by default and turned on per scenario (`authorization: RBAC`), so that
//! least-privilege roles can be tested against the simulator.
//!
//! With RBAC on, every request is checked after authentication, as the real API server's RBAC
//! authorizer checks it: the request's attributes ([`attributes`]) against the rules of the Roles
//! and `ClusterRoles` bound to the user ([`rules`]), the real bootstrap policy stored at start
//! ([`bootstrap`]). A refusal is the real 403. The review endpoints ([`review`]) answer
//! `kubectl auth can-i` and `kubectl auth whoami` under either mode.

pub mod attributes;
pub mod bootstrap;
pub mod identity;
pub mod review;
pub mod rules;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::status::ApiError;
use crate::sim::Sim;
pub use attributes::Attributes;
pub use identity::{AccessEntry, StaticUser, UserInfo};
pub use rules::Decision;

/// How requests are authorized (the real server's `--authorization-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Mode {
    /// Everything an authenticated user asks is allowed (kube-sim's default).
    #[default]
    AlwaysAllow,
    /// Roles, `ClusterRoles` and their bindings decide.
    #[serde(rename = "RBAC")]
    Rbac,
}

/// Whether `user` may do what `attrs` describe.
pub fn decide(sim: &Sim, mode: Mode, user: &UserInfo, attrs: &Attributes) -> Decision {
    // The real server lets `system:masters` through before RBAC is asked, so an admin can never
    // lock itself out by deleting bindings.
    if mode == Mode::AlwaysAllow || user.in_group(identity::MASTERS) {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    rules::decide(&sim.store(), user, attrs)
}

/// The rules `user` has in `namespace`, and the errors met collecting them.
pub fn rules_in(
    sim: &Sim,
    mode: Mode,
    user: &UserInfo,
    namespace: &str,
) -> (Vec<Value>, Vec<String>) {
    if mode == Mode::AlwaysAllow || user.in_group(identity::MASTERS) {
        let everything = vec![
            json!({ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] }),
            json!({ "verbs": ["*"], "nonResourceURLs": ["*"] }),
        ];
        return (everything, Vec::new());
    }
    rules::rules_for(&sim.store(), user, namespace)
}

/// The authorization step of every request: `Ok` to go on, or the 403 to answer.
pub fn authorize(
    sim: &Sim,
    mode: Mode,
    user: &UserInfo,
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if mode == Mode::AlwaysAllow {
        return Ok(());
    }
    let attrs = Attributes::of_request(method, path, query);
    let decision = decide(sim, mode, user, &attrs);
    if decision.allowed {
        Ok(())
    } else {
        Err(attrs.forbidden(&user.username, &decision.reason))
    }
}

/// The name rule of Roles, `ClusterRoles` and their bindings (the real `ValidatePathSegmentName`):
/// anything that can be one segment of a URL path, so `system:discovery` is a valid name.
pub fn valid_path_segment_name(name: &str) -> Result<(), &'static str> {
    match name {
        "." => Err("may not be '.'"),
        ".." => Err("may not be '..'"),
        _ if name.contains('/') => Err("may not contain '/'"),
        _ if name.contains('%') => Err("may not contain '%'"),
        _ => Ok(()),
    }
}
