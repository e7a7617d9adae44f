//! `k8s-apply uninstall --release NAME`: what `helm uninstall` does, with pruning's care.
//!
//! Under the deploy lock: every object a revision of the release owned is deleted if the cluster
//! still says it is ours (the release's `ApplySet` label and a recorded uid, as for pruning), in
//! reverse dependency order; then the revisions (or, with `--keep-history`, one more revision
//! saying `uninstalled`), the `ApplySet` parent, and the lock's Lease. Namespaces and CRDs stay
//! unless a flag asks: deleting them takes along objects that are not the release's.
//!
//! Two kinds of object go last, after the records and the lock: RBAC objects (the release may
//! grant the deploy identity the rights to delete the rest, its records and its lock) and the
//! release's own Namespace (the records and the lock live in it). A run that stops half-way
//! leaves the records while any other object is left.

use std::collections::BTreeSet;

use cluster::{ReleaseHistory, ReleaseRecord, ReleaseStatus};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Preconditions};
use stage::{Ctx, ErrorKind, Failed, StageError, StageResult};

use crate::UninstallArgs;
use crate::applyset;
use crate::manifest::{ManifestSet, ObjectRef};
use crate::prune::{self, Candidate, Leftover, Reach};
use crate::report::{Action, AppliedObject, Report, display_name};
use cluster::Kinds;

/// Runs `uninstall`; see the module header.
pub async fn run(args: &UninstallArgs, ctx: &Ctx) -> StageResult<Report> {
    let mut report = Report {
        release: Some(args.release.clone()),
        environment: args.environment.clone(),
        dry_run: args.dry_run,
        ..Report::default()
    };
    match uninstall(args, ctx, &mut report).await {
        Ok(()) => Ok(report),
        Err(error) if report.objects.is_empty() => Err(error.into()),
        Err(error) => Err(Failed::with_report(error, report)),
    }
}

async fn uninstall(args: &UninstallArgs, ctx: &Ctx, report: &mut Report) -> Result<(), StageError> {
    if args.keep_history && args.delete.namespaces {
        return Err(StageError::usage(
            "--keep-history and --delete-namespaces cannot go together: the revisions live in \
             the release's namespace",
        )
        .with_hint("keep the history, or delete the namespace and the history with it"));
    }
    cluster::names::check_release_name(&args.release)?;
    let connection = cluster::connect(ctx, &args.cluster).await?;
    // Once the cluster records its environment, a deletion must name it, like every write; a
    // dry run writes nothing and checks only a name it is given.
    if !args.dry_run || args.environment.is_some() {
        cluster::environment::guard(&connection, args.environment.as_deref()).await?;
    }
    let client = &connection.client;
    let namespace = connection.namespace.clone();
    report.release_namespace = Some(namespace.clone());
    let history = ReleaseHistory::new(client, &namespace, &args.release)?;

    let (records, parent) = tokio::join!(
        history.list(),
        crate::release::read_parent(client, &args.release, &namespace)
    );
    let (records, parent) = (records?, parent?);
    if records.is_empty() && parent.is_none() {
        let message = format!(
            "release {} has no revisions and no ApplySet parent in namespace {namespace}: \
             nothing to uninstall",
            args.release
        );
        if args.ignore_not_found {
            tracing::info!("{message}");
            return Ok(());
        }
        return Err(StageError::failed(message).with_hint(
            "check --release and -n (the namespace the release was applied with); \
             --ignore-not-found makes this exit 0",
        ));
    }

    if args.dry_run {
        refuse_untrusted(&records)?;
        return dry_run(args, client, &namespace, &records, report).await;
    }

    let holder = args.lock.holder(ctx.environment());
    let options = args.lock.options(args.lock.lock_timeout);
    let release = args.release.as_str();
    let lock = cluster::acquire(client, &namespace, release, &holder, &options, |other| {
        tracing::info!(
            "waiting for the deploy lock of release {release}, held by {}",
            other.describe()
        );
    })
    .await?;
    let keep_alive = lock.keep_alive();
    let check = lock.check();

    // Under the lock: another run may have recorded a revision while this one waited.
    let outcome = async {
        let records = history.list().await?;
        refuse_untrusted(&records)?;
        let candidates = plan(args, client, &namespace, &records).await?;
        let (last, first): (Vec<Candidate>, Vec<Candidate>) = candidates
            .into_iter()
            .partition(|c| is_namespace(&c.key, &namespace) || is_rbac(&c.key));
        let gone = prune::execute(client, &first, false, Action::Deleted, Some(&check)).await?;
        report.objects.extend(gone);
        // The records say what the release is: a run that lost its lock leaves them to the
        // run that holds it.
        check.confirm().await?;
        forget(args, &history, &records, report).await?;
        check.ensure()?;
        delete_parent(client, release, &namespace).await?;
        Ok::<_, StageError>(last)
    }
    .await;
    let kept = keep_alive.stop().await;
    let last = match (outcome, kept) {
        (Ok(last), Ok(())) => last,
        (Err(error), _) | (Ok(_), Err(error)) => {
            if let Err(release_error) = lock.release().await {
                tracing::warn!("{}", release_error.message());
            }
            return Err(error);
        }
    };
    lock.release().await?;
    if !delete_free_lease(client, release, &namespace).await? && !last.is_empty() {
        // Another run took the lock as soon as it was free: what it applies may be these very
        // objects (same uids), which are its to keep now.
        let left: Vec<String> = last.iter().map(|c| display_name(&c.key)).collect();
        tracing::warn!(
            "another run took the deploy lock; left for it: {}",
            left.join(", ")
        );
        return Ok(());
    }
    // Last, in deletion order (RBAC before the namespace): the release may grant the deploy
    // identity the very rights the steps above needed, and its namespace held the records and
    // the lock.
    delete_last(client, last, report).await?;
    tracing::info!(
        "release {release} uninstalled: {} object(s) deleted",
        report.objects.len()
    );
    Ok(())
}

