//! The control socket: a Unix stream socket (default `/run/anycastd/anycastd.sock`, mode 0600
//! from its creation, in a directory only we can write, peers checked by SO_PEERCRED, so only
//! root and the daemon's uid talk to the daemon) carrying one JSON request line and one JSON response line
//! per connection. The CLI's `status`, `notify`, `drain`, `undrain`, `check` and `reload` use it.
//!
//! Protocol (documented in the README):
//! ```text
//! → {"cmd":"status"}                       ← {"ok":true,"status":{...}}
//! → {"cmd":"notify","state":"MASTER"}      ← {"ok":true,"message":"role: primary (keepalived MASTER)"}
//! → {"cmd":"drain","seconds":30}           ← {"ok":true,"message":"..."}
//! → {"cmd":"undrain"} | {"cmd":"check"} | {"cmd":"reload"}
//! ← {"ok":false,"error":"what went wrong"}
//! ```
//! Requests are bounded (4 KiB) and time out, connections are capped, and a command that hangs
//! lets its connection go after [`HANDLE_TIMEOUT`], so a stuck client cannot hold the daemon.

use crate::status::StatusDoc;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

pub use crate::config::DEFAULT_SOCKET;
const MAX_REQUEST: u64 = 4096;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    Status,
    Notify { state: String },
    Drain { seconds: Option<u64> },
    Undrain,
    Check,
    Reload,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<Box<StatusDoc>>,
}

impl Response {
    pub fn ok(message: impl Into<String>) -> Self {
        Response { ok: true, message: Some(message.into()), error: None, status: None }
    }
    pub fn err(error: impl Into<String>) -> Self {
        Response { ok: false, message: None, error: Some(error.into()), status: None }
    }
    pub fn status(doc: StatusDoc) -> Self {
        Response { ok: true, message: None, error: None, status: Some(Box::new(doc)) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach anycastd at {path}: {err} (is the daemon running? see --socket/--config)")]
    Unreachable { path: PathBuf, err: std::io::Error },
    #[error("anycastd at {path} did not answer within {secs} s")]
    Timeout { path: PathBuf, secs: u64 },
    #[error("bad answer from anycastd at {path}: {why}")]
    BadAnswer { path: PathBuf, why: String },
    #[error("cannot create control socket {path}: {err}")]
    Bind { path: PathBuf, err: std::io::Error },
    #[error("cannot create control socket {path}: {why}")]
    Unsafe { path: PathBuf, why: String },
    #[error("another anycastd is running on {path} (it answers there); stop it first")]
    Running { path: PathBuf },
}

/// Connections served at once; more are closed at once (the CLI opens one per command).
pub const MAX_CONNECTIONS: usize = 8;
/// How long a connection waits for its command's answer (below the CLI's 30 s). A command
/// still running then finishes in the background; only the connection is let go.
pub const HANDLE_TIMEOUT: Duration = Duration::from_secs(25);

/// The bound control socket. Dropping it removes the socket file, but only while the path is
/// still the socket this daemon created (same device and inode): never a successor's.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    id: (u64, u64),
}

impl ControlSocket {
    pub async fn accept(&self) -> std::io::Result<UnixStream> {
        self.listener.accept().await.map(|(s, _)| s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        if file_id(&self.path) == Some(self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn file_id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether a live daemon listens on the socket at `path`: a non-blocking connect succeeds
/// or finds the backlog full (both mean someone is there), is refused (dead socket) or fails.
fn answers(path: &Path) -> std::io::Result<bool> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let s = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    match s.connect(&SockAddr::unix(path)?) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(false),
        Err(e) => Err(e),
    }
}

/// Binds the control socket, mode 0600 from the moment it can be reached:
/// - the parent directory is created 0700 if missing, and must be a directory owned by us (or
///   root) that neither group nor others can write, so nobody else can plant, swap or unlink
///   names in it between the steps below;
/// - a socket already at the path is replaced only if it is dead (connect refused); a live one
///   means another daemon, and we refuse; anything that is not a socket is never touched;
/// - the socket is bound in a fresh 0700 directory beside it (unreachable to others whatever
///   the umask), chmod-ed 0600 there, then hard-linked to its name (fails rather than replace
///   a socket that appeared meanwhile) — no window with umask-derived permissions, no chmod
///   through a path someone else controls.
pub fn bind(path: &Path) -> Result<ControlSocket, ControlError> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
    let p = || path.to_path_buf();
    let bind_err = |err| ControlError::Bind { path: p(), err };
    let unsafe_err = |why: String| ControlError::Unsafe { path: p(), why };
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(unsafe_err("not a file path".into()));
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(bind_err)?;
    }
    let md = std::fs::metadata(dir).map_err(bind_err)?;
    let me = nix::unistd::geteuid().as_raw();
    if !md.is_dir() || (md.uid() != me && md.uid() != 0) || md.mode() & 0o022 != 0 {
        return Err(unsafe_err(format!(
            "its directory {} must be owned by uid {me} or root and not writable by group or others (it is uid {}, mode {:o})",
            dir.display(),
            md.uid(),
            md.mode() & 0o7777
        )));
    }
    // A socket left by a crashed daemon is replaced; a live one is not, nor a non-socket.
    if let Ok(md) = std::fs::symlink_metadata(path) {
        if !md.file_type().is_socket() {
            return Err(unsafe_err("something that is not a socket is in the way".into()));
        }
        if answers(path).map_err(bind_err)? {
            return Err(ControlError::Running { path: p() });
        }
        std::fs::remove_file(path).map_err(bind_err)?;
    }
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.new", std::process::id()));
    let tmp = dir.join(tmp_name);
    // Ours to clear: a leftover of this pid's predecessor, in a directory only we can write.
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::DirBuilder::new().mode(0o700).create(&tmp).map_err(bind_err)?;
    let staged = tmp.join("s");
    let bound = (|| {
        let l = std::os::unix::net::UnixListener::bind(&staged)?;
        l.set_nonblocking(true)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::hard_link(&staged, path)?;
        Ok::<_, std::io::Error>(l)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    let l = match bound {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(ControlError::Running { path: p() }),
        Err(e) => return Err(bind_err(e)),
    };
    let id = file_id(path).ok_or_else(|| bind_err(std::io::Error::other("the socket vanished after bind")))?;
    let sock = ControlSocket { listener: UnixListener::from_std(l).map_err(bind_err)?, path: p(), id };
    Ok(sock)
}

/// Who may use the control socket, from the peer's SO_PEERCRED uid: root and the daemon's own
/// uid. The socket's mode (0600) already keeps others out; this holds even if the mode or
/// directory is loosened by hand.
pub fn may_connect(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == 0 || peer_uid == own_uid
}

/// Accepts connections until the future is dropped: at most [`MAX_CONNECTIONS`] at once,
/// accept errors (EMFILE…) backed off, each connection served by [`serve_one`].
pub async fn serve<F, Fut>(sock: &ControlSocket, handler: F)
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let handler = std::sync::Arc::new(handler);
    let mut gate = crate::accept::Gate::new("control", MAX_CONNECTIONS, Default::default());
    let own_uid = nix::unistd::geteuid().as_raw();
    loop {
        let (s, permit) = gate.next(|| sock.accept()).await;
        let h = handler.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_one(s, own_uid, move |r| h(r)).await;
        });
    }
}

