//! The search itself, with no I/O: a state machine over an ordered candidate list, and
//! that list ([`candidates`]: the registry's releases between the two ends, from
//! [`crate::releases`]).
//!
//! Index 0 is the oldest candidate, `n - 1` the newest. In a [`Direction::Regression`]
//! search the oldest is claimed good and the newest bad; in a [`Direction::Fixed`] search
//! the other way round. Either way the search looks for the boundary between the *old
//! state* (the state of index 0) and the *new state*: `last_old` and `first_new`.
//!
//! The two ends are confirmed first, the bad end before the good end (its failure is the
//! fingerprint every other probe is compared with). Then each probe is the untested
//! candidate nearest the middle of the window `(last_old, first_new)`. A skipped candidate
//! (no verdict, or a failure of another kind) stays in the window untested, and the search
//! goes on around it, like `git bisect skip`; when only skipped candidates are left in the
//! window the result is [`Status::Ambiguous`] and names them.

use crate::releases;
use serde::{Deserialize, Serialize};

/// Which change is searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Old releases good, new ones bad: find the first bad release.
    Regression,
    /// Old releases bad, new ones good: find the first release with the fix.
    Fixed,
}

impl Direction {
    /// The state of the oldest candidate.
    pub fn old_state(self) -> ProbeResult {
        match self {
            Direction::Regression => ProbeResult::Good,
            Direction::Fixed => ProbeResult::Bad,
        }
    }

    /// The state of the newest candidate.
    pub fn new_state(self) -> ProbeResult {
        match self {
            Direction::Regression => ProbeResult::Bad,
            Direction::Fixed => ProbeResult::Good,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Regression => "regression",
            Direction::Fixed => "fixed",
        }
    }
}

/// What one probe concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeResult {
    /// Passed (every run, with `--repeat`).
    Good,
    /// Failed the same way as the bad end (in at least one run).
    Bad,
    /// Cannot decide: no verdict, or a failure of another kind. Not counted.
    Skip,
}

impl ProbeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeResult::Good => "good",
            ProbeResult::Bad => "bad",
            ProbeResult::Skip => "skip",
        }
    }
}

/// Why a search stopped before it could start: an end is not what it was claimed to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum EndError {
    /// The good end fails the same way as the bad end.
    #[error("the good end is bad too: it fails the same way as the bad end; pick an older good version (or a newer one with --fixed)")]
    GoodEndIsBad,
    /// The good end reached no verdict, or failed in another way.
    #[error("the good end could not be confirmed: it did not pass")]
    GoodEndUndecided,
    /// The bad end passes.
    #[error("the bad end is good: it passes, so there is nothing to bisect; pick another bad version")]
    BadEndIsGood,
    /// The bad end reached no verdict.
    #[error("the bad end could not be confirmed: it reached no verdict")]
    BadEndUndecided,
}

/// Where a search stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// More probes to run.
    Searching,
    /// `last_old` and `first_new` are adjacent candidates: the boundary is exact.
    Found,
    /// Only skipped candidates are left between `last_old` and `first_new`: the change
    /// is in one of them or in `first_new`.
    Ambiguous,
    /// An end is not what it was claimed to be; no search took place.
    EndNotConfirmed(EndError),
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Searching => "searching",
            Status::Found => "found",
            Status::Ambiguous => "ambiguous",
            Status::EndNotConfirmed(_) => "end_not_confirmed",
        }
    }
}

/// Recording a probe the search cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("candidate {index} is out of range (there are {n})")]
    OutOfRange { index: usize, n: usize },
    #[error("candidate {index} was already probed")]
    AlreadyProbed { index: usize },
    #[error("candidate {index} lies outside the open window ({last_old}, {first_new}): a {result:?} there contradicts what is known")]
    OutsideWindow {
        index: usize,
        last_old: usize,
        first_new: usize,
        result: ProbeResult,
    },
    #[error("the search is over: an end was not confirmed")]
    Stopped,
}

/// A bisect needs two ends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a bisect needs at least two candidates (a good and a bad end), got {0}")]
pub struct TooFewCandidates(pub usize);

