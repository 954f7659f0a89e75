//! What answers at an address: nothing, langsmith-proxy, or something else. The one question
//! `doctor` asks the network; a trait, so the checks stay testable without it.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// No connection: nothing listens.
    Nothing,
    /// langsmith-proxy, known by the header it puts on what it answers itself.
    Proxy,
    /// Something else: another service on the port, a TLS server, a socket that never answers.
    Other,
}

pub trait Probe {
    fn probe(&self, host: &str, port: u16) -> Answer;
}

/// What `doctor` asks to CONNECT to; the proxy answers it without reporting a diagnosis.
pub const PROBE_TARGET: &str = "langsmith-proxy-doctor.invalid:443";

/// A `CONNECT` the proxy refuses itself (it is no forward proxy), whatever its settings: so
/// the probe never reaches the upstream, and the refusal carries `x-langsmith-proxy-error`.
const QUESTION: &[u8] =
    b"CONNECT langsmith-proxy-doctor.invalid:443 HTTP/1.1\r\nHost: langsmith-proxy-doctor.invalid:443\r\n\r\n";
const PROXY_MARK: &[u8] = b"\r\nx-langsmith-proxy-error:";
/// The most of an answer's head that is read.
const HEAD_LIMIT: usize = 8 * 1024;

/// A real TCP connect and one request, short enough that a missing proxy does not stall
/// `doctor`.
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
    fn probe(&self, host: &str, port: u16) -> Answer {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let Ok(addrs) = (host, port).to_socket_addrs() else {
            return Answer::Nothing;
        };
        let Some(mut stream) = addrs
            .into_iter()
            .find_map(|addr| TcpStream::connect_timeout(&addr, self.timeout).ok())
        else {
            return Answer::Nothing;
        };
        if self.asks_the_proxy(&mut stream) {
            Answer::Proxy
        } else {
            Answer::Other
        }
    }
}

impl TcpProbe {
    /// Whether the answer to [`QUESTION`] is langsmith-proxy's. The whole exchange has one
    /// deadline: a service that answers a byte at a time cannot hold `doctor`.
    fn asks_the_proxy(&self, stream: &mut TcpStream) -> bool {
        let deadline = Instant::now() + self.timeout.saturating_mul(2);
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
        };
        let Some(write_within) = left() else {
            return false;
        };
        if stream.set_write_timeout(Some(write_within)).is_err() || stream.write_all(QUESTION).is_err() {
            return false;
        }
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while head.len() < HEAD_LIMIT && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let Some(left) = left() else {
                break;
            };
            if stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => head.extend_from_slice(&buffer[..read]),
            }
        }
        head.make_ascii_lowercase();
        head.starts_with(b"http/1.1 ") && head.windows(PROXY_MARK.len()).any(|w| w == PROXY_MARK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_names_the_probe_target() {
        let question = String::from_utf8_lossy(QUESTION);
        assert!(
            question.starts_with(&format!("CONNECT {PROBE_TARGET} HTTP/1.1\r\n")),
            "{question}"
        );
    }
}
