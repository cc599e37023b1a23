//! Role sources: where "am I the primary?" comes from, each reporting [`SourceReport`]s on a
//! tokio channel. `static` is always primary. `keepalived` states arrive through
//! `anycastd notify MASTER|BACKUP|FAULT|STOP` (the control socket) and are persisted atomically
//! to the configured path, which is also watched, so a notify script may write it directly and
//! a restart does not forget. The saved state records the boot it was reported in and the
//! keepalived process that reported it; [`judge`] (pure) honours it only within that boot and
//! while that process runs — a state from an earlier boot is stale (fail closed), one saved by
//! nobody known gets the `grace` as a deadline in the decider. `file` holds `primary` or
//! `standby` and is watched with inotify on its parent directory (atomic rename-replace is
//! seen). `exec` runs a command every interval. Anything unreadable, unknown or missing is
//! `Unknown` — never primary. The parsing is pure; the watching is the tokio edge. Decisions are
//! `decision.rs`'s job; keepalived's liveness is `engine.rs`'s.

use super::decision::{Role, RoleUpdate};
use super::engine::{self, EngineId, EngineNow};
use super::probe::{self, ExecOutput, ExecStatus};
use super::state::write_atomic;
use crate::config::{EnginePid, RoleSource};
use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest role file read.
const ROLE_FILE_LIMIT: u64 = 4096;
/// Re-read a watched file this often even without events (a safety net), and retry a
/// directory that does not exist yet.
const RESCAN: Duration = Duration::from_secs(5);

/// keepalived's state word (its notify script's `$3`): MASTER is primary, BACKUP standby;
/// FAULT, STOP, DELETED and anything else are not primary and not a healthy standby: Unknown.
pub fn parse_keepalived_state(s: &str) -> Role {
    match s.split_whitespace().next().map(str::to_ascii_uppercase).as_deref() {
        Some("MASTER") => Role::Primary,
        Some("BACKUP") => Role::Standby,
        _ => Role::Unknown,
    }
}

/// The update for a keepalived state word, with "keepalived MASTER" as its detail.
pub fn keepalived_update(s: &str) -> RoleUpdate {
    let word = s.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    let role = parse_keepalived_state(&word);
    match (role, word.as_str()) {
        (Role::Unknown, "FAULT" | "STOP" | "DELETED") => RoleUpdate::new(role, format!("keepalived {word}")),
        (Role::Unknown, "") => RoleUpdate::new(role, "keepalived reported an empty state"),
        (Role::Unknown, _) => {
            let shown: String = word.chars().take(40).collect();
            RoleUpdate::new(role, format!("keepalived state {shown:?} not understood"))
        }
        _ => RoleUpdate::new(role, format!("keepalived {word}")),
    }
}

/// `primary`/`master` → Primary, `standby`/`backup` → Standby, else Unknown (first word,
/// any case).
pub fn parse_role_word(s: &str) -> Role {
    match s.split_whitespace().next().map(str::to_ascii_lowercase).as_deref() {
        Some("primary" | "master") => Role::Primary,
        Some("standby" | "backup") => Role::Standby,
        _ => Role::Unknown,
    }
}

/// Saves a keepalived state word to `path` atomically, with the boot it was reported in (see
/// [`saved_text`]), by nobody known: honoured at a start only for the grace and while
/// keepalived runs. Only the words keepalived uses are accepted, so the file never holds
/// something [`load_saved`] cannot read. Blocking (fsync): off the runtime thread.
pub fn persist_role(path: &Path, state: &str) -> Result<(), String> {
    let word = keepalived_word(state)?;
    write_atomic(path, saved_text(&word, boot_id().ok().as_deref(), None, None).as_bytes())
}

/// `state` as the word saved for it ("MASTER"), or why it is not one of keepalived's.
pub fn keepalived_word(state: &str) -> Result<String, String> {
    let word = state.trim().to_ascii_uppercase();
    if !matches!(word.as_str(), "MASTER" | "BACKUP" | "FAULT" | "STOP" | "DELETED") {
        return Err(format!("unknown keepalived state {state:?}; expected MASTER, BACKUP, FAULT or STOP"));
    }
    Ok(word)
}

