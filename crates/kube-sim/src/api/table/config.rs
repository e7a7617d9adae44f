//! Printers of configuration and access kinds: `ConfigMap`, `Secret`, `ServiceAccount`,
//! `PersistentVolumeClaim`, `Lease`, `RoleBinding` and `ClusterRoleBinding`.

use serde_json::{Value, json};

use super::format::{self, list, text};
use super::{AGE, Builtin, Col, NAME};

fn entries(object: &Value, field: &str) -> usize {
    object
        .get(field)
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}

pub static CONFIG_MAPS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Data", "string", "How many keys it holds."),
        AGE,
    ],
    cells: |cm, now| {
        vec![
            format::name(cm),
            json!(entries(cm, "data") + entries(cm, "binaryData")),
            json!(format::age(cm, now)),
        ]
    },
};

pub static SECRETS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Type", "string", "The secret's type."),
        Col::new("Data", "string", "How many keys it holds."),
        AGE,
    ],
    cells: |secret, now| {
        vec![
            format::name(secret),
            json!(text(secret, "/type")),
            json!(entries(secret, "data")),
            json!(format::age(secret, now)),
        ]
    },
};

pub static SERVICE_ACCOUNTS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Secrets", "string", "How many secrets it lists."),
        AGE,
    ],
    cells: |sa, now| {
        vec![
            format::name(sa),
            json!(list(sa, "/secrets").len()),
            json!(format::age(sa, now)),
        ]
    },
};

/// Access modes in their short form, in a fixed order: `RWO,ROX,RWX,RWOP`.
fn access_modes(modes: &[Value]) -> String {
    let has = |mode: &str| modes.iter().any(|m| m.as_str() == Some(mode));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .into_iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| short)
    .collect::<Vec<_>>()
    .join(",")
}

pub static PERSISTENT_VOLUME_CLAIMS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Status", "string", "The claim's phase."),
        Col::new("Volume", "string", "The volume bound to the claim."),
        Col::new("Capacity", "string", "The bound volume's size."),
        Col::new(
            "Access Modes",
            "string",
            "How the bound volume may be mounted.",
        ),
        Col::new("StorageClass", "string", "StorageClass of the pvc"),
        Col::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        AGE,
        Col::wide("VolumeMode", "string", "Filesystem or Block."),
    ],
    cells: |pvc, now| {
        let phase = if pvc.pointer("/metadata/deletionTimestamp").is_some() {
            "Terminating"
        } else {
            text(pvc, "/status/phase")
        };
        let volume = text(pvc, "/spec/volumeName");
        let (capacity, modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                text(pvc, "/status/capacity/storage").to_owned(),
                access_modes(list(pvc, "/status/accessModes")),
            )
        };
        // The beta annotation still wins over the field, as on the real server.
        let class = format::text_at(
            pvc,
            "/metadata/annotations/volume.beta.kubernetes.io~1storage-class",
        )
        .or_else(|| format::text_at(pvc, "/spec/storageClassName"))
        .unwrap_or("");
        vec![
            format::name(pvc),
            json!(phase),
            json!(volume),
            json!(capacity),
            json!(modes),
            json!(class),
            json!(format::text_at(pvc, "/spec/volumeAttributesClassName").unwrap_or("<unset>")),
            json!(format::age(pvc, now)),
            json!(format::text_at(pvc, "/spec/volumeMode").unwrap_or("<unset>")),
        ]
    },
};

pub static LEASES: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Holder", "string", "Who holds the lease."),
        AGE,
    ],
    cells: |lease, now| {
        vec![
            format::name(lease),
            json!(text(lease, "/spec/holderIdentity")),
            json!(format::age(lease, now)),
        ]
    },
};

