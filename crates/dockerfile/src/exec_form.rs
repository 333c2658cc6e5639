//! Turning `RUN`, `CMD` and `ENTRYPOINT` into argv the way BuildKit does:
//! shell form goes through the current `SHELL` (default `/bin/sh -c`),
//! `RUN` heredocs become either the script itself, a file to execute (when
//! it starts with `#!`), or a here-document for the shell; plus the image
//! config rules for `ENTRYPOINT`/`CMD`, `STOPSIGNAL` names and `EXPOSE`
//! port specifications.

use crate::golang::{parse_int, quote};
use crate::instructions::CommandLine;
use crate::parser::{chomp_heredoc_content, parse_heredoc};

/// Docker's default shell on Linux.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// Shell form: `shell` (or the default when empty) followed by the words
/// joined by spaces (BuildKit's `withShell`).
pub fn shell_form(shell: &[String], args: &[String]) -> Vec<String> {
    let mut out = if shell.is_empty() {
        default_shell()
    } else {
        shell.to_vec()
    };
    out.push(args.join(" "));
    out
}

/// argv of a `CMD`/`ENTRYPOINT`/`RUN` command line without heredocs: exec
/// form as written, shell form through `shell`.
pub fn exec_form(shell: &[String], cmd: &CommandLine) -> Vec<String> {
    if cmd.prepend_shell {
        shell_form(shell, &cmd.args)
    } else {
        cmd.args.clone()
    }
}

/// A file a `RUN` heredoc script is written to before it runs (mounted
/// read-only at `/dev/pipes/<name>`, mode 0755).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineScript {
    /// Path inside the container (`/dev/pipes/EOF`).
    pub path: String,
    /// Script content.
    pub data: String,
}

/// What a `RUN` executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    /// The process argv.
    pub argv: Vec<String>,
    /// A script file to provide first, for `RUN <<EOF` bodies that start
    /// with `#!`.
    pub script: Option<InlineScript>,
}

/// Plans a `RUN` (BuildKit's `dispatchRun`): a lone heredoc runs its body
/// through the shell (or as a file when it starts with `#!`); a command
/// with heredocs gets them appended as here-documents for the shell.
pub fn run_plan(shell: &[String], cmd: &CommandLine) -> Result<RunPlan, String> {
    let mut args = cmd.args.clone();
    let mut script = None;
    if !cmd.files.is_empty() {
        if args.len() != 1 || !cmd.prepend_shell {
            return Err(format!(
                "parsing produced an invalid run command: [{}]",
                args.join(" ")
            ));
        }
        if matches!(parse_heredoc(&args[0]), Ok(Some(_))) {
            let f = &cmd.files[0];
            let data = if f.chomp {
                chomp_heredoc_content(&f.data)
            } else {
                f.data.clone()
            };
            if data.starts_with("#!") {
                let path = format!("/dev/pipes/{}", f.name);
                script = Some(InlineScript {
                    path: path.clone(),
                    data,
                });
                args = vec![path];
            } else {
                args = vec![data];
            }
        } else {
            let mut b = args[0].clone();
            for f in &cmd.files {
                b.push('\n');
                b.push_str(&f.data);
                b.push_str(&f.name);
            }
            args = vec![b];
        }
    }
    let argv = if cmd.prepend_shell {
        shell_form(shell, &args)
    } else {
        args
    };
    Ok(RunPlan { argv, script })
}

/// The command part of an image config while a stage is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageCommand {
    /// `SHELL` (empty: the default).
    pub shell: Vec<String>,
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    pub cmd: Option<Vec<String>>,
    cmd_set_in_stage: bool,
}

impl ImageCommand {
    /// Starts from the base image's config.
    pub fn from_image(
        shell: Vec<String>,
        entrypoint: Option<Vec<String>>,
        cmd: Option<Vec<String>>,
    ) -> Self {
        ImageCommand {
            shell,
            entrypoint,
            cmd,
            cmd_set_in_stage: false,
        }
    }

    /// `SHELL [...]`.
    pub fn apply_shell(&mut self, shell: &[String]) {
        self.shell = shell.to_vec();
    }

