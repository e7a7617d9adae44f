//! Limits the input can break that only show once the set is built: checked before the first
//! write, so that a set refused for them (exit 2) leaves nothing behind, neither the release's
//! Namespace nor its deploy lock nor its `ApplySet` parent (issue 12 item 11).
//!
//! Today that is the size of the revision record: a Secret holds at most about 1 MB, and the
//! record keeps the whole set. The record is written only under the lock, after the Namespace it
//! lives in and the lock itself; so the same record is built and measured here first.

use std::collections::BTreeSet;

use cluster::ReleaseRecord;
use stage::StageError;

use crate::manifest::ManifestSet;
use crate::normalize::normalize;

/// What the record gains after this check: each object's uid (a 36-character UUID that does not
/// compress, with its key), and the origin and outcome message.
const UID_BYTES: usize = 48;
const LATER_BYTES: usize = 4096;

/// Fails (exit 2, nothing written) when the record of `set` as release `release` would not fit
/// in a Secret.
pub fn check_record_size(
    set: &ManifestSet,
    release: &str,
    namespace: &str,
    images: &BTreeSet<String>,
    environment: Option<&str>,
) -> Result<(), StageError> {
    let mut record = ReleaseRecord::new(release, namespace);
    record.environment = environment.map(str::to_owned);
    record.images.clone_from(images);
    record.objects = crate::release::planned_objects(set);
    record.manifests =
        cluster::ManifestSet::new(set.iter().map(|m| normalize(&m.object)).collect());
    let headroom = UID_BYTES * set.len() + LATER_BYTES;
    let limit = cluster::release::MAX_RECORD_BYTES;
    let hint = "split the set into several releases (each with its own --release), or move large \
                data out of ConfigMaps and Secrets";
    match cluster::release::encode(&record) {
        Ok(bytes) if bytes.len() + headroom <= limit => Ok(()),
        Ok(bytes) => Err(StageError::invalid_input(format!(
            "release {release}: the set's record would be about {} bytes compressed ({} \
             objects), more than the {limit} a Secret can hold; nothing was changed",
            bytes.len() + headroom,
            set.len()
        ))
        .with_hint(hint)),
        Err(error) if error.kind() == stage::ErrorKind::InvalidInput => {
            Err(StageError::invalid_input(format!(
                "the set cannot be recorded: {}; nothing was changed",
                error.message()
            ))
            .with_hint(hint))
        }
        Err(error) => Err(error),
    }
}
