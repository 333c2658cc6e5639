//! The userland port proxy (docker-proxy's job), as tokio tasks in the
//! daemon: it serves a published port on its host socket (reserved by
//! [`crate::ports::bind_port`]) and forwards to `containerIP:port`. It is
//! what answers `127.0.0.1:hostPort` (the DNAT rules skip loopback) and
//! traffic from the container's own bridge; other traffic is DNATed before
//! it reaches the socket.
//!
//! TCP connections are spliced with `copy_bidirectional` (half-closes are
//! passed on). UDP keeps one upstream socket per client address, closed
//! after 90 s without traffic (docker-proxy's timeout). [`PortProxy::stop`]
//! closes the listener and every connection and waits for them.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::ports::{BoundPort, HostSocket};
use crate::{Error, Result};

/// How long a UDP flow lives without traffic.
pub const UDP_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A running proxy for one published port. Dropping it stops it too (without
/// waiting); [`PortProxy::stop`] waits until everything is closed.
pub struct PortProxy {
    local: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl PortProxy {
    /// Proxies TCP connections accepted on `listener` to `target`. Must be
    /// called inside a tokio runtime.
    pub fn tcp(listener: std::net::TcpListener, target: SocketAddr) -> Result<PortProxy> {
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("making the proxy listener non-blocking", e))?;
        let listener = TcpListener::from_std(listener)
            .map_err(|e| Error::io("registering the proxy listener", e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("reading the proxy's address", e))?;
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(tcp_loop(listener, target, rx));
        Ok(PortProxy {
            local,
            stop,
            task: Some(task),
        })
    }

    /// Proxies UDP datagrams received on `socket` to `target`, and replies
    /// back. Must be called inside a tokio runtime.
    pub fn udp(socket: std::net::UdpSocket, target: SocketAddr) -> Result<PortProxy> {
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::io("making the proxy socket non-blocking", e))?;
        let socket = UdpSocket::from_std(socket)
            .map_err(|e| Error::io("registering the proxy socket", e))?;
        let local = socket
            .local_addr()
            .map_err(|e| Error::io("reading the proxy's address", e))?;
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(udp_loop(Arc::new(socket), target, rx));
        Ok(PortProxy {
            local,
            stop,
            task: Some(task),
        })
    }

    /// Starts the proxy for a bound port, taking its socket. `Ok(None)` for
    /// SCTP, which is only DNATed.
    pub fn start(bound: &mut BoundPort) -> Result<Option<PortProxy>> {
        let target = bound.target();
        match std::mem::replace(&mut bound.socket, HostSocket::None) {
            HostSocket::Tcp(l) => PortProxy::tcp(l, target).map(Some),
            HostSocket::Udp(s) => PortProxy::udp(s, target).map(Some),
            HostSocket::None => Ok(None),
        }
    }

    /// The host address the proxy serves.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops accepting, closes the socket and every proxied connection, and
    /// waits until all of it is done. The host port is free afterwards.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PortProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn proxy_conn(mut inbound: TcpStream, target: SocketAddr) {
    let _ = inbound.set_nodelay(true);
    match TcpStream::connect(target).await {
        Ok(mut outbound) => {
            let _ = outbound.set_nodelay(true);
            if let Err(e) = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await {
                tracing::debug!("proxy connection to {target} ended: {e}");
            }
        }
        Err(e) => tracing::debug!("proxy cannot reach {target}: {e}"),
    }
}

async fn tcp_loop(listener: TcpListener, target: SocketAddr, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((inbound, _)) => {
                    conns.spawn(proxy_conn(inbound, target));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("proxy for {target}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

struct Flow {
    upstream: Arc<UdpSocket>,
}

fn now_millis(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

async fn udp_flow(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    last: Arc<AtomicU64>,
    start: Instant,
    done: mpsc::UnboundedSender<SocketAddr>,
) {
    let mut buf = vec![0u8; 65535];
    loop {
        match tokio::time::timeout(UDP_IDLE_TIMEOUT, upstream.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                last.store(now_millis(start), Ordering::Relaxed);
                if let Err(e) = front.send_to(&buf[..n], client).await {
                    tracing::debug!("udp proxy: reply to {client} failed: {e}");
                }
            }
            Ok(Err(e)) => {
                // ICMP port unreachable from the container and the like.
                tracing::debug!("udp proxy: upstream for {client}: {e}");
                if is_fatal(&e) {
                    break;
                }
            }
            Err(_) => {
                let idle = now_millis(start).saturating_sub(last.load(Ordering::Relaxed));
                if idle >= UDP_IDLE_TIMEOUT.as_millis() as u64 {
                    break;
                }
            }
        }
    }
    let _ = done.send(client);
}

fn is_fatal(e: &io::Error) -> bool {
    !matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED) | Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH)
    )
}

async fn udp_loop(front: Arc<UdpSocket>, target: SocketAddr, mut stop: watch::Receiver<bool>) {
    let start = Instant::now();
    let mut flows: HashMap<SocketAddr, (Flow, Arc<AtomicU64>)> = HashMap::new();
    let mut tasks = JoinSet::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut buf = vec![0u8; 65535];
    let bind_any: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid address")
    } else {
        "[::]:0".parse().expect("valid address")
    };
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(client) = done_rx.recv() => {
                flows.remove(&client);
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            got = front.recv_from(&mut buf) => {
                let (n, client) = match got {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!("udp proxy for {target}: receive failed: {e}");
                        continue;
                    }
                };
                let (flow, last) = match flows.entry(client) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(slot) => {
                        let upstream = match UdpSocket::bind(bind_any).await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!("udp proxy for {target}: cannot open a socket: {e}");
                                continue;
                            }
                        };
                        if let Err(e) = upstream.connect(target).await {
                            tracing::debug!("udp proxy cannot reach {target}: {e}");
                            continue;
                        }
                        let upstream = Arc::new(upstream);
                        let last = Arc::new(AtomicU64::new(now_millis(start)));
                        tasks.spawn(udp_flow(
                            upstream.clone(),
                            front.clone(),
                            client,
                            last.clone(),
                            start,
                            done_tx.clone(),
                        ));
                        slot.insert((Flow { upstream }, last))
                    }
                };
                last.store(now_millis(start), Ordering::Relaxed);
                if let Err(e) = flow.upstream.send(&buf[..n]).await {
                    tracing::debug!("udp proxy: forwarding to {target} failed: {e}");
                }
            }
        }
    }
    flows.clear();
    tasks.shutdown().await;
}
