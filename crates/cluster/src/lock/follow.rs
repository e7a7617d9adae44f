//! Watching a held lock's Lease, so that a takeover is known within one event's delivery rather
//! than at the next renewal (a third of the TTL away): a run applying a hundred objects checks
//! before each one ([`super::LockCheck::ensure`]) and stops writing as soon as another run holds
//! the lock.
//!
//! The watch is resumed from the last version seen when the server ends it, and from the
//! current state when that version is gone (410). It only ever reports; the renewals and the
//! compare-and-swap of [`super::LockCheck::confirm`] remain what decides.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{WatchEvent, WatchParams};

use super::acquire::Inner;

/// The pause before watching again after the server ended a watch or refused one: short, since
/// the watch is what notices a takeover, but no busy loop against a failing server.
const RESUME_AFTER: Duration = Duration::from_millis(500);

/// Follows the Lease until it shows another holder (then returns) or the task is aborted.
pub(super) async fn follow(lock: Arc<Inner>) {
    let fields = format!("metadata.name={}", lock.name);
    // From the version we last wrote; without one, from the current state (sent as an event).
    let mut version = lock.written_version().unwrap_or_default();
    loop {
        let params = WatchParams::default().fields(&fields);
        match lock.api.watch(&params, &version).await {
            Ok(events) => {
                let mut events = events.boxed();
                while let Some(event) = events.next().await {
                    match event {
                        Ok(WatchEvent::Added(lease) | WatchEvent::Modified(lease)) => {
                            if let Some(seen) = &lease.metadata.resource_version {
                                version.clone_from(seen);
                            }
                            if lock.observe(&lease) {
                                return;
                            }
                        }
                        Ok(WatchEvent::Deleted(lease)) => {
                            if let Some(seen) = &lease.metadata.resource_version {
                                version.clone_from(seen);
                            }
                        }
                        Ok(WatchEvent::Bookmark(mark)) => {
                            version = mark.metadata.resource_version;
                        }
                        Ok(WatchEvent::Error(status)) => {
                            if status.code == 410 {
                                version.clear();
                            }
                            break;
                        }
                        Err(error) => {
                            tracing::debug!("watching the deploy lock: {error}");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::debug!("watching the deploy lock: {error}"),
        }
        tokio::time::sleep(RESUME_AFTER).await;
    }
}
