//! `anycastd bgp set|show|unset` and `anycastd check-config`: the escadm-style way to write the
//! BGP part of the config. Validates before writing, writes atomically, 0600 when the file holds
//! a key, and says what changed. Returns the text to print or an error message; `main` maps
//! them to exit codes.

use crate::config::edit::{self, BgpSet, SECRET_KEYS};
use crate::config::{Asn, Config, RouterId, BFD_INTERVAL_MS};
use std::net::IpAddr;
use std::num::NonZeroU8;
use std::path::Path;

/// The flags as given on the command line (strings, parsed here with precise messages); the
/// clap definition of `anycastd bgp set`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SetFlags {
    /// Session source address.
    #[arg(long = "local_ip", visible_alias = "local-ip", value_name = "IP")]
    pub local_ip: Option<String>,
    /// Anycast address or prefix to advertise (repeatable; a bare address is /32 or /128).
    #[arg(long = "anycast_ip", visible_alias = "anycast-ip", value_name = "IP[/LEN]")]
    pub anycast_ip: Vec<String>,
    /// Upstream router address (repeat for two routers); the neighbor list becomes exactly these.
    #[arg(long = "remote_ip", visible_alias = "remote-ip", value_name = "IP")]
    pub remote_ip: Vec<String>,
    /// Our AS number.
    #[arg(long = "local_as", visible_alias = "local-as", value_name = "ASN")]
    pub local_as: Option<String>,
    /// The routers' AS number.
    #[arg(long = "remote_as", visible_alias = "remote-as", value_name = "ASN")]
    pub remote_as: Option<String>,
    /// Our BGP identifier (IPv4).
    #[arg(long = "local_router_id", visible_alias = "local-router-id", value_name = "IPV4")]
    pub local_router_id: Option<String>,
    /// TCP-MD5 key for every neighbor (RFC 2385).
    #[arg(long = "md5", visible_alias = "bgp_md5", conflicts_with = "md5_file", value_name = "KEY")]
    pub md5: Option<String>,
    /// Read the TCP-MD5 key from this file (absolute path, mode 0600).
    #[arg(long = "md5-file", visible_alias = "md5_file", value_name = "PATH")]
    pub md5_file: Option<String>,
    /// BFD with every neighbor: desired min TX = required min RX interval, 10-60000 ms
    /// (sets bfd.interval_ms; adds `bfd = { … }` where there is none).
    #[arg(long = "bfd-interval-ms", visible_alias = "bfd_interval_ms", value_name = "MS")]
    pub bfd_interval_ms: Option<String>,
    /// BFD detection multiplier for every neighbor, 1-255 (sets bfd.multiplier).
    #[arg(long = "bfd-multiplier", visible_alias = "bfd_multiplier", value_name = "N")]
    pub bfd_multiplier: Option<String>,
}

fn ip(flag: &str, s: &str) -> Result<IpAddr, String> {
    s.trim().parse().map_err(|_| format!("--{flag} {s}: not an IP address (e.g. --{flag} 192.0.2.11)"))
}

fn asn(flag: &str, s: &str) -> Result<Asn, String> {
    s.parse::<Asn>().map_err(|e| format!("--{flag} {s}: {e} (e.g. --{flag} 65124)"))
}

/// An integer flag in `range`, with the flag's own example in the message.
fn bounded<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    flag: &str,
    s: &str,
    range: std::ops::RangeInclusive<T>,
    example: &str,
) -> Result<T, String> {
    match s.trim().parse::<T>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(format!("--{flag} {s}: must be {} to {} (e.g. --{flag} {example})", range.start(), range.end())),
    }
}

