//! The objects of a phase as they were before the apply, which is what tells `created` from
//! `configured` from `unchanged`.
//!
//! Against a remote API server every round trip costs tens of milliseconds, and a get before
//! each patch doubles them. So the whole set is read at once, before the first phase is applied
//! (under the deploy lock for a release), all reads concurrently: where there are several objects
//! of one kind in one namespace they are read with one list; a lone object is read with a get (a
//! list of a busy namespace's Secrets to learn about one of them would cost more than it saves).
//! The phases then only patch. An object changed by someone else between the read and the patch
//! is still reported right: a moved `resourceVersion` with nothing of ours changed is
//! `unchanged` (see `apply::action`).

use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt, stream};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, TypeMeta};
use stage::StageError;

use crate::manifest::{Manifest, ObjectRef};

/// Objects of one kind and namespace, at least this many in a phase, are listed.
const LIST_FROM: usize = 3;

/// How many reads are in flight at once.
const PARALLEL_READS: usize = 16;

/// `(group, kind, namespace)`.
type Bucket = (String, String, Option<String>);

/// What the reads found, and which buckets and objects they covered.
#[derive(Debug, Default)]
pub struct Snapshot {
    listed: HashSet<Bucket>,
    /// Objects read with a get, found or not.
    got: HashSet<(Bucket, String)>,
    objects: HashMap<(Bucket, String), DynamicObject>,
}

/// One read of the snapshot.
enum Read {
    List(Bucket, ApiResource),
    Get(Bucket, String, ApiResource),
}

impl Snapshot {
    /// Reads every object of `items`: the buckets that hold at least [`LIST_FROM`] objects with
    /// a list, the others with a get each. `resource` finds a kind's API path; a kind without
    /// one (not served yet: a CRD of the set) is left unread, for the apply to get.
    pub async fn read(
        client: &kube::Client,
        items: &[&Manifest],
        resource: impl Fn(&ObjectRef) -> Option<ApiResource>,
    ) -> Result<Self, StageError> {
        let mut buckets: HashMap<Bucket, Vec<&ObjectRef>> = HashMap::new();
        for manifest in items {
            buckets
                .entry(bucket(&manifest.key))
                .or_default()
                .push(&manifest.key);
        }
        let mut reads = Vec::new();
        for (bucket, keys) in buckets {
            let Some(resource) = resource(keys[0]) else {
                continue;
            };
            if keys.len() >= LIST_FROM {
                reads.push(Read::List(bucket, resource));
            } else {
                for key in keys {
                    reads.push(Read::Get(
                        bucket.clone(),
                        key.name.clone(),
                        resource.clone(),
                    ));
                }
            }
        }
        let answers = stream::iter(reads)
            .map(|read| read_one(client, read))
            .buffer_unordered(PARALLEL_READS)
            .collect::<Vec<_>>()
            .await;
        let mut snapshot = Self::default();
        for answer in answers {
            match answer? {
                Answer::Listed(bucket, items) => {
                    for object in items {
                        if let Some(name) = object.metadata.name.clone() {
                            snapshot.objects.insert((bucket.clone(), name), object);
                        }
                    }
                    snapshot.listed.insert(bucket);
                }
                Answer::Got(bucket, name, object) => {
                    if let Some(object) = object {
                        snapshot
                            .objects
                            .insert((bucket.clone(), name.clone()), *object);
                    }
                    snapshot.got.insert((bucket, name));
                }
            }
        }
        Ok(snapshot)
    }

    /// What the reads say of the object.
    pub fn before(&self, key: &ObjectRef) -> Before {
        let entry = (bucket(key), key.name.clone());
        if !self.listed.contains(&entry.0) && !self.got.contains(&entry) {
            return Before::Unread;
        }
        Before::Listed(self.objects.get(&entry).cloned().map(Box::new))
    }
}

/// An object before the apply, as far as the snapshot knows.
#[derive(Debug, Clone)]
pub enum Before {
    /// It was read (listed or got): the object as it was, `None` if it did not exist.
    Listed(Option<Box<DynamicObject>>),
    /// Not listed: read it on its own.
    Unread,
}

fn bucket(key: &ObjectRef) -> Bucket {
    (
        key.group().to_owned(),
        key.kind.clone(),
        key.namespace.clone(),
    )
}

/// What one read found.
enum Answer {
    Listed(Bucket, Vec<DynamicObject>),
    Got(Bucket, String, Option<Box<DynamicObject>>),
}

async fn read_one(client: &kube::Client, read: Read) -> Result<Answer, StageError> {
    let api = |bucket: &Bucket, resource: &ApiResource| -> Api<DynamicObject> {
        match &bucket.2 {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
            None => Api::all_with(client.clone(), resource),
        }
    };
    match read {
        Read::List(bucket, resource) => {
            let what = format!("listing {} to compare", resource.plural);
            let params = ListParams::default();
            let api = api(&bucket, &resource);
            let listed = cluster::retry(&what, || async {
                match api.list(&params).await {
                    Ok(list) => Ok(list.items),
                    // A namespace the set creates does not exist yet: nothing in it does either.
                    Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
                    Err(err) => Err(err),
                }
            })
            .await
            .map_err(|err| cluster::api_error(&what, &err))?;
            // Items of a list carry no apiVersion and kind; a get's answer does, and the
            // comparisons and diffs downstream expect the object as a get returns it.
            let types = TypeMeta {
                api_version: resource.api_version.clone(),
                kind: resource.kind.clone(),
            };
            let items = listed
                .into_iter()
                .map(|mut object| {
                    object.types = Some(types.clone());
                    object
                })
                .collect();
            Ok(Answer::Listed(bucket, items))
        }
        Read::Get(bucket, name, resource) => {
            let what = format!("reading {}/{name} to compare", resource.plural);
            let api = api(&bucket, &resource);
            let object = cluster::retry(&what, || api.get_opt(&name))
                .await
                .map_err(|err| cluster::api_error(&what, &err))?;
            Ok(Answer::Got(bucket, name, object.map(Box::new)))
        }
    }
}
