//! The exit codes, documented in the README. A CI job branches on these.

/// Every outcome as expected.
pub const OK: u8 = 0;
/// A regression: some scenario failed.
pub const REGRESSION: u8 = 1;
/// The run could not reach a verdict (install, start, infrastructure).
pub const INFRA: u8 = 2;
/// Usage or input error (bad flags, a malformed scenario file, an unknown scenario).
pub const USAGE: u8 = 64;
/// Interrupted by SIGINT / SIGTERM (128 + signal).
pub const SIGINT: u8 = 130;
pub const SIGTERM: u8 = 143;
