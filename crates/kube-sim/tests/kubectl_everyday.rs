//! The kubectl commands people type every day, against kube-sim, with the output a real cluster
//! gives: imperative `create` of each everyday kind, `get` with the server's columns (and
//! `-o wide`), `describe`, `delete -f` of a file that starts with its Namespace, a Namespace that
//! shows `Terminating` while its contents go, `wait --for=delete`, `auth can-i` under RBAC, and
//! `get --chunk-size`. scripts/test.sh runs this file with kubectl 1.32 and 1.35.

// Helpers here unwrap like the tests they serve: a panic with the value is the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::Kubectl;
use kube_sim::{Config, Scenario};
use serde_json::{Value, json};

fn paced(test: &str) -> Option<Kubectl> {
    // Five simulated seconds a second: pods are ready 0.2 s after they start.
    Kubectl::start_with(
        test,
        Config {
            scenario: Scenario {
                pace: Some(5.0),
                ..Scenario::default()
            },
            ..Config::default()
        },
    )
}

/// `kubectl get … -o json`, parsed.
fn get_json(k: &Kubectl, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&k.ok(&all)).unwrap()
}

/// A Deployment `web` of two pods in `shop`, rolled out.
fn web_deployment(k: &Kubectl) {
    let file = k.file(
        "web.yaml",
        "apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.example/web:1.27
        ports: [{containerPort: 8080}]
",
    );
    k.ok(&["apply", "-f", &file]);
    k.ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=60s",
    ]);
}

/// The header and the rows of a table kubectl printed, split on runs of two or more spaces
/// (kubectl pads columns with at least two; single spaces occur inside cells).
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn imperative_create_of_every_everyday_kind() {
    let Some(k) = paced("imperative_create_of_every_everyday_kind") else {
        return;
    };
    let ns = ["-n", "shop"];
    let creates: &[(&[&str], &str)] = &[
        (&["create", "namespace", "shop"], "namespace/shop created"),
        (
            &[
                "create",
                "configmap",
                "settings",
                "--from-literal=mode=prod",
            ],
            "configmap/settings created",
        ),
        (
            &[
                "create",
                "secret",
                "generic",
                "db",
                "--from-literal=password=s3cret",
            ],
            "secret/db created",
        ),
        (
            &[
                "create",
                "deployment",
                "web",
                "--image=registry.example/web:1.27",
                "--replicas=2",
                "--port=8080",
            ],
            "deployment.apps/web created",
        ),
        (
            &[
                "create",
                "job",
                "once",
                "--image=busybox:1.36",
                "--",
                "echo",
                "hi",
            ],
            "job.batch/once created",
        ),
        (
            &[
                "create",
                "cronjob",
                "nightly",
                "--image=busybox:1.36",
                "--schedule=0 3 * * *",
                "--",
                "echo",
                "hi",
            ],
            "cronjob.batch/nightly created",
        ),
        (
            &["create", "service", "clusterip", "web", "--tcp=80:8080"],
            "service/web created",
        ),
        (
            &[
                "create",
                "ingress",
                "web",
                "--rule=shop.example.com/*=web:80",
            ],
            "ingress.networking.k8s.io/web created",
        ),
        (
            &[
                "create",
                "role",
                "reader",
                "--verb=get,list",
                "--resource=pods,configmaps",
            ],
            "role.rbac.authorization.k8s.io/reader created",
        ),
        (
            &["create", "serviceaccount", "app"],
            "serviceaccount/app created",
        ),
        (
            &[
                "create",
                "rolebinding",
                "reader",
                "--role=reader",
                "--serviceaccount=shop:app",
            ],
            "rolebinding.rbac.authorization.k8s.io/reader created",
        ),
        (
            &[
                "create",
                "poddisruptionbudget",
                "web",
                "--selector=app=web",
                "--min-available=1",
            ],
            "poddisruptionbudget.policy/web created",
        ),
        (
            &["create", "quota", "small", "--hard=pods=10,requests.cpu=2"],
            "resourcequota/small created",
        ),
    ];
    for (args, printed) in creates {
        // Flags go before `--`: what follows it is the container's command.
        let mut all = args.to_vec();
        if args[1] != "namespace" {
            let at = all.iter().position(|a| *a == "--").unwrap_or(all.len());
            all.splice(at..at, ns);
        }
        assert_eq!(k.ok(&all).trim(), *printed, "{args:?}");
    }

    // What each command stored, as the real kubectl builds it.
    let cm = get_json(&k, &["get", "configmap", "settings", "-n", "shop"]);
    assert_eq!(cm["data"], json!({"mode": "prod"}));
    let secret = get_json(&k, &["get", "secret", "db", "-n", "shop"]);
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["data"], json!({"password": "czNjcmV0"}));
    let deploy = get_json(&k, &["get", "deployment", "web", "-n", "shop"]);
    assert_eq!(deploy["metadata"]["labels"], json!({"app": "web"}));
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(
        deploy["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "web");
    assert_eq!(container["image"], "registry.example/web:1.27");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    let job = get_json(&k, &["get", "job", "once", "-n", "shop"]);
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(pod_spec["restartPolicy"], "Never");
    assert_eq!(pod_spec["containers"][0]["command"], json!(["echo", "hi"]));
    let cron = get_json(&k, &["get", "cronjob", "nightly", "-n", "shop"]);
    assert_eq!(cron["spec"]["schedule"], "0 3 * * *");
    assert_eq!(
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"],
        "OnFailure"
    );
    let svc = get_json(&k, &["get", "service", "web", "-n", "shop"]);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}])
    );
    let ing = get_json(&k, &["get", "ingress", "web", "-n", "shop"]);
    let ingress_rule = &ing["spec"]["rules"][0];
    assert_eq!(ingress_rule["host"], "shop.example.com");
    assert_eq!(ingress_rule["http"]["paths"][0]["path"], "/");
    assert_eq!(ingress_rule["http"]["paths"][0]["pathType"], "Prefix");
    assert_eq!(
        ingress_rule["http"]["paths"][0]["backend"],
        json!({"service": {"name": "web", "port": {"number": 80}}})
    );
    let role = get_json(&k, &["get", "role", "reader", "-n", "shop"]);
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]}])
    );
    let binding = get_json(&k, &["get", "rolebinding", "reader", "-n", "shop"]);
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}])
    );
    let pdb = get_json(&k, &["get", "pdb", "web", "-n", "shop"]);
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    let quota = get_json(&k, &["get", "quota", "small", "-n", "shop"]);
    assert_eq!(
        quota["spec"]["hard"],
        json!({"pods": "10", "requests.cpu": "2"})
    );
}

