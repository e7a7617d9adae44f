//! Taking, renewing and giving back the deploy lock.
//!
//! Expiry is decided the way client-go's leader election decides it, plus a fast path:
//!
//! - a Lease whose `renewTime + leaseDurationSeconds` is in the past by *our* clock has expired.
//!   That is what lets a run that starts long after a holder was killed proceed at once; it
//!   trusts that the machines' clocks agree to within a fraction of the TTL (CI runners and EKS
//!   keep NTP time);
//! - a Lease we have watched stay unchanged (same `resourceVersion`) for `leaseDurationSeconds`
//!   of our own monotonic time has expired, whatever any clock says. That is client-go's rule,
//!   immune to skew: a live holder renews every third of its TTL and so changes the version.
//!
//! Every write is a replace with the `resourceVersion` just read, so of two runs that both see
//! the lock free exactly one gets it; the other gets 409, reads again, and sees the winner.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use stage::StageError;

use super::check::LockCheck;
use super::holder::Holder;
use super::keep_alive::KeepAlive;
use crate::clock::WallClock;
use crate::error::api_error;
use crate::names;
use crate::retry::{jitter, retry};

/// Plain writes: no dry run, no field manager of ours needed for bookkeeping objects.
const POST: PostParams = PostParams {
    dry_run: false,
    field_manager: None,
};

/// How long a lock outlives its holder's last renewal: long enough to cover the gap between the
/// processes of one pipeline (k8s-apply exits, rollout-wait starts) on a slow runner, short
/// enough that a killed run blocks the next one only briefly.
pub const DEFAULT_TTL: Duration = Duration::from_mins(2);

/// How long a run waits for another run's deploy by default: an apply, a wait and a rollback.
pub const DEFAULT_WAIT: Duration = Duration::from_mins(10);

/// Re-reads after losing a race, before giving up: only a runaway needs more.
const MAX_RACES: u32 = 10;

/// The longest pause between two looks at a lock held by someone else.
const MAX_POLL: Duration = Duration::from_secs(2);

/// How often `on_wait` hears that we are still waiting for the same holder.
const REPORT_EVERY: Duration = Duration::from_secs(15);

/// How to take the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// How long the lock outlives our last renewal (whole seconds, at least 1).
    pub ttl: Duration,
    /// How long to wait for another holder before failing; zero tries once.
    pub wait_timeout: Duration,
    /// The clock that judges another holder's `renewTime`.
    pub clock: WallClock,
}

impl Default for LockOptions {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            wait_timeout: DEFAULT_WAIT,
            clock: WallClock::system(),
        }
    }
}

/// Someone else holds the lock we wait for; passed to `on_wait` so tools can say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contender {
    /// Its `holderIdentity`.
    pub holder: String,
    /// Its run page, when it published one.
    pub holder_url: Option<String>,
    /// When it took the lock.
    pub since: Option<Timestamp>,
    /// How long until the lock expires if it stops renewing, by our clock.
    pub expires_in: Option<Duration>,
    /// How long we have waited so far.
    pub waited: Duration,
}

impl Contender {
    /// `github:acme/shop/41/1 (https://…)`, for messages.
    pub fn describe(&self) -> String {
        match &self.holder_url {
            Some(url) => format!("{} ({url})", self.holder),
            None => self.holder.clone(),
        }
    }
}

/// A deploy lock we hold. Dropping it does not release it (another process of the same run may
/// go on under it); [`Lock::release`] does, and its TTL does in the end.
#[derive(Debug)]
pub struct Lock {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) api: Api<Lease>,
    namespace: String,
    pub(super) name: String,
    release: String,
    holder: Holder,
    ttl_seconds: i32,
    clock: WallClock,
    /// The Lease as our last write left it: renewing and releasing start from it instead of a
    /// read (a round trip); if someone changed it since, the write gets 409 and we read again.
    last_written: std::sync::Mutex<Option<Lease>>,
    /// The holder that took the Lease from us, once a renewal or the watch on the Lease saw one:
    /// from then on nothing of ours may be written.
    lost_to: std::sync::Mutex<Option<String>>,
}

