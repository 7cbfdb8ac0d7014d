//! The explorer's pure core (`oc-conform explore`): actions and the reference model of a
//! session that gives them preconditions, the seeded generator, the compilation of a case
//! into an ordinary scenario, fingerprints and the known failures, and the shrinker. The
//! driver that plays cases on real servers is `oc_conform_app::drivers::explore`.

pub mod actions;
pub mod compile;
pub mod fingerprint;
pub mod report;
pub mod shrink;
#[cfg(test)]
mod sim;

pub use actions::{case_seed, check_sequence, generate, is_case, Action, Via};
pub use compile::{compile, describe};
pub use fingerprint::{consequences, known_failures, recognise, Fingerprint, KnownFailure, Recognition};
pub use shrink::{candidate_showed, Candidate, CandidateShowed, ShrinkStep, Shrinker};
pub use report::{CaseRecord, CaseVerdict, ExploreDoc, ExploreFiles, Finding, Timing};