#[test]
fn get_shows_the_server_columns_for_pods_and_deployments() {
    let Some(k) = paced("get_shows_the_server_columns_for_pods_and_deployments") else {
        return;
    };
    web_deployment(&k);

    let pods = table(&k.ok(&["get", "pods", "-n", "shop"]));
    assert_eq!(pods[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(pods.len(), 3, "{pods:?}");
    for row in &pods[1..] {
        assert!(row[0].starts_with("web-"), "{row:?}");
        assert_eq!(row[1..4], ["1/1", "Running", "0"], "{row:?}");
    }
    let wide = table(&k.ok(&["get", "pods", "-n", "shop", "-o", "wide"]));
    assert_eq!(
        wide[0],
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
    for row in &wide[1..] {
        assert!(row[5].parse::<std::net::Ipv4Addr>().is_ok(), "{row:?}");
        assert!(row[6].starts_with("node-"), "{row:?}");
        assert_eq!(row[7..], ["<none>", "<none>"], "{row:?}");
    }

    let deployments = table(&k.ok(&["get", "deployments", "-n", "shop"]));
    assert_eq!(
        deployments[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(deployments[1][..4], ["web", "2/2", "2", "2"]);
    let wide = table(&k.ok(&["get", "deployments", "-n", "shop", "-o", "wide"]));
    assert_eq!(
        wide[0],
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
        wide[1][5..],
        ["web", "registry.example/web:1.27", "app=web"]
    );
}

#[test]
fn describe_pod_shows_its_state_and_events() {
    let Some(k) = paced("describe_pod_shows_its_state_and_events") else {
        return;
    };
    web_deployment(&k);
    let names = k.ok(&["get", "pods", "-n", "shop", "-o", "name"]);
    let pod = names.lines().next().unwrap();
    let out = k.ok(&["describe", pod, "-n", "shop"]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map_or_else(|| panic!("no {name}: in\n{out}"), str::trim)
    };
    assert_eq!(field("Name"), pod.trim_start_matches("pod/"));
    assert_eq!(field("Namespace"), "shop");
    assert!(field("Node").starts_with("node-"), "{out}");
    assert_eq!(field("Status"), "Running");
    assert!(
        field("Controlled By").starts_with("ReplicaSet/web-"),
        "{out}"
    );
    assert!(
        out.contains("    Image:          registry.example/web:1.27"),
        "{out}"
    );
    assert!(out.contains("    State:          Running"), "{out}");
    assert!(out.contains("    Ready:          True"), "{out}");
    // The events kubectl found by the pod's involvedObject fields. kubectl orders them by their
    // timestamps, which have whole seconds, so events of the same second come in any order.
    let events = out.split("\nEvents:\n").nth(1).expect("an Events section");
    let mut reasons: Vec<&str> = events
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        ["Created", "Pulled", "Pulling", "Scheduled", "Started"],
        "{events}"
    );
}

#[test]
fn describe_deployment_shows_its_replicas_and_replica_sets() {
    let Some(k) = paced("describe_deployment_shows_its_replicas_and_replica_sets") else {
        return;
    };
    web_deployment(&k);
    let out = k.ok(&["describe", "deployment", "web", "-n", "shop"]);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map_or_else(|| panic!("no {name}: in\n{out}"), str::trim)
    };
    assert_eq!(field("Name"), "web");
    assert_eq!(field("Namespace"), "shop");
    assert_eq!(field("Selector"), "app=web");
    assert_eq!(
        field("Replicas"),
        "2 desired | 2 updated | 2 total | 2 available | 0 unavailable"
    );
    assert_eq!(field("StrategyType"), "RollingUpdate");
    assert_eq!(
        field("RollingUpdateStrategy"),
        "25% max unavailable, 25% max surge"
    );
    let new_rs = field("NewReplicaSet");
    assert!(
        new_rs.starts_with("web-") && new_rs.ends_with("(2/2 replicas created)"),
        "{out}"
    );
    assert!(
        out.contains("  Available      True    MinimumReplicasAvailable"),
        "{out}"
    );
    assert!(
        out.contains("  Progressing    True    NewReplicaSetAvailable"),
        "{out}"
    );
}

#[test]
fn describe_deployment_lists_its_scaling_events() {
    let Some(k) = paced("describe_deployment_lists_its_scaling_events") else {
        return;
    };
    web_deployment(&k);
    let out = k.ok(&["describe", "deployment", "web", "-n", "shop"]);
    let events = out.split("\nEvents:\n").nth(1).expect("an Events section");
    assert!(
        events.lines().any(|l| l.contains("ScalingReplicaSet")
            && l.contains("deployment-controller")
            && l.contains("Scaled up replica set web-")
            && l.ends_with("from 0 to 2")),
        "{events}"
    );
}

#[test]
fn delete_f_of_a_file_that_starts_with_its_namespace() {
    let Some(k) = paced("delete_f_of_a_file_that_starts_with_its_namespace") else {
        return;
    };
    let file = k.file(
        "app.yaml",
        "apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: prod}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.example/web:1.27}]
",
    );
    k.ok(&["apply", "-f", &file]);
    let out = k.ok(&["delete", "-f", &file, "--wait=false"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("namespace \"shop\" deleted"), "{out}");
    assert!(
        lines[1].starts_with("configmap \"settings\" deleted"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("deployment.apps \"web\" deleted"),
        "{out}"
    );
    k.ok(&["wait", "--for=delete", "namespace/shop", "--timeout=60s"]);
    let gone = k.fails(&["get", "namespace", "shop"]);
    assert!(gone.contains("namespaces \"shop\" not found"), "{gone}");
}

#[test]
fn a_deleted_namespace_is_terminating_until_its_contents_are_gone() {
    let Some(k) = paced("a_deleted_namespace_is_terminating_until_its_contents_are_gone") else {
        return;
    };
    web_deployment(&k);
    // Simulated time stands still while the test looks, so the Namespace's contents (and so the
    // Namespace) cannot be gone before it does, however slow this machine is.
    k.sim.clock().set_pace(1e-9);
    let out = k.ok(&["delete", "namespace", "shop", "--wait=false"]);
    assert!(out.starts_with("namespace \"shop\" deleted"), "{out}");

    // The namespace controller and the pods' graceful ends take simulated time.
    let ns = get_json(&k, &["get", "namespace", "shop"]);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string(), "{ns}");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    let rows = table(&k.ok(&["get", "namespace", "shop"]));
    assert_eq!(rows[0], ["NAME", "STATUS", "AGE"]);
    assert_eq!(rows[1][..2], ["shop", "Terminating"]);
    // Nothing new may be created in it meanwhile.
    let refused = k.fails(&["create", "configmap", "late", "-n", "shop"]);
    assert!(
        refused.contains("because it is being terminated"),
        "{refused}"
    );

    k.sim.clock().set_pace(5.0);
    k.ok(&["wait", "--for=delete", "namespace/shop", "--timeout=120s"]);
    let gone = k.fails(&["get", "namespace", "shop"]);
    assert!(gone.contains("namespaces \"shop\" not found"), "{gone}");
}

#[test]
fn wait_for_delete_returns_when_the_object_is_gone() {
    let Some(k) = paced("wait_for_delete_returns_when_the_object_is_gone") else {
        return;
    };
    let file = k.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: prod}\n",
    );
    k.ok(&["create", "-f", &file]);
    let mut waiting = k
        .command(&[
            "wait",
            "--for=delete",
            "configmap/settings",
            "--timeout=60s",
            "-v=6",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // kubectl logs each request at -v=6 once its response starts; the watch's line says it is
    // watching, so the delete below happens while it waits.
    let mut log = BufReader::new(waiting.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        let line = log
            .next()
            .unwrap_or_else(|| panic!("kubectl wait ended before it watched: {seen:#?}"))
            .unwrap();
        let watching = line.contains("watch=true");
        seen.push(line);
        if watching {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("fieldSelector=metadata.name%3Dsettings")),
        "{seen:#?}"
    );
    k.ok(&["delete", "configmap", "settings"]);
    let output = waiting.wait_with_output().unwrap();
    assert!(output.status.success(), "{seen:#?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "configmap/settings condition met"
    );
    // An object that is gone already: nothing to wait for, exit 0 and nothing printed.
    let again = k.ok(&["wait", "--for=delete", "configmap/settings", "--timeout=5s"]);
    assert_eq!(again, "");
}

#[test]
fn wait_for_delete_of_a_pod_waits_for_its_grace_period() {
    let Some(k) = paced("wait_for_delete_of_a_pod_waits_for_its_grace_period") else {
        return;
    };
    web_deployment(&k);
    let names = k.ok(&["get", "pods", "-n", "shop", "-o", "name"]);
    let pod = names.lines().next().unwrap();
    // Simulated time stands still from here, so the pod stays Terminating until the test moves
    // the clock, however slow this machine is.
    k.sim.clock().set_pace(1e-9);
    k.ok(&["delete", pod, "-n", "shop", "--wait=false"]);
    let terminating = get_json(&k, &["get", pod, "-n", "shop"]);
    assert!(terminating["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(terminating["metadata"]["deletionGracePeriodSeconds"], 30);
    let mut wait = k
        .command(&[
            "wait",
            "--for=delete",
            pod,
            "-n",
            "shop",
            "--timeout=120s",
            "-v=6",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // kubectl found the pod and is watching it (-v=6 logs each request as it is answered).
    let mut log = BufReader::new(wait.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.lines().any(|l| l.contains("watch=true")) {
        assert!(
            log.read_line(&mut seen).unwrap() > 0,
            "kubectl wait ended before watching: {seen}"
        );
    }
    assert!(
        wait.try_wait().unwrap().is_none(),
        "kubectl wait still waits while the pod terminates: {seen}"
    );
    // Its grace period runs out: the kubelet stops the containers and the pod goes.
    k.sim.clock().set_pace(5.0);
    k.sim.clock().advance(std::time::Duration::from_secs(31));
    std::io::Read::read_to_string(&mut log, &mut seen).unwrap();
    let output = wait.wait_with_output().unwrap();
    assert!(output.status.success(), "{seen}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("{pod} condition met")
    );
    assert!(k.fails(&["get", pod, "-n", "shop"]).contains("NotFound"));
}

#[test]
fn wait_for_conditions_of_deployments_and_pods() {
    let Some(k) = paced("wait_for_conditions_of_deployments_and_pods") else {
        return;
    };
    web_deployment(&k);
    let out = k.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=30s",
    ]);
    assert_eq!(out.trim(), "deployment.apps/web condition met");
    let out = k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        "app=web",
        "-n",
        "shop",
        "--timeout=30s",
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines()
            .all(|l| l.starts_with("pod/web-") && l.ends_with(" condition met")),
        "{out}"
    );
    let out = k.ok(&[
        "wait",
        "--for=jsonpath={.status.readyReplicas}=2",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=30s",
    ]);
    assert_eq!(out.trim(), "deployment.apps/web condition met");
    // A condition that never comes: kubectl gives up at its timeout with exit 1.
    let err = k.fails(&[
        "wait",
        "--for=condition=Failed",
        "deployment/web",
        "-n",
        "shop",
        "--timeout=1s",
    ]);
    assert!(
        err.contains("timed out waiting for the condition on deployments/web"),
        "{err}"
    );
}

/// RBAC on, and a user `jane` (her own context in the kubeconfig) who may only read pods in
/// `shop`.
const RBAC_SCENARIO: &str = "
authorization: RBAC
users:
  - name: jane
    token: jane-token-0123456789
";

#[test]
fn auth_can_i_answers_from_roles_and_bindings() {
    let scenario_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(scenario_file.path(), RBAC_SCENARIO).unwrap();
    let scenario = Scenario::load(scenario_file.path()).unwrap();
    let Some(k) = Kubectl::start_with(
        "auth_can_i_answers_from_roles_and_bindings",
        Config {
            scenario,
            ..Config::default()
        },
    ) else {
        return;
    };
    let file = k.file(
        "rbac.yaml",
        "apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: shop}
rules:
- apiGroups: ['']
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jane-reads-pods, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: jane}
",
    );
    k.ok(&["apply", "-f", &file]);

    // The administrator may do anything.
    assert_eq!(k.ok(&["auth", "can-i", "delete", "nodes"]).trim(), "yes");
    // jane: what her Role grants, in its namespace only. `can-i` exits 1 for "no".
    let jane = ["--context", "jane"];
    let can = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend(args);
        all.extend(jane);
        k.run(&all)
    };
    let yes = can(&["list", "pods", "-n", "shop"]);
    assert!(yes.status.success());
    assert_eq!(String::from_utf8_lossy(&yes.stdout).trim(), "yes");
    for denied in [
        &["delete", "pods", "-n", "shop"][..],
        &["list", "pods", "-n", "default"],
        &["get", "secrets", "-n", "shop"],
        &["list", "nodes"],
    ] {
        let no = can(denied);
        assert_eq!(no.status.code(), Some(1), "{denied:?}");
        assert_eq!(
            String::from_utf8_lossy(&no.stdout).trim(),
            "no",
            "{denied:?}"
        );
    }
    // And the API agrees: a 403 with the real server's message.
    let mut get_secrets = vec!["get", "secrets", "-n", "shop"];
    get_secrets.extend(jane);
    let forbidden = k.fails(&get_secrets);
    assert!(
        forbidden.contains(
            "Error from server (Forbidden): secrets is forbidden: User \"jane\" cannot list \
             resource \"secrets\" in API group \"\" in the namespace \"shop\""
        ),
        "{forbidden}"
    );
}

/// Ten ConfigMaps labelled `set=ten`, so that clusters that add their own (`kube-root-ca.crt`)
/// do not change the count.
fn ten_config_maps(k: &Kubectl) {
    let documents: Vec<String> = (0..10)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:02}, labels: {{set: ten}}}}\ndata: {{n: \"{i}\"}}\n"
            )
        })
        .collect();
    let file = k.file("ten.yaml", &documents.join("---\n"));
    k.ok(&["create", "-f", &file]);
}

