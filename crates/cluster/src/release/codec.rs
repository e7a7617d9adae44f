//! A release record as the Secret that stores it: JSON, gzipped, as the Secret's `release` data.
//!
//! The API server base64-encodes Secret data on the wire, so with kubectl a record reads as
//! `kubectl get secret pipewright.release.v1.web.v3 -o jsonpath='{.data.release}' | base64 -d |
//! gunzip`. Helm base64-encodes its records once more before the API does; that second layer
//! costs a third of the space and buys nothing, so we leave it out.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use stage::StageError;

use super::record::{RECORD_SCHEMA, ReleaseRecord};
use crate::names;

/// The most a record may take once compressed. A Secret holds at most 1 MiB, data and metadata
/// together; the rest is left for metadata.
pub const MAX_RECORD_BYTES: usize = 1_000_000;

/// The most a record may take uncompressed when read back: far beyond any real manifest set, and
/// a bound on what a corrupt or hostile Secret can make us allocate.
const MAX_DECODED_BYTES: u64 = 64 * 1024 * 1024;

/// The record as gzipped JSON. Refuses a record that would not fit in a Secret, naming its size.
pub fn encode(record: &ReleaseRecord) -> Result<Vec<u8>, StageError> {
    // The message is error text, which may quote a child process (an exec plugin's output inside
    // kube-client's error) and with it a secret nobody registered: `history` and `rollback` print
    // it later, to anyone who can read the record. Scrubbed here, where every record is written.
    let scrubbed;
    let record = match &record.message {
        Some(message) if stage::secret::scrub(message) != *message => {
            let mut copy = record.clone();
            copy.message = Some(stage::secret::scrub(message));
            scrubbed = copy;
            &scrubbed
        }
        _ => record,
    };
    let json = serde_json::to_vec(record).map_err(|e| {
        StageError::new(
            stage::ErrorKind::Internal,
            format!("cannot serialise release record: {e}"),
        )
    })?;
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    let compressed = gz
        .write_all(&json)
        .and_then(|()| gz.finish())
        .map_err(|e| {
            StageError::new(
                stage::ErrorKind::Internal,
                format!("cannot compress release record: {e}"),
            )
        })?;
    if compressed.len() > MAX_RECORD_BYTES {
        return Err(StageError::invalid_input(format!(
            "release {} revision {}: the record is {} bytes compressed ({} objects), more than \
             the {MAX_RECORD_BYTES} a Secret can hold",
            record.release,
            record.revision,
            compressed.len(),
            record.manifests.len()
        ))
        .with_hint("split the set into several releases"));
    }
    Ok(compressed)
}

/// A record from its gzipped JSON. A record of a schema we do not know is refused rather than
/// half-read: a newer pipewright wrote it.
pub fn decode(bytes: &[u8]) -> Result<ReleaseRecord, StageError> {
    let mut json = Vec::new();
    GzDecoder::new(bytes)
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| StageError::failed(format!("release record is not gzip data: {e}")))?;
    if json.len() as u64 > MAX_DECODED_BYTES {
        return Err(StageError::failed(format!(
            "release record expands beyond {MAX_DECODED_BYTES} bytes"
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|e| StageError::failed(format!("release record is not JSON: {e}")))?;
    let schema = value["schema"].as_str().unwrap_or("");
    if schema != RECORD_SCHEMA {
        return Err(StageError::failed(format!(
            "release record has schema {schema:?}; this pipewright reads {RECORD_SCHEMA:?}"
        ))
        .with_hint("a newer pipewright wrote it: use that version"));
    }
    serde_json::from_value(value)
        .map_err(|e| StageError::failed(format!("release record does not parse: {e}")))
}

/// The Secret that stores `record`. `create_id` marks which `create` call wrote it.
pub fn to_secret(record: &ReleaseRecord, create_id: Option<&str>) -> Result<Secret, StageError> {
    let data = encode(record)?;
    let labels = BTreeMap::from([
        (
            names::MANAGED_BY_LABEL.to_owned(),
            names::MANAGED_BY.to_owned(),
        ),
        (names::RELEASE_LABEL.to_owned(), record.release.clone()),
        (
            names::REVISION_LABEL.to_owned(),
            record.revision.to_string(),
        ),
        (
            names::STATUS_LABEL.to_owned(),
            record.status.as_str().to_owned(),
        ),
    ]);
    let annotations = create_id
        .map(|id| BTreeMap::from([(names::CREATE_ID_ANNOTATION.to_owned(), id.to_owned())]));
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(names::record_name(&record.release, record.revision)),
            namespace: Some(record.namespace.clone()),
            labels: Some(labels),
            annotations,
            ..ObjectMeta::default()
        },
        type_: Some(names::RECORD_TYPE.to_owned()),
        data: Some(BTreeMap::from([(
            names::RECORD_KEY.to_owned(),
            ByteString(data),
        )])),
        ..Secret::default()
    })
}

