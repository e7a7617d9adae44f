//! Watches: a stream of `{"type": …, "object": …}` lines, from a resourceVersion on (or from the
//! current state, as synthetic ADDED events, when none is given), until the client goes away, the
//! watch times out, or an injected fault cuts it. A resourceVersion older than the history kept
//! gets an ERROR event with a 410 `Expired` Status, as the real API server sends, so clients
//! re-list.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::api::body::{self, Body};
use crate::api::objects::ObjectRequest;
use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::sim::Sim;
use crate::store::{Change, EventType};

/// Which changes a watch reports.
struct Filter {
    group: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
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
            && self.labels.matches(&change.object)
            && self.fields.matches(&change.object)
    }
}

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
        labels: LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))?,
    };
    let since = match query.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");

    // Subscribe and read the backlog under one lock, so no change falls between them.
    let (mut receiver, backlog, current_rv) = {
        let store = sim.store();
        let receiver = store.subscribe();
        let backlog: Option<Vec<Change>> = match since {
            None => Some(
                store
                    .list(resource, filter.namespace.as_deref())
                    .into_iter()
                    .map(|object| Change {
                        resource_version: 0,
                        event: EventType::Added,
                        key: crate::store::ObjectKey::new(
                            resource,
                            object
                                .pointer("/metadata/namespace")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                            object
                                .pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                        ),
                        object: Arc::new(object.clone()),
                    })
                    .collect(),
            ),
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
    let deadline = [timeout, cut_after].into_iter().flatten().min();
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let stream = async {
            let mut sent = 0u64;
            let mut last_rv = since.unwrap_or(current_rv);
            for change in backlog.iter().filter(|c| filter.matches(c)) {
                if !send(&sender, change).await {
                    return;
                }
                last_rv = last_rv.max(change.resource_version);
                sent += 1;
                if cut_after_events.is_some_and(|n| sent >= n) {
                    return;
                }
            }
            let mut bookmark_timer = tokio::time::interval(Duration::from_secs(1));
            loop {
                let change = tokio::select! {
                    received = receiver.recv() => match received {
                        Ok(change) => change,
                        // Fell behind: end the stream; the client resumes from its last event.
                        Err(RecvError::Lagged(_) | RecvError::Closed) => return,
                    },
                    _ = bookmark_timer.tick(), if bookmarks => {
                        let rv = sim.store().resource_version();
                        let bookmark = json!({ "kind": "Bookmark", "apiVersion": "v1", "metadata": { "resourceVersion": rv.to_string() } });
                        if sender.send(event_line("BOOKMARK", &bookmark)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    () = sender.closed() => return,
                };
                if change.resource_version <= last_rv || !filter.matches(&change) {
                    continue;
                }
                last_rv = change.resource_version;
                if !send(&sender, &change).await {
                    return;
                }
                sent += 1;
                if cut_after_events.is_some_and(|n| sent >= n) {
                    return;
                }
            }
        };
        match deadline {
            Some(limit) => {
                let _ = tokio::time::timeout(limit, stream).await;
            }
            None => stream.await,
        }
    });
    Ok(response)
}

async fn send(sender: &mpsc::Sender<Bytes>, change: &Change) -> bool {
    sender
        .send(event_line(change.event.as_str(), &change.object))
        .await
        .is_ok()
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({ "type": kind, "object": object }).to_string();
    line.push('\n');
    Bytes::from(line)
}
