//! Properties of release applies over generated manifest sets (ConfigMaps, Secrets, Services and
//! Deployments with random names, data, ports, images and replicas, in the release's namespace
//! and a second one), each case against its own kube-sim through the binary:
//!
//! - applying a set twice changes nothing the second time: every object `unchanged`, the same
//!   uids and generations, no new revision;
//! - pruning never reaches outside the release: after set A then set B, exactly the objects of A
//!   that B dropped are gone, and every bystander (another release's members, unlabelled
//!   objects, even objects wearing this release's label that no revision recorded) is still there
//!   with the same uid.
//!
//! Cases are few (each starts a simulator and runs the binary a few times) and failures are not
//! persisted to a regressions file; a failure prints the generated sets.

// Test helpers may unwrap: a panic with the value is the clearest failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine as _;
use common::{Run, k8s_apply, write};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, ListParams, ObjectMeta};
use kube_sim::{Config, KubeSim};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The namespace of a release and its objects.
const NAMESPACE: &str = "shop";
/// Where generated objects go: `shop`, or with [`Layout::TwoNamespaces`] also `shop-2`.
const NAMESPACES: [&str; 2] = [NAMESPACE, "shop-2"];

/// Where a case's releases and objects live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Everything in `shop`, the release too (`-n shop`).
    OneNamespace,
    /// Objects in `shop` and `shop-2`; the releases run without `-n` (which refuses objects of
    /// another namespace, as kubectl does), so they live in the context's namespace, `default`,
    /// and reach both through their `ApplySet` parent's additional namespaces.
    TwoNamespaces,
}

impl Layout {
    fn release_namespace(self) -> &'static str {
        match self {
            Self::OneNamespace => NAMESPACE,
            Self::TwoNamespaces => "default",
        }
    }

    fn namespace_args(self) -> &'static [&'static str] {
        match self {
            Self::OneNamespace => &["-n", NAMESPACE],
            Self::TwoNamespaces => &[],
        }
    }

    /// The generated set as this layout has it: with one namespace, every object moves to
    /// `shop` (and of two that now clash, the first stays).
    fn place(self, objects: &[Object]) -> Vec<Object> {
        match self {
            Self::TwoNamespaces => objects.to_vec(),
            Self::OneNamespace => {
                let mut seen = BTreeSet::new();
                objects
                    .iter()
                    .filter(|o| seen.insert((o.kind, o.slot)))
                    .map(|o| Object {
                        namespace: NAMESPACE,
                        ..o.clone()
                    })
                    .collect()
            }
        }
    }

    /// The Secrets a release keeps beside its objects (`ApplySet` parent, revision records, key),
    /// when it lives in one of the objects' namespaces.
    fn own_secrets(self, releases: usize) -> usize {
        match self {
            // Its `ApplySet` parent, its revision record and its record key.
            Self::OneNamespace => 3 * releases,
            Self::TwoNamespaces => 0,
        }
    }
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::OneNamespace), Just(Layout::TwoNamespaces)]
}

/// `(Kind, namespace, name)`.
type Key = (String, String, String);

const KINDS: [&str; 4] = ["ConfigMap", "Secret", "Service", "Deployment"];

/// One generated object. Its name comes from a small pool per kind (`<stem>-<kind>-<slot>`), so
/// that two sets of one case share some objects and differ in others.
#[derive(Debug, Clone)]
struct Object {
    kind: &'static str,
    namespace: &'static str,
    slot: u8,
    data: BTreeMap<String, String>,
    /// Secrets: `stringData` (true) or base64 `data`.
    string_data: bool,
    port: u16,
    target_port: u16,
    replicas: u8,
    tag: String,
}

impl Object {
    fn name(&self, stem: &str) -> String {
        format!("{stem}-{}-{}", self.kind.to_lowercase(), self.slot)
    }

