//! Raw → typed conversion of the HA inputs: `[role]` and `[[health.check]]`. Keys that do not
//! belong to the selected `source`/`type` are errors, as are missing per-type keys. Pure apart
//! from the `Reporter`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::error::{DiagnosticKind as K, Reporter};
use super::raw::{RawCheck, RawHealth, RawRole};
use super::values::{abs_path, choice, foreign, millis, num};
use super::{
    EnginePid, HealthCheck, HttpUrl, KeepalivedRole, Probe, ProcessTarget, RoleSource, TrackFile, DEFAULT_TRACK_FILE,
};

/// Where keepalived's state is saved when `[role] path` is not set.
pub const DEFAULT_ROLE_PATH: &str = "/var/lib/anycastd/role";
/// Longest accepted interval, one day.
const MAX_INTERVAL_MS: u32 = 86_400_000;

/// `[role]`; `Static` when absent. With it, the `track_file` (on by default for keepalived).
pub fn role(raw: Option<RawRole>, r: &mut Reporter<'_>) -> Option<(RoleSource, Option<TrackFile>)> {
    let Some(raw) = raw else {
        return Some((RoleSource::Static, None));
    };
    role_at("role", raw, r, PathBuf::from(DEFAULT_ROLE_PATH), PathBuf::from(DEFAULT_TRACK_FILE))
}

/// A role table at key `at` (`role` or `service[3].role`), with the default keepalived state
/// path and track file for it.
pub fn role_at(
    at: &str,
    raw: RawRole,
    r: &mut Reporter<'_>,
    default_path: PathBuf,
    default_track: PathBuf,
) -> Option<(RoleSource, Option<TrackFile>)> {
    let k = |key: &str| format!("{at}.{key}");
    let sources = ["static", "keepalived", "file", "exec", "etcd", "etcd-key"];
    let i = choice(r, &k("source"), &raw.source, &sources)?;
    let sel = format!("source = \"{}\"", raw.source);
    let for_path = "source = \"file\" (or \"keepalived\") with path = \"/run/anycastd/role\"";
    let for_exec = "source = \"exec\" with command = [\"/usr/local/bin/am-i-primary\"]";
    let for_ka = "source = \"keepalived\" with pidfile = \"/run/vrrp.pid\"";
    let path_ok = i == 1 || i == 2;
    foreign(r, &k("path"), raw.path.is_some() && !path_ok, &sel, for_path);
    foreign(r, &k("command"), raw.command.is_some() && i != 3, &sel, for_exec);
    foreign(r, &k("interval_ms"), raw.interval_ms.is_some() && i != 3, &sel, for_exec);
    for (present, key) in [
        (raw.pidfile.is_some(), "pidfile"),
        (raw.grace_ms.is_some(), "grace_ms"),
        (raw.instance.is_some(), "instance"),
        (raw.vrid.is_some(), "vrid"),
    ] {
        foreign(r, &k(key), present && i != 1, &sel, for_ka);
    }
    let for_etcd = "source = \"etcd\" (or \"etcd-key\") with endpoints = [\"http://192.0.2.101:2379\"]";
    for (present, key) in [
        (raw.endpoints.is_some(), "endpoints"),
        (raw.election.is_some(), "election"),
        (raw.candidate.is_some(), "candidate"),
        (raw.key.is_some(), "key"),
        (raw.value.is_some(), "value"),
        (raw.lease_ttl_ms.is_some(), "lease_ttl_ms"),
        (raw.fence_margin_ms.is_some(), "fence_margin_ms"),
        (raw.campaign_delay_ms.is_some(), "campaign_delay_ms"),
        (raw.request_timeout_ms.is_some(), "request_timeout_ms"),
        (raw.tls.is_some(), "tls"),
        (raw.username.is_some(), "username"),
        (raw.password_file.is_some(), "password_file"),
    ] {
        foreign(r, &k(key), present && i < 4, &sel, for_etcd);
    }
    let path = match &raw.path {
        Some(p) if path_ok => abs_path(r, &k("path"), p),
        _ => Some(default_path),
    };
    let track = track(at, r, &raw, i == 1, default_track);
    let source = match i {
        0 => Some(RoleSource::Static),
        1 => keepalived(at, r, &raw, path?),
        2 => Some(RoleSource::File { path: path? }),
        4 | 5 => super::etcd::role(at, r, &raw, i == 5),
        _ => {
            let interval = millis(r, &k("interval_ms"), raw.interval_ms, 1000, 50, MAX_INTERVAL_MS);
            let command = command(r, &k("command"), raw.command, false);
            Some(RoleSource::Exec { command: command?, interval: interval? })
        }
    };
    Some((source?, track?))
}

