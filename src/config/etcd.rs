//! `[role] source = "etcd"` (an election) and `"etcd-key"` (follow a key): raw → typed, pure
//! apart from the `Reporter`. The candidate's default, the router id, is filled in by
//! [`default_candidate`] once `[bgp]` is read.

use super::error::{DiagnosticKind as K, Reporter};
use super::ha::http_url;
use super::raw::RawRole;
use super::values::{abs_path, foreign, millis};
use super::{EtcdConn, EtcdMode, EtcdRole, RoleSource};
use std::time::Duration;

/// Longest election prefix, key, value or candidate name.
const NAME_LIMIT: usize = 256;
/// Longest lease TTL, one hour.
const MAX_TTL_MS: u32 = 3_600_000;

/// The etcd keys of a role table at `at`; `follow` for `source = "etcd-key"`. Keys of the
/// other sources were refused by the caller; here the keys of the other etcd mode are.
pub fn role(at: &str, r: &mut Reporter<'_>, raw: &RawRole, follow: bool) -> Option<RoleSource> {
    let k = |key: &str| format!("{at}.{key}");
    let sel = if follow { "source = \"etcd-key\"" } else { "source = \"etcd\"" };
    let for_election = "source = \"etcd\" with election = \"/anycastd/dns\"";
    let for_follow = "source = \"etcd-key\" with key = \"/service/pg/leader\" and value = \"nodea\"";
    foreign(r, &k("election"), raw.election.is_some() && follow, sel, for_election);
    foreign(r, &k("candidate"), raw.candidate.is_some() && follow, sel, for_election);
    foreign(r, &k("campaign_delay_ms"), raw.campaign_delay_ms.is_some() && follow, sel, for_election);
    foreign(r, &k("key"), raw.key.is_some() && !follow, sel, for_follow);
    foreign(r, &k("value"), raw.value.is_some() && !follow, sel, for_follow);
    let endpoints = endpoints(r, &k("endpoints"), raw.endpoints.as_deref());
    let ttl = lease_ttl(r, &k("lease_ttl_ms"), raw.lease_ttl_ms);
    let margin = millis(r, &k("fence_margin_ms"), raw.fence_margin_ms, 500, 1, MAX_TTL_MS);
    let timeout = millis(r, &k("request_timeout_ms"), raw.request_timeout_ms, 0, 50, 60_000);
    let delay = millis(r, &k("campaign_delay_ms"), raw.campaign_delay_ms, 0, 0, MAX_TTL_MS);
    let mode = if follow {
        let key = name(r, &k("key"), raw.key.as_deref(), "the etcd key to follow, e.g. key = \"/service/pg/leader\"");
        let value =
            name(r, &k("value"), raw.value.as_deref(), "the value meaning \"this node\", e.g. value = \"nodea\"");
        Some(EtcdMode::Follow { key: key?, value: value? })
    } else {
        let election =
            name(r, &k("election"), raw.election.as_deref(), "the election prefix, e.g. election = \"/anycastd/dns\"");
        let candidate = match raw.candidate.as_deref() {
            None => Some(String::new()),
            Some(c) => name(r, &k("candidate"), Some(c), "this node's name in the election"),
        };
        Some(EtcdMode::Election { election: election?, candidate: candidate? })
    };
    let tls = tls(at, r, raw);
    let auth = auth(at, r, raw);
    let (ttl, margin, timeout, campaign_delay) = (ttl?, margin?, timeout?, delay?);
    if margin * 3 > ttl {
        let what = format!(
            "the fence margin must be under a third of the lease TTL ({} ms): the lease is kept alive every third of it",
            ttl.as_millis()
        );
        r.error(&k("fence_margin_ms"), K::InvalidValue, &what);
        return None;
    }
    let timeout = if timeout.is_zero() { ttl / 3 } else { timeout };
    if timeout > ttl / 2 {
        let what = format!("a request must time out within half the lease TTL ({} ms)", ttl.as_millis() / 2);
        r.error(&k("request_timeout_ms"), K::InvalidValue, &what);
        return None;
    }
    let ((ca, cert, key), (username, password_file)) = (tls?, auth?);
    let conn = EtcdConn { endpoints: endpoints?, ca, cert, key, username, password_file, timeout };
    Some(RoleSource::Etcd(EtcdRole { conn, mode: mode?, lease_ttl: ttl, margin, campaign_delay }))
}

