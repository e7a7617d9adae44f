//! Does the development overlay fit its node group? Two t3.medium nodes, next to the pods every
//! EKS cluster of ours runs, with 25 % of the allocatable CPU, memory and pod slots to spare.
//!
//! The figures (README.md of manifests/k8s shows the same table and sums):
//! - t3.medium: 2 vCPU, 4 GiB. The EKS AMI reserves 70m CPU (6 % of the first core, 1 % of the
//!   second) and 442 MiB (255 MiB + 11 MiB × 17 pods) for the kubelet and 100 MiB for eviction:
//!   allocatable 1,930m CPU and about 3,309 MiB of the ~3,851 MiB the kernel reports, which we
//!   round down to 3,300 MiB. The VPC CNI allows 17 pods (3 ENIs × (6 addresses − 1) + 2).
//! - System pods: the requests of the add-ons as their charts and EKS ship them (or, where a chart
//!   sets none, the requests we install them with; docs/install.md), in [`SYSTEM_PODS`].
//! - The app at its peak: every Deployment at its HPA's `maxReplicas` plus its rolling update's
//!   surge, every StatefulSet at its replicas (it replaces pods one at a time, no surge).

use serde_json::Value;

use crate::objects;
use crate::quantity;

/// CPU, memory and pod slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resources {
    pub cpu_millis: u64,
    pub memory_mib: u64,
    pub pods: u64,
}

impl Resources {
    pub const fn add(self, other: Self) -> Self {
        Self {
            cpu_millis: self.cpu_millis + other.cpu_millis,
            memory_mib: self.memory_mib + other.memory_mib,
            pods: self.pods + other.pods,
        }
    }

    pub const fn times(self, n: u64) -> Self {
        Self {
            cpu_millis: self.cpu_millis * n,
            memory_mib: self.memory_mib * n,
            pods: self.pods * n,
        }
    }

    /// `percent` % of each figure, rounded down.
    pub const fn percent(self, percent: u64) -> Self {
        Self {
            cpu_millis: self.cpu_millis * percent / 100,
            memory_mib: self.memory_mib * percent / 100,
            pods: self.pods * percent / 100,
        }
    }

    /// Every figure at most `other`'s.
    pub const fn fits_in(self, other: Self) -> bool {
        self.cpu_millis <= other.cpu_millis
            && self.memory_mib <= other.memory_mib
            && self.pods <= other.pods
    }
}

/// What one t3.medium node offers pods.
pub const T3_MEDIUM_ALLOCATABLE: Resources = Resources {
    cpu_millis: 1930,
    memory_mib: 3300,
    pods: 17,
};

/// The development node group.
pub const DEVELOPMENT_NODES: u64 = 2;

/// The share of allocatable the workloads may use: 25 % stays spare.
pub const USABLE_PERCENT: u64 = 75;

/// One system workload: its requests per pod, and how many pods.
#[derive(Debug, Clone, Copy)]
pub struct SystemPod {
    pub name: &'static str,
    /// A DaemonSet: one pod per node.
    pub per_node: bool,
    /// Pods of a Deployment (ignored when `per_node`).
    pub replicas: u64,
    pub cpu_millis: u64,
    pub memory_mib: u64,
}

const fn system(
    name: &'static str,
    per_node: bool,
    replicas: u64,
    cpu_millis: u64,
    memory_mib: u64,
) -> SystemPod {
    SystemPod {
        name,
        per_node,
        replicas,
        cpu_millis,
        memory_mib,
    }
}

/// The pods besides ours, with the requests they come with.
pub const SYSTEM_PODS: &[SystemPod] = &[
    // DaemonSets (EKS add-ons).
    system("aws-node (VPC CNI)", true, 0, 25, 0),
    system("kube-proxy", true, 0, 100, 0),
    system("ebs-csi-node (3 containers)", true, 0, 30, 120),
    // Deployments.
    system("coredns", false, 2, 100, 70),
    system("ebs-csi-controller (6 containers)", false, 2, 60, 240),
    system("aws-load-balancer-controller", false, 2, 100, 128),
    system(
        "external-secrets (controller, webhook, cert-controller)",
        false,
        3,
        50,
        64,
    ),
    system("metrics-server", false, 1, 100, 200),
];

/// The system pods' requests on a node group of `nodes`.
pub fn system_requests(nodes: u64) -> Resources {
    SYSTEM_PODS
        .iter()
        .map(|p| {
            let pods = if p.per_node { nodes } else { p.replicas };
            Resources {
                cpu_millis: p.cpu_millis,
                memory_mib: p.memory_mib,
                pods: 1,
            }
            .times(pods)
        })
        .fold(Resources::default(), Resources::add)
}

/// One workload's part of the peak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadPeak {
    pub workload: String,
    /// Pods at the peak (HPA maximum + surge).
    pub pods: u64,
    pub per_pod: Resources,
}

/// Each workload at its peak: a Deployment at its HPA's `maxReplicas` (else `replicas`) plus its
/// `maxSurge` (an integer; a percentage rounds up, as the controller does); a StatefulSet at its
/// `replicas`. Requests missing or unreadable are an error naming the container.
pub fn app_peak(objects: &[Value]) -> Result<Vec<WorkloadPeak>, String> {
    let mut peaks = Vec::new();
    for workload in objects::workloads(objects) {
        let name = workload["metadata"]["name"].as_str().unwrap_or_default();
        let kind = workload["kind"].as_str().unwrap_or_default();
        let replicas = workload["spec"]["replicas"].as_u64().unwrap_or(1);
        let scaled = objects::of_kind(objects, "HorizontalPodAutoscaler")
            .find(|h| {
                h["spec"]["scaleTargetRef"]["kind"] == kind
                    && h["spec"]["scaleTargetRef"]["name"] == name
            })
            .and_then(|h| h["spec"]["maxReplicas"].as_u64())
            .unwrap_or(replicas)
            .max(replicas);
        let surge = if kind == "Deployment" {
            surge(
                &workload["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
                scaled,
            )
        } else {
            0
        };
        let mut per_pod = Resources {
            pods: 1,
            ..Resources::default()
        };
        for container in objects::containers(workload) {
            let requests = &container["resources"]["requests"];
            let container_name = container["name"].as_str().unwrap_or("?");
            let cpu = quantity::cpu_millis(&requests["cpu"]).ok_or_else(|| {
                format!(
                    "{}: container {container_name} has no CPU request",
                    objects::describe(workload)
                )
            })?;
            let memory = quantity::bytes(&requests["memory"]).ok_or_else(|| {
                format!(
                    "{}: container {container_name} has no memory request",
                    objects::describe(workload)
                )
            })?;
            per_pod.cpu_millis += cpu;
            per_pod.memory_mib += memory.div_ceil(1 << 20);
        }
        peaks.push(WorkloadPeak {
            workload: objects::describe(workload),
            pods: scaled + surge,
            per_pod,
        });
    }
    Ok(peaks)
}

/// A Deployment's surge in pods at `replicas` (Kubernetes' default is 25 %).
fn surge(max_surge: &Value, replicas: u64) -> u64 {
    match max_surge {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<u64>().ok())
            .map_or(0, |p| (replicas * p).div_ceil(100)),
        _ => replicas.div_ceil(4),
    }
}

/// The sum of the peaks.
pub fn total(peaks: &[WorkloadPeak]) -> Resources {
    peaks
        .iter()
        .map(|p| p.per_pod.times(p.pods))
        .fold(Resources::default(), Resources::add)
}
