//! Interactive streams, as the docker CLI handles them: the local terminal
//! in raw mode (restored on every way out), its size sent at start and on
//! every SIGWINCH, stdin copied with the detach keys spotted, output
//! demultiplexed to stdout/stderr, signals proxied; and the commands built
//! on them: `exec` and `attach`.

use std::os::fd::{AsFd, FromRawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_api::client::{empty, Hijacked};
use berth_api::Client;
use berth_engine::detach::{keys_or_default, DetachFilter};
use hyper::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use super::container::Exit;
use crate::cli::{AttachArgs, ExecArgs};
use crate::output::{is_tty, query, CmdError};

/// Puts the terminal on stdin in raw mode; restores it when dropped.
pub struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    /// Raw mode when stdin is a terminal; a no-op otherwise.
    pub fn enable() -> RawTerminal {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        if !rustix::termios::isatty(fd) {
            return RawTerminal { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(fd) else {
            return RawTerminal { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        // Output processing stays as the terminal had it (as docker's
        // term.MakeRaw with OPOST kept off: the container's pty adds \r).
        let _ = rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw);
        RawTerminal { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let stdin = std::io::stdin();
            let _ =
                rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, t);
        }
    }
}

/// The local terminal's size (rows, columns), when stdout is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    let ws = rustix::termios::tcgetwinsize(out.as_fd()).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sends the terminal's size to `path` (`/containers/X/resize` or
/// `/exec/X/resize`) now and on every SIGWINCH, until dropped.
pub fn follow_resizes(client: &Client, path: String) -> tokio::task::JoinHandle<()> {
    let client = client.clone();
    tokio::spawn(async move {
        let send = |c: Client, p: String| async move {
            if let Some((h, w)) = terminal_size() {
                let _ = c
                    .request(
                        Method::POST,
                        &format!(
                            "{p}?{}",
                            query(&[("h", &h.to_string()), ("w", &w.to_string())])
                        ),
                        empty(),
                        None,
                    )
                    .await;
            }
        };
        send(client.clone(), path.clone()).await;
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            send(client.clone(), path.clone()).await;
        }
    })
}

/// The detach keys: the flag, else `detachKeys` in the CLI config file
/// (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, shared with
/// the docker CLI), else Ctrl-P Ctrl-Q.
pub fn detach_keys(flag: Option<&str>) -> String {
    if let Some(f) = flag {
        return f.to_string();
    }
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")));
    dir.and_then(|d| std::fs::read(d.join("config.json")).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["detachKeys"].as_str().map(String::from))
        .unwrap_or_default()
}

/// Copies a multiplexed (or raw, with a TTY) stream to stdout/stderr.
pub async fn pump_output(mut r: ReadHalf<Hijacked>, tty: bool) {
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    if tty {
        let mut buf = vec![0u8; 32 << 10];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    let _ = out.flush().await;
                }
            }
        }
        return;
    }
    let mut header = [0u8; 8];
    loop {
        if r.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut buf = vec![0u8; len];
        if r.read_exact(&mut buf).await.is_err() {
            break;
        }
        let w: &mut (dyn tokio::io::AsyncWrite + Unpin + Send) =
            if header[0] == 2 { &mut err } else { &mut out };
        if w.write_all(&buf).await.is_err() {
            break;
        }
        let _ = w.flush().await;
    }
}

/// Copies local stdin to the connection; `true` if the user typed the
/// detach keys. At end of input the connection's write side is closed.
pub async fn pump_input(
    mut w: WriteHalf<Hijacked>,
    keys: Vec<u8>,
    detached_flag: Arc<AtomicBool>,
) -> bool {
    let mut filter = DetachFilter::new(keys.clone());
    let mut inp = Stdin::open();
    let mut buf = vec![0u8; 32 << 10];
    let mut out = Vec::new();
    loop {
        let n = match inp.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        out.clear();
        let detached = filter.feed(&buf[..n], &mut out);
        if !out.is_empty() && w.write_all(&out).await.is_err() {
            return false;
        }
        if detached {
            // The daemon sees the keys too: it ends the session on its side
            // and records the detach event. Flagged first, so the stream's
            // end that follows is known for a detach, not the container's.
            detached_flag.store(true, Ordering::SeqCst);
            let _ = w.write_all(&keys).await;
            return true;
        }
    }
    let _ = w.shutdown().await;
    false
}