/// Takes the deploy lock of `release` in `namespace` for `holder`: creates the Lease, or takes
/// it when it is free, expired, or already ours (re-entry by another step of the same run).
/// Otherwise waits, with backoff, up to `options.wait_timeout`, calling `on_wait` when the
/// holder changes and every 15 s, then fails (`failed`, exit 1) naming the holder and its run.
pub async fn acquire(
    client: &kube::Client,
    namespace: &str,
    release: &str,
    holder: &Holder,
    options: &LockOptions,
    on_wait: impl FnMut(&Contender),
) -> Result<Lock, StageError> {
    take(
        client,
        namespace,
        release,
        holder,
        options,
        First::Read,
        on_wait,
    )
    .await
}

/// Where [`take`] starts.
enum First {
    /// Read the Lease.
    Read,
    /// From what a read just before found (`None`: no Lease).
    Seen(Option<Box<Lease>>),
}

/// Reads the deploy lock's Lease of `release` (`None`: there is none, or no such namespace), for
/// [`acquire_seen`]: a caller that reads it together with other things saves a round trip.
pub async fn peek(
    client: &kube::Client,
    namespace: &str,
    release: &str,
) -> Result<Option<Lease>, StageError> {
    names::check_release_name(release)?;
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let name = names::lock_name(release);
    let what = format!("reading the deploy lock of release {release}");
    retry(&what, || api.get_opt(&name))
        .await
        .map_err(|e| api_error(&what, &e))
}

/// [`acquire`], starting from what [`peek`] found earlier (`None`: no Lease) instead of reading
/// it again. As safe as reading it now: every write carries the version read (or is a create),
/// so a stale look only costs a conflict and a fresh read.
pub async fn acquire_seen(
    client: &kube::Client,
    namespace: &str,
    release: &str,
    holder: &Holder,
    options: &LockOptions,
    seen: Option<Lease>,
    on_wait: impl FnMut(&Contender),
) -> Result<Lock, StageError> {
    let first = First::Seen(seen.map(Box::new));
    take(client, namespace, release, holder, options, first, on_wait).await
}

