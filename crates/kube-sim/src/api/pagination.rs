//! Lists in pages: `limit` and `continue`, as `kubectl get --chunk-size`, helm and client-go's
//! pager use them.
//!
//! Consistency across pages is the real server's: every page of one list is served from the
//! state of the first page (its resourceVersion is on every page), whatever has changed since.
//! The first page of a list that does not fit keeps a snapshot of the resource's objects; the
//! continue token (`{"v":"meta.k8s.io/v1","rv":…,"start":…}`, base64url, as the real one is
//! built) names that resourceVersion and the key to resume after. Snapshots play etcd's
//! history: they are compacted after five minutes (etcd's default compaction interval), when
//! more than [`MAX_SNAPSHOTS`] are kept, or when a test calls [`Snapshots::compact`]. A token
//! whose snapshot is gone gets 410 `Expired` with the real message and a new token that
//! continues from the current state (inconsistent, as the message says), unless nothing has
//! changed since the first page.
//!
//! Items come in etcd key order (`namespace/name`), as the real server lists them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::api::body::{self, Body};
use crate::api::objects::ObjectRequest;
use crate::api::status::ApiError;
use crate::api::table::Tables;
use crate::resources::ResourceType;
use crate::selectors::Selection;
use crate::sim::Sim;

/// How many first-page snapshots are kept at most; the oldest goes first.
pub const MAX_SNAPSHOTS: usize = 32;

/// How long a snapshot is kept: etcd's default compaction interval on the real API server.
pub const SNAPSHOT_LIFETIME: Duration = Duration::from_mins(5);

const TOKEN_VERSION: &str = "meta.k8s.io/v1";

const TOO_OLD_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

const TOO_OLD_LIST: &str = "The resourceVersion for the provided list is too old.";

/// The states paginated lists are served from.
#[derive(Debug, Default)]
pub struct Snapshots {
    kept: Mutex<VecDeque<Snapshot>>,
}

#[derive(Debug)]
struct Snapshot {
    resource_version: u64,
    scope: Scope,
    taken: Instant,
    objects: Arc<Vec<Value>>,
}

/// Which objects a list covers: one resource, in one namespace or all.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    group: String,
    plural: String,
    namespace: Option<String>,
}

