//! Test harness: a real `berth daemon` on a private data root, exec root and
//! socket, driven through the berth CLI, the real docker CLI and the API
//! client. Everything it made is removed on drop, also when a test fails.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The berth binary under test.
pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// The per-container monitor program, installed beside `berth`.
pub fn shim_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth-shim")
}

/// The exec program, installed beside `berth`.
pub fn shim_exec_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth-shim-exec")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A running daemon and its private directories.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    pub extra: Vec<String>,
    /// Extra environment of the daemon process (e.g. `SSL_CERT_FILE`).
    pub env: Vec<(String, String)>,
    /// The daemon's program (the `berth` under test unless a test moves it).
    pub program: PathBuf,
    child: Option<Child>,
    /// Prefix of its network devices and nftables table.
    pub net_prefix: String,
    /// Its address pool is 10.<net_octet>.0.0/16.
    pub net_octet: u8,
}

impl Daemon {
    /// Starts a daemon with default flags.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Starts a daemon with extra flags.
    pub fn start_with(extra: &[&str]) -> Daemon {
        let mut d = Self::unstarted(extra);
        d.spawn().expect("daemon did not start");
        d
    }

    /// A daemon's directories, names and flags, not started yet (flags
    /// that depend on its subnet octet can still be added to `extra`).
    pub fn unstarted(extra: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .expect("tempdir");
        let sock = dir.path().join("berth.sock");
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let pid = std::process::id();
        Daemon {
            dir,
            sock,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            program: PathBuf::from(berth_bin()),
            child: None,
            net_prefix: format!("t{:03x}{:02x}", pid % 0xfff, n % 0xff),
            net_octet: 200 + (pid.wrapping_mul(7).wrapping_add(n) % 56) as u8,
        }
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// The daemon's arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "daemon".to_string(),
            "--data-root".into(),
            self.data_root().display().to_string(),
            "--exec-root".into(),
            self.exec_root().display().to_string(),
            "-H".into(),
            self.host(),
            "--pidfile".into(),
            self.dir.path().join("berth.pid").display().to_string(),
            "--config-file".into(),
            self.dir.path().join("daemon.json").display().to_string(),
            // Devices, nftables table and subnets of its own, so daemons
            // of parallel tests never meet; the host's forwarding setting
            // is left alone.
            "--net-prefix".into(),
            self.net_prefix.clone(),
            "--default-address-pool".into(),
            format!("base=10.{}.0.0/16,size=24", self.net_octet),
            "--ip-forward=false".into(),
            // Registries on this machine only: a missing image never
            // sends the daemon to Docker Hub.
            "--allowed-registry".into(),
            "127.0.0.1".into(),
        ];
        a.extend(self.extra.iter().cloned());
        a
    }

    /// (Re)starts the process and waits for the API.
    pub fn spawn(&mut self) -> Result<(), String> {
        let cfg = self.dir.path().join("daemon.json");
        if !cfg.exists() {
            std::fs::write(&cfg, "{}").map_err(|e| e.to_string())?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .map_err(|e| e.to_string())?;
        let child = Command::new(&self.program)
            .args(self.args())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if self.sock.exists() && std::os::unix::net::UnixStream::connect(&self.sock).is_ok() {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!("daemon exited with {status}: {}", self.log()));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("daemon did not come up: {}", self.log()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        signal(c.id(), rustix::process::Signal::TERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("restart");
    }

    /// The actions of every event so far that passes the `--filter`
    /// values `filters`, one per line, replayed with the berth CLI.
    pub fn event_actions(&self, filters: &[&str]) -> String {
        let until = (unix_now() + 1).to_string();
        let mut args = vec!["events", "--since", "0", "--until", &until];
        for f in filters {
            args.extend(["--filter", *f]);
        }
        args.extend(["--format", "{{.Action}}"]);
        ok(&self.berth(&args))
    }

    /// Runs the berth CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(berth_bin())
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// Runs the berth CLI with `input` on stdin.
    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_stdin(
            Command::new(berth_bin())
                .arg("-H")
                .arg(self.host())
                .args(args),
            input,
        )
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(docker_bin())
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    pub fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_stdin(
            Command::new(docker_bin())
                .env("DOCKER_HOST", self.host())
                .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
                .args(args),
            input,
        )
    }

    /// An API client for this daemon.
    pub fn client(&self) -> berth_api::Client {
        berth_api::Client::new(&self.host()).expect("client")
    }

    /// Imports the busybox rootfs as `name`, returning the image ID.
    pub fn import_busybox(&self, name: &str, changes: &[&str]) -> String {
        let tar = busybox_tar();
        let mut args = vec!["import"];
        for c in changes {
            args.push("-c");
            args.push(c);
        }
        let p = tar.display().to_string();
        args.push(&p);
        args.push(name);
        let out = self.berth(&args);
        assert!(out.status.success(), "import failed: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    /// Entries under the data root that hold image data (for leak checks).
    pub fn stored_files(&self) -> (usize, usize, usize) {
        let count = |p: PathBuf| std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
        let root = self.data_root();
        (
            count(root.join("blobs/sha256")),
            count(root.join("overlay2")),
            count(root.join("blobs/tmp")),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers outlive the daemon by design: remove them first.
        if self.child.is_some() {
            let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
            let ids: Vec<String> = text(&ids.stdout).lines().map(String::from).collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids.iter().map(|s| s.as_str()));
                let _ = self.berth(&args);
            }
        }
        // A clean stop removes the daemon's bridges and nftables table…
        if self.stop().is_none() {
            self.kill9();
        }
        // …and whatever a crash left of them goes here.
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.net_prefix])
            .stderr(Stdio::null())
            .status();
        if let Ok(out) = Command::new("ip").args(["-o", "link", "show"]).output() {
            for l in text(&out.stdout).lines() {
                let name = l.split(':').nth(1).unwrap_or("").trim();
                let name = name.split('@').next().unwrap_or("");
                if name.starts_with(&self.net_prefix) {
                    let _ = Command::new("ip").args(["link", "del", name]).status();
                }
            }
        }
        // Whatever is still mounted under our directory goes too.
        unmount_under(self.dir.path());
    }
}

