//! `kubectl get` as people read it: the columns and cells come from kube-sim's Table responses
//! (READY/STATUS/RESTARTS for pods, READY/UP-TO-DATE/AVAILABLE for Deployments, `-o wide`,
//! a CRD's printer columns, the default NAME/CREATED AT table), chunked lists, and Table rows
//! in `kubectl get -w`. Expected cells follow the real API server's printers. Simulated time
//! is frozen and moved by the tests, so ages are exact. Run with `KUBECTL=…` for another
//! kubectl version.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Kubectl;
use kube_sim::store::ObjectKey;
use kube_sim::{Config, Scenario};
use serde_json::Value;

/// Simulated time runs a thousand times slower than real time: it moves when a test says so.
const FROZEN: f64 = 0.001;

fn frozen(test: &str) -> Option<Kubectl> {
    Kubectl::start_with(
        test,
        Config {
            scenario: Scenario {
                pace: Some(FROZEN),
                ..Scenario::default()
            },
            ..Config::default()
        },
    )
}

/// The rows of `kubectl get` output, header first, cells split on the column gaps (kubectl
/// pads columns with at least three spaces; cells hold at most single spaces).
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn row<'a>(table: &'a [Vec<String>], name: &str) -> &'a [String] {
    table
        .iter()
        .find(|r| r.first().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no row {name} in {table:?}"))
}

