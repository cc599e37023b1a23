//! The control socket: a Unix stream socket (default `/run/anycastd/anycastd.sock`, mode 0600
//! from its creation, in a directory only we can write, peers checked by SO_PEERCRED, so only
//! root and the daemon's uid talk to the daemon) carrying one JSON request line and one JSON response line
//! per connection. The CLI's `status`, `notify`, `drain`, `undrain`, `check`, `reload` and
//! `neighbor` use it.
//! With `[control] group`, the directory is 0750 and the socket 0660, both owned by that group,
//! and its members may send `status` only (see [`Policy`]).
//!
//! Protocol (documented in the README):
//! ```text
//! → {"cmd":"status"}                       ← {"ok":true,"status":{...}}
//! → {"cmd":"notify","state":"MASTER"}      ← {"ok":true,"message":"role: primary (keepalived MASTER)"}
//! → {"cmd":"notify","state":"MASTER","instance":"anycast"}   (ignored unless it is [role] instance)
//! → {"cmd":"serving"}                      ← {"ok":true,"message":"can serve: …"} | {"ok":false,"error":"cannot serve: …"}
//! → {"cmd":"drain","seconds":30}           ← {"ok":true,"message":"..."}
//! → {"cmd":"undrain"} | {"cmd":"check"} | {"cmd":"reload"}
//! → {"cmd":"neighbor","action":"reset","ip":"192.0.2.1"}   (reset | disable | enable)
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
    /// keepalived's new state; `instance` is the VRRP instance it is for, when known (a
    /// daemon with `[role] instance` set ignores other instances' states).
    Notify {
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// Whether the node can serve now (every check healthy, not drained, a neighbor serving),
    /// without running the checks: `anycastd check --quiet`, keepalived's `vrrp_script`.
    Serving,
    /// `service`: only that one (`anycastd drain --service NAME`); `None`: every service.
    Drain {
        seconds: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
    },
    Undrain {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
    },
    Check,
    Reload,
    /// `anycastd neighbor reset|disable|enable IP`.
    Neighbor {
        action: NeighborAction,
        ip: std::net::IpAddr,
    },
}

/// What `anycastd neighbor` does to one neighbor's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NeighborAction {
    /// Cease / Administrative Reset (RFC 4486 subcode 4), then connect again at once.
    Reset,
    /// Cease / Administrative Shutdown (RFC 4486 subcode 2), then stay down (AdminDown):
    /// no connection made or accepted, nothing advertised, until `enable`.
    Disable,
    /// Back from `disable`: the session starts again.
    Enable,
}

impl NeighborAction {
    pub fn name(self) -> &'static str {
        match self {
            NeighborAction::Reset => "reset",
            NeighborAction::Disable => "disable",
            NeighborAction::Enable => "enable",
        }
    }
}

impl Request {
    /// Whether the command only reads. `check` is not: its results count toward rise/fall and
    /// can move the route.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Request::Status | Request::Serving)
    }
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

