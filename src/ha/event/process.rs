//! `process` checks: a pidfile or a name pattern, like `pgrep`. The probe reads the pidfile
//! (bounded) or scans `/proc` (at most [`SCAN_LIMIT`] entries, stopping at the first match) and
//! says whether that process runs (a zombie does not). The watcher resolves the process the same
//! way and holds a pidfd on it (`engine::open_watch`; a `/proc` poll where pidfd is missing): its
//! exit is a [`Wake`] with a failed outcome at once, then the target is resolved again (a
//! restarted service has a new pid). A pidfile is also watched with inotify on its directory: a
//! rewrite wakes the check and is resolved again. While no process is found the watcher looks
//! again every [`RETRY`] (and on pidfile events), never more often.
//!
//! What a process supplies (its name, its command line) is escaped before it reaches a detail.

use super::{dir_and_name, said, send, Wake, Watch, QUEUE};
use crate::config::ProcessTarget;
use crate::ha::engine::{self, EngineId};
use crate::wire::text::escape_at_most;
use futures_util::StreamExt;
use inotify::EventMask;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// Most `/proc` entries looked at per scan.
pub const SCAN_LIMIT: usize = 65536;
/// How long to wait before resolving again while no process is found (or the pidfile's
/// directory cannot be watched).
const RETRY: Duration = Duration::from_secs(1);
/// Longest process name or command line kept in a detail, in characters.
const NAME_CHARS: usize = 80;

/// A process found: who it is and its name (escaped).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Found {
    id: EngineId,
    name: String,
}

/// Whether the process runs.
pub async fn probe(target: &ProcessTarget) -> (bool, String) {
    match resolve_async(target).await {
        Ok(f) => (true, format!("pid {} ({}) runs", f.id.pid, f.name)),
        Err(why) => (false, why),
    }
}

/// [`resolve`] from async code: a pidfile's few small reads (a pidfile, `/proc/PID/stat`, all
/// in memory) run inline; a pattern's scan of `/proc` on the blocking pool. Inline, an idle
/// node's pidfile checks cost no thread hand-off (and no blocking-pool threads) every poll.
async fn resolve_async(target: &ProcessTarget) -> Result<Found, String> {
    match target {
        ProcessTarget::Pidfile(_) => resolve(target),
        ProcessTarget::Pattern { .. } => {
            let t = target.clone();
            tokio::task::spawn_blocking(move || resolve(&t))
                .await
                .unwrap_or_else(|e| Err(format!("cannot look for the process: {e}")))
        }
    }
}

/// The process `target` names now, or why there is none. Blocking (small `/proc` reads).
fn resolve(target: &ProcessTarget) -> Result<Found, String> {
    match target {
        ProcessTarget::Pidfile(path) => from_pidfile(path),
        ProcessTarget::Pattern { regex, full } => scan(regex.regex(), *full).ok_or_else(|| {
            let what = if *full { "command line" } else { "name" };
            format!("no process {what} matches {}", escape_at_most(regex.as_str().as_bytes(), NAME_CHARS))
        }),
    }
}

fn from_pidfile(path: &Path) -> Result<Found, String> {
    let p = path.display();
    let text = engine::read_bounded(path).map_err(|e| format!("cannot read pidfile {p}: {}", io_msg(&e)))?;
    let pid = engine::parse_pid(&text).ok_or_else(|| format!("pidfile {p} holds no pid"))?;
    let id = engine::process(pid).ok_or_else(|| format!("pid {pid} from {p} is gone"))?;
    Ok(Found { id, name: comm(pid) })
}

/// An io::Error as its errno's description ("No such file or directory").
fn io_msg(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// The escaped name of `pid` (`/proc/PID/comm`), "?" when unreadable.
fn comm(pid: u32) -> String {
    match engine::read_bounded(Path::new(&format!("/proc/{pid}/comm"))) {
        Ok(s) => escape_at_most(s.trim_end_matches('\n').as_bytes(), NAME_CHARS),
        Err(_) => "?".into(),
    }
}

/// What a pattern is matched against: the name, or (`full`) the command line with its NULs as
/// spaces (the name when it has none, like a kernel thread's).
fn subject(pid: u32, full: bool) -> Option<String> {
    if full {
        let cmdline = engine::read_bounded(Path::new(&format!("/proc/{pid}/cmdline"))).ok()?;
        let line = cmdline.trim_end_matches('\0').replace('\0', " ");
        if !line.is_empty() {
            return Some(line);
        }
    }
    let name = engine::read_bounded(Path::new(&format!("/proc/{pid}/comm"))).ok()?;
    Some(name.trim_end_matches('\n').to_string())
}

/// The first live process (not anycastd itself, not a zombie) whose name or command line
/// matches `re`, looking at most at [`SCAN_LIMIT`] entries of `/proc`.
fn scan(re: &regex_lite::Regex, full: bool) -> Option<Found> {
    let me = std::process::id();
    let dir = std::fs::read_dir("/proc").ok()?;
    dir.take(SCAN_LIMIT)
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .find_map(|pid| {
            let s = subject(pid, full)?;
            if !re.is_match(&s) {
                return None;
            }
            let id = engine::process(pid)?;
            Some(Found { id, name: comm(pid) })
        })
}

/// The watcher of `target`. Must be called inside a tokio runtime.
pub fn watch(target: &ProcessTarget) -> Option<Watch> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = tokio::spawn(run(target.clone(), tx));
    Some(Watch::new(rx, task))
}