fn key(group: &str, plural: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        group: group.to_owned(),
        plural: plural.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// Waits up to 20 s (real time) until the stored object satisfies `test`.
fn until(k: &Kubectl, what: &str, at: &ObjectKey, test: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = k.sim.sim().store().get(at).cloned();
        if let Some(object) = found.filter(|o| test(o)) {
            return object;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Moves simulated time on in quarter-second steps until the stored object satisfies `test`: the
/// controllers may not have created (or started) the pods yet when a test first moves the clock,
/// and a pod's timeline starts when they do. Each step leaves the controllers (which run every
/// 20 ms) a few passes to catch up, so the clock never runs far past the awaited state.
fn advance_until(k: &Kubectl, what: &str, at: &ObjectKey, test: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = k.sim.sim().store().get(at).cloned();
        if let Some(object) = found.filter(|o| test(o)) {
            return object;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        k.sim.clock().advance(Duration::from_millis(250));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn time_at(object: &Value, pointer: &str) -> jiff::Timestamp {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(kube_sim::clock::parse_time)
        .unwrap_or_else(|| panic!("no time at {pointer} in {object}"))
}

/// Moves simulated time to `at + by` (if it is not there yet).
fn advance_past(k: &Kubectl, at: jiff::Timestamp, by: Duration) {
    let target = at.as_millisecond() + i64::try_from(by.as_millis()).unwrap();
    let now = k.sim.clock().now().as_millisecond();
    if target > now {
        k.sim
            .clock()
            .advance(Duration::from_millis(u64::try_from(target - now).unwrap()));
    }
}

fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: app, image: 'nginx:1.25'}}
"
    )
}

const CRASHING_POD: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers:
  - {name: app, image: 'registry.example/api:crashloop'}
";

#[test]
fn pods_and_deployments_show_ready_status_and_restarts() {
    let Some(k) = frozen("pods_and_deployments_show_ready_status_and_restarts") else {
        return;
    };
    let file = k.file("web.yaml", &deployment("web", 2));
    k.ok(&["apply", "--server-side", "-f", &file]);
    let crash = k.file("crash.yaml", CRASHING_POD);
    k.ok(&["apply", "--server-side", "-f", &crash]);

    // Pods are ready one simulated second after they start.
    advance_until(
        &k,
        "web available",
        &key("apps", "deployments", "default", "web"),
        |d| d.pointer("/status/availableReplicas") == Some(&serde_json::json!(2)),
    );
    let deployments = rows(&k.ok(&["get", "deployments"]));
    assert_eq!(
        deployments[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(&row(&deployments, "web")[1..4], ["2/2", "2", "2"]);

    let pods = rows(&k.ok(&["get", "pods"]));
    assert_eq!(pods[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let web: Vec<&Vec<String>> = pods.iter().filter(|r| r[0].starts_with("web-")).collect();
    assert_eq!(web.len(), 2, "{pods:?}");
    for pod in web {
        assert_eq!(&pod[1..4], ["1/1", "Running", "0"]);
    }

    // The crashing pod: first run, crash, back-off, second run, second crash.
    let crash_key = key("", "pods", "default", "crash");
    let waiting = |p: &Value, reason: &str| {
        p.pointer("/status/containerStatuses/0/state/waiting/reason")
            .and_then(Value::as_str)
            == Some(reason)
    };
    // Its first run lasts one simulated second from its start, and the back-off after it ten.
    let started = advance_until(&k, "the crashing pod to start", &crash_key, |p| {
        p.pointer("/status/containerStatuses/0/state/running/startedAt")
            .or_else(|| p.pointer("/status/containerStatuses/0/lastState/terminated/startedAt"))
            .is_some()
    });
    let started_at = ["state/running", "lastState/terminated"]
        .iter()
        .find_map(|state| {
            let pointer = format!("/status/containerStatuses/0/{state}/startedAt");
            started
                .pointer(&pointer)
                .map(|_| time_at(&started, &pointer))
        })
        .unwrap();
    advance_past(&k, started_at, Duration::from_millis(2_500));
    let first = until(&k, "the first crash", &crash_key, |p| {
        waiting(p, "CrashLoopBackOff")
    });
    let pods = rows(&k.ok(&["get", "pods", "crash"]));
    assert_eq!(&row(&pods, "crash")[1..4], ["0/1", "CrashLoopBackOff", "0"]);
    // The kubelet restarts it ten seconds after it finished, and the run lasts a second:
    // 12.5 s after the (whole-second) finish time it has crashed a second time, and the next
    // back-off (20 s) is far off.
    let finished_first = time_at(
        &first,
        "/status/containerStatuses/0/lastState/terminated/finishedAt",
    );
    advance_past(&k, finished_first, Duration::from_millis(12_500));
    let crashed = until(&k, "the second crash", &crash_key, |p| {
        waiting(p, "CrashLoopBackOff")
            && p.pointer("/status/containerStatuses/0/restartCount") == Some(&serde_json::json!(1))
    });

    // RESTARTS: the count, and how long ago the last run finished, by the sim's clock.
    let finished = time_at(
        &crashed,
        "/status/containerStatuses/0/lastState/terminated/finishedAt",
    );
    let ago = |now: jiff::Timestamp| now.as_second() - finished.as_second();
    let before = ago(k.sim.clock().now());
    let pods = rows(&k.ok(&["get", "pods", "crash"]));
    let after = ago(k.sim.clock().now());
    let restarts = &row(&pods, "crash")[3];
    let expected: Vec<String> = (before - 1..=after)
        .map(|s| format!("1 ({}s ago)", s.max(0)))
        .collect();
    assert!(
        expected.contains(restarts),
        "{restarts} not in {expected:?}"
    );
    assert_eq!(&row(&pods, "crash")[1..3], ["0/1", "CrashLoopBackOff"]);
}

#[test]
fn wide_output_adds_the_priority_columns() {
    let Some(k) = frozen("wide_output_adds_the_priority_columns") else {
        return;
    };
    let file = k.file("web.yaml", &deployment("web", 1));
    k.ok(&["apply", "--server-side", "-f", &file]);
    advance_until(
        &k,
        "web available",
        &key("apps", "deployments", "default", "web"),
        |d| d.pointer("/status/availableReplicas") == Some(&serde_json::json!(1)),
    );

    let deployments = rows(&k.ok(&["get", "deployments", "-o", "wide"]));
    assert_eq!(
        deployments[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(
        &row(&deployments, "web")[5..8],
        ["app", "nginx:1.25", "app=web"]
    );

    let listed: Value = serde_json::from_str(&k.ok(&["get", "pods", "-o", "json"])).unwrap();
    let pod = &listed["items"][0];
    let name = pod["metadata"]["name"].as_str().unwrap();
    let pods = rows(&k.ok(&["get", "pods", "-o", "wide"]));
    assert_eq!(
        pods[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    assert_eq!(
        &row(&pods, name)[5..9],
        [
            pod["status"]["podIP"].as_str().unwrap(),
            pod["spec"]["nodeName"].as_str().unwrap(),
            "<none>",
            "<none>"
        ]
    );

    // Nodes: STATUS from the Ready condition, the kubelet version; -o wide their addresses.
    let nodes = rows(&k.ok(&["get", "nodes"]));
    assert_eq!(nodes[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert_eq!(&row(&nodes, "node-1")[1..3], ["Ready", "<none>"]);
}

#[test]
fn ages_namespaces_and_the_default_table() {
    let Some(k) = frozen("ages_namespaces_and_the_default_table") else {
        return;
    };
    let file = k.file(
        "objects.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: prod, level: debug}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: []
",
    );
    k.ok(&["apply", "--server-side", "-f", &file]);
    // Ten minutes and more show no seconds, so the second the object was created in does not
    // matter.
    k.sim.clock().advance(Duration::from_mins(3 * 60 + 5));
    let config_maps = rows(&k.ok(&["get", "configmaps"]));
    assert_eq!(config_maps[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(row(&config_maps, "settings"), ["settings", "2", "3h5m"]);

    let namespaces = rows(&k.ok(&["get", "namespaces"]));
    assert_eq!(namespaces[0], ["NAME", "STATUS", "AGE"]);
    assert_eq!(row(&namespaces, "default"), ["default", "Active", "3h5m"]);

    // Roles have no printer: the server's default table, with the creation time as written.
    let created = k.ok(&[
        "get",
        "role",
        "reader",
        "-o",
        "jsonpath={.metadata.creationTimestamp}",
    ]);
    let roles = rows(&k.ok(&["get", "roles"]));
    assert_eq!(roles[0], ["NAME", "CREATED AT"]);
    assert_eq!(row(&roles, "reader"), ["reader", created.as_str()]);
}

const WIDGET_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type==\"Ready\")].status'}
    - {name: Owner, type: string, jsonPath: .spec.owner, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
";

#[test]
fn custom_resources_print_their_crd_columns() {
    let Some(k) = frozen("custom_resources_print_their_crd_columns") else {
        return;
    };
    let crd = k.file("crd.yaml", WIDGET_CRD);
    k.ok(&["apply", "--server-side", "-f", &crd]);
    let widget = k.file(
        "widget.yaml",
        "apiVersion: example.com/v1
kind: Widget
metadata: {name: gear}
spec: {size: large, replicas: 3, owner: shop}
",
    );
    k.ok(&["apply", "--server-side", "--validate=false", "-f", &widget]);
    k.sim.clock().advance(Duration::from_mins(20));
    let widgets = rows(&k.ok(&["get", "widgets"]));
    assert_eq!(widgets[0], ["NAME", "SIZE", "REPLICAS", "READY", "AGE"]);
    // A path that finds nothing leaves the cell null, which kubectl prints blank.
    assert_eq!(row(&widgets, "gear"), ["gear", "large", "3", "20m"]);
    let wide = rows(&k.ok(&["get", "widgets", "-o", "wide"]));
    assert_eq!(
        wide[0],
        ["NAME", "SIZE", "REPLICAS", "READY", "OWNER", "AGE"]
    );
    // The blank READY cell drops out of the split row: OWNER is the fourth cell.
    assert_eq!(row(&wide, "gear"), ["gear", "large", "3", "shop", "20m"]);

    // The CRD itself prints with the default table.
    let crds = rows(&k.ok(&["get", "crds"]));
    assert_eq!(crds[0], ["NAME", "CREATED AT"]);
    row(&crds, "widgets.example.com");
}

#[test]
fn chunked_lists_fetch_every_page() {
    let Some(k) = frozen("chunked_lists_fetch_every_page") else {
        return;
    };
    let documents: Vec<String> = (0..10)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:02}}}\ndata: {{n: '{i}'}}\n"))
        .collect();
    let file = k.file("many.yaml", &documents.join("---\n"));
    k.ok(&["apply", "--server-side", "-f", &file]);

    let output = k.run(&["get", "configmaps", "--chunk-size=2", "-v=6"]);
    assert!(output.status.success());
    let table = rows(&String::from_utf8(output.stdout).unwrap());
    let names: Vec<&str> = table[1..].iter().map(|r| r[0].as_str()).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(names, expected);
    // One header for the whole list, though it came in five pages.
    assert_eq!(table.iter().filter(|r| r[0] == "NAME").count(), 1);
    let log = String::from_utf8(output.stderr).unwrap();
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("/configmaps?") && l.contains("limit=2"))
        .collect();
    assert_eq!(requests.len(), 5, "{log}");
    assert_eq!(
        requests.iter().filter(|l| l.contains("continue=")).count(),
        4,
        "{log}"
    );
}

#[test]
fn watching_prints_table_rows_as_objects_change() {
    let Some(k) = frozen("watching_prints_table_rows_as_objects_change") else {
        return;
    };
    let first = k.file(
        "first.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\ndata: {a: '1'}\n",
    );
    k.ok(&["apply", "--server-side", "-f", &first]);
    let mut watch = Command::new(&k.program)
        .args(["get", "configmaps", "--watch", "--request-timeout=0"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", k.dir.path())
        .env("KUBECONFIG", k.sim.kubeconfig_path())
        .env("KUBECACHEDIR", k.dir.path().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, received) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let next_line = |seen: &mut Vec<String>| {
        let line = received
            .recv_timeout(Duration::from_secs(20))
            .expect("kubectl prints the next row");
        seen.push(line.clone());
        line
    };
    assert_eq!(rows(&next_line(&mut seen))[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(rows(&next_line(&mut seen))[0][..2], ["first", "1"]);

    let second = k.file("second.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second}\ndata: {a: '1', b: '2', c: '3'}\n");
    k.ok(&["apply", "--server-side", "-f", &second]);
    let added = next_line(&mut seen);
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(rows(&added)[0][..2], ["second", "3"], "{seen:?}");
}