/// Local stdin for streaming: polled (no blocking thread, so a finished
/// session does not swallow the next line typed at the shell) when it is a
/// terminal or a pipe. Its blocking mode is left alone: the terminal is
/// shared with stdout, which must stay blocking. A read is made only when
/// epoll says there is data, and readiness is cleared only once nothing is
/// left (`FIONREAD`), so no edge is lost.
enum Stdin {
    Polled(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>),
    Blocking(tokio::io::Stdin),
}

impl Stdin {
    fn open() -> Stdin {
        // SAFETY: dup of stdin, which stays open for the whole process.
        let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
        if fd >= 0 {
            // SAFETY: fd was just duplicated and is ours.
            let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
            // SAFETY: the descriptor stays open inside the AsyncFd.
            if let Ok(a) = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(
                    owned,
                    tokio::io::Interest::READABLE,
                )
            } {
                return Stdin::Polled(a);
            }
        }
        Stdin::Blocking(tokio::io::stdin())
    }
}

impl tokio::io::AsyncRead for Stdin {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::os::fd::AsRawFd;
        use std::task::Poll;
        match self.get_mut() {
            Stdin::Blocking(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stdin::Polled(a) => loop {
                let mut guard = std::task::ready!(a.poll_read_ready(cx))?;
                let fd = a.as_raw_fd();
                let unfilled = buf.initialize_unfilled();
                // SAFETY: epoll said readable: this read returns at once.
                let n = unsafe { libc::read(fd, unfilled.as_mut_ptr().cast(), unfilled.len()) };
                if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::WouldBlock {
                        guard.clear_ready();
                        continue;
                    }
                    if e.raw_os_error() == Some(libc::EIO) {
                        return Poll::Ready(Ok(()));
                    }
                    return Poll::Ready(Err(e));
                }
                let mut left: libc::c_int = 0;
                // SAFETY: FIONREAD writes one int.
                let ok = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut left) } == 0;
                if n > 0 && ok && left == 0 {
                    guard.clear_ready();
                }
                buf.advance(n as usize);
                return Poll::Ready(Ok(()));
            },
        }
    }
}

/// How a streaming session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Session {
    /// The output ended (the process is done or the daemon closed it).
    Ended,
    /// The user detached.
    Detached,
}

/// Streams a hijacked connection until the output ends or the user
/// detaches. With stdin, local input goes to the connection.
pub async fn stream(conn: Hijacked, stdin: bool, tty: bool, keys: Vec<u8>) -> Session {
    let (r, w) = tokio::io::split(conn);
    let output = pump_output(r, tty);
    if !stdin {
        drop(w);
        output.await;
        return Session::Ended;
    }
    tokio::pin!(output);
    let detached_flag = Arc::new(AtomicBool::new(false));
    let input = tokio::spawn(pump_input(w, keys, detached_flag.clone()));
    tokio::select! {
        _ = &mut output => {
            if detached_flag.load(Ordering::SeqCst) {
                Session::Detached
            } else {
                Session::Ended
            }
        }
        detached = input => {
            if detached.unwrap_or(false) {
                // Let the daemon close the stream (briefly: the session is
                // over for the user either way).
                let _ = tokio::time::timeout(std::time::Duration::from_millis(500), output).await;
                Session::Detached
            } else {
                output.await;
                Session::Ended
            }
        }
    }
}

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 to a container
/// (`--sig-proxy`), until dropped.
pub fn proxy_signals(client: &Client, id: &str) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let client = client.clone();
    let id = id.to_string();
    // The handlers are in place when this returns (before the start), so
    // no signal meets the default action and kills the CLI instead.
    let kinds = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ];
    let streams: Vec<_> = kinds
        .into_iter()
        .filter_map(|(k, name)| signal(k).ok().map(|s| (s, name)))
        .collect();
    tokio::spawn(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        for (mut s, name) in streams {
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let _ = client
                .request(
                    Method::POST,
                    &format!("/containers/{id}/kill?signal={name}"),
                    empty(),
                    None,
                )
                .await;
        }
    })
}