async fn take(
    client: &kube::Client,
    namespace: &str,
    release: &str,
    holder: &Holder,
    options: &LockOptions,
    first: First,
    mut on_wait: impl FnMut(&Contender),
) -> Result<Lock, StageError> {
    names::check_release_name(release)?;
    let inner = Inner {
        api: Api::namespaced(client.clone(), namespace),
        namespace: namespace.to_owned(),
        name: names::lock_name(release),
        release: release.to_owned(),
        holder: holder.clone(),
        ttl_seconds: ttl_seconds(options.ttl),
        clock: options.clock.clone(),
        last_written: std::sync::Mutex::new(None),
        lost_to: std::sync::Mutex::new(None),
    };
    let what = format!("taking the deploy lock of release {release}");
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    // The version we last saw, and since when (our monotonic time): client-go's expiry rule.
    let mut observed: Option<(String, Instant)> = None;
    let mut reported: Option<(String, Instant)> = None;
    let mut first = Some(first);
    for _ in 0.. {
        let read = match first.take() {
            Some(First::Seen(earlier)) => earlier.map(|lease| *lease),
            Some(First::Read) | None => inner.read(&what).await?,
        };
        let Some(lease) = read else {
            match inner.create(&what).await? {
                Some(()) => return Ok(inner.into_lock()),
                None => continue, // another run created it first: look at theirs
            }
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if observed.as_ref().is_none_or(|(seen, _)| *seen != version) {
            observed = Some((version, Instant::now()));
        }
        let spec = lease.spec.clone().unwrap_or_default();
        let current = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let now = inner.clock.now();
        let duration = lease_duration(&spec);
        let unchanged_for = observed
            .as_ref()
            .map_or(Duration::ZERO, |(_, t)| t.elapsed());
        let expired = expired_by_clock(&spec, now) || unchanged_for > duration;
        let take = match current.as_deref() {
            None => true,
            Some(id) => id == holder.id() || expired,
        };
        if take {
            if let Some(previous) = current.as_deref().filter(|id| *id != holder.id()) {
                tracing::warn!(
                    "release {release}: taking over the deploy lock from {previous}, which \
                     stopped renewing it (expired)"
                );
            }
            if inner.replace(&what, lease, now).await? {
                return Ok(inner.into_lock());
            }
            continue; // lost a race: read again
        }
        let contender = Contender {
            holder: current.unwrap_or_default(),
            holder_url: annotation(&lease, names::HOLDER_URL_ANNOTATION),
            since: spec.acquire_time.as_ref().map(|t| t.0),
            expires_in: expires_in(&spec, now),
            waited: started.elapsed(),
        };
        if started.elapsed() >= options.wait_timeout {
            return Err(held_error(&inner, &contender, options.wait_timeout, now));
        }
        let due = reported
            .as_ref()
            .is_none_or(|(who, at)| *who != contender.holder || at.elapsed() >= REPORT_EVERY);
        if due {
            on_wait(&contender);
            reported = Some((contender.holder.clone(), Instant::now()));
        }
        let left = options.wait_timeout.saturating_sub(started.elapsed());
        tokio::time::sleep(pause.mul_f64(0.5 + jitter() / 2.0).min(left)).await;
        pause = (pause * 2).min(MAX_POLL);
    }
    unreachable!("the loop above only ends by returning")
}

impl Lock {
    pub fn holder(&self) -> &Holder {
        &self.inner.holder
    }

    pub fn release_name(&self) -> &str {
        &self.inner.release
    }

    /// The Lease's namespace and name.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn ttl(&self) -> Duration {
        self.inner.ttl()
    }

    /// Moves the expiry a full TTL ahead. Fails with `failed` if the lock is no longer ours
    /// (it expired and another run took it): the caller must stop changing the cluster.
    pub async fn renew(&self) -> Result<(), StageError> {
        self.inner.renew().await
    }

    /// Renews the lock every third of its TTL in a background task, and watches its Lease so
    /// that a takeover is known at once, until the returned guard is stopped or dropped: for
    /// rollout-wait's watch and for long applies.
    pub fn keep_alive(&self) -> KeepAlive {
        KeepAlive::start(Arc::clone(&self.inner))
    }

    /// A handle that tells whether the lock is still ours; see [`LockCheck`].
    pub fn check(&self) -> LockCheck {
        LockCheck::new(Arc::clone(&self.inner))
    }

    /// Gives the lock back, if it is still ours, so the next run proceeds at once.
    pub async fn release(self) -> Result<(), StageError> {
        self.inner.release().await
    }
}

