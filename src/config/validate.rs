//! Raw → typed conversion of the whole file: `[bgp]` and `[anycast]` here, the HA sections in
//! `ha.rs`, the local endpoints in `endpoints.rs`, on the value helpers of `values.rs`. Each
//! rule records a located error through the `Reporter` and carries on, so one pass reports as
//! many problems as it can. A neighbor's `bfd` table is converted in `bfd.rs`. Reads the
//! `md5_file` key files through `values::key_file` (the only I/O); never panics on any value.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU8;
use std::time::Duration;

use ipnet::IpNet;

use super::error::{DiagnosticKind as K, Reporter};
use super::raw::{RawAnycast, RawBgp, RawConfig, RawNeighbor, RawService};
use super::tcp_ao;
use super::values::{choice, host_ip, key_file, num};
use super::{
    bfd, endpoints, ha, spans, Anycast, Bgp, Config, Neighbor, PreferVia, Preference, Service, Standby, TtlMode,
};
use crate::types::{Asn, HoldTime, Md5Key, RouterId};
use crate::wire::community::{Community, LargeCommunity};

/// The whole conversion; `None` if anything was wrong (see `r.errors`).
pub fn config(raw: RawConfig, r: &mut Reporter<'_>) -> Option<Config> {
    let bgp = match raw.bgp {
        Some(b) => bgp(b, r),
        None => {
            r.missing("bgp", "missing [bgp] section");
            None
        }
    };
    let on_change = raw.anycast.as_ref().and_then(|a| a.on_change.clone());
    let anycast = match raw.anycast {
        Some(a) => anycast(a, r),
        // The services hold the prefixes; [anycast] keeps its defaults (interface lo, …).
        None if !raw.service.is_empty() => anycast(Default::default(), r),
        None => {
            r.missing("anycast", "missing [anycast] section");
            None
        }
    };
    let role = ha::role(raw.role, r);
    let interface = anycast.as_ref().map(|a| a.interface.clone()).unwrap_or_else(|| "lo".into());
    let health = ha::health(raw.health, r, &interface);
    let control = endpoints::control(raw.control, r);
    let metrics = endpoints::metrics(raw.metrics, r);
    let no_services = raw.service.is_empty();
    let services = services(raw.service, r, anycast.as_ref());
    let on_change = hook(r, "anycast.on_change", on_change);
    if no_services && anycast.as_ref().is_some_and(|a| a.prefixes.is_empty()) {
        let what = "at least one prefix is required (here, or in a [[service]])";
        r.error("anycast.prefixes", K::InvalidValue, what);
        return None;
    }
    let (bgp, anycast, (mut role, track), mut services) = (bgp?, anycast?, role?, services?);
    let router_id = bgp.router_id.to_string();
    super::etcd::default_candidate(&mut role, &router_id);
    for s in services.iter_mut() {
        if let Some(sr) = s.role.as_mut() {
            super::etcd::default_candidate(&mut sr.source, &router_id);
        }
    }
    next_hop_warnings(&bgp, &anycast, r);
    gtsm_listener_warnings(&bgp, r);
    Some(Config {
        bgp,
        anycast,
        role,
        track,
        health: health?,
        control: control?,
        metrics: metrics?,
        services,
        on_change: on_change?,
        warnings: Vec::new(),
    })
}

/// An anycast prefix; a bare address is a host prefix (/32 or /128). The error explains how
/// to correct host bits.
pub fn parse_prefix(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    let net = s.parse::<IpNet>().map_err(|_| "not an IP prefix (address/length) or address".to_string())?;
    if net.addr() != net.network() {
        return Err(format!(
            "host bits are set after the /{len} mask; example: \"{}\" for the whole network, \
             or \"{}/{}\" for this one address",
            net.trunc(),
            net.addr(),
            net.max_prefix_len(),
            len = net.prefix_len()
        ));
    }
    Ok(net)
}

