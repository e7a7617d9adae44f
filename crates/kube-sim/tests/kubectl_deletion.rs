//! Deletion through the real kubectl (1.32 on PATH, or `$KUBECTL`): `delete -f` of a file whose
//! first document is its Namespace, `delete namespace` leaving it Terminating until its contents
//! are gone, creation refused meanwhile, and `wait --for=delete`.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Kubectl;

const SHOP: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: prod
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
";

const HELD: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  namespace: shop
  finalizers: [example.com/hold]
data:
  mode: prod
";

const RELEASE: [&str; 5] = [
    "patch",
    "configmap",
    "held",
    "--type=merge",
    "-p={\"metadata\":{\"finalizers\":null}}",
];

/// Polls kubectl until `done` holds for its output, failing after `secs` seconds.
fn until(k: &Kubectl, args: &[&str], secs: u64, done: impl Fn(&std::process::Output) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if done(&k.run(args)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {secs}s waiting on kubectl {args:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn not_found(output: &std::process::Output) -> bool {
    !output.status.success() && String::from_utf8_lossy(&output.stderr).contains("NotFound")
}

/// kubectl started in the background, with the same environment as `Kubectl::run`.
fn spawn(k: &Kubectl, args: &[&str]) -> Child {
    Command::new(&k.program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", k.dir.path())
        .env("KUBECONFIG", k.sim.kubeconfig_path())
        .env("KUBECACHEDIR", k.dir.path().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn delete_f_of_a_file_with_its_namespace_first_deletes_everything() {
    let Some(k) = Kubectl::start("delete_f_of_a_file_with_its_namespace_first_deletes_everything")
    else {
        return;
    };
    let file = k.file("shop.yaml", SHOP);
    k.ok(&["apply", "-f", &file]);
    k.ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=60s",
    ]);

    // kubectl deletes in file order: the Namespace first, then what is in it, which a real
    // cluster still has (the namespace controller empties it afterwards).
    let out = k.ok(&["delete", "-f", &file, "--timeout=60s"]);
    for line in [
        "namespace \"shop\" deleted",
        "configmap \"settings\" deleted",
        "deployment.apps \"web\" deleted",
        "service \"web\" deleted",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    until(&k, &["get", "namespace", "shop"], 60, not_found);
    until(&k, &["get", "pods", "-n", "shop", "-o", "name"], 60, |o| {
        o.status.success() && o.stdout.is_empty()
    });
}

#[test]
fn a_deleted_namespace_is_terminating_until_its_contents_are_gone() {
    let Some(k) = Kubectl::start("a_deleted_namespace_is_terminating_until_its_contents_are_gone")
    else {
        return;
    };
    let held = k.file(
        "held.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n{HELD}"),
    );
    k.ok(&["apply", "-f", &held]);

    let out = k.ok(&["delete", "namespace", "shop", "--wait=false"]);
    assert!(out.contains("namespace \"shop\" deleted"), "{out}");
    let phase = k.ok(&["get", "namespace", "shop", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Terminating");

    // Nothing new goes in (the NamespaceLifecycle admission's words).
    let late = k.file(
        "late.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: shop\n",
    );
    let err = k.fails(&["create", "-f", &late]);
    assert!(
        err.contains("Error from server (Forbidden)")
            && err.contains("configmaps \"late\" is forbidden: unable to create new content in namespace shop because it is being terminated"),
        "{err}"
    );

    // The controller reports the finalizer holding it; the namespace stays Terminating.
    until(
        &k,
        &[
            "get",
            "namespace",
            "shop",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"NamespaceFinalizersRemaining\")].status}",
        ],
        60,
        |o| o.stdout == b"True",
    );
    let phase = k.ok(&["get", "namespace", "shop", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Terminating");

    let mut release = RELEASE.to_vec();
    release.extend(["-n", "shop"]);
    k.ok(&release);
    k.ok(&["wait", "--for=delete", "namespace/shop", "--timeout=60s"]);
    assert!(not_found(&k.run(&["get", "namespace", "shop"])));
}

#[test]
fn wait_for_delete_returns_once_the_object_is_gone() {
    let Some(k) = Kubectl::start("wait_for_delete_returns_once_the_object_is_gone") else {
        return;
    };
    let held = k.file(
        "held.yaml",
        &HELD.replace("  namespace: shop\n", "  namespace: default\n"),
    );
    k.ok(&["apply", "-f", &held]);
    k.ok(&["delete", "configmap", "held", "--wait=false"]);

    // Held by its finalizer: waiting times out.
    let err = k.fails(&["wait", "--for=delete", "configmap/held", "--timeout=2s"]);
    assert!(err.contains("timed out waiting"), "{err}");

    let waiter = spawn(
        &k,
        &["wait", "--for=delete", "configmap/held", "--timeout=120s"],
    );
    k.ok(&RELEASE);
    let out = waiter.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // kubectl prints "condition met" when it saw the deletion happen, nothing when the object
    // was already gone at its first look (the release may beat its start on a busy machine).
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.is_empty() || said.contains("configmap/held condition met"),
        "{said}"
    );
    assert!(not_found(&k.run(&["get", "configmap", "held"])));
}