/// One connection: the peer's uid checked, one request read (bounded), the handler run in its
/// own task (so a command is never cancelled half-way) and its answer awaited for at most
/// [`HANDLE_TIMEOUT`], one response written (bounded).
pub async fn serve_one<F, Fut>(mut s: UnixStream, own_uid: u32, handler: F)
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let resp = match s.peer_cred() {
        Ok(c) if may_connect(c.uid(), own_uid) => match read_request(&mut s).await {
            Ok(req) => match tokio::time::timeout(HANDLE_TIMEOUT, tokio::spawn(handler(req))).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Response::err(format!("the command failed: {e}")),
                Err(_) => Response::err(format!(
                    "no answer within {} s; the command goes on in the background (see the log)",
                    HANDLE_TIMEOUT.as_secs()
                )),
            },
            Err(e) => Response::err(e),
        },
        Ok(c) => {
            tracing::warn!(uid = c.uid(), pid = ?c.pid(), "control socket: connection from a uid that is neither root nor ours refused");
            Response::err(format!("permission denied: uid {} may not use the control socket", c.uid()))
        }
        Err(e) => Response::err(format!("cannot read the peer's credentials: {e}")),
    };
    write_response(&mut s, &resp).await;
}

/// Reads one request from a connection; `None` on garbage (answered with an error).
pub async fn read_request(stream: &mut UnixStream) -> Result<Request, String> {
    let mut line = String::new();
    let mut r = BufReader::new(stream).take(MAX_REQUEST);
    match tokio::time::timeout(IO_TIMEOUT, r.read_line(&mut line)).await {
        Ok(Ok(_)) => serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}")),
        Ok(Err(e)) => Err(format!("read error: {e}")),
        Err(_) => Err("request timed out".into()),
    }
}