/// What a search has learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BisectResult {
    pub direction: Direction,
    pub status: Status,
    /// The newest candidate known in the old state (or claimed, before it is confirmed).
    pub last_old: usize,
    /// The oldest candidate known in the new state (or claimed, before it is confirmed).
    pub first_new: usize,
    /// Every probe recorded, in order.
    pub probes: Vec<(usize, ProbeResult)>,
    /// Every skipped candidate, ascending.
    pub skipped: Vec<usize>,
    /// The skipped candidates between `last_old` and `first_new`: when
    /// [`Status::Ambiguous`], the first new-state release is one of these or `first_new`.
    pub untested: Vec<usize>,
}

impl BisectResult {
    fn found(&self, direction: Direction) -> bool {
        self.status == Status::Found && self.direction == direction
    }

    /// Regression search, boundary found: the first bad candidate.
    pub fn first_bad(&self) -> Option<usize> {
        self.found(Direction::Regression).then_some(self.first_new)
    }

    /// Regression search, boundary found: the last good candidate.
    pub fn last_good(&self) -> Option<usize> {
        self.found(Direction::Regression).then_some(self.last_old)
    }

    /// Fixed search, boundary found: the first candidate that passes.
    pub fn first_fixed(&self) -> Option<usize> {
        self.found(Direction::Fixed).then_some(self.first_new)
    }

    /// Fixed search, boundary found: the last candidate that fails.
    pub fn last_failing(&self) -> Option<usize> {
        self.found(Direction::Fixed).then_some(self.last_old)
    }

    /// The newest known-good and oldest known-bad candidates (or the claimed ends while
    /// unconfirmed): where a resumed search starts, as `(good, bad)`.
    pub fn known_good_bad(&self) -> (usize, usize) {
        match self.direction {
            Direction::Regression => (self.last_old, self.first_new),
            Direction::Fixed => (self.first_new, self.last_old),
        }
    }
}

/// Why two ends give no candidate list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CandidateError {
    #[error("`{0}` is not a version (major.minor.patch)")]
    NotAVersion(String),
    #[error("--good and --bad are the same version ({0}): nothing to bisect")]
    Same(String),
    #[error("{}", order_message(*.direction, .good, .bad))]
    WrongOrder {
        direction: Direction,
        good: String,
        bad: String,
    },
    #[error("{version} is not in the registry{}", releases::nearest_hint(.nearest))]
    NotInRegistry { version: String, nearest: Vec<String> },
}

fn order_message(direction: Direction, good: &str, bad: &str) -> String {
    match direction {
        Direction::Regression => format!(
            "--good {good} is newer than --bad {bad}: a regression search needs the good version older; to find where it got fixed, add --fixed"
        ),
        Direction::Fixed => format!(
            "with --fixed, --bad {bad} must be older than --good {good} (the release that fails, then the one that passes)"
        ),
    }
}

/// The search's candidates, oldest first: the registry's releases strictly between the
/// two ends, plus the ends (which must be in the registry). Pre-releases are left out
/// (unless one is an end): they are not on the line of releases being bisected.
pub fn candidates(registry: &[String], direction: Direction, good: &str, bad: &str) -> Result<Vec<String>, CandidateError> {
    let parse = |s: &str| releases::parse(s).map_err(|_| CandidateError::NotAVersion(s.to_string()));
    let (g, b) = (parse(good)?, parse(bad)?);
    if g == b {
        return Err(CandidateError::Same(g.to_string()));
    }
    let (old, new) = match direction {
        Direction::Regression => (&g, &b),
        Direction::Fixed => (&b, &g),
    };
    if old > new {
        return Err(CandidateError::WrongOrder {
            direction,
            good: g.to_string(),
            bad: b.to_string(),
        });
    }
    releases::between(registry, old, new)
        .map_err(|releases::NotInRegistry { version, nearest }| CandidateError::NotInRegistry { version, nearest })
}

/// The search state machine: ask [`Bisector::next_probe`], run that candidate, tell
/// [`Bisector::record`] what it concluded, until `next_probe` says `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bisector {
    direction: Direction,
    /// Per candidate: what its probe concluded, if it was probed.
    results: Vec<Option<ProbeResult>>,
    last_old: usize,
    first_new: usize,
    probes: Vec<(usize, ProbeResult)>,
    stopped: Option<EndError>,
}

