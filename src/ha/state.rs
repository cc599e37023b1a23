//! What the HA controller keeps on disk so a restart does not forget it: the operator's drain
//! (`state_dir/drain`) and, through `role.rs`, the last keepalived state. Files are replaced
//! atomically (write a temporary file in the same directory, fsync, rename, fsync the
//! directory), so a crash leaves either the old or the new content, never half of one.
//! Conversions between wall-clock text and `Instant`s are pure and take both clocks as
//! arguments.

use super::decision::Drain;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Mode of the files written here: neither holds a secret, and keepalived scripts may read them.
const FILE_MODE: u32 = 0o644;
/// Fresh temporary names tried before giving up (each clash is a file someone else put there).
const TMP_ATTEMPTS: u32 = 8;
/// A temporary file older than this is a leftover from a crash and is removed.
const LEFTOVER_AGE: Duration = Duration::from_secs(60);

/// A temporary name next to `name` that another local user cannot guess: the pid, the time and
/// a per-process random key (std's `RandomState`).
fn tmp_name(name: &str, attempt: u32) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    format!(".{name}.tmp.{}.{:016x}", std::process::id(), h.finish())
}

/// Removes `.{name}.tmp.*` entries left in `dir` by a crash (older than [`LEFTOVER_AGE`]).
/// `remove_file` unlinks a symlink itself, never its target.
fn remove_leftovers(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp.");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten().take(1024) {
        let stale = e.file_name().to_string_lossy().starts_with(&prefix)
            && std::fs::symlink_metadata(e.path())
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > LEFTOVER_AGE));
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Creates the first of `names` that does not exist yet, exclusively and without following a
/// symlink (`O_CREAT | O_EXCL | O_NOFOLLOW`), mode [`FILE_MODE`].
fn create_tmp(names: impl Iterator<Item = PathBuf>) -> Result<(std::fs::File, PathBuf), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tried = 0;
    for tmp in names {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true).mode(FILE_MODE).custom_flags(libc::O_NOFOLLOW);
        match o.open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tried += 1,
            Err(e) => return Err(format!("cannot create {}: {e}", tmp.display())),
        }
    }
    Err(format!("{tried} temporary names already taken"))
}

/// Replaces `path` with `bytes` atomically, creating its directory if needed. The temporary
/// file is created exclusively (`O_EXCL | O_NOFOLLOW`, mode 0644) under an unpredictable name, so
/// a symlink or file planted where it would go is never followed, truncated or written.
/// Blocking (two fsyncs): call it off the runtime thread.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let shown = path.display();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(format!("cannot write {shown}: not a file path"));
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
    remove_leftovers(dir, &name);
    let names = (0..TMP_ATTEMPTS).map(|a| dir.join(tmp_name(&name, a)));
    let (f, tmp) = create_tmp(names).map_err(|e| format!("cannot write {shown}: {e}"))?;
    let tmp_ref = &tmp;
    let write = move || -> std::io::Result<()> {
        let (mut f, tmp) = (f, tmp_ref);
        f.write_all(bytes)?;
        f.sync_all()?;
        // Closed before the rename: a watcher of the directory (the `file` role source) sees
        // the close under the temporary name and the new content under the real one, never a
        // second close-after-write of `path` that could race a later plain write to it.
        drop(f);
        std::fs::rename(tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {shown}: {e}")
    })
}

/// The drain file's text for `drain`; `None` means "no file" (not drained).
pub fn drain_text(drain: Drain, now: Instant, wall: SystemTime) -> Option<String> {
    match drain {
        Drain::None => None,
        Drain::Drained => Some("drained\n".into()),
        Drain::Draining { until } => {
            let left = until.saturating_duration_since(now);
            let end = wall.checked_add(left).unwrap_or(wall);
            let secs = end.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            Some(format!("draining until {secs}\n"))
        }
    }
}

/// Parses the drain file. A drain whose end has passed is `Drained`. Text that is neither
/// form is an error; the caller should stay drained (fail closed) and say so.
pub fn parse_drain(text: &str, now: Instant, wall: SystemTime) -> Result<Drain, String> {
    let t = text.trim();
    if t == "drained" {
        return Ok(Drain::Drained);
    }
    let Some(secs) = t.strip_prefix("draining until ").and_then(|s| s.trim().parse::<u64>().ok()) else {
        return Err(format!("expected \"drained\" or \"draining until <unix seconds>\", found {t:?}"));
    };
    let end = UNIX_EPOCH.checked_add(Duration::from_secs(secs)).unwrap_or(UNIX_EPOCH);
    match end.duration_since(wall) {
        Ok(left) if !left.is_zero() => Ok(Drain::Draining { until: now.checked_add(left).unwrap_or(now) }),
        _ => Ok(Drain::Drained),
    }
}

