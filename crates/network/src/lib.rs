//! Container networking for berth, with the kernel's own mechanisms:
//! Docker's bridge networks (the default `bridge` and user-defined ones),
//! macvlan, published ports, the embedded DNS server of user networks,
//! isolation and NAT.
//!
//! - [`ipam`]: subnets and addresses (pure logic, serialisable state).
//! - [`netns`]: running code inside a container's network namespace from a
//!   dedicated thread, never a tokio worker.
//! - [`link`]: netlink (bridges, veth pairs, macvlan, addresses, routes).
//! - [`firewall`]: berth's own nftables table, rebuilt atomically from the
//!   desired state; forwarding sysctls; coexistence with a host `FORWARD`
//!   chain whose policy is drop.
//! - [`ports`]: `-p` specs, the host-port allocator and host-port binding
//!   with Docker's messages.
//! - [`proxy`]: the userland port proxy (docker-proxy's job) in tokio.
//! - [`dns`]: the embedded DNS server at 127.0.0.11 and the container's
//!   resolv.conf.
//!
//! The engine owns the desired state (networks, endpoints, published
//! ports) and calls these pieces; nothing here persists anything itself.

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod ports;
pub mod proxy;

use std::io;

/// A failure of a networking operation. Messages name what was being done;
/// IPAM and port errors carry Docker's texts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An address-management error (Docker's message).
    #[error(transparent)]
    Ipam(#[from] ipam::IpamError),
    /// A host port is already allocated by berth itself.
    #[error("Bind for {host_ip}:{port} failed: port is already allocated")]
    PortAllocated {
        /// The host address of the binding (`0.0.0.0` for all).
        host_ip: std::net::IpAddr,
        /// The host port.
        port: u16,
    },
    /// The host port could not be bound (another process holds it, …).
    #[error("failed to bind host port for {binding}: {reason}")]
    PortBind {
        /// `hostIP:hostPort:containerIP:containerPort/proto`, as Docker prints it.
        binding: String,
        /// The system's reason, in Go's words ("address already in use").
        reason: String,
    },
    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A netlink request failed.
    #[error("{context}: {reason}")]
    Netlink {
        /// What was being done.
        context: String,
        /// The kernel's answer.
        reason: String,
        /// The errno, when the kernel gave one.
        errno: Option<i32>,
    },
    /// Applying or removing nftables rules failed.
    #[error("{0}")]
    Firewall(String),
    /// An argument is invalid (a bad interface name, port spec, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn netlink(context: impl Into<String>, err: rtnetlink::Error) -> Error {
        let (reason, errno) = match &err {
            rtnetlink::Error::NetlinkError(msg) => {
                let io = msg.to_io();
                (io.to_string(), io.raw_os_error())
            }
            other => (other.to_string(), None),
        };
        Error::Netlink {
            context: context.into(),
            reason,
            errno,
        }
    }

    /// The errno of a failed system or netlink call, if known.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Netlink { errno, .. } => *errno,
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
