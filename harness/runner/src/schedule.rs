//! The pace and order of a matrix's cells, decided without I/O (the suite acts on it).
//!
//! On a small machine the matrix is bound by opencode's own CPU, so the cores should
//! never idle while cells wait to play:
//! - **Longest first, across versions.** One queue for the whole matrix, the cells with
//!   the longest expected time first, so no long cell starts last and runs alone; the
//!   next version's cells (and their shared servers' starts) fill the cores while the
//!   previous version's last cells still play.
//! - **More cells than cores while cells wait.** Up to `jobs` cells always work; a cell
//!   in a quiet wait (`crate::pace`) does not count, so another plays in its place at
//!   once. Up to `max_jobs` cells also play while the machine leaves a core idle (a
//!   tool's sleep); a cell started that way must show in the load before the next one is.
//! - **No cell waits for a shared server.** A cell that would share is started only when
//!   its version's shared servers have one free (or room for one more). Only such
//!   cells play beyond `jobs` (see [`fits`]).

use std::time::Duration;

/// The order cells start in: by `estimate` (longest first), ties in the given order.
pub fn longest_first(estimates: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..estimates.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(estimates[i]));
    order
}

/// How many cells may play at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    /// Always allowed (the cores by default).
    pub jobs: usize,
    /// Allowed while a core is idle.
    pub max_jobs: usize,
    pub cores: usize,
}

/// After a cell started beyond `jobs`, how long its load has to show before another is.
pub const SETTLE: Duration = Duration::from_millis(1500);

/// How much of a core the machine's work (the harness's and any other at normal
/// priority) must leave unused, over the last half second, for a cell beyond `jobs` to
/// start. A whole one: half a core (tried on a 4-version matrix on 2 cores, with the
/// runnable threads as the measure) left the cores idle 44 s instead of 54 s while every
/// cell waited, within what the machine's noise moves, and that run had an ERROR the
/// whole-core runs did not (a 17 ms busy no status poll saw, 1.14.48 `abort-http`).
pub const IDLE_FOR_EXTRA: f64 = 1.0;

/// Whether another cell may start now, with `running` playing, `quiet` of them in a
/// quiet wait (their cores are free: any cell may take one). `busy` is how many
/// cores the machine kept busy lately (none when not measured:
/// [`crate::tree_load::LoadWatch`]), `since_extra` how long ago the last cell beyond
/// `jobs` started.
pub fn may_start(running: usize, quiet: usize, slots: Slots, busy: Option<f64>, since_extra: Option<Duration>) -> bool {
    if running < slots.jobs.max(1) {
        return true;
    }
    if running >= slots.max_jobs {
        return false;
    }
    if working(running, quiet) < slots.jobs {
        return true;
    }
    let settled = since_extra.is_none_or(|d| d >= SETTLE);
    // A core left idle: the cells playing are waiting, not working.
    settled && busy.is_some_and(|b| b + IDLE_FOR_EXTRA <= slots.cores as f64)
}

/// The cells playing that are not in a quiet wait.
pub fn working(running: usize, quiet: usize) -> usize {
    running.saturating_sub(quiet)
}

/// Whether a cell may start now: one that would share needs its version's shared
/// servers to have one free (fewer than `per_version` of its version's sharing cells
/// playing); one beyond `jobs` must share. A cell on a server of its own pays a server
/// start, and those are the heaviest scenarios (measured: four
/// `instance-growth-per-directory` cells at once, 30 instances each, left a request
/// unanswered for 60 s on a loaded machine): they never play beyond `jobs`.
pub fn fits(shares: bool, sharing_of_its_version: usize, per_version: usize, beyond_jobs: bool) -> bool {
    if shares {
        sharing_of_its_version < per_version
    } else {
        !beyond_jobs
    }
}

/// The position in `queue` of the first cell that can start without waiting (`fits`).
pub fn pick(queue: &[usize], fits: impl Fn(usize) -> bool) -> Option<usize> {
    queue.iter().position(|&i| fits(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: Slots = Slots { jobs: 2, max_jobs: 4, cores: 2 };

    #[test]
    fn longest_first_keeps_the_given_order_among_equals() {
        assert_eq!(longest_first(&[30, 300, 45, 30, 300]), [1, 4, 2, 0, 3]);
        assert!(longest_first(&[]).is_empty());
    }

    #[test]
    fn up_to_jobs_always_and_beyond_only_with_a_core_idle() {
        let long_ago = Some(Duration::from_secs(10));
        assert!(may_start(0, 0, SLOTS, None, None));
        assert!(may_start(1, 0, SLOTS, Some(8.0), None));
        // Jobs full: a busy machine gets no more; an idle core does.
        assert!(!may_start(2, 0, SLOTS, Some(2.0), long_ago));
        assert!(!may_start(2, 0, SLOTS, Some(1.2), long_ago));
        assert!(may_start(2, 0, SLOTS, Some(1.0), long_ago));
        assert!(may_start(3, 0, SLOTS, Some(0.0), None));
        // Unmeasured load: no more than jobs.
        assert!(!may_start(2, 0, SLOTS, None, None));
        // Never beyond max_jobs.
        assert!(!may_start(4, 0, SLOTS, Some(0.0), long_ago));
        // The last extra cell has not shown in the load yet.
        assert!(!may_start(3, 0, SLOTS, Some(0.0), Some(Duration::from_millis(200))));
    }

    #[test]
    fn a_cell_in_a_quiet_wait_leaves_its_slot_to_another_up_to_max_jobs() {
        let just_now = Some(Duration::from_millis(10));
        // Both jobs' cells work and the machine is busy: no more.
        assert!(!may_start(2, 0, SLOTS, Some(2.0), None));
        // One of them waits quietly: another plays at once, whatever the load says and
        // however recently an extra cell started.
        assert!(may_start(2, 1, SLOTS, Some(2.0), just_now));
        assert!(may_start(3, 2, SLOTS, None, just_now));
        // Three playing, one quiet: two work, as many as jobs.
        assert!(!may_start(3, 1, SLOTS, Some(2.0), None));
        // Never beyond max_jobs, however many wait.
        assert!(!may_start(4, 4, SLOTS, Some(0.0), None));
        assert_eq!(working(3, 1), 2);
        assert_eq!(working(1, 2), 0);
    }

    #[test]
    fn jobs_of_zero_still_plays_one_cell_at_a_time() {
        let slots = Slots { jobs: 0, max_jobs: 0, cores: 2 };
        assert!(may_start(0, 0, slots, None, None));
        assert!(!may_start(1, 0, slots, Some(0.0), None));
        assert!(!may_start(1, 1, slots, Some(0.0), None));
    }

    #[test]
    fn only_cells_that_share_play_beyond_jobs_and_never_wait_for_a_server() {
        assert!(fits(false, 0, 2, false));
        assert!(!fits(false, 0, 2, true));
        assert!(fits(true, 1, 2, true));
        assert!(!fits(true, 2, 2, false));
    }

    #[test]
    fn a_cell_that_would_wait_is_passed_over() {
        let queue = [5, 3, 8];
        assert_eq!(pick(&queue, |i| i != 5), Some(1));
        assert_eq!(pick(&queue, |_| true), Some(0));
        assert_eq!(pick(&queue, |_| false), None);
    }
}
