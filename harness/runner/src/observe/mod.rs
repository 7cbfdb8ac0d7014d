//! The three observers. Each writes what it sees into the run's [`Recorder`]:
//! `events` (the SSE streams), `http` (status and permission polls, and the API client
//! the steps use), `procs` (the process table).
//!
//! [`Recorder`]: crate::record::Recorder

pub mod events;
pub mod http;
pub mod plugins;
pub mod procs;

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Calls `f` every `interval` until `cancel` fires, then once more: the shape of every
/// sampling observer (the process table, the plugin log), so the last state before a
/// stop is always seen.
pub async fn every(interval: Duration, cancel: CancellationToken, mut f: impl FnMut()) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        f();
    }
    f();
}