/// `track_file` / `track_weight`: default on for keepalived; `track_file = ""` turns it off.
fn track(
    at: &str,
    r: &mut Reporter<'_>,
    raw: &RawRole,
    keepalived: bool,
    default: PathBuf,
) -> Option<Option<TrackFile>> {
    let k = |key: &str| format!("{at}.{key}");
    let weight = match raw.track_weight {
        Some(w) => num(r, &k("track_weight"), w, -254i32, -1, "a negative keepalived weight")?,
        None => -254,
    };
    let path = match raw.track_file.as_deref() {
        Some("") => None,
        Some(p) => Some(abs_path(r, &k("track_file"), p)?),
        None if keepalived => Some(default),
        None => None,
    };
    if path.is_none() && raw.track_weight.is_some() {
        r.warn(&k("track_weight"), "has no effect without a track_file");
    }
    Some(path.map(|path| TrackFile { path, weight }))
}

/// The keepalived-only keys.
fn keepalived(at: &str, r: &mut Reporter<'_>, raw: &RawRole, path: PathBuf) -> Option<RoleSource> {
    let k = |key: &str| format!("{at}.{key}");
    let pidfile = match raw.pidfile.as_deref() {
        None => EnginePid::Default,
        Some("") => {
            r.warn(&k("pidfile"), "is empty: keepalived's death without a notify (SIGKILL, OOM) will not be seen");
            EnginePid::Off
        }
        Some(p) => EnginePid::File(abs_path(r, &k("pidfile"), p)?),
    };
    let grace = millis(r, &k("grace_ms"), raw.grace_ms, 3000, 0, MAX_INTERVAL_MS);
    let instance = match raw.instance.as_deref() {
        Some(n) if n.is_empty() || n.len() > 64 || n.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            r.error(&k("instance"), K::InvalidValue, "a VRRP instance name: 1-64 characters, no spaces");
            return None;
        }
        n => n.map(str::to_string),
    };
    let vrid = match raw.vrid {
        Some(v) => Some(num(r, &k("vrid"), v, 1u8, 255, "a VRRP router id")?),
        None => None,
    };
    Some(RoleSource::Keepalived(KeepalivedRole { path, pidfile, grace: grace?, instance, vrid }))
}

/// An argv: required, non-empty first element; with `shell`, exactly one string run by
/// `/bin/sh -c`.
pub fn command(r: &mut Reporter<'_>, path: &str, cmd: Option<Vec<String>>, shell: bool) -> Option<Vec<String>> {
    let Some(cmd) = cmd else {
        r.missing(path, "missing: this type needs a command");
        return None;
    };
    match cmd.first() {
        None => {
            r.error(path, K::InvalidValue, "the command is empty");
            None
        }
        Some(c) if c.trim().is_empty() => {
            r.error(path, K::InvalidValue, "the program name is empty");
            None
        }
        Some(c) if shell && cmd.len() == 1 => Some(vec!["/bin/sh".into(), "-c".into(), c.clone()]),
        Some(_) if shell => {
            let what = "with shell = true the command must be one string for /bin/sh -c";
            r.error_ex(path, K::InvalidValue, what, "command = [\"pgrep -x nginx >/dev/null\"]");
            None
        }
        Some(_) => Some(cmd),
    }
}

/// `[[health.check]]`; empty when `[health]` is absent.
pub fn health(raw: Option<RawHealth>, r: &mut Reporter<'_>, interface: &str) -> Option<Vec<HealthCheck>> {
    checks("health.check", raw.map(|h| h.check).unwrap_or_default(), r, interface)
}

