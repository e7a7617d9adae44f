//! Properties of the rendered overlays that review would otherwise have to catch by eye:
//! requests and limits everywhere, pinned images, the development size budget, production's
//! redundancy, default-deny networking, no secret value in git, and the pod hardening.

#![allow(clippy::unwrap_used)]

mod common;

use manifests::capacity::{self, Resources};
use manifests::objects::{containers, describe, of_kind, pod_spec, selects, workloads};
use serde_json::Value;

#[test]
fn every_container_has_cpu_and_memory_requests_and_limits() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    for (env, objects) in common::all_rendered(&kubectl) {
        let mut seen = 0;
        for workload in workloads(&objects) {
            for container in containers(workload) {
                seen += 1;
                for part in ["requests", "limits"] {
                    for resource in ["cpu", "memory"] {
                        assert!(
                            container["resources"][part][resource].is_string()
                                || container["resources"][part][resource].is_number(),
                            "{env}: {} container {}: no {part}.{resource}",
                            describe(workload),
                            container["name"]
                        );
                    }
                }
            }
        }
        assert_eq!(seen, 3, "{env}: web, api and postgres");
    }
}

#[test]
fn every_image_is_pinned_to_a_version_and_never_latest() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    for (env, objects) in common::all_rendered(&kubectl) {
        for workload in workloads(&objects) {
            for container in containers(workload) {
                let image = container["image"].as_str().unwrap();
                let last = image.rsplit('/').next().unwrap();
                let tag = last.split_once(':').map(|(_, t)| t);
                assert!(
                    matches!(tag, Some(t) if !t.is_empty() && t != "latest")
                        || image.contains("@sha256:"),
                    "{env}: {} runs {image}: pin a version tag (not latest) or a digest",
                    describe(workload)
                );
                assert!(
                    image.starts_with("docker.io/"),
                    "{env}: {image}: name the registry, so no mirror setting can change what runs"
                );
            }
        }
        for (name, repository) in [
            ("web", "docker.io/cloudtolocalllm/web:"),
            ("api", "docker.io/cloudtolocalllm/api:"),
        ] {
            let deployment = manifests::objects::find(&objects, "Deployment", name).unwrap();
            let container = &containers(deployment)[0];
            assert_eq!(
                container["name"], name,
                "{env}: --set-image {name}=… finds it by name"
            );
            assert!(container["image"].as_str().unwrap().starts_with(repository));
        }
    }
}

#[test]
fn development_fits_two_t3_medium_nodes_with_a_quarter_to_spare() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    let objects = common::rendered(&kubectl, "development");
    let peaks = capacity::app_peak(&objects).unwrap();
    assert_eq!(peaks.len(), 3, "{peaks:?}");
    let app = capacity::total(&peaks);
    let system = capacity::system_requests(capacity::DEVELOPMENT_NODES);
    let allocatable = capacity::T3_MEDIUM_ALLOCATABLE.times(capacity::DEVELOPMENT_NODES);
    let budget = allocatable.percent(capacity::USABLE_PERCENT);
    let used = app.add(system);
    eprintln!(
        "development at its peak {peaks:#?}\napp {app:?} + system {system:?} = {used:?}; \
         allocatable {allocatable:?}, 75 % of it {budget:?}"
    );
    assert!(
        used.fits_in(budget),
        "development needs {used:?} at its peak (app {app:?} + system {system:?}), more than 75 % of 2 × t3.medium ({budget:?})"
    );
    // The largest pod fits on one node next to that node's share of the system pods.
    let per_node_system = capacity::system_requests(1);
    for peak in &peaks {
        assert!(
            peak.per_pod
                .add(per_node_system)
                .fits_in(capacity::T3_MEDIUM_ALLOCATABLE),
            "{}: {:?} does not fit one node",
            peak.workload,
            peak.per_pod
        );
    }
}

#[test]
fn the_fit_check_fails_for_an_overlay_that_would_not_fit() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    // Production's sizes on development's nodes: the same arithmetic must refuse them, or the
    // development check above proves nothing.
    let objects = common::rendered(&kubectl, "production");
    let used = capacity::total(&capacity::app_peak(&objects).unwrap())
        .add(capacity::system_requests(capacity::DEVELOPMENT_NODES));
    let budget = capacity::T3_MEDIUM_ALLOCATABLE
        .times(capacity::DEVELOPMENT_NODES)
        .percent(capacity::USABLE_PERCENT);
    assert!(!used.fits_in(budget), "{used:?} within {budget:?}");
    assert_eq!(
        capacity::system_requests(2),
        Resources {
            cpu_millis: 1080,
            memory_mib: 1508,
            pods: 16
        },
        "the system pods as README.md sums them"
    );
}

