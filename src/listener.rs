//! Where the proxy accepts connections: a TCP address or a unix domain socket.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};

/// The `listen` setting: `IP:PORT` or `unix:/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl ListenAddr {
    /// Whether peers other than this machine's processes can connect.
    pub fn is_remote(&self) -> bool {
        match self {
            Self::Tcp(addr) => !addr.ip().is_loopback(),
            Self::Unix(_) => false,
        }
    }
}

/// The longest path a client can `connect` to: `sun_path` holds 108 bytes on Linux and 104 on
/// the BSDs and macOS, the terminating NUL included.
const MAX_SOCKET_PATH: usize = if cfg!(target_os = "linux") { 107 } else { 103 };
/// What [`bind_with_mode`] adds to the socket's directory for the socket it stages.
const STAGING_SUFFIX: &str = "/.lXX/s";

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        if let Some(path) = value.strip_prefix("unix:") {
            if !cfg!(unix) {
                return Err("unix sockets are not available on this platform".to_owned());
            }
            if !path.starts_with('/') {
                return Err("expected an absolute path after unix:, such as unix:/run/langsmith-proxy.sock".to_owned());
            }
            let dir_len = path.rfind('/').unwrap_or_default();
            if path.len() > MAX_SOCKET_PATH || dir_len + STAGING_SUFFIX.len() > MAX_SOCKET_PATH {
                return Err(format!(
                    "the path is {} bytes, and clients can connect to a socket path of at most {MAX_SOCKET_PATH} (the proxy first creates it in a private directory beside it, so its directory's path may have at most {}): choose a shorter one, such as unix:/run/user/UID/langsmith-proxy.sock",
                    path.len(),
                    MAX_SOCKET_PATH - STAGING_SUFFIX.len()
                ));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        value
            .parse::<SocketAddr>()
            .map(Self::Tcp)
            .map_err(|_| "expected IP:PORT such as 127.0.0.1:7878 or [::1]:7878, or unix:/path/to.sock".to_owned())
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "{addr}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Why the proxy could not start listening. Each message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "cannot listen on {addr} (setting `listen`, flag --listen): {error}{}",
        listen_fix(addr, error)
    )]
    Io { addr: ListenAddr, error: io::Error },
    #[error("{} is in use by a running process (a connection to it succeeded); stop that process or choose another path for `listen`", path.display())]
    SocketInUse { path: PathBuf },
    #[error("{} exists and is not a socket; it is left alone: remove it or choose another path for `listen`", path.display())]
    NotASocket { path: PathBuf },
}

/// What to do when binding `addr` failed: a TCP address's causes are its port's ([`bind_fix`]),
/// a unix socket's its directory's.
fn listen_fix(addr: &ListenAddr, error: &io::Error) -> &'static str {
    match (addr, error.kind()) {
        (ListenAddr::Tcp(_), _) => bind_fix(error),
        (ListenAddr::Unix(_), io::ErrorKind::NotFound) => {
            "; the socket's directory does not exist: create it (mkdir -p), or choose another path"
        }
        (ListenAddr::Unix(_), io::ErrorKind::PermissionDenied) => {
            "; this user may not create files in the socket's directory: choose one it owns, such as /run/user/UID (XDG_RUNTIME_DIR)"
        }
        (ListenAddr::Unix(_), _) => "",
    }
}

/// What to do when binding a TCP address failed, for the common causes; empty for the rest.
pub fn bind_fix(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::AddrInUse => {
            "; another process listens there (another langsmith-proxy?): stop it, or choose another port; `ss -ltnp` or `lsof -i :PORT` shows which process"
        }
        io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: choose a port above 1024"
        }
        io::ErrorKind::AddrNotAvailable => {
            "; that IP address is not one of this machine's: use 127.0.0.1, or an address `ip addr` lists"
        }
        _ => "",
    }
}

/// A bound listener of either kind.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixSocket),
}

/// Who connected: a TCP peer, or a local process on the unix socket.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    Tcp(SocketAddr),
    Unix,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "{addr}"),
            Self::Unix => f.write_str("unix socket peer"),
        }
    }
}

impl Listener {
    /// Binds `addr`; a unix socket gets `unix_mode` before anyone can connect to it.
    pub async fn bind(addr: &ListenAddr, unix_mode: u32) -> Result<Self, BindError> {
        match addr {
            ListenAddr::Tcp(socket) => bind_tcp(*socket).map(Self::Tcp).map_err(|error| BindError::Io {
                addr: addr.clone(),
                error,
            }),
            #[cfg(unix)]
            ListenAddr::Unix(path) => UnixSocket::bind(path, unix_mode).await.map(Self::Unix),
            #[cfg(not(unix))]
            ListenAddr::Unix(_) => {
                let _ = unix_mode;
                Err(BindError::Io {
                    addr: addr.clone(),
                    error: io::Error::from(io::ErrorKind::Unsupported),
                })
            }
        }
    }

