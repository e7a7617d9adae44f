//! One watch per kind and namespace (kube's runtime watcher), feeding a small in-memory store.
//!
//! Everything rollout-wait judges comes from these streams: the watched objects themselves, and
//! the ReplicaSets and Pods of their namespaces for the pod-level rules. Nothing polls. Kinds
//! that are only checked for presence (Secrets, ConfigMaps, …) are watched for their metadata
//! alone: no Secret data is ever read or held, and `list`/`watch` of their metadata is all the
//! access needed.
//!
//! A dropped watch must never produce a false verdict. The watcher resumes from the last
//! resourceVersion it saw; when that is too old (410 Gone) it lists again, announced by
//! `Init` … `InitDone`. During such a re-list the store keeps serving the previous state and
//! swaps in the new list only at `InitDone`, so an object is never seen "missing" half-way; and
//! nothing is judged until every stream has completed its first list.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::stream::{BoxStream, SelectAll};
use futures_util::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use stage::StageError;

/// How long a stream may keep failing before the step gives up (exit 3): as long as
/// `cluster::retry` keeps trying a single call.
pub const GIVE_UP_AFTER: Duration = Duration::from_mins(1);

/// What one stream watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spec {
    pub resource: ApiResource,
    pub namespace: Option<String>,
}

impl Spec {
    fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} in namespace {ns}", self.resource.plural),
            None => self.resource.plural.clone(),
        }
    }
}

/// An object's place in a stream's store.
pub type Key = (Option<String>, String);

/// The streams' state.
#[derive(Debug, Default)]
pub struct Store {
    streams: Vec<Stream>,
    index: HashMap<Spec, usize>,
}

#[derive(Debug)]
struct Stream {
    spec: Spec,
    objects: HashMap<Key, Value>,
    /// A re-list in progress: its objects so far.
    relist: Option<HashMap<Key, Value>>,
    synced: bool,
    /// Only these names are kept (the watched objects of a kind nobody else needs); every
    /// object when `None` (pods and ReplicaSets, searched by owner).
    keep: Option<HashSet<String>>,
    /// Every user of the stream needs only the objects' metadata (presence).
    metadata_only: bool,
    failing_since: Option<Instant>,
}

/// What the loop gets from the merged streams.
pub type Item = (usize, Result<Event<DynamicObject>, watcher::Error>);