/// `--dry-run`: what would be deleted, into the report and on stderr.
async fn dry_run(
    args: &UninstallArgs,
    client: &kube::Client,
    namespace: &str,
    records: &[ReleaseRecord],
    report: &mut Report,
) -> Result<(), StageError> {
    let candidates = plan(args, client, namespace, records).await?;
    report.objects = candidates.iter().map(deleted).collect();
    for object in &report.objects {
        tracing::info!("{} would be deleted", shown(object));
    }
    let revisions: Vec<String> = records.iter().map(|r| r.revision.to_string()).collect();
    let kept = if args.keep_history {
        "kept"
    } else {
        "would be deleted"
    };
    tracing::info!(
        "release {}: revisions [{}] {kept}; its ApplySet parent and deploy lock would be \
         deleted (dry run: nothing was changed)",
        args.release,
        revisions.join(", ")
    );
    Ok(())
}

/// Deletes the RBAC objects and the release's namespace: bindings first, so that what a lost
/// grant leaves behind is a Role nothing binds any more. When deleting a binding took away the
/// deploy identity's own right to delete the rest, the rest is left with a warning.
async fn delete_last(
    client: &kube::Client,
    mut last: Vec<Candidate>,
    report: &mut Report,
) -> Result<(), StageError> {
    last.sort_by_key(
        |c| match (is_rbac(&c.key), c.key.kind.ends_with("Binding")) {
            (true, true) => 0,
            (true, false) => 1,
            (false, _) => 2,
        },
    );
    let mut unbound = false;
    for candidate in &last {
        let one = std::slice::from_ref(candidate);
        match prune::execute(client, one, false, Action::Deleted, None).await {
            Ok(gone) => {
                unbound |= is_rbac(&candidate.key) && candidate.key.kind.ends_with("Binding");
                report.objects.extend(gone);
            }
            // 403 only (a 401 is a credential problem): the right went with the binding.
            Err(error)
                if unbound
                    && error.kind() == ErrorKind::Unauthorized
                    && error.message().contains(": forbidden:") =>
            {
                tracing::warn!(
                    "{}: kept: the deploy identity lost the right to delete it with the \
                     release's bindings; an administrator can delete it",
                    display_name(&candidate.key)
                );
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// What the release's revisions own that is still ours, Namespaces and CRDs only when asked.
async fn plan(
    args: &UninstallArgs,
    client: &kube::Client,
    namespace: &str,
    records: &[ReleaseRecord],
) -> Result<Vec<Candidate>, StageError> {
    // Only what verified revisions recorded: a planted record must not name objects to delete.
    let records = crate::release::trusted(records);
    let leftovers: Vec<Leftover> = prune::leftovers(&records, &ManifestSet::default())
        .into_iter()
        .filter(|leftover| keeps(args, &leftover.key).is_none_or(|why| !warn_kept(leftover, why)))
        .collect();
    let api_versions: Vec<String> = leftovers
        .iter()
        .map(|l| l.key.api_version.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let kinds = Kinds::discover(client, &api_versions).await?;
    let reach = Reach {
        namespaces: true,
        crds: true,
    };
    prune::plan(client, &args.release, namespace, &leftovers, reach, |key| {
        kinds.resource(&key.api_version, &key.kind).cloned()
    })
    .await
}

/// Refuses (exit 1, nothing deleted) when a revision does not verify: an uninstall trusts only
/// signed revisions to say what the release owns, and would otherwise delete the history of
/// objects it leaves running (revisions written before records were signed look the same as
/// planted ones).
fn refuse_untrusted(records: &[ReleaseRecord]) -> Result<(), StageError> {
    let untrusted: Vec<&ReleaseRecord> = records
        .iter()
        .filter(|r| r.check_trusted().is_err())
        .collect();
    let Some(first) = untrusted.first() else {
        return Ok(());
    };
    let names: Vec<String> = untrusted
        .iter()
        .map(|r| {
            format!(
                "secret/{}",
                cluster::names::record_name(&r.release, r.revision)
            )
        })
        .collect();
    Err(StageError::failed(format!(
        "release {}: {} revision(s) do not verify ({}); nothing was deleted",
        first.release,
        untrusted.len(),
        names.join(", ")
    ))
    .with_hint(
        "deploy the release once with this version (its revision is then signed) and delete \
         revisions written before it, or delete a planted one after looking at it; see \
         docs/release-records.md",
    ))
}

/// Why `key` is kept without a flag (`None`: it is deleted).
fn keeps(args: &UninstallArgs, key: &ObjectRef) -> Option<&'static str> {
    match (key.group(), key.kind.as_str()) {
        ("", "Namespace") if !args.delete.namespaces => Some(
            "deleting a namespace deletes everything in it; pass --delete-namespaces to delete it",
        ),
        ("apiextensions.k8s.io", "CustomResourceDefinition") if !args.delete.crds => Some(
            "deleting a CRD deletes every resource of its kind in the cluster; pass --delete-crds \
             to delete it",
        ),
        _ => None,
    }
}

fn warn_kept(leftover: &Leftover, why: &str) -> bool {
    tracing::warn!("{}: kept ({why})", display_name(&leftover.key));
    true
}

fn is_namespace(key: &ObjectRef, name: &str) -> bool {
    key.group().is_empty() && key.kind == "Namespace" && key.name == name
}

fn is_rbac(key: &ObjectRef) -> bool {
    key.group() == "rbac.authorization.k8s.io"
}

/// The revisions: deleted, or with `--keep-history` kept and one more recorded as `uninstalled`.
async fn forget(
    args: &UninstallArgs,
    history: &ReleaseHistory,
    records: &[ReleaseRecord],
    report: &mut Report,
) -> Result<(), StageError> {
    if args.keep_history {
        let mut record = ReleaseRecord::new(&args.release, history.namespace());
        record.status = ReleaseStatus::Uninstalled;
        record.environment.clone_from(&args.environment);
        record.message = Some(format!(
            "uninstalled: {} object(s) deleted",
            report.objects.len()
        ));
        let highest = records.last().map_or(0, |r| r.revision);
        let created = history.create_after(record, highest).await?;
        tracing::info!(
            "release {}: revision {} records the uninstall; earlier revisions kept",
            args.release,
            created.revision
        );
        report.revision = Some(created.revision);
        report.previous_revision = created.previous_revision;
    } else {
        let deleted = history.delete_all().await?;
        tracing::info!("release {}: deleted revisions {deleted:?}", args.release);
    }
    Ok(())
}

async fn delete_parent(
    client: &kube::Client,
    release: &str,
    namespace: &str,
) -> Result<(), StageError> {
    let name = applyset::parent_name(release);
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let what = format!("deleting the ApplySet parent secret/{name}");
    let params = DeleteParams::default();
    match cluster::retry(&what, || api.delete(&name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(err) => Err(cluster::api_error(&what, &err)),
    }
}

/// Deletes the deploy lock's Lease if nobody holds it: given back by this run a moment ago, it is
/// free unless another run took it since, and then it is that run's to keep. Returns whether no
/// other run holds it.
async fn delete_free_lease(
    client: &kube::Client,
    release: &str,
    namespace: &str,
) -> Result<bool, StageError> {
    let name = cluster::names::lock_name(release);
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let what = format!("deleting the deploy lock lease/{name}");
    let Some(lease) = cluster::retry(&what, || api.get_opt(&name))
        .await
        .map_err(|err| cluster::api_error(&what, &err))?
    else {
        return Ok(true);
    };
    let holder = lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref());
    if holder.is_some_and(|h| !h.is_empty()) {
        tracing::info!("lease/{name}: taken by another run meanwhile; left to it");
        return Ok(false);
    }
    // The version read is a precondition: a run that takes the lock in between keeps it.
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: lease.metadata.uid.clone(),
            resource_version: lease.metadata.resource_version.clone(),
        }),
        ..DeleteParams::default()
    };
    match cluster::retry(&what, || api.delete(&name, &params)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(true),
        // Changed since the read: someone took it.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(err) => Err(cluster::api_error(&what, &err)),
    }
}

fn deleted(candidate: &Candidate) -> AppliedObject {
    AppliedObject {
        api_version: candidate.key.api_version.clone(),
        kind: candidate.key.kind.clone(),
        namespace: candidate.key.namespace.clone(),
        name: candidate.key.name.clone(),
        uid: candidate.uid.clone(),
        generation: candidate.generation,
        resource_version: candidate.resource_version.clone(),
        action: Action::Deleted,
        changes: None,
    }
}

fn shown(object: &AppliedObject) -> String {
    display_name(&ObjectRef {
        api_version: object.api_version.clone(),
        kind: object.kind.clone(),
        namespace: object.namespace.clone(),
        name: object.name.clone(),
    })
}