/// Binds the control socket, mode 0600 (0660 with a `group`) from the moment it can be reached:
/// - the parent directory is created 0700 if missing, and must be a directory owned by us (or
///   root) that neither group nor others can write, so nobody else can plant, swap or unlink
///   names in it between the steps below;
/// - with `group` (a gid), a private directory of ours (0700, as we or systemd's
///   `RuntimeDirectoryMode=0700` create it) becomes 0750 owned by that group, through a
///   descriptor opened without following a symlink; a directory of any other mode is left as
///   it is (it is not ours to open up);
/// - a socket already at the path is replaced only if it is dead (connect refused); a live one
///   means another daemon, and we refuse; anything that is not a socket is never touched;
/// - the socket is bound in a fresh 0700 directory beside it (unreachable to others whatever
///   the umask), chmod-ed 0600 (or 0660 and given to `group`, by lchown) there, then
///   hard-linked to its name (fails rather than replace a socket that appeared meanwhile) — no
///   window with umask-derived permissions, no chmod through a path someone else controls.
pub fn bind(path: &Path, group: Option<u32>) -> Result<ControlSocket, ControlError> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
    // One descriptor for the check and the change: they concern the same directory.
    let nofollow = if group.is_some() { libc::O_NOFOLLOW } else { 0 };
    let dir_fd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | nofollow)
        .open(dir)
        .map_err(bind_err)?;
    let md = dir_fd.metadata().map_err(bind_err)?;
    let me = nix::unistd::geteuid().as_raw();
    if !md.is_dir() || (md.uid() != me && md.uid() != 0) || md.mode() & 0o022 != 0 {
        return Err(unsafe_err(format!(
            "its directory {} must be owned by uid {me} or root and not writable by group or others (it is uid {}, mode {:o})",
            dir.display(),
            md.uid(),
            md.mode() & 0o7777
        )));
    }
    let gid_err = |what: &str, e: std::io::Error| {
        unsafe_err(format!(
            "cannot give {what} to gid {} ([control] group): {e} (the daemon must be a member of the group, e.g. \
             SupplementaryGroups= in its unit, or hold CAP_CHOWN)",
            group.unwrap_or_default()
        ))
    };
    if let Some(gid) = group {
        if md.uid() == me && md.mode() & 0o7777 == 0o700 {
            std::os::unix::fs::fchown(&dir_fd, None, Some(gid)).map_err(|e| gid_err(&dir.display().to_string(), e))?;
            dir_fd.set_permissions(std::fs::Permissions::from_mode(0o750)).map_err(bind_err)?;
        }
    }
    drop(dir_fd);
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
        let l = std::os::unix::net::UnixListener::bind(&staged).map_err(bind_err)?;
        l.set_nonblocking(true).map_err(bind_err)?;
        let mode = match group {
            // In our 0700 staging directory nobody can swap the name for a symlink, and
            // lchown would not follow one anyway.
            Some(gid) => {
                std::os::unix::fs::lchown(&staged, None, Some(gid)).map_err(|e| gid_err("the socket", e))?;
                0o660
            }
            None => 0o600,
        };
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode)).map_err(bind_err)?;
        match std::fs::hard_link(&staged, path) {
            Ok(()) => Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(ControlError::Running { path: p() }),
            Err(e) => Err(bind_err(e)),
        }
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    let l = bound?;
    let id = file_id(path).ok_or_else(|| bind_err(std::io::Error::other("the socket vanished after bind")))?;
    let sock = ControlSocket { listener: UnixListener::from_std(l).map_err(bind_err)?, path: p(), id };
    Ok(sock)
}

/// Who may do what on the control socket: root and the daemon's own uid everything; members
/// of `[control] group` (as primary or supplementary group) only read-only commands
/// ([`Request::is_read_only`]); anyone else nothing. The socket's mode (0600, or 0660 with a
/// group) already keeps others out; this holds even if the mode or directory is loosened by
/// hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub own_uid: u32,
    /// The gid of `[control] group`.
    pub group: Option<u32>,
}

/// What a peer may do, by [`Policy::access`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Root or our uid: every command.
    Full,
    /// A member of the configured group: read-only commands.
    ReadOnly,
    /// Refused before its request is read.
    Denied,
}

impl Policy {
    /// The policy of this process: our effective uid, and the configured group.
    pub fn ours(group: Option<u32>) -> Policy {
        Policy { own_uid: nix::unistd::geteuid().as_raw(), group }
    }

    /// The access of a peer with effective `uid` and `gid` (SO_PEERCRED) and supplementary
    /// `groups`.
    pub fn access(&self, uid: u32, gid: u32, groups: &[u32]) -> Access {
        if uid == 0 || uid == self.own_uid {
            return Access::Full;
        }
        match self.group {
            Some(g) if gid == g || groups.contains(&g) => Access::ReadOnly,
            _ => Access::Denied,
        }
    }

    /// The whole decision for one request from a peer: `Err` is the message it gets.
    pub fn authorize(&self, uid: u32, gid: u32, groups: &[u32], req: &Request) -> Result<(), String> {
        self.access(uid, gid, groups).permits(uid, req)
    }
}

impl Access {
    /// Whether `req` from `uid` with this access is served; `Err` is the message it gets.
    pub fn permits(self, uid: u32, req: &Request) -> Result<(), String> {
        match self {
            Access::Full => Ok(()),
            Access::ReadOnly if req.is_read_only() => Ok(()),
            Access::ReadOnly => {
                Err(format!("permission denied: uid {uid} is not root; group members may only read status"))
            }
            Access::Denied => Err(format!("permission denied: uid {uid} may not use the control socket")),
        }
    }
}

