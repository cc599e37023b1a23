//! The file edits behind `anycastd bgp set` / `bgp unset`: change only the keys the flags name
//! (with `toml_edit`, so every other section, comment and the key order stay as written),
//! list each change for the operator, validate the result with `Config::from_str` before
//! handing it back, and write it atomically (`write_atomic`). Knows nothing of the CLI parser.
//!
//! Flag mapping: `local_as`, `local_router_id` (→ `router_id`) and `local_ip` set `[bgp]` keys;
//! `anycast_ip` replaces `anycast.prefixes`; `remote_ip` (repeatable) makes the neighbour list
//! exactly those addresses, keeping the table (extra keys, comments) of each address that
//! stays and appending new ones; a new neighbour inherits `remote_as`, `md5` or `md5_file`
//! when every existing neighbour has the same value; `remote_as`, `md5` and `md5_file` then
//! apply to every neighbour (`md5` removes `md5_file` and the other way round), and so do
//! `bfd_interval_ms` / `bfd_multiplier`, which set `interval_ms` / `multiplier` in each
//! neighbour's `bfd` table (added as `bfd = { … }` where there is none; other `bfd` keys kept).

use std::collections::HashSet;
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::num::NonZeroU8;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::error::{ConfigError, Diagnostic, DiagnosticKind};
use super::{spans, Config};
use crate::types::{Asn, RouterId};

/// Keys whose values are secrets wherever they appear: the TCP-MD5 key (`md5`) and a
/// neighbor's BFD key (`bfd.key`); `md5_file` and `key_file` are paths, not secrets. A file
/// holding one is written 0600 and `bgp show` redacts them.
pub const SECRET_KEYS: &[&str] = &["md5", "key"];

/// The flags of `anycastd bgp set`. `Debug` redacts `md5`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BgpSet {
    pub local_ip: Option<IpAddr>,
    /// Parse CLI values with [`parse_anycast_ip`] (a bare address is a /32 or /128).
    pub anycast_ip: Vec<IpNet>,
    pub remote_ip: Vec<IpAddr>,
    pub local_as: Option<Asn>,
    pub remote_as: Option<Asn>,
    pub local_router_id: Option<RouterId>,
    pub md5: Option<String>,
    /// Must be absolute; the file is read (and its mode checked) during validation.
    pub md5_file: Option<PathBuf>,
    /// `bfd.interval_ms` of every neighbor; the range is checked when the result is validated.
    pub bfd_interval_ms: Option<u16>,
    /// `bfd.multiplier` of every neighbor.
    pub bfd_multiplier: Option<NonZeroU8>,
}

impl fmt::Debug for BgpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BgpSet")
            .field("local_ip", &self.local_ip)
            .field("anycast_ip", &self.anycast_ip)
            .field("remote_ip", &self.remote_ip)
            .field("local_as", &self.local_as)
            .field("remote_as", &self.remote_as)
            .field("local_router_id", &self.local_router_id)
            .field("md5", &self.md5.as_ref().map(|_| "<redacted>"))
            .field("md5_file", &self.md5_file)
            .field("bfd_interval_ms", &self.bfd_interval_ms)
            .field("bfd_multiplier", &self.bfd_multiplier)
            .finish()
    }
}

/// The result of an edit: the whole new file and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditOutcome {
    /// The complete new file text (equal to the input when nothing changed).
    pub text: String,
    /// One line per change, e.g. `bgp.local_as: 65000 -> 65124`; never shows a key.
    pub changes: Vec<String>,
    /// False when the flags were already in effect; then there is nothing to write.
    pub changed: bool,
    /// The text holds an inline key ([`SECRET_KEYS`]): write it with mode 0600.
    pub holds_key: bool,
}

/// Parses an `--anycast_ip` value: a prefix, or a bare address meaning /32 or /128.
pub fn parse_anycast_ip(s: &str) -> Result<IpNet, String> {
    super::validate::parse_prefix(s)
}

