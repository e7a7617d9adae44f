//! k8s-apply: server-side apply of a release (issue 5).
//!
//! This library holds the parts that need no cluster, each a pure function over the manifest set,
//! so that they are tested without a test bed and every input error is found before anything is
//! sent:
//!
//! - [`manifest`]: reading `-f FILE|DIR|-` into a checked [`ManifestSet`], every problem reported
//!   together with the file and document it is in;
//! - [`names`]: Kubernetes' rules for object names;
//! - [`builtin`]: what we know about built-in kinds without discovery;
//! - [`order`]: the phases objects are applied (and pruned) in;
//! - [`images`]: image references, `--set-image` and `--expect-tag`;
//! - [`normalize`], [`mod@diff`] and [`linediff`]: what `--dry-run=server` and `k8s-apply diff`
//!   show, with server-side noise removed and Secret data redacted.

pub mod builtin;
pub mod diff;
pub mod images;
pub mod linediff;
pub mod manifest;
pub mod names;
pub mod normalize;
pub mod order;

pub use diff::{Change, ChangeOp, ObjectDiff, diff};
pub use images::{ImageRef, ImageUse, SetImage};
pub use manifest::{
    Input, Loaded, Manifest, ManifestErrors, ManifestSet, Namespacing, ObjectRef, Origin, Source,
};
pub use order::{Phase, Step, deletion_phases, phases};
