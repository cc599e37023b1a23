//! Role sources: where "am I the primary?" comes from, each reporting [`RoleUpdate`]s on a
//! tokio channel. `static` is always primary. `keepalived` states arrive through
//! `anycastd notify MASTER|BACKUP|FAULT|STOP` (the control socket) and are persisted atomically
//! to the configured path, which is also watched, so a notify script may write it directly and
//! a restart does not forget. `file` holds `primary` or `standby` and is watched with inotify
//! on its parent directory (atomic rename-replace is seen). `exec` runs a command every
//! interval. Anything unreadable, unknown or missing is `Unknown` — never primary. The parsing
//! is pure; the watching is the tokio edge. Decisions are `decision.rs`'s job.

use super::decision::{Role, RoleUpdate};
use super::probe::{self, ExecOutput, ExecStatus};
use super::state::write_atomic;
use crate::config::RoleSource;
use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;
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

/// Saves a keepalived state word to `path` atomically ("MASTER\n"). Only the words keepalived
/// uses are accepted, so the file never holds something `load_persisted_role` cannot read.
/// Blocking (fsync): off the runtime thread.
pub fn persist_role(path: &Path, state: &str) -> Result<(), String> {
    let word = keepalived_word(state)?;
    write_atomic(path, format!("{word}\n").as_bytes())
}

/// `state` as the word saved for it ("MASTER"), or why it is not one of keepalived's.
pub fn keepalived_word(state: &str) -> Result<String, String> {
    let word = state.trim().to_ascii_uppercase();
    if !matches!(word.as_str(), "MASTER" | "BACKUP" | "FAULT" | "STOP" | "DELETED") {
        return Err(format!("unknown keepalived state {state:?}; expected MASTER, BACKUP, FAULT or STOP"));
    }
    Ok(word)
}

/// The keepalived state saved at `path`: Unknown when missing or unreadable.
pub fn load_persisted_role(path: &Path) -> RoleUpdate {
    match read_bounded(path) {
        Ok(Some(text)) => keepalived_update(&text),
        Ok(None) => RoleUpdate::new(Role::Unknown, "keepalived has not reported a state yet"),
        Err(e) => RoleUpdate::new(Role::Unknown, e),
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

/// Starts the task for `src`, reporting on `tx`; `static` reports Primary once.
pub fn spawn_source(src: &RoleSource, tx: mpsc::Sender<RoleUpdate>) -> JoinHandle<()> {
    match src.clone() {
        RoleSource::Static => tokio::spawn(async move {
            let _ = tx.send(RoleUpdate::new(Role::Primary, "static")).await;
        }),
        RoleSource::Keepalived(ka) => tokio::spawn(watch_file(ka.path, load_persisted_role, tx)),
        RoleSource::File { path } => tokio::spawn(watch_file(path, read_role_file, tx)),
        RoleSource::Exec { command, interval } => tokio::spawn(run_exec(command, interval, tx)),
    }
}

/// Runs `command` every `interval` (timeout: the interval) and reports every result, so the
/// decider sees the source is alive; a silent source goes stale there.
async fn run_exec(command: Vec<String>, interval: Duration, tx: mpsc::Sender<RoleUpdate>) {
    let shown = command.first().cloned().unwrap_or_default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let out = probe::exec(&command, interval).await;
        if tx.send(exec_role(&shown, &out)).await.is_err() {
            return;
        }
    }
}

/// Reports `read(path)` now and whenever the file changes: inotify on the parent directory
/// (close-after-write, rename in or out, delete), plus a re-read every [`RESCAN`].
async fn watch_file(path: PathBuf, read: fn(&Path) -> RoleUpdate, tx: mpsc::Sender<RoleUpdate>) {
    let mut last: Option<RoleUpdate> = None;
    let mut report = |u: RoleUpdate| {
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
        let mut stream = watch_dir(&dir).map_err(|e| tracing::warn!("cannot watch {}: {e}", dir.display())).ok();
        if let (true, u) = report(read_off_thread(read, &path).await) {
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
                        let gone = ev.mask.intersects(inotify::EventMask::IGNORED | inotify::EventMask::DELETE_SELF
                            | inotify::EventMask::MOVE_SELF);
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
            if let (true, u) = report(read_off_thread(read, &path).await) {
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

/// `read(path)` on the blocking pool: file I/O never runs on the runtime thread.
async fn read_off_thread(read: fn(&Path) -> RoleUpdate, path: &Path) -> RoleUpdate {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || read(&p))
        .await
        .unwrap_or_else(|e| RoleUpdate::new(Role::Unknown, format!("cannot read {}: {e}", path.display())))
}

fn watch_dir(dir: &Path) -> std::io::Result<inotify::EventStream<[u8; 1024]>> {
    let inotify = Inotify::init()?;
    let mask = WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF;
    inotify.watches().add(dir, mask)?;
    inotify.into_event_stream([0u8; 1024])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::timeout;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("anycastd-role-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
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
    fn persisted_keepalived_state_survives_and_rejects_garbage() {
        let dir = tmpdir("persist");
        let path = dir.join("sub").join("role");
        assert_eq!(load_persisted_role(&path).role, Role::Unknown);
        persist_role(&path, "MASTER").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "MASTER\n");
        assert_eq!(load_persisted_role(&path), RoleUpdate::new(Role::Primary, "keepalived MASTER"));
        persist_role(&path, "fault").unwrap();
        assert_eq!(load_persisted_role(&path).role, Role::Unknown);
        assert!(persist_role(&path, "PRIMARY").unwrap_err().contains("expected MASTER, BACKUP, FAULT or STOP"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "FAULT\n");
        std::fs::remove_dir_all(&dir).unwrap();
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

    async fn next(rx: &mut mpsc::Receiver<RoleUpdate>) -> RoleUpdate {
        timeout(Duration::from_secs(2), rx.recv()).await.expect("a role update within 2 s").expect("source alive")
    }

    #[tokio::test]
    async fn file_source_sees_rename_replace_plain_writes_and_deletion() {
        let dir = tmpdir("watch");
        let path = dir.join("role");
        let (tx, mut rx) = mpsc::channel(8);
        let task = spawn_source(&RoleSource::File { path: path.clone() }, tx);
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
        let task = spawn_source(&RoleSource::Keepalived(crate::config::KeepalivedRole::unwatched(path.clone())), tx);
        assert_eq!(next(&mut rx).await, RoleUpdate::new(Role::Standby, "keepalived BACKUP"));
        persist_role(&path, "MASTER").unwrap();
        assert_eq!(next(&mut rx).await, RoleUpdate::new(Role::Primary, "keepalived MASTER"));
        task.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn exec_source_reports_every_interval() {
        let command = vec!["/bin/sh".into(), "-c".into(), "echo MASTER".into()];
        let (tx, mut rx) = mpsc::channel(8);
        let task = spawn_source(&RoleSource::Exec { command, interval: Duration::from_millis(50) }, tx);
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