/// The test seam for the boot id: a file holding it (a lab simulates a reboot by changing it).
pub const BOOT_ID_ENV: &str = "ANYCASTD_BOOT_ID_FILE";
const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// This boot's id (`/proc/sys/kernel/random/boot_id`, or the file named by
/// [`BOOT_ID_ENV`]). Blocking.
pub fn boot_id() -> Result<String, String> {
    let path = std::env::var_os(BOOT_ID_ENV).map_or_else(|| PathBuf::from(BOOT_ID_FILE), PathBuf::from);
    boot_id_at(&path)
}

/// The boot id held by `path`: 1-64 hex digits and dashes, surrounding whitespace ignored.
pub fn boot_id_at(path: &Path) -> Result<String, String> {
    match read_bounded(path) {
        Ok(Some(t)) => {
            let id = t.trim();
            let ok = !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            if ok {
                Ok(id.to_string())
            } else {
                Err(format!("{} holds no boot id", path.display()))
            }
        }
        Ok(None) => Err(format!("{} is missing", path.display())),
        Err(e) => Err(e),
    }
}

/// A keepalived state as saved: the word, the boot it was reported in, the keepalived VRRP
/// process that reported it and the anycastd that applied it (both when known).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedRole {
    pub word: String,
    pub boot_id: Option<String>,
    pub engine: Option<EngineId>,
    pub daemon: Option<EngineId>,
}

/// The saved form: `MASTER\nboot_id <id>\nengine <pid> <start>\ndaemon <pid> <start>\n`, the
/// last three lines each only when known. A plain `MASTER\n` (anycastd before issue 12) has no
/// boot and is stale.
pub fn saved_text(word: &str, boot: Option<&str>, engine: Option<EngineId>, daemon: Option<EngineId>) -> String {
    let mut t = format!("{word}\n");
    if let Some(b) = boot {
        t.push_str(&format!("boot_id {b}\n"));
    }
    for (key, id) in [("engine", engine), ("daemon", daemon)] {
        if let Some(id) = id {
            t.push_str(&format!("{key} {} {}\n", id.pid, id.start));
        }
    }
    t
}

/// Reads [`saved_text`]'s form; a line it does not know is an error (the state is then
/// Unknown).
pub fn parse_saved(text: &str) -> Result<SavedRole, String> {
    let mut lines = text.lines();
    let word = lines.next().unwrap_or("").trim().to_ascii_uppercase();
    let mut saved = SavedRole { word, ..Default::default() };
    let id = |v: &str| -> Option<EngineId> {
        let (pid, start) = v.split_once(' ')?;
        Some(EngineId { pid: pid.trim().parse().ok()?, start: start.trim().parse().ok()? })
    };
    for (n, line) in lines.enumerate() {
        let line = line.trim();
        let bad = || {
            let shown: String = line.chars().take(40).collect();
            format!("line {} ({shown:?}) not understood", n + 2)
        };
        match line.split_once(' ') {
            _ if line.is_empty() => {}
            Some(("boot_id", v)) => saved.boot_id = Some(v.trim().to_string()),
            Some(("engine", v)) => saved.engine = Some(id(v).ok_or_else(bad)?),
            Some(("daemon", v)) => saved.daemon = Some(id(v).ok_or_else(bad)?),
            _ => return Err(bad()),
        }
    }
    Ok(saved)
}

/// What a start (or a re-read) knows when judging a saved state.
#[derive(Clone, Debug)]
pub struct LoadContext {
    /// This boot's id, or why it cannot be read (then every saved state is stale).
    pub boot_id: Result<String, String>,
    /// keepalived's VRRP process now.
    pub engine: EngineNow,
    /// This anycastd.
    pub me: Option<EngineId>,
    /// When the daemon started, and the grace a state saved by nobody known gets from then.
    pub started: Instant,
    pub grace: Duration,
}

/// A role source's report, with the keepalived process it comes from when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceReport {
    pub update: RoleUpdate,
    pub engine: Option<EngineId>,
}

impl From<RoleUpdate> for SourceReport {
    fn from(update: RoleUpdate) -> Self {
        SourceReport { update, engine: None }
    }
}

