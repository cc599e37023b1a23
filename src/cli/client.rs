//! The client side of the control socket: `status`, `notify`, `drain`, `undrain`, `check`,
//! `reload`. Each returns an [`Outcome`] (what to print, the exit status) for `main` to carry
//! out. Exit status: 0 done, 1 the daemon answered with an error (or, for `status`, a degraded
//! state), 2 the daemon cannot be reached.

use super::Outcome;
use crate::config::{Config, RoleSource, DEFAULT_PATH};
use crate::control::{self, ControlError, Request, Response};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket to talk to: `--socket`, else the one named by `--config` (or the default config
/// file when it exists), else the default socket.
pub fn socket_path(socket: Option<&Path>, config: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(s) = socket {
        return Ok(s.to_path_buf());
    }
    let path = config.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    if config.is_none() && !path.exists() {
        return Ok(PathBuf::from(control::DEFAULT_SOCKET));
    }
    Config::load(&path).map(|c| c.control.socket).map_err(|e| e.to_string())
}

fn request(path: &Path, req: &Request, wait: Duration) -> Result<Response, ControlError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ControlError::Unreachable { path: path.to_path_buf(), err })?;
    rt.block_on(control::request(path, req, wait))
}

/// `status [-v] [--json]`.
pub fn status(socket: Result<PathBuf, String>, verbose: bool, json: bool) -> Outcome {
    let path = match socket {
        Ok(p) => p,
        Err(e) => return Outcome::err(2, e),
    };
    let resp = match request(&path, &Request::Status, Duration::from_secs(10)) {
        Ok(r) => r,
        Err(e) => return Outcome::err(2, e.to_string()),
    };
    let Some(s) = resp.status else {
        return Outcome::err(2, resp.error.unwrap_or_else(|| "no status in the answer".into()));
    };
    let out = if json {
        format!("{}\n", serde_json::to_string_pretty(&s).unwrap_or_default())
    } else {
        super::status::render(&s, verbose)
    };
    Outcome { stdout: out, stderr: String::new(), code: super::status::exit_code(&s) }
}

/// A command whose answer is a message (`drain`, `undrain`, `check`, `reload`).
pub fn simple(socket: Result<PathBuf, String>, req: Request) -> Outcome {
    let path = match socket {
        Ok(p) => p,
        Err(e) => return Outcome::err(2, e),
    };
    match request(&path, &req, Duration::from_secs(30)) {
        Ok(r) if r.ok => Outcome::ok(r.message.unwrap_or_default()),
        Ok(r) => Outcome::err(1, r.error.unwrap_or_default()),
        Err(e) => Outcome::err(2, e.to_string()),
    }
}

/// `notify STATE`: through the daemon when it runs; when it does not, the state is saved where
/// the keepalived role source reads it at start — keepalived must never be failed by us.
pub fn notify(socket: Result<PathBuf, String>, config: Option<&Path>, state: &str) -> Outcome {
    let path = match socket {
        Ok(p) => p,
        Err(e) => return Outcome::err(2, e),
    };
    let e = match request(&path, &Request::Notify { state: state.to_string() }, Duration::from_secs(5)) {
        Ok(r) if r.ok => return Outcome::ok(r.message.unwrap_or_default()),
        Ok(r) => return Outcome::err(1, r.error.unwrap_or_default()),
        Err(e) => e,
    };
    let cfg_path = config.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    match Config::load(&cfg_path).map(|c| c.role) {
        Ok(RoleSource::Keepalived { path }) => match crate::ha::role::persist_role(&path, state) {
            Ok(()) => Outcome {
                stdout: String::new(),
                stderr: format!("anycastd: {e}; saved {state} to {} for the next start\n", path.display()),
                code: 0,
            },
            Err(e2) => Outcome::err(2, format!("{e}; and cannot save the state: {e2}")),
        },
        _ => Outcome::err(2, e.to_string()),
    }
}
