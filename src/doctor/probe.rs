//! Whether something listens at an address: the one question `doctor` asks the network.
//! A trait, so the checks stay testable without it.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub trait Probe {
    /// Whether a TCP connection to `host:port` succeeds.
    fn listens(&self, host: &str, port: u16) -> bool;
}

/// A real TCP connect, short enough that a missing proxy does not stall `doctor`.
#[derive(Debug, Clone, Copy)]
pub struct TcpProbe {
    pub timeout: Duration,
}

impl Default for TcpProbe {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(500),
        }
    }
}

impl Probe for TcpProbe {
    fn listens(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let Ok(addrs) = (host, port).to_socket_addrs() else {
            return false;
        };
        addrs
            .into_iter()
            .any(|addr| TcpStream::connect_timeout(&addr, self.timeout).is_ok())
    }
}
