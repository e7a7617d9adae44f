//! The apply path: connect, discover which kinds the cluster serves, check the set, then
//! server-side apply it phase by phase and report what each object went through.
//!
//! Every input problem is found before the first write, so a bad set changes nothing (exit 2).
//! Within a phase objects go concurrently, a few at a time: a set of a hundred objects should not
//! take a hundred round trips in a row, nor open a hundred requests against a small API server.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersion};
use schemars::JsonSchema;
use serde::Serialize;
use stage::{Ctx, Failed, StageError, StageResult};

use crate::diff::{self, Change};
use crate::images::{self, ImageUse};
use crate::manifest::{self, Manifest, Namespacing, ObjectRef};
use crate::normalize::normalize;
use crate::order::{self, Phase};
use crate::{ApplyArgs, prune, release};

/// How many objects of one phase are in flight at once.
const PARALLELISM: usize = 8;

/// How long a CRD of the set may take to become Established before its custom resources go.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_mins(1);

/// Whether to change the cluster or only show what would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    /// `k8s-apply diff`: a server dry run, each change shown, exit 1 when anything would change.
    Diff,
}

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
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Pruned => "pruned",
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

/// The kinds the cluster serves, from discovery.
struct Kinds {
    resources: HashMap<(String, String), (ApiResource, bool)>,
}

impl Kinds {
    /// Looks up the group versions the set uses, one request each, every one retried on its
    /// own: a full discovery is dozens of requests, and one flaky answer among them should not
    /// cost all of them again. A group version the server does not serve (404) has no kinds.
    async fn discover(client: &kube::Client, api_versions: &[String]) -> Result<Self, StageError> {
        let mut resources = HashMap::new();
        for api_version in api_versions {
            let what = format!("discovering the kinds of {api_version}");
            let listed = cluster::retry(&what, || async {
                let answer = if api_version.contains('/') {
                    client.list_api_group_resources(api_version).await
                } else {
                    client.list_core_api_resources(api_version).await
                };
                match answer {
                    Ok(list) => Ok(Some(list)),
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
                    Err(err) => Err(err),
                }
            })
            .await
            .map_err(|err| cluster::api_error(&what, &err))?;
            let Some(list) = listed else { continue };
            let Ok(gv) = api_version.parse::<GroupVersion>() else {
                continue;
            };
            // Subresources (`deployments/scale`) share their parent's kind; skip them.
            for resource in list.resources.iter().filter(|r| !r.name.contains('/')) {
                let gvk = gv.clone().with_kind(&resource.kind);
                resources.insert(
                    (api_version.clone(), resource.kind.clone()),
                    (
                        ApiResource::from_gvk_with_plural(&gvk, &resource.name),
                        resource.namespaced,
                    ),
                );
            }
        }
        Ok(Self { resources })
    }

    fn namespaced(&self, api_version: &str, kind: &str) -> Option<bool> {
        self.resources
            .get(&(api_version.to_owned(), kind.to_owned()))
            .map(|(_, namespaced)| *namespaced)
    }

