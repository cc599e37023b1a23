//! The client side of the control socket: `status`, `notify`, `notify-fifo`, `drain`,
//! `undrain`, `check`, `reload`, `neighbor`. Each returns an [`Outcome`] (what to print, the exit status)
//! for `main` to carry out. Exit status: 0 done, 1 the daemon answered with an error (or, for
//! `status`, a degraded state; for `check --quiet`, anything but "can serve"), 2 the daemon
//! cannot be reached (for `notify`: even when the state was saved for its next start). None of
//! them validates the config file: the socket and the role keys are read leniently
//! ([`locate`]), so a broken file on disk never cuts keepalived off from the running daemon.

use super::locate::{self, ClientKeys};
use super::Outcome;
use crate::control::{self, ControlError, Request, Response};
use crate::wire::text::escape_at_most;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `drain`, `check`, `reload` wait for the daemon's answer.
const REQUEST_WAIT: Duration = Duration::from_secs(30);
/// How long `check --quiet` waits for the daemon in all (connect, answer): well under the
/// `timeout` of keepalived's `vrrp_script`, so a hung (SIGSTOPped) daemon fails the script
/// rather than timing it out.
pub const QUIET_CHECK_WAIT: Duration = Duration::from_millis(500);
/// Longest `notify-fifo` line kept (keepalived's are a few dozen octets).
pub const MAX_FIFO_LINE: usize = 512;

/// The socket and the leniently read keys for `--socket`/`--config` (see [`locate`]): never
/// a validation of the config, which may be broken while the daemon runs a good one.
pub fn target(socket: Option<&Path>, config: Option<&Path>) -> (PathBuf, ClientKeys) {
    let keys = ClientKeys::read(config);
    (locate::socket_path(socket, &keys), keys)
}

/// One request, bounded by `wait` in all (the connect included).
fn request(path: &Path, req: &Request, wait: Duration) -> Result<Response, ControlError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ControlError::Unreachable { path: path.to_path_buf(), err })?;
    let timeout = || ControlError::Timeout { path: path.to_path_buf(), secs: wait.as_secs() };
    rt.block_on(async {
        tokio::time::timeout(wait, control::request(path, req, wait)).await.unwrap_or_else(|_| Err(timeout()))
    })
}

/// The daemon's status document; `Err` is the outcome to give (exit 2, the daemon unreachable
/// or its answer unusable).
pub fn fetch_status(path: &Path) -> Result<Box<crate::status::StatusDoc>, Outcome> {
    let resp = request(path, &Request::Status, Duration::from_secs(10)).map_err(|e| Outcome::err(2, e.to_string()))?;
    resp.status.ok_or_else(|| Outcome::err(2, resp.error.unwrap_or_else(|| "no status in the answer".into())))
}

/// `status [-v] [--json]`.
pub fn status(path: &Path, verbose: bool, json: bool) -> Outcome {
    let s = match fetch_status(path) {
        Ok(s) => s,
        Err(o) => return o,
    };
    let out = if json {
        format!("{}\n", serde_json::to_string_pretty(&s).unwrap_or_default())
    } else {
        super::status::render(&s, verbose)
    };
    Outcome { stdout: out, stderr: String::new(), code: super::status::exit_code(&s) }
}

/// A command whose answer is a message (`drain`, `undrain`, `reload`, `neighbor`).
pub fn simple(path: &Path, req: Request) -> Outcome {
    answer(path, &req, |msg| Outcome::err(1, msg))
}

/// `check`: every check run now, printed on stdout; exit 1 when any check failed (the daemon
/// answers with its report as an error), 2 when the daemon is unreachable.
pub fn check(path: &Path) -> Outcome {
    answer(path, &Request::Check, |report| Outcome { code: 1, ..Outcome::ok(report) })
}

/// The daemon's answer to `req`: its message (exit 0), `refused(error)` for an error answer,
/// exit 2 when it cannot be reached.
fn answer(path: &Path, req: &Request, refused: impl FnOnce(String) -> Outcome) -> Outcome {
    match request(path, req, REQUEST_WAIT) {
        Ok(r) if r.ok => Outcome::ok(r.message.unwrap_or_default()),
        Ok(r) => refused(r.error.unwrap_or_default()),
        Err(e) => Outcome::err(2, e.to_string()),
    }
}

