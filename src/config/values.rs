//! The value helpers every section's conversion uses: integer ranges, milliseconds, host
//! addresses, absolute paths, enum names (with a did-you-mean), key files (`md5_file`,
//! `bfd.key_file`: the only I/O here), and keys that do not belong to the selected
//! `type`/`source`. Each records a located error through the `Reporter`.

use std::fmt::Display;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{suggest, DiagnosticKind as K, Reporter};
use super::spans;

/// An integer in `lo..=hi`, converted to `T`.
pub fn num<T>(r: &mut Reporter<'_>, path: &str, v: i64, lo: T, hi: T, what: &str) -> Option<T>
where
    T: TryFrom<i64> + Into<i64> + Display + Copy,
{
    match T::try_from(v) {
        Ok(t) if (lo.into()..=hi.into()).contains(&v) => Some(t),
        _ => {
            r.error(path, K::InvalidValue, &format!("{what} must be {lo} to {hi}"));
            None
        }
    }
}

/// Milliseconds in `lo..=hi`, `default` when absent.
pub fn millis(r: &mut Reporter<'_>, path: &str, v: Option<i64>, default: u32, lo: u32, hi: u32) -> Option<Duration> {
    let ms = match v {
        Some(v) => num(r, path, v, lo, hi, "milliseconds")?,
        None => default,
    };
    Some(Duration::from_millis(u64::from(ms)))
}

/// An IP address of a host (not unspecified, multicast or broadcast).
pub fn host_ip(r: &mut Reporter<'_>, path: &str, s: &str) -> Option<IpAddr> {
    let Ok(ip) = s.trim().parse::<IpAddr>() else {
        r.error(path, K::InvalidValue, "not an IPv4 or IPv6 address");
        return None;
    };
    let broadcast = matches!(ip, IpAddr::V4(a) if a.is_broadcast());
    if ip.is_unspecified() || ip.is_multicast() || broadcast {
        r.error(path, K::InvalidValue, "must be a unicast address");
        return None;
    }
    Some(ip)
}

/// An absolute path.
pub fn abs_path(r: &mut Reporter<'_>, path: &str, s: &str) -> Option<PathBuf> {
    let p = PathBuf::from(s);
    if s.is_empty() || !p.is_absolute() {
        r.error(path, K::InvalidValue, "must be an absolute path");
        return None;
    }
    Some(p)
}

/// One of `valid` names; the index.
pub fn choice(r: &mut Reporter<'_>, path: &str, s: &str, valid: &[&str]) -> Option<usize> {
    if let Some(i) = valid.iter().position(|v| *v == s) {
        return Some(i);
    }
    let names: Vec<String> = valid.iter().map(|v| v.to_string()).collect();
    let what = format!("must be one of {}", valid.join(", "));
    match suggest(s, &names) {
        Some(m) => {
            let example = format!("{} = \"{m}\"", spans::last_key(path));
            r.error_ex(path, K::InvalidValue, &what, &example);
        }
        None => r.error(path, K::InvalidValue, &what),
    }
    None
}

/// Records a key that does not apply to the selected variant (`type`/`source`).
pub fn foreign(r: &mut Reporter<'_>, path: &str, present: bool, selector: &str, owner: &str) {
    if present {
        let key = spans::last_key(path);
        let what = format!("`{key}` does not apply to {selector}; remove it");
        r.error_ex(path, K::Conflict, &what, owner);
    }
}

/// How to write a key file that holds exactly the key.
const KEY_FILE_FIX: &str = "write the file with `printf '%s\\n' 'THE-KEY' > FILE` (one line, one LF)";

/// The key-file rule: the file is the key, plus at most one LF ending its single line (what
/// `echo` and editors write). Anything else the kernel would take as part of the key, where the
/// peer's operator typed none: a CR (CR LF line end), spaces or tabs around the key, a second
/// line. Those are refused, never trimmed. The reason names the fault, never the key.
pub fn strip_line_end(bytes: &mut Vec<u8>) -> Result<(), String> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.last() == Some(&b'\r') {
        return Err("the key file ends with CR LF (a DOS line end): the CR would be part of the key".into());
    }
    if bytes.contains(&b'\n') || bytes.contains(&b'\r') {
        return Err("the key file has more than one line (or a line break inside the key)".into());
    }
    let blank = |b: &u8| b.is_ascii_whitespace();
    if bytes.first().is_some_and(blank) {
        return Err("the key file begins with a space or tab: it would be part of the key".into());
    }
    if bytes.last().is_some_and(blank) {
        return Err("the key in the key file ends with a space or tab: it would be part of the key".into());
    }
    Ok(())
}

/// Reads a key file (`md5_file`, `bfd.key_file`, `tcp_ao.key_file`): absolute path, regular
/// file, mode without group/other bits; one LF may end the key, other whitespace around it is
/// refused ([`strip_line_end`]). `key` checks the octets
/// (its refusal is reported as `in the key file: …`, never with the key).
pub fn key_file<T, E: Display>(
    r: &mut Reporter<'_>,
    path: &str,
    s: &str,
    key: impl FnOnce(Vec<u8>) -> Result<T, E>,
) -> Option<T> {
    let file = abs_path(r, path, s)?;
    let fail = |r: &mut Reporter<'_>, what: String| {
        r.error(path, K::KeyFile, &what);
        None
    };
    let meta = match std::fs::metadata(&file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(r, "the key file does not exist".into());
        }
        Err(e) => return fail(r, format!("cannot read the key file: {e}")),
    };
    if !meta.is_file() {
        return fail(r, "the key file is not a regular file".into());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        let what =
            format!("the key file has mode {mode:03o}, open to group or others; run `chmod 600 {}`", file.display());
        return fail(r, what);
    }
    let mut bytes = match std::fs::read(&file) {
        Ok(k) => k,
        Err(e) => return fail(r, format!("cannot read the key file: {e}")),
    };
    if let Err(why) = strip_line_end(&mut bytes) {
        return fail(r, format!("{why}; {KEY_FILE_FIX}"));
    }
    match key(bytes) {
        Ok(k) => Some(k),
        Err(e) => fail(r, format!("in the key file: {e}")),
    }
}
