//! Plays scenarios against real opencode servers.
//!
//! The data flow, one module per stage:
//! `install` (get a binary) -> `sandbox` (HOME, config, env) + `fake_model` + `server`
//! -> `observe` (events, HTTP, processes) -> `record` (one timeline) -> checks (in
//! `oc-conform-checks`) -> `report`.

pub mod record;
