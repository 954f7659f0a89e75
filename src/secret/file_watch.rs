//! Follows a `file:` key through rotation. The directory holding the file is watched, not the
//! file: Kubernetes updates a secret mount by writing a new timestamped directory and renaming
//! a `..data_tmp` symlink over `..data`, so the file's own inode never changes; editors and
//! `mv` replace it too. Only events about the key file's name (or Kubernetes' `..`-named entries)
//! count: a log file written beside the key must not make every log line a re-read (and a
//! failing re-read's log line another). Events are coalesced: however many arrive during a read,
//! one more read follows, and it sees the latest content.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{KeyReloader, KeySource, ReloadReason};

/// Watches while it lives; dropping it stops the watch and its reload task.
pub struct FileWatch {
    _watcher: RecommendedWatcher,
    task: JoinHandle<()>,
}

impl FileWatch {
    /// Starts watching when the key comes from a file. Call inside a tokio runtime. `None` for
    /// other sources, or when the directory cannot be watched (logged; the `key.refresh`
    /// re-read still applies).
    pub fn start(reloader: &Arc<KeyReloader>) -> Option<Self> {
        let KeySource::File(path) = reloader.source() else {
            return None;
        };
        let dir = watched_dir(path);
        let key_path = path.clone();
        let wake = Arc::new(Notify::new());
        let waker = wake.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if !worth_a_read(&event.kind) || !concerns_the_key(&event.paths, &key_names(&key_path)) => {}
            Ok(_) => waker.notify_one(),
            Err(error) => {
                // Lost events (a queue overflow, say): read again to be sure.
                tracing::warn!(%error, "watching the key file's directory reported an error");
                waker.notify_one();
            }
        });
        let watching = watcher.and_then(|mut watcher| {
            watcher.watch(&dir, RecursiveMode::NonRecursive)?;
            Ok(watcher)
        });
        let watcher = match watching {
            Ok(watcher) => watcher,
            Err(error) => {
                tracing::warn!(
                    dir = %dir.display(), %error,
                    "cannot watch the key file's directory; the key is re-read every key.refresh and after a 401"
                );
                return None;
            }
        };
        // One read as the watch begins: a change since start-up would otherwise wait for the
        // next event or the TTL.
        wake.notify_one();
        let reloader = reloader.clone();
        let task = tokio::spawn(async move {
            loop {
                wake.notified().await;
                reloader.reload(ReloadReason::FileChanged).await;
            }
        });
        tracing::debug!(dir = %dir.display(), "watching the key file's directory");
        Some(Self {
            _watcher: watcher,
            task,
        })
    }
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The directory whose entries change when the key does. `key` alone lives in the current
/// directory. A path through Kubernetes' `..data` (`/etc/secret/..data/key`) is watched in
/// the mount itself, where `..data` is swapped: watching the directory `..data` pointed to at
/// start would follow one swap, then a directory deleted.
fn watched_dir(path: &Path) -> PathBuf {
    let parent = path.parent().filter(|parent| !parent.as_os_str().is_empty());
    let through_data_link = parent.filter(|parent| parent.file_name() == Some(OsStr::new("..data")));
    match through_data_link.map_or(parent, Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Opening and reading (the proxy's own reads among them) change nothing; a writer closing
/// the file means it is complete. Where the watcher reports that close (Linux), the writes
/// before it are not read: a key written in pieces would be sent half-written.
fn worth_a_read(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Data(_)) => !cfg!(target_os = "linux"),
        _ => true,
    }
}

/// The names in the watched directory that are the key: the file's own, and, when it is a
/// symlink to a file beside it (`key -> key-2026`), its target's. Looked up at each event, since
/// the link may be pointed elsewhere.
fn key_names(path: &Path) -> Vec<OsString> {
    let own = path.file_name().map(OsStr::to_owned);
    let target = std::fs::read_link(path).ok().and_then(|target| {
        let beside = target.parent().is_none_or(|parent| parent.as_os_str().is_empty());
        beside.then(|| target.file_name().map(OsStr::to_owned)).flatten()
    });
    own.into_iter().chain(target).collect()
}

/// Whether an event names the key file, or one of the `..data`-style entries through which
/// Kubernetes swaps a whole secret mount. An event naming no path (a rescan) may be anything.
fn concerns_the_key(paths: &[PathBuf], key_names: &[OsString]) -> bool {
    paths.is_empty()
        || paths
            .iter()
            .filter_map(|path| path.file_name())
            .any(|name| key_names.iter().any(|key| same_name(name, key)) || name.as_encoded_bytes().starts_with(b".."))
}

/// macOS and Windows file systems ignore case by default: `Key` there is the file `key`.
fn same_name(a: &OsStr, b: &OsStr) -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_the_parent_directory() {
        assert_eq!(watched_dir(Path::new("/etc/secret/key")), PathBuf::from("/etc/secret"));
        assert_eq!(watched_dir(Path::new("key")), PathBuf::from("."));
        assert_eq!(
            watched_dir(Path::new("/etc/secret/..data/key")),
            PathBuf::from("/etc/secret")
        );
        assert_eq!(watched_dir(Path::new("..data/key")), PathBuf::from("."));
    }

    #[test]
    fn ignores_reads() {
        assert!(!worth_a_read(&EventKind::Access(AccessKind::Open(AccessMode::Read))));
        assert!(worth_a_read(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(worth_a_read(&EventKind::Modify(ModifyKind::Any)));
        assert!(worth_a_read(&EventKind::Modify(ModifyKind::Name(
            notify::event::RenameMode::Any
        ))));
    }

    #[test]
    fn a_symlink_to_a_file_beside_it_names_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("key-2026"), "k").expect("target");
        #[cfg(unix)]
        std::os::unix::fs::symlink("key-2026", dir.path().join("key")).expect("link");
        #[cfg(unix)]
        assert_eq!(key_names(&dir.path().join("key")), ["key", "key-2026"]);
        assert_eq!(key_names(&dir.path().join("key-2026")), ["key-2026"]);
    }

    #[test]
    fn only_the_key_and_kubernetes_entries_count() {
        let key = [OsString::from("api-key")];
        let event = |name: &str| vec![PathBuf::from("/run/secrets").join(name)];
        assert!(concerns_the_key(&event("api-key"), &key));
        assert!(concerns_the_key(&event("..data"), &key));
        assert!(concerns_the_key(&event("..2026_11_25_10_00_00.123"), &key));
        assert!(concerns_the_key(&[], &key));
        assert!(!concerns_the_key(&event("proxy.log"), &key));
        assert!(!concerns_the_key(&event("api-key.swp"), &key));
    }
}
