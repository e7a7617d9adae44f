//! Signed records: who may be believed about a release's history (`docs/release-records.md`).
//!
//! A record Secret is anyone's to write who may create or update Secrets in the release's
//! namespace, and a rollback applies what a record holds with the deployer's rights. So every
//! record carries an HMAC-SHA256 (`data.mac`) over its namespace, its Secret's name and its exact
//! `release` bytes, keyed with the release's record key: 32 random bytes in the immutable Secret
//! `pipewright.release-key.v1.<release>` that only the deploy identity may `get`. RBAC cannot
//! limit `create` by object name, but it can limit `get`, so a creator who is not the deployer
//! can neither read the key nor make a MAC that verifies. The name and namespace are under the
//! MAC so that a genuine record copied to another revision number, release or namespace does not
//! verify there either.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::Sha256;
use stage::StageError;

use super::record::ReleaseRecord;
use crate::names;

/// The type of the key Secret: a type of its own, so that nothing takes it for a record.
pub const KEY_TYPE: &str = "pipewright.dev/release-key.v1";
/// The record Secret's data key holding the MAC (32 raw bytes).
pub const MAC_KEY: &str = "mac";
/// The key Secret's data key holding the key.
const KEY_DATA: &str = "key";
const KEY_BYTES: usize = 32;
/// Keeps a MAC of ours from ever meaning anything in another protocol that reuses the key.
const DOMAIN: &[u8] = b"pipewright.dev/release-record/v1 mac\n";

/// The key Secret of `release`.
pub fn key_name(release: &str) -> String {
    format!("pipewright.release-key.v1.{release}")
}

/// How far a record read from the cluster can be believed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trust {
    /// Not checked (a record built in memory, or decoded without its history).
    #[default]
    Unchecked,
    /// Its MAC verifies with the release's key: the deployer wrote it.
    Verified,
    /// It has no MAC: written before records were signed, or planted.
    Unsigned,
    /// Its MAC does not verify: edited or planted by someone without the key.
    Altered,
    /// It has a MAC, but the key could not be read (missing, or not ours to read).
    NoKey,
}

impl Trust {
    pub fn is_verified(self) -> bool {
        self == Self::Verified
    }
}

/// A release's record key. `Debug` never shows it.
#[derive(Clone)]
pub struct RecordKey {
    bytes: [u8; KEY_BYTES],
    /// The uid of the Secret it was read from (`None`: made here, not stored yet).
    pub(crate) uid: Option<String>,
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordKey")
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

impl RecordKey {
    /// A new key from the operating system's generator; never a weaker fallback.
    pub fn generate() -> Result<Self, StageError> {
        use rand::TryRngCore;
        let mut bytes = [0u8; KEY_BYTES];
        rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| {
            StageError::new(
                stage::ErrorKind::Internal,
                format!("cannot make a release record key: the OS random generator failed: {e}"),
            )
        })?;
        Ok(Self { bytes, uid: None })
    }

    /// The key a key Secret holds, checked: our type, immutable (so that an `update` cannot swap
    /// it), 32 bytes.
    pub fn from_secret(secret: &Secret) -> Result<Self, StageError> {
        let name = secret.metadata.name.as_deref().unwrap_or("?");
        let bad = |why: &str| {
            StageError::failed(format!("the release record key secret/{name} {why}")).with_hint(
                "the deployer creates it (immutable, type pipewright.dev/release-key.v1) on its \
                 first deploy; something else wrote this one: see docs/release-records.md",
            )
        };
        if secret.type_.as_deref() != Some(KEY_TYPE) {
            return Err(bad(&format!(
                "has type {:?}, not {KEY_TYPE}",
                secret.type_.as_deref().unwrap_or("")
            )));
        }
        if secret.immutable != Some(true) {
            return Err(bad("is not immutable"));
        }
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(KEY_DATA))
            .and_then(|b| <[u8; KEY_BYTES]>::try_from(b.0.as_slice()).ok())
            .ok_or_else(|| bad(&format!("has no {KEY_BYTES}-byte {KEY_DATA:?} data")))?;
        Ok(Self {
            bytes,
            uid: secret.metadata.uid.clone(),
        })
    }

    /// The key Secret for `release` in `namespace`: immutable, so that only a delete (a verb a
    /// deployer need not share) can replace it.
    pub fn to_secret(&self, release: &str, namespace: &str) -> Secret {
        let labels = BTreeMap::from([
            (
                names::MANAGED_BY_LABEL.to_owned(),
                names::MANAGED_BY.to_owned(),
            ),
            (names::RELEASE_LABEL.to_owned(), release.to_owned()),
        ]);
        Secret {
            metadata: ObjectMeta {
                name: Some(key_name(release)),
                namespace: Some(namespace.to_owned()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            type_: Some(KEY_TYPE.to_owned()),
            immutable: Some(true),
            data: Some(BTreeMap::from([(
                KEY_DATA.to_owned(),
                ByteString(self.bytes.to_vec()),
            )])),
            ..Secret::default()
        }
    }

    fn mac(&self, namespace: &str, name: &str, data: &[u8]) -> Hmac<Sha256> {
        // A 32-byte key is always accepted; HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.bytes)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for part in [DOMAIN, namespace.as_bytes(), b"\n", name.as_bytes(), b"\n"] {
            mac.update(part);
        }
        mac.update(data);
        mac
    }

    /// Adds the MAC of a record Secret made by `to_secret` (its name, namespace and data set).
    pub fn seal(&self, secret: &mut Secret) {
        let namespace = secret.metadata.namespace.clone().unwrap_or_default();
        let name = secret.metadata.name.clone().unwrap_or_default();
        let Some(data) = secret.data.as_mut() else {
            return;
        };
        let record = data
            .get(names::RECORD_KEY)
            .map_or(&[][..], |b| b.0.as_slice());
        let tag = self.mac(&namespace, &name, record).finalize().into_bytes();
        data.insert(MAC_KEY.to_owned(), ByteString(tag.to_vec()));
    }

    /// Whether a record Secret's MAC verifies (in constant time). `namespace` is where it was
    /// read from, not what it says.
    pub fn verify(&self, namespace: &str, secret: &Secret) -> Trust {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let data = secret.data.as_ref();
        let Some(tag) = data.and_then(|d| d.get(MAC_KEY)) else {
            return Trust::Unsigned;
        };
        let record = data
            .and_then(|d| d.get(names::RECORD_KEY))
            .map_or(&[][..], |b| b.0.as_slice());
        match self.mac(namespace, name, record).verify_slice(&tag.0) {
            Ok(()) => Trust::Verified,
            Err(_) => Trust::Altered,
        }
    }
}

