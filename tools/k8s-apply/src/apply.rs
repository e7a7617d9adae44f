//! The apply path: connect, discover which kinds the cluster serves, check the set, then
//! server-side apply it phase by phase and report what each object went through.
//!
//! Every input problem is found before the first write, so a bad set changes nothing (exit 2).
//! Within a phase objects go concurrently, a few at a time: a set of a hundred objects should not
//! take a hundred round trips in a row, nor open a hundred requests against a small API server.
//!
//! Against a remote API server the time goes in round trips that wait one for another, so reads
//! that depend on nothing but the input go together: after connecting, the environment record,
//! the release's revisions, discovery, the release's Namespace and its deploy lock are read at
//! once; under the lock, the revisions again, the `ApplySet` parent and every object of the set.
//! Writes keep their order (docs/bench-pipeline.md lists the round trips): the lock before the
//! first write of the set, the parent and the revision record before any member, the record's
//! outcome after the last member.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use cluster::environment::{self, guard};
use cluster::{ReleaseHistory, ReleaseRecord};
use futures_util::StreamExt;
use futures_util::stream;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersion};
use stage::{Ctx, Failed, StageError, StageResult};

use crate::diff;
use crate::images;
use crate::limits;
use crate::manifest::{self, Manifest, Namespacing, ObjectRef};
use crate::normalize::normalize;
use crate::order::{self, Phase};
use crate::report::{Action, AppliedObject, Report, display_name};
use crate::snapshot::{Before, Snapshot};
use crate::{ApplyArgs, prune, release, rollback, secrets};
use cluster::Kinds;

/// How many objects of one phase are in flight at once: a phase of 50 objects takes two round
/// trips, and a small API server sees at most this many requests from us.
const PARALLELISM: usize = 32;

/// How long a CRD of the set may take to become Established before its custom resources go.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_mins(1);

/// Whether to change the cluster or only show what would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    /// `k8s-apply diff`: a server dry run, each change shown, exit 1 when anything would change.
    Diff,
}

/// What the set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetSource {
    /// The `-f` inputs.
    Files,
    /// A recorded revision of the release (`k8s-apply rollback`): the one named, else the last
    /// deployed one.
    Revision(Option<u32>),
}