pub async fn write_response(stream: &mut UnixStream, r: &Response) {
    let mut s = serde_json::to_string(r).unwrap_or_else(|_| r#"{"ok":false,"error":"encoding"}"#.to_string());
    s.push('\n');
    let _ = tokio::time::timeout(IO_TIMEOUT, stream.write_all(s.as_bytes())).await;
}

/// Sends one request and waits for the answer (client side, used by the CLI).
pub async fn request(path: &Path, req: &Request, wait: Duration) -> Result<Response, ControlError> {
    let p = path.to_path_buf();
    let mut s = UnixStream::connect(path).await.map_err(|err| ControlError::Unreachable { path: p.clone(), err })?;
    let mut line =
        serde_json::to_string(req).map_err(|e| ControlError::BadAnswer { path: p.clone(), why: e.to_string() })?;
    line.push('\n');
    let io = async {
        // A daemon that refuses us answers without reading: the answer may be there even
        // when our write found the connection closed.
        let wrote = s.write_all(line.as_bytes()).await;
        let mut buf = String::new();
        let read = BufReader::new(&mut s).take(16 << 20).read_line(&mut buf).await;
        match (wrote, read) {
            (_, Ok(n)) if n > 0 => Ok(buf),
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(_)) => Ok(buf),
        }
    };
    let buf = match tokio::time::timeout(wait, io).await {
        Ok(Ok(b)) => b,
        Ok(Err(err)) => return Err(ControlError::Unreachable { path: p, err }),
        Err(_) => return Err(ControlError::Timeout { path: p, secs: wait.as_secs() }),
    };
    serde_json::from_str(buf.trim()).map_err(|e| ControlError::BadAnswer { path: p, why: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format() {
        assert_eq!(serde_json::to_string(&Request::Status).unwrap(), r#"{"cmd":"status"}"#);
        let r: Request = serde_json::from_str(r#"{"cmd":"notify","state":"MASTER"}"#).unwrap();
        assert_eq!(r, Request::Notify { state: "MASTER".into() });
        let r: Request = serde_json::from_str(r#"{"cmd":"drain"}"#).unwrap();
        assert_eq!(r, Request::Drain { seconds: None });
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"rm -rf"}"#).is_err());
    }

    fn tmp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("anycastd-ctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn round_trip_over_a_socket_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp_dir("rt");
        let path = dir.join("run").join("ctl.sock");
        let l = bind(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.join("run")).unwrap().permissions().mode() & 0o777, 0o700);
        // Nothing left of the staging directory.
        assert_eq!(std::fs::read_dir(dir.join("run")).unwrap().count(), 1);
        let server = tokio::spawn(async move {
            let s = l.accept().await.unwrap();
            serve_one(s, 0, |req| async move { Response::ok(format!("{req:?}")) }).await;
            l
        });
        let r = request(&path, &Request::Drain { seconds: Some(5) }, Duration::from_secs(2)).await.unwrap();
        assert!(r.ok);
        assert_eq!(r.message.as_deref(), Some("Drain { seconds: Some(5) }"));
        let l = server.await.unwrap();
        // Dropped: its socket goes with it.
        drop(l);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
        // Unreachable daemon: a clear error.
        let e = request(&path, &Request::Status, Duration::from_secs(1)).await.unwrap_err();
        assert!(e.to_string().contains("is the daemon running"), "{e}");
    }

    #[tokio::test]
    async fn a_live_socket_is_kept_a_dead_one_replaced_and_only_ours_removed() {
        let dir = tmp_dir("live");
        let path = dir.join("ctl.sock");
        let first = bind(&path).unwrap();
        let e = bind(&path).unwrap_err();
        assert!(matches!(e, ControlError::Running { .. }), "{e}");
        assert!(e.to_string().contains("another anycastd is running on"), "{e}");
        assert!(answers(&path).unwrap(), "the live socket was unlinked");
        // A dead socket (its listener gone, the file left, as after a crash) is replaced.
        std::fs::remove_file(&path).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(!answers(&path).unwrap());
        let second = bind(&path).unwrap();
        // The first daemon's exit must not remove the second's socket.
        drop(first);
        assert!(answers(&path).unwrap(), "a predecessor removed its successor's socket");
        drop(second);
        assert!(!path.exists());
        // A non-socket in the way is left alone.
        std::fs::write(&path, b"keep").unwrap();
        assert!(matches!(bind(&path).unwrap_err(), ControlError::Unsafe { .. }));
        assert_eq!(std::fs::read(&path).unwrap(), b"keep");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp_dir("perm");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = bind(&dir.join("ctl.sock")).unwrap_err();
        assert!(e.to_string().contains("not writable by group or others"), "{e}");
        assert!(!dir.join("ctl.sock").exists());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        drop(bind(&dir.join("ctl.sock")).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_root_and_our_uid_may_connect() {
        assert!(may_connect(0, 1000));
        assert!(may_connect(1000, 1000));
        assert!(!may_connect(65534, 1000));
        assert!(may_connect(0, 0));
        assert!(!may_connect(1000, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_that_hangs_lets_the_connection_go() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let server = tokio::spawn(serve_one(a, nix::unistd::geteuid().as_raw(), |_| std::future::pending()));
        b.write_all(b"{\"cmd\":\"reload\"}\n").await.unwrap();
        let mut line = String::new();
        BufReader::new(&mut b).read_line(&mut line).await.unwrap();
        assert!(line.contains("no answer within 25 s"), "{line}");
        server.await.unwrap();
    }
}