impl Inner {
    pub(super) fn ttl(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.ttl_seconds).unwrap_or(1))
    }

    fn into_lock(self) -> Lock {
        tracing::debug!(
            "holding the deploy lock of release {} as {}",
            self.release,
            self.holder
        );
        Lock {
            inner: Arc::new(self),
        }
    }

    fn remember(&self, lease: Option<Lease>) {
        *self
            .last_written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = lease;
    }

    /// The Lease as we last wrote it, else as read now.
    async fn last_or_read(&self, what: &str) -> Result<Option<Lease>, StageError> {
        let last = self
            .last_written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match last {
            Some(lease) => Ok(Some(lease)),
            None => self.read(what).await,
        }
    }

    async fn read(&self, what: &str) -> Result<Option<Lease>, StageError> {
        retry(what, || self.api.get_opt(&self.name))
            .await
            .map_err(|e| self.error(what, &e))
    }

    /// `Some` when we created the Lease, `None` when another run created it first.
    async fn create(&self, what: &str) -> Result<Option<()>, StageError> {
        let mut lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec::default()),
        };
        self.stamp(&mut lease, self.clock.now());
        match retry(what, || self.api.create(&POST, &lease)).await {
            Ok(stored) => {
                self.remember(Some(stored));
                Ok(Some(()))
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
            Err(e) => Err(self.error(what, &e)),
        }
    }

    /// Writes `lease` back held by us; `false` when someone changed it since we read it.
    async fn replace(
        &self,
        what: &str,
        mut lease: Lease,
        now: Timestamp,
    ) -> Result<bool, StageError> {
        self.stamp(&mut lease, now);
        match retry(what, || self.api.replace(&self.name, &POST, &lease)).await {
            Ok(stored) => {
                self.remember(Some(stored));
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(self.error(what, &e)),
        }
    }

    /// Makes `lease` ours as of `now`: holder, duration, renewal; a new acquire time and one
    /// more transition when it changes hands.
    fn stamp(&self, lease: &mut Lease, now: Timestamp) {
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let previous = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if previous.as_deref() != Some(self.holder.id()) {
            spec.acquire_time = Some(MicroTime(now));
            if previous.is_some() {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        spec.holder_identity = Some(self.holder.id().to_owned());
        spec.lease_duration_seconds = Some(self.ttl_seconds);
        spec.renew_time = Some(MicroTime(now));
        let meta = &mut lease.metadata;
        meta.managed_fields = None;
        let labels = meta.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(
            names::MANAGED_BY_LABEL.to_owned(),
            names::MANAGED_BY.to_owned(),
        );
        labels.insert(names::RELEASE_LABEL.to_owned(), self.release.clone());
        let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
        match self.holder.url() {
            Some(url) => {
                annotations.insert(names::HOLDER_URL_ANNOTATION.to_owned(), url.to_owned());
            }
            None => {
                annotations.remove(names::HOLDER_URL_ANNOTATION);
            }
        }
    }

    pub(super) async fn renew(&self) -> Result<(), StageError> {
        if let Some(other) = self.lost_to() {
            return Err(self.lost_error(&other));
        }
        let what = format!("renewing the deploy lock of release {}", self.release);
        for _ in 0..MAX_RACES {
            let Some(lease) = self.last_or_read(&what).await? else {
                // Deleted under us; nobody else holds it, so hold it again.
                if self.create(&what).await?.is_some() {
                    return Ok(());
                }
                continue;
            };
            let current = lease.spec.as_ref().and_then(|s| s.holder_identity.clone());
            if current.as_deref() != Some(self.holder.id()) {
                let other = current
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "nobody".to_owned());
                self.mark_lost(&other);
                return Err(self.lost_error(&other));
            }
            if self.replace(&what, lease, self.clock.now()).await? {
                return Ok(());
            }
        }
        Err(StageError::unavailable(format!(
            "{what}: the Lease kept changing under us"
        )))
    }

    /// Who took the lock from us, if anyone has (as far as we know without asking).
    pub(super) fn lost_to(&self) -> Option<String> {
        self.lost_to
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn mark_lost(&self, holder: &str) {
        let mut lost = self
            .lost_to
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if lost.is_none() {
            tracing::error!(
                "release {}: the deploy lock was taken over by {holder}",
                self.release
            );
            *lost = Some(holder.to_owned());
        }
    }

    /// Whether `lease` shows another holder; if so, remembers it as the one we lost the lock to.
    /// An empty holder is a lock given back, not taken: renewing takes it again.
    pub(super) fn observe(&self, lease: &Lease) -> bool {
        let current = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref());
        match current.filter(|h| !h.is_empty()) {
            Some(other) if other != self.holder.id() => {
                self.mark_lost(other);
                true
            }
            _ => false,
        }
    }

    /// The error of a run that lost the lock to `holder`: exit 1, naming it.
    pub(super) fn lost_error(&self, holder: &str) -> StageError {
        StageError::failed(format!(
            "release {}: lost the deploy lock to {holder} (Lease {}/{}); stopped without \
             writing anything more",
            self.release, self.namespace, self.name
        ))
        .with_hint(
            "another run took the lock over (ours went unrenewed for its TTL, --lock-ttl, or it \
             was taken by hand) and may be changing the release now; look at `k8s-apply \
             history` before retrying",
        )
    }

    /// The `resourceVersion` of the Lease as we last wrote it, when known.
    pub(super) fn written_version(&self) -> Option<String> {
        self.last_written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|lease| lease.metadata.resource_version.clone())
    }

    pub(super) async fn release(&self) -> Result<(), StageError> {
        let what = format!("releasing the deploy lock of release {}", self.release);
        for _ in 0..MAX_RACES {
            let Some(mut lease) = self.last_or_read(&what).await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.holder.id()) {
                tracing::debug!("{what}: not ours any more, nothing to release");
                return Ok(());
            }
            // An empty holder is free for the next run at once; the Lease itself stays, with
            // its transition count, as client-go leaves it.
            spec.holder_identity = None;
            spec.renew_time = Some(MicroTime(self.clock.now()));
            lease.metadata.managed_fields = None;
            if let Some(a) = lease.metadata.annotations.as_mut() {
                a.remove(names::HOLDER_URL_ANNOTATION);
            }
            match retry(&what, || self.api.replace(&self.name, &POST, &lease)).await {
                Ok(_) => return Ok(()),
                // Changed since we wrote it (or read it): read it again.
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(self.error(&what, &e)),
            }
        }
        Err(StageError::unavailable(format!(
            "{what}: the Lease kept changing under us"
        )))
    }

    /// A missing namespace is the common first-deploy mistake: say so plainly.
    fn error(&self, what: &str, err: &kube::Error) -> StageError {
        if let kube::Error::Api(s) = err
            && s.code == 404
        {
            return StageError::invalid_input(format!(
                "{what}: namespace {} does not exist",
                self.namespace
            ))
            .with_hint("create the release's namespace before deploying into it");
        }
        api_error(what, err)
    }
}

