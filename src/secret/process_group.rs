//! The process group a `command:` source runs in (its shell's id), killed when the command ends
//! however it ends: finished, timed out, abandoned (the read dropped), or still running when the
//! proxy exits. A read on the blocking pool (a reload) outlives the runtime's shutdown, and what
//! it started would outlive the proxy, so every live group is also listed for
//! [`kill_running_commands`].

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};

/// Groups started and not yet killed.
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub struct ProcessGroup {
    /// 0 once killed, or when there is no group to kill. Killed once: the id may be reused once
    /// the group is gone.
    id: AtomicI32,
}

impl ProcessGroup {
    pub fn of(child: &tokio::process::Child) -> Self {
        let id = if cfg!(unix) {
            child.id().and_then(|id| i32::try_from(id).ok()).unwrap_or(0)
        } else {
            0
        };
        if id != 0 {
            RUNNING.lock().unwrap_or_else(PoisonError::into_inner).push(id);
        }
        Self { id: id.into() }
    }

    /// SIGKILL to every process left in the group.
    pub fn kill(&self) {
        let id = self.id.swap(0, Ordering::Relaxed);
        if id == 0 {
            return;
        }
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        let listed = running.len();
        running.retain(|group| *group != id);
        // Not listed: `kill_running_commands` killed it already, and the id may be reused since.
        if running.len() < listed {
            kill_group(id);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills every command still running: the proxy is exiting, and nothing it started may
/// outlive it.
pub fn kill_running_commands() {
    let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(PoisonError::into_inner));
    for id in running {
        kill_group(id);
    }
}

fn kill_group(id: i32) {
    #[cfg(unix)]
    if let Some(group) = rustix::process::Pid::from_raw(id) {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = id;
}
