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
/// `run --exit-code bisect` only: this build cannot be judged (no verdict: install, start,
/// timeout; or it fails another way than `--fingerprint`). `git bisect run` skips it.
pub const BISECT_SKIP: u8 = 125;
/// `run --exit-code bisect` only: a usage error, the same on every commit; codes of 128
/// and above make `git bisect run` stop instead of marking commits bad.
pub const BISECT_ABORT: u8 = 128;
