//! What k8s-apply and rollout-wait share, and nothing tool-specific: cluster access from a
//! kubeconfig as kubectl users expect ([`access`]), one retry policy for API calls ([`mod@retry`]),
//! the per-release history kept in the cluster ([`release`]), the deploy lock that keeps two
//! pipelines from interleaving their apply → wait → rollback sequences ([`lock`]), and the
//! environment guard that keeps a job from changing a cluster it did not name ([`environment`]),
//! and the discovery of the kinds a cluster serves ([`kinds`]).
//!
//! The formats and the protocol between the tools are written down in `docs/releases.md`.

pub mod access;
pub mod clock;
pub mod environment;
mod error;
pub mod kinds;
mod kubeconfig;
pub mod lock;
pub mod names;
pub mod release;
pub mod retry;

pub use access::{ClusterArgs, ConfigSource, Connection, connect, connect_unchecked, connect_with};
pub use clock::WallClock;
pub use error::api_error;
pub use kinds::Kinds;
pub use lock::{
    Contender, Holder, KeepAlive, Lock, LockArgs, LockCheck, LockOptions, acquire, acquire_seen,
};
pub use release::{
    ManifestSet, Origin, OwnedObject, ReleaseHistory, ReleaseRecord, ReleaseStatus, Trust,
};
pub use retry::{RetryPolicy, retry, retry_with};