/// `check --quiet` (keepalived's `vrrp_script`): exit 0 when the daemon answers within
/// [`QUIET_CHECK_WAIT`] that the node can serve (healthy, not drained, a neighbor serving), 1
/// otherwise — not serving, or the daemon down, unreachable or hung. Prints nothing; runs no
/// check (the script may run every 200 ms).
pub fn check_quiet(path: &Path) -> Outcome {
    let code = match request(path, &Request::Serving, QUIET_CHECK_WAIT) {
        Ok(r) if r.ok => 0,
        _ => 1,
    };
    Outcome { code, ..Outcome::default() }
}

/// Whether `e` means no daemon is there to take the request (no socket, connection refused),
/// so none can apply it later. A timeout or a broken connection is not: the daemon may still
/// apply that request, and a file written now could overtake a newer state.
pub fn daemon_absent(e: &ControlError) -> bool {
    use std::io::ErrorKind;
    matches!(e, ControlError::Unreachable { err, .. } if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused))
}

/// One of keepalived's notifications: what its `notify` script gets as arguments
/// (`INSTANCE NAME STATE PRIORITY`, or our own short form `STATE`) and what its notify FIFO
/// carries as a line (`INSTANCE "NAME" STATE PRIORITY`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A VRRP instance's new state (`name` unknown in the short form).
    Instance { name: Option<String>, state: String },
    /// A sync group's, a virtual server's… state: not ours to follow (the instances report
    /// their own).
    Other,
}

impl Event {
    /// From the words of a notification; `Err` says what was expected.
    pub fn from_words(words: &[String]) -> Result<Event, String> {
        let kind = |w: &String| w.to_ascii_uppercase();
        match words {
            [state] => Ok(Event::Instance { name: None, state: state.clone() }),
            [t, name, state] | [t, name, state, _] if kind(t) == "INSTANCE" => {
                Ok(Event::Instance { name: Some(name.clone()), state: state.clone() })
            }
            [t, _, _] | [t, _, _, _] if kind(t) == "GROUP" => Ok(Event::Other),
            _ => {
                let shown: Vec<String> = words.iter().map(|w| escape_at_most(w.as_bytes(), 64)).collect();
                Err(format!(
                    "expected STATE, or keepalived's notify arguments INSTANCE NAME STATE [PRIORITY]; got {:?}",
                    shown.join(" ")
                ))
            }
        }
    }

    /// A notify FIFO line: `INSTANCE "anycast" MASTER 150`, `GROUP "g" BACKUP`, `VS …`.
    /// Anything that is not an instance's state is [`Event::Other`].
    /// keepalived's informational FIFO words (`MASTER_RX_LOWER_PRI`, `MASTER_PRIORITY`,
    /// `BACKUP_PRIORITY`: a priority seen or changed) are no state change: [`Event::Other`].
    pub fn from_fifo_line(line: &str) -> Event {
        let words = fifo_words(line);
        let informational = |s: &str| s.ends_with("_PRIORITY") || s == "MASTER_RX_LOWER_PRI";
        match words.first() {
            Some(t) if t.eq_ignore_ascii_case("INSTANCE") && (3..=4).contains(&words.len()) => {
                match Event::from_words(&words) {
                    Ok(Event::Instance { state, .. }) if informational(&state) => Event::Other,
                    Ok(e) => e,
                    Err(_) => Event::Other,
                }
            }
            _ => Event::Other,
        }
    }
}

/// The words of a FIFO line; a double-quoted word (keepalived quotes names) may hold spaces.
fn fifo_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (word, tail) = match rest.strip_prefix('"') {
            Some(q) => q.split_once('"').unwrap_or((q, "")),
            None => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
        };
        words.push(word.to_string());
        rest = tail.trim_start();
    }
    words
}

/// `notify STATE [--instance NAME]` or `notify INSTANCE NAME STATE [PRIORITY]` (keepalived's
/// notify hooks). Other notifications (a sync group's) are accepted and ignored.
pub fn notify(path: &Path, keys: &ClientKeys, words: &[String], instance: Option<&str>) -> Outcome {
    match Event::from_words(words) {
        Ok(Event::Instance { name, state }) => notify_state(path, keys, &state, name.as_deref().or(instance)),
        Ok(Event::Other) => Outcome::default(),
        Err(e) => Outcome::err(2, e),
    }
}

