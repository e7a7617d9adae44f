//! kubectl 1.32, an independent client, checks what `k8s-apply` did to kube-sim: the objects it
//! reports are the ones kubectl sees (same uids), the `ApplySet` membership is the one kubectl's
//! label selector finds, and kubectl's own server-side diff with the same field manager finds
//! nothing left to change.
//!
//! "No change" is checked with `kubectl diff --server-side --field-manager=pipewright`, whose exit
//! code is 0 only when the server's dry-run apply of the set equals the live objects; a
//! `kubectl apply --server-side --dry-run=server` only prints "serverside-applied (server dry
//! run)" whether or not anything would change, so it is used here only for its `-o json`
//! answer, whose resourceVersions must equal the live ones.
//!
//! kubectl is required: these tests fail (not skip) without it, since they check nothing else.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::{Kubectl, k8s_apply, kubectl_program, write};
use kube_sim::{Config, KubeSim};
use serde_json::Value;
use sha2::Digest as _;
use std::collections::BTreeSet;

const PART_OF: &str = "applyset.kubernetes.io/part-of";

/// Every kind of the set, as kubectl names resources (one `kubectl get` for all of them).
const KINDS: &str = "namespaces,configmaps,secrets,services,serviceaccounts,deployments.apps,\
                     statefulsets.apps,ingresses.networking.k8s.io,\
                     networkpolicies.networking.k8s.io,roles.rbac.authorization.k8s.io,\
                     rolebindings.rbac.authorization.k8s.io";

/// The fixture (one object of each of ten kinds, from `Namespace` to `RoleBinding`) plus a
/// `ServiceAccount` the `Deployment` runs as.
fn app_set() -> String {
    let mut set = include_str!("fixtures/app.yaml")
        .replace("IMAGE", "registry.example/api:1.0.0")
        .replace(
            "      containers:\n        - name: api\n",
            "      serviceAccountName: api\n      containers:\n        - name: api\n",
        );
    set.push_str(
        "\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  namespace: shop\n",
    );
    set
}

fn kubectl(sim: &KubeSim) -> Kubectl {
    let program = kubectl_program()
        .expect("kubectl is required for these tests (set KUBECTL or install /usr/bin/kubectl)");
    Kubectl::new(program, sim.kubeconfig_path())
}

/// The KEP-3659 id, computed here independently of k8s-apply's code:
/// `applyset-` + unpadded base64url of sha256(`<name>.<namespace>.<Kind>.<group>`) + `-v1`.
fn kep_applyset_id(parent: &str, namespace: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{parent}.{namespace}.Secret.").as_bytes());
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The set with every object labelled as a member of `id`: what k8s-apply sends for a release.
fn labelled(set: &str, id: &str) -> String {
    let mut out = String::new();
    for document in serde_yaml_ng::Deserializer::from_str(set) {
        let mut object: Value = serde::Deserialize::deserialize(document).unwrap();
        if object.is_null() {
            continue;
        }
        let metadata = object["metadata"].as_object_mut().unwrap();
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        labels[PART_OF] = Value::String(id.to_owned());
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&object).unwrap());
    }
    out
}

