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

/// Whether `e` means no daemon is there to take the request (no socket, connection refused),
/// so none can apply it later. A timeout or a broken connection is not: the daemon may still
/// apply that request, and a file written now could overtake a newer state.
pub fn daemon_absent(e: &ControlError) -> bool {
    use std::io::ErrorKind;
    matches!(e, ControlError::Unreachable { err, .. } if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused))
}

/// `notify STATE`: through the daemon when it runs; when it does not (see [`daemon_absent`]),
/// the state is saved where the keepalived role source reads it at start — keepalived must
/// never be failed by us.
pub fn notify(socket: Result<PathBuf, String>, config: Option<&Path>, state: &str) -> Outcome {
    let path = match socket {
        Ok(p) => p,
        Err(e) => return Outcome::err(2, e),
    };
    let e = match request(&path, &Request::Notify { state: state.to_string() }, Duration::from_secs(5)) {
        Ok(r) if r.ok => return Outcome::ok(r.message.unwrap_or_default()),
        Ok(r) => return Outcome::err(1, r.error.unwrap_or_default()),
        Err(e) if daemon_absent(&e) => e,
        Err(e) => return Outcome::err(2, format!("{e}; not saved to the state file (the daemon may still apply it)")),
    };
    let cfg_path = config.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    match Config::load(&cfg_path).map(|c| c.role) {
        Ok(RoleSource::Keepalived(ka)) => match crate::ha::role::persist_role(&ka.path, state) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn only_an_absent_daemon_makes_notify_write_the_file() {
        let path = PathBuf::from("/run/anycastd/control.sock");
        let unreachable = |k: ErrorKind| ControlError::Unreachable { path: path.clone(), err: Error::from(k) };
        assert!(daemon_absent(&unreachable(ErrorKind::NotFound)));
        assert!(daemon_absent(&unreachable(ErrorKind::ConnectionRefused)));
        // The request may have reached the daemon: it may still apply it.
        assert!(!daemon_absent(&ControlError::Timeout { path: path.clone(), secs: 5 }));
        assert!(!daemon_absent(&unreachable(ErrorKind::ConnectionReset)));
        assert!(!daemon_absent(&unreachable(ErrorKind::BrokenPipe)));
        assert!(!daemon_absent(&ControlError::BadAnswer { path: path.clone(), why: "eof".into() }));
    }

    #[test]
    fn notify_to_a_daemon_that_times_out_writes_no_file() {
        let dir = std::env::temp_dir().join(format!("anycastd-client-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (sock, role, cfg) = (dir.join("ctl.sock"), dir.join("role"), dir.join("a.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[bgp]\nlocal_as = 65124\nrouter_id = \"192.0.2.1\"\nlocal_ip = \"192.0.2.1\"\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.2\"\nremote_as = 65000\n\
                 [anycast]\nprefixes = [\"203.0.113.124/32\"]\n[role]\nsource = \"keepalived\"\npath = \"{}\"\n",
                role.display()
            ),
        )
        .unwrap();
        assert!(Config::load(&cfg).is_ok(), "{:?}", Config::load(&cfg).err());
        // No daemon at all: saved for the next start.
        let out = notify(Ok(sock.clone()), Some(&cfg), "MASTER");
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(std::fs::read_to_string(&role).unwrap().starts_with("MASTER\nboot_id "));
        // A daemon that accepts but never answers: no file write behind its back.
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let out = notify(Ok(sock.clone()), Some(&cfg), "BACKUP");
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("not saved"), "{}", out.stderr);
        assert!(std::fs::read_to_string(&role).unwrap().starts_with("MASTER\nboot_id "));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