/// Tells the daemon keepalived's `state` (for VRRP instance `instance`, when known). When no
/// daemon is there (see [`daemon_absent`]) the state is saved where the keepalived role source
/// reads it at start (`[role] path`, leniently read), and the exit status is 2 with the
/// reason: keepalived logs it. A timeout writes nothing (the daemon may still apply it).
pub fn notify_state(path: &Path, keys: &ClientKeys, state: &str, instance: Option<&str>) -> Outcome {
    let req = Request::Notify { state: state.to_string(), instance: instance.map(str::to_string) };
    let e = match request(path, &req, Duration::from_secs(5)) {
        Ok(r) if r.ok => return Outcome::ok(r.message.unwrap_or_default()),
        Ok(r) => return Outcome::err(1, r.error.unwrap_or_default()),
        Err(e) if daemon_absent(&e) => e,
        Err(e) => return Outcome::err(2, format!("{e}; not saved to the state file (the daemon may still apply it)")),
    };
    // A service's own keepalived role that names this instance gets it (as in the daemon);
    // never the node's role.
    let named: Vec<PathBuf> = keys
        .service_roles
        .iter()
        .filter(|r| instance.is_some() && r.instance.as_deref() == instance)
        .filter_map(|r| r.keepalived_path())
        .collect();
    if !named.is_empty() {
        return save_for_start(&e, state, &named);
    }
    if let (Some(ours), Some(theirs)) = (keys.role_instance.as_deref(), instance) {
        if ours != theirs {
            let shown = escape_at_most(theirs.as_bytes(), 64);
            return Outcome::ok(format!("ignored: keepalived instance \"{shown}\" is not [role] instance \"{ours}\""));
        }
    }
    if !keys.may_be_keepalived() {
        let source = keys.role_source.as_deref().unwrap_or_default();
        return Outcome::err(2, format!("{e}; not saved: [role] source is {source:?}, not \"keepalived\""));
    }
    let mut paths = vec![keys.role_path()];
    // The services whose own keepalived role names no instance follow every instance.
    paths.extend(keys.service_roles.iter().filter(|r| r.instance.is_none()).filter_map(|r| r.keepalived_path()));
    save_for_start(&e, state, &paths)
}

/// The daemon is not running (`e`): saves `state` to each of `paths` for its next start.
fn save_for_start(e: &impl std::fmt::Display, state: &str, paths: &[PathBuf]) -> Outcome {
    let mut saved = Vec::new();
    for p in paths {
        if let Err(e2) = crate::ha::role::persist_role(p, state) {
            return Outcome::err(2, format!("the daemon is not running ({e}), and the state cannot be saved: {e2}"));
        }
        saved.push(p.display().to_string());
    }
    let word = crate::ha::role::keepalived_word(state).unwrap_or_default();
    Outcome::err(2, format!("the daemon is not running ({e}): saved {word} to {} for its next start", saved.join(", ")))
}

