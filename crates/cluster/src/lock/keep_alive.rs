//! Renewing a held lock in the background while a tool works (watches a rollout, applies a big
//! set), so that the lock outlives a long step but not a dead one; and watching its Lease
//! meanwhile, so that a takeover stops the tool's writes at once ([`super::LockCheck`]).

use std::sync::Arc;

use stage::{ErrorKind, StageError};
use tokio::task::JoinHandle;

use super::acquire::Inner;
use super::check::LockCheck;
use super::follow::follow;

/// The background renewal of a [`super::Lock`]; stops when dropped.
#[derive(Debug)]
pub struct KeepAlive {
    task: Option<JoinHandle<StageError>>,
    watch: Option<JoinHandle<()>>,
    lock: Arc<Inner>,
}

impl KeepAlive {
    pub(super) fn start(lock: Arc<Inner>) -> Self {
        let renewing = Arc::clone(&lock);
        let task = tokio::spawn(async move {
            loop {
                let every = renewing.ttl() / 3;
                tokio::time::sleep(every).await;
                match renewing.renew().await {
                    Ok(()) => {}
                    // Lost to another run: renewing further would be wrong.
                    Err(e) if e.kind() == ErrorKind::Failed => {
                        tracing::error!("{}", e.message());
                        return e;
                    }
                    // The API hiccuped beyond our retries; the TTL leaves room to try again.
                    Err(e) => tracing::warn!("{} (will try again)", e.message()),
                }
            }
        });
        let watch = tokio::spawn(follow(Arc::clone(&lock)));
        Self {
            task: Some(task),
            watch: Some(watch),
            lock,
        }
    }

    /// A handle that tells whether the lock is still ours; see [`LockCheck`].
    pub fn check(&self) -> LockCheck {
        LockCheck::new(Arc::clone(&self.lock))
    }

    /// Stops renewing. Fails if the lock was lost to another run meanwhile, as far as the
    /// renewals and the watch on the Lease know: whatever the tool did after that point was not
    /// protected by it.
    pub async fn stop(mut self) -> Result<(), StageError> {
        if let Some(watch) = self.watch.take() {
            watch.abort();
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        if task.is_finished() {
            return match task.await {
                Ok(lost) => Err(lost),
                Err(e) => Err(StageError::new(
                    ErrorKind::Internal,
                    format!("the lock renewal task failed: {e}"),
                )),
            };
        }
        task.abort();
        self.check().ensure()
    }

    /// Makes sure against the API server that the lock is still ours (a renewal, which fails if
    /// anyone else wrote the Lease), then stops renewing: for a tool about to write its last
    /// record under the lock.
    pub async fn stop_confirmed(self) -> Result<(), StageError> {
        let confirmed = self.check().confirm().await;
        let stopped = self.stop().await;
        confirmed.and(stopped)
    }

    /// Whether the lock is known to be lost (renewal stopped, or the watch saw another holder).
    pub fn is_lost(&self) -> bool {
        self.task.as_ref().is_some_and(JoinHandle::is_finished) || self.check().ensure().is_err()
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(watch) = self.watch.take() {
            watch.abort();
        }
    }
}