/// What ended a wait.
enum Woke {
    /// The watched process exited.
    Exited,
    /// The pidfile changed (or the directory watch broke: `lost`).
    Pidfile { lost: bool },
    /// The retry is due.
    Retry,
}

type Events = inotify::EventStream<[u8; 1024]>;

/// The next event about the pidfile `name` (`lost`: the watch is gone); pending without a watch.
async fn pidfile_event(events: &mut Option<Events>, name: Option<&OsString>) -> bool {
    let Some(stream) = events.as_mut() else { return std::future::pending().await };
    loop {
        match stream.next().await {
            Some(Ok(ev)) => {
                let lost = crate::ha::role::watch_gone(ev.mask);
                if lost || ev.mask.contains(EventMask::Q_OVERFLOW) || (ev.name.is_some() && ev.name.as_ref() == name) {
                    return lost;
                }
            }
            _ => return true,
        }
    }
}

async fn run(target: ProcessTarget, tx: mpsc::Sender<Wake>) {
    let pidfile = match &target {
        ProcessTarget::Pidfile(p) => Some(dir_and_name(p)),
        ProcessTarget::Pattern { .. } => None,
    };
    let mut events: Option<Events> = None;
    let mut polling = false;
    let mut watched: Option<(engine::Watched, String)> = None;
    // The first look: the check runs its probe once the watch is in place.
    let mut wake_now = true;
    // A pattern's process that exited: failed only if no other process matches now.
    let mut exited: Option<(u32, String)> = None;
    loop {
        if let Some((dir, _)) = &pidfile {
            if events.is_none() {
                // Watched before the pidfile is read, so a rewrite in between is not missed.
                events = watch_dir(dir);
            }
        }
        let found = resolve_async(&target).await.ok();
        if let Some((pid, name)) = exited.take() {
            if found.is_none() && !fail(&tx, pid, &name).await {
                return;
            }
        }
        if found.as_ref().map(|f| f.id) != watched.as_ref().map(|(w, _)| w.id) {
            // A new process (or none): the check looks again at once.
            watched = found.and_then(|f| engine::open_watch(f.id, &mut polling, "process checks").map(|w| (w, f.name)));
            wake_now = true;
        }
        if wake_now && !send(&tx, None).await {
            return;
        }
        wake_now = false;
        let retry = watched.is_none() || (pidfile.is_some() && events.is_none());
        let woke = tokio::select! {
            _ = engine::any_exit(watched.as_ref().map(|(w, _)| std::slice::from_ref(w)).unwrap_or_default()) => Woke::Exited,
            lost = pidfile_event(&mut events, pidfile.as_ref().and_then(|(_, n)| n.as_ref())) => Woke::Pidfile { lost },
            _ = tokio::time::sleep(RETRY), if retry => Woke::Retry,
        };
        match woke {
            Woke::Exited => {
                let Some((w, name)) = watched.take() else { continue };
                if pidfile.is_some() {
                    // The pidfile's process is gone: that is the failure, at once.
                    if !fail(&tx, w.id.pid, &name).await {
                        return;
                    }
                } else {
                    exited = Some((w.id.pid, name));
                }
            }
            Woke::Pidfile { lost } => {
                wake_now = true;
                if lost {
                    events = None;
                }
            }
            Woke::Retry => {}
        }
    }
}

/// inotify on the pidfile's directory; `None` while it cannot be watched.
fn watch_dir(dir: &Path) -> Option<Events> {
    crate::ha::role::watch_dirs(std::slice::from_ref(&dir.to_path_buf())).ok()
}

/// Sends the failure "pid N (name) exited"; `false` when the check is gone.
async fn fail(tx: &mpsc::Sender<Wake>, pid: u32, name: &str) -> bool {
    send(tx, Some(said(false, format!("pid {pid} ({name}) exited")))).await
}