/// `exec`.
pub async fn exec(client: &Client, a: &ExecArgs) -> Result<ExitCode, CmdError> {
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f).map_err(|e| Exit(125, format!("open {f}: {e}")))?;
        for l in text.lines() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            if l.contains('=') {
                env.push(l.to_string());
            } else if let Ok(v) = std::env::var(l) {
                env.push(format!("{l}={v}"));
            }
        }
    }
    for e in &a.env {
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    let keys_text = detach_keys(a.detach_keys.as_deref());
    let keys = keys_or_default(&keys_text).map_err(|e| Exit(125, e.message))?;
    let tty = a.tty;
    if tty && !a.detach && !is_tty(std::io::stdin()) && a.interactive {
        return Err(Exit(1, "the input device is not a TTY".into()).into());
    }
    let mut cfg = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": tty,
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "DetachKeys": keys_text,
        "Env": env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": a.command,
    });
    if tty {
        if let Some((h, w)) = terminal_size() {
            cfg["ConsoleSize"] = json!([h, w]);
        }
    }
    let created = client
        .call_json(
            Method::POST,
            &format!("/containers/{}/exec", a.container),
            Some(&cfg),
        )
        .await
        .map_err(|e| Exit(1, e.to_string()))?;
    let id = created["Id"].as_str().unwrap_or("").to_string();
    if a.detach {
        client
            .call_json(
                Method::POST,
                &format!("/exec/{id}/start"),
                Some(&json!({"Detach": true, "Tty": tty})),
            )
            .await
            .map_err(|e| Exit(1, e.to_string()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let body = json!({"Detach": false, "Tty": tty, "ConsoleSize": cfg.get("ConsoleSize")});
    let conn = client
        .hijack(&format!("/exec/{id}/start"), Some(&body))
        .await
        .map_err(|e| Exit(1, e.to_string()))?;
    let raw = if tty && a.interactive {
        Some(RawTerminal::enable())
    } else {
        None
    };
    let resizer = tty.then(|| follow_resizes(client, format!("/exec/{id}/resize")));
    let session = stream(conn, a.interactive, tty, keys).await;
    if let Some(r) = resizer {
        r.abort();
    }
    drop(raw);
    if session == Session::Detached {
        return Ok(ExitCode::SUCCESS);
    }
    // The exit code, once the daemon has recorded it (the stream can end
    // before the process does, when it closes its output early).
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        let v = client
            .get_json(&format!("/exec/{id}/json"))
            .await
            .map_err(|e| Exit(1, e.to_string()))?;
        if v["Running"].as_bool() != Some(true) {
            if let Some(code) = v["ExitCode"].as_i64() {
                return Ok(ExitCode::from(code.clamp(0, 255) as u8));
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(200));
    }
}

/// `attach`.
pub async fn attach(client: &Client, a: &AttachArgs) -> Result<ExitCode, CmdError> {
    let c = client
        .get_json(&format!("/containers/{}/json", a.container))
        .await
        .map_err(|e| Exit(1, e.to_string()))?;
    let id = c["Id"].as_str().unwrap_or("").to_string();
    if c["State"]["Running"].as_bool() != Some(true) {
        return Err(Exit(
            1,
            "You cannot attach to a stopped container, start it first".into(),
        )
        .into());
    }
    if c["State"]["Paused"].as_bool() == Some(true) {
        return Err(Exit(
            1,
            "You cannot attach to a paused container, unpause it first".into(),
        )
        .into());
    }
    let tty = c["Config"]["Tty"].as_bool() == Some(true);
    let stdin = !a.no_stdin && c["Config"]["OpenStdin"].as_bool() == Some(true);
    if stdin && tty && !is_tty(std::io::stdin()) {
        return Err(Exit(1, "the input device is not a TTY".into()).into());
    }
    let keys_text = detach_keys(a.detach_keys.as_deref());
    let keys = keys_or_default(&keys_text).map_err(|e| Exit(1, e.message))?;
    let q = query(&[
        ("stream", "1"),
        ("stdin", if stdin { "1" } else { "0" }),
        ("stdout", "1"),
        ("stderr", "1"),
        ("detachKeys", &keys_text),
    ]);
    // Registered before streaming, so the exit code is not missed.
    let wait_resp = client
        .request(
            Method::POST,
            &format!("/containers/{id}/wait?condition=next-exit"),
            empty(),
            None,
        )
        .await
        .map_err(|e| Exit(1, e.to_string()))?;
    let conn = client
        .hijack(&format!("/containers/{id}/attach?{q}"), None)
        .await
        .map_err(|e| Exit(1, e.to_string()))?;
    let raw = (tty && stdin).then(RawTerminal::enable);
    let resizer = tty.then(|| follow_resizes(client, format!("/containers/{id}/resize")));
    let proxy = (a.sig_proxy && !tty).then(|| proxy_signals(client, &id));
    let session = stream(conn, stdin, tty, keys).await;
    for t in [resizer, proxy].into_iter().flatten() {
        t.abort();
    }
    drop(raw);
    if session == Session::Detached {
        return Ok(ExitCode::SUCCESS);
    }
    let status = berth_api::client::read_json(wait_resp)
        .await
        .ok()
        .and_then(|v| v["StatusCode"].as_i64())
        .unwrap_or(0);
    Ok(ExitCode::from(status.clamp(0, 255) as u8))
}