impl Snapshots {
    /// Drops every snapshot, as an etcd compaction would: continue tokens issued so far
    /// expire (unless nothing has changed since).
    pub fn compact(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Snapshot>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn keep(&self, resource_version: u64, scope: Scope, objects: Arc<Vec<Value>>) {
        let mut kept = self.lock();
        kept.retain(|s| s.taken.elapsed() < SNAPSHOT_LIFETIME);
        if kept
            .iter()
            .any(|s| s.resource_version == resource_version && s.scope == scope)
        {
            return;
        }
        while kept.len() >= MAX_SNAPSHOTS {
            kept.pop_front();
        }
        kept.push_back(Snapshot {
            resource_version,
            scope,
            taken: Instant::now(),
            objects,
        });
    }

    fn find(&self, resource_version: u64, scope: &Scope) -> Option<Arc<Vec<Value>>> {
        let mut kept = self.lock();
        kept.retain(|s| s.taken.elapsed() < SNAPSHOT_LIFETIME);
        kept.iter()
            .find(|s| s.resource_version == resource_version && &s.scope == scope)
            .map(|s| Arc::clone(&s.objects))
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    /// How many items are left after this page; only when no selector filters the list.
    pub remaining: Option<usize>,
}

impl Page {
    /// The list's `metadata`.
    pub fn list_meta(&self) -> Value {
        let mut meta = json!({ "resourceVersion": self.resource_version.to_string() });
        if let Some(token) = &self.continue_token {
            meta["continue"] = json!(token);
        }
        if let Some(remaining) = self.remaining {
            meta["remainingItemCount"] = json!(remaining);
        }
        meta
    }
}

/// Where a page starts reading: a state of the resource and the key after which to resume.
struct Source {
    objects: Arc<Vec<Value>>,
    resource_version: u64,
    after: Option<String>,
    /// A first page of the live state, to be kept if the list goes on.
    fresh: bool,
}

/// Answers a list request: the page it asks for, as a list of the kind or as a Table.
pub fn list(
    sim: &Sim,
    resource: &ResourceType,
    request: &ObjectRequest<'_>,
) -> Result<hyper::Response<Body>, ApiError> {
    let selection = Selection::from_query(&request.query)?;
    let tables = Tables::for_request(sim, resource, request)?;
    let namespace = request.target.namespace.as_deref();
    let page = match page(sim, resource, namespace, &request.query, &selection) {
        Ok(page) => page,
        Err(ListError::Api(err)) => return Err(err),
        Err(ListError::Expired { token }) => {
            let mut status = ApiError::gone(TOO_OLD_CONTINUE).to_status();
            status["metadata"] = json!({ "continue": token });
            return Ok(body::json(410, &status));
        }
    };
    if let Some(tables) = tables {
        let rows: Vec<&Value> = page.items.iter().collect();
        let table = tables.table(&rows, page.list_meta(), sim.clock.now(), true);
        return Ok(body::json(200, &table));
    }
    Ok(body::object(
        200,
        &json!({
            "kind": resource.list_kind(),
            "apiVersion": resource.api_version(),
            "metadata": page.list_meta(),
            "items": page.items,
        }),
        &request.accept,
    ))
}

/// Why a page cannot be served.
#[derive(Debug)]
pub enum ListError {
    Api(ApiError),
    /// The continue token's state is compacted; `token` goes on from the current state.
    Expired {
        token: String,
    },
}

impl From<ApiError> for ListError {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

/// The page a list request asks for.
pub fn page(
    sim: &Sim,
    resource: &ResourceType,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
    selection: &Selection,
) -> Result<Page, ListError> {
    let scope = Scope {
        group: resource.group.clone(),
        plural: resource.plural.clone(),
        namespace: namespace.filter(|_| resource.namespaced).map(str::to_owned),
    };
    let param = |name: &str| query.get(name).map_or("", String::as_str);
    let resource_version = param("resourceVersion");
    // resourceVersion=0 is served from the watch cache, which ignores limit.
    let limit = limit(param("limit"))?.filter(|_| resource_version != "0");
    let source = if param("continue").is_empty() {
        first_page_source(sim, resource, &scope, resource_version, limit)?
    } else {
        if !resource_version.is_empty() && resource_version != "0" {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            )
            .into());
        }
        continued_source(sim, resource, &scope, param("continue"))?
    };

    let filtered = !param("labelSelector").is_empty() || !param("fieldSelector").is_empty();
    let mut matching = source
        .objects
        .iter()
        .filter(|o| {
            source
                .after
                .as_ref()
                .is_none_or(|after| &key(&scope, o) > after)
        })
        .filter(|o| selection.matches(o));
    let items: Vec<Value> = match limit {
        Some(limit) => matching.by_ref().take(limit).cloned().collect(),
        None => matching.by_ref().cloned().collect(),
    };
    let remaining = matching.count();
    let continue_token = match items.last() {
        Some(last) if remaining > 0 => Some(encode(source.resource_version, &key(&scope, last))),
        _ => None,
    };
    if continue_token.is_some() && source.fresh {
        sim.list_snapshots.keep(
            source.resource_version,
            scope.clone(),
            Arc::clone(&source.objects),
        );
    }
    Ok(Page {
        items,
        resource_version: source.resource_version,
        remaining: (continue_token.is_some() && !filtered).then_some(remaining),
        continue_token,
    })
}

fn limit(text: &str) -> Result<Option<usize>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    let limit: i64 = text.parse().map_err(|_| {
        ApiError::bad_request(format!("invalid limit {text:?}: it must be a whole number"))
    })?;
    // Zero or less means no limit, as on the real server.
    Ok(usize::try_from(limit).ok().filter(|l| *l > 0))
}

/// The objects of a scope now, in key order, with the resourceVersion they are at.
fn live(sim: &Sim, resource: &ResourceType, scope: &Scope) -> (Arc<Vec<Value>>, u64) {
    let store = sim.store();
    let mut objects: Vec<Value> = store
        .list(resource, scope.namespace.as_deref())
        .into_iter()
        .cloned()
        .collect();
    let resource_version = store.resource_version();
    drop(store);
    objects.sort_by_cached_key(|o| key(scope, o));
    (Arc::new(objects), resource_version)
}

fn first_page_source(
    sim: &Sim,
    resource: &ResourceType,
    scope: &Scope,
    resource_version: &str,
    limit: Option<usize>,
) -> Result<Source, ApiError> {
    let (objects, current) = live(sim, resource, scope);
    // A limited list at a given resourceVersion is served at exactly that version (the
    // "legacy exact" rule); without a limit any newer state will do.
    if limit.is_some() && !resource_version.is_empty() {
        let wanted: u64 = resource_version.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid resource version: {resource_version:?} is not a resourceVersion"
            ))
        })?;
        if wanted != current {
            let objects = sim
                .list_snapshots
                .find(wanted, scope)
                .ok_or_else(|| ApiError::gone(TOO_OLD_LIST))?;
            return Ok(Source {
                objects,
                resource_version: wanted,
                after: None,
                fresh: false,
            });
        }
    }
    Ok(Source {
        objects,
        resource_version: current,
        after: None,
        fresh: true,
    })
}

