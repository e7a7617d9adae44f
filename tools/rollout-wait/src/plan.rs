//! What a run waits for, from its input: the upstream document's objects, a recorded revision
//! (`--release`), or `KIND/NAME` arguments and selectors; each object resolved to its API
//! resource (known kinds from our table, others by discovery).

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use stage::StageError;

use crate::Cli;
use crate::target::{self, Arg, Target, Upstream, UpstreamObject};

/// What the wait is about: the targets, and the release revision to settle (if any).
#[derive(Debug, Default)]
pub struct Plan {
    pub targets: Vec<Target>,
    pub release: Option<(String, u32)>,
    /// Where to look for the release (see [`crate::release::find_namespace`]).
    pub release_namespaces: Vec<String>,
    pub dry_run: bool,
    /// The objects the upstream document names, which must be the revision's own to settle it.
    pub named: Option<Vec<cluster::OwnedObject>>,
}

/// The targets of an upstream document (pruned objects are gone on purpose and not watched).
pub async fn from_upstream(
    client: &kube::Client,
    namespace: &str,
    cli: &Cli,
    doc: Upstream,
) -> Result<Plan, StageError> {
    if let (Some(ours), Some(theirs)) = (&cli.release, &doc.release)
        && ours != theirs
    {
        tracing::warn!(
            "--release (or PIPEWRIGHT_RELEASE) says {ours}, the upstream document {theirs}: following the document"
        );
    }
    let named = crate::release::named(&doc);
    let objects: Vec<UpstreamObject> = doc
        .objects
        .into_iter()
        .filter(|o| !matches!(o.action.as_deref(), Some("pruned" | "deleted")))
        .collect();
    let targets = resolve(client, namespace, &objects).await?;
    let mut candidates = Vec::new();
    // k8s-apply says where the release lives; older documents do not, and then `-n`, the
    // context's namespace and the objects' namespaces are tried in turn.
    if let Some(ns) = doc
        .release_namespace
        .or_else(|| cli.cluster.namespace.clone())
    {
        candidates.push(ns);
    } else {
        candidates.push(namespace.to_owned());
        for object in &objects {
            if let Some(ns) = &object.namespace
                && !candidates.contains(ns)
            {
                candidates.push(ns.clone());
            }
        }
    }
    Ok(Plan {
        targets,
        release: doc.release.zip(doc.revision),
        release_namespaces: candidates,
        dry_run: doc.dry_run,
        named: Some(named),
    })
}

/// The targets of a release's recorded revision (`--release`, no upstream document).
pub async fn from_release(
    client: &kube::Client,
    namespace: &str,
    cli: &Cli,
) -> Result<Plan, StageError> {
    let Some(release) = &cli.release else {
        return Ok(Plan::default());
    };
    let history = cluster::ReleaseHistory::new(client, namespace, release)?;
    let record = match cli.revision {
        Some(revision) => history.get(revision).await?,
        None => history.latest().await?,
    };
    let Some(record) = record else {
        return Err(StageError::invalid_input(format!(
            "release {release} has {} in namespace {namespace}",
            cli.revision
                .map_or_else(|| "no revisions".to_owned(), |r| format!("no revision {r}"))
        ))
        .with_hint("pass the release's namespace with -n, as given to k8s-apply"));
    };
    let objects: Vec<UpstreamObject> = record
        .objects
        .iter()
        .map(|o| UpstreamObject {
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            namespace: o.namespace.clone(),
            name: o.name.clone(),
            action: None,
        })
        .collect();
    Ok(Plan {
        targets: resolve(client, namespace, &objects).await?,
        release: Some((release.clone(), record.revision)),
        release_namespaces: vec![namespace.to_owned()],
        dry_run: false,
        named: None,
    })
}