/// Saves `drain` to `path` (removes the file when not drained).
pub fn save_drain(path: &Path, drain: Drain, now: Instant, wall: SystemTime) -> Result<(), String> {
    match drain_text(drain, now, wall) {
        Some(text) => write_atomic(path, text.as_bytes()),
        None => match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
        },
    }
}

/// Loads the drain saved at `path`: no file is `Drain::None`; an unreadable or garbled file is
/// `Drained` with the reason as `Err` for the log (fail closed: the operator asked for a drain).
/// A drain, unlike a saved keepalived role (`role::judge`), survives a reboot on purpose: it
/// carries no boot id, because a node drained for maintenance must stay out after the reboot
/// the maintenance needed, until the operator undrains it.
pub fn load_drain(path: &Path, now: Instant, wall: SystemTime) -> (Drain, Option<String>) {
    match std::fs::read_to_string(path) {
        Ok(text) => match parse_drain(&text, now, wall) {
            Ok(d) => (d, None),
            Err(e) => (Drain::Drained, Some(format!("{}: {e}; staying drained", path.display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Drain::None, None),
        Err(e) => (Drain::Drained, Some(format!("cannot read {}: {e}; staying drained", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("anycastd-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn drain_text_round_trips_through_wall_clock() {
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let d = Drain::Draining { until: now + Duration::from_secs(30) };
        let text = drain_text(d, now, wall).unwrap();
        assert_eq!(text, "draining until 1700000030\n");
        assert_eq!(parse_drain(&text, now, wall), Ok(d));
        // Read back 10 s later (a restart): 20 s left.
        let later = wall + Duration::from_secs(10);
        assert_eq!(parse_drain(&text, now, later), Ok(Drain::Draining { until: now + Duration::from_secs(20) }));
        // After the end: drained.
        assert_eq!(parse_drain(&text, now, wall + Duration::from_secs(31)), Ok(Drain::Drained));
        assert_eq!(parse_drain("drained\n", now, wall), Ok(Drain::Drained));
        assert_eq!(drain_text(Drain::None, now, wall), None);
        assert!(parse_drain("maybe", now, wall).unwrap_err().contains("found \"maybe\""));
    }

    #[test]
    fn save_and_load_drain_files() {
        let dir = tmpdir("drain");
        let path = dir.join("drain");
        let (now, wall) = (Instant::now(), SystemTime::now());
        assert_eq!(load_drain(&path, now, wall), (Drain::None, None));
        save_drain(&path, Drain::Drained, now, wall).unwrap();
        assert_eq!(load_drain(&path, now, wall), (Drain::Drained, None));
        save_drain(&path, Drain::None, now, wall).unwrap();
        assert!(!path.exists());
        std::fs::write(&path, "garbage").unwrap();
        let (d, why) = load_drain(&path, now, wall);
        assert_eq!(d, Drain::Drained);
        assert!(why.unwrap().ends_with("staying drained"));
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("drain")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_atomic_never_follows_a_planted_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmpdir("symlink");
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let path = dir.join("role");
        // A symlink at the name the old code used (`.role.tmp.<pid>`) must not be followed.
        let planted = dir.join(format!(".role.tmp.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_atomic(&path, b"MASTER\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n", "the symlink was followed");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "MASTER\n");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, FILE_MODE);
        // A name that clashes with a planted symlink is skipped, the symlink left alone.
        let free = dir.join(".role.tmp.free");
        let (f, got) = create_tmp([planted.clone(), free.clone()].into_iter()).unwrap();
        drop(f);
        assert_eq!(got, free);
        assert!(std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink());
        assert!(create_tmp([planted.clone()].into_iter()).unwrap_err().contains("1 temporary names already taken"));
        std::fs::remove_file(&free).unwrap();
        // A crash's leftover (old enough) is cleaned up; the planted symlink is fresh, so kept.
        let leftover = dir.join(".role.tmp.1.deadbeef");
        std::fs::write(&leftover, "half").unwrap();
        let old = SystemTime::now() - 2 * LEFTOVER_AGE;
        std::fs::File::options().write(true).open(&leftover).unwrap().set_modified(old).unwrap();
        write_atomic(&path, b"BACKUP\n").unwrap();
        assert!(!leftover.exists(), "a crash's leftover temporary file stayed");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "BACKUP\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
