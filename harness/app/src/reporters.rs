//! The reporter sets the drivers emit into, chosen by the caller.

use oc_conform_runner::explore::ExploreFiles;
use oc_conform_runner::report::events::JsonLines;
use oc_conform_runner::report::{BisectFiles, Bus, Event, PluginFiles, Reporter, ResultsFiles, Terminal};
use std::path::Path;

/// How the live stream is shown: `human` (the terminal on stderr, answers on stdout) or
/// `json` (one JSON object per line on stdout, the schema in `reports/README.md`; the
/// terminal still writes to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

/// The live reporters for `format`, and the first event of the stream.
fn live(format: MessageFormat, command: &str) -> Bus {
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(Terminal::new(format == MessageFormat::Human))];
    if format == MessageFormat::Json {
        reporters.push(Box::new(JsonLines::new(std::io::stdout())));
    }
    let bus = Bus::new(reporters);
    bus.emit(Event::stream_started(command));
    bus
}

/// `run`: the live reporters and the run's file reports.
pub fn for_run(format: MessageFormat) -> Bus {
    let bus = live(format, "run");
    bus.add(Box::new(ResultsFiles::new()));
    bus
}

/// `bisect`: the live reporters and the bisect's documents in `report_dir`.
pub fn for_bisect(format: MessageFormat, report_dir: &Path) -> Bus {
    let bus = live(format, "bisect");
    bus.add(Box::new(BisectFiles::new(report_dir)));
    bus
}

/// `check-plugin`: the live reporters, each round's run reports, the plugin report.
pub fn for_check_plugin(format: MessageFormat) -> Bus {
    let bus = live(format, "check-plugin");
    bus.add(Box::new(ResultsFiles::new()));
    bus.add(Box::new(PluginFiles));
    bus
}

/// `--auto-bisect`: one bisect's documents in `report_dir`, its events forwarded to the
/// run's own bus (its terminal and JSON stream).
pub fn for_auto_bisect(run: &Bus, report_dir: &Path) -> Bus {
    Bus::new(vec![Box::new(Forward(run.clone())), Box::new(BisectFiles::new(report_dir))])
}

/// Passes every event on to another bus.
struct Forward(Bus);

impl Reporter for Forward {
    fn report(&mut self, event: &Event) -> std::io::Result<()> {
        self.0.emit(event.clone());
        Ok(())
    }
}

/// `explore`: the live reporters, the cases' run reports, explore.json and explore.md.
pub fn for_explore(format: MessageFormat, report_dir: &Path) -> Bus {
    let bus = live(format, "explore");
    bus.add(Box::new(ResultsFiles::new()));
    bus.add(Box::new(ExploreFiles::new(report_dir)));
    bus
}