/// Runs an apply; see the module header.
pub async fn run(
    args: &ApplyArgs,
    ctx: &Ctx,
    mode: Mode,
    source: SetSource,
) -> StageResult<Report> {
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
    match apply(args, ctx, source, &mut report).await {
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

async fn apply(
    args: &ApplyArgs,
    ctx: &Ctx,
    source: SetSource,
    report: &mut Report,
) -> Result<(), StageError> {
    let files = match source {
        SetSource::Files => Some(read_input(args, ctx)?),
        SetSource::Revision(_) => None,
    };

    let mut connection = cluster::connect_unchecked(ctx, &args.cluster).await?;
    let client = connection.client.clone();
    let history = release_history(args, &connection, report)?;
    let writes = args.dry_run.is_none();
    let locking = history.as_ref().filter(|_| writes);

    let FirstLook {
        source:
            SetAndHistory {
                loaded,
                mut records,
                source_revision,
            },
        mut kinds,
        seen,
    } = first_reads(
        args,
        ctx,
        &mut connection,
        files,
        source,
        history.as_ref(),
        locking,
        report,
    )
    .await?;

    let set = build_set(args, loaded, &kinds, &connection, report)?;

    let params = patch_params(args);
    let (early, held) = match (locking, seen) {
        (Some(history), Some(seen)) => {
            let (early, held) =
                take_lock(args, ctx, &connection, &kinds, &params, &set, history, seen).await?;
            (early, Some(held))
        }
        _ => (Vec::new(), None),
    };

    // Under the lock, before the first write of the set: what fails here gives the lock back,
    // since there is nothing for a rollout-wait or a rollback of this run to do.
    let locked = LockedReads {
        history: history.as_ref().filter(|_| held.is_some()),
        source,
        source_revision,
    };
    let read = read_under_lock(
        args,
        &connection,
        &set,
        &early,
        &mut kinds,
        &mut records,
        &locked,
    );
    let UnderLock {
        to_prune,
        parent,
        snapshot,
    } = match read.await {
        Ok(read) => read,
        Err(error) => return Err(release::give_back(held, error).await),
    };
    // Every write from here on is made only while the lock is still ours: a run whose lock was
    // taken over stops, naming the new holder, and writes nothing more (records included). A
    // round trip of its own, just before the first record write: confirmed together with the
    // reads above, a takeover during them would go unseen until the watch on the Lease told.
    let lock = held.as_ref().map(release::Held::check);
    if let Some(lock) = &lock {
        lock.confirm().await?;
    }
    let session = match (history, held) {
        (Some(history), Some(held)) => {
            let recording = release::Recording {
                set: &set,
                images: &report.images.iter().map(|i| i.image.clone()).collect(),
                records: &records,
                source_revision,
                environment: report.environment.clone(),
                parent,
            };
            let session = release::begin(args, ctx, &client, history, held, &recording).await?;
            (report.revision, report.previous_revision) =
                (Some(session.revision), session.previous_revision);
            Some(session)
        }
        _ => None,
    };

    let writing = Writing {
        client: &client,
        params: &params,
        lock: lock.as_ref(),
    };
    let outcome = apply_phases(ctx, &writing, &mut kinds, &set, &snapshot, early, report).await;
    // Only once the whole new set is in place: an apply that failed half-way must not also take
    // away the old objects its replacements were meant to stand in for.
    let outcome = match outcome {
        Ok(()) => prune_leftovers(&writing, &to_prune, args.dry_run.is_some(), report).await,
        Err(error) => Err(error),
    };
    if let Some(session) = session {
        settle(session, lock.as_ref(), outcome.as_ref().copied(), report).await?;
    }
    outcome
}

/// Deletes what the release's revisions owned and the new set has not (see [`prune`]).
async fn prune_leftovers(
    writing: &Writing<'_>,
    to_prune: &[prune::Candidate],
    dry_run: bool,
    report: &mut Report,
) -> Result<(), StageError> {
    let pruned = prune::execute(
        writing.client,
        to_prune,
        dry_run,
        Action::Pruned,
        writing.lock,
    )
    .await?;
    report.objects.extend(pruned);
    Ok(())
}

/// Records the revision's outcome. Only the lock's holder writes it: a run that lost the lock
/// leaves its revision `applying`, as a killed run would.
async fn settle(
    session: release::Session,
    lock: Option<&cluster::LockCheck>,
    outcome: Result<(), &StageError>,
    report: &Report,
) -> Result<(), StageError> {
    if let Some(lock) = lock {
        lock.confirm().await?;
    }
    session.finish(outcome, &report.objects).await
}

/// How the set's objects are written: the client, the apply's parameters, and under a release
/// the deploy lock, checked before every write.
struct Writing<'a> {
    client: &'a kube::Client,
    params: &'a PatchParams,
    lock: Option<&'a cluster::LockCheck>,
}

/// With `--release`: its history, in the connection's namespace (checks the release's name).
fn release_history(
    args: &ApplyArgs,
    connection: &cluster::Connection,
    report: &mut Report,
) -> Result<Option<ReleaseHistory>, StageError> {
    let Some(release) = &args.release else {
        return Ok(None);
    };
    report.release_namespace = Some(connection.namespace.clone());
    ReleaseHistory::new(&connection.client, &connection.namespace, release).map(Some)
}

/// Whether an applied object is the one `key` names.
fn same_key(applied: &AppliedObject, key: &ObjectRef) -> bool {
    applied.kind == key.kind && applied.name == key.name && applied.api_version == key.api_version
}

/// The release's own Namespace as it is, read with the first reads (for the apply before the
/// lock to tell created from unchanged without a read of its own).
async fn read_own_namespace(connection: &cluster::Connection) -> Result<Before, StageError> {
    let resource = ApiResource::erase::<Namespace>(&());
    let api: Api<DynamicObject> = Api::all_with(connection.client.clone(), &resource);
    let what = format!("reading namespace {}", connection.namespace);
    let found = cluster::retry(&what, || api.get_opt(&connection.namespace))
        .await
        .map_err(|err| cluster::api_error(&what, &err))?;
    Ok(Before::Listed(found.map(Box::new)))
}

/// What the first reads saw, for taking the lock without reading again.
struct Seen {
    /// `None`: no Lease (or no namespace) when read.
    lease: Option<Lease>,
    own_namespace: Before,
}

/// What the first reads found.
struct FirstLook {
    source: SetAndHistory,
    kinds: Kinds,
    /// With the lock to take.
    seen: Option<Seen>,
}

/// Every read that needs nothing but the input, at once: the connection check, the environment
/// guard, the release's revisions (for a dry run or a rollback), discovery, and for a release
/// apply its deploy lock and own Namespace. The connection check's verdict comes first (an
/// unreachable cluster is exit 3 with its own message), then the guard's: whatever else was
/// read, the wrong cluster gets no write from this run.
#[allow(clippy::too_many_arguments)]
async fn first_reads(
    args: &ApplyArgs,
    ctx: &Ctx,
    connection: &mut cluster::Connection,
    files: Option<manifest::Loaded>,
    source: SetSource,
    history: Option<&ReleaseHistory>,
    locking: Option<&ReleaseHistory>,
    report: &mut Report,
) -> Result<FirstLook, StageError> {
    let client = &connection.client;
    let input_versions: Option<Vec<String>> = files.as_ref().map(|loaded| {
        let mut versions: Vec<String> = loaded.kinds().into_iter().map(|(v, _)| v).collect();
        versions.dedup();
        versions
    });
    // Only a set that holds the release's Namespace reads it (a deployer may not be allowed to).
    let has_own_namespace = files.as_ref().is_some_and(|loaded| {
        loaded.documents().iter().any(|doc| {
            doc.object.get("apiVersion").and_then(|v| v.as_str()) == Some("v1")
                && doc.object.get("kind").and_then(|v| v.as_str()) == Some("Namespace")
                && doc
                    .object
                    .pointer("/metadata/name")
                    .and_then(|v| v.as_str())
                    == Some(connection.namespace.as_str())
        })
    });
    // Under the lock the revisions are read again: reading them now too is only needed without
    // one (a dry run) or to find what a rollback restores.
    let list_now = locking.is_none() || source != SetSource::Files;
    let (checked, guarded, source_read, discovered, lease, own_namespace) = tokio::join!(
        connection.check(),
        async {
            // Every write names the environment of a cluster that has one; a dry run writes
            // nothing, so it is checked only when it names one.
            match (&args.environment, args.dry_run.is_none()) {
                (Some(environment), _) => guard(connection, Some(environment)).await,
                (None, true) => guard(connection, None).await,
                (None, false) => Ok(()),
            }
        },
        read_source(ctx, files, source, history.filter(|_| list_now), report),
        async {
            match &input_versions {
                Some(versions) => Kinds::discover(client, versions).await,
                None => Kinds::discover(client, &[]).await,
            }
        },
        async {
            match locking {
                Some(history) => {
                    cluster::lock::peek(client, history.namespace(), history.release()).await
                }
                None => Ok(None),
            }
        },
        async {
            if locking.is_some() && has_own_namespace {
                read_own_namespace(connection).await
            } else {
                Ok(Before::Unread)
            }
        },
    );
    let server_version = checked?;
    guarded?;
    let source = source_read?;
    let mut kinds = discovered?;
    let mut api_versions: Vec<String> = source.loaded.kinds().into_iter().map(|(v, _)| v).collect();
    api_versions.extend(record_api_versions(&source.records));
    kinds.add(client, &api_versions).await?;
    let seen = match locking {
        Some(_) => Some(Seen {
            lease: lease?,
            own_namespace: own_namespace?,
        }),
        None => None,
    };
    connection.server_version = server_version;
    Ok(FirstLook {
        source,
        kinds,
        seen,
    })
}

/// What [`read_under_lock`] needs besides the set.
struct LockedReads<'a> {
    /// The release, when its lock is held.
    history: Option<&'a ReleaseHistory>,
    source: SetSource,
    source_revision: Option<u32>,
}