/// The record a Secret stores, checked against the Secret's own name and type.
pub fn from_secret(secret: &Secret) -> Result<ReleaseRecord, StageError> {
    let name = secret.metadata.name.as_deref().unwrap_or("?");
    if secret.type_.as_deref() != Some(names::RECORD_TYPE) {
        return Err(StageError::failed(format!(
            "Secret {name} is not a release record (type {:?})",
            secret.type_.as_deref().unwrap_or("")
        )));
    }
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(names::RECORD_KEY))
        .ok_or_else(|| {
            StageError::failed(format!("Secret {name} has no {:?} data", names::RECORD_KEY))
        })?;
    let record = decode(&bytes.0)
        .map_err(|e| StageError::failed(format!("Secret {name}: {}", e.message())))?;
    if names::record_name(&record.release, record.revision) != name {
        return Err(StageError::failed(format!(
            "Secret {name} holds a record of release {} revision {}",
            record.release, record.revision
        )));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use serde_json::json;

    use super::*;
    use crate::release::{ManifestSet, OwnedObject};

    fn record_with_a_secret() -> ReleaseRecord {
        let mut record = ReleaseRecord::new("web", "shop");
        record.revision = 3;
        record
            .images
            .insert("registry.example/web:1.2.3".to_owned());
        record.objects.push(OwnedObject {
            api_version: "v1".to_owned(),
            kind: "Secret".to_owned(),
            namespace: Some("shop".to_owned()),
            name: "db".to_owned(),
            uid: None,
        });
        record.manifests = ManifestSet::new(vec![json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": "db", "namespace": "shop" },
            "data": { "password": base64::engine::general_purpose::STANDARD.encode("hunter2-very-secret") },
            "stringData": { "token": "plain-token-value" },
        })]);
        record
    }

    #[test]
    fn gzip_and_base64_round_trip_as_kubectl_sees_it() {
        let record = record_with_a_secret();
        let secret = to_secret(&record, Some("id-1")).unwrap();
        // What `kubectl get -o json` shows: the API's base64 of our gzip bytes.
        let wire = serde_json::to_value(&secret).unwrap();
        let shown = wire["data"]["release"].as_str().unwrap();
        let gz = base64::engine::general_purpose::STANDARD
            .decode(shown)
            .unwrap();
        let mut json = String::new();
        GzDecoder::new(gz.as_slice())
            .read_to_string(&mut json)
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["schema"], RECORD_SCHEMA);
        assert_eq!(value["revision"], 3);

        let back = from_secret(&serde_json::from_value(wire).unwrap()).unwrap();
        assert_eq!(back, record);
        assert_eq!(
            secret.metadata.name.as_deref(),
            Some("pipewright.release.v1.web.v3")
        );
        assert_eq!(
            secret.metadata.labels.unwrap()[names::STATUS_LABEL],
            "applying"
        );
    }

    #[test]
    fn debug_never_shows_secret_data() {
        let record = record_with_a_secret();
        let shown = format!("{record:?} {record:#?}");
        let encoded = base64::engine::general_purpose::STANDARD.encode("hunter2-very-secret");
        for leak in ["hunter2-very-secret", encoded.as_str(), "plain-token-value"] {
            assert!(!shown.contains(leak), "{leak} leaked: {shown}");
        }
        assert!(shown.contains("Secret shop/db"), "{shown}");
    }

    #[test]
    fn secret_values_are_offered_for_masking() {
        let values: Vec<String> = record_with_a_secret()
            .manifests
            .secret_values()
            .iter()
            .map(|s| s.expose().to_owned())
            .collect();
        assert!(values.contains(&"hunter2-very-secret".to_owned()));
        assert!(values.contains(&"plain-token-value".to_owned()));
    }

    #[test]
    fn other_schemas_and_garbage_are_refused() {
        let mut value = serde_json::to_value(record_with_a_secret()).unwrap();
        value["schema"] = json!("pipewright.dev/release-record/v2");
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(value.to_string().as_bytes()).unwrap();
        let err = decode(&gz.finish().unwrap()).unwrap_err();
        assert!(err.message().contains("v2"), "{}", err.message());
        assert!(decode(b"not gzip").is_err());
    }

    #[test]
    fn a_record_too_big_for_a_secret_is_refused_with_its_size() {
        let mut record = ReleaseRecord::new("web", "shop");
        // 3 MB of pseudo-random hex: about 1.5 MB once gzipped, more than a Secret holds.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: String = (0..3_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit(u32::try_from(x % 16).unwrap(), 16).unwrap()
            })
            .collect();
        record.manifests =
            ManifestSet::new(vec![json!({ "kind": "ConfigMap", "data": { "k": noise } })]);
        let err = encode(&record).unwrap_err();
        assert_eq!(err.kind(), stage::ErrorKind::InvalidInput);
        assert!(
            err.message().contains("bytes compressed"),
            "{}",
            err.message()
        );
    }
}
