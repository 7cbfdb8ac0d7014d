//! How playing cells tell the suite that they wait on purpose for nothing to happen.
//!
//! A scenario's quiet window (`wait quiet_ms`) and a wait it expects may run out
//! (`on_timeout = "continue"`: the correct server does nothing then) leave the cell's
//! core free: about a third of the cell time of the suite on 2 cores (measured on a
//! 4-version matrix: 175 cell-seconds of quiet windows, 154 of waits that ran out). The
//! suite counts such a cell as not working, so another cell plays in its place at once,
//! where a look at the machine's load would see the idle core half a second late, and
//! often after the window was over (see `schedule::may_start`).

use oc_conform_scenario::{Condition, OnTimeout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Whether a `wait` step leaves the cell's core free: a quiet window, or a wait the
/// scenario expects may run out with nothing happening.
pub fn leaves_core_free(until: &Condition, on_timeout: OnTimeout) -> bool {
    matches!(until, Condition::QuietMs(_)) || on_timeout == OnTimeout::Continue
}

/// Shared by the suite and the cells it plays. Cloning shares the count.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    quiet: Arc<AtomicUsize>,
    changed: Arc<Notify>,
}

/// A cell's quiet wait; ends when dropped, whatever way the wait ended.
#[must_use = "the wait counts as quiet only while this is held"]
pub struct QuietWait {
    pace: Pace,
}

impl Pace {
    /// The calling cell waits quietly until the returned guard is dropped.
    pub fn quiet(&self) -> QuietWait {
        self.quiet.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        QuietWait { pace: self.clone() }
    }

    /// How many cells wait quietly now.
    pub fn quiet_cells(&self) -> usize {
        self.quiet.load(Ordering::SeqCst)
    }

    /// Resolves at the next change of [`Pace::quiet_cells`] after it is first polled
    /// or `enable`d (enable it before looking at the count, so no change is missed).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

impl Drop for QuietWait {
    fn drop(&mut self) {
        self.pace.quiet.fetch_sub(1, Ordering::SeqCst);
        self.pace.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quiet_windows_and_waits_that_may_run_out_leave_the_core_free() {
        let event = Condition::Event("session.idle".into());
        assert!(leaves_core_free(&Condition::QuietMs(500), OnTimeout::Error));
        assert!(leaves_core_free(&event, OnTimeout::Continue));
        for other in [OnTimeout::Error, OnTimeout::Fail, OnTimeout::Abort] {
            assert!(!leaves_core_free(&event, other), "{other:?}");
        }
    }

    #[test]
    fn a_quiet_wait_counts_until_its_guard_is_dropped() {
        let pace = Pace::default();
        let shared = pace.clone();
        let first = pace.quiet();
        let second = shared.quiet();
        assert_eq!(pace.quiet_cells(), 2);
        drop(first);
        assert_eq!(shared.quiet_cells(), 1);
        drop(second);
        assert_eq!(pace.quiet_cells(), 0);
    }

    async fn woken(notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>) -> bool {
        tokio::time::timeout(Duration::from_secs(5), notified).await.is_ok()
    }

    #[tokio::test]
    async fn the_suite_is_woken_when_a_cell_starts_or_ends_a_quiet_wait() {
        let pace = Pace::default();
        let cell = pace.clone();

        let start = pace.changed();
        tokio::pin!(start);
        start.as_mut().enable();
        let guard = cell.quiet();
        assert!(woken(start).await, "not woken by the start of a quiet wait");

        let end = pace.changed();
        tokio::pin!(end);
        end.as_mut().enable();
        drop(guard);
        assert!(woken(end).await, "not woken by the end of a quiet wait");

        // Nothing changed: no wake-up.
        let none = pace.changed();
        tokio::pin!(none);
        none.as_mut().enable();
        assert!(tokio::time::timeout(Duration::from_millis(50), none).await.is_err());
    }
}
