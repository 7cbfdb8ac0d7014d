//! Plays scenarios against real opencode servers.
//!
//! The data flow, one module per stage:
//! `install` (get a binary) -> `sandbox` (HOME, config, env) + `fake_model` + `server`
//! -> `observe` (events, HTTP, processes) -> `record` (one timeline) -> `execute` (play
//! the steps, then run the checks of `oc-conform-checks`) -> `report`.

pub mod fake_model;
pub mod hook_names;
pub mod install;
pub mod leftovers;
pub mod observe;
pub mod pace;
pub mod plugin_report;
pub mod plugin_tools;
pub mod plugin_wrap;
pub mod port4096;
pub mod probe;
pub mod process;
pub mod record;
pub mod releases;
pub mod sandbox;
pub mod server;
pub mod shared_server;
pub mod schedule;
pub mod suite;
pub mod tree_load;
pub mod bisect;
pub mod bench;
pub mod api_doc;
pub mod execute;
pub mod explore;
pub mod report;