/// The rule for a saved keepalived state, pure. A state is honoured only within the boot it
/// was reported in; then only while the keepalived process that reported it still runs
/// (pid and start time), or when this very anycastd applied it; a state saved by nobody known
/// (the CLI, while the daemon was down) only for `grace` after the start and while some
/// keepalived runs. Everything else is Unknown: fail closed, wait for keepalived to report.
pub fn judge(saved: &SavedRole, ctx: &LoadContext) -> SourceReport {
    let word = saved.word.as_str();
    let u = keepalived_update(word);
    if u.role == Role::Unknown {
        return u.into();
    }
    let unknown = |why: String| RoleUpdate::new(Role::Unknown, why).into();
    let waiting = "waiting for keepalived to report";
    match (&ctx.boot_id, &saved.boot_id) {
        (Err(e), _) => {
            return unknown(format!("saved keepalived {word} cannot be checked against this boot ({e}); {waiting}"))
        }
        (Ok(_), None) => {
            return unknown(format!("saved keepalived {word} records no boot (older format): stale; {waiting}"))
        }
        (Ok(now), Some(then)) if now != then => {
            return unknown(format!("saved keepalived {word} is from an earlier boot: stale; {waiting}"))
        }
        _ => {}
    }
    if let Some(rec) = saved.engine {
        return match &ctx.engine {
            EngineNow::Running { id, .. } if *id == rec => SourceReport { update: u, engine: Some(rec) },
            EngineNow::Running { id, .. } => unknown(format!(
                "saved keepalived {word} was reported by keepalived pid {}, since replaced by pid {}; {waiting}",
                rec.pid, id.pid
            )),
            EngineNow::NotRunning(why) => unknown(format!(
                "saved keepalived {word} was reported by keepalived pid {}, which is not running ({why}); {waiting}",
                rec.pid
            )),
            // Not watched: the boot is all that can be checked.
            EngineNow::Off => u.into(),
        };
    }
    if saved.daemon.is_some() && saved.daemon == ctx.me {
        return u.into();
    }
    if let EngineNow::NotRunning(why) = &ctx.engine {
        let hint = "keepalived run with another pid file (-r/--vrrp_pid)? set [role] pidfile to it";
        return unknown(format!("keepalived is not running: {why}; {waiting} ({hint})"));
    }
    let ms = ctx.grace.as_millis();
    let until = ctx.started.checked_add(ctx.grace).unwrap_or(ctx.started);
    let detail =
        format!("saved keepalived {word}, unconfirmed: honoured for {ms} ms after the start unless keepalived reports");
    RoleUpdate { until: Some(until), ..RoleUpdate::new(u.role, detail) }.into()
}

/// The keepalived state saved at `path` as a start or re-read judges it. Blocking.
pub fn load_saved(path: &Path, ctx: &LoadContext) -> SourceReport {
    match read_bounded(path) {
        Ok(Some(text)) => match parse_saved(&text) {
            Ok(saved) => judge(&saved, ctx),
            Err(e) => RoleUpdate::new(Role::Unknown, format!("{}: {e}", path.display())).into(),
        },
        Ok(None) => RoleUpdate::new(Role::Unknown, "keepalived has not reported a state yet").into(),
        Err(e) => RoleUpdate::new(Role::Unknown, e).into(),
    }
}

/// How the keepalived source loads its saved state: [`load_saved`] with a fresh
/// [`LoadContext`] each time.
#[derive(Clone, Debug)]
pub struct KaLoader {
    pub path: PathBuf,
    pub pidfile: EnginePid,
    pub started: Instant,
    pub grace: Duration,
}

impl KaLoader {
    /// Blocking (small file reads).
    pub fn load(&self) -> SourceReport {
        let ctx = LoadContext {
            boot_id: boot_id(),
            engine: engine::probe(&self.pidfile),
            me: engine::me(),
            started: self.started,
            grace: self.grace,
        };
        load_saved(&self.path, &ctx)
    }
}

/// The role held by a `file` source at `path`.
pub fn read_role_file(path: &Path) -> RoleUpdate {
    let p = path.display();
    match read_bounded(path) {
        Ok(Some(text)) => match parse_role_word(&text) {
            Role::Unknown => {
                let shown: String = text.trim().chars().take(40).collect();
                RoleUpdate::new(Role::Unknown, format!("{p} holds {shown:?}, expected primary or standby"))
            }
            role => {
                let word = text.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
                RoleUpdate::new(role, format!("{p}: {word}"))
            }
        },
        Ok(None) => RoleUpdate::new(Role::Unknown, format!("{p} is missing")),
        Err(e) => RoleUpdate::new(Role::Unknown, e),
    }
}