    fn resource(&self, key: &ObjectRef) -> Option<&ApiResource> {
        self.resources
            .get(&(key.api_version.clone(), key.kind.clone()))
            .map(|(resource, _)| resource)
    }
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

/// Runs an apply; see the module header.
pub async fn run(args: &ApplyArgs, ctx: &Ctx, mode: Mode) -> StageResult<Report> {
    let mut args = args.clone();
    if mode == Mode::Diff {
        args.dry_run = Some("server".to_owned());
    }
    let args = &args;
    let mut report = Report {
        release: args.release.clone(),
        environment: args.environment.clone(),
        dry_run: args.dry_run.is_some(),
        ..Report::default()
    };
    match apply(args, ctx, &mut report).await {
        Ok(()) if mode == Mode::Diff => {
            let changing = report
                .objects
                .iter()
                .filter(|o| o.action != Action::Unchanged)
                .count();
            if changing == 0 {
                tracing::info!("no changes");
                Ok(report)
            } else {
                let plural = if changing == 1 { "" } else { "s" };
                // Exit 1 like diff(1): scripts test "would anything change?" by the status.
                let error = StageError::failed(format!("{changing} object{plural} would change"))
                    .with_hint("apply without `diff` to make these changes");
                Err(Failed::with_report(error, report))
            }
        }
        Ok(()) => Ok(report),
        Err(error) if report.objects.is_empty() => Err(error.into()),
        Err(error) => Err(Failed::with_report(error, report)),
    }
}

async fn apply(args: &ApplyArgs, ctx: &Ctx, report: &mut Report) -> Result<(), StageError> {
    let loaded = read_input(args, ctx)?;

    let connection = cluster::connect(ctx, &args.cluster).await?;
    tracing::debug!("connected to {}", connection.describe());
    let client = connection.client.clone();
    let mut api_versions: Vec<String> = loaded.kinds().into_iter().map(|(v, _)| v).collect();
    // The previous revision is read before anything is written: its objects' kinds must be
    // discovered too, and `--max-prune` must refuse while nothing has changed yet.
    let previous = prune::previous_for(args, &client, &connection.namespace).await?;
    if let Some(previous) = &previous {
        api_versions.extend(previous.objects.iter().map(|o| o.api_version.clone()));
        api_versions.sort();
    }
    api_versions.dedup();
    let mut kinds = Kinds::discover(&client, &api_versions).await?;

    let namespacing = Namespacing {
        default: &connection.namespace,
        explicit: args.cluster.namespace.is_some(),
    };
    let mut set = loaded.resolve(&namespacing, |api_version, kind| {
        kinds.namespaced(api_version, kind)
    })?;
    if let Some(release) = &args.release {
        cluster::names::check_release_name(release)?;
        release::label_members(&mut set, release, &connection.namespace);
    }
    for change in images::set_images(&mut set, &args.set_image)? {
        tracing::info!(
            "{}: container {} image {} -> {}",
            change.object,
            change.container,
            change.from,
            change.to
        );
    }
    if let Some(tag) = &args.expect_tag {
        images::check_tags(&set, tag)?;
    }
    report.images = images::images(&set);

    let to_prune = prune::prepare(
        args,
        &client,
        &connection.namespace,
        previous.as_ref(),
        &set,
        |key| kinds.resource(key).cloned(),
    )
    .await?;

    let params = patch_params(args);

    let mut early = Vec::new();
    let session = match &args.release {
        Some(release) if args.dry_run.is_none() => {
            // The lock and the records live in the release's namespace, so it must exist
            // first; applying the set's own Namespace object early is idempotent and harmless
            // outside the lock.
            if let Some(own) = set.iter().find(|m| {
                m.key.kind == "Namespace"
                    && m.key.group().is_empty()
                    && m.key.name == connection.namespace
            }) {
                early.push(apply_one(&client, &kinds, &params, own).await?);
            }
            let images: BTreeSet<String> = report.images.iter().map(|i| i.image.clone()).collect();
            let session = release::begin(
                args,
                ctx,
                &client,
                release,
                &connection.namespace,
                &set,
                &images,
            )
            .await?;
            report.revision = Some(session.revision);
            report.previous_revision = session.previous_revision;
            Some(session)
        }
        _ => None,
    };

    let outcome = apply_phases(
        ctx,
        &client,
        &mut kinds,
        &api_versions,
        &params,
        &set,
        early,
        report,
    )
    .await;
    // Only once the whole new set is in place: an apply that failed half-way must not also take
    // away the old objects its replacements were meant to stand in for.
    let outcome = match outcome {
        Ok(()) => prune::execute(&client, &to_prune, args.dry_run.is_some())
            .await
            .map(|pruned| report.objects.extend(pruned)),
        Err(error) => Err(error),
    };
    if let Some(session) = session {
        session
            .finish(outcome.as_ref().copied(), &report.objects)
            .await?;
    }
    outcome
}

/// The server-side apply parameters the flags ask for.
fn patch_params(args: &ApplyArgs) -> PatchParams {
    let mut params = PatchParams::apply(&args.field_manager);
    if args.force_conflicts {
        params = params.force();
    }
    if args.dry_run.is_some() {
        params = params.dry_run();
    }
    params
}

/// Reads `-f` and masks the input's Secret values; see [`apply`].
fn read_input(args: &ApplyArgs, ctx: &Ctx) -> Result<manifest::Loaded, StageError> {
    // The input is read before connecting, so that its Secret values are masked (below) before
    // anything, a connection error included, could be printed.
    let mut stdin: Box<dyn Read> = if args.reads_stdin() {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::io::empty())
    };
    let loaded = manifest::load(&args.inputs(), args.recursive, &mut stdin);
    // Secret values of the input are masked from here on, whatever prints them (an error
    // message quoting a document included).
    let objects: Vec<serde_json::Value> = loaded
        .documents()
        .iter()
        .map(|d| d.object.clone())
        .collect();
    for secret in cluster::ManifestSet::new(objects).secret_values() {
        ctx.register_secret(&secret);
    }
    if let Some(tag) = &args.expect_tag {
        images::parse_expected_tag(tag).map_err(|err| StageError::usage(err.to_string()))?;
    }
    Ok(loaded)
}