/// What was read under the lock.
struct UnderLock {
    to_prune: Vec<prune::Candidate>,
    /// The `ApplySet` parent.
    parent: Option<k8s_openapi::api::core::v1::Secret>,
    /// Every object of the set, as it was (what tells created from configured from unchanged).
    snapshot: Snapshot,
}

/// Reads at once, under the lock: the release's revisions again (another run may have recorded
/// some while this one waited), the `ApplySet` parent, and every object of the set but those
/// applied before the lock; then plans the pruning.
#[allow(clippy::too_many_arguments)]
async fn read_under_lock(
    args: &ApplyArgs,
    connection: &cluster::Connection,
    set: &manifest::ManifestSet,
    early: &[AppliedObject],
    kinds: &mut Kinds,
    records: &mut Vec<ReleaseRecord>,
    locked: &LockedReads<'_>,
) -> Result<UnderLock, StageError> {
    let client = &connection.client;
    let mut parent = None;
    let unread: Vec<&Manifest> = set
        .manifests()
        .iter()
        .filter(|m| !early.iter().any(|e| same_key(e, &m.key)))
        .collect();
    let snapshot = if let Some(history) = locked.history {
        let kinds_now: &Kinds = kinds;
        let (listed, read_parent, snapshot) = tokio::join!(
            history.list(),
            release::read_parent(client, history.release(), history.namespace()),
            Snapshot::read(client, &unread, |key| kinds_now
                .resource(&key.api_version, &key.kind)
                .cloned()),
        );
        *records = listed?;
        parent = read_parent?;
        let snapshot = snapshot?;
        kinds.add(client, &record_api_versions(records)).await?;
        if let Some(chosen) = locked.source_revision {
            let to = source_rollback_to(locked.source);
            rollback::still_the_target(history, records, to, chosen)?;
        }
        snapshot
    } else {
        Snapshot::read(client, &unread, |key| {
            kinds.resource(&key.api_version, &key.kind).cloned()
        })
        .await?
    };
    let kinds_now: &Kinds = kinds;
    let resource = |key: &ObjectRef| kinds_now.resource(&key.api_version, &key.kind).cloned();
    let trusted = release::trusted(records);
    let to_prune =
        prune::prepare(args, client, &connection.namespace, &trusted, set, resource).await?;
    Ok(UnderLock {
        to_prune,
        parent,
        snapshot,
    })
}

