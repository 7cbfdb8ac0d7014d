//! The OpenAPI document a release publishes at `GET /doc`: its server started in a
//! sandbox of its own (fresh HOME, random password, loopback), asked once, stopped.

use crate::install::Installed;
use crate::record::Recorder;
use crate::sandbox::{Sandbox, SandboxSpec};
use crate::server::{ServerConfig, ServerHandle};
use std::path::Path;
use std::time::Duration;

/// `GET /doc` takes 0.6-1.6 s on recent releases; this bounds it.
const DOC_TIMEOUT: Duration = Duration::from_secs(30);
/// The stop's grace before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum DocFetchError {
    #[error("cannot create the sandbox: {0}")]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error("cannot start opencode {version}: {message}")]
    Start { version: String, message: String },
    #[error("GET /doc on opencode {version}: {message}")]
    Request { version: String, message: String },
}

/// The document's text, from a server of `target` started for this alone; its output
/// goes to `log_path`.
pub async fn fetch_doc(target: &Installed, log_path: &Path, start_timeout: Duration) -> Result<String, DocFetchError> {
    if let Some(dir) = log_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // No model is reached: the document needs none.
    let sandbox = Sandbox::create(&SandboxSpec {
        model_base_url: "http://127.0.0.1:9/v1".into(),
        label: "api-doc".into(),
        ..SandboxSpec::default()
    })?;
    let recorder = Recorder::new("api-doc", &target.version);
    let mut server = ServerHandle::start(
        ServerConfig::in_sandbox(&target.binary, &sandbox, log_path.to_path_buf(), start_timeout),
        &recorder,
    )
    .await
    .map_err(|e| DocFetchError::Start {
        version: target.version.clone(),
        message: e.to_string(),
    })?;
    let answer = get_doc(&server.url, server.password()).await;
    server.stop(STOP_GRACE).await;
    answer.map_err(|message| DocFetchError::Request {
        version: target.version.clone(),
        message,
    })
}

async fn get_doc(url: &str, password: &str) -> Result<String, String> {
    let response = reqwest::Client::new()
        .get(format!("{url}/doc"))
        .basic_auth("opencode", Some(password))
        .timeout(DOC_TIMEOUT)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()));
    }
    Ok(text)
}
