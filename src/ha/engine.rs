//! The role engine's liveness: keepalived's VRRP process, watched so that its silent death
//! (SIGKILL, OOM) is a role change. keepalived's peer takes MASTER after its advert timeout;
//! this node must stop announcing well before that, so the process is watched with a pidfd
//! (`pidfd_open(2)`, readable when the process ends) on tokio's `AsyncFd`, falling back to a
//! 100 ms `/proc` poll where pidfd is unavailable. The pid file is re-read on inotify events
//! in its directory and every second. A process is known by its pid *and* its start time
//! (`/proc/PID/stat` field 22), so a reused pid is never mistaken for it.
//!
//! What this module decides ([`EngineState`], pure): only the death of the process that
//! reported the role in force drops it (a late "old process died" cannot undo a notify from
//! its successor), and a report from a process already seen dead is not believed. A new
//! keepalived process does not by itself make this node primary: its notify does. It never
//! touches what is advertised directly: it feeds the decider Unknown role updates.
#![allow(unsafe_code)]

use super::decision::{Role, RoleUpdate};
use crate::config::{EnginePid, DEFAULT_KEEPALIVED_PIDFILES};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// Longest pid file or `/proc/PID/stat` read.
const READ_LIMIT: u64 = 4096;
/// Re-read the pid file this often even without inotify events.
const RESCAN: Duration = Duration::from_secs(1);
/// The `/proc` poll period where `pidfd_open(2)` is unavailable.
const POLL: Duration = Duration::from_millis(100);
/// Processes seen dead that are remembered (a late report from one is not believed).
const DEAD_KEPT: usize = 8;
/// Processes watched at once: the one the pid file names and the ones it named before that
/// are still alive (the process that reported the role may be one of those).
const WATCHED_MAX: usize = 4;

/// A process: its pid and start time (clock ticks after boot), which together never repeat
/// within a boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EngineId {
    pub pid: u32,
    pub start: u64,
}

/// What the pid file and `/proc` say about keepalived right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineNow {
    /// `pidfile = ""`: not watched.
    Off,
    /// Why keepalived is taken as not running ("no /run/vrrp.pid").
    NotRunning(String),
    Running {
        id: EngineId,
        pidfile: PathBuf,
    },
}