impl Bisector {
    /// A search over `n` candidates, oldest first: index 0 and `n - 1` are the ends.
    pub fn new(n: usize, direction: Direction) -> Result<Bisector, TooFewCandidates> {
        if n < 2 {
            return Err(TooFewCandidates(n));
        }
        Ok(Bisector {
            direction,
            results: vec![None; n],
            last_old: 0,
            first_new: n - 1,
            probes: Vec::new(),
            stopped: None,
        })
    }

    pub fn len(&self) -> usize {
        self.results.len()
    }

    /// Never true: a search has at least two candidates.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The index of the end claimed bad.
    pub fn bad_end(&self) -> usize {
        match self.direction {
            Direction::Regression => self.len() - 1,
            Direction::Fixed => 0,
        }
    }

    /// The index of the end claimed good.
    pub fn good_end(&self) -> usize {
        match self.direction {
            Direction::Regression => 0,
            Direction::Fixed => self.len() - 1,
        }
    }

    /// Whether `index` is one of the two ends.
    pub fn is_end(&self, index: usize) -> bool {
        index == 0 || index + 1 == self.len()
    }

    /// What the candidate at `index` concluded, if it was probed.
    pub fn probed(&self, index: usize) -> Option<ProbeResult> {
        self.results.get(index).copied().flatten()
    }

    /// Both ends probed and as claimed.
    pub fn ends_confirmed(&self) -> bool {
        self.stopped.is_none()
            && self.probed(self.bad_end()) == Some(ProbeResult::Bad)
            && self.probed(self.good_end()) == Some(ProbeResult::Good)
    }

    /// The candidate to probe next, or `None` when the search is over: the bad end, then
    /// the good end, then the untested candidate nearest the middle of the window (the
    /// older one on a tie).
    pub fn next_probe(&self) -> Option<usize> {
        if self.stopped.is_some() {
            return None;
        }
        for end in [self.bad_end(), self.good_end()] {
            if self.results[end].is_none() {
                return Some(end);
            }
        }
        let twice_mid = self.last_old + self.first_new;
        (self.last_old + 1..self.first_new)
            .filter(|&i| self.results[i].is_none())
            .min_by_key(|&i| ((2 * i).abs_diff(twice_mid), i))
    }

    /// Records what the probe of candidate `index` concluded.
    pub fn record(&mut self, index: usize, result: ProbeResult) -> Result<(), RecordError> {
        let n = self.len();
        if self.stopped.is_some() {
            return Err(RecordError::Stopped);
        }
        if index >= n {
            return Err(RecordError::OutOfRange { index, n });
        }
        if self.results[index].is_some() {
            return Err(RecordError::AlreadyProbed { index });
        }
        let (old, new) = (self.direction.old_state(), self.direction.new_state());
        if self.is_end(index) {
            let bad = index == self.bad_end();
            let claimed = if bad { ProbeResult::Bad } else { ProbeResult::Good };
            if result != claimed {
                self.stopped = Some(match (bad, result) {
                    (true, ProbeResult::Good) => EndError::BadEndIsGood,
                    (true, _) => EndError::BadEndUndecided,
                    (false, ProbeResult::Bad) => EndError::GoodEndIsBad,
                    (false, _) => EndError::GoodEndUndecided,
                });
            }
        } else if !(self.last_old < index && index < self.first_new) && result != ProbeResult::Skip {
            return Err(RecordError::OutsideWindow {
                index,
                last_old: self.last_old,
                first_new: self.first_new,
                result,
            });
        } else if result == old {
            self.last_old = index;
        } else if result == new {
            self.first_new = index;
        }
        self.results[index] = Some(result);
        self.probes.push((index, result));
        Ok(())
    }

    /// The candidates that would be probed right after `index`, for each way its probe
    /// can turn out (good, bad, skip), without duplicates. Used to install them while
    /// `index` runs. For an end, the expected outcome is followed one step further, so
    /// the first midpoint is fetched while the ends are being confirmed.
    pub fn lookahead(&self, index: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        let push = |i: usize, out: &mut Vec<usize>| {
            if i != index && !out.contains(&i) {
                out.push(i);
            }
        };
        for result in [ProbeResult::Good, ProbeResult::Bad] {
            let mut next = self.clone();
            if next.record(index, result).is_err() {
                continue;
            }
            let Some(j) = next.next_probe() else { continue };
            push(j, &mut out);
            if next.is_end(j) {
                let claimed = if j == next.bad_end() { ProbeResult::Bad } else { ProbeResult::Good };
                let mut after = next.clone();
                if after.record(j, claimed).is_ok() {
                    if let Some(k) = after.next_probe() {
                        push(k, &mut out);
                    }
                }
            }
        }
        out
    }

