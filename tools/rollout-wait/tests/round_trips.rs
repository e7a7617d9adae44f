//! The requests rollout-wait sends at start-up, read from kube-sim's request log: the kinds it
//! has no table entry for are discovered once each and all at the same time, one round trip
//! rather than one per kind (a rollback's wait is healthy at once, so its start-up is the wait).
//!
//! Only causal order is asserted: with 200 ms added to every answer, a discovery that waited
//! for another would start after that one ended.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use kube_sim::Faults;

const NS: &str = "discover";

#[test]
fn kinds_without_a_table_entry_are_discovered_together_once_each() {
    let sim = common::start(1.0);
    sim.apply(&common::namespace(NS));
    sim.apply(&format!(
        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: web, namespace: {NS}}}
spec: {{maxUnavailable: 1, selector: {{matchLabels: {{app: web}}}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny, namespace: {NS}}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: dns, namespace: {NS}}}
spec: {{podSelector: {{}}, policyTypes: [Egress]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: reader, namespace: {NS}}}
rules: []
"
    ));
    let doc = common::upstream(
        None,
        &[
            ("policy/v1", "PodDisruptionBudget", NS, "web"),
            ("networking.k8s.io/v1", "NetworkPolicy", NS, "deny"),
            ("networking.k8s.io/v1", "NetworkPolicy", NS, "dns"),
            ("rbac.authorization.k8s.io/v1", "Role", NS, "reader"),
        ],
    );
    sim.faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    });
    sim.sim.sim().requests.enable();
    sim.rollout_wait(&["--timeout", "1m"], Some(&doc))
        .assert_code(0);
    let log = sim.sim.sim().requests.take();
    let all = log
        .iter()
        .map(|r| format!("{:>8} {:>8} {} {}", r.start_us, r.end_us, r.method, r.path))
        .collect::<Vec<_>>()
        .join("\n");

    let discovery: Vec<_> = log
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.starts_with("/apis/") && r.path.matches('/').count() == 3
        })
        .collect();
    let mut paths: Vec<&str> = discovery.iter().map(|r| r.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/apis/networking.k8s.io/v1",
            "/apis/policy/v1",
            "/apis/rbac.authorization.k8s.io/v1"
        ],
        "one discovery per kind, a kind named twice asked for once:\n{all}"
    );
    let first_answer = discovery.iter().map(|r| r.end_us).min().unwrap();
    for request in &discovery {
        assert!(
            request.start_us < first_answer,
            "{} waited for another discovery to be answered:\n{all}",
            request.path
        );
    }
}