impl SetFlags {
    fn parse(&self) -> Result<BgpSet, String> {
        Ok(BgpSet {
            local_ip: self.local_ip.as_deref().map(|s| ip("local_ip", s)).transpose()?,
            anycast_ip: self
                .anycast_ip
                .iter()
                .map(|s| edit::parse_anycast_ip(s).map_err(|e| format!("--anycast_ip {s}: {e}")))
                .collect::<Result<_, _>>()?,
            remote_ip: self.remote_ip.iter().map(|s| ip("remote_ip", s)).collect::<Result<_, _>>()?,
            local_as: self.local_as.as_deref().map(|s| asn("local_as", s)).transpose()?,
            remote_as: self.remote_as.as_deref().map(|s| asn("remote_as", s)).transpose()?,
            local_router_id: self
                .local_router_id
                .as_deref()
                .map(|s| {
                    s.parse::<RouterId>()
                        .map_err(|e| format!("--local_router_id {s}: {e} (e.g. --local_router_id 192.0.2.11)"))
                })
                .transpose()?,
            md5: self.md5.clone(),
            md5_file: self.md5_file.as_ref().map(Into::into),
            bfd_interval_ms: self
                .bfd_interval_ms
                .as_deref()
                .map(|s| bounded("bfd-interval-ms", s, BFD_INTERVAL_MS, "300"))
                .transpose()?,
            bfd_multiplier: self
                .bfd_multiplier
                .as_deref()
                .map(|s| bounded("bfd-multiplier", s, NonZeroU8::MIN..=NonZeroU8::MAX, "3"))
                .transpose()?,
        })
    }
}