/// `notify-fifo FIFO`: keepalived's `vrrp_notify_fifo_script`. One long-running reader of the
/// FIFO, so states reach the daemon in keepalived's order: each instance's state is forwarded
/// and its answer awaited before the next line is read (a new connection per line, so a
/// daemon restarted meanwhile is found; one that is absent gets the state saved, as `notify`
/// does). Lines of other kinds are skipped, over-long ones dropped; what is printed is escaped.
/// Ends, status 0, when the FIFO reaches end of file (keepalived closed it; it restarts the
/// script with the FIFO).
pub fn notify_fifo(socket: Option<&Path>, config: Option<&Path>, fifo: &Path, log: &mut dyn Write) -> Outcome {
    let f = match std::fs::File::open(fifo) {
        Ok(f) => f,
        Err(e) => return Outcome::err(2, format!("cannot open the notify FIFO {}: {e}", fifo.display())),
    };
    let mut r = std::io::BufReader::new(f);
    loop {
        let line = match read_line(&mut r, MAX_FIFO_LINE) {
            Ok(Some(l)) => l,
            Ok(None) => return Outcome::default(),
            Err(e) => return Outcome::err(2, format!("cannot read the notify FIFO {}: {e}", fifo.display())),
        };
        let Some(bytes) = line else {
            let _ = writeln!(log, "anycastd notify-fifo: a line longer than {MAX_FIFO_LINE} octets dropped");
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let shown = escape_at_most(text.trim_end().as_bytes(), 200);
        let Event::Instance { name, state } = Event::from_fifo_line(&text) else { continue };
        // Read again for every line: an edit of the file (a new socket) is followed.
        let (path, keys) = target(socket, config);
        let o = notify_state(&path, &keys, &state, name.as_deref());
        let said = if o.code == 0 { o.stdout.trim_end() } else { o.stderr.trim_end() };
        let said = escape_at_most(said.as_bytes(), 400);
        let _ = writeln!(log, "anycastd notify-fifo: {shown}: {said}");
    }
}

/// One line of at most `max` octets (the newline excluded): `Ok(None)` at end of file,
/// `Ok(Some(None))` for a longer line (read to its end and dropped).
fn read_line(r: &mut impl BufRead, max: usize) -> std::io::Result<Option<Option<Vec<u8>>>> {
    use std::io::Read;
    let mut buf = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    if r.by_ref().take(limit).read_until(b'\n', &mut buf)? == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Some(Some(buf)));
    }
    if buf.len() <= max {
        return Ok(Some(Some(buf))); // the last line, without a newline
    }
    loop {
        buf.clear();
        if r.by_ref().take(4096).read_until(b'\n', &mut buf)? == 0 || buf.last() == Some(&b'\n') {
            return Ok(Some(None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
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
        let keys = ClientKeys::read(Some(&cfg));
        // No daemon at all: saved for the next start, and exit status 2 with the reason.
        let out = notify(&sock, &keys, &["MASTER".to_string()], None);
        assert_eq!(out.code, 2, "{}", out.stderr);
        let want = format!("): saved MASTER to {} for its next start\n", role.display());
        assert!(
            out.stderr.starts_with("anycastd: the daemon is not running (") && out.stderr.ends_with(&want),
            "{}",
            out.stderr
        );
        assert!(std::fs::read_to_string(&role).unwrap().starts_with("MASTER\nboot_id "));
        // A daemon that accepts but never answers: no file write behind its back.
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let out = notify(&sock, &keys, &["BACKUP".to_string()], None);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("not saved"), "{}", out.stderr);
        assert!(std::fs::read_to_string(&role).unwrap().starts_with("MASTER\nboot_id "));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notify_without_a_daemon_saves_a_service_instance_to_that_service_only() {
        let dir = std::env::temp_dir().join(format!("acd-notify-svc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (sock, node, dns, cfg) = (dir.join("ctl.sock"), dir.join("role"), dir.join("role.dns"), dir.join("a.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[bgp]\nlocal_as = 65124\nrouter_id = \"192.0.2.1\"\nlocal_ip = \"192.0.2.1\"\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.2\"\nremote_as = 65000\n\
                 [anycast]\nprefixes = [\"203.0.113.124/32\"]\n[role]\nsource = \"keepalived\"\npath = \"{}\"\n\
                 [[service]]\nname = \"dns\"\nprefixes = [\"203.0.113.53/32\"]\n\
                 [service.role]\nsource = \"keepalived\"\ninstance = \"VI_DNS\"\npath = \"{}\"\n",
                node.display(),
                dns.display()
            ),
        )
        .unwrap();
        assert!(Config::load(&cfg).is_ok(), "{:?}", Config::load(&cfg).err());
        let keys = ClientKeys::read(Some(&cfg));
        let out = notify(&sock, &keys, &words("INSTANCE VI_DNS MASTER 150"), None);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains(&format!("saved MASTER to {} for", dns.display())), "{}", out.stderr);
        assert!(std::fs::read_to_string(&dns).unwrap().starts_with("MASTER\n"));
        assert!(!node.exists(), "VI_DNS's state reached the node's role");
        // The short form with --instance is the same; another instance goes to the node.
        let out = notify(&sock, &keys, &words("BACKUP"), Some("VI_DNS"));
        assert!(out.stderr.contains(&dns.display().to_string()), "{}", out.stderr);
        assert!(std::fs::read_to_string(&dns).unwrap().starts_with("BACKUP\n"));
        let out = notify(&sock, &keys, &words("INSTANCE VI_NODE MASTER 150"), None);
        assert!(out.stderr.contains(&format!("saved MASTER to {} for", node.display())), "{}", out.stderr);
        assert!(std::fs::read_to_string(&dns).unwrap().starts_with("BACKUP\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn notify_takes_a_state_or_keepalived_argument_order() {
        let inst = |n: Option<&str>, s: &str| Event::Instance { name: n.map(str::to_string), state: s.into() };
        assert_eq!(Event::from_words(&words("MASTER")), Ok(inst(None, "MASTER")));
        assert_eq!(Event::from_words(&words("INSTANCE anycast MASTER 150")), Ok(inst(Some("anycast"), "MASTER")));
        assert_eq!(Event::from_words(&words("instance anycast BACKUP")), Ok(inst(Some("anycast"), "BACKUP")));
        assert_eq!(Event::from_words(&words("GROUP g FAULT 0")), Ok(Event::Other));
        let e = Event::from_words(&words("MASTER BACKUP")).unwrap_err();
        assert!(e.contains("INSTANCE NAME STATE [PRIORITY]"), "{e}");
        assert!(Event::from_words(&words("VS a b c d")).is_err());
        // What keepalived's notify FIFO carries.
        assert_eq!(Event::from_fifo_line("INSTANCE \"anycast\" MASTER 150\n"), inst(Some("anycast"), "MASTER"));
        assert_eq!(Event::from_fifo_line("INSTANCE \"two words\" FAULT 0"), inst(Some("two words"), "FAULT"));
        for other in [
            "GROUP \"g\" BACKUP",
            "VS [192.0.2.1]:80 UP",
            "",
            "INSTANCE",
            "INSTANCE \"a\" MASTER 1 2",
            "INSTANCE \"anycast\" MASTER_RX_LOWER_PRI 150",
            "INSTANCE \"anycast\" MASTER_PRIORITY 140",
        ] {
            assert_eq!(Event::from_fifo_line(other), Event::Other, "{other}");
        }
    }

    #[test]
    fn fifo_lines_are_bounded() {
        let long = "x".repeat(MAX_FIFO_LINE + 10);
        let input = format!("a\n{long}\nb\nc");
        let mut r = std::io::BufReader::with_capacity(16, input.as_bytes());
        assert_eq!(read_line(&mut r, MAX_FIFO_LINE).unwrap(), Some(Some(b"a".to_vec())));
        assert_eq!(read_line(&mut r, MAX_FIFO_LINE).unwrap(), Some(None));
        assert_eq!(read_line(&mut r, MAX_FIFO_LINE).unwrap(), Some(Some(b"b".to_vec())));
        assert_eq!(read_line(&mut r, MAX_FIFO_LINE).unwrap(), Some(Some(b"c".to_vec())));
        assert_eq!(read_line(&mut r, MAX_FIFO_LINE).unwrap(), None);
    }

    /// A daemon stand-in: answers every request with ok, recording it.
    fn fake_daemon(sock: &Path, n: usize) -> std::thread::JoinHandle<Vec<String>> {
        let l = std::os::unix::net::UnixListener::bind(sock).unwrap();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..n {
                let (mut s, _) = l.accept().unwrap();
                let mut line = String::new();
                std::io::BufReader::new(&mut s).read_line(&mut line).unwrap();
                seen.push(line.trim().to_string());
                s.write_all(b"{\"ok\":true,\"message\":\"done\"}\n").unwrap();
            }
            seen
        })
    }

    #[test]
    fn notify_fifo_forwards_instance_states_in_order_and_ends_at_eof() {
        let dir = std::env::temp_dir().join(format!("anycastd-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (sock, fifo) = (dir.join("ctl.sock"), dir.join("ka.fifo"));
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let daemon = fake_daemon(&sock, 3);
        let f2 = fifo.clone();
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(&f2).unwrap();
            let lines = "INSTANCE \"anycast\" BACKUP 100\nGROUP \"g\" MASTER\nINSTANCE \"anycast\" MASTER 100\n\
                         INSTANCE \"esc\x1b[31m\" FAULT 0\n";
            w.write_all(lines.as_bytes()).unwrap();
        });
        let mut log = Vec::new();
        let out = notify_fifo(Some(&sock), None, &fifo, &mut log);
        writer.join().unwrap();
        assert_eq!(out, Outcome::default(), "EOF ends it with status 0");
        assert_eq!(
            daemon.join().unwrap(),
            vec![
                r#"{"cmd":"notify","state":"BACKUP","instance":"anycast"}"#,
                r#"{"cmd":"notify","state":"MASTER","instance":"anycast"}"#,
                r#"{"cmd":"notify","state":"FAULT","instance":"esc\u001b[31m"}"#,
            ]
        );
        let log = String::from_utf8(log).unwrap();
        assert_eq!(log.lines().count(), 3, "{log}");
        assert!(!log.contains('\x1b'), "printed unescaped: {log}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
