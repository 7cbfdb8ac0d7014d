//! The checks: pure functions over a [`Timeline`]. See `run_check`.

use crate::{CheckResult, Timeline};
use oc_conform_scenario::CheckSpec;

/// Runs one check on a timeline.
pub fn run_check(spec: &CheckSpec, timeline: &Timeline) -> CheckResult {
    CheckResult::error(spec.name(), "not implemented yet")
}