/// The supplementary groups of the process `pid`, from the `Groups:` line of
/// `/proc/<pid>/status`, if its effective uid (the `Uid:` line) is still `uid`.
///
/// SO_PEERCRED is taken at connect(); this is read afterwards. In between, the peer may exit
/// and its pid go to another process (PID reuse): the uid check limits that to a process of the
/// same user, which could connect itself anyway with whatever groups that user can take on
/// (`sg`); and the socket's 0660 mode has already made the kernel check the connecting
/// process's own groups. Chosen over getgrouplist(3) for the uid's name, which asks the group
/// database (NSS: files, but also LDAP/sssd, which may block the accept path) instead of the
/// process, and so would admit a process of a member that has dropped the group. (SO_PEERGROUPS
/// would be exact, but neither nix nor socket2 wraps it, and `unsafe` stays in transport.rs.)
async fn supplementary_groups(pid: i32, uid: u32) -> Result<Vec<u32>, String> {
    let text = tokio::fs::read_to_string(format!("/proc/{pid}/status")).await.map_err(|e| e.to_string())?;
    groups_from_proc_status(&text, uid)
}

/// Parses a `/proc/<pid>/status` text: the `Groups:` list, if the effective uid is `uid`.
fn groups_from_proc_status(text: &str, uid: u32) -> Result<Vec<u32>, String> {
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::split_whitespace);
    let euid = field("Uid:").and_then(|mut f| f.nth(1)).and_then(|v| v.parse::<u32>().ok());
    if euid != Some(uid) {
        return Err(format!("the process is no longer uid {uid}"));
    }
    let groups = field("Groups:").ok_or("no Groups: line")?;
    groups.map(|g| g.parse::<u32>().map_err(|_| format!("bad group {g:?}"))).collect()
}

/// The access of a peer: its supplementary groups are read only when they can matter.
async fn peer_access(policy: &Policy, c: &tokio::net::unix::UCred) -> Access {
    let quick = policy.access(c.uid(), c.gid(), &[]);
    if quick != Access::Denied || policy.group.is_none() {
        return quick;
    }
    let Some(pid) = c.pid().filter(|p| *p > 0) else { return quick };
    match supplementary_groups(pid, c.uid()).await {
        Ok(groups) => policy.access(c.uid(), c.gid(), &groups),
        Err(e) => {
            tracing::debug!(uid = c.uid(), pid, "control socket: cannot read the peer's groups: {e}");
            Access::Denied
        }
    }
}

/// Accepts connections until the future is dropped: at most [`MAX_CONNECTIONS`] at once,
/// accept errors (EMFILE…) backed off, each connection served by [`serve_one`].
pub async fn serve<F, Fut>(sock: &ControlSocket, policy: Policy, handler: F)
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let handler = std::sync::Arc::new(handler);
    let mut gate = crate::accept::Gate::new("control", MAX_CONNECTIONS, Default::default());
    loop {
        let (s, permit) = gate.next(|| sock.accept()).await;
        let h = handler.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_one(s, policy, move |r| h(r)).await;
        });
    }
}

