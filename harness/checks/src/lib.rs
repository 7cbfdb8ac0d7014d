//! What was observed, and what it means.
//!
//! A [`Timeline`] is the ordered record of one scenario run: events from the server's
//! event streams, HTTP answers and status polls, process-table changes, fake-model
//! requests, fixture-plugin records and the steps the runner played. Checks are pure
//! functions from a timeline to a [`CheckResult`] with a witness: the few entries that
//! contradict each other. Nothing here does I/O, so every check can be tested on a
//! synthetic timeline and re-run on a stored one (`oc-conform analyze`).
//!
//! The timeline keeps opencode's raw event properties and answer bodies; [`wire`] is the
//! one place that knows what they mean on each release.

pub mod checks;
pub mod outcome;
pub mod testing;
pub mod timeline;
pub mod wire;
pub mod verdict;

pub use timeline::*;
pub use verdict::*;