impl Store {
    /// The stream for `spec` (made on first use), keeping only `name` unless `name` is `None`;
    /// `metadata_only` when this user judges presence alone.
    pub fn stream_for(&mut self, spec: Spec, name: Option<&str>, metadata_only: bool) -> usize {
        let index = *self.index.entry(spec.clone()).or_insert_with(|| {
            self.streams.push(Stream {
                spec,
                objects: HashMap::new(),
                relist: None,
                synced: false,
                keep: Some(HashSet::new()),
                metadata_only: true,
                failing_since: None,
            });
            self.streams.len() - 1
        });
        let stream = &mut self.streams[index];
        stream.metadata_only &= metadata_only;
        match (name, &mut stream.keep) {
            (Some(name), Some(keep)) => {
                keep.insert(name.to_owned());
            }
            (None, keep) => *keep = None,
            (Some(_), None) => {}
        }
        index
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Starts every stream: one watcher each, with kube's default backoff between attempts.
    pub fn start(&self, client: &kube::Client) -> SelectAll<BoxStream<'static, Item>> {
        let mut all = SelectAll::new();
        for (index, stream) in self.streams.iter().enumerate() {
            let spec = &stream.spec;
            let config = match &stream.keep {
                // One object: let the server filter (still one watch per kind and namespace
                // when several objects of the kind share it, since then `keep` has several).
                Some(keep) if keep.len() == 1 => {
                    let name = keep.iter().next().map(String::as_str).unwrap_or_default();
                    watcher::Config::default().fields(&format!("metadata.name={name}"))
                }
                _ => watcher::Config::default(),
            };
            let events = if stream.metadata_only {
                // An `Api` of `PartialObjectMeta` asks the server for metadata only.
                let api: Api<PartialObjectMeta<DynamicObject>> = match &spec.namespace {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &spec.resource),
                    None => Api::all_with(client.clone(), &spec.resource),
                };
                watcher::watcher(api, config)
                    .default_backoff()
                    .into_stream()
                    .map(move |item| (index, item.map(erase)))
                    .boxed()
            } else {
                let api: Api<DynamicObject> = match &spec.namespace {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &spec.resource),
                    None => Api::all_with(client.clone(), &spec.resource),
                };
                watcher::watcher(api, config)
                    .default_backoff()
                    .into_stream()
                    .map(move |item| (index, item))
                    .boxed()
            };
            all.push(events);
        }
        all
    }

    /// Applies one item; returns an error only when the step must end (a refused credential, or
    /// a stream failing for longer than [`GIVE_UP_AFTER`]).
    pub fn apply(&mut self, (index, item): Item) -> Result<(), StageError> {
        let stream = &mut self.streams[index];
        let event = match item {
            Ok(event) => {
                stream.failing_since = None;
                event
            }
            Err(error) => return stream.failed(&error),
        };
        match event {
            Event::Init => stream.relist = Some(HashMap::new()),
            Event::InitApply(object) => {
                if let Some((key, value)) = stream.entry(&object) {
                    stream
                        .relist
                        .get_or_insert_with(HashMap::new)
                        .insert(key, value);
                }
            }
            Event::InitDone => {
                if let Some(objects) = stream.relist.take() {
                    stream.objects = objects;
                }
                stream.synced = true;
            }
            Event::Apply(object) => {
                if let Some((key, value)) = stream.entry(&object) {
                    stream.objects.insert(key, value);
                }
            }
            Event::Delete(object) => {
                let key = (
                    object.metadata.namespace.clone(),
                    object.metadata.name.clone().unwrap_or_default(),
                );
                stream.objects.remove(&key);
            }
        }
        Ok(())
    }

    /// True once every stream has completed its first list.
    pub fn synced(&self) -> bool {
        self.streams.iter().all(|s| s.synced)
    }

    /// Whether stream `index` watches metadata only.
    pub fn metadata_only(&self, index: usize) -> bool {
        self.streams[index].metadata_only
    }

    /// True once stream `index` has completed its first list.
    pub fn stream_synced(&self, index: usize) -> bool {
        self.streams[index].synced
    }

    /// `deployments in namespace shop`, for messages about stream `index`.
    pub fn describe(&self, index: usize) -> String {
        self.streams[index].spec.describe()
    }

    /// Every stream, in words, for a message about all of them.
    pub fn describe_all(&self) -> String {
        self.streams
            .iter()
            .map(|s| s.spec.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn get(&self, index: usize, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.streams[index]
            .objects
            .get(&(namespace.map(str::to_owned), name.to_owned()))
    }

    /// Every object of a stream.
    pub fn all(&self, index: usize) -> impl Iterator<Item = &Value> {
        self.streams[index].objects.values()
    }
}

impl Stream {
    fn entry(&self, object: &DynamicObject) -> Option<(Key, Value)> {
        let name = object.metadata.name.clone()?;
        if self.keep.as_ref().is_some_and(|keep| !keep.contains(&name)) {
            return None;
        }
        let mut value = serde_json::to_value(object).ok()?;
        // Nobody reads them, and they are the biggest part of most objects.
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        if self.spec.resource.kind == "Pod" && self.spec.resource.group.is_empty() {
            crate::pods::trim(&mut value);
        }
        Some(((object.metadata.namespace.clone(), name), value))
    }

    fn failed(&mut self, error: &watcher::Error) -> Result<(), StageError> {
        let inner = match error {
            watcher::Error::InitialListFailed(e)
            | watcher::Error::WatchStartFailed(e)
            | watcher::Error::WatchFailed(e) => Some(e),
            watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => None,
        };
        let what = format!("watching {}", self.spec.describe());
        if let Some(e) = inner
            && matches!(e, kube::Error::Api(status) if matches!(status.code, 401 | 403))
        {
            return Err(cluster::api_error(&what, e));
        }
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= GIVE_UP_AFTER {
            let message = format!(
                "{what}: the API server kept failing for {}: {error}",
                stage::duration::format(since.elapsed())
            );
            return Err(match inner {
                Some(e) => cluster::api_error(&what, e).with_hint(message),
                None => StageError::unavailable(message),
            });
        }
        // The watcher backs off and tries again; a 410 after a long cut is a routine re-list.
        tracing::warn!("{what}: {}; resuming the watch", describe(error));
        Ok(())
    }
}

/// A metadata-only event as the store keeps objects: the metadata, no data.
fn erase(event: Event<PartialObjectMeta<DynamicObject>>) -> Event<DynamicObject> {
    let object = |meta: PartialObjectMeta<DynamicObject>| DynamicObject {
        types: meta.types,
        metadata: meta.metadata,
        data: Value::Null,
    };
    match event {
        Event::Apply(meta) => Event::Apply(object(meta)),
        Event::Delete(meta) => Event::Delete(object(meta)),
        Event::Init => Event::Init,
        Event::InitApply(meta) => Event::InitApply(object(meta)),
        Event::InitDone => Event::InitDone,
    }
}

/// A watch error in a line: the API server's code and words, not the whole `Status` debug dump.
fn describe(error: &watcher::Error) -> String {
    let status = match error {
        watcher::Error::WatchError(status)
        | watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.as_ref()),
        _ => None,
    };
    match status {
        Some(status) if status.code == 410 => format!(
            "410 {}: the server no longer has the changes since we last looked; listing again",
            status.reason
        ),
        Some(status) => format!("{} {}: {}", status.code, status.reason, status.message),
        None => error.to_string(),
    }
}