    /// The skipped candidates, ascending.
    pub fn skipped(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.results[i] == Some(ProbeResult::Skip))
            .collect()
    }

    /// What is known so far.
    pub fn result(&self) -> BisectResult {
        let status = if let Some(e) = self.stopped {
            Status::EndNotConfirmed(e)
        } else if !self.ends_confirmed() || self.next_probe().is_some() {
            Status::Searching
        } else if self.first_new == self.last_old + 1 {
            Status::Found
        } else {
            Status::Ambiguous
        };
        let skipped = self.skipped();
        BisectResult {
            direction: self.direction,
            status,
            last_old: self.last_old,
            first_new: self.first_new,
            untested: skipped
                .iter()
                .copied()
                .filter(|&i| self.last_old < i && i < self.first_new)
                .collect(),
            probes: self.probes.clone(),
            skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs a search to its end against an oracle; returns the result.
    fn run(n: usize, direction: Direction, oracle: impl Fn(usize) -> ProbeResult) -> BisectResult {
        let mut b = Bisector::new(n, direction).unwrap();
        let mut guard = 0;
        while let Some(i) = b.next_probe() {
            b.record(i, oracle(i)).unwrap();
            guard += 1;
            assert!(guard <= n, "more probes than candidates");
        }
        b.result()
    }

    #[test]
    fn names_are_spelled_as_bisect_json_spells_them() {
        for d in [Direction::Regression, Direction::Fixed] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str(), "{d:?}");
        }
        for r in [ProbeResult::Good, ProbeResult::Bad, ProbeResult::Skip] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str(), "{r:?}");
        }
        let statuses = [
            Status::Searching,
            Status::Found,
            Status::Ambiguous,
            Status::EndNotConfirmed(EndError::GoodEndIsBad),
        ];
        assert_eq!(
            statuses.map(Status::as_str),
            ["searching", "found", "ambiguous", "end_not_confirmed"]
        );
    }

    fn ceil_log2(n: usize) -> usize {
        (usize::BITS - (n.max(1) - 1).leading_zeros()) as usize
    }

    /// Candidates from `boundary` on are in the new state.
    fn monotone(direction: Direction, boundary: usize) -> impl Fn(usize) -> ProbeResult {
        move |i| {
            if i < boundary {
                direction.old_state()
            } else {
                direction.new_state()
            }
        }
    }

    #[test]
    fn finds_the_first_bad_of_a_regression() {
        let r = run(8, Direction::Regression, monotone(Direction::Regression, 5));
        assert_eq!(r.status, Status::Found);
        assert_eq!((r.last_good(), r.first_bad()), (Some(4), Some(5)));
        assert_eq!(r.first_fixed(), None);
        // Bad end first, then the good end, then the middle.
        assert_eq!(&r.probes[..3], &[(7, ProbeResult::Bad), (0, ProbeResult::Good), (3, ProbeResult::Good)]);
    }

    #[test]
    fn finds_the_first_fixed_release() {
        let r = run(4, Direction::Fixed, monotone(Direction::Fixed, 1));
        assert_eq!(r.status, Status::Found);
        assert_eq!((r.last_failing(), r.first_fixed()), (Some(0), Some(1)));
        assert_eq!(r.first_bad(), None);
        assert_eq!(r.probes, vec![(0, ProbeResult::Bad), (3, ProbeResult::Good), (1, ProbeResult::Good)]);
        assert_eq!(r.known_good_bad(), (1, 0));
        let r = run(8, Direction::Fixed, monotone(Direction::Fixed, 5));
        assert_eq!((r.last_failing(), r.first_fixed()), (Some(4), Some(5)));
        let r = run(8, Direction::Regression, monotone(Direction::Regression, 5));
        assert_eq!(r.last_failing(), None, "a regression search has no last failing");
    }

    #[test]
    fn two_candidates_need_only_the_ends() {
        let r = run(2, Direction::Regression, monotone(Direction::Regression, 1));
        assert_eq!(r.status, Status::Found);
        assert_eq!(r.probes.len(), 2);
        assert_eq!(Bisector::new(1, Direction::Regression), Err(TooFewCandidates(1)));
    }

    #[test]
    fn ends_that_are_not_as_claimed_stop_the_search() {
        use ProbeResult::*;
        let cases = [
            (Direction::Regression, [Good, Good], EndError::BadEndIsGood),
            (Direction::Regression, [Skip, Good], EndError::BadEndUndecided),
            (Direction::Regression, [Bad, Bad], EndError::GoodEndIsBad),
            (Direction::Regression, [Bad, Skip], EndError::GoodEndUndecided),
            (Direction::Fixed, [Good, Good], EndError::BadEndIsGood),
            (Direction::Fixed, [Bad, Bad], EndError::GoodEndIsBad),
        ];
        for (direction, [bad_end, good_end], want) in cases {
            let mut b = Bisector::new(6, direction).unwrap();
            let first = b.next_probe().unwrap();
            assert_eq!(first, b.bad_end());
            b.record(first, bad_end).unwrap();
            if let Some(second) = b.next_probe() {
                assert_eq!(second, b.good_end());
                b.record(second, good_end).unwrap();
            }
            assert_eq!(b.next_probe(), None);
            let r = b.result();
            assert_eq!(r.status, Status::EndNotConfirmed(want), "{direction:?} {bad_end:?} {good_end:?}");
            assert_eq!((r.first_bad(), r.first_fixed()), (None, None));
            assert!(!want.to_string().is_empty());
            assert_eq!(b.record(2, Good), Err(RecordError::Stopped));
        }
    }

    #[test]
    fn contradictions_and_repeats_are_refused() {
        let mut b = Bisector::new(10, Direction::Regression).unwrap();
        b.record(9, ProbeResult::Bad).unwrap();
        b.record(0, ProbeResult::Good).unwrap();
        b.record(5, ProbeResult::Bad).unwrap();
        assert_eq!(b.record(5, ProbeResult::Bad), Err(RecordError::AlreadyProbed { index: 5 }));
        assert!(matches!(b.record(7, ProbeResult::Good), Err(RecordError::OutsideWindow { .. })));
        assert_eq!(b.record(10, ProbeResult::Good), Err(RecordError::OutOfRange { index: 10, n: 10 }));
    }

    #[test]
    fn skips_are_searched_around_and_an_ambiguous_window_is_named() {
        // Boundary at 4, but 3 and 4 cannot be decided.
        let oracle = |i: usize| match i {
            3 | 4 => ProbeResult::Skip,
            i if i < 4 => ProbeResult::Good,
            _ => ProbeResult::Bad,
        };
        let r = run(8, Direction::Regression, oracle);
        assert_eq!(r.status, Status::Ambiguous);
        assert_eq!((r.last_old, r.first_new), (2, 5));
        assert_eq!(r.untested, vec![3, 4]);
        assert_eq!(r.first_bad(), None);
    }

    #[test]
    fn lookahead_covers_both_next_midpoints_and_the_ends() {
        let b = Bisector::new(8, Direction::Regression).unwrap();
        // While the bad end runs: the good end, and the first midpoint after it.
        assert_eq!(b.lookahead(7), vec![0, 3]);
        let mut b = b;
        b.record(7, ProbeResult::Bad).unwrap();
        b.record(0, ProbeResult::Good).unwrap();
        assert_eq!(b.next_probe(), Some(3));
        // 3 good -> window (3, 7) -> 5; 3 bad -> window (0, 3) -> 1.
        assert_eq!(b.lookahead(3), vec![5, 1]);
    }

    #[test]
    fn candidates_are_the_registry_releases_in_the_window() {
        let registry: Vec<String> = ["0.0.0-dev-1", "1.3.2", "1.14.48", "1.15.0", "1.15.4", "1.15.13", "1.17.0", "1.16.0-rc.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = candidates(&registry, Direction::Regression, "1.3.2", "1.15.13").unwrap();
        assert_eq!(c, ["1.3.2", "1.14.48", "1.15.0", "1.15.4", "1.15.13"]);
        let c = candidates(&registry, Direction::Fixed, "1.17.0", "v1.15.4").unwrap();
        assert_eq!(c, ["1.15.4", "1.15.13", "1.17.0"]);
        assert!(matches!(
            candidates(&registry, Direction::Regression, "1.15.13", "1.3.2"),
            Err(CandidateError::WrongOrder { .. })
        ));
        let e = candidates(&registry, Direction::Regression, "1.14.51", "1.15.13").unwrap_err();
        assert_eq!(e.to_string(), "1.14.51 is not in the registry; nearest there: 1.3.2, 1.14.48, 1.15.0, 1.15.4");
        assert!(matches!(candidates(&registry, Direction::Regression, "1.3.2", "1.3.2"), Err(CandidateError::Same(_))));
        assert!(matches!(candidates(&registry, Direction::Regression, "x", "1.3.2"), Err(CandidateError::NotAVersion(_))));
    }

    #[test]
    fn known_good_bad_is_the_newest_good_and_the_oldest_bad_in_either_direction() {
        let r = run(8, Direction::Regression, monotone(Direction::Regression, 5));
        assert_eq!(r.known_good_bad(), (4, 5));
        let r = run(8, Direction::Fixed, monotone(Direction::Fixed, 5));
        assert_eq!(r.known_good_bad(), (5, 4));
    }

    #[test]
    fn ends_in_the_wrong_order_are_refused_with_the_flag_to_change() {
        let registry: Vec<String> = ["1.0.0", "1.1.0", "1.2.0"].iter().map(|s| s.to_string()).collect();
        let e = candidates(&registry, Direction::Regression, "1.2.0", "1.0.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--good 1.2.0 is newer than --bad 1.0.0: a regression search needs the good version older; to find where it got fixed, add --fixed"
        );
        let e = candidates(&registry, Direction::Fixed, "1.0.0", "1.2.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "with --fixed, --bad 1.2.0 must be older than --good 1.0.0 (the release that fails, then the one that passes)"
        );
        assert_eq!(candidates(&registry, Direction::Fixed, "1.1.0", "1.0.0").unwrap(), ["1.0.0", "1.1.0"]);
    }

    #[test]
    fn a_search_holds_all_its_candidates_and_is_never_empty() {
        let b = Bisector::new(5, Direction::Fixed).unwrap();
        assert_eq!((b.len(), b.is_empty(), b.direction()), (5, false, Direction::Fixed));
        assert_eq!((b.bad_end(), b.good_end()), (0, 4));
    }

    #[test]
    fn the_ends_are_confirmed_only_when_both_were_probed_as_claimed() {
        let mut b = Bisector::new(4, Direction::Regression).unwrap();
        assert!(!b.ends_confirmed(), "nothing probed");
        b.record(0, ProbeResult::Good).unwrap();
        assert!(!b.ends_confirmed(), "only the good end probed");
        b.record(3, ProbeResult::Bad).unwrap();
        assert!(b.ends_confirmed());
        let mut b = Bisector::new(4, Direction::Regression).unwrap();
        b.record(3, ProbeResult::Bad).unwrap();
        assert!(!b.ends_confirmed(), "only the bad end probed");
        b.record(0, ProbeResult::Bad).unwrap();
        assert!(!b.ends_confirmed(), "the good end is bad");
    }

    #[test]
    fn an_undecided_end_is_skipped_but_not_left_in_the_window() {
        for (direction, end_results) in [
            // The bad end (newest) decides nothing.
            (Direction::Regression, [ProbeResult::Skip, ProbeResult::Good]),
            // The bad end is confirmed; the good end (oldest) decides nothing.
            (Direction::Regression, [ProbeResult::Bad, ProbeResult::Skip]),
        ] {
            let mut b = Bisector::new(4, direction).unwrap();
            for result in end_results {
                if let Some(i) = b.next_probe() {
                    b.record(i, result).unwrap();
                }
            }
            let r = b.result();
            assert_eq!(r.skipped.len(), 1, "{r:?}");
            assert_eq!(r.untested, Vec::<usize>::new(), "an end is never inside the window: {r:?}");
        }
    }

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![Just(Direction::Regression), Just(Direction::Fixed)]
    }

    proptest! {
        /// Any candidate count and any monotone sequence with a boundary: the true boundary
        /// is found in at most ceil(log2(n)) + 2 probes, the two end confirmations included.
        #[test]
        fn monotone_sequences_find_the_true_boundary(
            n in 2usize..300,
            boundary_seed in any::<usize>(),
            direction in direction(),
        ) {
            let boundary = 1 + boundary_seed % (n - 1);
            let r = run(n, direction, monotone(direction, boundary));
            prop_assert_eq!(r.status, Status::Found);
            prop_assert_eq!((r.last_old, r.first_new), (boundary - 1, boundary));
            prop_assert!(r.probes.len() <= ceil_log2(n) + 2, "{} probes for n={}", r.probes.len(), n);
            prop_assert!(r.skipped.is_empty());
        }

        /// Skips sprinkled anywhere but at the ends never make the answer wrong: when both
        /// sides of the boundary can be decided it is found exactly; otherwise the result
        /// is Ambiguous and its window (only skipped candidates inside) holds the boundary.
        #[test]
        fn skips_never_make_the_answer_wrong(
            n in 2usize..120,
            boundary_seed in any::<usize>(),
            skips in proptest::collection::vec(any::<bool>(), 120),
            direction in direction(),
        ) {
            let boundary = 1 + boundary_seed % (n - 1);
            let skipped = |i: usize| i != 0 && i != n - 1 && skips[i];
            let truth = monotone(direction, boundary);
            let r = run(n, direction, |i| if skipped(i) { ProbeResult::Skip } else { truth(i) });
            let determinable = !skipped(boundary - 1) && !skipped(boundary);
            if determinable {
                prop_assert_eq!(r.status, Status::Found);
                prop_assert_eq!((r.last_old, r.first_new), (boundary - 1, boundary));
            } else {
                prop_assert_eq!(r.status, Status::Ambiguous);
                prop_assert!(r.last_old < boundary && boundary <= r.first_new);
                prop_assert_eq!(&r.untested, &(r.last_old + 1..r.first_new).collect::<Vec<_>>());
                prop_assert!(r.untested.iter().all(|&i| skipped(i)));
            }
            // Each candidate is probed at most once; probed known states are consistent.
            let mut seen: Vec<usize> = r.probes.iter().map(|p| p.0).collect();
            seen.sort();
            seen.dedup();
            prop_assert_eq!(seen.len(), r.probes.len());
            prop_assert_eq!(truth(r.last_old), direction.old_state());
            prop_assert_eq!(truth(r.first_new), direction.new_state());
        }

        /// Whatever a probe concludes (good or bad), the next probe was in its lookahead:
        /// fetching ahead always fetches what comes next.
        #[test]
        fn the_next_probe_is_always_fetched_ahead(
            n in 2usize..100,
            boundary_seed in any::<usize>(),
            direction in direction(),
        ) {
            let boundary = 1 + boundary_seed % (n - 1);
            let truth = monotone(direction, boundary);
            let mut b = Bisector::new(n, direction).unwrap();
            let mut prev: Option<Vec<usize>> = None;
            while let Some(i) = b.next_probe() {
                if let Some(ahead) = &prev {
                    prop_assert!(ahead.contains(&i), "{} not in {:?}", i, ahead);
                }
                prop_assert!(b.lookahead(i).len() <= 2);
                prev = Some(b.lookahead(i));
                b.record(i, truth(i)).unwrap();
            }
        }

        /// An end that is not as claimed stops the search at once, with no answer.
        #[test]
        fn unconfirmed_ends_give_no_answer(
            n in 2usize..50,
            bad_end in prop_oneof![Just(ProbeResult::Good), Just(ProbeResult::Skip), Just(ProbeResult::Bad)],
            good_end in prop_oneof![Just(ProbeResult::Good), Just(ProbeResult::Skip), Just(ProbeResult::Bad)],
            direction in direction(),
        ) {
            let b = Bisector::new(n, direction).unwrap();
            let (be, ge) = (b.bad_end(), b.good_end());
            let r = run(n, direction, |i| if i == be { bad_end } else if i == ge { good_end } else { direction.old_state() });
            let confirmed = bad_end == ProbeResult::Bad && good_end == ProbeResult::Good;
            prop_assert_eq!(matches!(r.status, Status::EndNotConfirmed(_)), !confirmed);
            if !confirmed {
                prop_assert!(r.probes.len() <= 2);
                prop_assert_eq!(r.first_bad().or(r.first_fixed()), None);
            }
        }
    }
}