    fn manifest(&self, stem: &str, labels: &BTreeMap<String, String>) -> Value {
        let name = self.name(stem);
        let metadata = json!({"name": name, "namespace": self.namespace, "labels": labels});
        match self.kind {
            "ConfigMap" => json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": self.data
            }),
            "Secret" if self.string_data => json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                "type": "Opaque", "stringData": self.data
            }),
            "Secret" => {
                let encoded: BTreeMap<&String, String> = self
                    .data
                    .iter()
                    .map(|(k, v)| {
                        (
                            k,
                            base64::engine::general_purpose::STANDARD.encode(v.as_bytes()),
                        )
                    })
                    .collect();
                json!({
                    "apiVersion": "v1", "kind": "Secret", "metadata": metadata,
                    "type": "Opaque", "data": encoded
                })
            }
            "Service" => json!({
                "apiVersion": "v1", "kind": "Service", "metadata": metadata,
                "spec": {
                    "selector": {"app": name},
                    "ports": [{"name": "http", "port": self.port, "targetPort": self.target_port}]
                }
            }),
            _ => json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                "spec": {
                    "replicas": self.replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{
                            "name": "app",
                            "image": format!("registry.example/{stem}:{}", self.tag)
                        }]}
                    }
                }
            }),
        }
    }
}

fn object() -> impl Strategy<Value = Object> {
    (
        (0..KINDS.len(), 0..NAMESPACES.len()),
        0u8..4,
        prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9._-]{0,7}", "[ -~]{0,12}", 0..4),
        any::<bool>(),
        1u16..=65535,
        1u16..=65535,
        0u8..4,
        "[0-9]\\.[0-9]{1,2}",
    )
        .prop_map(
            |((kind, namespace), slot, data, string_data, port, target_port, replicas, tag)| {
                Object {
                    kind: KINDS[kind],
                    namespace: NAMESPACES[namespace],
                    slot,
                    data,
                    string_data,
                    port,
                    target_port,
                    replicas,
                    tag,
                }
            },
        )
}

/// A set: at most one object per (kind, namespace, slot).
fn set() -> impl Strategy<Value = Vec<Object>> {
    prop::collection::vec(object(), 1..10).prop_map(|objects| {
        let mut seen = BTreeSet::new();
        objects
            .into_iter()
            .filter(|o| seen.insert((o.kind, o.namespace, o.slot)))
            .collect()
    })
}

fn render(objects: &[Object], stem: &str, labels: &BTreeMap<String, String>) -> String {
    let mut text = String::new();
    for object in objects {
        text.push_str("---\n");
        text.push_str(&serde_yaml_ng::to_string(&object.manifest(stem, labels)).unwrap());
    }
    text
}

fn keys(objects: &[Object], stem: &str) -> BTreeSet<Key> {
    objects
        .iter()
        .map(|o| (o.kind.to_owned(), o.namespace.to_owned(), o.name(stem)))
        .collect()
}

