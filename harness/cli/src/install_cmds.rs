//! `install`, `versions`, `list` and `gc`.

use oc_conform_app::{exit, workspace, Workspace};
use oc_conform_runner::install::OpencodeSpec;
use std::path::PathBuf;

pub async fn install(versions: Vec<String>) -> u8 {
    let installer = match workspace::installer() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    for v in &versions {
        if let Err(e) = v.parse::<OpencodeSpec>() {
            eprintln!("error: {v}: {e}");
            return exit::USAGE;
        }
    }
    let mut code = exit::OK;
    for (v, r) in versions.iter().zip(installer.install_many(&versions).await) {
        match r {
            Ok(i) => println!("{} {}", i.version, i.binary.display()),
            Err(e) => {
                eprintln!("error: {v}: {e}");
                code = exit::INFRA;
            }
        }
    }
    code
}

pub async fn versions() -> u8 {
    let installer = match workspace::installer() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let cached = installer.cached_versions();
    match installer.registry_versions().await {
        Ok(all) => {
            for v in &all {
                let mark = if cached.contains(v) { "  (cached)" } else { "" };
                println!("{v}{mark}");
            }
            for v in cached.iter().filter(|c| !all.contains(c)) {
                println!("{v}  (cached, not in the registry)");
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("warning: cannot list the registry's versions: {e}");
            for v in &cached {
                println!("{v}  (cached)");
            }
            exit::INFRA
        }
    }
}

/// `list`: the same selection flags as `run`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: crate::run::SelectionArgs,
    /// An extra directory (or file) of scenarios, as `run --scenarios`. Repeatable.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenarios: Vec<PathBuf>,
    /// Only the names, one a line (for scripts).
    #[arg(long)]
    pub names: bool,
}

pub fn list(args: ListArgs) -> u8 {
    let result = Workspace::load()
        .and_then(|ws| ws.catalogue(&args.scenarios))
        .and_then(|c| args.select.selection().apply(&c));
    match result {
        Ok(selected) => {
            for s in &selected {
                if args.names {
                    println!("{}", s.name);
                    continue;
                }
                let first = s.description.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
                let requires = s.requires.describe().map(|r| format!(" [requires {r}]")).unwrap_or_default();
                let tags = if s.tags.is_empty() { String::new() } else { format!(" [tags {}]", s.tags.join(", ")) };
                println!("{:36} {first}{requires}{tags}", s.name);
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

pub fn gc() -> u8 {
    let killed = oc_conform_runner::leftovers::collect();
    for l in &killed {
        println!("killed {} ({}): {}", l.pid, l.marker, l.cmdline);
    }
    eprintln!("{} leftover process(es) ended", killed.len());
    exit::OK
}