fn held_error(
    inner: &Inner,
    contender: &Contender,
    waited: Duration,
    now: Timestamp,
) -> StageError {
    let since = contender
        .since
        .and_then(|t| now.duration_since(t).try_into().ok())
        .map(|age: Duration| format!(" for {}", stage::duration::format(whole_seconds(age))))
        .unwrap_or_default();
    let expiry = contender
        .expires_in
        .map(|d| {
            format!(
                " (in {} if it stops renewing)",
                stage::duration::format(whole_seconds(d))
            )
        })
        .unwrap_or_default();
    StageError::failed(format!(
        "release {}: the deploy lock (Lease {}/{}) is held by {}{since}; gave up after waiting {}",
        inner.release,
        inner.namespace,
        inner.name,
        contender.describe(),
        stage::duration::format(whole_seconds(waited)),
    ))
    .with_hint(format!(
        "another run is deploying this release: let it finish, or wait longer \
         (--lock-timeout). A killed run's lock expires {}s after its last renewal{expiry}",
        inner.ttl_seconds
    ))
}

fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

fn ttl_seconds(ttl: Duration) -> i32 {
    i32::try_from(ttl.as_secs()).unwrap_or(i32::MAX).max(1)
}

/// How long the Lease lasts after its renewal. A Lease that does not say (or says nonsense) is
/// held for our default TTL: reading it as zero would hand the lock of a live holder (another
/// tool, an older version, a hand-written Lease) to the next run at once.
fn lease_duration(spec: &LeaseSpec) -> Duration {
    spec.lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_TTL, Duration::from_secs)
}

/// When the lock expires by the writer's timestamps; `None` without a renewal time.
fn expiry(spec: &LeaseSpec) -> Option<Timestamp> {
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    renewed.checked_add(lease_duration(spec)).ok()
}

fn expired_by_clock(spec: &LeaseSpec, now: Timestamp) -> bool {
    expiry(spec).is_some_and(|at| at < now)
}

fn expires_in(spec: &LeaseSpec, now: Timestamp) -> Option<Duration> {
    let at = expiry(spec)?;
    Some(at.duration_since(now).try_into().unwrap_or(Duration::ZERO))
}

fn annotation(lease: &Lease, key: &str) -> Option<String> {
    lease.metadata.annotations.as_ref()?.get(key).cloned()
}
