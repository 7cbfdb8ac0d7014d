//! SIGINT/SIGTERM for every long-running driver. The handlers are registered when
//! `on_interrupt` returns (not later, in a task), so a signal at any moment after is
//! caught: the driver's clean-up runs (its servers and marked processes end), the
//! interrupt is emitted on the bus (the file reporters write what finished, marked
//! interrupted), then the process exits 130 or 143.

use crate::exit;
use oc_conform_runner::report::{Bus, Event};

/// On SIGINT or SIGTERM: runs `cleanup`, emits [`Event::Interrupted`] on `bus`, exits.
pub fn on_interrupt(bus: Bus, cleanup: impl FnOnce() + Send + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        bus.emit(Event::Note {
            text: "warning: cannot install the SIGINT/SIGTERM handlers".into(),
        });
        return;
    };
    tokio::spawn(async move {
        let (code, name) = tokio::select! {
            _ = int.recv() => (exit::SIGINT, "SIGINT"),
            _ = term.recv() => (exit::SIGTERM, "SIGTERM"),
        };
        cleanup();
        bus.emit(Event::Interrupted { signal: name.into() });
        std::process::exit(code as i32);
    });
}
