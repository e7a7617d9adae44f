//! PersistentVolumeClaims: bound at once to a volume named after the claim, with the capacity
//! and access modes it asked for, as a dynamic provisioner (EBS CSI) would leave it.

use serde_json::{Value, json};

use super::meta;
use super::pass::{Kind, Pass};

pub fn reconcile(pass: &mut Pass<'_>) {
    for key in pass.index.of(Kind::Claim).to_vec() {
        let Some(claim) = pass.changed(&key, 0) else {
            continue;
        };
        bind(pass, &claim);
        pass.done(&claim, 0, None);
    }
}

fn bind(pass: &mut Pass<'_>, claim: &Value) {
    let mut claim = claim.clone();
    if meta::text(&claim, "/spec/volumeName").is_empty() {
        let mut next = claim.clone();
        next["spec"]["volumeName"] = json!(format!("pvc-{}", meta::uid(&claim)));
        if next.pointer("/spec/storageClassName").is_none() {
            next["spec"]["storageClassName"] = json!("gp3");
        }
        next["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = json!("yes");
        next["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        next["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] =
            json!("ebs.csi.aws.com");
        match pass.replace(Kind::Claim, next) {
            Some(stored) => claim = stored,
            None => return,
        }
    }
    let capacity = claim
        .pointer("/spec/resources/requests/storage")
        .cloned()
        .unwrap_or_else(|| json!("1Gi"));
    let modes = claim
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or_else(|| json!(["ReadWriteOnce"]));
    let status =
        json!({ "phase": "Bound", "accessModes": modes, "capacity": { "storage": capacity } });
    pass.set_status(Kind::Claim, &claim, status);
}