/// API resources for upstream objects: known kinds from our table, others from discovery.
/// Each kind to discover is asked for once, all at the same time: one round trip at start-up
/// rather than one per kind (a rollback's wait is healthy as soon as it starts, so its start-up
/// is the whole wait).
async fn resolve(
    client: &kube::Client,
    namespace: &str,
    objects: &[UpstreamObject],
) -> Result<Vec<Target>, StageError> {
    // Each object's resource: ours at once, or which of the kinds to discover it is.
    let mut unknown: Vec<&UpstreamObject> = Vec::new();
    let mut slots: Vec<Result<(ApiResource, bool), usize>> = Vec::with_capacity(objects.len());
    for object in objects {
        if let Some(known) = target::KnownKind::by_group_kind(object.group(), &object.kind) {
            let mut resource = known.resource();
            resource.api_version.clone_from(&object.api_version);
            object
                .api_version
                .rsplit('/')
                .next()
                .unwrap_or(known.version)
                .clone_into(&mut resource.version);
            slots.push(Ok((resource, known.namespaced)));
        } else if let Some(i) = unknown.iter().position(|o| same_kind(o, object)) {
            slots.push(Err(i));
        } else {
            slots.push(Err(unknown.len()));
            unknown.push(object);
        }
    }
    // One discovery for every group version of them, all at once.
    let discovered = if unknown.is_empty() {
        Vec::new()
    } else {
        let mut api_versions: Vec<String> = unknown.iter().map(|o| o.api_version.clone()).collect();
        api_versions.sort();
        api_versions.dedup();
        let kinds = cluster::Kinds::discover(client, &api_versions).await?;
        // The first kind missing, in the document's order, is the one reported.
        unknown
            .iter()
            .map(|object| served(&kinds, object))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut targets = Vec::with_capacity(objects.len());
    for (object, slot) in objects.iter().zip(slots) {
        let (resource, namespaced) = slot.unwrap_or_else(|i| discovered[i].clone());
        targets.push(Target {
            rule: target::rule_for(object.group(), &object.kind),
            namespace: namespaced.then(|| {
                object
                    .namespace
                    .clone()
                    .unwrap_or_else(|| namespace.to_owned())
            }),
            name: object.name.clone(),
            resource,
        });
    }
    Ok(targets)
}

fn same_kind(a: &UpstreamObject, b: &UpstreamObject) -> bool {
    a.api_version == b.api_version && a.kind == b.kind
}

/// The API resource of a kind we do not know, and whether it is namespaced, as discovered.
fn served(
    kinds: &cluster::Kinds,
    object: &UpstreamObject,
) -> Result<(ApiResource, bool), StageError> {
    let (api_version, kind) = (object.api_version.as_str(), object.kind.as_str());
    match (
        kinds.resource(api_version, kind),
        kinds.namespaced(api_version, kind),
    ) {
        (Some(resource), Some(namespaced)) => Ok((resource.clone(), namespaced)),
        _ => Err(StageError::failed(format!(
            "finding the resource of {api_version} {kind}: this cluster does not serve it"
        ))
        .with_hint("the upstream document names a kind this cluster does not serve")),
    }
}

/// The targets of `KIND/NAME` arguments, or of kinds listed with a selector.
pub async fn from_args(
    client: &kube::Client,
    namespace: &str,
    cli: &Cli,
    args: &[Arg],
) -> Result<Plan, StageError> {
    let mut targets = Vec::new();
    for arg in args {
        match arg {
            Arg::Named(kind, name) => targets.push(Target {
                resource: kind.resource(),
                namespace: kind.namespaced.then(|| namespace.to_owned()),
                name: name.clone(),
                rule: kind.rule,
            }),
            Arg::Kind(kind) => {
                let selector = cli.selector.as_deref().unwrap_or_default();
                let resource = kind.resource();
                let api: Api<DynamicObject> = if kind.namespaced {
                    Api::namespaced_with(client.clone(), namespace, &resource)
                } else {
                    Api::all_with(client.clone(), &resource)
                };
                let what = format!("listing {} matching {selector}", kind.plural);
                let params = ListParams::default().labels(selector);
                let list = cluster::retry(&what, || api.list(&params))
                    .await
                    .map_err(|e| cluster::api_error(&what, &e))?;
                let mut names: Vec<String> = list
                    .items
                    .into_iter()
                    .filter_map(|o| o.metadata.name)
                    .collect();
                names.sort();
                if names.is_empty() {
                    tracing::warn!(
                        "no {} match {selector} in namespace {namespace}",
                        kind.plural
                    );
                }
                targets.extend(names.into_iter().map(|name| Target {
                    resource: resource.clone(),
                    namespace: kind.namespaced.then(|| namespace.to_owned()),
                    name,
                    rule: kind.rule,
                }));
            }
        }
    }
    if targets.is_empty() {
        return Err(StageError::invalid_input(format!(
            "no objects match the selector {} in namespace {namespace}",
            cli.selector.as_deref().unwrap_or_default()
        ))
        .with_hint("check the selector and -n"));
    }
    Ok(Plan {
        targets,
        ..Plan::default()
    })
}
