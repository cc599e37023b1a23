//! `anycastd bgp set|show|unset` and `anycastd check-config`: the escadm-style way to write the
//! BGP part of the config. Validates before writing, writes atomically, 0600 when the file holds
//! a key, and says what changed. Returns the text to print or an error message; `main` maps
//! them to exit codes.

use crate::config::edit::{self, BgpSet};
use crate::config::{Asn, Config, RouterId};
use std::net::IpAddr;
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
}

fn ip(flag: &str, s: &str) -> Result<IpAddr, String> {
    s.trim().parse().map_err(|_| format!("--{flag} {s}: not an IP address (e.g. --{flag} 192.0.2.11)"))
}

fn asn(flag: &str, s: &str) -> Result<Asn, String> {
    s.parse::<Asn>().map_err(|e| format!("--{flag} {s}: {e} (e.g. --{flag} 65124)"))
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
    let doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(bgp) = doc.get("bgp") else {
        return Ok(format!("{}: no [bgp] section (set one with `anycastd bgp set`)\n", path.display()));
    };
    let mut only = toml_edit::DocumentMut::new();
    only.insert("bgp", bgp.clone());
    let mut s = only.to_string();
    // Never print a key.
    s = s
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("md5 ") || t.starts_with("md5=") {
                format!("{}md5 = \"<redacted>\"", &l[..l.len() - t.len()])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    s.push('\n');
    Ok(s)
}

/// `check-config`: every error with file:line:col; warnings too. Ok = valid.
pub fn check_config(path: &Path) -> Result<String, String> {
    let cfg = Config::load(path).map_err(|e| e.to_string())?;
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
