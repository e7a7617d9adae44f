//! The on-disk token cache: kubectl runs its exec plugin on every command, and our own tools on
//! every client they build, so a token made a minute ago is handed out again instead of signing
//! (and, with `--role-arn`, calling STS) each time.
//!
//! One file per cluster, region, STS endpoint, role and signing identity (the access key id of the
//! credentials, which changes whenever they are renewed), under
//! `$XDG_CACHE_HOME/pipewright/eks-token/` or `~/.cache/pipewright/eks-token/`: directory 0700,
//! files 0600 written whole by a rename, since they hold tokens. A token is reused until
//! [`REFRESH_MARGIN`] before its `expirationTimestamp`. The cache is an optimisation: a file that
//! cannot be read or written is a debug line or a warning, never a failed step.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stage::{Ctx, Secret, private_file};

/// A cached token is not handed out when it expires within this: the client must have time to
/// use it. 60 s on top of the minute between our 14-minute `expirationTimestamp` and EKS's 15
/// minutes also absorbs modest clock skew.
pub const REFRESH_MARGIN: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// Bumped when the file format changes; other versions are misses.
const FORMAT_VERSION: u32 = 1;

/// What a token is for: a cached token is reused only when all of this matches exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheKey {
    pub cluster: String,
    pub region: String,
    pub endpoint: String,
    pub role_arn: Option<String>,
    /// The access key id of the credentials that signed (or assumed the role). Not a secret to
    /// AWS (it is in every `CloudTrail` record), and it is inside the token anyway.
    pub access_key_id: String,
}

/// A cached token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub token: Secret,
    pub signed_at: jiff::Timestamp,
    pub expiration: jiff::Timestamp,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheFile {
    version: u32,
    key: CacheKey,
    /// RFC 3339 (jiff's serde support is not compiled in; strings are all this needs).
    signed_at: String,
    expiration: String,
    #[serde(serialize_with = "stage::secret::reveal")]
    token: Secret,
}

/// The cache directory of one run.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache under `$XDG_CACHE_HOME` (when absolute, as the XDG spec requires) or `$HOME/.cache`;
    /// `None` when neither is set.
    pub fn locate(ctx: &Ctx) -> Option<Self> {
        let base = ctx
            .env("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| ctx.env("HOME").map(|h| Path::new(h).join(".cache")))?;
        Some(Self::at(base.join("pipewright").join("eks-token")))
    }

    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A token for `key` still good at `now` for longer than [`REFRESH_MARGIN`].
    pub fn load(&self, key: &CacheKey, now: jiff::Timestamp) -> Option<Cached> {
        // A directory another user owns or can write may hold a token of their choosing.
        if let Err(e) = private_file::ensure_dir(&self.dir, private_file::Dir::Private) {
            tracing::warn!("token cache not used: {e}");
            return None;
        }
        let path = self.path(key);
        let metadata = fs::symlink_metadata(&path).ok()?;
        // Only a plain file of ours nobody else can read or write is trusted to hold our token.
        if !metadata.is_file()
            || metadata.mode() & 0o077 != 0
            || private_file::effective_uid().ok() != Some(metadata.uid())
        {
            tracing::debug!(
                "token cache: ignoring {} (not a private regular file)",
                path.display()
            );
            return None;
        }
        let text = fs::read_to_string(&path).ok()?;
        let file: CacheFile = match serde_json::from_str(&text) {
            Ok(file) => file,
            Err(e) => {
                tracing::debug!("token cache: ignoring {}: {e}", path.display());
                return None;
            }
        };
        let signed_at: jiff::Timestamp = file.signed_at.parse().ok()?;
        let expiration: jiff::Timestamp = file.expiration.parse().ok()?;
        let usable = file.version == FORMAT_VERSION
            && file.key == *key
            && signed_at <= now
            && now.checked_add(REFRESH_MARGIN).ok()? < expiration;
        usable.then_some(Cached {
            token: file.token,
            signed_at,
            expiration,
        })
    }

    /// Saves a token for `key`, replacing any older one, with the one private-file writer: a new
    /// 0600 file renamed over the old one (kubectl runs plugins in parallel: a reader sees the old
    /// file or the new one, never half of one), never through a symbolic link, and only in a
    /// directory that is this user's and writable by nobody else.
    pub fn store(&self, key: &CacheKey, cached: &Cached) -> std::io::Result<PathBuf> {
        let text = serde_json::to_string(&CacheFile {
            version: FORMAT_VERSION,
            key: key.clone(),
            signed_at: cached.signed_at.to_string(),
            expiration: cached.expiration.to_string(),
            token: cached.token.clone(),
        })
        .map_err(std::io::Error::other)?;
        private_file::write(
            &self.path(key),
            text.as_bytes(),
            private_file::Links::Refuse,
            private_file::Dir::Private,
        )
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(file_name(key))
    }
}

