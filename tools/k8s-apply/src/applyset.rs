//! Release membership recorded the `ApplySet` way (KEP-3659), so that kubectl sees the same
//! membership as pipewright: a parent Secret carrying the set's id, tooling and the group-kinds
//! and namespaces its members live in, and the `part-of` label on every member.
//!
//! The id is fixed by the KEP as `applyset-<base64url(sha256("<name>.<namespace>.<Kind>.<group>"))>-v1`.
//! No hashing crate is among the workspace's dependencies, and one digest per run does not
//! justify adding one, so SHA-256 (FIPS 180-4) is written out here and checked against the
//! standard's test vectors.

use std::collections::BTreeSet;

use serde_json::{Value, json};

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
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// SHA-256 of `data`.
// The single-letter names are the standard's own, which makes checking this against it easy.
#[allow(clippy::many_single_char_names)]
fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
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
