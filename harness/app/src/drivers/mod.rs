//! One driver per job. Each takes a plan (resolved from the command line) and a bus,
//! emits its events, and returns its typed result or an [`crate::AppError`].

pub mod auto_bisect;
pub mod api_diff;
pub mod baseline_cache;
pub mod bisect;
pub mod check_plugin;
pub mod rerun;
pub mod explore;
pub mod interface_changes;
pub mod run;
pub mod stored;
