//! oc-conform's own integration tests: one binary, a module per area. The `real_*`
//! modules run real opencode servers (installed into the cache through the harness).

mod bisect;
mod bad_input;
mod cli;
mod gate;
mod hygiene;
mod installed;
mod plugin_author;
mod real_api_diff;
mod real_attach;
mod real_authoring;
mod real_bench;
mod real_check_plugin;
mod real_rerun_bisect;
mod real_steps;
mod real_explore;
mod real_probe;
mod real_suite;
mod support;
mod truth;
