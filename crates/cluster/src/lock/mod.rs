//! The deploy lock: one `coordination.k8s.io/v1` Lease per release (`pipewright-lock-<release>`
//! in the release's namespace), so that two pipelines deploying the same release never
//! interleave their apply → wait → rollback sequences.
//!
//! The holder is the pipeline run, not the process ([`Holder`]): k8s-apply, rollout-wait and
//! k8s-apply rollback of one run are separate processes and re-enter the same lock, while another
//! run waits its turn. A holder that dies stops renewing, and its lock expires after its TTL:
//! there is no state a killed deploy can leave that needs a person to clear it. The protocol
//! between the tools is in `docs/releases.md`.

mod acquire;
mod args;
mod check;
mod follow;
mod holder;
mod keep_alive;

pub use acquire::{
    Contender, DEFAULT_TTL, DEFAULT_WAIT, Lock, LockOptions, acquire, acquire_seen, peek,
};
pub use args::LockArgs;
pub use check::LockCheck;
pub use holder::Holder;
pub(crate) use holder::hostname;
pub use keep_alive::KeepAlive;
