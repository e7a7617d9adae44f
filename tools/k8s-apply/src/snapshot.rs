//! The objects of a phase as they were before the apply, which is what tells `created` from
//! `configured` from `unchanged`.
//!
//! Against a remote API server every round trip costs tens of milliseconds, and a get before
//! each patch doubles them. So where a phase has several objects of one kind in one namespace,
//! they are read with one list; a lone object is read with a get (a list of a busy namespace's
//! Secrets to learn about one of them would cost more than it saves).

use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt, stream};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, TypeMeta};
use stage::StageError;

use crate::manifest::{Manifest, ObjectRef};

/// Objects of one kind and namespace, at least this many in a phase, are listed.
const LIST_FROM: usize = 3;

/// How many lists are in flight at once.
const PARALLEL_LISTS: usize = 4;

/// `(group, kind, namespace)`.
type Bucket = (String, String, Option<String>);

/// What the lists found, and which buckets they covered.
#[derive(Debug, Default)]
pub struct Snapshot {
    listed: HashSet<Bucket>,
    objects: HashMap<(Bucket, String), DynamicObject>,
}

impl Snapshot {
    /// Lists the buckets of `items` that hold at least [`LIST_FROM`] objects. `resource` finds a
    /// kind's API path; a kind without one (not served yet) is left to a get.
    pub async fn read(
        client: &kube::Client,
        items: &[&Manifest],
        resource: impl Fn(&ObjectRef) -> Option<ApiResource>,
    ) -> Result<Self, StageError> {
        let mut counts: HashMap<Bucket, (usize, &ObjectRef)> = HashMap::new();
        for manifest in items {
            let entry = counts
                .entry(bucket(&manifest.key))
                .or_insert((0, &manifest.key));
            entry.0 += 1;
        }
        let wanted: Vec<(Bucket, ApiResource)> = counts
            .into_iter()
            .filter(|(_, (count, _))| *count >= LIST_FROM)
            .filter_map(|(bucket, (_, key))| resource(key).map(|r| (bucket, r)))
            .collect();
        let lists = stream::iter(wanted)
            .map(|(bucket, resource)| async move {
                let api: Api<DynamicObject> = match &bucket.2 {
                    Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
                    None => Api::all_with(client.clone(), &resource),
                };
                let what = format!("listing {} to compare", resource.plural);
                let params = ListParams::default();
                let list = cluster::retry(&what, || api.list(&params))
                    .await
                    .map_err(|err| cluster::api_error(&what, &err))?;
                // Items of a list carry no apiVersion and kind; a get's answer does, and the
                // comparisons and diffs downstream expect the object as a get returns it.
                let types = TypeMeta {
                    api_version: resource.api_version.clone(),
                    kind: resource.kind.clone(),
                };
                let items = list
                    .items
                    .into_iter()
                    .map(|mut object| {
                        object.types = Some(types.clone());
                        object
                    })
                    .collect::<Vec<_>>();
                Ok::<_, StageError>((bucket, items))
            })
            .buffer_unordered(PARALLEL_LISTS)
            .collect::<Vec<_>>()
            .await;
        let mut snapshot = Self::default();
        for listed in lists {
            let (bucket, items) = listed?;
            for object in items {
                if let Some(name) = object.metadata.name.clone() {
                    snapshot.objects.insert((bucket.clone(), name), object);
                }
            }
            snapshot.listed.insert(bucket);
        }
        Ok(snapshot)
    }

    /// What the lists say of the object.
    pub fn before(&self, key: &ObjectRef) -> Before {
        let bucket = bucket(key);
        if !self.listed.contains(&bucket) {
            return Before::Unread;
        }
        Before::Listed(
            self.objects
                .get(&(bucket, key.name.clone()))
                .cloned()
                .map(Box::new),
        )
    }
}

/// An object before the apply, as far as the snapshot knows.
#[derive(Debug, Clone)]
pub enum Before {
    /// Its kind and namespace were listed: the object as it was, `None` if it did not exist.
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
