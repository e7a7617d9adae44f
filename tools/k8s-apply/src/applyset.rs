//! Release membership recorded the `ApplySet` way (KEP-3659), so that kubectl sees the same
//! membership as pipewright: a parent Secret carrying the set's id, tooling and the group-kinds
//! and namespaces its members live in, and the `part-of` label on every member.
//!
//! The id is fixed by the KEP as `applyset-<base64url(sha256("<name>.<namespace>.<Kind>.<group>"))>-v1`.
//! (sha2 computes the digest; the test vectors below pin the wiring.)

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::manifest::ObjectRef;

/// The label every member carries, valued with the set's id.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// The label on the parent naming the set's id.
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Which tool manages the set (`name/version`); kubectl refuses to touch a set of another tool.
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// The `Kind.group` of every member kind, sorted, comma-separated.
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// The namespaces of members other than the parent's own, sorted, comma-separated.
pub const NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";

/// The parent Secret's name for a release. Prefixed so it cannot clash with an application
/// Secret named like the release.
pub fn parent_name(release: &str) -> String {
    format!("pipewright-applyset-{release}")
}

/// The KEP-3659 id of a parent Secret (core group, so the group part is empty).
pub fn id(parent: &str, namespace: &str) -> String {
    let digest = sha256(format!("{parent}.{namespace}.Secret.").as_bytes());
    format!("applyset-{}-v1", base64_url(&digest))
}

/// `Kind.group` as the annotation lists it (`Deployment.apps`, `Service.` has no dot: `Service`).
pub fn group_kind(key: &ObjectRef) -> String {
    let group = key.group();
    if group.is_empty() {
        key.kind.clone()
    } else {
        format!("{}.{group}", key.kind)
    }
}

/// The parent Secret, listing `group_kinds` and `namespaces` (supersets of the old and new
/// members, so that an interrupted run leaves nothing unfindable).
pub fn parent(
    release: &str,
    namespace: &str,
    group_kinds: &BTreeSet<String>,
    namespaces: &BTreeSet<String>,
) -> Value {
    let name = parent_name(release);
    let others: Vec<&str> = namespaces
        .iter()
        .map(String::as_str)
        .filter(|ns| *ns != namespace)
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                ID_LABEL: id(&name, namespace),
                cluster::names::MANAGED_BY_LABEL: cluster::names::MANAGED_BY,
                cluster::names::RELEASE_LABEL: release,
            },
            "annotations": {
                TOOLING_ANNOTATION: concat!("pipewright/", env!("CARGO_PKG_VERSION")),
                GROUP_KINDS_ANNOTATION: group_kinds.iter().map(String::as_str).collect::<Vec<_>>().join(","),
                NAMESPACES_ANNOTATION: others.join(","),
            },
        },
    })
}

/// Splits a comma-separated annotation value into its entries.
pub fn split_list(value: Option<&str>) -> BTreeSet<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Adds the `part-of` label to an object.
pub fn label_member(object: &mut Value, id: &str) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(serde_json::Map::new());
    }
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(PART_OF_LABEL.to_owned(), Value::String(id.to_owned()));
    }
}

/// Base64 with the URL alphabet and no padding, as the KEP asks.
fn base64_url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `data`.
fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        use std::fmt::Write as _;
        bytes.iter().fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn base64_url_has_no_padding_and_the_url_alphabet() {
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn the_id_has_the_kep_shape() {
        let id = id("pipewright-applyset-web", "shop");
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
        // 32 bytes are 43 characters unpadded: the id fits a 63-character label value.
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
    }

    #[test]
    fn members_get_the_label_without_losing_theirs() {
        let mut object = json!({"metadata": {"name": "a", "labels": {"app": "web"}}});
        label_member(&mut object, "applyset-x-v1");
        assert_eq!(object["metadata"]["labels"]["app"], "web");
        assert_eq!(object["metadata"]["labels"][PART_OF_LABEL], "applyset-x-v1");
    }
}
