//! The three observers. Each writes what it sees into the run's [`Recorder`]:
//! `events` (the SSE streams), `http` (status and permission polls, and the API client
//! the steps use), `procs` (the process table).
//!
//! [`Recorder`]: crate::record::Recorder

pub mod events;
pub mod http;
pub mod plugins;
pub mod procs;
