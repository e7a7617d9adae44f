//! Decoding bytes kubectl and helm really sent.

use serde_json::json;

use crate::protobuf::decode_object;

/// `kubectl create namespace pbtest` (kubectl 1.32), from /work/shared/notes/kubectl-protobuf.md.
const NAMESPACE: &[u8] = &[
    0x6b, 0x38, 0x73, 0x00, // k8s\0
    0x0a, 0x0f, 0x0a, 0x02, b'v', b'1', 0x12, 0x09, b'N', b'a', b'm', b'e', b's', b'p', b'a', b'c',
    b'e', // typeMeta
    0x12, 0x1e, 0x0a, 0x16, 0x0a, 0x06, b'p', b'b', b't', b'e', b's', b't', 0x12, 0x00, 0x1a, 0x00,
    0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00,
    0x1a, 0x00, 0x22, 0x00,
];

#[test]
fn kubectls_namespace_decodes_without_empty_server_fields() {
    // Go's JSON for the same Namespace: the empty strings, the zero generation and the zero
    // creationTimestamp are all omitted (omitempty / omitzero), the empty spec and status are
    // shown as objects, the empty phase is omitted.
    assert_eq!(
        decode_object(NAMESPACE).unwrap(),
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": "pbtest" },
            "spec": {},
            "status": {},
        })
    );
}

#[test]
fn bodies_without_the_magic_or_of_unknown_kinds_are_refused() {
    let err = decode_object(&NAMESPACE[4..]).unwrap_err();
    assert!(!err.unsupported_kind);
    let mut widget = b"k8s\0".to_vec();
    widget.extend([0x0a, 0x14, 0x0a, 0x0e]);
    widget.extend(b"example.com/v1");
    widget.extend([0x12, 0x02]);
    widget.extend(b"Wi");
    assert!(decode_object(&widget).unwrap_err().unsupported_kind);
    let truncated = &NAMESPACE[..NAMESPACE.len() - 6];
    assert!(decode_object(truncated).is_err());
}

/// JSON with its nulls removed: Go prints an unset pointer or time as `null` where the decoder
/// leaves the field out, and Kubernetes reads both as unset.
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, without_nulls(v)))
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(without_nulls).collect(),
        other => other,
    }
}

/// Bodies kubectl sent for `kubectl create …` (captured through a logging proxy), each beside
/// the JSON the same kubectl prints for `kubectl create … --dry-run=client -o json`: Go's own
/// JSON encoding of the same object, which the decoder must reproduce.
#[test]
fn kubectl_bodies_decode_to_what_kubectl_prints_as_json() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "deployment-1.32",
            include_bytes!("fixtures/deployment-1.32.bin"),
            include_str!("fixtures/deployment-1.32.json"),
        ),
        (
            "deployment-1.35",
            include_bytes!("fixtures/deployment-1.35.bin"),
            include_str!("fixtures/deployment-1.35.json"),
        ),
        (
            "service-nodeport-1.35",
            include_bytes!("fixtures/service-nodeport-1.35.bin"),
            include_str!("fixtures/service-nodeport-1.35.json"),
        ),
        (
            "cronjob-1.32",
            include_bytes!("fixtures/cronjob-1.32.bin"),
            include_str!("fixtures/cronjob-1.32.json"),
        ),
        (
            "secret-docker-1.35",
            include_bytes!("fixtures/secret-docker-1.35.bin"),
            include_str!("fixtures/secret-docker-1.35.json"),
        ),
        (
            "pdb-1.32",
            include_bytes!("fixtures/pdb-1.32.bin"),
            include_str!("fixtures/pdb-1.32.json"),
        ),
    ];
    for (name, body, printed) in cases {
        let expected = without_nulls(serde_json::from_str(printed).unwrap());
        assert_eq!(decode_object(body).unwrap(), expected, "{name}");
    }
}

/// helm 4.1's first write of `helm install tiny` (a chart of one ConfigMap): its release Secret.
#[test]
fn helms_release_secret_decodes() {
    use base64::Engine as _;
    let secret = decode_object(include_bytes!("fixtures/helm-4.1-release-secret.bin")).unwrap();
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["type"], "helm.sh/release.v1");
    assert_eq!(
        secret["metadata"],
        json!({
            "name": "sh.helm.release.v1.tiny.v1",
            "labels": {
                "createdAt": "1796187610",
                "name": "tiny",
                "owner": "helm",
                "status": "pending-install",
                "version": "1",
            },
        })
    );
    // Secret data is bytes: base64 in JSON. helm's release is itself base64 of gzip.
    let release = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["release"].as_str().unwrap())
        .unwrap();
    assert!(release.starts_with(b"H4sI"), "{release:?}");
    assert!(secret.get("immutable").is_none());
}