impl EngineNow {
    pub fn id(&self) -> Option<EngineId> {
        match self {
            EngineNow::Running { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// `state` and start time from the text of `/proc/PID/stat`: the fields after the last `)`
/// (the command name may hold anything, `)` and spaces included) are state (field 3) … start
/// time (field 22).
pub fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// A pid file's pid: the first line, a decimal 1..=i32::MAX.
pub fn parse_pid(text: &str) -> Option<u32> {
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    (1..=i32::MAX as u32).contains(&pid).then_some(pid)
}

pub(crate) fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?.take(READ_LIMIT).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The process `pid` if it is alive (not a zombie). Blocking (a `/proc` read).
pub fn process(pid: u32) -> Option<EngineId> {
    let text = read_bounded(&PathBuf::from(format!("/proc/{pid}/stat"))).ok()?;
    match parse_stat(&text)? {
        ('Z' | 'X' | 'x', _) => None,
        (_, start) => Some(EngineId { pid, start }),
    }
}

/// This process (the anycastd that applied a notify).
pub fn me() -> Option<EngineId> {
    process(std::process::id())
}

/// The pid files `spec` stands for, in the order tried.
pub fn pidfiles(spec: &EnginePid) -> Vec<PathBuf> {
    match spec {
        EnginePid::Default => DEFAULT_KEEPALIVED_PIDFILES.iter().map(PathBuf::from).collect(),
        EnginePid::File(p) => vec![p.clone()],
        EnginePid::Off => Vec::new(),
    }
}

/// What `spec`'s pid file and `/proc` say now. Blocking (small file reads).
pub fn probe(spec: &EnginePid) -> EngineNow {
    let files = pidfiles(spec);
    if files.is_empty() {
        return EngineNow::Off;
    }
    for f in &files {
        let text = match read_bounded(f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return EngineNow::NotRunning(format!("cannot read {}: {e}", f.display())),
        };
        let Some(pid) = parse_pid(&text) else {
            return EngineNow::NotRunning(format!("{} holds no pid", f.display()));
        };
        return match process(pid) {
            Some(id) => EngineNow::Running { id, pidfile: f.clone() },
            None => EngineNow::NotRunning(format!("{} names pid {pid}, which is not running", f.display())),
        };
    }
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    EngineNow::NotRunning(format!("no {}", names.join(" nor ")))
}

/// The role engine as `status` shows it (`role_engine` in the JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineStatus {
    /// keepalived's VRRP process is running.
    pub up: bool,
    pub pid: Option<u32>,
    /// The pid file watched (the one found, or every one tried).
    pub pidfile: String,
    /// "pid 1234 alive (watching /run/vrrp.pid)" or "not running (no /run/vrrp.pid)".
    pub detail: String,
}

/// Who reported the role in force and which keepalived processes are known dead: the pure
/// half of the watch, kept under the controller's lock.
#[derive(Clone, Debug)]
pub struct EngineState {
    spec: EnginePid,
    now: EngineNow,
    /// The process that reported the role in force (`None`: unknown, e.g. a state saved by
    /// the CLI, or a notify while no pid file was readable).
    reporter: Option<EngineId>,
    dead: VecDeque<EngineId>,
}

impl EngineState {
    pub fn new(spec: EnginePid) -> Self {
        EngineState { spec, now: EngineNow::Off, reporter: None, dead: VecDeque::new() }
    }

    /// Whether the watch is on.
    pub fn watched(&self) -> bool {
        self.spec != EnginePid::Off
    }

    /// A role reported by `engine`: as it is, unless that process is already known dead.
    pub fn on_role(&mut self, engine: Option<EngineId>, u: RoleUpdate) -> RoleUpdate {
        if let Some(id) = engine.filter(|id| self.dead.contains(id)) {
            self.reporter = None;
            return RoleUpdate::new(
                Role::Unknown,
                format!("keepalived (pid {}) exited after reporting {}", id.pid, u.detail),
            );
        }
        self.reporter = engine;
        u
    }

    /// What the watch sees now (status only).
    pub fn on_seen(&mut self, now: EngineNow) {
        self.now = now;
    }

    /// Process `id` ended. The role update to apply when it is the one that reported `role`
    /// (or nobody known did) and the role is not Unknown already.
    pub fn on_exit(&mut self, id: EngineId, role: Role) -> Option<RoleUpdate> {
        if !self.dead.contains(&id) {
            if self.dead.len() >= DEAD_KEPT {
                self.dead.pop_front();
            }
            self.dead.push_back(id);
        }
        if self.now.id() == Some(id) {
            self.now = EngineNow::NotRunning(format!("pid {} exited", id.pid));
        }
        let ours = self.reporter.is_none_or(|r| r == id);
        (ours && role != Role::Unknown).then(|| {
            self.reporter = None;
            RoleUpdate::new(Role::Unknown, format!("keepalived (pid {}) exited without reporting a state", id.pid))
        })
    }

    /// `None` when not watched.
    pub fn status(&self) -> Option<EngineStatus> {
        if !self.watched() {
            return None;
        }
        let tried: Vec<String> = pidfiles(&self.spec).iter().map(|p| p.display().to_string()).collect();
        Some(match &self.now {
            EngineNow::Running { id, pidfile } => EngineStatus {
                up: true,
                pid: Some(id.pid),
                pidfile: pidfile.display().to_string(),
                detail: format!("pid {} alive (watching {})", id.pid, pidfile.display()),
            },
            EngineNow::NotRunning(why) => {
                EngineStatus { up: false, pid: None, pidfile: tried.join(", "), detail: format!("not running ({why})") }
            }
            EngineNow::Off => {
                EngineStatus { up: false, pid: None, pidfile: tried.join(", "), detail: "not looked at yet".into() }
            }
        })
    }
}

/// What the watch tells the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    /// The pid file and `/proc` now say this (sent when it changes).
    Seen(EngineNow),
    /// A watched process ended.
    Exited(EngineId),
}

/// `pidfd_open(2)`: a descriptor that becomes readable when `pid` ends.
fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open takes a pid and a flags word and returns a new descriptor or -1; no
    // memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, libc::PIDFD_NONBLOCK) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One watched process: its pidfd, or `None` when polled through `/proc`.
pub(crate) struct Watched {
    pub(crate) id: EngineId,
    fd: Option<AsyncFd<OwnedFd>>,
}

/// Opens the watch on `id`; `None` when it is already gone. Logs once when pidfd is
/// unavailable (`*polling` then stays set), naming `what` is watched ("keepalived").
pub(crate) fn open_watch(id: EngineId, polling: &mut bool, what: &str) -> Option<Watched> {
    if !*polling {
        match pidfd_open(id.pid) {
            Ok(fd) => {
                // Opened after reading its start time: is it still the same process?
                if process(id.pid) != Some(id) {
                    return None;
                }
                // SAFETY (`register_with_interest`): the OwnedFd owns the pidfd, which stays open
                // and the same until the AsyncFd (and the OwnedFd in it) is dropped.
                match unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) } {
                    Ok(fd) => return Some(Watched { id, fd: Some(fd) }),
                    Err(e) => {
                        tracing::warn!("cannot poll a pidfd ({e}): watching {what} through /proc every 100 ms")
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return None,
            Err(e) => tracing::warn!("pidfd_open is unavailable ({e}): watching {what} through /proc every 100 ms"),
        }
        *polling = true;
    }
    (process(id.pid) == Some(id)).then_some(Watched { id, fd: None })
}

/// Resolves when one of `w` has ended: its index.
pub(crate) async fn any_exit(w: &[Watched]) -> usize {
    if w.is_empty() {
        return std::future::pending().await;
    }
    let polled = w.iter().any(|x| x.fd.is_none());
    let fds: Vec<_> = w
        .iter()
        .enumerate()
        .filter_map(|(i, x)| {
            x.fd.as_ref().map(|fd| {
                Box::pin(async move {
                    // Readable once the process has ended (an error: the same, fail closed).
                    let _ = fd.readable().await;
                    i
                })
            })
        })
        .collect();
    let fd_exit = async move {
        if fds.is_empty() {
            std::future::pending().await
        } else {
            futures_util::future::select_all(fds).await.0
        }
    };
    tokio::pin!(fd_exit);
    let mut ticker = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            i = &mut fd_exit => return i,
            _ = ticker.tick(), if polled => {
                let ids: Vec<(usize, EngineId)> =
                    w.iter().enumerate().filter(|(_, x)| x.fd.is_none()).map(|(i, x)| (i, x.id)).collect();
                let gone = tokio::task::spawn_blocking(move || {
                    ids.into_iter().find(|(_, id)| process(id.pid) != Some(*id)).map(|(i, _)| i)
                })
                .await;
                if let Ok(Some(i)) = gone {
                    return i;
                }
            }
        }
    }
}

/// Watches `spec` until the task is aborted, telling `report` what it sees and every death.
pub async fn watch(spec: EnginePid, report: impl Fn(EngineEvent) + Send + Sync + 'static) {
    let files = pidfiles(&spec);
    if files.is_empty() {
        return;
    }
    let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    dirs.dedup();
    let names: Vec<std::ffi::OsString> = files.iter().filter_map(|f| f.file_name().map(|n| n.to_os_string())).collect();
    let mut polling = false;
    let mut watched: Vec<Watched> = Vec::new();
    let mut last: Option<EngineNow> = None;
    // Watch first, then read, so a pid file written in between is not missed.
    let mut events = super::role::watch_dirs(&dirs).ok();
    loop {
        let s = spec.clone();
        let seen = tokio::task::spawn_blocking(move || probe(&s))
            .await
            .unwrap_or_else(|e| EngineNow::NotRunning(format!("cannot read the pid file: {e}")));
        if let EngineNow::Running { id, .. } = &seen {
            if !watched.iter().any(|w| w.id == *id) {
                match open_watch(*id, &mut polling, "keepalived") {
                    Some(w) => {
                        if watched.len() >= WATCHED_MAX {
                            watched.remove(0);
                        }
                        watched.push(w);
                    }
                    // Gone between the read and the open.
                    None => report(EngineEvent::Exited(*id)),
                }
            }
        }
        if last.as_ref() != Some(&seen) {
            last = Some(seen.clone());
            report(EngineEvent::Seen(seen));
        }
        // Until a watched process ends, a pid file changes, or the rescan is due; events for
        // other files in the directories (/run is busy) do not re-read anything.
        let rescan = tokio::time::Instant::now() + RESCAN;
        let exited = loop {
            let event = async {
                match events.as_mut() {
                    Some(s) => {
                        use futures_util::StreamExt;
                        s.next().await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                i = any_exit(&watched) => break Some(i),
                ev = event => match ev {
                    Some(Ok(ev)) if ev.mask.contains(inotify::EventMask::IGNORED) => {
                        // A directory watch is gone (the directory was removed): set them up again.
                        events = super::role::watch_dirs(&dirs).ok();
                        break None;
                    }
                    Some(Ok(ev)) if ev.name.as_ref().is_some_and(|n| !names.contains(n)) => continue,
                    Some(Ok(_)) => break None,
                    // The stream broke: the rescan sets it up again.
                    _ => {
                        events = None;
                        break None;
                    }
                },
                _ = tokio::time::sleep_until(rescan) => {
                    if events.is_none() {
                        events = super::role::watch_dirs(&dirs).ok();
                    }
                    break None;
                }
            }
        };
        if let Some(i) = exited {
            let w = watched.remove(i);
            report(EngineEvent::Exited(w.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_pid_parsing() {
        let stat = "1234 (keep alived) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(stat), Some(('S', 98765)));
        assert_eq!(parse_stat("1 (init) S 0"), None);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_pid("1234\n"), Some(1234));
        assert_eq!(parse_pid(" 77 \nrest"), Some(77));
        for bad in ["", "0", "-1", "abc", "4294967295", "\n12"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
        let me = me().expect("our own /proc entry");
        assert_eq!(me.pid, std::process::id());
        assert_eq!(process(me.pid), Some(me));
    }

    #[test]
    fn only_the_reporters_death_drops_the_role() {
        let (a, b) = (EngineId { pid: 10, start: 1 }, EngineId { pid: 20, start: 2 });
        let mut s = EngineState::new(EnginePid::Default);
        let master = RoleUpdate::new(Role::Primary, "keepalived MASTER");
        assert_eq!(s.on_role(Some(a), master.clone()), master);
        // B reports before A's death is seen: A's death does not undo it.
        assert_eq!(s.on_role(Some(b), master.clone()), master);
        assert_eq!(s.on_exit(a, Role::Primary), None);
        // A late report carrying A is not believed.
        assert_eq!(s.on_role(Some(a), master.clone()).role, Role::Unknown);
        assert_eq!(s.on_role(Some(b), master.clone()), master);
        let u = s.on_exit(b, Role::Primary).expect("the reporter died");
        assert_eq!(u, RoleUpdate::new(Role::Unknown, "keepalived (pid 20) exited without reporting a state"));
        // Nothing to drop when the role is Unknown already.
        assert_eq!(s.on_exit(EngineId { pid: 30, start: 3 }, Role::Unknown), None);
        // A role from nobody known (saved by the CLI) is dropped by the watched process's death.
        let mut s = EngineState::new(EnginePid::Default);
        s.on_role(None, master);
        assert!(s.on_exit(a, Role::Primary).is_some());
    }

    fn tmpdir(tag: &str) -> crate::test_env::TestDir {
        crate::test_env::fresh_dir("engine", tag)
    }

    #[test]
    fn probe_names_what_it_found() {
        let dir = tmpdir("probe");
        let f = dir.join("vrrp.pid");
        let spec = EnginePid::File(f.clone());
        assert_eq!(probe(&spec), EngineNow::NotRunning(format!("no {}", f.display())));
        std::fs::write(&f, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(probe(&spec), EngineNow::Running { id: me().unwrap(), pidfile: f.clone() });
        std::fs::write(&f, "junk").unwrap();
        assert_eq!(probe(&spec), EngineNow::NotRunning(format!("{} holds no pid", f.display())));
        assert_eq!(probe(&EnginePid::Off), EngineNow::Off);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A `sleep` named in a pid file — not our child, like keepalived: a shell's — killed by
    /// its PID: the watch reports its death within 50 ms.
    #[tokio::test]
    async fn the_watch_sees_a_killed_process_within_50_ms() {
        let dir = tmpdir("pidfd");
        let f = dir.join("vrrp.pid");
        let script = format!("sleep 30 & echo $! > {}.tmp && mv {0}.tmp {0}; wait", f.display());
        let mut child = std::process::Command::new("sh").args(["-c", &script]).spawn().expect("spawn sh");
        let end = std::time::Instant::now() + Duration::from_secs(2);
        let pid = loop {
            if let Some(p) = std::fs::read_to_string(&f).ok().as_deref().and_then(parse_pid) {
                break p;
            }
            assert!(std::time::Instant::now() < end, "no pid file from the shell");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_ne!(pid, child.id(), "the watched process is not our child");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(watch(EnginePid::File(f.clone()), move |e| {
            let _ = tx.send((e, std::time::Instant::now()));
        }));
        async fn next(
            rx: &mut tokio::sync::mpsc::UnboundedReceiver<(EngineEvent, std::time::Instant)>,
        ) -> (EngineEvent, std::time::Instant) {
            tokio::time::timeout(Duration::from_secs(2), rx.recv())
                .await
                .expect("an event within 2 s")
                .expect("watch alive")
        }
        let (seen, _) = next(&mut rx).await;
        let id = match seen {
            EngineEvent::Seen(EngineNow::Running { id, .. }) => id,
            other => panic!("expected the sleep child running, got {other:?}"),
        };
        assert_eq!(id.pid, pid);
        // Let the watch reach its wait.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let killed = std::time::Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
        let (ev, at) = next(&mut rx).await;
        assert_eq!(ev, EngineEvent::Exited(id));
        let took = at.duration_since(killed);
        assert!(took < Duration::from_millis(50), "death seen after {took:?}");
        let _ = child.wait();
        let (ev, _) = next(&mut rx).await;
        assert_eq!(
            ev,
            EngineEvent::Seen(EngineNow::NotRunning(format!("{} names pid {pid}, which is not running", f.display())))
        );
        // A new process in the pid file is seen through inotify, before the 1 s rescan.
        let mut second = std::process::Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let written = std::time::Instant::now();
        crate::ha::state::write_atomic(&f, format!("{}\n", second.id()).as_bytes()).unwrap();
        let (ev, at) = next(&mut rx).await;
        assert_eq!(ev, EngineEvent::Seen(EngineNow::Running { id: process(second.id()).unwrap(), pidfile: f.clone() }));
        let took = at.duration_since(written);
        assert!(took < Duration::from_millis(500), "new pid seen after {took:?}");
        let _ = second.kill();
        let _ = second.wait();
        task.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
