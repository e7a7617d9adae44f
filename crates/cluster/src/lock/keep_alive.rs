//! Renewing a held lock in the background while a tool works (watches a rollout, applies a big
//! set), so that the lock outlives a long step but not a dead one.

use std::sync::Arc;

use stage::{ErrorKind, StageError};
use tokio::task::JoinHandle;

use super::acquire::Inner;

/// The background renewal of a [`super::Lock`]; stops when dropped.
#[derive(Debug)]
pub struct KeepAlive {
    task: Option<JoinHandle<StageError>>,
}

impl KeepAlive {
    pub(super) fn start(lock: Arc<Inner>) -> Self {
        let task = tokio::spawn(async move {
            loop {
                let every = lock.ttl() / 3;
                tokio::time::sleep(every).await;
                match lock.renew().await {
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
        Self { task: Some(task) }
    }

    /// Stops renewing. Fails if the lock was lost to another run meanwhile: whatever the tool
    /// did after that point was not protected by it.
    pub async fn stop(mut self) -> Result<(), StageError> {
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
        Ok(())
    }

    /// Whether renewal has stopped because the lock was lost.
    pub fn is_lost(&self) -> bool {
        self.task.as_ref().is_some_and(JoinHandle::is_finished)
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
