//! The requests a release apply sends, read from kube-sim's request log: which ones, how many,
//! and in which order the writes that keep a release safe happen (docs/bench-pipeline.md lists
//! the round trips). Against a remote API server every request that waits for another costs a
//! round trip, so the reads go together; the writes keep their order: the deploy lock before
//! the first write of the set (but the release's own Namespace, where the lock lives), the
//! `ApplySet` parent and the revision record before any member, the record's outcome after the
//! last member.
//!
//! Only causal order is asserted (a request that needs another's answer starts after it ended),
//! never how many requests happened to overlap, which depends on how busy the machine is.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;

use common::{k8s_apply, write};
use kube_sim::requests::Request;
use kube_sim::{Config, KubeSim};

const NS: &str = "rt";

/// The Namespace and `n` each of ConfigMap, Service and Deployment.
fn set(n: usize) -> String {
    let mut text = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n");
    for i in 0..n {
        write!(
            text,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i}\n  namespace: {NS}\n\
             data:\n  KEY: value-{i}\n\
             ---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: {NS}\n\
             spec:\n  selector:\n    app: svc-{i}\n  ports:\n    - port: 80\n\
             ---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i}\n  namespace: {NS}\n\
             spec:\n  selector:\n    matchLabels:\n      app: svc-{i}\n  template:\n    metadata:\n\
             \x20     labels:\n        app: svc-{i}\n    spec:\n      containers:\n\
             \x20       - name: app\n          image: registry.example/svc:1.0.0\n"
        )
        .unwrap();
    }
    text
}

fn path(request: &Request) -> &str {
    request.path.split('?').next().unwrap_or_default()
}

/// Requests whose method is `method` and whose path (without the query) satisfies `matches`.
fn matching<'a>(
    log: &'a [Request],
    method: &str,
    matches: impl Fn(&str) -> bool,
) -> Vec<&'a Request> {
    log.iter()
        .filter(|r| r.method == method && matches(path(r)))
        .collect()
}

/// A member of the set: in the release's namespace (not, say, the environment record that every
/// write reads from `kube-system`).
fn is_member(path: &str) -> bool {
    path.contains(&format!("/namespaces/{NS}/"))
        && ["/configmaps/", "/services/", "/deployments/"]
            .iter()
            .any(|kind| path.contains(kind))
}

fn is_revisions_list(request: &Request) -> bool {
    path(request) == format!("/api/v1/namespaces/{NS}/secrets")
        && request.path.contains("labelSelector=pipewright.dev")
}