/// Applies `anycastd bgp set` to `existing` (None: no file yet). `path` is used in messages.
/// Returns `Err` without any output if the flags or the resulting file are invalid.
pub fn apply_bgp_set(existing: Option<&str>, set: &BgpSet, path: &Path) -> Result<EditOutcome, ConfigError> {
    check_flags(set)?;
    let mut doc = match existing {
        Some(t) => parse(t, path)?,
        None => DocumentMut::new(),
    };
    let mut ch = Vec::new();
    let bgp = section(&mut doc, "bgp", &mut ch)?;
    if let Some(a) = set.local_as {
        let n = i64::from(a.get());
        set_key(bgp, "bgp.", "local_as", n.into(), |i| i.as_integer() == Some(n), false, &mut ch);
    }
    if let Some(id) = set.local_router_id {
        let ip = IpAddr::V4(id.addr());
        set_key(bgp, "bgp.", "router_id", ip.to_string().into(), same_ip(ip), false, &mut ch);
    }
    if let Some(ip) = set.local_ip {
        set_key(bgp, "bgp.", "local_ip", ip.to_string().into(), same_ip(ip), false, &mut ch);
    }
    neighbors(bgp, set, &mut ch)?;
    if !set.anycast_ip.is_empty() {
        prefixes(section(&mut doc, "anycast", &mut ch)?, &set.anycast_ip, &mut ch);
    }
    let text = doc.to_string();
    Config::from_str(&text, path)?;
    let changed = existing != Some(text.as_str());
    if !changed {
        ch.clear();
    }
    Ok(EditOutcome { holds_key: holds_key(doc.as_item()), text, changes: ch, changed })
}

/// Removes `[bgp]` and its neighbours (`anycastd bgp unset`). The result is not validated:
/// a configuration without `[bgp]` does not load until BGP is set again.
pub fn apply_bgp_unset(existing: &str, path: &Path) -> Result<EditOutcome, ConfigError> {
    let mut doc = parse(existing, path)?;
    let mut changes = Vec::new();
    let mut text = None;
    if let Some(bgp) = doc.remove("bgp") {
        changes.push("- [bgp]".to_string());
        let list = bgp.get("neighbor").and_then(Item::as_array_of_tables);
        for t in list.into_iter().flat_map(ArrayOfTables::iter) {
            changes.push(format!("- bgp.neighbor remote_ip={}", ip_label(t)));
        }
        // The next table's blank separator line would now open the file.
        text = Some(doc.to_string().trim_start_matches('\n').to_string());
    }
    let text = text.unwrap_or_else(|| existing.to_string());
    Ok(EditOutcome { holds_key: holds_key(doc.as_item()), changed: text != existing, text, changes })
}

/// Replaces `path` by `text` atomically: a temporary file in the same directory, fsync,
/// rename, fsync of the directory. Mode 0600 when `mode0600` (the text holds a key), else 0644.
pub fn write_atomic(path: &Path, text: &str, mode0600: bool) -> std::io::Result<()> {
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path");
    let name = path.file_name().ok_or_else(invalid)?.to_string_lossy().into_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.tmp.{}.{nanos}", std::process::id()));
    let mode = if mode0600 { 0o600 } else { 0o644 };
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn usage<T>(msg: String) -> Result<T, ConfigError> {
    Err(ConfigError::Usage(msg))
}

fn check_flags(set: &BgpSet) -> Result<(), ConfigError> {
    if set.md5.is_some() && set.md5_file.is_some() {
        return usage("--md5 and --md5_file cannot be used together; give one".into());
    }
    let mut seen = HashSet::new();
    if let Some(ip) = set.remote_ip.iter().find(|ip| !seen.insert(**ip)) {
        return usage(format!("--remote_ip {ip} is given twice"));
    }
    let mut seen = HashSet::new();
    if let Some(net) = set.anycast_ip.iter().find(|n| !seen.insert(**n)) {
        return usage(format!("--anycast_ip {net} is given twice"));
    }
    if let Some(f) = set.md5_file.as_ref().filter(|f| !f.is_absolute()) {
        return usage(format!("--md5_file {} must be an absolute path", f.display()));
    }
    Ok(())
}

fn parse(text: &str, path: &Path) -> Result<DocumentMut, ConfigError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let (line, column) = spans::line_col(text, e.span().map_or(0, |s| s.start));
        ConfigError::Invalid(vec![Diagnostic {
            file: path.to_path_buf(),
            line,
            column,
            key: String::new(),
            kind: DiagnosticKind::Syntax,
            message: format!("TOML syntax error: {}", e.message().trim_end()),
        }])
    })
}

/// The table `name` at the top level, created (at the end) when absent; an inline table is
/// rewritten as a `[name]` table so that `[[name.neighbor]]` tables can go under it.
fn section<'a>(
    doc: &'a mut DocumentMut,
    name: &str,
    changes: &mut Vec<String>,
) -> Result<&'a mut dyn TableLike, ConfigError> {
    let inline = doc.get(name).is_some_and(Item::is_inline_table);
    if let Some(mut key) = doc.key_mut(name).filter(|_| inline) {
        key.leaf_decor_mut().clear();
    }
    let item = doc.entry(name).or_insert_with(toml_edit::table);
    if inline {
        changes.push(format!("{name}: inline table rewritten as [{name}]"));
        *item = match std::mem::take(item).into_table() {
            Ok(t) => Item::Table(t),
            Err(other) => other,
        };
    }
    if let Item::Table(t) = item {
        t.set_implicit(false);
    }
    match item.as_table_like_mut() {
        Some(t) => Ok(t),
        None => usage(format!("cannot edit `{name}`: it is not a table; write it as [{name}]")),
    }
}