/// A list of checks at key `at` (`health.check` or `service[2].check`); `interface` is the
/// default of an `address` check's.
pub fn checks(at: &str, raw: Vec<RawCheck>, r: &mut Reporter<'_>, interface: &str) -> Option<Vec<HealthCheck>> {
    let mut out = Vec::new();
    let mut ok = true;
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, c) in raw.into_iter().enumerate() {
        let prev = names.get(&c.name).copied();
        names.entry(c.name.clone()).or_insert(i);
        if let Some(j) = prev {
            let what = format!("check name `{}` is already used by {at}[{j}]", c.name);
            r.error_ex(&format!("{at}[{i}].name"), K::Duplicate, &what, "name = \"service-2\"");
            ok = false;
        }
        match check(c, &format!("{at}[{i}]"), r, interface) {
            Some(c) => out.push(c),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn check(c: RawCheck, at: &str, r: &mut Reporter<'_>, interface: &str) -> Option<HealthCheck> {
    let p = |k: &str| format!("{at}.{k}");
    let name_ok = !c.name.is_empty()
        && c.name.len() <= 64
        && c.name.chars().all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
    if !name_ok {
        r.error(&p("name"), K::InvalidValue, "a check name is 1-64 characters of A-Z a-z 0-9 _ . -");
    }
    let kind = choice(r, &p("type"), &c.kind, &["exec", "tcp", "http", "file", "process", "systemd", "address"]);
    let sel = format!("type = \"{}\"", c.kind);
    if let Some(k) = kind {
        let owners: [(bool, &str, &[usize], &str); 14] = [
            (c.command.is_some(), "command", &[0], "type = \"exec\""),
            (c.shell.is_some(), "shell", &[0], "type = \"exec\""),
            (c.address.is_some(), "address", &[1, 6], "type = \"tcp\" or \"address\""),
            (c.url.is_some(), "url", &[2], "type = \"http\""),
            (c.status.is_some(), "status", &[2], "type = \"http\""),
            (c.body.is_some(), "body", &[2], "type = \"http\""),
            (c.ca.is_some(), "ca", &[2], "type = \"http\" with an https:// url"),
            (c.path.is_some(), "path", &[3], "type = \"file\""),
            (c.invert.is_some(), "invert", &[3], "type = \"file\""),
            (c.pidfile.is_some(), "pidfile", &[4], "type = \"process\""),
            (c.pattern.is_some(), "pattern", &[4], "type = \"process\""),
            (c.full.is_some(), "full", &[4], "type = \"process\" with a pattern"),
            (c.unit.is_some(), "unit", &[5], "type = \"systemd\""),
            (c.interface.is_some(), "interface", &[6], "type = \"address\""),
        ];
        for (present, key, owner, ex) in owners {
            foreign(r, &p(key), present && !owner.contains(&k), &sel, ex);
        }
    }
    let probe = match kind? {
        0 => command(r, &p("command"), c.command, c.shell.unwrap_or(false)).map(|argv| Probe::Exec { argv }),
        1 => match c.address {
            None => missing(r, &p("address")),
            Some(a) => match a.trim().parse::<SocketAddr>() {
                Ok(address) => Some(Probe::Tcp { address }),
                Err(_) => {
                    let what = "not an address:port (IPv6 as \"[2001:db8::1]:80\")";
                    r.error(&p("address"), K::InvalidValue, what);
                    None
                }
            },
        },
        2 => {
            let url = match c.url {
                None => missing(r, &p("url")),
                Some(u) => http_url(&u).map_err(|e| r.error(&p("url"), K::InvalidValue, &e)).ok(),
            };
            let status = status(r, &p("status"), c.status);
            let body = match c.body {
                Some(b) if b.is_empty() || b.len() > 1024 => {
                    r.error(&p("body"), K::InvalidValue, "the expected body text must be 1-1024 bytes");
                    None
                }
                b => Some(b),
            };
            let ca = match (&c.ca, &url) {
                (Some(_), Some(u)) if !u.tls => {
                    r.error(&p("ca"), K::InvalidValue, "`ca` needs an https:// url");
                    None
                }
                (Some(f), _) => abs_path(r, &p("ca"), f).map(Some),
                (None, _) => Some(None),
            };
            match (url, status, body, ca) {
                (Some(url), Some(status), Some(body), Some(ca)) => Some(Probe::Http { url, status, body, ca }),
                _ => None,
            }
        }
        3 => match c.path {
            None => missing(r, &p("path")),
            Some(f) => abs_path(r, &p("path"), &f).map(|path| Probe::File { path, invert: c.invert.unwrap_or(false) }),
        },
        4 => process(r, &p, c.pidfile, c.pattern, c.full),
        5 => match c.unit {
            None => missing(r, &p("unit")),
            Some(u) => {
                let ok = !u.is_empty()
                    && u.len() <= 255
                    && u.chars().all(|ch| ch.is_ascii_alphanumeric() || ":-_.\\@".contains(ch));
                if ok {
                    let unit = if u.contains('.') { u } else { format!("{u}.service") };
                    Some(Probe::Systemd { unit })
                } else {
                    r.error(&p("unit"), K::InvalidValue, "a systemd unit name such as \"unbound.service\"");
                    None
                }
            }
        },
        _ => {
            let interface = match c.interface {
                Some(i) if i.is_empty() || i.len() > 15 || i.contains(['/', ' ']) => {
                    r.error(&p("interface"), K::InvalidValue, "an interface name (1-15 characters)");
                    None
                }
                Some(i) => Some(i),
                None => Some(interface.to_string()),
            };
            let address = match c.address {
                None => missing(r, &p("address")),
                Some(a) => match a.trim().parse::<IpAddr>() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        r.error(&p("address"), K::InvalidValue, "an IP address, such as \"203.0.113.53\"");
                        None
                    }
                },
            };
            address.zip(interface).map(|(address, interface)| Probe::Address { address, interface })
        }
    };
    let interval = millis(r, &p("interval_ms"), c.interval_ms, 1000, 50, MAX_INTERVAL_MS);
    let timeout = match (interval, c.timeout_ms) {
        (Some(iv), Some(t)) => {
            let hi = u32::try_from(iv.as_millis()).unwrap_or(MAX_INTERVAL_MS);
            let what = "a timeout (at most interval_ms)";
            num(r, &p("timeout_ms"), t, 1u32, hi, what).map(|t| std::time::Duration::from_millis(t.into()))
        }
        (Some(iv), None) => Some(iv / 2),
        (None, _) => None,
    };
    let rise = num(r, &p("rise"), c.rise.unwrap_or(3), 1u32, 100, "a count");
    let fall = num(r, &p("fall"), c.fall.unwrap_or(3), 1u32, 100, "a count");
    Some(HealthCheck {
        name: Some(c.name).filter(|_| name_ok)?,
        probe: probe?,
        interval: interval?,
        timeout: timeout?,
        rise: rise?,
        fall: fall?,
    })
}

