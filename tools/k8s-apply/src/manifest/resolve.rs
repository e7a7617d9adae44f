//! Resolving loaded documents into a [`ManifestSet`]: each object checked, placed in its
//! namespace by discovery or the set's own CRDs, duplicates found, every problem reported.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::names::is_dns_label;

use super::checks::{Fields, KindKey, check_object, crd_kinds};
use super::{
    Document, Loaded, Manifest, ManifestErrors, ManifestSet, Namespacing, ObjectRef, Origin,
    Problem,
};

impl Loaded {
    /// Checks every object and decides its namespace.
    ///
    /// `is_namespaced(api_version, kind)` is the cluster's answer from discovery (`None`: the
    /// cluster does not serve that kind). CustomResourceDefinitions in the set are consulted
    /// first, since they describe the kinds as they will be once the set is applied.
    pub fn resolve(
        self,
        namespacing: &Namespacing<'_>,
        is_namespaced: impl Fn(&str, &str) -> Option<bool>,
    ) -> Result<ManifestSet, ManifestErrors> {
        let mut problems = self.problems;
        if !is_dns_label(namespacing.default) {
            problems.push(Problem {
                origin: None,
                message: format!(
                    "namespace {:?} (from --namespace or the kubeconfig context) is not a valid namespace; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
                    namespacing.default
                ),
            });
        }
        let mut checked = Vec::new();
        for doc in self.documents {
            let mut found = Vec::new();
            let fields = check_object(&doc.object, &mut found);
            problems.extend(found.into_iter().map(|message| Problem {
                origin: Some(doc.origin.clone()),
                message,
            }));
            if let Some(fields) = fields {
                checked.push((doc, fields));
            }
        }
        let defined = crd_scopes(&checked, &mut problems);

        let mut unknown: BTreeMap<KindKey, Vec<Origin>> = BTreeMap::new();
        let mut seen: HashMap<(String, String, Option<String>, String), Origin> = HashMap::new();
        let mut manifests = Vec::new();
        for (mut doc, fields) in checked {
            let scope = defined
                .get(&(fields.api_version.clone(), fields.kind.clone()))
                .copied()
                .or_else(|| is_namespaced(&fields.api_version, &fields.kind));
            let Some(namespaced) = scope else {
                unknown
                    .entry((fields.api_version, fields.kind))
                    .or_default()
                    .push(doc.origin);
                continue;
            };
            let namespace = match place(&mut doc.object, &fields, namespaced, namespacing) {
                Ok(namespace) => namespace,
                Err(message) => {
                    problems.push(Problem {
                        origin: Some(doc.origin),
                        message,
                    });
                    continue;
                }
            };
            let key = ObjectRef {
                api_version: fields.api_version,
                kind: fields.kind,
                namespace,
                name: fields.name,
            };
            let identity = (
                key.group().to_owned(),
                key.kind.clone(),
                key.namespace.clone(),
                key.name.clone(),
            );
            if let Some(first) = seen.get(&identity) {
                problems.push(Problem {
                    origin: Some(doc.origin),
                    message: format!(
                        "{key} is also defined in {first}; each object may appear once, remove one of them"
                    ),
                });
                continue;
            }
            seen.insert(identity, doc.origin.clone());
            manifests.push(Manifest {
                origin: doc.origin,
                object: doc.object,
                key,
            });
        }
        problems.extend(unknown.into_iter().map(unknown_kind));

        if problems.is_empty() {
            Ok(ManifestSet { manifests })
        } else {
            Err(ManifestErrors { problems })
        }
    }
}

/// The kinds the set's own CustomResourceDefinitions define, with their scope; a CRD that is
/// wrong in a way that would make its kinds unusable is a problem.
pub(super) fn crd_scopes(
    checked: &[(Document, Fields)],
    problems: &mut Vec<Problem>,
) -> HashMap<KindKey, bool> {
    let mut defined = HashMap::new();
    for (doc, fields) in checked {
        if fields.group() == "apiextensions.k8s.io" && fields.kind == "CustomResourceDefinition" {
            match crd_kinds(&doc.object, &fields.name) {
                Ok(kinds) => defined.extend(kinds),
                Err(message) => problems.push(Problem {
                    origin: Some(doc.origin.clone()),
                    message,
                }),
            }
        }
    }
    defined
}

/// The namespace of an object whose scope is known. A namespaced object without one gets the
/// default, written into the object too; one with its own must agree with an explicit `-n`, as
/// kubectl requires, since applying it elsewhere than the user said is the wrong-environment
/// mistake the guards exist for.
pub(super) fn place(
    object: &mut Value,
    fields: &Fields,
    namespaced: bool,
    namespacing: &Namespacing<'_>,
) -> Result<Option<String>, String> {
    if !namespaced {
        return Ok(None);
    }
    match &fields.namespace {
        Some(own) if namespacing.explicit && own != namespacing.default => Err(format!(
            "metadata.namespace is {own:?} but --namespace is {:?}; drop one of them or make them agree",
            namespacing.default
        )),
        Some(own) => Ok(Some(own.clone())),
        None => {
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert(
                    "namespace".to_owned(),
                    Value::String(namespacing.default.to_owned()),
                );
            }
            Ok(Some(namespacing.default.to_owned()))
        }
    }
}

pub(super) fn unknown_kind(((api_version, kind), origins): (KindKey, Vec<Origin>)) -> Problem {
    let places: Vec<String> = origins.iter().map(ToString::to_string).collect();
    Problem {
        origin: None,
        message: format!(
            "unknown kind {kind} in {api_version} (used in {}): the cluster does not serve it and no CustomResourceDefinition in the set defines it; check apiVersion and kind, or add the CRD",
            places.join(", ")
        ),
    }
}