/// Checks the set against what the cluster serves, labels it as the release's, sets and checks
/// its images (into `report.images`).
fn build_set(
    args: &ApplyArgs,
    loaded: manifest::Loaded,
    kinds: &Kinds,
    connection: &cluster::Connection,
    report: &mut Report,
) -> Result<manifest::ManifestSet, StageError> {
    let namespacing = Namespacing {
        default: &connection.namespace,
        explicit: args.cluster.namespace.is_some(),
    };
    let mut set = loaded.resolve(&namespacing, |api_version, kind| {
        kinds.namespaced(api_version, kind)
    })?;
    // Only init-cluster writes the environment record: a set that did could relabel the cluster.
    if let Some(record) = set.iter().find(|m| {
        let key = &m.key;
        environment::is_record(
            &key.api_version,
            &key.kind,
            key.namespace.as_deref(),
            &key.name,
        )
    }) {
        return Err(environment::record_in_set_error(&format!(
            "{} ({})",
            record.key, record.origin
        )));
    }
    secrets::fold_string_data(&mut set);
    if let Some(release) = &args.release {
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
        images::check_tags(&set, tag, &args.expect_tag_for)?;
    }
    report.images = images::images(&set);
    // Every limit the input can break is checked before the first write (the release's
    // Namespace and lock come next): a refused set leaves nothing behind.
    if let (Some(release), None) = (&args.release, &args.dry_run) {
        let images = report.images.iter().map(|i| i.image.clone()).collect();
        let environment = report.environment.as_deref();
        limits::check_record_size(&set, release, &connection.namespace, &images, environment)?;
    }
    Ok(set)
}

