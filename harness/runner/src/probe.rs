//! Feature probes for a scenario's `[requires]`: what a server under test offers (its
//! routes and config keys from GET /doc, the tools it offers the model from GET
//! /experimental/tool/ids), asked of a server the harness starts for that alone, or of
//! an attached one. The answers are decoded by `wire::features`.

use crate::install::Installed;
use crate::observe::http::Api;
use oc_conform_checks::wire;
use oc_conform_scenario::Features;
use std::path::Path;
use std::time::Duration;

const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Asks a running server what it offers. A call without a usable answer leaves its part
/// of the result `None` (the scenario that needs it is skipped with that said).
pub async fn probe_api(api: &Api) -> Features {
    let doc = api.call_quiet("GET", "/doc", None, CALL_TIMEOUT).await;
    let ids = api.call_quiet("GET", "/experimental/tool/ids", None, CALL_TIMEOUT).await;
    wire::features(doc.ok().then_some(&doc.body), ids.ok().then_some(&ids.body))
}

/// Starts `target` in a sandbox of its own (its log at `log_path`), probes it, stops it.
/// Err: the server could not be started, so nothing is known.
pub async fn probe_release(target: &Installed, log_path: &Path, start_timeout: Duration) -> Result<Features, String> {
    let (mut server, sandbox) =
        crate::shared_server::start_bare("probe-server", target, log_path, start_timeout).await?;
    let api = Api::new(&server.url, server.password(), &sandbox.project.display().to_string());
    let features = probe_api(&api).await;
    server.stop(Duration::from_secs(2)).await;
    Ok(features)
}