fn continued_source(
    sim: &Sim,
    resource: &ResourceType,
    scope: &Scope,
    token: &str,
) -> Result<Source, ListError> {
    let (resource_version, start) = decode(token).map_err(|why| {
        ApiError::bad_request(format!(
            "invalid continue token: continue key is not valid: {why}"
        ))
    })?;
    // The key the token names is the last one served plus a NUL: resume after that key.
    let after = Some(start.trim_end_matches('\0').to_owned());
    let (objects, current) = live(sim, resource, scope);
    // rv -1: the client chose to go on from the current state after a 410.
    let Ok(wanted) = u64::try_from(resource_version) else {
        return Ok(Source {
            objects,
            resource_version: current,
            after,
            fresh: false,
        });
    };
    if wanted == current {
        return Ok(Source {
            objects,
            resource_version: current,
            after,
            fresh: false,
        });
    }
    match sim.list_snapshots.find(wanted, scope) {
        Some(objects) => Ok(Source {
            objects,
            resource_version: wanted,
            after,
            fresh: false,
        }),
        None => Err(ListError::Expired {
            token: encode_raw(-1, &start),
        }),
    }
}

/// The etcd key of an object relative to the list's prefix: `name` within a namespace or for
/// cluster-scoped kinds, `namespace/name` across namespaces.
fn key(scope: &Scope, object: &Value) -> String {
    let field = |name: &str| {
        object
            .pointer(&format!("/metadata/{name}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    match (scope.namespace.as_deref(), field("namespace")) {
        (None, namespace) if !namespace.is_empty() => format!("{namespace}/{}", field("name")),
        _ => field("name").to_owned(),
    }
}

/// A token resuming after `last_key`.
fn encode(resource_version: u64, last_key: &str) -> String {
    encode_raw(
        i64::try_from(resource_version).unwrap_or(i64::MAX),
        &format!("{last_key}\0"),
    )
}

fn encode_raw(resource_version: i64, start: &str) -> String {
    let token = json!({ "v": TOKEN_VERSION, "rv": resource_version, "start": start });
    URL_SAFE_NO_PAD.encode(token.to_string())
}

/// The resourceVersion and start key of a continue token, or why it is not valid.
fn decode(token: &str) -> Result<(i64, String), String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|e| format!("illegal base64 data: {e}"))?;
    let token: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let version = token.get("v").and_then(Value::as_str).unwrap_or("");
    if version != TOKEN_VERSION {
        return Err(format!(
            "server does not recognize this encoded version {version:?}"
        ));
    }
    let resource_version = token.get("rv").and_then(Value::as_i64).unwrap_or(0);
    if resource_version == 0 {
        return Err("incorrect encoded start resourceVersion (version meta.k8s.io/v1)".to_owned());
    }
    let start = token.get("start").and_then(Value::as_str).unwrap_or("");
    if start.is_empty() {
        return Err("encoded start key empty (version meta.k8s.io/v1)".to_owned());
    }
    // A key that climbs out of the list's prefix is refused, as path cleaning refuses it.
    let climbs = start
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
        || start.starts_with('/')
        || start.contains("//");
    if climbs {
        return Err(start.to_owned());
    }
    Ok((resource_version, start.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_say_why() {
        let token = encode(1234, "default/cm-02");
        assert_eq!(decode(&token), Ok((1234, "default/cm-02\0".to_owned())));
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(&token).unwrap()).unwrap();
        assert_eq!(
            raw,
            r#"{"rv":1234,"start":"default/cm-02\u0000","v":"meta.k8s.io/v1"}"#
        );
        assert!(decode("not base64!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("{")).is_err());
        let zero = URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#);
        assert!(decode(&zero).unwrap_err().contains("resourceVersion"));
        let other = URL_SAFE_NO_PAD.encode(r#"{"v":"v9","rv":5,"start":"a"}"#);
        assert!(decode(&other).unwrap_err().contains("v9"));
        let climb =
            URL_SAFE_NO_PAD.encode(r#"{"v":"meta.k8s.io/v1","rv":5,"start":"../secrets/x"}"#);
        assert!(decode(&climb).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(limit(""), Ok(None));
        assert_eq!(limit("0"), Ok(None));
        assert_eq!(limit("-3"), Ok(None));
        assert_eq!(limit("2"), Ok(Some(2)));
        assert_eq!(limit("two").unwrap_err().code, 400);
    }

    #[test]
    fn keys_follow_etcd_order() {
        let all = Scope {
            group: String::new(),
            plural: "configmaps".to_owned(),
            namespace: None,
        };
        let one = Scope {
            namespace: Some("a".to_owned()),
            ..all.clone()
        };
        let object = json!({ "metadata": { "name": "x", "namespace": "a-b" } });
        assert_eq!(key(&all, &object), "a-b/x");
        assert_eq!(key(&one, &object), "x");
        let mut keys = vec!["a/x".to_owned(), "a-b/x".to_owned()];
        keys.sort();
        assert_eq!(keys, ["a-b/x", "a/x"]);
    }
}