/// One connection: the peer's credentials checked ([`Policy`]; a stranger's request is never
/// read), one request read (bounded) and checked against the peer's access, the handler run in
/// its own task (so a command is never cancelled half-way) and its answer awaited for at most
/// [`HANDLE_TIMEOUT`], one response written (bounded).
pub async fn serve_one<F, Fut>(mut s: UnixStream, policy: Policy, handler: F)
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let resp = match s.peer_cred() {
        Ok(c) => match peer_access(&policy, &c).await {
            Access::Denied => {
                tracing::warn!(uid = c.uid(), pid = ?c.pid(), "control socket: connection from a uid that is neither root, ours nor in the control group refused");
                Response::err(Access::Denied.permits(c.uid(), &Request::Status).err().unwrap_or_default())
            }
            access => match read_request(&mut s).await {
                Ok(req) => match access.permits(c.uid(), &req) {
                    Ok(()) => match tokio::time::timeout(HANDLE_TIMEOUT, tokio::spawn(handler(req))).await {
                        Ok(Ok(r)) => r,
                        Ok(Err(e)) => Response::err(format!("the command failed: {e}")),
                        Err(_) => Response::err(format!(
                            "no answer within {} s; the command goes on in the background (see the log)",
                            HANDLE_TIMEOUT.as_secs()
                        )),
                    },
                    Err(e) => {
                        tracing::warn!(uid = c.uid(), pid = ?c.pid(), cmd = ?req, "control socket: a group member's command refused (read-only access)");
                        Response::err(e)
                    }
                },
                Err(e) => Response::err(e),
            },
        },
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
        assert_eq!(r, Request::Notify { state: "MASTER".into(), instance: None });
        let r = Request::Notify { state: "BACKUP".into(), instance: Some("anycast".into()) };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"cmd":"notify","state":"BACKUP","instance":"anycast"}"#);
        assert_eq!(serde_json::to_string(&Request::Serving).unwrap(), r#"{"cmd":"serving"}"#);
        let r: Request = serde_json::from_str(r#"{"cmd":"drain"}"#).unwrap();
        assert_eq!(r, Request::Drain { seconds: None, service: None });
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"rm -rf"}"#).is_err());
        let r = Request::Neighbor { action: NeighborAction::Reset, ip: "192.0.2.1".parse().unwrap() };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"cmd":"neighbor","action":"reset","ip":"192.0.2.1"}"#);
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"neighbor","action":"reboot","ip":"192.0.2.1"}"#).is_err());
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
        let l = bind(&path, None).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.join("run")).unwrap().permissions().mode() & 0o777, 0o700);
        // Nothing left of the staging directory.
        assert_eq!(std::fs::read_dir(dir.join("run")).unwrap().count(), 1);
        let server = tokio::spawn(async move {
            let s = l.accept().await.unwrap();
            serve_one(s, Policy { own_uid: 0, group: None }, |req| async move { Response::ok(format!("{req:?}")) })
                .await;
            l
        });
        let r =
            request(&path, &Request::Drain { seconds: Some(5), service: None }, Duration::from_secs(2)).await.unwrap();
        assert!(r.ok);
        assert_eq!(r.message.as_deref(), Some("Drain { seconds: Some(5), service: None }"));
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
        let first = bind(&path, None).unwrap();
        let e = bind(&path, None).unwrap_err();
        assert!(matches!(e, ControlError::Running { .. }), "{e}");
        assert!(e.to_string().contains("another anycastd is running on"), "{e}");
        assert!(answers(&path).unwrap(), "the live socket was unlinked");
        // A dead socket (its listener gone, the file left, as after a crash) is replaced.
        std::fs::remove_file(&path).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(!answers(&path).unwrap());
        let second = bind(&path, None).unwrap();
        // The first daemon's exit must not remove the second's socket.
        drop(first);
        assert!(answers(&path).unwrap(), "a predecessor removed its successor's socket");
        drop(second);
        assert!(!path.exists());
        // A non-socket in the way is left alone.
        std::fs::write(&path, b"keep").unwrap();
        assert!(matches!(bind(&path, None).unwrap_err(), ControlError::Unsafe { .. }));
        assert_eq!(std::fs::read(&path).unwrap(), b"keep");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp_dir("perm");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = bind(&dir.join("ctl.sock"), None).unwrap_err();
        assert!(e.to_string().contains("not writable by group or others"), "{e}");
        assert!(!dir.join("ctl.sock").exists());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        drop(bind(&dir.join("ctl.sock"), None).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn root_and_our_uid_may_do_anything_group_members_only_read_status() {
        let all = [
            Request::Status,
            Request::Notify { state: "MASTER".into(), instance: None },
            Request::Serving,
            Request::Drain { seconds: Some(5), service: None },
            Request::Undrain { service: None },
            Request::Check,
            Request::Reload,
            Request::Neighbor { action: NeighborAction::Disable, ip: "192.0.2.1".parse().unwrap() },
        ];
        let ops = 4242;
        for group in [None, Some(ops)] {
            let p = Policy { own_uid: 1000, group };
            for req in &all {
                assert_eq!(p.authorize(0, 0, &[], req), Ok(()), "root {req:?}");
                assert_eq!(p.authorize(1000, 1000, &[], req), Ok(()), "our uid {req:?}");
                let e = p.authorize(65534, 65534, &[100], req).unwrap_err();
                assert_eq!(e, "permission denied: uid 65534 may not use the control socket");
            }
        }
        // Without a group, being in "the" group means nothing.
        let none = Policy { own_uid: 1000, group: None };
        assert_eq!(none.access(65534, ops, &[ops]), Access::Denied);
        let p = Policy { own_uid: 1000, group: Some(ops) };
        // Member by primary gid or by a supplementary group: status only.
        for (gid, groups) in [(ops, vec![]), (65534, vec![100, ops])] {
            assert_eq!(p.access(65534, gid, &groups), Access::ReadOnly);
            for req in &all {
                let got = p.authorize(65534, gid, &groups, req);
                if req.is_read_only() {
                    assert_eq!(got, Ok(()));
                } else {
                    assert_eq!(
                        got,
                        Err("permission denied: uid 65534 is not root; group members may only read status".into()),
                        "{req:?}"
                    );
                }
            }
        }
        assert!(Request::Status.is_read_only());
        assert!(Request::Serving.is_read_only(), "it runs no check");
        assert!(!Request::Check.is_read_only(), "check counts toward rise/fall");
    }

    #[test]
    fn supplementary_groups_come_from_proc_status_of_the_same_uid() {
        let text = "Name:\tanycastd\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n\
                    Groups:\t4 100 4242 \nNSpid:\t7\n";
        assert_eq!(groups_from_proc_status(text, 65534), Ok(vec![4, 100, 4242]));
        // The pid now belongs to another user (PID reuse): nothing is taken from it.
        assert!(groups_from_proc_status(text, 1000).is_err());
        let real_uid_only = "Uid:\t65534\t0\t0\t0\nGroups:\t4242\n";
        assert!(groups_from_proc_status(real_uid_only, 65534).is_err(), "the effective uid decides");
        assert_eq!(groups_from_proc_status("Uid:\t5\t5\t5\t5\nGroups:\n", 5), Ok(vec![]));
        assert!(groups_from_proc_status("Uid:\t5\t5\t5\t5\nGroups:\tx\n", 5).is_err());
        assert!(groups_from_proc_status("Uid:\t5\t5\t5\t5\n", 5).is_err());
    }

    #[tokio::test]
    async fn with_a_group_the_directory_is_0750_and_the_socket_0660_both_the_groups() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if crate::test_env::skip_unprivileged("giving files to a group we are not in") {
            return;
        }
        let gid = 4242;
        let dir = tmp_dir("group");
        let path = dir.join("run").join("ctl.sock");
        let l = bind(&path, Some(gid)).unwrap();
        let (d, f) = (std::fs::metadata(dir.join("run")).unwrap(), std::fs::metadata(&path).unwrap());
        assert_eq!((d.mode() & 0o7777, d.gid()), (0o750, gid));
        assert_eq!((f.mode() & 0o777, f.gid()), (0o660, gid));
        drop(l);
        // A directory that is not private is not ours to open up: left as it is.
        std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(dir.join("run"), None, Some(0)).unwrap();
        let l = bind(&path, Some(gid)).unwrap();
        let d = std::fs::metadata(dir.join("run")).unwrap();
        assert_eq!((d.mode() & 0o7777, d.gid()), (0o755, 0));
        drop(l);
        // Nor is a symlink followed to a directory to chown it.
        std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(dir.join("run"), dir.join("link")).unwrap();
        assert!(bind(&dir.join("link").join("ctl.sock"), Some(gid)).is_err());
        assert_eq!(std::fs::metadata(dir.join("run")).unwrap().gid(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_that_hangs_lets_the_connection_go() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let server = tokio::spawn(serve_one(a, Policy::ours(None), |_| std::future::pending()));
        b.write_all(b"{\"cmd\":\"reload\"}\n").await.unwrap();
        let mut line = String::new();
        BufReader::new(&mut b).read_line(&mut line).await.unwrap();
        assert!(line.contains("no answer within 25 s"), "{line}");
        server.await.unwrap();
    }
}