    /// `CMD`: shell form goes through the current shell.
    pub fn apply_cmd(&mut self, cmd: &CommandLine) {
        self.cmd = Some(exec_form(&self.shell, cmd));
        self.cmd_set_in_stage = true;
    }

    /// `ENTRYPOINT`: also drops an inherited `CMD` unless this stage set
    /// one before. `ENTRYPOINT []` clears the entrypoint.
    pub fn apply_entrypoint(&mut self, ep: &CommandLine) {
        let argv = exec_form(&self.shell, ep);
        self.entrypoint = if !ep.prepend_shell && argv.is_empty() {
            None
        } else {
            Some(argv)
        };
        if !self.cmd_set_in_stage {
            self.cmd = None;
        }
    }

    /// What a container runs: entrypoint followed by cmd. With a
    /// shell-form entrypoint the cmd words only become `$0…` of the shell,
    /// which is Docker's "shell form ENTRYPOINT ignores CMD".
    pub fn argv(&self) -> Vec<String> {
        let mut out = self.entrypoint.clone().unwrap_or_default();
        out.extend(self.cmd.clone().unwrap_or_default());
        out
    }
}

const SIGNALS: &[(&str, i32)] = &[
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
    ("WINCH", 28),
    ("XCPU", 24),
    ("XFSZ", 25),
];

/// Validates a `STOPSIGNAL` like moby's `signal.ParseSignal` (Linux): a
/// non-zero number, or a name with or without `SIG` (`SIGRTMIN+3` too).
pub fn parse_signal(raw: &str) -> Result<i32, String> {
    let invalid = || format!("invalid signal: {raw}");
    if let Ok(n) = parse_int(raw, 64) {
        if n == 0 {
            return Err(invalid());
        }
        return Ok(n as i32);
    }
    let upper = raw.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Ok(n);
    }
    let offset = |rest: &str, max: i32| -> Option<i32> {
        let n: i32 = rest.parse().ok()?;
        (1..=max).contains(&n).then_some(n)
    };
    match name {
        "RTMIN" => return Ok(34),
        "RTMAX" => return Ok(64),
        _ => {}
    }
    if let Some(n) = name.strip_prefix("RTMIN+").and_then(|r| offset(r, 15)) {
        return Ok(34 + n);
    }
    if let Some(n) = name.strip_prefix("RTMAX-").and_then(|r| offset(r, 14)) {
        return Ok(64 - n);
    }
    Err(invalid())
}

/// Expands `EXPOSE` specifications into `port/proto` keys (BuildKit's
/// `parsePorts`): `80`, `80/udp`, `8000-8002`, protocols lower-cased.
pub fn parse_expose(specs: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in specs {
        out.extend(parse_port(raw)?);
    }
    Ok(out)
}

fn parse_port(raw: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (ip, host_port, container) = match parts.len() {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        n => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(format!("invalid port: {}: no port specified", quote(raw)));
    }
    let proto = match proto.to_lowercase().as_str() {
        "" => "tcp".to_string(),
        "tcp" | "udp" | "sctp" => proto.to_string(),
        _ => {
            return Err(format!(
                "invalid port: {}: invalid proto: {proto}",
                quote(raw)
            ))
        }
    };
    let mut ip = ip;
    if ip.starts_with('[') {
        ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
    }
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (start, end) = port_range(port).map_err(|_| format!("invalid containerPort: {port}"))?;
    if !host_port.is_empty() {
        let (hs, he) =
            port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != he - hs && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {port} and {host_port}"
            ));
        }
    }
    Ok((start..=end)
        .map(|p| format!("{p}/{}", proto.to_lowercase()))
        .collect())
}

fn port_range(s: &str) -> Result<(u32, u32), ()> {
    if s.is_empty() {
        return Err(());
    }
    let num = |p: &str| -> Result<u32, ()> {
        let v = parse_int(p, 64).map_err(|_| ())?;
        if !(0..=65535).contains(&v) {
            return Err(());
        }
        Ok(v as u32)
    };
    match s.split_once('-') {
        None => {
            let v = num(s)?;
            Ok((v, v))
        }
        Some((a, b)) => {
            let start = num(a)?;
            if a == b {
                return Ok((start, start));
            }
            let end = num(b)?;
            if end < start {
                return Err(());
            }
            Ok((start, end))
        }
    }
}