/// `process`: exactly one of `pidfile` and `pattern` (a valid regular expression).
fn process(
    r: &mut Reporter<'_>,
    p: &dyn Fn(&str) -> String,
    pidfile: Option<String>,
    pattern: Option<String>,
    full: Option<bool>,
) -> Option<Probe> {
    match (pidfile, pattern) {
        (Some(_), Some(_)) => {
            r.error(&p("pattern"), K::InvalidValue, "give either pidfile or pattern, not both");
            None
        }
        (None, None) => {
            r.missing(&p("pidfile"), "missing: a process check needs pidfile = \"/run/x.pid\" or pattern = \"^x$\"");
            None
        }
        (Some(f), None) => {
            if full.is_some() {
                r.error(&p("full"), K::InvalidValue, "`full` applies to pattern only; remove it");
            }
            abs_path(r, &p("pidfile"), &f).map(|f| Probe::Process { target: ProcessTarget::Pidfile(f) })
        }
        (None, Some(re)) => match crate::config::Pattern::new(&re) {
            Ok(regex) if !re.is_empty() => {
                Some(Probe::Process { target: ProcessTarget::Pattern { regex, full: full.unwrap_or(false) } })
            }
            Ok(_) => {
                r.error(&p("pattern"), K::InvalidValue, "the pattern is empty");
                None
            }
            Err(e) => {
                let what = format!("not a regular expression: {}", e.to_string().lines().last().unwrap_or(""));
                r.error(&p("pattern"), K::InvalidValue, &what);
                None
            }
        },
    }
}

fn missing<T>(r: &mut Reporter<'_>, path: &str) -> Option<T> {
    r.missing(path, "missing: this type needs it");
    None
}

/// `[lo, hi]` or `[code]`, codes 100-599; default 200-399.
fn status(r: &mut Reporter<'_>, path: &str, v: Option<Vec<i64>>) -> Option<std::ops::RangeInclusive<u16>> {
    let Some(v) = v else {
        return Some(200..=399);
    };
    let (lo, hi) = match v.as_slice() {
        [c] => (*c, *c),
        [lo, hi] => (*lo, *hi),
        _ => {
            r.error(path, K::InvalidValue, "give [lowest, highest] status code");
            return None;
        }
    };
    if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
        r.error(path, K::InvalidValue, "status codes must be 100-599, lowest first");
        return None;
    }
    Some(u16::try_from(lo).ok()?..=u16::try_from(hi).ok()?)
}

/// Splits an `http://host[:port][/path]` or `https://…` URL.
pub fn http_url(s: &str) -> Result<HttpUrl, String> {
    let (tls, rest) = match (s.strip_prefix("http://"), s.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err("must start with http:// or https://".into()),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    if authority.contains('@') {
        return Err("user:password@ is not supported".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
        h.parse::<Ipv6Addr>().map_err(|_| "not an IPv6 address between [ ]")?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    if !host_ok {
        return Err("the URL has no valid host".into());
    }
    let port = match port {
        None if tls => 443,
        None => 80,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or("the port must be 1-65535")?,
    };
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the path must not contain spaces".into());
    }
    Ok(HttpUrl { tls, host: host.to_string(), port, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = http_url("http://127.0.0.1:8080/health?x=1").expect("valid");
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("127.0.0.1", 8080, "/health?x=1"));
        let u = http_url("http://[2001:db8::1]/").expect("valid");
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("2001:db8::1", 80, "/"));
        let u = http_url("http://localhost").expect("valid");
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("localhost", 80, "/"));
        let u = http_url("https://health.example/ok").expect("valid");
        assert_eq!((u.tls, u.host.as_str(), u.port, u.path.as_str()), (true, "health.example", 443, "/ok"));
        for bad in [
            "ftp://x",
            "http://",
            "http://x:0/",
            "http://x:99999/",
            "http://u@x/",
            "http://[::1/",
            "http://[zz]/",
            "http://x/a b",
        ] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
    }
}