/// The role an `exec` source's run reports: on exit 0 the first word of stdout (no output
/// also means primary, the config's "exit status 0 means primary"); any other ending is
/// Unknown.
pub fn exec_role(cmd: &str, out: &ExecOutput) -> RoleUpdate {
    if out.status != ExecStatus::Exited(0) {
        return RoleUpdate::new(Role::Unknown, format!("{cmd}: {}", out.detail()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(word) = text.split_whitespace().next() else {
        return RoleUpdate::new(Role::Primary, format!("{cmd}: exit 0"));
    };
    match parse_role_word(word) {
        Role::Unknown => {
            let shown: String = word.chars().take(40).collect();
            RoleUpdate::new(Role::Unknown, format!("{cmd} printed {shown:?}, expected primary or standby"))
        }
        role => RoleUpdate::new(role, format!("{cmd}: {}", word.to_ascii_lowercase())),
    }
}

/// The first [`ROLE_FILE_LIMIT`] bytes of `path`; `None` when it does not exist.
fn read_bounded(path: &Path) -> Result<Option<String>, String> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut buf = Vec::new();
    f.take(ROLE_FILE_LIMIT).read_to_end(&mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// Starts the task for `src`, reporting on `tx`; `static` reports Primary once. `started`:
/// when the daemon started (a saved keepalived state's grace runs from then).
pub fn spawn_source(src: &RoleSource, started: Instant, tx: mpsc::Sender<SourceReport>) -> JoinHandle<()> {
    match src.clone() {
        RoleSource::Static => tokio::spawn(async move {
            let _ = tx.send(RoleUpdate::new(Role::Primary, "static").into()).await;
        }),
        RoleSource::Keepalived(ka) => {
            let loader = KaLoader { path: ka.path.clone(), pidfile: ka.pidfile, started, grace: ka.grace };
            tokio::spawn(watch_file(ka.path, Arc::new(move |_: &Path| loader.load()), tx))
        }
        RoleSource::File { path } => tokio::spawn(watch_file(path, Arc::new(|p: &Path| read_role_file(p).into()), tx)),
        RoleSource::Exec { command, interval } => tokio::spawn(run_exec(command, interval, tx)),
        // The controller starts etcd itself (`ha::etcd::Handle`: it needs the fitness and the
        // decision); this arm only keeps the match whole, and fails closed.
        RoleSource::Etcd(_) => tokio::spawn(async move {
            let _ = tx.send(RoleUpdate::new(Role::Unknown, "etcd is started by the HA controller").into()).await;
        }),
    }
}

/// Runs `command` every `interval` (timeout: the interval) and reports every result, so the
/// decider sees the source is alive; a silent source goes stale there.
async fn run_exec(command: Vec<String>, interval: Duration, tx: mpsc::Sender<SourceReport>) {
    let shown = command.first().cloned().unwrap_or_default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let out = probe::exec(&command, interval).await;
        if tx.send(exec_role(&shown, &out).into()).await.is_err() {
            return;
        }
    }
}

/// Reports `read(path)` now and whenever the file changes: inotify on the parent directory
/// (close-after-write, rename in or out, delete), plus a re-read every [`RESCAN`].
async fn watch_file(path: PathBuf, read: ReadFn, tx: mpsc::Sender<SourceReport>) {
    let mut last: Option<SourceReport> = None;
    let mut report = |u: SourceReport| {
        let changed = last.as_ref() != Some(&u);
        if changed {
            last = Some(u.clone());
        }
        (changed, u)
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_os_string());
    loop {
        // Watch first, then read, so no change between the two is missed.
        let mut stream = watch_dirs(std::slice::from_ref(&dir))
            .map_err(|e| tracing::warn!("cannot watch {}: {e}", dir.display()))
            .ok();
        if let (true, u) = report(read_off_thread(&read, &path).await) {
            if tx.send(u).await.is_err() {
                return;
            }
        }
        loop {
            let event = async {
                match stream.as_mut() {
                    Some(s) => s.next().await,
                    None => std::future::pending().await,
                }
            };
            let rewatch = tokio::select! {
                ev = event => match ev {
                    Some(Ok(ev)) => {
                        let gone = watch_gone(ev.mask);
                        let ours = ev.name.is_none() || ev.name.as_deref() == name.as_deref();
                        if !ours && !gone {
                            continue;
                        }
                        gone
                    }
                    // The watch broke: set it up again.
                    _ => true,
                },
                _ = tokio::time::sleep(RESCAN) => stream.is_none(),
            };
            if let (true, u) = report(read_off_thread(&read, &path).await) {
                if tx.send(u).await.is_err() {
                    return;
                }
            }
            if rewatch {
                break;
            }
        }
        if stream.is_some() {
            // Avoid spinning if the directory keeps vanishing.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A role source's read of its file. Blocking.
type ReadFn = Arc<dyn Fn(&Path) -> SourceReport + Send + Sync>;

/// `read(path)` on the blocking pool: file I/O never runs on the runtime thread.
async fn read_off_thread(read: &ReadFn, path: &Path) -> SourceReport {
    let (p, read) = (path.to_path_buf(), read.clone());
    tokio::task::spawn_blocking(move || read(&p))
        .await
        .unwrap_or_else(|e| RoleUpdate::new(Role::Unknown, format!("cannot read {}: {e}", path.display())).into())
}

/// Whether an event of a [`watch_dirs`] stream says the watch itself is gone (the directory
/// was removed or renamed, or the kernel dropped the watch): watch again.
pub(crate) fn watch_gone(mask: inotify::EventMask) -> bool {
    use inotify::EventMask as M;
    mask.intersects(M::IGNORED | M::DELETE_SELF | M::MOVE_SELF)
}

/// An inotify stream on `dirs` (the ones that exist; an error when none does): writes, renames
/// and deletions in them.
pub(crate) fn watch_dirs(dirs: &[PathBuf]) -> std::io::Result<inotify::EventStream<[u8; 1024]>> {
    watch_dirs_with(dirs, WatchMask::empty())
}

/// [`watch_dirs`] with the events of `extra` as well (a `file` check adds creations and
/// attribute changes).
pub(crate) fn watch_dirs_with(dirs: &[PathBuf], extra: WatchMask) -> std::io::Result<inotify::EventStream<[u8; 1024]>> {
    let inotify = Inotify::init()?;
    let mask = WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | extra;
    let mut last_err = None;
    let mut added = 0usize;
    for d in dirs {
        match inotify.watches().add(d, mask) {
            Ok(_) => added += 1,
            Err(e) => last_err = Some(e),
        }
    }
    if added == 0 {
        return Err(
            last_err.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no directory to watch"))
        );
    }
    inotify.into_event_stream([0u8; 1024])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::timeout;

    fn tmpdir(tag: &str) -> crate::test_env::TestDir {
        crate::test_env::fresh_dir("role", tag)
    }

    #[test]
    fn keepalived_states() {
        assert_eq!(parse_keepalived_state("MASTER\n"), Role::Primary);
        assert_eq!(parse_keepalived_state("backup"), Role::Standby);
        for s in ["FAULT", "STOP", "DELETED", "", "MASTERFUL", "  "] {
            assert_eq!(parse_keepalived_state(s), Role::Unknown, "{s:?}");
        }
        assert_eq!(keepalived_update("master"), RoleUpdate::new(Role::Primary, "keepalived MASTER"));
        assert_eq!(keepalived_update("FAULT"), RoleUpdate::new(Role::Unknown, "keepalived FAULT"));
        assert_eq!(keepalived_update("bogus").detail, "keepalived state \"BOGUS\" not understood");
    }

    #[test]
    fn role_words() {
        assert_eq!(parse_role_word("primary\n"), Role::Primary);
        assert_eq!(parse_role_word("  Master extra"), Role::Primary);
        assert_eq!(parse_role_word("standby"), Role::Standby);
        assert_eq!(parse_role_word("BACKUP"), Role::Standby);
        assert_eq!(parse_role_word("primaryish"), Role::Unknown);
        assert_eq!(parse_role_word(""), Role::Unknown);
    }

    #[test]
    fn persisted_keepalived_state_records_its_boot_and_rejects_garbage() {
        let dir = tmpdir("persist");
        let path = dir.join("sub").join("role");
        let boot = boot_id().expect("this machine's boot id");
        let ctx = ctx(Ok(&boot), EngineNow::Off);
        assert_eq!(load_saved(&path, &ctx).update.role, Role::Unknown);
        persist_role(&path, "MASTER").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("MASTER\nboot_id {boot}\n"));
        assert_eq!(load_saved(&path, &ctx).update.role, Role::Primary);
        persist_role(&path, "fault").unwrap();
        assert_eq!(load_saved(&path, &ctx).update.role, Role::Unknown);
        assert!(persist_role(&path, "PRIMARY").unwrap_err().contains("expected MASTER, BACKUP, FAULT or STOP"));
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("FAULT\n"));
        std::fs::write(&path, "MASTER\nboot_id x\nengine 12 abc\n").unwrap();
        let u = load_saved(&path, &ctx).update;
        assert_eq!(u.role, Role::Unknown);
        assert_eq!(u.detail, format!("{}: line 3 (\"engine 12 abc\") not understood", path.display()));
        std::fs::write(&path, "MASTER\nrandom words\n").unwrap();
        assert!(load_saved(&path, &ctx).update.detail.contains("line 2 (\"random words\") not understood"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn boot_ids() {
        let real = boot_id_at(Path::new(BOOT_ID_FILE)).expect("this machine's boot id");
        assert_eq!(real.len(), 36, "{real}");
        let dir = tmpdir("boot");
        let f = dir.join("boot_id");
        std::fs::write(&f, "1111-aaaa\n").unwrap();
        assert_eq!(boot_id_at(&f), Ok("1111-aaaa".to_string()));
        std::fs::write(&f, "not a boot id").unwrap();
        assert_eq!(boot_id_at(&f), Err(format!("{} holds no boot id", f.display())));
        assert_eq!(boot_id_at(&dir.join("none")), Err(format!("{} is missing", dir.join("none").display())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    const T0: Duration = Duration::from_secs(100);
    const A: EngineId = EngineId { pid: 1234, start: 5000 };

    fn ctx(boot: Result<&str, &str>, engine: EngineNow) -> LoadContext {
        LoadContext {
            boot_id: boot.map(str::to_string).map_err(str::to_string),
            engine,
            me: Some(EngineId { pid: 77, start: 1 }),
            started: Instant::now(),
            grace: Duration::from_secs(3),
        }
    }

    fn running(id: EngineId) -> EngineNow {
        EngineNow::Running { id, pidfile: "/run/vrrp.pid".into() }
    }

    fn saved(text: &str) -> SavedRole {
        parse_saved(text).expect("a saved state")
    }

    #[test]
    fn saved_text_reads_back() {
        let me = EngineId { pid: 77, start: 1 };
        let t = saved_text("MASTER", Some("b-1"), Some(A), Some(me));
        assert_eq!(t, "MASTER\nboot_id b-1\nengine 1234 5000\ndaemon 77 1\n");
        let s = saved(&t);
        assert_eq!(
            s,
            SavedRole { word: "MASTER".into(), boot_id: Some("b-1".into()), engine: Some(A), daemon: Some(me) }
        );
        assert_eq!(saved("MASTER\n"), SavedRole { word: "MASTER".into(), ..Default::default() });
    }

    /// Today's plain `MASTER\n` (and any state of another boot) is stale: fail closed.
    #[test]
    fn a_state_without_this_boot_is_stale() {
        let waiting = "waiting for keepalived to report";
        let r = judge(&saved("MASTER\n"), &ctx(Ok("b-2"), running(A)));
        let want = format!("saved keepalived MASTER records no boot (older format): stale; {waiting}");
        assert_eq!(r, RoleUpdate::new(Role::Unknown, want).into());
        let r = judge(&saved("MASTER\nboot_id b-1\nengine 1234 5000\n"), &ctx(Ok("b-2"), running(A)));
        let want = format!("saved keepalived MASTER is from an earlier boot: stale; {waiting}");
        assert_eq!(r, RoleUpdate::new(Role::Unknown, want).into());
        let r = judge(&saved("BACKUP\nboot_id b-1\n"), &ctx(Err("boot id unreadable"), running(A)));
        assert_eq!(r.update.role, Role::Unknown);
        assert!(r.update.detail.contains("cannot be checked against this boot (boot id unreadable)"), "{r:?}");
    }

    #[test]
    fn same_boot_honours_only_the_keepalived_that_reported_it() {
        let text = "MASTER\nboot_id b-1\nengine 1234 5000\n";
        let r = judge(&saved(text), &ctx(Ok("b-1"), running(A)));
        assert_eq!(r, SourceReport { update: RoleUpdate::new(Role::Primary, "keepalived MASTER"), engine: Some(A) });
        // The same pid, reused by another process (another start time).
        let other = EngineId { pid: 1234, start: 9000 };
        let r = judge(&saved(text), &ctx(Ok("b-1"), running(other)));
        assert_eq!(r.update.role, Role::Unknown);
        assert!(r.update.detail.contains("reported by keepalived pid 1234, since replaced by pid 1234"), "{r:?}");
        let r = judge(&saved(text), &ctx(Ok("b-1"), EngineNow::NotRunning("no /run/vrrp.pid".into())));
        assert_eq!(r.update.role, Role::Unknown);
        assert!(r.update.detail.contains("pid 1234, which is not running (no /run/vrrp.pid)"), "{r:?}");
    }

    #[test]
    fn a_state_saved_by_nobody_known_gets_the_grace_only() {
        let c = ctx(Ok("b-1"), running(A));
        let r = judge(&saved("MASTER\nboot_id b-1\n"), &c);
        assert_eq!(r.update.role, Role::Primary);
        assert_eq!(r.update.until, Some(c.started + Duration::from_secs(3)));
        assert_eq!(r.engine, None);
        // keepalived not running at all: not even the grace.
        let r =
            judge(&saved("MASTER\nboot_id b-1\n"), &ctx(Ok("b-1"), EngineNow::NotRunning("no /run/vrrp.pid".into())));
        assert_eq!(r.update.role, Role::Unknown);
        assert!(r.update.detail.starts_with("keepalived is not running: no /run/vrrp.pid; waiting for keepalived to report (keepalived run with another pid file (-r/--vrrp_pid)? set [role] pidfile to it)"), "{r:?}");
        // Applied by this very anycastd (no keepalived pid known then): honoured.
        let r = judge(&saved("MASTER\nboot_id b-1\ndaemon 77 1\n"), &c);
        assert_eq!(r, RoleUpdate::new(Role::Primary, "keepalived MASTER").into());
        // …by an earlier anycastd: the grace.
        let r = judge(&saved("MASTER\nboot_id b-1\ndaemon 76 1\n"), &c);
        assert!(r.update.until.is_some());
    }

    /// Within the grace the saved MASTER is advertised; at its end it is Unknown unless
    /// keepalived spoke meanwhile; a re-read after it is Unknown at once.
    #[test]
    fn the_grace_is_a_deadline_in_the_decider() {
        use super::super::decision::{AdvertState, Decider, Input};
        let c = ctx(Ok("b-1"), running(A));
        let t0 = c.started;
        let saved_master = judge(&saved("MASTER\nboot_id b-1\n"), &c).update;
        let mut d =
            Decider::new(vec!["203.0.113.124/32".parse().unwrap()], crate::config::Standby::Withdraw, vec![], None, t0);
        d.update(t0, Input::Role(saved_master.clone()));
        assert_eq!(d.current().state, AdvertState::Advertising);
        assert_eq!(d.next_deadline(t0), Some(t0 + Duration::from_secs(3)));
        let end = t0 + Duration::from_secs(3);
        let changed = d.update(end, Input::Tick).expect("withdrawn at the grace's end");
        assert_eq!(changed.state, AdvertState::Withdrawn);
        assert!(
            changed.reason.contains("role unknown (not confirmed in time; last said saved keepalived MASTER"),
            "{}",
            changed.reason
        );
        assert_eq!(d.effective_role(end), Role::Unknown);
        // A re-read after the grace: the same deadline, already past.
        d.update(end + T0, Input::Role(saved_master.clone()));
        assert_eq!(d.current().state, AdvertState::Withdrawn);
        // keepalived speaking within the grace keeps it.
        let mut d =
            Decider::new(vec!["203.0.113.124/32".parse().unwrap()], crate::config::Standby::Withdraw, vec![], None, t0);
        d.update(t0, Input::Role(saved_master));
        d.update(t0 + Duration::from_secs(1), Input::Role(keepalived_update("MASTER")));
        assert_eq!(d.update(end, Input::Tick), None);
        assert_eq!(d.current().state, AdvertState::Advertising);
    }

    #[test]
    fn role_file_contents() {
        let dir = tmpdir("file");
        let path = dir.join("role");
        let p = path.display();
        assert_eq!(read_role_file(&path), RoleUpdate::new(Role::Unknown, format!("{p} is missing")));
        std::fs::write(&path, "standby\n").unwrap();
        assert_eq!(read_role_file(&path), RoleUpdate::new(Role::Standby, format!("{p}: standby")));
        std::fs::write(&path, "yes please").unwrap();
        assert_eq!(
            read_role_file(&path),
            RoleUpdate::new(Role::Unknown, format!("{p} holds \"yes please\", expected primary or standby"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    async fn next(rx: &mut mpsc::Receiver<SourceReport>) -> RoleUpdate {
        timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("a role update within 2 s")
            .expect("source alive")
            .update
    }

    #[tokio::test]
    async fn file_source_sees_rename_replace_plain_writes_and_deletion() {
        let dir = tmpdir("watch");
        let path = dir.join("role");
        let (tx, mut rx) = mpsc::channel(8);
        let task = spawn_source(&RoleSource::File { path: path.clone() }, Instant::now(), tx);
        assert_eq!(next(&mut rx).await.role, Role::Unknown);
        // Atomic rename-replace.
        write_atomic(&path, b"primary\n").unwrap();
        let t = std::time::Instant::now();
        assert_eq!(next(&mut rx).await.role, Role::Primary);
        let latency = t.elapsed();
        assert!(latency < Duration::from_millis(500), "rename seen after {latency:?}");
        // Plain write (truncate + write + close).
        std::fs::write(&path, "standby\n").unwrap();
        assert_eq!(next(&mut rx).await.role, Role::Standby);
        // Unrelated files in the directory are ignored.
        std::fs::write(dir.join("other"), "primary").unwrap();
        std::fs::remove_file(&path).unwrap();
        let u = next(&mut rx).await;
        assert_eq!(u, RoleUpdate::new(Role::Unknown, format!("{} is missing", path.display())));
        task.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn keepalived_source_reads_the_persisted_state_at_start() {
        let dir = tmpdir("kaw");
        let path = dir.join("role");
        persist_role(&path, "BACKUP").unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let task = spawn_source(
            &RoleSource::Keepalived(crate::config::KeepalivedRole::unwatched(path.clone())),
            Instant::now(),
            tx,
        );
        // Saved by the CLI (nobody known): honoured for the grace.
        let u = next(&mut rx).await;
        assert_eq!(
            (u.role, u.detail.as_str()),
            (
                Role::Standby,
                "saved keepalived BACKUP, unconfirmed: honoured for 3000 ms after the start unless keepalived reports"
            )
        );
        persist_role(&path, "MASTER").unwrap();
        assert_eq!(next(&mut rx).await.role, Role::Primary);
        task.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn exec_source_reports_every_interval() {
        let command = vec!["/bin/sh".into(), "-c".into(), "echo MASTER".into()];
        let (tx, mut rx) = mpsc::channel(8);
        let task = spawn_source(&RoleSource::Exec { command, interval: Duration::from_millis(50) }, Instant::now(), tx);
        assert_eq!(next(&mut rx).await, RoleUpdate::new(Role::Primary, "/bin/sh: master"));
        assert_eq!(next(&mut rx).await.role, Role::Primary);
        task.abort();
    }

    #[tokio::test]
    async fn exec_role_outcomes() {
        let run = |s: &str| {
            let argv = vec!["/bin/sh".to_string(), "-c".to_string(), s.to_string()];
            async move { exec_role("am-i-primary", &probe::exec(&argv, Duration::from_millis(300)).await) }
        };
        assert_eq!(run("echo standby").await, RoleUpdate::new(Role::Standby, "am-i-primary: standby"));
        assert_eq!(run("true").await, RoleUpdate::new(Role::Primary, "am-i-primary: exit 0"));
        assert_eq!(run("echo primary; exit 2").await, RoleUpdate::new(Role::Unknown, "am-i-primary: exit 2: primary"));
        assert_eq!(run("sleep 5").await.detail, "am-i-primary: timed out after 300 ms");
        assert_eq!(
            run("echo maybe").await,
            RoleUpdate::new(Role::Unknown, "am-i-primary printed \"maybe\", expected primary or standby")
        );
        let missing = exec_role("x", &probe::exec(&["/nonexistent/x".to_string()], Duration::from_millis(100)).await);
        assert_eq!(missing, RoleUpdate::new(Role::Unknown, "x: cannot run /nonexistent/x: No such file or directory"));
    }
}
