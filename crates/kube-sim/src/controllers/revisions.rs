//! ControllerRevisions, the history of a StatefulSet's or DaemonSet's pod templates: one per
//! distinct template, named `<owner>-<hash>`, numbered in order; returning to an old template
//! renumbers its revision as the newest (what `rollout undo` relies on).

use serde_json::{Value, json};

use super::hash::{json_hash, safe_name};
use super::meta;
use super::pass::{Kind, Pass};

/// The revision for an owner's current template.
#[derive(Debug, Clone)]
pub struct Revision {
    pub name: String,
    pub hash: String,
}

/// Finds or creates the ControllerRevision for `owner`'s `spec.template`.
pub fn ensure(pass: &mut Pass<'_>, owner: &Value) -> Option<Revision> {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let hash = safe_name(json_hash(&template));
    let name = format!("{}-{hash}", meta::name(owner));
    let revisions = pass.owned(Kind::ControllerRevision, owner);
    let newest = revisions
        .iter()
        .map(|r| meta::int(r, "/revision", 0))
        .max()
        .unwrap_or(0);
    let existing = revisions
        .iter()
        .find(|r| template_of(r).as_ref() == Some(&template));
    if let Some(rev) = existing {
        let name = meta::name(rev).to_owned();
        if meta::int(rev, "/revision", 0) < newest {
            let mut renumbered = rev.clone();
            renumbered["revision"] = json!(newest + 1);
            pass.replace(Kind::ControllerRevision, renumbered);
        }
        let hash = meta::text(rev, "/metadata/labels/controller.kubernetes.io~1hash").to_owned();
        return Some(Revision { name, hash });
    }
    {
        let mut data_template = template;
        data_template["$patch"] = json!("replace");
        let mut labels = owner
            .pointer("/spec/selector/matchLabels")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        labels["controller.kubernetes.io/hash"] = json!(hash);
        let revision = json!({
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": name,
                "namespace": meta::namespace(owner),
                "labels": labels,
                "ownerReferences": meta::owner_reference(owner),
            },
            "data": { "spec": { "template": data_template } },
            "revision": newest + 1,
        });
        pass.create(Kind::ControllerRevision, meta::namespace(owner), revision)?;
        Some(Revision { name, hash })
    }
}

/// The pod template a revision recorded.
pub fn template_of(revision: &Value) -> Option<Value> {
    let mut template = revision.pointer("/data/spec/template").cloned()?;
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    Some(template)
}

/// The template of the revision named `name` among `owner`'s.
pub fn template_named(pass: &Pass<'_>, owner: &Value, name: &str) -> Option<Value> {
    pass.owned(Kind::ControllerRevision, owner)
        .iter()
        .find(|r| meta::name(r) == name)
        .and_then(template_of)
}