fn bgp(b: RawBgp, r: &mut Reporter<'_>) -> Option<Bgp> {
    let local_as = num(r, "bgp.local_as", b.local_as, 1u32, u32::MAX, "an AS number")
        .and_then(|v| Asn::new_local(v).map_err(|e| r.error("bgp.local_as", K::InvalidValue, &e.0)).ok());
    let hold_time = hold(r, "bgp.hold_time", b.hold_time, HoldTime::DEFAULT);
    let connect_retry = match b.connect_retry {
        Some(v) => num(r, "bgp.connect_retry", v, 1u16, u16::MAX, "seconds").map(|s| Duration::from_secs(s.into())),
        None => Some(crate::session::CONNECT_RETRY),
    };
    let port = match b.port {
        Some(v) => num(r, "bgp.port", v, 1u16, u16::MAX, "a TCP port"),
        None => Some(179),
    };
    let local_ip = match &b.local_ip {
        Some(s) => session_ip(r, "bgp.local_ip", s).map(Some).ok_or(()),
        None => Ok(None),
    };
    let router_id = match (&b.router_id, local_ip) {
        (Some(s), _) => match s.trim().parse() {
            Ok(a) => RouterId::new(a).map_err(|e| r.error("bgp.router_id", K::InvalidValue, &e.0)).ok(),
            Err(_) => {
                r.error("bgp.router_id", K::InvalidValue, "not an IPv4 address");
                None
            }
        },
        (None, Ok(Some(IpAddr::V4(a)))) => RouterId::new(a).ok(),
        (None, Err(())) => None,
        (None, _) => {
            r.missing("bgp.router_id", "missing, and there is no IPv4 bgp.local_ip to take it from");
            None
        }
    };
    let listen = b.listen.unwrap_or(true);
    let defaults =
        Defaults { local_ip, hold_time: hold_time.unwrap_or(HoldTime::DEFAULT), port: port.unwrap_or(179), listen };
    let mut neighbors = Vec::new();
    let mut seen: HashMap<IpAddr, usize> = HashMap::new();
    let mut all_ok = true;
    for (i, n) in b.neighbor.into_iter().enumerate() {
        let Some(n) = neighbor(n, i, &defaults, r) else {
            all_ok = false;
            continue;
        };
        if let Some(j) = seen.get(&n.remote_ip) {
            let line = spans::line_col(r.src, r.index.offset(&format!("bgp.neighbor[{j}]"))).0;
            let what = format!("neighbor {} is already defined in bgp.neighbor[{j}] (line {line})", n.remote_ip);
            r.error(&format!("bgp.neighbor[{i}].remote_ip"), K::Duplicate, &what);
            all_ok = false;
        }
        seen.insert(n.remote_ip, i);
        neighbors.push(n);
    }
    if neighbors.is_empty() && all_ok {
        r.missing("bgp.neighbor", "at least one neighbor is required");
    }
    Some(Bgp {
        local_as: local_as?,
        router_id: router_id?,
        local_ip: local_ip.ok()?,
        hold_time: hold_time?,
        connect_retry: connect_retry?,
        port: port?,
        listen,
        graceful_restart: b.graceful_restart.unwrap_or(false),
        next_hop_ipv4: match &b.next_hop_ipv4 {
            Some(s) => match host_ip(r, "bgp.next_hop_ipv4", s)? {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => {
                    r.error("bgp.next_hop_ipv4", K::InvalidValue, "is not an IPv4 address");
                    return None;
                }
            },
            None => None,
        },
        next_hop_ipv6: match &b.next_hop_ipv6 {
            Some(s) => match host_ip(r, "bgp.next_hop_ipv6", s)? {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => {
                    r.error("bgp.next_hop_ipv6", K::InvalidValue, "is not an IPv6 address");
                    return None;
                }
            },
            None => None,
        },
        neighbors: Some(neighbors).filter(|n| all_ok && !n.is_empty())?,
    })
}

/// `[bgp]` values that neighbours inherit.
struct Defaults {
    /// `Err` when `bgp.local_ip` itself is invalid (already reported).
    local_ip: Result<Option<IpAddr>, ()>,
    hold_time: HoldTime,
    port: u16,
    listen: bool,
}