/// Detaches whatever is mounted at or under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let root = dir.display().to_string();
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        let mut points: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&root))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// Mount points whose path mentions `needle` (leak checks).
pub fn mounts_with(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// Sends a signal to a process.
pub fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

/// The docker CLI (28.x on these machines).
pub fn docker_bin() -> String {
    std::env::var("BERTH_TEST_DOCKER").unwrap_or_else(|_| "docker".into())
}

/// Output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts failure and returns stderr.
#[track_caller]
pub fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "command should have failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// The busybox rootfs tarball (made once per test binary from busybox-static).
pub fn busybox_tar() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("berth-test-busybox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let out = dir.join("busybox.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-rootfs.sh");
        let st = Command::new("sh")
            .arg(script)
            .arg(&out)
            .status()
            .expect("busybox-rootfs.sh");
        assert!(
            st.success(),
            "busybox-rootfs.sh failed (is busybox-static installed?)"
        );
        out
    })
    .clone()
}

/// sha256 hex of bytes.
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// A tar of (path, content) files, plus optional extra raw entries.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, c) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(c.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, p, *c).expect("append");
    }
    b.into_inner().expect("tar")
}

/// An HTTP GET with a deadline; the body, or None.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(mut s) =
            std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2))
        {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut out);
            if out.starts_with("HTTP/1.") {
                return out.split("\r\n\r\n").nth(1).map(String::from);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A TCP port free on 127.0.0.1 just now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a future on a fresh runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A program run on a real pseudo-terminal (its controlling terminal), as a
/// user at a terminal runs it: keys go in through the master, the screen
/// comes back from it.
pub struct Pty {
    master: std::fs::File,
    child: Child,
    seen: Vec<u8>,
}

impl Pty {
    /// Starts `program args` on a new terminal of `rows`×`cols`.
    pub fn spawn(program: &str, args: &[&str], env: &[(&str, &str)], rows: u16, cols: u16) -> Pty {
        use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
        let pty =
            rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
                .expect("openpt");
        rustix::pty::grantpt(&pty).expect("grantpt");
        rustix::pty::unlockpt(&pty).expect("unlockpt");
        let name = rustix::pty::ptsname(&pty, Vec::new()).expect("ptsname");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .expect("open slave");
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&pty, ws).expect("winsize");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                rustix::process::setsid().map_err(std::io::Error::from)?;
                rustix::process::ioctl_tiocsctty(std::io::stdin()).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        let fd = pty.into_raw_fd();
        // SAFETY: fd came from into_raw_fd just above.
        let master = unsafe { std::fs::File::from_raw_fd(fd) };
        rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK).expect("nonblock");
        let _ = master.as_raw_fd();
        Pty {
            master,
            child,
            seen: Vec::new(),
        }
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &str) {
        self.master
            .write_all(keys.as_bytes())
            .expect("write to pty");
    }

    fn pump(&mut self) -> bool {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        match self.master.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.seen.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                true
            }
            Err(_) => false,
        }
    }

    /// Waits until the screen has shown `text` (after what earlier waits
    /// consumed); returns everything up to it.
    pub fn expect(&mut self, text: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(pos) = find(&self.seen, text.as_bytes()) {
                let upto: Vec<u8> = self.seen.drain(..pos + text.len()).collect();
                return String::from_utf8_lossy(&upto).into_owned();
            }
            if start.elapsed() > Duration::from_secs(20) || !self.pump() {
                panic!(
                    "{text:?} never appeared on the terminal; it showed:\n{}",
                    String::from_utf8_lossy(&self.seen)
                );
            }
        }
    }

    /// Types a shell command line and returns what it printed (up to an end
    /// marker the shell computes, so the echo of the typed line is not
    /// mistaken for output).
    pub fn run(&mut self, line: &str) -> String {
        self.send(&format!("{line}; echo END-$((40+2))\r"));
        self.expect("END-42")
    }

    /// Changes the terminal's size (the kernel signals SIGWINCH).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.master, ws).expect("winsize");
    }

    /// Waits for the program to end; returns its exit code.
    pub fn wait(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            self.pump();
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code().unwrap_or(-1);
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "the program did not end; the terminal showed:\n{}",
                    String::from_utf8_lossy(&self.seen)
                );
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