/// `(Kind, namespace, name, uid)` of each item of a `kubectl get -o json` list.
fn identities(list: &Value) -> BTreeSet<(String, String, String, String)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let meta = &item["metadata"];
            (
                item["kind"].as_str().unwrap().to_owned(),
                meta["namespace"].as_str().unwrap_or_default().to_owned(),
                meta["name"].as_str().unwrap().to_owned(),
                meta["uid"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The same from k8s-apply's document.
fn reported(doc: &Value) -> BTreeSet<(String, String, String, String)> {
    doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["namespace"].as_str().unwrap_or_default().to_owned(),
                o["name"].as_str().unwrap().to_owned(),
                o["uid"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `(Kind, name, resourceVersion)` of each item of a list.
fn versions(list: &Value) -> BTreeSet<(String, String, String)> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["metadata"]["name"].as_str().unwrap().to_owned(),
                i["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

/// Waits (on conditions, through kubectl) until the simulated controllers have written their
/// last status for the set's objects: Deployment and StatefulSet rolled out, the Ingress given
/// its load balancer. After that nothing changes the listed kinds on its own, so a diff or a
/// resourceVersion comparison cannot race a controller's status write.
fn settle(kubectl: &Kubectl) {
    kubectl.ok(&[
        "rollout",
        "status",
        "deployment/api",
        "statefulset/db",
        "-n",
        "shop",
        "--timeout=60s",
    ]);
    kubectl.ok(&[
        "wait",
        "--for=jsonpath={.status.loadBalancer.ingress[0].hostname}",
        "ingress/api",
        "-n",
        "shop",
        "--timeout=60s",
    ]);
}

/// The changed lines of a unified diff (without the `---`/`+++` file headers).
fn changed_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++"))
        .filter(|l| !l.starts_with("---"))
        .collect()
}

fn diff(kubectl: &Kubectl, file: &str) -> (i32, String) {
    let output = kubectl.run(&[
        "diff",
        "--server-side",
        "--field-manager=pipewright",
        "-n",
        "shop",
        "-f",
        file,
    ]);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
    )
}

/// The `ApplySet` parent carries the KEP's id, so kubectl (and any KEP-3659 tool) derives the
/// same membership label from the parent's name and namespace; and it lists every member kind.
fn check_parent(kubectl: &Kubectl, id: &str) {
    let parent = kubectl.get_json(&["secret", "pipewright-applyset-web", "-n", "shop"]);
    assert_eq!(
        parent["metadata"]["labels"]["applyset.kubernetes.io/id"],
        id
    );
    let tooling = parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"]
        .as_str()
        .unwrap();
    assert!(tooling.starts_with("pipewright/"), "{tooling}");
    let group_kinds: BTreeSet<&str> =
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
            .as_str()
            .unwrap()
            .split(',')
            .collect();
    let expected_kinds: BTreeSet<&str> = [
        "ConfigMap",
        "Deployment.apps",
        "Ingress.networking.k8s.io",
        "Namespace",
        "NetworkPolicy.networking.k8s.io",
        "Role.rbac.authorization.k8s.io",
        "RoleBinding.rbac.authorization.k8s.io",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet.apps",
    ]
    .into_iter()
    .collect();
    assert_eq!(group_kinds, expected_kinds);
}

#[test]
fn kubectl_sees_the_release_k8s_apply_reported_and_finds_nothing_to_change() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let kubectl = kubectl(&sim);
    let dir = tempfile::tempdir().unwrap();
    let set = app_set();
    let file = write(dir.path(), "app.yaml", &set);

    let run = k8s_apply(
        sim.kubeconfig_path(),
        &[
            "-f",
            &file,
            "--release",
            "web",
            "-n",
            "shop",
            "--lock-holder",
            "test",
        ],
    );
    run.assert_code(0);
    let ours = reported(&run.doc);
    assert_eq!(ours.len(), 11, "{:?}", run.actions());
    assert!(
        run.actions().iter().all(|(_, a)| a == "created"),
        "{:?}",
        run.actions()
    );

    let id = kep_applyset_id("pipewright-applyset-web", "shop");
    check_parent(&kubectl, &id);

    // Members by kubectl's label selector: exactly the reported objects, same uids.
    let selector = format!("{PART_OF}={id}");
    let members = kubectl.get_json(&[KINDS, "-n", "shop", "-l", &selector]);
    assert_eq!(identities(&members), ours);
    // The selector is what singles them out: shop holds more Secrets than the set has (the
    // ApplySet parent, the revision record and the release's record key), which are not members.
    let everything = kubectl.get_json(&[KINDS, "-n", "shop"]);
    let all = identities(&everything);
    assert!(all.is_superset(&ours));
    let others: BTreeSet<(&str, &str)> = all
        .difference(&ours)
        .filter(|(_, namespace, _, _)| namespace == "shop")
        .map(|(kind, _, name, _)| (kind.as_str(), name.as_str()))
        .collect();
    assert_eq!(
        others,
        BTreeSet::from([
            ("Secret", "pipewright-applyset-web"),
            ("Secret", "pipewright.release-key.v1.web"),
            ("Secret", "pipewright.release.v1.web.v1")
        ])
    );

    settle(&kubectl);
    // The set as k8s-apply sent it (each member labelled): kubectl's server-side diff with the
    // same field manager finds nothing to change.
    let as_sent = write(dir.path(), "labelled.yaml", &labelled(&set, &id));
    let (code, shown) = diff(&kubectl, &as_sent);
    assert_eq!(code, 0, "kubectl diff found changes:\n{shown}");
    assert!(shown.is_empty(), "{shown}");

    // kubectl's dry-run apply answers with each object's live resourceVersion: a no-op.
    let dry = kubectl.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "pipewright",
        "--dry-run=server",
        "-n",
        "shop",
        "-f",
        &as_sent,
        "-o",
        "json",
    ]);
    let dry: Value = serde_json::from_str(&dry).unwrap();
    let live = versions(&kubectl.get_json(&[KINDS, "-n", "shop"]));
    let answered = versions(&dry);
    assert_eq!(answered.len(), ours.len());
    assert!(
        answered.is_subset(&live),
        "kubectl's dry run would change {:?}",
        answered.difference(&live).collect::<Vec<_>>()
    );

    // The raw set, without the membership label, differs by exactly that label: kubectl sees the
    // label as owned by the pipewright field manager (so the diff is not blind to labels).
    let (code, shown) = diff(&kubectl, &file);
    assert_eq!(code, 1, "{shown}");
    let lines = changed_lines(&shown);
    assert_eq!(lines.len(), 2 * ours.len(), "{shown}");
    assert!(
        lines
            .iter()
            .all(|l| l.trim() == "-  labels:" || l.contains(&format!("{PART_OF}: {id}"))),
        "{shown}"
    );
}