/// Applies the set phase by phase; `early` holds objects already applied (the release's own
/// Namespace), which are reported in their place rather than sent twice.
#[allow(clippy::too_many_arguments)]
async fn apply_phases(
    ctx: &Ctx,
    client: &kube::Client,
    kinds: &mut Kinds,
    api_versions: &[String],
    params: &PatchParams,
    set: &manifest::ManifestSet,
    mut early: Vec<AppliedObject>,
    report: &mut Report,
) -> Result<(), StageError> {
    for step in order::phases(set.manifests()) {
        let _group = ctx.group(step.phase.name());
        let (done, todo): (Vec<&Manifest>, Vec<&Manifest>) = step.items.iter().partition(|m| {
            early.iter().any(|e| {
                e.kind == m.key.kind && e.name == m.key.name && e.api_version == m.key.api_version
            })
        });
        for manifest in done {
            if let Some(position) = early
                .iter()
                .position(|e| e.kind == manifest.key.kind && e.name == manifest.key.name)
            {
                report.objects.push(early.remove(position));
            }
        }
        let kinds_now: &Kinds = kinds;
        let results: Vec<Result<AppliedObject, StageError>> = stream::iter(todo)
            .map(|manifest| apply_one(client, kinds_now, params, manifest))
            .buffered(PARALLELISM)
            .collect()
            .await;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(applied) => report.objects.push(applied),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        if step.phase == Phase::Definitions && !params.dry_run {
            for manifest in &step.items {
                if manifest.key.kind == "CustomResourceDefinition" {
                    wait_established(client, &manifest.key.name).await?;
                }
            }
            // The new kinds are served now; look them up again so their objects can be sent.
            *kinds = Kinds::discover(client, api_versions).await?;
        }
    }
    Ok(())
}