/// `RoleBinding` and `ClusterRoleBinding` print alike.
pub static ROLE_BINDINGS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Role", "string", "The role it grants."),
        AGE,
        Col::wide("Users", "string", "Users in the binding"),
        Col::wide("Groups", "string", "Groups in the binding"),
        Col::wide(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the binding",
        ),
    ],
    cells: |binding, now| {
        let mut users = Vec::new();
        let mut groups = Vec::new();
        let mut accounts = Vec::new();
        for subject in list(binding, "/subjects") {
            let name = text(subject, "/name");
            match text(subject, "/kind") {
                "User" => users.push(name.to_owned()),
                "Group" => groups.push(name.to_owned()),
                "ServiceAccount" => {
                    accounts.push(format!("{}/{name}", text(subject, "/namespace")));
                }
                _ => {}
            }
        }
        vec![
            format::name(binding),
            json!(format!(
                "{}/{}",
                text(binding, "/roleRef/kind"),
                text(binding, "/roleRef/name")
            )),
            json!(format::age(binding, now)),
            json!(users.join(", ")),
            json!(groups.join(", ")),
            json!(accounts.join(", ")),
        ]
    },
};

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn data_counts() {
        let cm = json!({ "metadata": { "name": "settings", "creationTimestamp": "2026-02-26T12:00:00Z" },
                         "data": { "a": "1", "b": "2" }, "binaryData": { "c": "AA==" } });
        assert_eq!(
            (CONFIG_MAPS.cells)(&cm, now()),
            vec![json!("settings"), json!(3), json!("3d")]
        );
        let secret = json!({ "metadata": { "name": "db" }, "type": "Opaque", "data": { "password": "cA==" } });
        assert_eq!(
            &(SECRETS.cells)(&secret, now())[1..3],
            &[json!("Opaque"), json!(1)]
        );
        let sa = json!({ "metadata": { "name": "default" } });
        assert_eq!((SERVICE_ACCOUNTS.cells)(&sa, now())[1], 0);
    }

    #[test]
    fn claims_show_the_volume_once_bound() {
        let pending = json!({ "metadata": { "name": "data-db-0" },
                              "spec": { "storageClassName": "gp3", "resources": { "requests": { "storage": "1Gi" } } },
                              "status": { "phase": "Pending" } });
        assert_eq!(
            (PERSISTENT_VOLUME_CLAIMS.cells)(&pending, now())[1..7],
            [
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("gp3"),
                json!("<unset>")
            ]
        );
        let bound = json!({ "metadata": { "name": "data-db-0" },
                            "spec": { "storageClassName": "gp3", "volumeName": "pvc-1", "volumeMode": "Filesystem" },
                            "status": { "phase": "Bound", "capacity": { "storage": "1Gi" },
                                        "accessModes": ["ReadWriteMany", "ReadWriteOnce"] } });
        let cells = (PERSISTENT_VOLUME_CLAIMS.cells)(&bound, now());
        assert_eq!(
            &cells[1..5],
            &[
                json!("Bound"),
                json!("pvc-1"),
                json!("1Gi"),
                json!("RWO,RWX")
            ]
        );
        assert_eq!(cells[8], "Filesystem");
    }

    #[test]
    fn bindings_sort_subjects_by_kind() {
        let binding = json!({
            "metadata": { "name": "deployers" },
            "roleRef": { "kind": "ClusterRole", "name": "edit" },
            "subjects": [
                { "kind": "User", "name": "alice" },
                { "kind": "ServiceAccount", "name": "ci", "namespace": "build" },
                { "kind": "Group", "name": "ops" },
                { "kind": "User", "name": "bob" },
            ],
        });
        let cells = (ROLE_BINDINGS.cells)(&binding, now());
        assert_eq!(cells[1], "ClusterRole/edit");
        assert_eq!(
            &cells[3..6],
            &[json!("alice, bob"), json!("ops"), json!("build/ci")]
        );
        let lease =
            json!({ "metadata": { "name": "lock" }, "spec": { "holderIdentity": "deployer-1" } });
        assert_eq!((LEASES.cells)(&lease, now())[1], "deployer-1");
    }
}