#[test]
fn without_a_release_kubectl_and_k8s_apply_agree_in_both_directions() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let kubectl = kubectl(&sim);
    let dir = tempfile::tempdir().unwrap();
    let set = app_set();
    let file = write(dir.path(), "app.yaml", &set);

    // kubectl applies first, as the pipewright field manager; k8s-apply then has nothing to do.
    kubectl.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "pipewright",
        "-f",
        &file,
    ]);
    let run = k8s_apply(sim.kubeconfig_path(), &["-f", &file]);
    run.assert_code(0);
    assert!(
        run.actions().iter().all(|(_, a)| a == "unchanged"),
        "{:?}",
        run.actions()
    );
    let ours = reported(&run.doc);
    assert_eq!(ours.len(), 11);
    let listed = kubectl.get_json(&[KINDS, "-n", "shop"]);
    assert!(identities(&listed).is_superset(&ours));
    // No release, no membership label.
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["metadata"]["labels"][PART_OF].is_null()),
        "{listed}"
    );

    // k8s-apply changes the set; kubectl's diff of the same changed set is then clean.
    settle(&kubectl);
    let changed = set
        .replace("LOG_LEVEL: info", "LOG_LEVEL: debug")
        .replace("replicas: 2", "replicas: 3");
    let changed_file = write(dir.path(), "changed.yaml", &changed);
    let run = k8s_apply(sim.kubeconfig_path(), &["-f", &changed_file]);
    run.assert_code(0);
    let configured: BTreeSet<String> = run
        .actions()
        .into_iter()
        .filter(|(_, a)| a != "unchanged")
        .map(|(o, a)| format!("{o} {a}"))
        .collect();
    assert_eq!(
        configured,
        BTreeSet::from([
            "ConfigMap/api-config configured".to_owned(),
            "Deployment/api configured".to_owned()
        ])
    );
    settle(&kubectl);
    let (code, shown) = diff(&kubectl, &changed_file);
    assert_eq!(code, 0, "{shown}");
    // …and kubectl's diff of the old set shows the two changes k8s-apply made.
    let (code, shown) = diff(&kubectl, &file);
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("LOG_LEVEL: debug") && shown.contains("replicas: 3"),
        "{shown}"
    );
    let live = kubectl.get_json(&["deployment", "api", "-n", "shop"]);
    assert_eq!(
        live["metadata"]["uid"],
        run.object("Deployment", "api")["uid"]
    );
    assert_eq!(live["spec"]["replicas"], 3);
}