/// The set as read, and what the release recorded so far.
struct SetAndHistory {
    loaded: manifest::Loaded,
    /// The release's revisions, oldest first.
    records: Vec<ReleaseRecord>,
    /// For a rollback: the revision the set comes from.
    source_revision: Option<u32>,
}

/// Reads the release's revisions, and for a rollback the set from one of them. Before anything
/// is written: the revisions' kinds must be discovered too, and `--max-prune` must refuse while
/// nothing has changed yet.
async fn read_source(
    ctx: &Ctx,
    files: Option<manifest::Loaded>,
    source: SetSource,
    history: Option<&ReleaseHistory>,
    report: &mut Report,
) -> Result<SetAndHistory, StageError> {
    let records = match history {
        Some(history) if files.is_some() => history.list().await?,
        _ => Vec::new(),
    };
    if let Some(loaded) = files {
        return Ok(SetAndHistory {
            loaded,
            records,
            source_revision: None,
        });
    }
    let (SetSource::Revision(to), Some(history)) = (source, history) else {
        return Err(StageError::usage("rollback needs --release NAME"));
    };
    let records = history.list().await?;
    let target = rollback::target(history, &records, to)?;
    rollback::announce(&target);
    for secret in target.manifests.secret_values() {
        ctx.register_secret(&secret);
    }
    if report.environment.is_none() {
        report.environment.clone_from(&target.environment);
    }
    Ok(SetAndHistory {
        loaded: rollback::load(&target),
        records,
        source_revision: Some(target.revision),
    })
}

/// Takes the deploy lock. The lock and the records live in the release's namespace, so it must
/// exist first: the set's own Namespace object is applied before (idempotent, and harmless
/// outside the lock) and returned as applied.
#[allow(clippy::too_many_arguments)]
async fn take_lock(
    args: &ApplyArgs,
    ctx: &Ctx,
    connection: &cluster::Connection,
    kinds: &Kinds,
    params: &PatchParams,
    set: &manifest::ManifestSet,
    history: &ReleaseHistory,
    seen: Seen,
) -> Result<(Vec<AppliedObject>, release::Held), StageError> {
    let own = set.iter().find(|m| {
        m.key.kind == "Namespace" && m.key.group().is_empty() && m.key.name == connection.namespace
    });
    let Some(own) = own else {
        let held = release::lock(args, ctx, &connection.client, history, seen.lease).await?;
        return Ok((Vec::new(), held));
    };
    let client = &connection.client;
    if let Before::Listed(Some(_)) = &seen.own_namespace {
        // The namespace is there: the lock can be taken while its object is applied.
        let (applied, held) = tokio::join!(
            apply_one(client, kinds, params, own, seen.own_namespace),
            release::lock(args, ctx, client, history, seen.lease),
        );
        return match (applied, held) {
            (Ok(applied), Ok(held)) => Ok((vec![applied], held)),
            (Err(error), Ok(held)) => Err(release::give_back(Some(held), error).await),
            (_, Err(error)) => Err(error),
        };
    }
    // A Lease looked for before its namespace existed was not there.
    let lease = match seen.own_namespace {
        Before::Listed(None) => None,
        _ => seen.lease,
    };
    let applied = apply_one(client, kinds, params, own, seen.own_namespace).await?;
    let held = release::lock(args, ctx, client, history, lease).await?;
    Ok((vec![applied], held))
}

