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
    // The exec shim starts on every `exec`: no argument parsing to pay for.
    if args.get(1).is_some_and(|a| a == "shim-exec") {
        return ExitCode::from(berth_runtime::exec::run().clamp(0, 255) as u8);
    }
    // Nor on every container start: its arguments come on stdin.
    if args.get(1).is_some_and(|a| a == "shim") {
        return run_standby();
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
    if let cli::Command::Registry(r) = &parsed.command {
        return match r {
            cli::RegistryCmd::Serve(a) => commands::registry::serve(a),
            cli::RegistryCmd::Gc(a) => commands::registry::gc(a),
        };
    }
    if let cli::Command::Daemon(d) = parsed.command {
        return daemon::run(d, &args);
    }
    quiet_on_closed_stdout();
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
    let result = rt.block_on(commands::dispatch(parsed));
    // A read of stdin may still be pending on a blocking thread: do not
    // wait for the user's next keystroke to exit.
    rt.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            // Our output's reader went away (`| head`): quiet, as docker.
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
            while let Some(c) = cause {
                if c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                {
                    return ExitCode::from(141);
                }
                cause = c.source();
            }
            eprintln!("{e}");
            match e.downcast_ref::<commands::container::Exit>() {
                Some(x) => ExitCode::from(x.0),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// As the docker CLI: output piped into a reader that stops early (`berth
/// ps | head -1`) ends the command quietly with SIGPIPE's status (141)
/// instead of a panic message (Rust ignores SIGPIPE, so `println!` panics
/// on the broken pipe).
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

/// `berth shim --standby` (internal): a shim, most often started ahead of
/// need, which waits for its container's arguments as one JSON line on
/// stdin (see the engine's `containers::standby`). The end of stdin, before
/// any line, is the daemon going away.
fn run_standby() -> ExitCode {
    let code = berth_runtime::shim::standby(shim_logging);
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// The runtime's own diagnostics go to the bundle's shim.log (warnings and
/// errors; not libcgroups' note, at every start, of each cgroup v1
/// controller the host has not mounted).
fn shim_logging(a: &berth_runtime::shim::ShimArgs) {
    if let Ok(f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(a.bundle.join("shim.log"))
    {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(f))
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "warn,libcgroups::v1::manager=error",
            ))
            .try_init();
    }
}
