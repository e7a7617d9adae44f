//! Printers of the networking kinds: `Service`, `Endpoints`, `Ingress` and `NetworkPolicy`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::format::{self, list, text};
use super::{AGE, Builtin, Col, NAME};

pub static SERVICES: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Type", "string", "How the service is exposed."),
        Col::new(
            "Cluster-IP",
            "string",
            "The service's IP inside the cluster.",
        ),
        Col::new(
            "External-IP",
            "string",
            "Addresses outside the cluster that reach it.",
        ),
        Col::new("Port(s)", "string", "The ports the service exposes."),
        AGE,
        Col::wide("Selector", "string", "The labels of the pods it routes to."),
    ],
    cells: |svc, now| {
        let cluster_ip = list(svc, "/spec/clusterIPs")
            .first()
            .and_then(Value::as_str)
            .or_else(|| format::text_at(svc, "/spec/clusterIP"))
            .unwrap_or("<none>");
        let ports: Vec<String> = list(svc, "/spec/ports")
            .iter()
            .map(|port| {
                let protocol = format::text_at(port, "/protocol").unwrap_or("TCP");
                match format::int(port, "/nodePort") {
                    0 => format!("{}/{protocol}", format::int(port, "/port")),
                    node_port => format!("{}:{node_port}/{protocol}", format::int(port, "/port")),
                }
            })
            .collect();
        let ports = if ports.is_empty() {
            "<none>".to_owned()
        } else {
            ports.join(",")
        };
        vec![
            format::name(svc),
            json!(format::text_at(svc, "/spec/type").unwrap_or("ClusterIP")),
            json!(cluster_ip),
            json!(external_ip(svc)),
            json!(ports),
            json!(format::age(svc, now)),
            json!(format::labels(svc.pointer("/spec/selector"))),
        ]
    },
};

/// The load balancer's addresses (IP, else hostname), sorted and without repeats. The server
/// builds tables "wide", so nothing is shortened.
fn load_balancer(status: Option<&Value>) -> String {
    let addresses: BTreeSet<&str> = status
        .and_then(|s| s.get("ingress"))
        .and_then(Value::as_array)
        .map(|ingress| {
            ingress
                .iter()
                .filter_map(|i| {
                    [text(i, "/ip"), text(i, "/hostname")]
                        .into_iter()
                        .find(|a| !a.is_empty())
                })
                .collect()
        })
        .unwrap_or_default();
    addresses.into_iter().collect::<Vec<_>>().join(",")
}