/// The revision `k8s-apply rollback` asked for (`None`: the last deployed one).
fn source_rollback_to(source: SetSource) -> Option<u32> {
    match source {
        SetSource::Revision(to) => to,
        SetSource::Files => None,
    }
}

/// The group versions of every object the revisions own.
fn record_api_versions(records: &[ReleaseRecord]) -> Vec<String> {
    let versions: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.objects.iter().map(|o| o.api_version.clone()))
        .collect();
    versions.into_iter().collect()
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
    loaded.check_limits()?;
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
/// Namespace), which are reported in their place rather than sent twice; `snapshot` the objects
/// as they were before.
async fn apply_phases(
    ctx: &Ctx,
    writing: &Writing<'_>,
    kinds: &mut Kinds,
    set: &manifest::ManifestSet,
    snapshot: &Snapshot,
    mut early: Vec<AppliedObject>,
    report: &mut Report,
) -> Result<(), StageError> {
    let Writing {
        client,
        params,
        lock,
    } = *writing;
    for step in order::phases(set.manifests()) {
        if let Some(lock) = lock {
            lock.ensure()?;
        }
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
        // A dry run cannot send objects into a namespace it only pretends to create (the server
        // answers 404, as it does kubectl): they would be created, and that is shown locally.
        let (todo, unborn): (Vec<&Manifest>, Vec<&Manifest>) = todo.into_iter().partition(|m| {
            !params.dry_run
                || m.key.namespace.as_ref().is_none_or(|ns| {
                    !report.objects.iter().any(|o| {
                        o.kind == "Namespace" && o.name == *ns && o.action == Action::Created
                    })
                })
        });
        for manifest in unborn {
            report.objects.push(would_create(manifest));
        }
        let kinds_now: &Kinds = kinds;
        let results: Vec<Result<AppliedObject, StageError>> = stream::iter(todo)
            .map(|manifest| async move {
                // Checked as each object's turn comes: a takeover seen mid-phase stops the
                // objects not yet sent.
                if let Some(lock) = lock {
                    lock.ensure()?;
                }
                apply_one(
                    client,
                    kinds_now,
                    params,
                    manifest,
                    snapshot.before(&manifest.key),
                )
                .await
            })
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
            kinds.refresh(client).await?;
        }
    }
    Ok(())
}

/// What a dry run reports for an object whose namespace does not exist yet: created, its whole
/// content added (Secret values redacted by the diff).
fn would_create(manifest: &Manifest) -> AppliedObject {
    let key = &manifest.key;
    let shown = diff(None, &manifest.object);
    tracing::info!("{}", shown.unified.trim_end());
    tracing::info!(
        "{} created (server dry run: its namespace is created by this set, so the server was not asked)",
        display_name(key)
    );
    AppliedObject {
        api_version: key.api_version.clone(),
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        uid: String::new(),
        generation: None,
        resource_version: String::new(),
        action: Action::Created,
        changes: Some(shown.changes),
    }
}

async fn apply_one(
    client: &kube::Client,
    kinds: &Kinds,
    params: &PatchParams,
    manifest: &Manifest,
    before: Before,
) -> Result<AppliedObject, StageError> {
    let key = &manifest.key;
    let shown = display_name(key);
    let resource = match kinds.resource(&key.api_version, &key.kind) {
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
    let before = match before {
        Before::Listed(listed) => listed.map(|object| *object),
        Before::Unread => cluster::retry(&what, || api.get_opt(&key.name))
            .await
            .map_err(|err| cluster::api_error(&what, &err))?,
    };
    let patch = Patch::Apply(&manifest.object);
    let after = cluster::retry(&what, || api.patch(&key.name, params, &patch))
        .await
        .map_err(|err| conflict_error(&what, &err))?;
    let mut action = action(before.as_ref(), &after);
    let changes = if params.dry_run {
        let live = before.as_ref().and_then(|b| serde_json::to_value(b).ok());
        let planned = serde_json::to_value(&after).ok().unwrap_or_default();
        let shown = diff(live.as_ref(), &planned);
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