fn same_ip(ip: IpAddr) -> impl Fn(&Item) -> bool {
    move |i| i.as_str().and_then(|s| s.trim().parse::<IpAddr>().ok()) == Some(ip)
}

fn same_str(s: &str) -> impl Fn(&Item) -> bool + '_ {
    move |i| i.as_str() == Some(s)
}

/// A value as written, without comments or surrounding blanks.
fn shown(item: &Item) -> String {
    match item.as_value() {
        Some(v) => {
            let mut v = v.clone();
            v.decor_mut().clear();
            v.to_string()
        }
        None => "(table)".into(),
    }
}

/// Sets `key` unless `same` says the current value already means `new`; keeps the old
/// value's comments. Records `label key: old -> new` or `+ label key = new`.
#[allow(clippy::too_many_arguments)]
fn set_key(
    t: &mut dyn TableLike,
    label: &str,
    key: &str,
    mut new: Value,
    same: impl Fn(&Item) -> bool,
    secret: bool,
    changes: &mut Vec<String>,
) {
    let hide = |s: String| if secret { "<redacted>".to_string() } else { s };
    new.decor_mut().clear();
    let new_text = hide(new.to_string());
    match t.get_mut(key) {
        Some(old) if same(old) => {}
        Some(old) => {
            changes.push(format!("{label}{key}: {} -> {new_text}", hide(shown(old))));
            if let Some(v) = old.as_value() {
                *new.decor_mut() = v.decor().clone();
            }
            *old = Item::Value(new);
        }
        None => {
            changes.push(format!("+ {label}{key} = {new_text}"));
            t.insert(key, Item::Value(new));
        }
    }
}

fn remove_key(t: &mut dyn TableLike, label: &str, key: &str, changes: &mut Vec<String>) {
    if t.remove(key).is_some() {
        changes.push(format!("- {label}{key}"));
    }
}

fn ip_label(t: &Table) -> String {
    t.get("remote_ip").map_or_else(|| "?".into(), |i| shown(i).trim_matches('"').to_string())
}

/// The value of `key` if every table in `list` has it with the same value.
fn common(list: &ArrayOfTables, key: &str) -> Option<Value> {
    let mut vals = list.iter().map(|t| t.get(key).and_then(Item::as_value));
    let first = vals.next()??;
    let same = vals.all(|v| v.is_some_and(|v| v.as_integer() == first.as_integer() && v.as_str() == first.as_str()));
    same.then(|| {
        let mut v = first.clone();
        v.decor_mut().clear();
        v
    })
}

fn neighbors(bgp: &mut dyn TableLike, set: &BgpSet, ch: &mut Vec<String>) -> Result<(), ConfigError> {
    let bfd = set.bfd_interval_ms.is_some() || set.bfd_multiplier.is_some();
    if set.remote_ip.is_empty() && set.remote_as.is_none() && set.md5.is_none() && set.md5_file.is_none() && !bfd {
        return Ok(());
    }
    let item = bgp.entry("neighbor").or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let Some(list) = item.as_array_of_tables_mut() else {
        return usage("cannot edit bgp.neighbor: write each neighbor as a [[bgp.neighbor]] table".into());
    };
    let remote_as = set.remote_as.map(|a| Value::from(i64::from(a.get())));
    let md5 = set.md5.as_deref().map(Value::from);
    let md5_file = set.md5_file.as_ref().map(|f| Value::from(f.display().to_string()));
    let explicit_key = md5.is_some() || md5_file.is_some();
    if !set.remote_ip.is_empty() {
        let inherit: Vec<(&str, Option<Value>)> = vec![
            ("remote_as", remote_as.clone().or_else(|| common(list, "remote_as"))),
            ("md5", if explicit_key { md5.clone() } else { common(list, "md5") }),
            ("md5_file", if explicit_key { md5_file.clone() } else { common(list, "md5_file") }),
        ];
        let ip_of = |t: &Table| t.get("remote_ip").and_then(Item::as_str).and_then(|s| s.trim().parse::<IpAddr>().ok());
        let mut i = 0;
        while let Some(t) = list.get(i) {
            if ip_of(t).is_some_and(|ip| set.remote_ip.contains(&ip)) {
                i = i.saturating_add(1);
            } else {
                ch.push(format!("- bgp.neighbor remote_ip={}", ip_label(t)));
                list.remove(i);
            }
        }
        let present: HashSet<IpAddr> = list.iter().filter_map(ip_of).collect();
        for ip in set.remote_ip.iter().filter(|ip| !present.contains(ip)) {
            let mut t = Table::new();
            t.insert("remote_ip", toml_edit::value(ip.to_string()));
            let mut line = format!("+ bgp.neighbor remote_ip={ip}");
            for (key, v) in &inherit {
                if let Some(v) = v {
                    let shown = if *key == "md5" { "<redacted>".into() } else { v.to_string() };
                    line.push_str(&format!(" {key}={shown}"));
                    t.insert(key, Item::Value(v.clone()));
                }
            }
            ch.push(line);
            list.push(t);
        }
    }
    for t in list.iter_mut() {
        let label = format!("bgp.neighbor remote_ip={} ", ip_label(t));
        if let (Some(v), Some(a)) = (&remote_as, set.remote_as) {
            let n = i64::from(a.get());
            set_key(t, &label, "remote_as", v.clone(), |i| i.as_integer() == Some(n), false, ch);
        }
        if let (Some(v), Some(s)) = (&md5, &set.md5) {
            set_key(t, &label, "md5", v.clone(), same_str(s), true, ch);
            remove_key(t, &label, "md5_file", ch);
        }
        if let Some(v) = &md5_file {
            let s = v.as_str().unwrap_or_default().to_string();
            set_key(t, &label, "md5_file", v.clone(), same_str(&s), false, ch);
            remove_key(t, &label, "md5", ch);
        }
        if bfd {
            neighbor_bfd(t, &label, set, ch)?;
        }
    }
    Ok(())
}