/// `<cluster>-<hash of the whole key>.json`: readable in `ls`, distinct per key. The hash only
/// spreads keys over files; the key stored inside is what decides a hit.
fn file_name(key: &CacheKey) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        key.cluster.as_str(),
        key.region.as_str(),
        key.endpoint.as_str(),
        key.role_arn.as_deref().unwrap_or(""),
        key.access_key_id.as_str(),
    ] {
        // A separator byte that cannot occur in any part keeps ("ab","c") apart from ("a","bc").
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{}-{hash:016x}.json", key.cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CacheKey {
        CacheKey {
            cluster: "prod".to_owned(),
            region: "eu-west-1".to_owned(),
            endpoint: "https://sts.eu-west-1.amazonaws.com".to_owned(),
            role_arn: None,
            access_key_id: "ASIAEXAMPLE".to_owned(),
        }
    }

    fn t(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn cached() -> Cached {
        Cached {
            token: Secret::new("k8s-aws-v1.token"),
            signed_at: t("2026-01-01T00:00:00Z"),
            expiration: t("2026-01-01T00:14:00Z"),
        }
    }

    #[test]
    fn a_stored_token_is_reused_until_shortly_before_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(dir.path().join("a/b"));
        let path = cache.store(&key(), &cached()).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().mode() & 0o777,
            0o600,
            "the file holds a token"
        );
        assert_eq!(fs::metadata(cache.dir()).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            cache.load(&key(), t("2026-01-01T00:00:00Z")),
            Some(cached())
        );
        assert_eq!(
            cache.load(&key(), t("2026-01-01T00:12:59Z")),
            Some(cached())
        );
        assert_eq!(cache.load(&key(), t("2026-01-01T00:13:00Z")), None);
        assert_eq!(
            cache.load(&key(), t("2025-12-31T23:59:00Z")),
            None,
            "a token from the future is not trusted"
        );
    }

    #[test]
    fn any_difference_in_the_key_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(dir.path().to_owned());
        cache.store(&key(), &cached()).unwrap();
        let now = t("2026-01-01T00:01:00Z");
        let mut other = key();
        other.role_arn = Some("arn:aws:iam::111122223333:role/deploy".to_owned());
        assert_eq!(cache.load(&other, now), None);
        let mut other = key();
        other.access_key_id = "ASIAOTHER".to_owned();
        assert_eq!(cache.load(&other, now), None);
        let mut other = key();
        other.endpoint = "http://127.0.0.1:5000".to_owned();
        assert_eq!(cache.load(&other, now), None);
    }

    #[test]
    fn files_others_can_read_or_that_do_not_parse_are_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(dir.path().to_owned());
        let path = cache.store(&key(), &cached()).unwrap();
        let now = t("2026-01-01T00:01:00Z");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(cache.load(&key(), now), None);
        fs::write(&path, "{not json").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(cache.load(&key(), now), None);
        cache.store(&key(), &cached()).unwrap();
        assert_eq!(
            cache.load(&key(), now),
            Some(cached()),
            "repaired by the next store"
        );
    }

    #[test]
    fn file_names_separate_keys() {
        let mut a = key();
        a.region = "ab".to_owned();
        a.endpoint = "c".to_owned();
        let mut b = key();
        b.region = "a".to_owned();
        b.endpoint = "bc".to_owned();
        assert_ne!(file_name(&a), file_name(&b));
        assert!(file_name(&a).starts_with("prod-"));
    }
}
