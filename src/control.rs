//! The control socket: a Unix stream socket (default `/run/anycastd/anycastd.sock`, mode 0600,
//! so only root talks to the daemon) carrying one JSON request line and one JSON response line
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
//! Requests are bounded (4 KiB) and time out, so a stuck client cannot hold the daemon.

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
}

/// Binds the control socket: parent directory created (0755), a stale socket replaced,
/// the socket itself mode 0600.
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    use std::os::unix::fs::PermissionsExt;
    let bind_err = |err| ControlError::Bind { path: path.to_path_buf(), err };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(bind_err)?;
    }
    // A socket left by a crashed daemon: replace it, but never a regular file.
    if let Ok(md) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if md.file_type().is_socket() {
            std::fs::remove_file(path).map_err(bind_err)?;
        }
    }
    let l = UnixListener::bind(path).map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(l)
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
        s.write_all(line.as_bytes()).await?;
        let mut buf = String::new();
        BufReader::new(&mut s).take(16 << 20).read_line(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
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

    #[tokio::test]
    async fn round_trip_over_a_socket_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("anycastd-ctl-{}", std::process::id()));
        let path = dir.join("ctl.sock");
        let l = bind(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let req = read_request(&mut s).await.unwrap();
            write_response(&mut s, &Response::ok(format!("{req:?}"))).await;
        });
        let r = request(&path, &Request::Drain { seconds: Some(5) }, Duration::from_secs(2)).await.unwrap();
        assert!(r.ok);
        assert_eq!(r.message.as_deref(), Some("Drain { seconds: Some(5) }"));
        server.await.unwrap();
        // A second bind replaces the stale socket.
        drop(bind(&path).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
        // Unreachable daemon: a clear error.
        let e = request(&path, &Request::Status, Duration::from_secs(1)).await.unwrap_err();
        assert!(e.to_string().contains("is the daemon running"), "{e}");
    }
}
