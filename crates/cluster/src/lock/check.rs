//! Whether a held lock is still ours, for a tool about to write: a run that lost its lock to
//! another run must write nothing more, neither objects nor records.
//!
//! Two strengths. [`LockCheck::ensure`] costs nothing: it reads what the renewals and the watch
//! on the Lease ([`super::follow`]) have seen, which lags a takeover by one event's delivery; it
//! goes before every object written. [`LockCheck::confirm`] costs a round trip: a renewal, which
//! is a compare-and-swap on the version we last wrote, so it fails exactly when anyone else wrote
//! the Lease since; it goes before every record write and before pruning, where a write made
//! after a takeover would mislead the next run.

use std::sync::Arc;

use stage::StageError;

use super::acquire::Inner;

/// A cheap handle on a held lock (clone it into whatever writes).
#[derive(Debug, Clone)]
pub struct LockCheck {
    inner: Arc<Inner>,
}

impl LockCheck {
    pub(super) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Fails (`failed`, exit 1, naming the new holder) if the lock is known to be lost.
    pub fn ensure(&self) -> Result<(), StageError> {
        match self.inner.lost_to() {
            Some(other) => Err(self.inner.lost_error(&other)),
            None => Ok(()),
        }
    }

    /// Makes sure, against the API server, that the lock is still ours, and renews it: fails
    /// (`failed`, exit 1, naming the new holder) if another run holds it now.
    pub async fn confirm(&self) -> Result<(), StageError> {
        self.ensure()?;
        self.inner.renew().await
    }
}
