//! The cloud side of networking: a LoadBalancer Service gets an AWS NLB-style hostname in
//! `status.loadBalancer.ingress` after the configured delay (simulated), and an Ingress gets an
//! ALB-style one; both record the events their controllers would.

use serde_json::{Value, json};

use super::events::{self, Event};
use super::hash::hex;
use super::meta;
use super::pass::{Kind, Pass};

pub fn reconcile(pass: &mut Pass<'_>) {
    let delay_ms = i64::try_from(pass.sim.settings.load_balancer_delay_secs)
        .unwrap_or(0)
        .saturating_mul(1000);
    for kind in [Kind::Service, Kind::Ingress] {
        for key in pass.index.of(kind).to_vec() {
            let Some(object) = pass.changed(&key, 0) else {
                continue;
            };
            let due = if kind == Kind::Service {
                service(pass, &object, delay_ms)
            } else {
                ingress(pass, &object, delay_ms)
            };
            pass.done(&object, 0, due);
        }
    }
}

/// Truncates a name part as the AWS Load Balancer Controller does (8 characters).
fn short(text: &str) -> &str {
    let end = text.char_indices().nth(8).map_or(text.len(), |(i, _)| i);
    text[..end].trim_end_matches('-')
}

fn service(pass: &mut Pass<'_>, svc: &Value, delay_ms: i64) -> Option<i64> {
    let uid = meta::uid(svc).to_owned();
    if meta::text(svc, "/spec/type") != "LoadBalancer" {
        pass.memory.since.remove(&uid);
        if svc.pointer("/status/loadBalancer/ingress").is_some() {
            pass.set_status(Kind::Service, svc, json!({ "loadBalancer": {} }));
        }
        return None;
    }
    let since = *pass.memory.since.entry(uid.clone()).or_insert(pass.now_ms);
    if svc
        .pointer("/status/loadBalancer/ingress/0/hostname")
        .is_some()
    {
        return None;
    }
    if since == pass.now_ms {
        events::record(
            pass,
            svc,
            &Event::normal(
                "service-controller",
                "EnsuringLoadBalancer",
                "Ensuring load balancer",
            ),
        );
    }
    if pass.now_ms < since + delay_ms {
        return Some(since + delay_ms);
    }
    let hostname = format!(
        "k8s-{}-{}-{}.elb.us-east-1.amazonaws.com",
        short(meta::namespace(svc)),
        short(meta::name(svc)),
        hex(&[uid.as_bytes()], 10),
    );
    pass.set_status(
        Kind::Service,
        svc,
        json!({ "loadBalancer": { "ingress": [{ "hostname": hostname }] } }),
    );
    events::record(
        pass,
        svc,
        &Event::normal(
            "service-controller",
            "EnsuredLoadBalancer",
            "Ensured load balancer",
        ),
    );
    None
}

fn ingress(pass: &mut Pass<'_>, ing: &Value, delay_ms: i64) -> Option<i64> {
    let uid = meta::uid(ing).to_owned();
    let since = *pass.memory.since.entry(uid.clone()).or_insert(pass.now_ms);
    if ing
        .pointer("/status/loadBalancer/ingress/0/hostname")
        .is_some()
    {
        return None;
    }
    if pass.now_ms < since + delay_ms {
        return Some(since + delay_ms);
    }
    let group = short(meta::namespace(ing)).to_owned();
    let hostname = format!(
        "k8s-{group}-{}-{}.us-east-1.elb.amazonaws.com",
        short(meta::name(ing)),
        hex(&[uid.as_bytes()], 10)
    );
    pass.set_status(
        Kind::Ingress,
        ing,
        json!({ "loadBalancer": { "ingress": [{ "hostname": hostname }] } }),
    );
    events::record(
        pass,
        ing,
        &Event::normal(
            "ingress",
            "SuccessfullyReconciled",
            "Successfully reconciled",
        ),
    );
    None
}