    pub async fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Self::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                // Small requests and responses: do not wait to fill a segment.
                let _ = stream.set_nodelay(true);
                Ok((Stream::Tcp(stream), Peer::Tcp(peer)))
            }
            #[cfg(unix)]
            Self::Unix(socket) => {
                let (stream, _) = socket.listener.accept().await?;
                Ok((Stream::Unix(stream), Peer::Unix))
            }
        }
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Self::Tcp(listener) => listener.local_addr().map(ListenAddr::Tcp),
            #[cfg(unix)]
            Self::Unix(socket) => Ok(ListenAddr::Unix(socket.path.clone())),
        }
    }
}

/// How many finished handshakes the kernel may hold before `accept`. Asking for more than the
/// system allows (`net.core.somaxconn` on Linux) gets the system's limit. std's 128 overflowed
/// when 500 clients connected at once: the dropped handshakes cost those clients a second.
const ACCEPT_BACKLOG: u32 = 65_535;

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std does on unix: a restart can bind while the last run's connections sit in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

impl From<TcpListener> for Listener {
    fn from(listener: TcpListener) -> Self {
        Self::Tcp(listener)
    }
}

#[cfg(unix)]
impl From<UnixSocket> for Listener {
    fn from(socket: UnixSocket) -> Self {
        Self::Unix(socket)
    }
}

/// A bound unix socket; its file is removed when the listener is dropped, unless something
/// else has replaced it meanwhile.
#[cfg(unix)]
#[derive(Debug)]
pub struct UnixSocket {
    listener: UnixListener,
    path: PathBuf,
    inode: (u64, u64),
}

#[cfg(unix)]
impl UnixSocket {
    /// Binds `path` with permissions `mode`. A leftover socket nobody accepts on is replaced; a
    /// live one, or any other kind of file, is not touched.
    pub async fn bind(path: &Path, mode: u32) -> Result<Self, BindError> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};

        let io_error = |error| BindError::Io {
            addr: ListenAddr::Unix(path.to_owned()),
            error,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => return Err(BindError::NotASocket { path: path.to_owned() }),
            Ok(_) => match UnixStream::connect(path).await {
                Ok(_) => return Err(BindError::SocketInUse { path: path.to_owned() }),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "replacing a stale unix socket nobody listens on");
                    std::fs::remove_file(path).map_err(io_error)?;
                }
                Err(error) => return Err(io_error(error)),
            },
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_error(error)),
        }
        let listener = bind_with_mode(path, mode).map_err(io_error)?;
        let meta = std::fs::symlink_metadata(path).map_err(io_error)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            inode: (meta.dev(), meta.ino()),
        })
    }
}

/// Binds inside a fresh directory only this user can enter, sets the mode, then links the socket
/// into place: nobody can connect in the moment between bind and chmod, and an existing file at
/// `path` (another instance that won a race) makes the link fail instead of being replaced.
#[cfg(unix)]
fn bind_with_mode(path: &Path, mode: u32) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;

    let parent = path.parent().unwrap_or(Path::new("/"));
    let private = private_dir_beside(parent)?;
    let staged = private.join("s");
    let result = UnixListener::bind(&staged).and_then(|listener| {
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))?;
        std::fs::hard_link(&staged, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    result
}

/// A new directory in `parent` only this user can enter, named `.l` and random hex digits:
/// 16 where the socket path's length limit leaves room (any local user may create names in a
/// shared /tmp), down to 2 near the limit (the socket staged in it must fit it too).
#[cfg(unix)]
fn private_dir_beside(parent: &Path) -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;

    let room = MAX_SOCKET_PATH.saturating_sub(parent.as_os_str().len() + STAGING_SUFFIX.len() - 2);
    let digits = room.clamp(2, 16);
    for _ in 0..64 {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let private = parent.join(format!(".l{}", &random[..digits]));
        match std::fs::DirBuilder::new().mode(0o700).create(&private) {
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            created => return created.map(|()| private),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "every name tried for a private directory in {} (.l and {digits} hex digits) exists: remove those left there, or choose a shorter socket path, which leaves room for longer names",
            parent.display()
        ),
    ))
}

#[cfg(unix)]
impl Drop for UnixSocket {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;

        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|meta| (meta.dev(), meta.ino()) == self.inode);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// An accepted connection of either kind.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// An accepted connection on its way to another runtime: not registered with any.
#[derive(Debug)]
pub enum DetachedStream {
    Tcp(std::net::TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    /// Leaves this runtime's reactor (the socket stays non-blocking) so another can take it.
    pub fn detach(self) -> io::Result<DetachedStream> {
        match self {
            Self::Tcp(stream) => stream.into_std().map(DetachedStream::Tcp),
            #[cfg(unix)]
            Self::Unix(stream) => stream.into_std().map(DetachedStream::Unix),
        }
    }
}

impl DetachedStream {
    /// Registers with the reactor of the runtime this is called on.
    pub fn attach(self) -> io::Result<Stream> {
        match self {
            Self::Tcp(stream) => TcpStream::from_std(stream).map(Stream::Tcp),
            #[cfg(unix)]
            Self::Unix(stream) => UnixStream::from_std(stream).map(Stream::Unix),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(unix)]
            Self::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(unix)]
            Self::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            Self::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(stream) => stream.is_write_vectored(),
            #[cfg(unix)]
            Self::Unix(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(unix)]
            Self::Unix(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(unix)]
            Self::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}