/// The list requests kubectl's `-v=6` log shows for ConfigMaps, in order.
fn config_map_list_requests(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("GET") && l.contains("/api/v1/namespaces/default/configmaps?"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn get_with_chunk_size_pages_through_ten_objects() {
    let Some(k) = paced("get_with_chunk_size_pages_through_ten_objects") else {
        return;
    };
    ten_config_maps(&k);
    let out = k.run(&[
        "get",
        "configmaps",
        "-l",
        "set=ten",
        "--chunk-size=2",
        "-o",
        "name",
        "-v=6",
    ]);
    assert!(out.status.success());
    let names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("configmap/cm-{i:02}")).collect();
    assert_eq!(names, expected, "every object once, in name order");
    // Five pages of two: the first without a continue token, the others each with one.
    let requests = config_map_list_requests(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(requests.len(), 5, "{requests:#?}");
    assert!(
        requests.iter().all(|r| r.contains("limit=2")),
        "{requests:#?}"
    );
    assert!(!requests[0].contains("continue="), "{requests:#?}");
    assert!(
        requests[1..].iter().all(|r| r.contains("continue=")),
        "{requests:#?}"
    );
}

#[test]
fn get_with_chunk_size_prints_one_table_over_all_pages() {
    let Some(k) = paced("get_with_chunk_size_prints_one_table_over_all_pages") else {
        return;
    };
    ten_config_maps(&k);
    let rows = table(&k.ok(&["get", "configmaps", "-l", "set=ten", "--chunk-size=2"]));
    assert_eq!(rows[0], ["NAME", "DATA", "AGE"], "one header for all pages");
    assert_eq!(rows.len(), 11, "{rows:?}");
    for (i, row) in rows[1..].iter().enumerate() {
        assert_eq!(row[..2], [format!("cm-{i:02}"), "1".to_owned()], "{row:?}");
    }
}
