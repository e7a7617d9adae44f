//! The history of one release in the cluster: list, read, create, settle and prune revisions.
//!
//! Revision numbers come from the Secrets' names, so two revisions can never share a number: the
//! API server refuses a second Secret of the same name. Two writers racing for the next number
//! (which the deploy lock should already prevent) resolve it by the loser taking the number
//! after. Status changes replace the Secret with its `resourceVersion`, so a concurrent writer's
//! change is never lost: the later one re-reads and tries again. A handle remembers the record
//! Secrets it wrote or read and starts a change from that version rather than reading it again: against
//! a remote API server a read is a round trip, and a stale version only costs a 409 and a read.
//!
//! Every record read is checked against the release's record key ([`super::seal`]) and carries
//! the verdict as [`ReleaseRecord::trust`]; every record written is signed. The key is read once
//! per handle, and made (under the deploy lock, by the first signed write) when the release has
//! none, or has one that vouches for no record: a key planted before the deployer's first signed
//! record is thrown away rather than trusted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use stage::StageError;

use super::codec::{from_secret, to_secret};
use super::record::{OwnedObject, ReleaseRecord, ReleaseStatus};
use super::seal::{self, RecordKey, Trust};
use crate::error::api_error;
use crate::names;
use crate::retry::retry;

/// Plain writes: no dry run, no field manager of ours needed for bookkeeping objects.
const POST: PostParams = PostParams {
    dry_run: false,
    field_manager: None,
};

/// How often to re-read and try again when another writer got there first. Each round trip is a
/// few milliseconds; only a runaway would need more.
const MAX_RACES: u32 = 10;

/// One release's revisions in one namespace.
#[derive(Clone)]
pub struct ReleaseHistory {
    api: Api<Secret>,
    namespace: String,
    release: String,
    /// The record Secrets this handle last wrote or read, as the API server answered, by
    /// revision.
    written: Arc<Mutex<BTreeMap<u32, Secret>>>,
    /// The record key as read (once) and whether a record verified with it.
    key: Arc<Mutex<KeyState>>,
}

/// What this handle knows of the release's record key.
#[derive(Debug, Default, Clone)]
struct KeyState {
    read: bool,
    key: Option<RecordKey>,
    /// The uid of whatever Secret holds the key's name, valid key or not.
    stored_uid: Option<String>,
    /// A record of the release verified with the key: it is the deployer's.
    vouched: bool,
}

impl std::fmt::Debug for ReleaseHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseHistory")
            .field("namespace", &self.namespace)
            .field("release", &self.release)
            .finish_non_exhaustive()
    }
}

/// A record's Secret as listed: its number and status from the labels, which stay readable even
/// if the record itself does not decode.
struct Listed {
    revision: u32,
    status: Option<ReleaseStatus>,
    secret: Secret,
}

impl ReleaseHistory {
    /// The history of `release` in `namespace`. Refuses a release name that cannot be one.
    pub fn new(client: &kube::Client, namespace: &str, release: &str) -> Result<Self, StageError> {
        names::check_release_name(release)?;
        Ok(Self {
            api: Api::namespaced(client.clone(), namespace),
            namespace: namespace.to_owned(),
            release: release.to_owned(),
            written: Arc::default(),
            key: Arc::default(),
        })
    }

    /// The release's record key, read once per handle. `None` when there is none, or it cannot
    /// be read (a reader without `get` on it still lists the history, every signed record then
    /// `NoKey`), or it is not a valid key (warned about; the next signed write replaces it).
    async fn read_key(&self) -> Result<Option<RecordKey>, StageError> {
        {
            let state = self.lock_key();
            if state.read {
                return Ok(state.key.clone());
            }
        }
        let name = seal::key_name(&self.release);
        let what = format!("reading the record key of release {}", self.release);
        let (key, stored_uid) = match retry(&what, || self.api.get_opt(&name)).await {
            Ok(None) => (None, None),
            Ok(Some(secret)) => match RecordKey::from_secret(&secret) {
                Ok(key) => (Some(key), secret.metadata.uid.clone()),
                Err(e) => {
                    tracing::warn!("{}", e.message());
                    (None, secret.metadata.uid.clone())
                }
            },
            Err(kube::Error::Api(status)) if status.code == 403 => {
                tracing::debug!("{what}: forbidden; signed records cannot be verified");
                (None, None)
            }
            Err(e) => return Err(api_error(&what, &e)),
        };
        let mut state = self.lock_key();
        state.read = true;
        state.key.clone_from(&key);
        state.stored_uid = stored_uid;
        Ok(key)
    }

