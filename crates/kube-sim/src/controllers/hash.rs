//! Stable short hashes: pod-template-hash and ControllerRevision names, deterministic event names,
//! and the fake image digests and container IDs a kubelet would report.
//!
//! Names must not change between passes for the same input (otherwise a controller would see
//! its own ReplicaSet as foreign), so everything here is a pure function of its input. JSON is
//! hashed with object keys sorted, whatever map order `serde_json` was built with.

use std::fmt::Write as _;

use serde_json::Value;

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a over a sequence of byte strings (each followed by a separator, so ("ab","c") and
/// ("a","bc") differ).
pub fn fnv(parts: &[&[u8]]) -> u64 {
    let mut hash = FNV_OFFSET;
    for part in parts {
        for byte in part.iter().chain(std::iter::once(&0xff)) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    }
    hash
}

/// A hash of a JSON value that ignores object key order.
pub fn json_hash(value: &Value) -> u64 {
    let mut hash = FNV_OFFSET;
    feed(&mut hash, value);
    hash
}

fn eat(hash: &mut u64, bytes: &[u8]) {
    for byte in bytes {
        *hash ^= u64::from(*byte);
        *hash = hash.wrapping_mul(FNV_PRIME);
    }
}

fn feed(hash: &mut u64, value: &Value) {
    match value {
        Value::Object(map) => {
            eat(hash, b"{");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                eat(hash, key.as_bytes());
                eat(hash, b":");
                if let Some(v) = map.get(key) {
                    feed(hash, v);
                }
                eat(hash, b",");
            }
            eat(hash, b"}");
        }
        Value::Array(items) => {
            eat(hash, b"[");
            for item in items {
                feed(hash, item);
                eat(hash, b",");
            }
            eat(hash, b"]");
        }
        other => eat(hash, other.to_string().as_bytes()),
    }
}

/// Ten characters from the safe alphabet, like a pod-template-hash (`5d9c8f7b6c`).
pub fn safe_name(hash: u64) -> String {
    let mut rest = hash;
    (0..10)
        .map(|_| {
            let index = usize::try_from(rest % SAFE.len() as u64).unwrap_or(0);
            rest /= SAFE.len() as u64;
            char::from(SAFE[index])
        })
        .collect()
}

/// `n` lowercase hex digits derived from `parts` (image digests, container IDs, event names).
pub fn hex(parts: &[&[u8]], n: usize) -> String {
    let mut out = String::with_capacity(n + 16);
    let mut round: u64 = 0;
    while out.len() < n {
        let seed = round.to_le_bytes();
        let mut all: Vec<&[u8]> = parts.to_vec();
        all.push(&seed);
        let _ = write!(out, "{:016x}", fnv(&all));
        round += 1;
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_hash_ignores_key_order_but_not_values() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"c":[1,2]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":{"c":[1,2]},"a":1}"#).unwrap();
        assert_eq!(json_hash(&a), json_hash(&b));
        assert_ne!(
            json_hash(&a),
            json_hash(&json!({"a": 1, "b": {"c": [2, 1]}}))
        );
    }

    #[test]
    fn names_use_the_safe_alphabet() {
        let name = safe_name(json_hash(&json!({"x": 1})));
        assert_eq!(name.len(), 10);
        assert!(name.bytes().all(|b| SAFE.contains(&b)));
        assert_eq!(hex(&[b"x"], 64).len(), 64);
        assert_ne!(hex(&[b"x"], 16), hex(&[b"y"], 16));
    }
}