/// Sets `interval_ms` / `multiplier` in the neighbor's `bfd` table (`[bgp.neighbor.bfd]` or
/// inline), adding `bfd = { … }` when there is none.
fn neighbor_bfd(t: &mut Table, label: &str, set: &BgpSet, ch: &mut Vec<String>) -> Result<(), ConfigError> {
    let item = t.entry("bfd").or_insert(Item::Value(Value::InlineTable(InlineTable::new())));
    if item.as_table_like().is_none() {
        return usage(format!("cannot edit {label}bfd: it is not a table; write it as bfd = {{ interval_ms = 300 }}"));
    }
    let label = format!("{label}bfd.");
    let keys = [
        ("interval_ms", set.bfd_interval_ms.map(i64::from)),
        ("multiplier", set.bfd_multiplier.map(|m| i64::from(m.get()))),
    ];
    for (key, n) in keys {
        let Some(n) = n else { continue };
        trim_last(item, key);
        if let Some(bfd) = item.as_table_like_mut() {
            set_key(bfd, &label, key, n.into(), |i| i.as_integer() == Some(n), false, ch);
        }
    }
    Ok(())
}

/// Before `key` is appended to an inline table: drops the blank after its last value, so that
/// the new key reads `a = 1, key = 2 }` rather than `a = 1 , key = 2 }`.
fn trim_last(item: &mut Item, key: &str) {
    let Some(t) = item.as_inline_table_mut().filter(|t| !t.contains_key(key)) else { return };
    if let Some((_, v)) = t.iter_mut().last() {
        let blank = v.decor().suffix().and_then(|s| s.as_str()).is_some_and(|s| s.trim().is_empty());
        if blank {
            v.decor_mut().set_suffix("");
        }
    }
}

fn prefixes(any: &mut dyn TableLike, nets: &[IpNet], ch: &mut Vec<String>) {
    let want: HashSet<IpNet> = nets.iter().copied().collect();
    let same = |i: &Item| {
        let Some(a) = i.as_array() else { return false };
        let have: Option<HashSet<IpNet>> =
            a.iter().map(|v| v.as_str().and_then(|s| parse_anycast_ip(s).ok())).collect();
        have.is_some_and(|h| h == want && a.len() == nets.len())
    };
    let arr: Array = nets.iter().map(|n| n.to_string()).collect();
    set_key(any, "anycast.", "prefixes", Value::Array(arr), same, false, ch);
}

/// Whether any [`SECRET_KEYS`] key is written anywhere under `item`.
fn holds_key(item: &Item) -> bool {
    fn secret(k: &str) -> bool {
        SECRET_KEYS.contains(&k)
    }
    fn value(v: &Value) -> bool {
        match v {
            Value::InlineTable(t) => t.iter().any(|(k, v)| secret(k) || value(v)),
            Value::Array(a) => a.iter().any(value),
            _ => false,
        }
    }
    match item {
        Item::Table(t) => t.iter().any(|(k, i)| secret(k) || holds_key(i)),
        Item::ArrayOfTables(a) => a.iter().any(|t| t.iter().any(|(k, i)| secret(k) || holds_key(i))),
        Item::Value(v) => value(v),
        Item::None => false,
    }
}