fn read_existing(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// `bgp set`: returns the lines to print ("no change" or one line per change).
pub fn set(path: &Path, flags: &SetFlags) -> Result<String, String> {
    let set = flags.parse()?;
    let existing = read_existing(path)?;
    let out = edit::apply_bgp_set(existing.as_deref(), &set, path).map_err(|e| e.to_string())?;
    if !out.changed {
        return Ok(format!("{}: no change\n", path.display()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    edit::write_atomic(path, &out.text, out.holds_key).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut s =
        format!("{}: updated{}\n", path.display(), if out.holds_key { " (mode 0600: holds a key)" } else { "" });
    for c in out.changes {
        s.push_str(&format!("  {c}\n"));
    }
    s.push_str("run `anycastd reload` (or restart) to apply\n");
    Ok(s)
}

/// `bgp unset`: removes `[bgp]` and its neighbors.
pub fn unset(path: &Path) -> Result<String, String> {
    let existing = read_existing(path)?.ok_or_else(|| format!("{} does not exist", path.display()))?;
    let out = edit::apply_bgp_unset(&existing, path).map_err(|e| e.to_string())?;
    if !out.changed {
        return Ok(format!("{}: no [bgp] section, no change\n", path.display()));
    }
    edit::write_atomic(path, &out.text, out.holds_key).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(format!("{}: updated\n{}\n", path.display(), out.changes.join("\n")))
}

/// `bgp show`: the `[bgp]` section (and neighbors) as written, keys redacted.
pub fn show(path: &Path) -> Result<String, String> {
    let text = read_existing(path)?.ok_or_else(|| format!("{} does not exist", path.display()))?;
    show_text(&text, path)
}

/// `bgp show` of the config `text` read from `path`.
fn show_text(text: &str, path: &Path) -> Result<String, String> {
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(bgp) = doc.get("bgp") else {
        return Ok(format!("{}: no [bgp] section (set one with `anycastd bgp set`)\n", path.display()));
    };
    let mut only = toml_edit::DocumentMut::new();
    only.insert("bgp", bgp.clone());
    // Never print a key: redacted in the parsed document, so every TOML spelling of the key
    // (quoted, dotted, inline tables, arrays of tables, multi-line strings) is covered.
    redact(only.as_item_mut());
    let mut s = only.to_string();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Replaces the value of every [`SECRET_KEYS`] key below `item` by `"<redacted>"`, keeping
/// the value's surrounding whitespace and comments.
fn redact(item: &mut toml_edit::Item) {
    use toml_edit::{Item, Value};
    match item {
        Item::Table(t) => t.iter_mut().for_each(|(k, v)| redact_entry(k.get(), v)),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| t.iter_mut().for_each(|(k, v)| redact_entry(k.get(), v))),
        Item::Value(Value::InlineTable(t)) => t.iter_mut().for_each(|(k, v)| redact_value_entry(k.get(), v)),
        Item::Value(Value::Array(a)) => a.iter_mut().for_each(redact_value),
        Item::Value(_) | Item::None => {}
    }
}

fn redact_value(v: &mut toml_edit::Value) {
    use toml_edit::Value;
    match v {
        Value::InlineTable(t) => t.iter_mut().for_each(|(k, v)| redact_value_entry(k.get(), v)),
        Value::Array(a) => a.iter_mut().for_each(redact_value),
        _ => {}
    }
}

fn redact_entry(key: &str, item: &mut toml_edit::Item) {
    match item {
        toml_edit::Item::Value(v) => redact_value_entry(key, v),
        _ if SECRET_KEYS.contains(&key) => *item = toml_edit::value(REDACTED),
        _ => redact(item),
    }
}

fn redact_value_entry(key: &str, v: &mut toml_edit::Value) {
    if SECRET_KEYS.contains(&key) {
        let decor = v.decor().clone();
        *v = REDACTED.into();
        *v.decor_mut() = decor;
    } else {
        redact_value(v);
    }
}

const REDACTED: &str = "<redacted>";

/// `check-config`: every error with file:line:col; warnings too. Ok = valid.
pub fn check_config(path: &Path) -> Result<String, String> {
    let cfg = Config::load(path).map_err(|e| e.to_string())?;
    if cfg.bgp.neighbors.iter().any(|n| n.tcp_ao.is_some()) {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let refusal = crate::speaker::transport::tcp_ao_support().refusal();
        let errors: Vec<String> = cfg.unsupported(path, &text, &refusal).iter().map(ToString::to_string).collect();
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
    }
    let mut s = String::new();
    for w in &cfg.warnings {
        s.push_str(&format!("{w}\n"));
    }
    s.push_str(&format!(
        "{}: OK ({} neighbor(s), {} prefix(es), {} check(s))\n",
        path.display(),
        cfg.bgp.neighbors.len(),
        cfg.anycast.prefixes.len(),
        cfg.health.len()
    ));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret-key";

    /// `bgp show` of `toml`; fails the test if the key shows or `<redacted>` does not.
    fn shown(toml: &str) -> String {
        let out = show_text(toml, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
        assert!(!out.contains(SECRET) && !out.contains("cret-k"), "key printed:\n{out}");
        assert!(out.contains("\"<redacted>\""), "no redaction shown:\n{out}");
        out
    }

    #[test]
    fn plain_key_is_redacted_and_layout_kept() {
        let toml = "# top\n[bgp]\nlocal_as = 65124 # ours\n\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\n  md5 = \"s3cret-key\" # rotated 2026-11\nmd5_file_note = 1\n\n[anycast]\nprefixes = []\n";
        assert_eq!(
            shown(toml),
            "# top\n[bgp]\nlocal_as = 65124 # ours\n\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\n  md5 = \"<redacted>\" # rotated 2026-11\nmd5_file_note = 1\n"
        );
    }

    #[test]
    fn quoted_key_is_redacted() {
        shown("[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\n\"md5\" = \"s3cret-key\"\n");
    }

    #[test]
    fn literal_quoted_key_is_redacted() {
        shown("[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\n'md5' = 's3cret-key'\n");
    }

    #[test]
    fn key_followed_by_a_tab_is_redacted() {
        let out = shown("[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nmd5\t=\t\"s3cret-key\"\n");
        assert!(out.contains("md5\t=\t\"<redacted>\""), "{out}");
    }

    #[test]
    fn key_in_an_inline_table_is_redacted() {
        let out = shown(
            "[bgp]\nneighbor = [{ remote_ip = \"192.0.2.1\", md5 = \"s3cret-key\" }, { remote_ip = \"192.0.2.2\", md5 = \"s3cret-key2\", port = 179 }]\n",
        );
        assert!(out.contains("{ remote_ip = \"192.0.2.2\", md5 = \"<redacted>\", port = 179 }"), "{out}");
    }

    #[test]
    fn keys_in_every_table_of_an_array_of_tables_are_redacted() {
        let out = shown(
            "[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nmd5 = \"s3cret-key\"\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.2\"\nmd5=\"s3cret-key\"\n",
        );
        assert_eq!(out.matches("<redacted>").count(), 2, "{out}");
    }

    #[test]
    fn key_under_dotted_keys_is_redacted() {
        let out = shown("bgp.local_as = 65124\nbgp.neighbor = [{ remote_ip = \"192.0.2.1\", md5 = \"s3cret-key\" }]\n");
        assert!(out.contains("bgp.local_as = 65124"), "{out}");
    }

    #[test]
    fn multi_line_key_is_redacted() {
        shown("[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nmd5 = \"\"\"\ns3cret-key\"\"\"\n");
        shown("[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nmd5 = '''\ns3cret-key\n'''\n");
    }

    #[test]
    fn bfd_key_is_redacted_inline_and_in_a_subtable() {
        let out = shown(
            "[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nbfd = { interval_ms = 50, auth = \"keyed-sha1\", key = \"s3cret-key\", key_id = 2 }\n",
        );
        assert!(
            out.contains("bfd = { interval_ms = 50, auth = \"keyed-sha1\", key = \"<redacted>\", key_id = 2 }"),
            "{out}"
        );
        let out = shown(
            "[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\n[bgp.neighbor.bfd]\nkey = \"s3cret-key\" # r1\n",
        );
        assert!(out.contains("[bgp.neighbor.bfd]\nkey = \"<redacted>\" # r1\n"), "{out}");
        shown("[bgp]\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nbfd.key = \"s3cret-key\"\n");
    }

    #[test]
    fn bfd_flags_are_parsed_with_their_range() {
        let flags = |ms: &str, mult: &str| SetFlags {
            bfd_interval_ms: Some(ms.into()),
            bfd_multiplier: Some(mult.into()),
            ..SetFlags::default()
        };
        let set = flags("50", "3").parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((set.bfd_interval_ms, set.bfd_multiplier.map(NonZeroU8::get)), (Some(50), Some(3)));
        let set = flags("10", "255").parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((set.bfd_interval_ms, set.bfd_multiplier.map(NonZeroU8::get)), (Some(10), Some(255)));
        let e = |ms: &str, mult: &str| flags(ms, mult).parse().map(|_| ()).expect_err("out of range");
        let interval = "must be 10 to 60000 (e.g. --bfd-interval-ms 300)";
        assert_eq!(e("9", "3"), format!("--bfd-interval-ms 9: {interval}"));
        assert_eq!(e("60001", "3"), format!("--bfd-interval-ms 60001: {interval}"));
        assert_eq!(e("fast", "3"), format!("--bfd-interval-ms fast: {interval}"));
        assert_eq!(e("50", "0"), "--bfd-multiplier 0: must be 1 to 255 (e.g. --bfd-multiplier 3)");
        assert_eq!(e("50", "256"), "--bfd-multiplier 256: must be 1 to 255 (e.g. --bfd-multiplier 3)");
    }

    #[test]
    fn set_with_bfd_flags_writes_the_bfd_table() {
        let dir = std::env::temp_dir().join(format!("anycastd-cli-bfd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("anycastd.toml");
        let flags = SetFlags {
            local_ip: Some("192.0.2.11".into()),
            anycast_ip: vec!["203.0.113.124".into()],
            remote_ip: vec!["192.0.2.1".into()],
            local_as: Some("65124".into()),
            remote_as: Some("65000".into()),
            bfd_interval_ms: Some("50".into()),
            bfd_multiplier: Some("4".into()),
            ..SetFlags::default()
        };
        let out = set(&path, &flags).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.contains("  + bgp.neighbor remote_ip=192.0.2.1 bfd.interval_ms = 50\n"), "{out}");
        assert!(out.contains("  + bgp.neighbor remote_ip=192.0.2.1 bfd.multiplier = 4\n"), "{out}");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(text.contains("bfd = { interval_ms = 50, multiplier = 4 }\n"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
