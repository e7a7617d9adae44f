//! Release records: the history of a release, kept in the cluster next to it.
//!
//! Every apply of a release that changes something records a revision: one Secret per revision
//! in the release's namespace (`pipewright.release.v1.<release>.v<revision>`, type
//! `pipewright.dev/release.v1`), whose data `release` is the gzipped JSON [`ReleaseRecord`]. k8s-apply
//! writes it (`applying`, then `applied`), rollout-wait settles it (`deployed` or `failed`),
//! rollback reads the last `deployed` one back. Each record is signed with the release's record key
//! ([`seal`]); what does not verify is never acted on (`docs/release-records.md`). The format is `schemas/release-record.json`;
//! `docs/releases.md` explains it.

mod codec;
mod history;
pub(crate) mod record;
mod seal;

pub use codec::{MAX_RECORD_BYTES, decode, encode, from_secret, to_secret};
pub use history::ReleaseHistory;
pub use record::{ManifestSet, Origin, OwnedObject, RECORD_SCHEMA, ReleaseRecord, ReleaseStatus};
pub use seal::{KEY_TYPE, MAC_KEY, RecordKey, Trust, key_name};
