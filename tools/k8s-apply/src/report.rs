//! What k8s-apply reports, beside the stage envelope: the [`Report`] every command prints, the
//! [`AppliedObject`]s in it and the [`Action`] taken on each; shared by apply, `diff`, rollback,
//! `history` and `uninstall`, so none of them imports another for its types.

use schemars::JsonSchema;
use serde::Serialize;

use crate::diff::Change;
use crate::images::ImageUse;
use crate::manifest::ObjectRef;

/// What an apply did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// The object did not exist before.
    Created,
    /// The object existed and the apply changed it (its resourceVersion moved).
    Configured,
    /// The object existed and the apply left it as it was.
    Unchanged,
    /// The previous revision of the release had the object and the new set has not: deleted
    /// (in a dry run, would be).
    Pruned,
    /// `k8s-apply uninstall` deleted the object (in a dry run, would delete it).
    Deleted,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Pruned => "pruned",
            Self::Deleted => "deleted",
        }
    }
}

/// One object of the set as the API server answered the apply.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedObject {
    pub api_version: String,
    pub kind: String,
    /// Absent for cluster-scoped kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    /// `metadata.generation`; absent for kinds the server does not version (ConfigMap, Secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    pub resource_version: String,
    pub action: Action,
    /// In a dry run (`--dry-run=server`, `diff`): what would change, by JSON pointer, Secret
    /// values redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<Change>>,
}

/// The report of one apply, beside the stage envelope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The release the set belongs to (`--release`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The namespace the release's records and deploy lock live in (with `--release`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_namespace: Option<String>,
    /// The revision this apply recorded (with `--release`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// The revision before it (with `--release`, when there was one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<u32>,
    /// The environment named with `--env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// True when nothing was written (`--dry-run=server`).
    pub dry_run: bool,
    /// Every object of the set, in apply order.
    pub objects: Vec<AppliedObject>,
    /// Every container image of the set, after `--set-image`.
    pub images: Vec<ImageUse>,
    /// `k8s-apply history`: the release's recorded revisions, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revisions: Option<Vec<crate::history::Revision>>,
}

/// The `kind.group/name` kubectl prints for an object.
pub(crate) fn display_name(key: &ObjectRef) -> String {
    let kind = key.kind.to_lowercase();
    let group = key.group();
    if group.is_empty() {
        format!("{kind}/{}", key.name)
    } else {
        format!("{kind}.{group}/{}", key.name)
    }
}
