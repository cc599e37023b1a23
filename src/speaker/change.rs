//! What a reload changed in one neighbor's settings, in words for the log line of its restart
//! ("MD5 key added", "hold time 9s → 6s"). Keys are named, never shown: a key is only ever
//! "added", "changed" or "removed". Pure: compares two [`NeighborSpec`]s, no I/O.

use super::neighbor::NeighborSpec;
use std::fmt::Display;

/// "added" / "changed" / "removed" for an optional secret; `None` when it is the same.
fn secret<T: PartialEq>(old: &Option<T>, new: &Option<T>) -> Option<&'static str> {
    match (old, new) {
        (None, Some(_)) => Some("added"),
        (Some(_), None) => Some("removed"),
        (Some(a), Some(b)) if a != b => Some("changed"),
        _ => None,
    }
}

/// `what old → new` when the two differ.
fn value<T: PartialEq + Display>(out: &mut Vec<String>, what: &str, old: T, new: T) {
    if old != new {
        out.push(format!("{what} {old} → {new}"));
    }
}

/// `what` when the two differ (values not worth printing, or too long).
fn named<T: PartialEq>(out: &mut Vec<String>, what: &str, old: &T, new: &T) {
    if old != new {
        out.push(what.to_string());
    }
}

fn opt<T: Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "none".to_string(), ToString::to_string)
}

/// Every difference between the running spec and the reloaded one, comma-separated; "settings
/// changed" when only a field without a name here differs.
pub fn describe(old: &NeighborSpec, new: &NeighborSpec) -> String {
    let mut out = Vec::new();
    let (t0, t1) = (&old.transport, &new.transport);
    if let Some(how) = secret(&t0.md5_key, &t1.md5_key) {
        out.push(format!("MD5 key {how}"));
    }
    if let Some(how) = secret(&t0.tcp_ao, &t1.tcp_ao) {
        out.push(format!("TCP-AO settings {how}"));
    }
    value(&mut out, "local address", opt(&t0.local), opt(&t1.local));
    value(&mut out, "GTSM", t0.ttl_security, t1.ttl_security);
    value(&mut out, "multihop TTL", opt(&t0.multihop), opt(&t1.multihop));
    value(&mut out, "port", old.remote.port(), new.remote.port());
    let (s0, s1) = (&old.session, &new.session);
    value(&mut out, "local AS", s0.local_as, s1.local_as);
    value(&mut out, "remote AS", s0.remote_as, s1.remote_as);
    value(&mut out, "router ID", s0.router_id, s1.router_id);
    value(&mut out, "hold time", s0.hold_time, s1.hold_time);
    value(&mut out, "passive", s0.passive, s1.passive);
    value(&mut out, "max prefixes", opt(&s0.max_prefixes), opt(&s1.max_prefixes));
    named(&mut out, "connect retry", &s0.connect_retry, &s1.connect_retry);
    named(&mut out, "graceful restart", &s0.graceful_restart, &s1.graceful_restart);
    named(&mut out, "export policy (next hop, MED or communities)", &old.policy, &new.policy);
    named(&mut out, "BFD", &old.bfd, &new.bfd);
    if out.is_empty() {
        return "settings changed".to_string();
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::types::Md5Key;

    fn spec() -> NeighborSpec {
        let text = "[bgp]\nlocal_as = 65124\nrouter_id = \"192.0.2.11\"\nlocal_ip = \"192.0.2.11\"\n\
                    [[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nremote_as = 65000\n\
                    [anycast]\nprefixes = [\"203.0.113.124/32\"]\n";
        let c = Config::from_str(text, std::path::Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"));
        let n = c.bgp.neighbors.first().expect("neighbor");
        super::super::neighbor_spec(&c.bgp, n, 1)
    }

    fn with_key(k: Option<&str>) -> NeighborSpec {
        let mut s = spec();
        s.transport.md5_key = k.map(|k| Md5Key::new(k).expect("key"));
        s
    }

    #[test]
    fn md5_key_added_changed_removed_and_never_shown() {
        let cases = [
            (None, Some("s3cret-one"), "MD5 key added"),
            (Some("s3cret-one"), Some("s3cret-two"), "MD5 key changed"),
            (Some("s3cret-one"), None, "MD5 key removed"),
        ];
        for (a, b, want) in cases {
            let d = describe(&with_key(a), &with_key(b));
            assert_eq!(d, want);
            assert!(!d.contains("s3cret"));
        }
    }

    #[test]
    fn other_changes_are_named_with_their_values() {
        let a = spec();
        let mut b = a.clone();
        b.session.hold_time = crate::types::HoldTime::new(6).expect("hold");
        b.transport.ttl_security = true;
        b.transport.md5_key = Some(Md5Key::new("k").expect("key"));
        assert_eq!(describe(&a, &b), "MD5 key added, GTSM false → true, hold time 90s → 6s");
        let mut c = a.clone();
        c.session.idle_hold_max = std::time::Duration::from_secs(1);
        assert_eq!(describe(&a, &c), "settings changed");
    }
}
