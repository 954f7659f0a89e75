//! The open-file limit. Each client connection holds a descriptor, and so does the upstream
//! connection serving it; the usual soft limit (1024 under systemd and most shells, 256 on
//! macOS) is below what `limits.max_connections` allows. Out of descriptors, accepts fail and
//! new clients wait unanswered, the admin port's too, instead of getting the 503 the limit
//! promises. So the soft limit is raised to the hard one at start, as Go's runtime does.

/// Descriptors beside the connections: listeners, the log, key files, the runtime's own.
const RESERVE: u64 = 64;

/// macOS refuses a soft limit above `OPEN_MAX` when the hard one is unlimited.
#[cfg(unix)]
const OPEN_MAX: u64 = 10_240;

/// The soft limit before and after [`raise`]; `None` where unlimited or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub was: Option<u64>,
    pub now: Option<u64>,
}

impl OpenFiles {
    /// How many descriptors `max_connections` may take: a client and an upstream connection
    /// each, and the reserve.
    pub fn needed(max_connections: usize) -> u64 {
        (max_connections as u64).saturating_mul(2).saturating_add(RESERVE)
    }

    /// Logs what was done, and warns when the limit is still short of `max_connections`.
    pub fn report(self, max_connections: usize) {
        if self.was != self.now {
            tracing::debug!(was = ?self.was, now = ?self.now, "raised the open-file limit to the hard limit");
        }
        let needed = Self::needed(max_connections);
        if let Some(limit) = self.now.filter(|&limit| limit < needed) {
            tracing::warn!(
                open_file_limit = limit,
                max_connections,
                "limits.max_connections = {max_connections} may need {needed} open files (a client and an upstream connection each), but the limit is {limit}: past it new connections wait unanswered instead of getting 503. Raise the limit (ulimit -n; LimitNOFILE= in a systemd unit; the container's nofile ulimit) or lower limits.max_connections"
            );
        }
    }
}

/// Raises the soft open-file limit as far as the hard limit allows.
#[cfg(unix)]
pub fn raise() -> OpenFiles {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let was = limit.current;
    let Some(current) = was else {
        return OpenFiles { was, now: was };
    };
    let wanted = limit.maximum.unwrap_or(u64::MAX);
    for soft in [wanted, wanted.min(OPEN_MAX)] {
        if soft <= current {
            break;
        }
        let raised = Rlimit {
            current: Some(soft),
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return OpenFiles { was, now: Some(soft) };
        }
    }
    OpenFiles { was, now: was }
}

/// Windows has no such limit on sockets.
#[cfg(not(unix))]
pub fn raise() -> OpenFiles {
    OpenFiles { was: None, now: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_counts_twice() {
        assert_eq!(OpenFiles::needed(1024), 2112);
        assert_eq!(OpenFiles::needed(usize::MAX), u64::MAX);
    }
}
