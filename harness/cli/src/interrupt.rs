//! SIGINT/SIGTERM for every long-running command: the handlers are registered when
//! `on_interrupt` returns (not later, in a task), so a signal at any moment after is
//! caught; the command's own cleanup runs, then the process exits 130 or 143.

use crate::exit;

/// On SIGINT or SIGTERM: runs `cleanup`, then exits with 130 / 143.
pub fn on_interrupt(cleanup: impl FnOnce() + Send + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        eprintln!("warning: cannot install the SIGINT/SIGTERM handlers");
        return;
    };
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = int.recv() => exit::SIGINT,
            _ = term.recv() => exit::SIGTERM,
        };
        eprintln!("\ninterrupted");
        cleanup();
        std::process::exit(code as i32);
    });
}
