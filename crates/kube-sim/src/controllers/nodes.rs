//! The simulated nodes: `node-1` … `node-N`, Ready, created once at start so `kubectl get nodes`
//! works, DaemonSets have targets and the scheduler has somewhere to put pods. Nodes created
//! or deleted through the API later count too.

use serde_json::{Value, json};

use super::meta;
use super::pass::{Kind, Pass};

/// Creates the configured nodes that do not exist yet.
pub fn ensure(pass: &mut Pass<'_>) {
    for i in 1..=pass.sim.settings.nodes {
        let name = format!("node-{i}");
        if pass.get(&pass.types.key(Kind::Node, "", &name)).is_none() {
            let node = node(&name, i, &pass.now);
            pass.create(Kind::Node, "", node);
        }
    }
}

/// Nodes a pod could go to: (name, labels), in name order.
pub fn schedulable(pass: &Pass<'_>) -> Vec<(String, Value)> {
    pass.index
        .of(Kind::Node)
        .iter()
        .filter_map(|k| pass.store.get(k))
        .filter(|n| n.pointer("/spec/unschedulable").and_then(Value::as_bool) != Some(true))
        .map(|n| {
            (
                meta::name(n).to_owned(),
                n.pointer("/metadata/labels")
                    .cloned()
                    .unwrap_or_else(|| json!({})),
            )
        })
        .collect()
}

/// Whether a node's labels satisfy a pod spec's `nodeSelector`.
pub fn fits(labels: &Value, pod_spec: &Value) -> bool {
    pod_spec
        .get("nodeSelector")
        .and_then(Value::as_object)
        .is_none_or(|wanted| wanted.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// A node's `InternalIP` address.
pub fn internal_ip(pass: &Pass<'_>, node: &str) -> String {
    pass.store
        .get(&pass.types.key(Kind::Node, "", node))
        .and_then(|n| {
            n.pointer("/status/addresses")
                .and_then(Value::as_array)
                .cloned()
        })
        .and_then(|addresses| {
            addresses
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))
                .and_then(|a| a.get("address").and_then(Value::as_str).map(str::to_owned))
        })
        .unwrap_or_else(|| "10.0.1.10".to_owned())
}

fn node(name: &str, i: u32, now: &str) -> Value {
    let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][usize::try_from(i % 3).unwrap_or(0)];
    let ip = format!("10.0.{}.{}", i / 200 + 1, i % 200 + 10);
    let ready = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({ "type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now })
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "m5.large",
                "topology.kubernetes.io/region": "us-east-1",
                "topology.kubernetes.io/zone": zone,
                "eks.amazonaws.com/nodegroup": "default",
            },
        },
        "spec": { "podCIDR": format!("10.244.{i}.0/24"), "providerID": format!("aws:///{zone}/i-0{:016x}", i) },
        "status": {
            "capacity": { "cpu": "2", "memory": "7910348Ki", "pods": "29", "ephemeral-storage": "20959212Ki" },
            "allocatable": { "cpu": "1930m", "memory": "7220172Ki", "pods": "29", "ephemeral-storage": "18242267924" },
            "conditions": [
                ready("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ready("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ready("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ready("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                { "type": "InternalIP", "address": ip },
                { "type": "Hostname", "address": name },
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2023.6.20250115",
                "kernelVersion": "6.1.119-129.201.amzn2023.x86_64",
                "containerRuntimeVersion": "containerd://1.7.25",
                "kubeletVersion": "v1.32.0-eks-aeac579",
                "kubeProxyVersion": "v1.32.0-eks-aeac579",
                "machineID": format!("ec2{:029x}", i),
                "systemUUID": format!("ec2{:05x}-0000-0000-0000-000000000000", i),
                "bootID": format!("{:08x}-0000-0000-0000-000000000000", i),
            },
        },
    })
}