#[test]
fn production_runs_at_least_two_of_each_stateless_workload_each_under_a_pdb() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    for env in ["production", "staging"] {
        let objects = common::rendered(&kubectl, env);
        for workload in workloads(&objects) {
            let name = describe(workload);
            let replicas = workload["spec"]["replicas"].as_u64().unwrap();
            let labels = &workload["spec"]["template"]["metadata"]["labels"];
            let pdbs: Vec<&Value> = of_kind(&objects, "PodDisruptionBudget")
                .filter(|p| selects(&p["spec"]["selector"], labels))
                .collect();
            assert_eq!(pdbs.len(), 1, "{env}: {name} needs exactly one PDB");
            if workload["kind"] == "StatefulSet" {
                // One PostgreSQL primary (README.md says why): its PDB blocks drains instead.
                assert_eq!(pdbs[0]["spec"]["minAvailable"], 1, "{env}: {name}");
                continue;
            }
            let least = if env == "production" { 3 } else { 2 };
            assert!(replicas >= least, "{env}: {name} has {replicas} replicas");
            let hpa = of_kind(&objects, "HorizontalPodAutoscaler")
                .find(|h| h["spec"]["scaleTargetRef"]["name"] == workload["metadata"]["name"])
                .unwrap();
            assert_eq!(
                hpa["spec"]["minReplicas"].as_u64(),
                Some(replicas),
                "{env}: {name}: the HPA's minimum matches the replicas"
            );
            if env == "production" {
                assert_eq!(pdbs[0]["spec"]["minAvailable"], 2, "{env}: {name}");
                let spread = &pod_spec(workload).unwrap()["topologySpreadConstraints"];
                let zone = spread
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["topologyKey"] == "topology.kubernetes.io/zone")
                    .unwrap();
                assert_eq!(zone["whenUnsatisfiable"], "DoNotSchedule", "{name}");
                assert!(selects(&zone["labelSelector"], labels), "{name}");
            }
        }
    }
}

#[test]
fn every_namespace_denies_all_traffic_by_default() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    for (env, objects) in common::all_rendered(&kubectl) {
        let namespaces: Vec<&str> = objects
            .iter()
            .filter_map(|o| match o["kind"].as_str() {
                Some("Namespace") => o["metadata"]["name"].as_str(),
                _ => o["metadata"]["namespace"].as_str(),
            })
            .collect();
        for namespace in namespaces {
            let deny = of_kind(&objects, "NetworkPolicy").find(|p| {
                p["metadata"]["namespace"] == namespace
                    && p["spec"]["podSelector"]
                        .as_object()
                        .is_some_and(serde_json::Map::is_empty)
                    && p["spec"]["policyTypes"] == serde_json::json!(["Ingress", "Egress"])
                    && p["spec"].get("ingress").is_none()
                    && p["spec"].get("egress").is_none()
            });
            assert!(
                deny.is_some(),
                "{env}: namespace {namespace} has no default-deny policy"
            );
        }
        // api egress: PostgreSQL on 5432, and 443 only.
        let egress = &manifests::objects::find(&objects, "NetworkPolicy", "api-egress").unwrap()["spec"]
            ["egress"];
        let ports: Vec<&Value> = egress
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|rule| rule["ports"].as_array().unwrap())
            .map(|p| &p["port"])
            .collect();
        assert_eq!(ports, [&Value::from(5432), &Value::from(443)], "{env}");
    }
}

#[test]
fn no_secret_value_is_in_any_overlay() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    for (env, objects) in common::all_rendered(&kubectl) {
        for secret in of_kind(&objects, "Secret") {
            assert!(
                secret.get("data").is_none() && secret.get("stringData").is_none(),
                "{env}: {} carries values; reference them (ExternalSecret) instead",
                describe(secret)
            );
        }
        for workload in workloads(&objects) {
            for container in containers(workload) {
                for env_var in container["env"].as_array().into_iter().flatten() {
                    let name = env_var["name"].as_str().unwrap();
                    let secret_like = ["PASSWORD", "TOKEN", "SECRET", "API_KEY"]
                        .iter()
                        .any(|word| name.ends_with(word));
                    assert!(
                        !(secret_like && env_var.get("value").is_some()),
                        "{env}: {} sets {name} to a literal",
                        describe(workload)
                    );
                }
            }
        }
    }
}

#[test]
fn every_pod_is_hardened() {
    let Some(kubectl) = common::kubectl() else {
        return;
    };
    for (env, objects) in common::all_rendered(&kubectl) {
        for workload in workloads(&objects) {
            let name = describe(workload);
            let spec = pod_spec(workload).unwrap();
            assert_eq!(
                spec["securityContext"]["runAsNonRoot"], true,
                "{env}: {name}"
            );
            assert_eq!(
                spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
                "{env}: {name}"
            );
            assert_eq!(spec["automountServiceAccountToken"], false, "{env}: {name}");
            for container in containers(workload) {
                let sc = &container["securityContext"];
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{env}: {name}");
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{env}: {name}");
                assert_eq!(
                    sc["capabilities"]["drop"],
                    serde_json::json!(["ALL"]),
                    "{env}: {name}"
                );
                for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                    assert!(container[probe].is_object(), "{env}: {name}: no {probe}");
                }
            }
            if workload["kind"] == "Deployment" {
                assert_eq!(
                    workload["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0,
                    "{env}: {name}"
                );
            }
        }
    }
}