/// The candidate's default: the router id.
pub fn default_candidate(source: &mut RoleSource, router_id: &str) {
    if let RoleSource::Etcd(EtcdRole { mode: EtcdMode::Election { candidate, .. }, .. }) = source {
        if candidate.is_empty() {
            *candidate = router_id.to_string();
        }
    }
}

/// `endpoints`: 1-16 `http://host:port` URLs (no path), all of one scheme.
fn endpoints(r: &mut Reporter<'_>, at: &str, raw: Option<&[String]>) -> Option<Vec<crate::config::HttpUrl>> {
    let Some(raw) = raw else {
        r.missing(at, "missing: etcd's client URLs, e.g. endpoints = [\"http://192.0.2.101:2379\"]");
        return None;
    };
    if raw.is_empty() || raw.len() > 16 {
        r.error(at, K::InvalidValue, "1 to 16 etcd client URLs");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, s) in raw.iter().enumerate() {
        match http_url(s) {
            Ok(u) if u.path != "/" => {
                r.error(
                    &format!("{at}[{i}]"),
                    K::InvalidValue,
                    "an etcd endpoint is scheme://host:port, without a path",
                );
                ok = false;
            }
            Ok(u) => out.push(u),
            Err(e) => {
                r.error(&format!("{at}[{i}]"), K::InvalidValue, &e);
                ok = false;
            }
        }
    }
    if ok && out.iter().any(|u| u.tls != out[0].tls) {
        r.error(at, K::Conflict, "mixes http:// and https:// endpoints: use TLS for all of them or for none");
        return None;
    }
    ok.then_some(out)
}

/// `lease_ttl_ms`: whole seconds (etcd grants seconds), at least 2 s (etcd's minimum with its
/// default timers), default 3 s.
fn lease_ttl(r: &mut Reporter<'_>, at: &str, raw: Option<i64>) -> Option<Duration> {
    let ttl = millis(r, at, raw, 3000, 2000, MAX_TTL_MS)?;
    if ttl.subsec_millis() != 0 {
        r.error(at, K::InvalidValue, "etcd grants leases in whole seconds: use a multiple of 1000");
        return None;
    }
    Some(ttl)
}

/// A required name: 1-256 printable characters.
fn name(r: &mut Reporter<'_>, at: &str, raw: Option<&str>, what: &str) -> Option<String> {
    match raw {
        None => {
            r.missing(at, &format!("missing: {what}"));
            None
        }
        Some(s) if s.is_empty() || s.len() > NAME_LIMIT || s.chars().any(char::is_control) => {
            r.error(at, K::InvalidValue, &format!("1-{NAME_LIMIT} printable characters"));
            None
        }
        Some(s) => Some(s.to_string()),
    }
}

type TlsFiles = (Option<std::path::PathBuf>, Option<std::path::PathBuf>, Option<std::path::PathBuf>);

/// `tls = { ca, cert, key }`: absolute paths; `cert` and `key` together.
fn tls(at: &str, r: &mut Reporter<'_>, raw: &RawRole) -> Option<TlsFiles> {
    let Some(t) = &raw.tls else { return Some((None, None, None)) };
    let k = |key: &str| format!("{at}.tls.{key}");
    let path = |r: &mut Reporter<'_>, key: &str, v: &Option<String>| match v {
        None => Some(None),
        Some(p) => abs_path(r, &k(key), p).map(Some),
    };
    let (ca, cert, key) = (path(r, "ca", &t.ca), path(r, "cert", &t.cert), path(r, "key", &t.key));
    let (ca, cert, key) = (ca?, cert?, key?);
    if cert.is_some() != key.is_some() {
        r.error(
            &k(if cert.is_some() { "key" } else { "cert" }),
            K::Conflict,
            "a client certificate needs both cert and key",
        );
        return None;
    }
    Some((ca, cert, key))
}

type Auth = (Option<String>, Option<std::path::PathBuf>);

/// `username` and `password_file`, together or not at all.
fn auth(at: &str, r: &mut Reporter<'_>, raw: &RawRole) -> Option<Auth> {
    let k = |key: &str| format!("{at}.{key}");
    match (&raw.username, &raw.password_file) {
        (None, None) => Some((None, None)),
        (Some(u), Some(p)) => {
            let user = name(r, &k("username"), Some(u), "an etcd user name")?;
            Some((Some(user), Some(abs_path(r, &k("password_file"), p)?)))
        }
        (Some(_), None) => {
            r.missing(&k("password_file"), "missing: username needs password_file (a 0600 file holding the password)");
            None
        }
        (None, Some(_)) => {
            r.missing(&k("username"), "missing: password_file needs a username");
            None
        }
    }
}