    /// How far a record Secret can be believed, with the key [`Self::read_key`] found; notes
    /// when a record vouches for the key.
    fn trust_of(&self, secret: &Secret) -> Trust {
        let mut state = self.lock_key();
        let trust = seal::check(state.key.as_ref(), &self.namespace, secret);
        if trust.is_verified() {
            state.vouched = true;
        }
        trust
    }

    /// The record Secret's record, with its trust.
    fn decode(&self, secret: &Secret) -> Result<ReleaseRecord, StageError> {
        let mut record = from_secret(secret)?;
        record.trust = self.trust_of(secret);
        Ok(record)
    }

    /// The key to sign a new record with: the stored one once a record vouches for it, else a
    /// new one replacing it (see the module header). Called under the deploy lock.
    async fn signing_key(&self) -> Result<RecordKey, StageError> {
        let name = seal::key_name(&self.release);
        for _ in 0..2 {
            if let Some(key) = Box::pin(self.read_key()).await? {
                if self.lock_key().vouched {
                    return Ok(key);
                }
                // Not listed through this handle yet: see whether any record vouches for it.
                for listed in self.list_secrets().await? {
                    if self.trust_of(&listed.secret).is_verified() {
                        return Ok(key);
                    }
                }
            }
            let stored_uid = self.lock_key().stored_uid.clone();
            if let Some(uid) = stored_uid {
                tracing::warn!(
                    "release {}: secret/{name} signs no record of the release; replacing it \
                     with a new key",
                    self.release
                );
                self.delete_key(&name, uid).await?;
            }
            let mut key = RecordKey::generate()?;
            let secret = key.to_secret(&self.release, &self.namespace);
            let what = format!("creating the record key secret/{name}");
            match retry(&what, || self.api.create(&POST, &secret)).await {
                Ok(stored) => {
                    tracing::info!(
                        "release {}: created its record key secret/{name}",
                        self.release
                    );
                    key.uid = stored.metadata.uid;
                    *self.lock_key() = KeyState {
                        read: true,
                        key: Some(key.clone()),
                        stored_uid: key.uid.clone(),
                        vouched: true,
                    };
                    return Ok(key);
                }
                // One is there that the list did not show (not labelled as ours): read it by
                // name and judge it like any stored key.
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    self.lock_key().read = false;
                }
                Err(e) => return Err(api_error(&what, &e)),
            }
        }
        Err(StageError::failed(format!(
            "release {}: secret/{name} keeps appearing while this run, holding the deploy lock, \
             replaces it; someone other than the deployer is writing it",
            self.release
        ))
        .with_hint("see docs/release-records.md, \"Trust model\""))
    }

    /// Makes sure the release has a record key to sign with (creating it on the first signed
    /// write), so that [`Self::create_after`] can start at once; under the deploy lock.
    pub async fn prepare_signing(&self) -> Result<(), StageError> {
        // Boxed: its state (Secrets, the key) would otherwise weigh on every caller's future.
        Box::pin(self.signing_key()).await.map(drop)
    }

    /// Deletes the key Secret `uid` (not a namesake made since).
    async fn delete_key(&self, name: &str, uid: String) -> Result<(), StageError> {
        let what = format!("deleting the unused record key secret/{name}");
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match retry(&what, || self.api.delete(name, &params)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(api_error(&what, &e)),
        }
    }

    pub fn release(&self) -> &str {
        &self.release
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Every readable revision, oldest first. A record that does not decode is skipped with a
    /// warning rather than wedging every later deploy; its number stays taken.
    pub async fn list(&self) -> Result<Vec<ReleaseRecord>, StageError> {
        let mut records = Vec::new();
        // The listing brings the key too (it wears the release's labels).
        for listed in self.list_secrets().await? {
            match self.decode(&listed.secret) {
                Ok(record) => records.push(record),
                Err(e) => tracing::warn!(
                    "release {} revision {}: skipping an unreadable record: {}",
                    self.release,
                    listed.revision,
                    e.message()
                ),
            }
        }
        Ok(records)
    }

    /// One revision, `None` when there is no such revision.
    pub async fn get(&self, revision: u32) -> Result<Option<ReleaseRecord>, StageError> {
        let name = names::record_name(&self.release, revision);
        let what = format!("reading revision {revision} of release {}", self.release);
        let (key, secret) = tokio::join!(self.read_key(), retry(&what, || self.api.get_opt(&name)));
        key?;
        let secret = secret.map_err(|e| api_error(&what, &e))?;
        let record = secret.as_ref().map(|s| self.decode(s)).transpose()?;
        if let Some(secret) = secret {
            self.remember(revision, secret);
        }
        Ok(record)
    }

    /// One revision as this handle last wrote or read it, else as read now.
    pub async fn known(&self, revision: u32) -> Result<Option<ReleaseRecord>, StageError> {
        let known = self.lock_written().get(&revision).cloned();
        match known {
            Some(secret) => {
                Box::pin(self.read_key()).await?;
                self.decode(&secret).map(Some)
            }
            None => self.get(revision).await,
        }
    }

    /// The newest revision, whatever its status.
    pub async fn latest(&self) -> Result<Option<ReleaseRecord>, StageError> {
        Ok(self.list().await?.pop())
    }

    /// The newest revision with `status`: with [`ReleaseStatus::Deployed`], what a rollback
    /// returns to.
    pub async fn last_with_status(
        &self,
        status: ReleaseStatus,
    ) -> Result<Option<ReleaseRecord>, StageError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .rev()
            .find(|r| r.status == status))
    }

    /// Records `record` as the next revision and returns it as stored: `revision` and
    /// `previousRevision` assigned, `createdAt`/`updatedAt` now. The namespace and release of the
    /// history win over the record's.
    pub async fn create(&self, record: ReleaseRecord) -> Result<ReleaseRecord, StageError> {
        let highest = self.highest_revision().await?;
        self.create_after(record, highest).await
    }

    /// [`Self::create`], given the highest revision a [`Self::list`] just found (under the deploy
    /// lock, nobody else records one in between; if someone does, the API server refuses the
    /// name and the next number is tried, as in `create`).
    pub async fn create_after(
        &self,
        mut record: ReleaseRecord,
        highest: u32,
    ) -> Result<ReleaseRecord, StageError> {
        let mut highest = highest;
        record.release.clone_from(&self.release);
        record.namespace.clone_from(&self.namespace);
        // Recognises our own Secret if a create succeeded but its answer was lost and the
        // retry met it as "already exists".
        let create_id = format!("{:016x}", rand_u64());
        let key = Box::pin(self.signing_key()).await?;
        record.trust = Trust::Verified;
        for _ in 0..MAX_RACES {
            // A planted record numbered u32::MAX must not wrap the count (or panic).
            record.revision = highest.checked_add(1).ok_or_else(|| {
                StageError::failed(format!(
                    "release {}: the highest revision number is {highest}; no next one",
                    self.release
                ))
                .with_hint("a record Secret with that number was planted or mangled: look at it")
            })?;
            record.previous_revision = (highest > 0).then_some(highest);
            record.created_at = Timestamp::now();
            record.updated_at = record.created_at;
            let mut secret = to_secret(&record, Some(&create_id))?;
            key.seal(&mut secret);
            let what = format!(
                "recording revision {} of release {}",
                record.revision, self.release
            );
            match retry(&what, || self.api.create(&POST, &secret)).await {
                Ok(stored) => {
                    self.remember(record.revision, stored);
                    return Ok(record);
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    let name = names::record_name(&self.release, record.revision);
                    let existing = retry(&what, || self.api.get_opt(&name))
                        .await
                        .map_err(|e| api_error(&what, &e))?;
                    let ours = existing.as_ref().is_some_and(|s| {
                        s.metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get(names::CREATE_ID_ANNOTATION))
                            == Some(&create_id)
                    });
                    if ours {
                        return Ok(record);
                    }
                    tracing::debug!(
                        "revision {} of release {} was taken by another writer; trying the next",
                        record.revision,
                        self.release
                    );
                    highest = self.highest_revision().await?.max(record.revision);
                }
                Err(e) => return Err(api_error(&what, &e)),
            }
        }
        Err(StageError::failed(format!(
            "release {}: other writers took {MAX_RACES} revision numbers in a row while we \
             tried to record ours",
            self.release
        ))
        .with_hint("is another pipeline deploying this release without the deploy lock?"))
    }

    /// Sets a revision's status and message (`None` clears it). Marking one `deployed` turns the
    /// older `deployed` revisions `superseded`, so that there is one current revision, as helm
    /// keeps it.
    pub async fn set_status(
        &self,
        revision: u32,
        status: ReleaseStatus,
        message: Option<&str>,
    ) -> Result<ReleaseRecord, StageError> {
        if status != ReleaseStatus::Deployed {
            return self.update(revision, status, message).await;
        }
        // The older revisions are listed while this one is written: the list does not depend
        // on the write, and each is a round trip.
        let (updated, listed) =
            tokio::join!(self.update(revision, status, message), self.list_secrets());
        let updated = updated?;
        for older in listed? {
            if older.revision < revision && older.status == Some(ReleaseStatus::Deployed) {
                self.remember(older.revision, older.secret);
                self.update(older.revision, ReleaseStatus::Superseded, None)
                    .await?;
            }
        }
        Ok(updated)
    }

    /// Deletes the oldest revisions beyond the newest `keep` (at least 1), never the last
    /// `deployed` one: it is what a rollback needs. Returns the revisions deleted.
    pub async fn prune(&self, keep: usize) -> Result<Vec<u32>, StageError> {
        let listed = self.list_secrets().await?;
        // The last deployed revision the deployer wrote: a planted one labelled `deployed` must
        // not leave the genuine one to be pruned.
        let last_deployed = listed
            .iter()
            .rev()
            .find(|l| {
                l.status == Some(ReleaseStatus::Deployed) && self.trust_of(&l.secret).is_verified()
            })
            .map(|l| l.revision);
        let excess = listed.len().saturating_sub(keep.max(1));
        let mut pruned = Vec::new();
        for old in listed.iter().take(excess) {
            if Some(old.revision) == last_deployed {
                continue;
            }
            if self.delete_listed(old).await? {
                pruned.push(old.revision);
            }
        }
        Ok(pruned)
    }

    /// Deletes every revision, unreadable ones included, and the release's record key
    /// (`k8s-apply uninstall`). Returns the revisions deleted.
    pub async fn delete_all(&self) -> Result<Vec<u32>, StageError> {
        let mut deleted = Vec::new();
        for listed in self.list_secrets().await? {
            if self.delete_listed(&listed).await? {
                deleted.push(listed.revision);
            }
        }
        // Last: with no record left, the key vouches for nothing, and a next install makes its
        // own.
        let name = seal::key_name(&self.release);
        let what = format!("deleting the record key of release {}", self.release);
        let params = DeleteParams::default();
        match retry(&what, || self.api.delete(&name, &params)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(api_error(&what, &e)),
        }
        *self.lock_key() = KeyState::default();
        Ok(deleted)
    }

    /// Deletes one listed record; `false` when it was gone already.
    async fn delete_listed(&self, old: &Listed) -> Result<bool, StageError> {
        let name = names::record_name(&self.release, old.revision);
        let what = format!(
            "deleting revision {} of release {}",
            old.revision, self.release
        );
        // The uid precondition makes sure we delete the record we listed, not a namesake.
        let params = DeleteParams {
            preconditions: old.secret.metadata.uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        self.lock_written().remove(&old.revision);
        match retry(&what, || self.api.delete(&name, &params)).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(e) => Err(api_error(&what, &e)),
        }
    }

    async fn update(
        &self,
        revision: u32,
        status: ReleaseStatus,
        message: Option<&str>,
    ) -> Result<ReleaseRecord, StageError> {
        let what = format!(
            "marking revision {revision} of release {} {status}",
            self.release
        );
        self.modify(revision, &what, |record| {
            record.status = status;
            record.message = message.map(str::to_owned);
        })
        .await
    }

    /// Records the objects a revision owns, once they exist and have uids (pruning deletes only
    /// objects whose uid the previous revision recorded).
    pub async fn set_objects(
        &self,
        revision: u32,
        objects: Vec<OwnedObject>,
    ) -> Result<ReleaseRecord, StageError> {
        let what = format!(
            "recording the objects of revision {revision} of release {}",
            self.release
        );
        self.modify(revision, &what, |record| {
            record.objects.clone_from(&objects);
        })
        .await
    }

    /// Reads a revision's record, changes it, and writes it back with optimistic concurrency,
    /// re-reading on a conflict: several changes in one write (k8s-apply records a revision's
    /// objects and its status together). `what` names the change in messages. Marking a
    /// revision `deployed` goes through [`Self::set_status`], which also supersedes the older
    /// ones.
    pub async fn modify(
        &self,
        revision: u32,
        what: &str,
        change: impl Fn(&mut ReleaseRecord),
    ) -> Result<ReleaseRecord, StageError> {
        let name = names::record_name(&self.release, revision);
        let key = Box::pin(self.read_key()).await?;
        for _ in 0..MAX_RACES {
            let known = self.lock_written().remove(&revision);
            let current = match known {
                Some(secret) => Some(secret),
                None => retry(what, || self.api.get_opt(&name))
                    .await
                    .map_err(|e| api_error(what, &e))?,
            };
            let Some(current) = current else {
                return Err(StageError::failed(format!(
                    "{what}: release {} has no revision {revision} in namespace {}",
                    self.release, self.namespace
                )));
            };
            let mut record = self.decode(&current)?;
            if record.trust == Trust::NoKey {
                // Writing it back unsigned would destroy a genuine record's MAC.
                let why = record.check_trusted().err();
                let why = why.as_ref().map_or("", StageError::message);
                return Err(StageError::failed(format!("{what}: {why}")));
            }
            change(&mut record);
            record.updated_at = Timestamp::now();
            let mut secret = to_secret(&record, None)?;
            // Only a record that verified is signed again: a planted or edited one stays
            // untrusted, whatever status it is given.
            if let (Trust::Verified, Some(key)) = (record.trust, &key) {
                key.seal(&mut secret);
            }
            // Keep what others put on the Secret; replace only what the record decides.
            let mut labels: BTreeMap<String, String> =
                current.metadata.labels.clone().unwrap_or_default();
            labels.extend(secret.metadata.labels.take().unwrap_or_default());
            secret.metadata = current.metadata.clone();
            secret.metadata.labels = Some(labels);
            secret.metadata.managed_fields = None;
            match retry(what, || self.api.replace(&name, &POST, &secret)).await {
                Ok(stored) => {
                    self.remember(revision, stored);
                    return Ok(record);
                }
                // Someone changed it since we read (or wrote) it: read it again.
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(api_error(what, &e)),
            }
        }
        Err(StageError::failed(format!(
            "{what}: the record kept changing under us"
        )))
    }

    fn lock_written(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Secret>> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the record key from a listing of the release's Secrets: the key Secret wears the
    /// same labels as the records, so no read of its own is needed. Absent from the listing
    /// means no key (one planted without the labels is found when creating ours collides).
    fn note_listed_key(&self, items: &[Secret]) {
        let name = seal::key_name(&self.release);
        let stored = items
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name.as_str()));
        let key = stored.and_then(|secret| match RecordKey::from_secret(secret) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::warn!("{}", e.message());
                None
            }
        });
        let mut state = self.lock_key();
        let same = state.read
            && state.stored_uid.is_some()
            && state.stored_uid == stored.and_then(|s| s.metadata.uid.clone());
        if !same {
            *state = KeyState {
                read: true,
                key,
                stored_uid: stored.and_then(|s| s.metadata.uid.clone()),
                vouched: false,
            };
        }
    }

    fn lock_key(&self) -> std::sync::MutexGuard<'_, KeyState> {
        self.key.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, revision: u32, secret: Secret) {
        self.lock_written().insert(revision, secret);
    }

    async fn highest_revision(&self) -> Result<u32, StageError> {
        Ok(self.list_secrets().await?.last().map_or(0, |l| l.revision))
    }

    /// The release's record Secrets, oldest first.
    async fn list_secrets(&self) -> Result<Vec<Listed>, StageError> {
        let selector = format!(
            "{}={},{}={}",
            names::RELEASE_LABEL,
            self.release,
            names::MANAGED_BY_LABEL,
            names::MANAGED_BY
        );
        let what = format!(
            "listing the revisions of release {} in namespace {}",
            self.release, self.namespace
        );
        let params = ListParams::default().labels(&selector);
        let list = retry(&what, || self.api.list(&params))
            .await
            .map_err(|e| api_error(&what, &e))?;
        let prefix = names::record_prefix(&self.release);
        self.note_listed_key(&list.items);
        let mut listed: Vec<Listed> = list
            .items
            .into_iter()
            .filter(|s| s.type_.as_deref() == Some(names::RECORD_TYPE))
            .filter_map(|secret| {
                // The number in the name is the one the API server keeps unique.
                let revision = secret
                    .metadata
                    .name
                    .as_deref()?
                    .strip_prefix(prefix.as_str())?
                    .parse()
                    .ok()?;
                let status = secret
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(names::STATUS_LABEL))
                    .and_then(|s| ReleaseStatus::parse(s));
                Some(Listed {
                    revision,
                    status,
                    secret,
                })
            })
            .collect();
        listed.sort_by_key(|l| l.revision);
        Ok(listed)
    }
}

fn rand_u64() -> u64 {
    use rand::Rng;
    crate::retry::os_rng().random()
}
