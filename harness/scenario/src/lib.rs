//! The scenario file format: the contract between oc-conform and the people who write
//! scenarios (us, and plugin authors). One TOML file describes one scenario: the opencode
//! config it needs, the fixture plugins it loads, what the fake model answers, the steps
//! played against the server and the checks that judge the recorded timeline.
//!
//! This crate only models and validates the format; it does no I/O beyond reading a file,
//! so it can be tested (and fuzzed) without a server. `scenarios/README.md` documents it.

pub mod expectations;
mod load;
mod model;
pub mod requirements;

pub use expectations::{Expectation, ExpectationsError, Expectations, ExpectedOutcome};
pub use load::{load_dir, load_file, parse_str, Located, ScenarioError};
pub use model::*;
pub use requirements::{unmet, Capability, Requirement, ServerMode};

/// The format version this build reads. A file with another `format_version` is refused
/// with a message saying which versions are understood.
pub const FORMAT_VERSION: u32 = 1;
