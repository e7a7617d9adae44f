//! Watches: a stream of `{"type": …, "object": …}` lines, from a resourceVersion on (or from the
//! current state, as synthetic ADDED events, when none is given), until the client goes away, the
//! watch times out, or an injected fault cuts it. A resourceVersion older than the history kept
//! gets an ERROR event with a 410 `Expired` Status, as the real API server sends, so clients
//! re-list.
//!
//! Streaming lists (`sendInitialEvents=true&resourceVersionMatch=NotOlderThan`, what client-go's
//! informers send, and so helm 4's `--wait`) end their initial events with a BOOKMARK annotated
//! `k8s.io/initial-events-end: "true"`; an informer counts itself synced only then. Bookmarks carry
//! an object of the watched kind holding only `metadata.resourceVersion`, as the real server's do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use crate::api::body::{self, Body};
use crate::api::objects::ObjectRequest;
use crate::api::status::ApiError;
use crate::api::table::{self, WatchTables};
use crate::resources::ResourceType;
use crate::selectors::Selection;
use crate::sim::Sim;
use crate::store::{Change, EventType, ObjectKey, Store};

/// Which changes a watch reports.
struct Filter {
    group: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    selection: Selection,
}

impl Filter {
    fn matches(&self, change: &Change) -> bool {
        change.key.group == self.group
            && change.key.plural == self.plural
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| &change.key.namespace == ns)
            && self.name.as_ref().is_none_or(|n| &change.key.name == n)
            && self.selection.matches(&change.object)
    }
}

/// How often an open watch looks whether an injected outage has begun.
const OUTAGE_CHECK: Duration = Duration::from_millis(50);

pub fn start(
    sim: &Arc<Sim>,
    resource: &ResourceType,
    request: &ObjectRequest<'_>,
) -> Result<hyper::Response<Body>, ApiError> {
    let query = &request.query;
    let filter = Filter {
        group: resource.group.clone(),
        plural: resource.plural.clone(),
        namespace: request
            .target
            .namespace
            .clone()
            .filter(|_| resource.namespaced),
        name: request.target.name.clone(),
        selection: Selection::from_query(query)?,
    };
    let tables = WatchTables::for_request(sim, resource, request)?;
    let requested_rv = match query.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let bookmarks = query_bool(query, "allowWatchBookmarks")?.unwrap_or(false);
    let initial_events = initial_events(query)?;
    // With initial events the stream starts from the current state, which is never older than a
    // requested resourceVersion (NotOlderThan); without them, from that resourceVersion, or from
    // now when there is none.
    let since = if initial_events { None } else { requested_rv };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);

    // Subscribe and read the backlog under one lock, so no change falls between them.
    let (receiver, backlog, current_rv) = {
        let store = sim.store();
        let receiver = store.subscribe();
        let backlog = match since {
            None if initial_events => Some(current_state(&store, resource, &filter)),
            None => Some(Vec::new()),
            Some(rv) => store.changes_since(rv),
        };
        (receiver, backlog, store.resource_version())
    };

    let (sender, response) = body::streaming();
    let Some(backlog) = backlog else {
        let gone = ApiError::gone(format!(
            "too old resource version: {} ({current_rv})",
            since.unwrap_or(0)
        ));
        let line = event_line("ERROR", &gone.to_status());
        tokio::spawn(async move {
            let _ = sender.send(line).await;
        });
        return Ok(response);
    };
    let (cut_after_events, cut_after) = sim.faults.watch_limits();
    let pump = Pump {
        sim: Arc::clone(sim),
        sender,
        filter,
        last_rv: since.unwrap_or(current_rv),
        sent: 0,
        cut_after_events,
        bookmarks,
        initial_events_end: (initial_events && bookmarks).then_some(current_rv),
        kind: resource.kind.clone(),
        api_version: resource.api_version(),
        tables,
    };
    let deadline = [timeout, cut_after].into_iter().flatten().min();
    tokio::spawn(async move {
        match deadline {
            Some(limit) => {
                let _ = tokio::time::timeout(limit, pump.run(backlog, receiver)).await;
            }
            None => pump.run(backlog, receiver).await,
        }
    });
    Ok(response)
}

/// The objects that exist now, as the ADDED events a watch without a resourceVersion starts with.
fn current_state(store: &Store, resource: &ResourceType, filter: &Filter) -> Vec<Change> {
    store
        .list(resource, filter.namespace.as_deref())
        .into_iter()
        .map(|object| {
            let field = |name: &str| object.pointer(name).and_then(Value::as_str).unwrap_or("");
            Change {
                resource_version: 0,
                event: EventType::Added,
                key: ObjectKey::new(
                    resource,
                    field("/metadata/namespace"),
                    field("/metadata/name"),
                ),
                object: Arc::new(object.clone()),
            }
        })
        .collect()
}

/// Feeds one watch stream: the backlog, then live changes, until the client leaves, the stream
/// lags behind, or an injected cut ends it.
struct Pump {
    sim: Arc<Sim>,
    sender: mpsc::Sender<Bytes>,
    filter: Filter,
    last_rv: u64,
    sent: u64,
    cut_after_events: Option<u64>,
    bookmarks: bool,
    /// The resourceVersion of the state the initial events showed, when the client asked to be
    /// told where they end.
    initial_events_end: Option<u64>,
    /// What a bookmark's object is: one of the watched kind.
    kind: String,
    api_version: String,
    /// Set when the client asked for Table rows (`kubectl get -w`).
    tables: Option<WatchTables>,
}