fn external_ip(svc: &Value) -> String {
    let external: Vec<&str> = list(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match format::text_at(svc, "/spec/type").unwrap_or("ClusterIP") {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_owned(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let balancer = load_balancer(svc.pointer("/status/loadBalancer"));
            let mut all: Vec<&str> = balancer.split(',').filter(|a| !a.is_empty()).collect();
            all.extend(&external);
            if all.is_empty() {
                "<pending>".to_owned()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text(svc, "/spec/externalName").to_owned(),
        _ => "<unknown>".to_owned(),
    }
}

pub static ENDPOINTS: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new(
            "Endpoints",
            "string",
            "The addresses and ports behind the service.",
        ),
        AGE,
    ],
    cells: |ep, now| {
        vec![
            format::name(ep),
            json!(endpoints(ep)),
            json!(format::age(ep, now)),
        ]
    },
};

/// `ip:port` for the first three addresses of every subset, then `+ N more...`.
fn endpoints(ep: &Value) -> String {
    const SHOWN: usize = 3;
    let subsets = list(ep, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    let mut shown: Vec<String> = Vec::new();
    let mut count = 0;
    for subset in subsets {
        let addresses = list(subset, "/addresses");
        let ports = list(subset, "/ports");
        if ports.is_empty() {
            // A headless service without ports lists bare addresses.
            count += addresses.len();
            for address in addresses {
                if shown.len() < SHOWN {
                    shown.push(text(address, "/ip").to_owned());
                }
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for address in addresses {
                if shown.len() < SHOWN {
                    let ip = text(address, "/ip");
                    let port = format::int(port, "/port");
                    shown.push(if ip.contains(':') {
                        format!("[{ip}]:{port}")
                    } else {
                        format!("{ip}:{port}")
                    });
                }
            }
        }
    }
    let joined = shown.join(",");
    if count > SHOWN {
        format!("{joined} + {} more...", count - SHOWN)
    } else {
        joined
    }
}

pub static INGRESSES: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Class", "string", "The IngressClass that handles it."),
        Col::new(
            "Hosts",
            "string",
            "Hosts that incoming requests are matched against before the ingress rule",
        ),
        Col::new(
            "Address",
            "string",
            "Address is a list containing ingress points for the load-balancer",
        ),
        Col::new("Ports", "string", "Ports of TLS configurations that open"),
        AGE,
    ],
    cells: |ing, now| {
        let rules = list(ing, "/spec/rules");
        // Up to three hosts; "more" only once a rule is seen after the third host.
        let mut hosts: Vec<&str> = Vec::new();
        let mut more = false;
        for rule in rules {
            if hosts.len() == 3 {
                more = true;
                break;
            }
            let host = text(rule, "/host");
            if !host.is_empty() {
                hosts.push(host);
            }
        }
        let hosts = if hosts.is_empty() {
            "*".to_owned()
        } else if more {
            format!("{} + {} more...", hosts.join(","), rules.len() - 3)
        } else {
            hosts.join(",")
        };
        let ports = if list(ing, "/spec/tls").is_empty() {
            "80"
        } else {
            "80, 443"
        };
        vec![
            format::name(ing),
            json!(format::text_at(ing, "/spec/ingressClassName").unwrap_or("<none>")),
            json!(hosts),
            json!(load_balancer(ing.pointer("/status/loadBalancer"))),
            json!(ports),
            json!(format::age(ing, now)),
        ]
    },
};

pub static NETWORK_POLICIES: Builtin = Builtin {
    columns: &[
        NAME,
        Col::new("Pod-Selector", "string", "The pods the policy applies to."),
        AGE,
    ],
    cells: |np, now| {
        vec![
            format::name(np),
            json!(format::selector_or_none(np.pointer("/spec/podSelector"))),
            json!(format::age(np, now)),
        ]
    },
};

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn services_of_each_type() {
        let cluster_ip = json!({
            "metadata": { "name": "web", "creationTimestamp": "2026-03-01T11:59:00Z" },
            "spec": { "type": "ClusterIP", "clusterIP": "10.96.0.12", "clusterIPs": ["10.96.0.12"],
                      "selector": { "app": "web" },
                      "ports": [{ "port": 80, "protocol": "TCP" }, { "port": 53, "protocol": "UDP" }] },
        });
        assert_eq!(
            (SERVICES.cells)(&cluster_ip, now()),
            vec![
                json!("web"),
                json!("ClusterIP"),
                json!("10.96.0.12"),
                json!("<none>"),
                json!("80/TCP,53/UDP"),
                json!("60s"),
                json!("app=web"),
            ]
        );
        let pending = json!({
            "metadata": { "name": "edge" },
            "spec": { "type": "LoadBalancer", "clusterIPs": ["10.96.0.13"],
                      "ports": [{ "port": 443, "nodePort": 31443, "protocol": "TCP" }] },
        });
        let cells = (SERVICES.cells)(&pending, now());
        assert_eq!(&cells[3..5], &[json!("<pending>"), json!("443:31443/TCP")]);
        let mut ready = pending.clone();
        ready["status"] = json!({ "loadBalancer": { "ingress": [
            { "hostname": "k8s-shop-edge-0123456789.elb.us-east-1.amazonaws.com" },
        ] } });
        // Not shortened: the server builds the wide form.
        assert_eq!(
            (SERVICES.cells)(&ready, now())[3],
            "k8s-shop-edge-0123456789.elb.us-east-1.amazonaws.com"
        );
        let external = json!({ "metadata": { "name": "db" }, "spec": { "type": "ExternalName", "externalName": "db.example.com" } });
        let cells = (SERVICES.cells)(&external, now());
        assert_eq!(
            &cells[2..5],
            &[json!("<none>"), json!("db.example.com"), json!("<none>")]
        );
    }

    #[test]
    fn endpoints_show_three_then_count_the_rest() {
        let ep = json!({
            "metadata": { "name": "web" },
            "subsets": [{
                "addresses": [{ "ip": "10.0.0.1" }, { "ip": "10.0.0.2" }],
                "ports": [{ "port": 8080 }, { "port": 9090 }],
            }],
        });
        assert_eq!(
            (ENDPOINTS.cells)(&ep, now())[1],
            "10.0.0.1:8080,10.0.0.2:8080,10.0.0.1:9090 + 1 more..."
        );
        let none = json!({ "metadata": { "name": "idle" } });
        assert_eq!((ENDPOINTS.cells)(&none, now())[1], "<none>");
    }

    #[test]
    fn ingresses() {
        let ing = json!({
            "metadata": { "name": "shop" },
            "spec": { "ingressClassName": "alb",
                      "rules": [{ "host": "shop.example.com" }, { "host": "api.example.com" }],
                      "tls": [{ "hosts": ["shop.example.com"] }] },
            "status": { "loadBalancer": { "ingress": [{ "hostname": "k8s-shop-1.elb.amazonaws.com" }] } },
        });
        assert_eq!(
            &(INGRESSES.cells)(&ing, now())[1..5],
            &[
                json!("alb"),
                json!("shop.example.com,api.example.com"),
                json!("k8s-shop-1.elb.amazonaws.com"),
                json!("80, 443"),
            ]
        );
        let bare = json!({ "metadata": { "name": "x" }, "spec": { "rules": [{}] } });
        assert_eq!(
            &(INGRESSES.cells)(&bare, now())[1..5],
            &[json!("<none>"), json!("*"), json!(""), json!("80")]
        );
    }
}