/// 12 cases by default (each a simulator and a few runs of the binary); `PROPTEST_CASES` asks for
/// more when hunting.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(12);
    ProptestConfig {
        cases,
        max_shrink_iters: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A simulator with the namespace already there (created without a release, so it belongs to
/// none), and a runtime for the kube client.
struct Cluster {
    layout: Layout,
    sim: KubeSim,
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start(layout: Layout) -> Self {
        let sim = KubeSim::start(Config::default()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = runtime.block_on(sim.client()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cluster = Self {
            layout,
            sim,
            runtime,
            client,
            dir,
        };
        let namespaces = NAMESPACES
            .map(|ns| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))
            .join("---\n");
        cluster
            .apply("namespaces.yaml", &namespaces, &[])
            .assert_code(0);
        cluster
    }

    fn kubeconfig(&self) -> &Path {
        self.sim.kubeconfig_path()
    }

    fn apply(&self, file: &str, text: &str, args: &[&str]) -> Run {
        let file = write(self.dir.path(), file, text);
        let mut all = vec!["-f", file.as_str()];
        all.extend_from_slice(args);
        k8s_apply(self.kubeconfig(), &all)
    }

    fn apply_release(&self, release: &str, file: &str, text: &str) -> Run {
        self.apply(
            file,
            text,
            &[
                &["--release", release, "--lock-holder", "properties"],
                self.layout.namespace_args(),
            ]
            .concat(),
        )
    }

    /// Every ConfigMap, Secret, Service and Deployment in the two namespaces, by key.
    fn live(&self) -> BTreeMap<Key, ObjectMeta> {
        fn metas<K>(list: kube::Result<kube::api::ObjectList<K>>) -> Vec<ObjectMeta>
        where
            K: kube::Resource + Clone,
        {
            list.unwrap()
                .items
                .into_iter()
                .map(|o| o.meta().clone())
                .collect()
        }
        self.runtime.block_on(async {
            let lp = ListParams::default();
            let c = &self.client;
            let listed = [
                (
                    "ConfigMap",
                    metas(Api::<ConfigMap>::all(c.clone()).list(&lp).await),
                ),
                (
                    "Secret",
                    metas(Api::<Secret>::all(c.clone()).list(&lp).await),
                ),
                (
                    "Service",
                    metas(Api::<Service>::all(c.clone()).list(&lp).await),
                ),
                (
                    "Deployment",
                    metas(Api::<Deployment>::all(c.clone()).list(&lp).await),
                ),
            ];
            let mut live = BTreeMap::new();
            for (kind, metas) in listed {
                for meta in metas {
                    let namespace = meta.namespace.clone().unwrap_or_default();
                    if NAMESPACES.contains(&namespace.as_str()) {
                        let key = (kind.to_owned(), namespace, meta.name.clone().unwrap());
                        live.insert(key, meta);
                    }
                }
            }
            live
        })
    }

    /// What the objects of `keys` hold (data, ports, replicas, images: what a person would
    /// compare), without what the server keeps; absent objects are absent.
    fn contents(&self, keys: &BTreeSet<Key>) -> BTreeMap<Key, Value> {
        self.runtime.block_on(async {
            let mut contents = BTreeMap::new();
            for key @ (kind, namespace, name) in keys {
                let c = self.client.clone();
                let (object, fields): (Option<Value>, &[&str]) = match kind.as_str() {
                    "ConfigMap" => (get::<ConfigMap>(c, namespace, name).await, &["/data"]),
                    "Secret" => (get::<Secret>(c, namespace, name).await, &["/data", "/type"]),
                    "Service" => (
                        get::<Service>(c, namespace, name).await,
                        &["/spec/ports", "/spec/selector"],
                    ),
                    _ => (
                        get::<Deployment>(c, namespace, name).await,
                        &["/spec/replicas", "/spec/selector", "/spec/template"],
                    ),
                };
                if let Some(object) = object {
                    let picked: BTreeMap<&str, Value> = fields
                        .iter()
                        .map(|f| (*f, object.pointer(f).cloned().unwrap_or_default()))
                        .collect();
                    contents.insert(key.clone(), json!(picked));
                }
            }
            contents
        })
    }

    /// `(revision, status)` of the release, from `k8s-apply history`.
    fn history(&self, release: &str) -> Vec<(u64, String)> {
        let args = [
            &["history", "--release", release],
            self.layout.namespace_args(),
        ]
        .concat();
        let run = k8s_apply(self.kubeconfig(), &args);
        run.assert_code(0);
        run.doc["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["revision"].as_u64().unwrap(),
                    r["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

async fn get<K>(client: kube::Client, namespace: &str, name: &str) -> Option<Value>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Api::<K>::namespaced(client, namespace)
        .get_opt(name)
        .await
        .unwrap()
        .map(|object| serde_json::to_value(object).unwrap())
}

/// Key → object of a document, for objects with `action`.
fn with_action<'a>(run: &'a Run, action: &str) -> BTreeMap<Key, &'a Value> {
    run.objects()
        .iter()
        .filter(|o| o["action"] == action)
        .map(|o| {
            (
                (
                    o["kind"].as_str().unwrap().to_owned(),
                    o["namespace"].as_str().unwrap().to_owned(),
                    o["name"].as_str().unwrap().to_owned(),
                ),
                o,
            )
        })
        .collect()
}

fn no_labels() -> BTreeMap<String, String> {
    BTreeMap::new()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn applying_a_release_twice_changes_nothing_the_second_time(
        layout in layout(),
        stem in "w-[a-z0-9]{1,8}",
        objects in set(),
    ) {
        let objects = layout.place(&objects);
        let cluster = Cluster::start(layout);
        let text = render(&objects, &stem, &no_labels());
        let first = cluster.apply_release("web", "set.yaml", &text);
        first.assert_code(0);
        prop_assert_eq!(first.objects().len(), objects.len());
        prop_assert_eq!(with_action(&first, "created").len(), objects.len(), "{}", text);
        let before = cluster.live();

        let second = cluster.apply_release("web", "set.yaml", &text);
        second.assert_code(0);
        prop_assert_eq!(with_action(&second, "unchanged").len(), objects.len(), "{}", second.doc);
        prop_assert_eq!(&second.doc["revision"], &first.doc["revision"]);
        prop_assert_eq!(cluster.history("web"), vec![(1, "applied".to_owned())]);
        for (old, new) in first.objects().iter().zip(second.objects()) {
            prop_assert_eq!(&old["name"], &new["name"]);
            prop_assert_eq!(&old["uid"], &new["uid"]);
            prop_assert_eq!(&old["generation"], &new["generation"], "{}", new);
        }
        // The cluster agrees: same objects, same uids and generations.
        let after = cluster.live();
        prop_assert_eq!(after.len(), before.len());
        for (key, meta) in &after {
            let was = &before[key];
            prop_assert_eq!(&meta.uid, &was.uid, "{:?}", key);
            prop_assert_eq!(meta.generation, was.generation, "{:?}", key);
        }
    }

    #[test]
    fn pruning_removes_exactly_what_the_release_dropped_and_no_bystander(
        // Never one of the bystanders' stems ("other", "plain", "forged").
        layout in layout(),
        stem in "w-[a-z0-9]{1,8}",
        a in set(),
        b in set(),
        other_release in set(),
        unlabelled in set(),
        forged in set(),
    ) {
        let [a, b, other_release, unlabelled, forged] =
            [a, b, other_release, unlabelled, forged].map(|set| layout.place(&set));
        let cluster = Cluster::start(layout);
        let web_id = k8s_apply::applyset::id(
            &k8s_apply::applyset::parent_name("web"),
            layout.release_namespace(),
        );
        // Bystanders, in the release's namespaces and of the same kinds: members of another
        // release; objects of no release; and objects wearing web's own membership label that
        // no revision of web ever recorded (pruning goes by the previous revision, not the label).
        cluster
            .apply_release("other", "other.yaml", &render(&other_release, "other", &no_labels()))
            .assert_code(0);
        cluster
            .apply("plain.yaml", &render(&unlabelled, "plain", &no_labels()), &[])
            .assert_code(0);
        let forged_label = BTreeMap::from([("applyset.kubernetes.io/part-of".to_owned(), web_id)]);
        cluster.apply("forged.yaml", &render(&forged, "forged", &forged_label), &[]).assert_code(0);
        let bystanders = cluster.live();
        prop_assert_eq!(
            bystanders.len(),
            other_release.len() + unlabelled.len() + forged.len() + layout.own_secrets(1)
        );

        let first = cluster.apply_release("web", "a.yaml", &render(&a, &stem, &no_labels()));
        first.assert_code(0);
        let after_a = cluster.live();
        let second = cluster.apply_release("web", "b.yaml", &render(&b, &stem, &no_labels()));
        second.assert_code(0);
        let after_b = cluster.live();

        let (in_a, in_b) = (keys(&a, &stem), keys(&b, &stem));
        let dropped: BTreeSet<_> = in_a.difference(&in_b).cloned().collect();
        let pruned: BTreeSet<_> = with_action(&second, "pruned").into_keys().collect();
        prop_assert_eq!(&pruned, &dropped, "{}", second.doc);
        for key in &dropped {
            prop_assert!(!after_b.contains_key(key), "{:?} was not pruned", key);
        }
        for key in &in_b {
            let live = after_b.get(key);
            prop_assert!(live.is_some(), "{:?} of B is missing", key);
            if in_a.contains(key) {
                prop_assert_eq!(&live.unwrap().uid, &after_a[key].uid, "{:?} was replaced", key);
            }
        }
        for (key, meta) in &bystanders {
            let now = after_b.get(key);
            prop_assert!(now.is_some(), "bystander {:?} is gone", key);
            prop_assert_eq!(&now.unwrap().uid, &meta.uid, "bystander {:?} was replaced", key);
            prop_assert_eq!(&now.unwrap().labels, &meta.labels, "bystander {:?} relabelled", key);
        }
        // Nothing else is there: web's parent, records and record key aside, the live objects are exactly
        // the bystanders and B.
        let expected: BTreeSet<_> =
            bystanders.keys().cloned().chain(in_b.iter().cloned()).collect();
        let web_own = |(kind, namespace, name): &Key| {
            kind == "Secret"
                && namespace == layout.release_namespace()
                && (name == "pipewright-applyset-web"
                    || name == "pipewright.release-key.v1.web"
                    || name.starts_with("pipewright.release.v1.web."))
        };
        let unexpected: Vec<_> = after_b
            .keys()
            .filter(|k| !expected.contains(*k) && !web_own(k))
            .collect();
        prop_assert!(unexpected.is_empty(), "{:?}", unexpected);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_then_b_then_rollback_leaves_exactly_a(
        layout in layout(),
        stem in "w-[a-z0-9]{1,8}",
        a in set(),
        b in set(),
    ) {
        let [a, b] = [a, b].map(|set| layout.place(&set));
        let cluster = Cluster::start(layout);
        let (in_a, in_b) = (keys(&a, &stem), keys(&b, &stem));
        let all: BTreeSet<Key> = in_a.union(&in_b).cloned().collect();

        cluster.apply_release("web", "a.yaml", &render(&a, &stem, &no_labels())).assert_code(0);
        let after_a = cluster.contents(&all);
        prop_assert_eq!(after_a.len(), in_a.len());
        cluster.apply_release("web", "b.yaml", &render(&b, &stem, &no_labels())).assert_code(0);

        let args = [
            &["rollback", "--release", "web", "--to", "1", "--lock-holder", "properties"],
            layout.namespace_args(),
        ]
        .concat();
        let back = k8s_apply(cluster.kubeconfig(), &args);
        back.assert_code(0);
        // What B added is gone, what B dropped is back, and every object of A holds what A
        // said: ConfigMap and Secret values included.
        let after_rollback = cluster.contents(&all);
        prop_assert_eq!(&after_rollback, &after_a, "{}", back.doc);
        let pruned: BTreeSet<Key> = with_action(&back, "pruned").into_keys().collect();
        let added_by_b: BTreeSet<Key> = in_b.difference(&in_a).cloned().collect();
        prop_assert_eq!(pruned, added_by_b);
    }
}

/// The release's own Namespace, once in a revision and then dropped from the set (namespace
/// creation moved to a platform repository, say), is not pruned: deleting a Namespace would
/// delete everything in it, the new set, objects of no release, the release's records, its
/// `ApplySet` parent and its deploy Lease.
#[test]
fn dropping_the_release_namespace_from_the_set_deletes_nothing_but_what_the_release_dropped() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(sim.client()).unwrap();
    let release = ["--release", "web", "-n", NAMESPACE, "--lock-holder", "t"];
    let keep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  namespace: {NAMESPACE}\n\
         data:\n  a: \"1\"\n"
    );
    let with_namespace =
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n---\n{keep}");
    let a = write(dir.path(), "a.yaml", &with_namespace);
    let mut args = vec!["-f", a.as_str()];
    args.extend(release);
    k8s_apply(sim.kubeconfig_path(), &args).assert_code(0);
    // Someone else's object in the namespace.
    let bystander = write(
        dir.path(),
        "bystander.yaml",
        &keep.replace("name: keep", "name: bystander"),
    );
    k8s_apply(sim.kubeconfig_path(), &["-f", &bystander]).assert_code(0);

    let b = write(dir.path(), "b.yaml", &keep);
    let mut args = vec!["-f", b.as_str()];
    args.extend(release);
    let run = k8s_apply(sim.kubeconfig_path(), &args);

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    let (keep_left, bystander_left) = runtime.block_on(async {
        (
            maps.get_opt("keep").await.unwrap().is_some(),
            maps.get_opt("bystander").await.unwrap().is_some(),
        )
    });
    assert!(keep_left, "B's own ConfigMap is gone: {}", run.doc);
    assert!(bystander_left, "a bystander is gone: {}", run.doc);
    run.assert_code(0);
    assert!(
        run.stderr.contains("namespaces are not pruned"),
        "{}",
        run.stderr
    );
    let history = k8s_apply(
        sim.kubeconfig_path(),
        &["history", "--release", "web", "-n", NAMESPACE],
    );
    assert_eq!(history.doc["revisions"].as_array().map(Vec::len), Some(2));
}

/// The same for a CustomResourceDefinition: deleting it would delete every custom resource of
/// its kind, in every namespace, members of other releases and of none included; so it is not
/// pruned (the release's own custom resources are).
#[test]
fn dropping_a_crd_from_the_set_deletes_no_custom_resource_outside_the_release() {
    let sim = KubeSim::start(Config::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let release = ["--release", "web", "-n", NAMESPACE, "--lock-holder", "t"];
    let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n");
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  \
               name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  \
               names: {plural: widgets, singular: widget, kind: Widget}\n  versions:\n    \
               - name: v1\n      served: true\n      storage: true\n      schema:\n        \
               openAPIV3Schema:\n          type: object\n          \
               x-kubernetes-preserve-unknown-fields: true\n";
    let widget = |name: &str, namespace: &str| {
        format!(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\n  \
             namespace: {namespace}\nspec: {{size: 1}}\n"
        )
    };
    let a = write(
        dir.path(),
        "a.yaml",
        &format!("{namespace}---\n{crd}---\n{}", widget("ours", NAMESPACE)),
    );
    let mut args = vec!["-f", a.as_str()];
    args.extend(release);
    k8s_apply(sim.kubeconfig_path(), &args).assert_code(0);
    // Another team's Widget, in another namespace, applied without a release.
    let theirs = write(dir.path(), "theirs.yaml", &widget("theirs", "default"));
    k8s_apply(sim.kubeconfig_path(), &["-f", &theirs]).assert_code(0);

    let b = write(dir.path(), "b.yaml", &namespace);
    let mut args = vec!["-f", b.as_str()];
    args.extend(release);
    let run = k8s_apply(sim.kubeconfig_path(), &args);
    run.assert_code(0);
    // Their Widget must still be there; read it as kubectl would, through the binary's dry run
    // (the kind is gone from discovery if the CRD was deleted: exit 2, "Widget" unknown).
    let still = k8s_apply(sim.kubeconfig_path(), &["-f", &theirs, "--dry-run=server"]);
    still.assert_code(0);
    assert_eq!(
        still.object("Widget", "theirs")["action"],
        "unchanged",
        "another team's Widget was deleted with the CRD: {}",
        run.doc
    );
}