impl Pump {
    async fn run(mut self, backlog: Vec<Change>, mut receiver: broadcast::Receiver<Change>) {
        for change in &backlog {
            if !self.forward(change).await {
                return;
            }
        }
        if let Some(rv) = self.initial_events_end {
            let annotations = json!({ INITIAL_EVENTS_END: "true" });
            if !self.send_bookmark(rv, Some(annotations)).await {
                return;
            }
        }
        // Bookmarks tell a quiet watcher how far it has got; the first one comes after a period,
        // not at once, as with a real API server.
        let period = Duration::from_secs(1);
        let mut bookmark_timer =
            tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        // An injected outage ends the streams already open too, as a server going away does;
        // otherwise a quiet watch would never notice it.
        let mut outage_check = tokio::time::interval(OUTAGE_CHECK);
        loop {
            let change = tokio::select! {
                next = receiver.recv() => match next {
                    Ok(change) => change,
                    // Fell behind: end the stream; the client resumes from its last event.
                    Err(RecvError::Lagged(_) | RecvError::Closed) => return,
                },
                _ = bookmark_timer.tick(), if self.bookmarks => {
                    if !self.bookmark().await {
                        return;
                    }
                    continue;
                }
                () = self.sender.closed() => return,
                _ = outage_check.tick() => {
                    if self.sim.faults.is_down() {
                        return;
                    }
                    continue;
                }
            };
            if !self.forward(&change).await {
                return;
            }
        }
    }

    /// Sends a change if it is new and wanted; false when the stream must end.
    async fn forward(&mut self, change: &Change) -> bool {
        let replayed_state = change.resource_version == 0;
        if (!replayed_state && change.resource_version <= self.last_rv)
            || !self.filter.matches(change)
        {
            return true;
        }
        self.last_rv = self.last_rv.max(change.resource_version);
        let object = table::watch_object(self.tables.as_mut(), &change.object, &self.sim.clock);
        let line = event_line(change.event.as_str(), &object);
        if self.sender.send(line).await.is_err() {
            return false;
        }
        self.sent += 1;
        self.cut_after_events.is_none_or(|limit| self.sent < limit)
    }

    async fn bookmark(&self) -> bool {
        let rv = self.sim.store().resource_version();
        self.send_bookmark(rv, None).await
    }

    async fn send_bookmark(&self, rv: u64, annotations: Option<Value>) -> bool {
        let mut metadata = json!({ "resourceVersion": rv.to_string() });
        if let Some(annotations) = annotations {
            metadata["annotations"] = annotations;
        }
        let bookmark =
            json!({ "kind": self.kind, "apiVersion": self.api_version, "metadata": metadata });
        self.sender
            .send(event_line("BOOKMARK", &bookmark))
            .await
            .is_ok()
    }
}

/// The annotation of the bookmark that ends a streaming list's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

const NOT_OLDER_THAN: &str = "NotOlderThan";

/// Whether the watch starts with the current state as ADDED events, after checking the options
/// as the real server does (with its `WatchList` feature on, as from Kubernetes 1.32): an explicit
/// `sendInitialEvents` needs `resourceVersionMatch=NotOlderThan`, and a watch from no
/// resourceVersion (or "0") that says neither gets initial events by default.
fn initial_events(query: &BTreeMap<String, String>) -> Result<bool, ApiError> {
    let send = query_bool(query, "sendInitialEvents")?;
    let matching = query.get("resourceVersionMatch").map_or("", String::as_str);
    let mut causes: Vec<(&str, String)> = Vec::new();
    if send.is_some() && matching != NOT_OLDER_THAN {
        causes.push((
            "resourceVersionMatch",
            format!("Forbidden: sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}"),
        ));
    }
    if !matching.is_empty() {
        if send.is_none() {
            causes.push((
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided".to_owned(),
            ));
        }
        if matching != NOT_OLDER_THAN {
            causes.push((
                "resourceVersionMatch",
                format!("Unsupported value: {matching:?}: supported values: \"{NOT_OLDER_THAN}\""),
            ));
        }
        if query.get("continue").is_some_and(|c| !c.is_empty()) {
            causes.push((
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden when continue is provided".to_owned(),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", &causes));
    }
    let legacy_start = query
        .get("resourceVersion")
        .is_none_or(|rv| rv.is_empty() || rv == "0");
    Ok(send.unwrap_or(legacy_start))
}

/// A boolean query parameter as the real server parses one (Go's `strconv.ParseBool`).
fn query_bool(query: &BTreeMap<String, String>, name: &str) -> Result<Option<bool>, ApiError> {
    match query.get(name).map(String::as_str) {
        None => Ok(None),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "strconv.ParseBool: parsing {other:?}: invalid syntax"
        ))),
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({ "type": kind, "object": object }).to_string();
    line.push('\n');
    Bytes::from(line)
}
