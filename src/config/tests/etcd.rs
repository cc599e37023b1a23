//! `[role] source = "etcd"` and `"etcd-key"`.

use super::*;
use crate::config::{EtcdMode, EtcdRole};

fn with(role: &str) -> String {
    format!("{MINIMAL}\n[role]\n{role}")
}

const EPS: &str = "endpoints = [\"http://192.0.2.101:2379\", \"http://192.0.2.102:2379\"]";

fn etcd(c: &Config) -> &EtcdRole {
    match &c.role {
        RoleSource::Etcd(e) => e,
        other => panic!("not etcd: {other:?}"),
    }
}

#[test]
fn an_election_with_its_defaults_campaigns_as_the_router_id() {
    let c = parse(&with(&format!("source = \"etcd\"\n{EPS}\nelection = \"/anycastd/dns\""))).expect("valid");
    let e = etcd(&c);
    assert_eq!(e.mode, EtcdMode::Election { election: "/anycastd/dns".into(), candidate: "198.51.100.124".into() });
    assert_eq!(
        (e.lease_ttl, e.margin, e.conn.timeout),
        (Duration::from_secs(3), Duration::from_millis(500), Duration::from_secs(1))
    );
    assert_eq!(e.conn.endpoints.len(), 2);
    assert_eq!((e.conn.endpoints[1].host.as_str(), e.conn.endpoints[1].port), ("192.0.2.102", 2379));
    assert_eq!(c.track, None, "no track file unless asked for");
}

#[test]
fn every_election_key_is_taken() {
    let role = format!(
        "source = \"etcd\"\n{EPS}\nelection = \"/e\"\ncandidate = \"nodea\"\nlease_ttl_ms = 6000\n\
         fence_margin_ms = 1000\ncampaign_delay_ms = 300\nrequest_timeout_ms = 800\ntls = {{ ca = \"/etc/ca.pem\", cert = \"/etc/c.pem\", key = \"/etc/c.key\" }}\n\
         username = \"anycastd\"\npassword_file = \"/etc/anycastd/etcd.pw\""
    );
    let c = parse(&with(&role)).expect("valid");
    let e = etcd(&c);
    assert_eq!(e.mode, EtcdMode::Election { election: "/e".into(), candidate: "nodea".into() });
    assert_eq!(
        (e.lease_ttl, e.margin, e.conn.timeout),
        (Duration::from_secs(6), Duration::from_secs(1), Duration::from_millis(800))
    );
    assert_eq!(e.campaign_delay, Duration::from_millis(300));
    assert_eq!(e.conn.ca.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
    assert_eq!(e.conn.key.as_deref(), Some(std::path::Path::new("/etc/c.key")));
    assert_eq!(e.conn.username.as_deref(), Some("anycastd"));
}

#[test]
fn follow_mode_takes_a_key_and_a_value() {
    let c = parse(&with(&format!("source = \"etcd-key\"\n{EPS}\nkey = \"/service/pg/leader\"\nvalue = \"nodea\"")))
        .expect("valid");
    assert_eq!(etcd(&c).mode, EtcdMode::Follow { key: "/service/pg/leader".into(), value: "nodea".into() });
}

#[test]
fn a_service_has_its_own_election() {
    let text = format!(
        "{MINIMAL}\n[[service]]\nname = \"dns\"\nprefixes = [\"203.0.113.53/32\"]\n[service.role]\nsource = \"etcd\"\n{EPS}\nelection = \"/anycastd/dns\""
    );
    let text = text.replace("prefixes = [\"203.0.113.124/32\"]", "prefixes = []");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let role = c.services[0].role.as_ref().expect("its own role");
    assert!(
        matches!(&role.source, RoleSource::Etcd(e) if e.mode == EtcdMode::Election { election: "/anycastd/dns".into(), candidate: "198.51.100.124".into() }),
        "{role:?}"
    );
}

#[test]
fn etcd_errors_say_what_and_how() {
    let cases = [
        ("source = \"etcd\"\nelection = \"/e\"", "role.endpoints", "missing"),
        (&format!("source = \"etcd\"\n{EPS}") as &str, "role.election", "missing"),
        (&format!("source = \"etcd-key\"\n{EPS}\nkey = \"/k\""), "role.value", "missing"),
        (
            &format!("source = \"etcd-key\"\n{EPS}\nkey = \"/k\"\nvalue = \"a\"\nelection = \"/e\""),
            "role.election",
            "does not apply",
        ),
        (
            &format!("source = \"etcd\"\n{EPS}\nelection = \"/e\"\nlease_ttl_ms = 2500"),
            "role.lease_ttl_ms",
            "whole seconds",
        ),
        (&format!("source = \"etcd\"\n{EPS}\nelection = \"/e\"\nlease_ttl_ms = 1000"), "role.lease_ttl_ms", "2000"),
        (
            &format!("source = \"etcd\"\n{EPS}\nelection = \"/e\"\nfence_margin_ms = 1500"),
            "role.fence_margin_ms",
            "third",
        ),
        (
            &format!("source = \"etcd\"\n{EPS}\nelection = \"/e\"\nrequest_timeout_ms = 2000"),
            "role.request_timeout_ms",
            "half",
        ),
        (
            "source = \"etcd\"\nendpoints = [\"http://192.0.2.1:2379/v3\"]\nelection = \"/e\"",
            "role.endpoints[0]",
            "without a path",
        ),
        (
            "source = \"etcd\"\nendpoints = [\"http://192.0.2.1:2379\", \"https://192.0.2.2:2379\"]\nelection = \"/e\"",
            "role.endpoints",
            "mixes",
        ),
        ("source = \"etcd\"\nendpoints = []\nelection = \"/e\"", "role.endpoints", "1 to 16"),
        (&format!("source = \"etcd\"\n{EPS}\nelection = \"/e\"\nusername = \"u\""), "role.password_file", "missing"),
        (
            &format!("source = \"etcd\"\n{EPS}\nelection = \"/e\"\ntls = {{ cert = \"/c.pem\" }}"),
            "role.tls.key",
            "both cert and key",
        ),
        ("source = \"file\"\npath = \"/run/r\"\nelection = \"/e\"", "role.election", "does not apply"),
    ];
    for (role, at, says) in cases {
        let e = errors(&with(role));
        assert!(e.iter().any(|m| m.contains(at) && m.contains(says)), "{role}: want {at} … {says}, got {e:?}");
    }
}