fn hold(r: &mut Reporter<'_>, path: &str, v: Option<i64>, default: HoldTime) -> Option<HoldTime> {
    let Some(v) = v else { return Some(default) };
    let s = num(r, path, v, 0u16, u16::MAX, "seconds")?;
    HoldTime::new(s).map_err(|e| r.error(path, K::InvalidValue, &e.0)).ok()
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// A BGP session address: a unicast host address, and for IPv6 neither IPv4-mapped
/// (`::ffff:a.b.c.d`) nor IPv4-compatible (`::a.b.c.d`): such a neighbor would get an IPv6
/// socket and a v6-only listener, where an IPv4 peer never arrives.
fn session_ip(r: &mut Reporter<'_>, path: &str, s: &str) -> Option<IpAddr> {
    let ip = host_ip(r, path, s)?;
    let IpAddr::V6(v6) = ip else { return Some(ip) };
    let [a, b, c, d, e, f, g, h] = v6.segments();
    let embedded = std::net::Ipv4Addr::new((g >> 8) as u8, g as u8, (h >> 8) as u8, h as u8);
    let kind = match [a, b, c, d, e, f] {
        [0, 0, 0, 0, 0, 0xffff] => "an IPv4-mapped IPv6 address",
        // `::` and `::1` are caught above or are the loopback; anything else here embeds IPv4.
        [0, 0, 0, 0, 0, 0] if !v6.is_loopback() => "an IPv4-compatible IPv6 address (deprecated, RFC 4291 §2.5.5.1)",
        _ => return Some(ip),
    };
    let what = format!(
        "is {kind}, which an IPv6 socket never matches for an IPv4 peer; \
         write the IPv4 address itself (\"{embedded}\", with an IPv4 local_ip) or a real IPv6 address"
    );
    r.error(path, K::InvalidValue, &what);
    None
}

fn neighbor(n: RawNeighbor, i: usize, d: &Defaults, r: &mut Reporter<'_>) -> Option<Neighbor> {
    let p = |k: &str| format!("bgp.neighbor[{i}].{k}");
    let remote_ip = session_ip(r, &p("remote_ip"), &n.remote_ip);
    let remote_as = num(r, &p("remote_as"), n.remote_as, 1u32, u32::MAX, "an AS number").and_then(|v| Asn::new(v).ok());
    let own_local = n.local_ip.as_ref().map(|s| session_ip(r, &p("local_ip"), s));
    let local_ip = match (remote_ip, own_local, d.local_ip) {
        (_, Some(None), _) | (None, _, _) => None,
        (Some(rip), Some(Some(l)), _) if rip.is_ipv4() != l.is_ipv4() => {
            let what = format!(
                "is {} but remote_ip {rip} is {}; the session source must be the same family",
                family(l),
                family(rip)
            );
            r.error(&p("local_ip"), K::Conflict, &what);
            None
        }
        (Some(_), Some(Some(l)), _) => Some(l),
        (Some(_), None, Err(())) => None,
        (Some(rip), None, Ok(Some(g))) if rip.is_ipv4() != g.is_ipv4() => {
            let why = format!(
                "missing: remote_ip {rip} is {} but bgp.local_ip is {}; give this neighbor its own local_ip",
                family(rip),
                family(g)
            );
            r.missing(&p("local_ip"), &why);
            None
        }
        (Some(_), None, Ok(Some(g))) => Some(g),
        (Some(_), None, Ok(None)) => {
            r.missing(&p("local_ip"), "missing: no session source address here nor in [bgp]");
            None
        }
    };
    let md5 = match (&n.md5, &n.md5_file) {
        (Some(_), Some(_)) => {
            r.error_ex(
                &p("md5_file"),
                K::Conflict,
                "md5 and md5_file are both set; keep one",
                "md5_file = \"/etc/anycastd/bgp.key\"",
            );
            None
        }
        (Some(k), None) => {
            Md5Key::new(k.as_bytes()).map(Some).map_err(|e| r.error(&p("md5"), K::InvalidValue, &e.0)).ok()
        }
        (None, Some(f)) => key_file(r, &p("md5_file"), f, Md5Key::new).map(Some),
        (None, None) => Some(None),
    };
    let passive = n.passive.unwrap_or(false);
    if passive && !d.listen {
        r.error_ex(
            &p("passive"),
            K::Conflict,
            "a passive neighbor can only connect to us, but bgp.listen = false",
            "passive = false",
        );
    }
    let ttl = match (n.ttl_security.unwrap_or(false), n.multihop) {
        (true, Some(_)) => {
            let what = "cannot be combined with ttl_security = true (GTSM always sends TTL 255, RFC 5082)";
            r.error(&p("multihop"), K::Conflict, what);
            None
        }
        (true, None) => Some(TtlMode::Security),
        (false, Some(h)) => {
            num(r, &p("multihop"), h, 1u8, u8::MAX, "a TTL").and_then(NonZeroU8::new).map(TtlMode::Multihop)
        }
        (false, None) => Some(TtlMode::Default),
    };
    let hold_time = hold(r, &p("hold_time"), n.hold_time, d.hold_time);
    let max_prefixes = opt(n.max_prefixes, |v| num(r, &p("max_prefixes"), v, 1u32, u32::MAX, "a prefix count"));
    let port = match n.port {
        Some(v) => num(r, &p("port"), v, 1u16, u16::MAX, "a TCP port"),
        None => Some(d.port),
    };
    let med = opt(n.med, |v| num(r, &p("med"), v, 0u32, u32::MAX, "a MED"));
    let communities = list::<Community>(r, &p("communities"), n.communities.unwrap_or_default());
    let large = list::<LargeCommunity>(r, &p("large_communities"), n.large_communities.unwrap_or_default());
    let bfd = match n.bfd {
        Some(b) => bfd::neighbor_bfd(b, &p("bfd"), r).map(Some),
        None => Some(None),
    };
    let tcp_ao = match n.tcp_ao {
        Some(_) if n.md5.is_some() || n.md5_file.is_some() => {
            let what = "cannot be combined with md5 or md5_file: a connection uses TCP-AO or TCP-MD5, never both \
                        (RFC 5925); keep one";
            r.error(&p("tcp_ao"), K::Conflict, what);
            None
        }
        Some(a) => tcp_ao::neighbor_tcp_ao(a, &p("tcp_ao"), r).map(Some),
        None => Some(None),
    };
    if let (Some(Some(b)), Some(TtlMode::Multihop(_))) = (&bfd, &ttl) {
        if b.auth.is_none() {
            r.warn(
                &p("bfd"),
                "multihop BFD without auth: RFC 5883 checks no TTL, so any host that reaches this address \
                 can forge the router's packets and keep a dead path Up; set auth (RFC 5883 §6)",
            );
        }
    }
    Some(Neighbor {
        remote_ip: remote_ip?,
        remote_as: remote_as?,
        local_ip: local_ip?,
        md5: md5?,
        passive,
        ttl: ttl?,
        hold_time: hold_time?,
        max_prefixes: max_prefixes?,
        port: port?,
        med: med?,
        communities: communities?,
        large_communities: large?,
        bfd: bfd?,
        tcp_ao: tcp_ao?,
    })
}

/// `Some(None)` when absent, `Some(Some(v))` when valid, `None` when invalid.
fn opt<T>(v: Option<i64>, f: impl FnOnce(i64) -> Option<T>) -> Option<Option<T>> {
    match v {
        None => Some(None),
        Some(v) => f(v).map(Some),
    }
}

fn list<T: std::str::FromStr<Err = String>>(r: &mut Reporter<'_>, path: &str, items: Vec<String>) -> Option<Vec<T>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (k, s) in items.iter().enumerate() {
        match s.parse::<T>() {
            Ok(v) => out.push(v),
            Err(e) => {
                r.error(&format!("{path}[{k}]"), K::InvalidValue, &e);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn anycast(a: RawAnycast, r: &mut Reporter<'_>) -> Option<Anycast> {
    let mut ok = true;
    let prefixes = prefix_list(r, "anycast.prefixes", &a.prefixes);
    let standby = standby(r, "anycast", a.standby.as_deref(), a.prepend, a.standby_med);
    let preference = preference(r, a.preference, a.preference_via.as_deref());
    let interface = a.interface.unwrap_or_else(|| "lo".into());
    let bad_name = interface.is_empty()
        || interface.len() > 15
        || interface == "."
        || interface == ".."
        || interface.chars().any(|c| c == '/' || c.is_whitespace() || c.is_control());
    if bad_name {
        r.error("anycast.interface", K::InvalidValue, "not a Linux interface name (1-15 bytes, no '/' or spaces)");
        ok = false;
    }
    Some(Anycast {
        prefixes: prefixes.filter(|_| ok)?,
        standby: standby?,
        manage_loopback: a.manage_loopback.unwrap_or(false),
        interface,
        preference: preference?,
    })
}

/// A list of anycast prefixes at key `at`: valid, none twice (may be empty; the caller says
/// whether that is allowed).
fn prefix_list(r: &mut Reporter<'_>, at: &str, raw: &[String]) -> Option<Vec<IpNet>> {
    let mut prefixes = Vec::new();
    let mut ok = true;
    for (k, s) in raw.iter().enumerate() {
        let path = format!("{at}[{k}]");
        match parse_prefix(s) {
            Ok(net) if prefixes.contains(&net) => {
                r.error(&path, K::Duplicate, &format!("{net} is listed twice"));
                ok = false;
            }
            Ok(net) => prefixes.push(net),
            Err(e) if e.contains("example:") => {
                let (what, ex) = e.split_once("; example: ").unwrap_or((&e, ""));
                r.error_ex(&path, K::InvalidValue, what, ex);
                ok = false;
            }
            Err(e) => {
                r.error(&path, K::InvalidValue, &e);
                ok = false;
            }
        }
    }
    ok.then_some(prefixes)
}

/// `standby`, `prepend` and `standby_med` of the table at `at` (`anycast`, `service[1]`).
fn standby(
    r: &mut Reporter<'_>,
    at: &str,
    standby: Option<&str>,
    prepend: Option<i64>,
    standby_med: Option<i64>,
) -> Option<Standby> {
    let k = |key: &str| format!("{at}.{key}");
    match standby.map(|s| choice(r, &k("standby"), s, &["withdraw", "prepend"])) {
        None | Some(Some(0)) => {
            if prepend.is_some() {
                r.warn(&k("prepend"), "has no effect unless standby = \"prepend\"");
            }
            if standby_med.is_some() {
                r.warn(&k("standby_med"), "has no effect unless standby = \"prepend\"");
            }
            Some(Standby::Withdraw)
        }
        Some(Some(_)) => {
            let count = match prepend {
                Some(v) => num(r, &k("prepend"), v, 1u8, 10, "the prepend count"),
                None => Some(3),
            };
            let med = opt(standby_med, |v| num(r, &k("standby_med"), v, 0u32, u32::MAX, "a MED"));
            count.zip(med).map(|(count, med)| Standby::Prepend { count, med })
        }
        Some(None) => None,
    }
}

/// `[[service]]`: names unique (and not `default`), prefixes not claimed twice across all
/// services (the implicit `default` one's included), each service's checks and role.
fn services(raw: Vec<RawService>, r: &mut Reporter<'_>, anycast: Option<&Anycast>) -> Option<Vec<Service>> {
    let mut out = Vec::new();
    let mut ok = true;
    let interface = anycast.map(|a| a.interface.as_str()).unwrap_or("lo");
    // Who claims each prefix: the implicit service first.
    let mut claimed: HashMap<IpNet, String> = HashMap::new();
    for p in anycast.map(|a| a.prefixes.as_slice()).unwrap_or_default() {
        claimed.insert(*p, "anycast.prefixes (service `default`)".into());
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, s) in raw.into_iter().enumerate() {
        let at = format!("service[{i}]");
        let k = |key: &str| format!("{at}.{key}");
        let name_ok = !s.name.is_empty()
            && s.name.len() <= 32
            && s.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
        if !name_ok {
            r.error(&k("name"), K::InvalidValue, "a service name is 1-32 characters of a-z 0-9 _ -");
            ok = false;
        } else if s.name == crate::config::DEFAULT_SERVICE {
            let what = "`default` is the name of the service made of [anycast] prefixes; choose another";
            r.error_ex(&k("name"), K::InvalidValue, what, "name = \"dns\"");
            ok = false;
        } else if let Some(j) = names.get(&s.name) {
            let what = format!("service name `{}` is already used by service[{j}]", s.name);
            r.error_ex(&k("name"), K::Duplicate, &what, "name = \"dns-2\"");
            ok = false;
        }
        names.entry(s.name.clone()).or_insert(i);
        let prefixes = prefix_list(r, &k("prefixes"), &s.prefixes);
        if let Some(ps) = &prefixes {
            if ps.is_empty() {
                r.error(&k("prefixes"), K::InvalidValue, "a service needs at least one prefix");
                ok = false;
            }
            for (j, p) in ps.iter().enumerate() {
                match claimed.get(p) {
                    Some(other) => {
                        let what = format!("{p} is already announced by {other}: a prefix belongs to one service");
                        r.error(&format!("{at}.prefixes[{j}]"), K::Duplicate, &what);
                        ok = false;
                    }
                    None => {
                        claimed.insert(*p, format!("service `{}`", s.name));
                    }
                }
            }
        }
        let standby = standby(r, &at, s.standby.as_deref(), s.prepend, s.standby_med);
        let checks = ha::checks(&k("check"), s.check, r, interface);
        let role = match s.role {
            None => Some(None),
            Some(raw) => {
                let path = std::path::PathBuf::from(format!("{}.{}", ha::DEFAULT_ROLE_PATH, s.name));
                let track = std::path::PathBuf::from(format!("{}.{}", crate::config::DEFAULT_TRACK_FILE, s.name));
                ha::role_at(&k("role"), raw, r, path, track)
                    .map(|(source, track)| Some(crate::config::ServiceRole { source, track }))
            }
        };
        let on_change = hook(r, &k("on_change"), s.on_change);
        match (prefixes, standby, checks, role, on_change) {
            (Some(prefixes), Some(standby), Some(checks), Some(role), Some(on_change)) => {
                out.push(Service { name: s.name, prefixes, standby, checks, role, on_change })
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `on_change = ["/path/cmd", "arg", …]`: an absolute program path.
fn hook(r: &mut Reporter<'_>, at: &str, raw: Option<Vec<String>>) -> Option<Option<Vec<String>>> {
    let Some(argv) = raw else { return Some(None) };
    match argv.first() {
        Some(p) if std::path::Path::new(p).is_absolute() => Some(Some(argv)),
        _ => {
            r.error(at, K::InvalidValue, "the hook is an argv whose first element is an absolute program path");
            None
        }
    }
}

/// `preference` (0-255) and `preference_via` (`med`, `as-path`, `both`; default `med`).
fn preference(r: &mut Reporter<'_>, value: Option<i64>, via: Option<&str>) -> Option<Option<Preference>> {
    let Some(v) = value else {
        if via.is_some() {
            r.warn("anycast.preference_via", "has no effect without preference");
        }
        return Some(None);
    };
    let value = num(r, "anycast.preference", v, 0u8, 255, "a preference (higher = more preferred)");
    let via = match via.map(|s| choice(r, "anycast.preference_via", s, &["med", "as-path", "both"])) {
        None => Some(PreferVia::Med),
        Some(Some(0)) => Some(PreferVia::Med),
        Some(Some(1)) => Some(PreferVia::AsPath),
        Some(Some(_)) => Some(PreferVia::Both),
        Some(None) => None,
    };
    Some(Some(Preference { value: value?, via: via? }))
}

/// Warns about a neighbor without GTSM that shares its listening address with a GTSM neighbor:
/// the kernel's minimum TTL is per listening socket, so the listener drops that neighbor's
/// SYNs unless they arrive with TTL 255; it can still be reached by our own connection.
fn gtsm_listener_warnings(bgp: &Bgp, r: &mut Reporter<'_>) {
    if !bgp.listen {
        return;
    }
    for (i, n) in bgp.neighbors.iter().enumerate() {
        let shares = |m: &&Neighbor| m.local_ip == n.local_ip && m.ttl == TtlMode::Security;
        let Some(g) = bgp.neighbors.iter().find(shares) else { continue };
        if n.ttl == TtlMode::Security {
            continue;
        }
        let what = format!(
            "shares local address {} with GTSM neighbor {} (ttl_security = true): the listener accepts only TTL 255 there, so connections from {} reach it only if they arrive with TTL 255{}; give it another local_ip or GTSM too",
            n.local_ip,
            g.remote_ip,
            n.remote_ip,
            if n.passive { " — and this neighbor is passive, so its session may never come up" } else { " (our own connections to it are not affected)" }
        );
        r.warn(&format!("bgp.neighbor[{i}].local_ip"), &what);
    }
}

/// Warns when a prefix family has no session with a source address of that family, which
/// the speaker needs as next hop (IPv6 NLRI needs an IPv6 next hop, RFC 4760 / RFC 2545;
/// IPv4 over IPv6 would need RFC 8950).
fn next_hop_warnings(bgp: &Bgp, anycast: &Anycast, r: &mut Reporter<'_>) {
    for v6 in [false, true] {
        let configured = if v6 { bgp.next_hop_ipv6.is_some() } else { bgp.next_hop_ipv4.is_some() };
        let has_source = configured || bgp.neighbors.iter().any(|n| n.local_ip.is_ipv6() == v6);
        let first = anycast.prefixes.iter().position(|p| matches!(p, IpNet::V6(_)) == v6);
        if let (false, Some(k)) = (has_source, first) {
            let fam = if v6 { "IPv6" } else { "IPv4" };
            let what = format!(
                "no neighbor has an {fam} session and bgp.next_hop_{} is not set, so there is no {fam} next hop; {fam} prefixes will not be announced", if v6 { "ipv6" } else { "ipv4" }
            );
            r.warn(&format!("anycast.prefixes[{k}]"), &what);
        }
    }
}