async fn apply_one(
    client: &kube::Client,
    kinds: &Kinds,
    params: &PatchParams,
    manifest: &Manifest,
) -> Result<AppliedObject, StageError> {
    let key = &manifest.key;
    let shown = display_name(key);
    let resource = match kinds.resource(key) {
        Some(resource) => resource.clone(),
        // A kind defined by a CRD of a dry run's set is not served; build its path by convention
        // so that the server answers for it.
        None => fallback_resource(key)?,
    };
    let api: Api<DynamicObject> = match &key.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let what = format!("applying {shown}");
    let before = cluster::retry(&what, || api.get_opt(&key.name))
        .await
        .map_err(|err| cluster::api_error(&what, &err))?;
    let patch = Patch::Apply(&manifest.object);
    let after = cluster::retry(&what, || api.patch(&key.name, params, &patch))
        .await
        .map_err(|err| conflict_error(&what, &err))?;
    let mut action = action(before.as_ref(), &after);
    let changes = if params.dry_run {
        let live = before.as_ref().and_then(|b| serde_json::to_value(b).ok());
        let planned = serde_json::to_value(&after).ok().unwrap_or_default();
        let shown = diff::diff(live.as_ref(), &planned);
        // A dry run keeps the live resourceVersion, so only the content says what would change.
        if before.is_some() {
            action = if shown.changed {
                Action::Configured
            } else {
                Action::Unchanged
            };
        }
        if shown.changed {
            // Redacted by the diff module before rendering: no Secret value reaches stderr.
            tracing::info!("{}", shown.unified.trim_end());
        }
        Some(shown.changes)
    } else {
        None
    };
    let resource_version = after.metadata.resource_version.unwrap_or_default();
    let dry = if params.dry_run {
        " (server dry run)"
    } else {
        ""
    };
    tracing::info!("{shown} {}{dry}", action.as_str());
    Ok(AppliedObject {
        api_version: key.api_version.clone(),
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        uid: after.metadata.uid.unwrap_or_default(),
        generation: after.metadata.generation,
        resource_version,
        action,
        changes,
    })
}

/// What the apply did, from the object before and after it.
///
/// The same resourceVersion is the API server's own word for "nothing changed". A new one with
/// nothing but server-kept fields different (the timestamp of a managedFields entry, a status a
/// controller rewrote in between) is no change of ours either, so the objects are compared too.
fn action(before: Option<&DynamicObject>, after: &DynamicObject) -> Action {
    let Some(before) = before else {
        return Action::Created;
    };
    if before.metadata.resource_version == after.metadata.resource_version {
        return Action::Unchanged;
    }
    match (serde_json::to_value(before), serde_json::to_value(after)) {
        (Ok(old), Ok(new)) if normalize(&old) == normalize(&new) => Action::Unchanged,
        _ => Action::Configured,
    }
}

/// The error for a refused apply; a field-manager conflict gets a hint on how to take over.
fn conflict_error(what: &str, err: &kube::Error) -> StageError {
    let error = cluster::api_error(what, err);
    match err {
        kube::Error::Api(status) if status.code == 409 => error.with_hint(
            "another field manager owns these fields; change them through that manager, or \
             re-run with --force-conflicts to take them over",
        ),
        _ => error,
    }
}

/// The resource of a kind discovery does not list: lowercase plural by the CRD convention.
fn fallback_resource(key: &ObjectRef) -> Result<ApiResource, StageError> {
    let gv: GroupVersion = key.api_version.parse().map_err(|_| {
        StageError::invalid_input(format!(
            "{key}: apiVersion {:?} is not valid",
            key.api_version
        ))
    })?;
    let plural = format!("{}s", key.kind.to_lowercase());
    Ok(ApiResource::from_gvk_with_plural(
        &gv.with_kind(&key.kind),
        &plural,
    ))
}

/// Waits until the CRD's `Established` condition is true.
async fn wait_established(client: &kube::Client, name: &str) -> Result<(), StageError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let what = format!("waiting for CustomResourceDefinition {name} to be established");
    let deadline = tokio::time::Instant::now() + ESTABLISHED_TIMEOUT;
    loop {
        let crd = cluster::retry(&what, || api.get(name))
            .await
            .map_err(|err| cluster::api_error(&what, &err))?;
        let established =
            crd.status
                .and_then(|status| status.conditions)
                .is_some_and(|conditions| {
                    conditions
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
        if established {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StageError::failed(format!(
                "{what}: not established after {}s",
                ESTABLISHED_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
