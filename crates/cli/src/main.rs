//! `berth`: the command line (docker-compatible commands and flags) and, as
//! `berth daemon`, the engine daemon itself. One binary for both.

mod cli;
mod commands;
mod daemon;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    let mut args: Vec<String> = std::env::args().collect();
    // Reachable as `berthd` too (a symlink to the same binary).
    if argv0.rsplit('/').next() == Some("berthd") {
        args.insert(1, "daemon".into());
    }
    let parsed = match cli::Cli::try_parse_from(&args) {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(125),
            };
        }
    };
    if let cli::Command::Daemon(d) = parsed.command {
        return daemon::run(d, &args);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(commands::dispatch(parsed)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