/// How far a record Secret read from `namespace` can be believed, given the key (if readable).
pub fn check(key: Option<&RecordKey>, namespace: &str, secret: &Secret) -> Trust {
    match key {
        Some(key) => key.verify(namespace, secret),
        None if secret
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(MAC_KEY)) =>
        {
            Trust::NoKey
        }
        None => Trust::Unsigned,
    }
}

impl ReleaseRecord {
    /// Refuses (exit 1) a record the deployer cannot be shown to have written, naming its Secret
    /// and saying how to go on.
    pub fn check_trusted(&self) -> Result<(), StageError> {
        let secret = names::record_name(&self.release, self.revision);
        let which = format!(
            "revision {} of release {} (secret/{secret} in namespace {})",
            self.revision, self.release, self.namespace
        );
        let inspect = format!(
            "inspect it with `kubectl get secret {secret} -n {} -o yaml` and delete it if nobody \
             on your team wrote it; see docs/release-records.md",
            self.namespace
        );
        let (why, hint) = match self.trust {
            Trust::Verified => return Ok(()),
            Trust::Unsigned => (
                "carries no record MAC: a pipewright older than signed records wrote it, or \
                 someone who can create Secrets there planted it; it cannot be rolled back to or \
                 settled"
                    .to_owned(),
                format!(
                    "to return to that version, deploy its commit again with `k8s-apply -f … \
                     --release {}` (a signed revision), or name a signed one with --to; {inspect}",
                    self.release
                ),
            ),
            Trust::Altered => (
                "does not match its record MAC: it was edited, or planted, by someone other than \
                 the deployer"
                    .to_owned(),
                inspect,
            ),
            Trust::NoKey => (
                format!(
                    "cannot be verified: the record key secret/{} is missing or not readable",
                    key_name(&self.release)
                ),
                format!(
                    "the deploy identity needs `get` on secret/{}; if it was deleted, no earlier \
                     record can be trusted again: deploy again to start a new signed history",
                    key_name(&self.release)
                ),
            ),
            Trust::Unchecked => (
                "was not checked against the release's record key".to_owned(),
                "read it through the release's history".to_owned(),
            ),
        };
        Err(StageError::failed(format!("{which} {why}")).with_hint(hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::codec::to_secret;

    fn sealed() -> (RecordKey, Secret) {
        let key = RecordKey::generate().unwrap();
        let mut record = ReleaseRecord::new("web", "shop");
        record.revision = 2;
        let mut secret = to_secret(&record, None).unwrap();
        key.seal(&mut secret);
        (key, secret)
    }

    #[test]
    fn a_sealed_record_verifies_and_any_change_breaks_it() {
        let (key, secret) = sealed();
        assert_eq!(key.verify("shop", &secret), Trust::Verified);
        assert_eq!(key.verify("other", &secret), Trust::Altered);
        let mut renamed = secret.clone();
        renamed.metadata.name = Some(names::record_name("web", 3));
        assert_eq!(key.verify("shop", &renamed), Trust::Altered);
        let mut edited = secret.clone();
        edited
            .data
            .as_mut()
            .unwrap()
            .get_mut(names::RECORD_KEY)
            .unwrap()
            .0[12] ^= 1;
        assert_eq!(key.verify("shop", &edited), Trust::Altered);
        let other = RecordKey::generate().unwrap();
        assert_eq!(other.verify("shop", &secret), Trust::Altered);
        let mut unsigned = secret.clone();
        unsigned.data.as_mut().unwrap().remove(MAC_KEY);
        assert_eq!(key.verify("shop", &unsigned), Trust::Unsigned);
        assert_eq!(check(None, "shop", &secret), Trust::NoKey);
        assert_eq!(check(None, "shop", &unsigned), Trust::Unsigned);
    }

    #[test]
    fn the_key_secret_round_trips_and_must_be_immutable() {
        let (key, secret) = sealed();
        let mut stored = key.to_secret("web", "shop");
        let back = RecordKey::from_secret(&stored).unwrap();
        assert_eq!(back.verify("shop", &secret), Trust::Verified);
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.bytes)));
        stored.immutable = None;
        let err = RecordKey::from_secret(&stored).unwrap_err();
        assert!(err.message().contains("not immutable"), "{}", err.message());
    }

    #[test]
    fn refusals_name_the_secret() {
        let mut record = ReleaseRecord::new("web", "shop");
        record.revision = 4;
        for trust in [Trust::Unsigned, Trust::Altered, Trust::NoKey] {
            record.trust = trust;
            let err = record.check_trusted().unwrap_err();
            assert_eq!(err.kind(), stage::ErrorKind::Failed);
            assert!(
                err.message()
                    .contains("secret/pipewright.release.v1.web.v4"),
                "{}",
                err.message()
            );
        }
        record.trust = Trust::Verified;
        assert!(record.check_trusted().is_ok());
    }
}
