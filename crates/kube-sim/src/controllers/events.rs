//! core/v1 Events, as the kubelet, the scheduler and the controllers record them. An event is
//! named after what it is about (object, reason, message), so the same occurrence again bumps
//! `count` and `lastTimestamp` of one object instead of creating another, like the real event
//! recorder's aggregation.

use serde_json::{Value, json};

use super::hash::hex;
use super::meta;
use super::pass::{Kind, Pass};

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub reason: &'a str,
    pub message: String,
    pub warning: bool,
    /// `kubelet`, `default-scheduler`, `deployment-controller`, …
    pub component: &'a str,
    /// The node, for kubelet events.
    pub host: Option<&'a str>,
    /// `spec.containers{app}` for container events.
    pub field_path: Option<String>,
}

impl<'a> Event<'a> {
    pub fn normal(component: &'a str, reason: &'a str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            warning: false,
            component,
            host: None,
            field_path: None,
        }
    }

    pub fn warning(component: &'a str, reason: &'a str, message: impl Into<String>) -> Self {
        Self {
            warning: true,
            ..Self::normal(component, reason, message)
        }
    }

    pub fn on_host(mut self, host: Option<&'a str>) -> Self {
        self.host = host;
        self
    }

    pub fn in_container(mut self, container: &str) -> Self {
        self.field_path = Some(format!("spec.containers{{{container}}}"));
        self
    }
}

/// Records one more occurrence of `event` about `object` now.
pub fn record(pass: &mut Pass<'_>, object: &Value, event: &Event<'_>) {
    let name = event_name(object, event);
    let key = pass.types.key(Kind::Event, meta::namespace(object), &name);
    let (count, first) = match pass.get(&key) {
        Some(old) => (
            meta::int(&old, "/count", 1) + 1,
            meta::text(&old, "/firstTimestamp").to_owned(),
        ),
        None => (1, pass.now.clone()),
    };
    let now = pass.now.clone();
    put(pass, object, event, &name, count, &first, &now);
}

/// Makes the event about `object` say it happened `count` times, first and last at the given
/// times, writing only when that differs from what is stored. For kubelet events whose history
/// is a function of the pod's timeline.
pub fn ensure(
    pass: &mut Pass<'_>,
    object: &Value,
    event: &Event<'_>,
    count: i64,
    first: &str,
    last: &str,
) {
    if count <= 0 {
        return;
    }
    let name = event_name(object, event);
    let key = pass.types.key(Kind::Event, meta::namespace(object), &name);
    if let Some(old) = pass.store.get(&key)
        && meta::int(old, "/count", 0) == count
        && meta::text(old, "/lastTimestamp") == last
    {
        return;
    }
    put(pass, object, event, &name, count, first, last);
}

fn event_name(object: &Value, event: &Event<'_>) -> String {
    let suffix = hex(
        &[
            meta::uid(object).as_bytes(),
            event.reason.as_bytes(),
            event.message.as_bytes(),
            event.field_path.as_deref().unwrap_or("").as_bytes(),
        ],
        16,
    );
    format!("{}.{suffix}", meta::name(object))
}

fn put(
    pass: &mut Pass<'_>,
    object: &Value,
    event: &Event<'_>,
    name: &str,
    count: i64,
    first: &str,
    last: &str,
) {
    let namespace = match meta::namespace(object) {
        "" => "default",
        ns => ns,
    };
    let mut involved = json!({
        "apiVersion": meta::text(object, "/apiVersion"),
        "kind": meta::text(object, "/kind"),
        "name": meta::name(object),
        "uid": meta::uid(object),
        "resourceVersion": meta::text(object, "/metadata/resourceVersion"),
    });
    if !meta::namespace(object).is_empty() {
        involved["namespace"] = json!(namespace);
    }
    if let Some(path) = &event.field_path {
        involved["fieldPath"] = json!(path);
    }
    let mut source = json!({ "component": event.component });
    if let Some(host) = event.host {
        source["host"] = json!(host);
    }
    let body = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": { "name": name, "namespace": namespace },
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "type": if event.warning { "Warning" } else { "Normal" },
        "source": source,
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "eventTime": null,
        "reportingComponent": event.component,
        "reportingInstance": event.host.unwrap_or(""),
    });
    let key = pass.types.key(Kind::Event, namespace, name);
    match pass.store.get(&key).cloned() {
        Some(mut old) => {
            for field in [
                "involvedObject",
                "count",
                "firstTimestamp",
                "lastTimestamp",
                "message",
                "type",
                "source",
            ] {
                old[field] = body[field].clone();
            }
            pass.replace(Kind::Event, old);
        }
        None => {
            pass.create(Kind::Event, namespace, body);
        }
    }
}