fn show(log: &[Request]) -> String {
    log.iter()
        .map(|r| format!("{:>8} {:>8} {} {}", r.start_us, r.end_us, r.method, r.path))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a release apply of `text` with the request log on; returns the requests it sent.
fn apply_logged(sim: &KubeSim, dir: &std::path::Path, text: &str) -> Vec<Request> {
    let file = write(dir, "set.yaml", text);
    sim.sim().requests.enable();
    k8s_apply(
        sim.kubeconfig_path(),
        &[
            "-f",
            &file,
            "--release",
            "web",
            "-n",
            NS,
            "--lock-holder",
            "test",
        ],
    )
    .assert_code(0);
    sim.sim().requests.take()
}

#[test]
fn a_first_install_reads_together_and_writes_in_the_safe_order() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = apply_logged(&sim, dir.path(), &set(5));
    let all = show(&log);

    // Each of these once: nothing read twice, nothing read just before it is written.
    assert_eq!(matching(&log, "GET", |p| p == "/version").len(), 1, "{all}");
    assert_eq!(
        log.iter().filter(|r| is_revisions_list(r)).count(),
        1,
        "the revisions are listed once, under the lock:\n{all}"
    );
    assert_eq!(
        matching(&log, "GET", |p| p.contains("/leases/")).len(),
        1,
        "the lock is looked for with the first reads, not again before it is taken:\n{all}"
    );
    let namespace_reads = matching(&log, "GET", |p| p == format!("/api/v1/namespaces/{NS}"));
    assert_eq!(namespace_reads.len(), 1, "{all}");
    assert_eq!(
        matching(&log, "GET", |p| p.contains("pipewright.release.v1")).len(),
        0,
        "the record is written back from the version this run wrote, not read again:\n{all}"
    );
    assert!(
        matching(&log, "GET", is_member).is_empty(),
        "members are listed, three or more of a kind, not read one by one:\n{all}"
    );
    for group_version in ["/api/v1", "/apis/apps/v1"] {
        assert_eq!(
            matching(&log, "GET", |p| p == group_version).len(),
            1,
            "{group_version} discovered once:\n{all}"
        );
    }

    // The writes, in their safe order.
    let namespace_write = matching(&log, "PATCH", |p| p == format!("/api/v1/namespaces/{NS}"));
    let lease_create = matching(&log, "POST", |p| p.ends_with("/leases"));
    let parent = matching(&log, "PATCH", |p| p.ends_with("/pipewright-applyset-web"));
    let record_create = matching(&log, "POST", |p| {
        p == format!("/api/v1/namespaces/{NS}/secrets")
    });
    let record_write = matching(&log, "PUT", |p| p.contains("pipewright.release.v1.web.v1"));
    let members = matching(&log, "PATCH", is_member);
    assert_eq!(
        (namespace_write.len(), lease_create.len(), parent.len()),
        (1, 1, 1),
        "{all}"
    );
    // The first signed record of a release creates its record key first (docs/release-records.md).
    assert_eq!((record_create.len(), record_write.len()), (2, 1), "{all}");
    assert_eq!(members.len(), 15, "{all}");
    let first_member = members.iter().map(|r| r.start_us).min().unwrap();
    let last_member = members.iter().map(|r| r.end_us).max().unwrap();
    let revisions_list = log.iter().find(|r| is_revisions_list(r)).unwrap();
    assert!(
        namespace_write[0].end_us <= lease_create[0].start_us,
        "the lock lives in the namespace, created first:\n{all}"
    );
    assert!(
        lease_create[0].end_us <= revisions_list.start_us,
        "the revisions are read under the lock:\n{all}"
    );
    assert!(
        revisions_list.end_us <= record_create[0].start_us,
        "the record's number comes from the list under the lock:\n{all}"
    );
    assert!(
        parent[0].end_us <= first_member && record_create[0].end_us <= first_member,
        "the parent and the record come before any member:\n{all}"
    );
    assert!(
        last_member <= record_write[0].start_us,
        "the record's outcome comes after the last member:\n{all}"
    );
    // Issue 12 item 7: every record write is preceded by a confirmation of the lock (a renewal,
    // a compare-and-swap on the Lease).
    let mut confirmations = matching(&log, "PUT", |p| p.contains("/leases/"));
    confirmations.sort_by_key(|r| r.start_us);
    assert_eq!(confirmations.len(), 2, "{all}");
    assert!(
        revisions_list.end_us <= confirmations[0].start_us
            && confirmations[0].end_us <= record_create[0].start_us,
        "the lock is confirmed before the revision is recorded:\n{all}"
    );
    assert!(
        last_member <= confirmations[1].start_us
            && confirmations[1].end_us <= record_write[0].start_us,
        "the lock is confirmed between the last member and the record's outcome:\n{all}"
    );
}

#[test]
fn a_re_apply_with_nothing_new_writes_no_record_and_lists_no_history() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    apply_logged(&sim, dir.path(), &set(3));
    let log = apply_logged(&sim, dir.path(), &set(3));
    let all = show(&log);

    assert_eq!(
        log.iter().filter(|r| is_revisions_list(r)).count(),
        1,
        "listed once under the lock; the history is not pruned with 1 of 10 revisions:\n{all}"
    );
    assert!(
        matching(&log, "POST", |_| true).is_empty()
            && matching(&log, "PUT", |p| !p.contains("/leases/")).is_empty(),
        "no revision recorded, no record written:\n{all}"
    );
    let mut lease = matching(&log, "PUT", |p| p.contains("/leases/"));
    lease.sort_by_key(|r| r.start_us);
    let lease_read = matching(&log, "GET", |p| p.contains("/leases/"));
    assert_eq!(
        (lease.len(), lease_read.len()),
        (3, 1),
        "the lock is taken, confirmed before the first record write, and confirmed again after \
         the last member:\n{all}"
    );
    assert!(
        lease_read[0].end_us <= lease[0].start_us,
        "the lock is taken over the version read:\n{all}"
    );
    let members = matching(&log, "PATCH", is_member);
    assert!(
        members.iter().all(|m| lease[1].end_us <= m.start_us),
        "no member is written before the lock is held and confirmed:\n{all}"
    );
    assert!(
        members.iter().all(|m| m.end_us <= lease[2].start_us),
        "the lock is confirmed after the last member:\n{all}"
    );
}

#[test]
fn a_set_without_the_release_namespace_never_reads_it() {
    // A deployer bound to its namespace may not be allowed to read Namespaces: only a set that
    // holds the release's Namespace reads it.
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let namespace = write(
        dir.path(),
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n"),
    );
    k8s_apply(sim.kubeconfig_path(), &["-f", &namespace]).assert_code(0);
    let without = set(1)
        .split_once("---\n")
        .map(|(_, rest)| rest.to_owned())
        .unwrap();
    let log = apply_logged(&sim, dir.path(), &without);
    let all = show(&log);
    assert!(
        matching(&log, "GET", |p| p == format!("/api/v1/namespaces/{NS}")).is_empty(),
        "{all}"
    );
    assert_eq!(matching(&log, "PATCH", is_member).len(), 3, "{all}");
}
