//! `bgp set` / `bgp unset` edits and `write_atomic`: creation, update in place with comments
//! and other sections kept, idempotence, refusal of invalid results, file modes.

use super::*;
use crate::config::edit::{apply_bgp_set, apply_bgp_unset, parse_anycast_ip, write_atomic, BgpSet, EditOutcome};

fn full_set() -> BgpSet {
    BgpSet {
        local_ip: Some(ip("198.51.100.124")),
        anycast_ip: vec![parse_anycast_ip("203.0.113.124").expect("addr")],
        remote_ip: vec![ip("192.0.2.1"), ip("192.0.2.2")],
        local_as: Asn::new(65124).ok(),
        remote_as: Asn::new(65000).ok(),
        local_router_id: "198.51.100.124".parse().ok(),
        md5: Some("secret".into()),
        md5_file: None,
        bfd_interval_ms: None,
        bfd_multiplier: None,
    }
}

fn set(existing: Option<&str>, s: &BgpSet) -> EditOutcome {
    apply_bgp_set(existing, s, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"))
}

const CREATED: &str = r#"[bgp]
local_as = 65124
router_id = "198.51.100.124"
local_ip = "198.51.100.124"

[[bgp.neighbor]]
remote_ip = "192.0.2.1"
remote_as = 65000
md5 = "secret"

[[bgp.neighbor]]
remote_ip = "192.0.2.2"
remote_as = 65000
md5 = "secret"

[anycast]
prefixes = ["203.0.113.124/32"]
"#;

#[test]
fn create_from_nothing_then_idempotent() {
    let out = set(None, &full_set());
    assert_eq!(out.text, CREATED);
    assert_eq!(
        out.changes,
        [
            "+ bgp.local_as = 65124",
            "+ bgp.router_id = \"198.51.100.124\"",
            "+ bgp.local_ip = \"198.51.100.124\"",
            "+ bgp.neighbor remote_ip=192.0.2.1 remote_as=65000 md5=<redacted>",
            "+ bgp.neighbor remote_ip=192.0.2.2 remote_as=65000 md5=<redacted>",
            "+ anycast.prefixes = [\"203.0.113.124/32\"]",
        ]
    );
    assert!(out.changed && out.holds_key);
    let again = set(Some(&out.text), &full_set());
    assert_eq!((again.text.as_str(), again.changed, again.holds_key), (CREATED, false, true));
    assert_eq!(again.changes, Vec::<String>::new());
}

const EXISTING: &str = r#"# Site A anycast node
[bgp]
local_as = 65000 # old AS
local_ip = "198.51.100.124"
hold_time = 9

# upstream 1
[[bgp.neighbor]]
remote_ip = "192.0.2.1"
remote_as = 64999
passive = true # they connect to us
communities = ["65000:1"]

# upstream to retire
[[bgp.neighbor]]
remote_ip = "192.0.2.3"
remote_as = 64999

[anycast]
prefixes = ["203.0.113.124/32"] # the service address

[role]
source = "keepalived"

[[health.check]]
name = "dns"
type = "tcp"
address = "127.0.0.1:53"
"#;

const UPDATED: &str = r#"# Site A anycast node
[bgp]
local_as = 65124 # old AS
local_ip = "198.51.100.124"
hold_time = 9

# upstream 1
[[bgp.neighbor]]
remote_ip = "192.0.2.1"
remote_as = 64999
passive = true # they connect to us
communities = ["65000:1"]

[[bgp.neighbor]]
remote_ip = "192.0.2.2"
remote_as = 64999

[anycast]
prefixes = ["203.0.113.124/32", "2001:db8:124::1/128"] # the service address

[role]
source = "keepalived"

[[health.check]]
name = "dns"
type = "tcp"
address = "127.0.0.1:53"
"#;

#[test]
fn update_keeps_comments_other_sections_and_neighbor_keys() {
    let s = BgpSet {
        local_as: Asn::new(65124).ok(),
        remote_ip: vec![ip("192.0.2.1"), ip("192.0.2.2")],
        anycast_ip: vec![
            parse_anycast_ip("203.0.113.124/32").expect("net"),
            parse_anycast_ip("2001:db8:124::1").expect("addr"),
        ],
        ..BgpSet::default()
    };
    let out = set(Some(EXISTING), &s);
    assert_eq!(out.text, UPDATED);
    assert_eq!(
        out.changes,
        [
            "bgp.local_as: 65000 -> 65124",
            "- bgp.neighbor remote_ip=192.0.2.3",
            "+ bgp.neighbor remote_ip=192.0.2.2 remote_as=64999",
            "anycast.prefixes: [\"203.0.113.124/32\"] -> [\"203.0.113.124/32\", \"2001:db8:124::1/128\"]",
        ]
    );
    assert!(out.changed && !out.holds_key);
    assert!(!set(Some(&out.text), &s).changed, "same flags twice must not change anything");
}

#[test]
fn remote_as_and_key_switch_apply_to_all_neighbors() {
    let dir = TempDir::new("edit-md5");
    let key = dir.0.join("bgp.key");
    std::fs::write(&key, "k\n").expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let s = BgpSet { remote_as: Asn::new(65001).ok(), md5_file: Some(key.clone()), ..BgpSet::default() };
    let out = set(Some(CREATED), &s);
    let f = format!("{:?}", key.display().to_string());
    assert_eq!(
        out.changes,
        [
            "bgp.neighbor remote_ip=192.0.2.1 remote_as: 65000 -> 65001".to_string(),
            format!("+ bgp.neighbor remote_ip=192.0.2.1 md5_file = {f}"),
            "- bgp.neighbor remote_ip=192.0.2.1 md5".to_string(),
            "bgp.neighbor remote_ip=192.0.2.2 remote_as: 65000 -> 65001".to_string(),
            format!("+ bgp.neighbor remote_ip=192.0.2.2 md5_file = {f}"),
            "- bgp.neighbor remote_ip=192.0.2.2 md5".to_string(),
        ]
    );
    assert!(!out.holds_key, "the key now lives in the key file");
    assert!(!out.text.contains("secret"));
}

#[test]
fn changing_md5_is_reported_without_the_key() {
    let s = BgpSet { md5: Some("n3w-key".into()), ..BgpSet::default() };
    let out = set(Some(CREATED), &s);
    assert_eq!(
        out.changes,
        [
            "bgp.neighbor remote_ip=192.0.2.1 md5: <redacted> -> <redacted>",
            "bgp.neighbor remote_ip=192.0.2.2 md5: <redacted> -> <redacted>",
        ]
    );
    assert!(out.holds_key);
    assert!(!format!("{s:?}").contains("n3w-key"), "Debug of BgpSet must redact md5");
}

#[test]
fn invalid_results_are_refused() {
    let cases: Vec<(Option<&str>, BgpSet, String)> = vec![
        (
            Some(CREATED),
            BgpSet { local_as: Asn::new(23456).ok(), ..BgpSet::default() },
            format!("{FILE}:2:12: bgp.local_as = 23456: AS 23456 is AS_TRANS (RFC 6793) and cannot be the local AS; example: local_as = 65124"),
        ),
        (
            Some(CREATED),
            BgpSet { md5: Some("x".repeat(81)), ..BgpSet::default() },
            [9, 14]
                .map(|line| {
                    format!(
                        "{FILE}:{line}:7: bgp.neighbor[{}].md5 = <redacted>: the TCP-MD5 key is 81 bytes; Linux accepts at \
                         most 80 (TCP_MD5SIG_MAXKEYLEN); example: md5 = \"a-shared-secret\"",
                        (line - 9) / 5
                    )
                })
                .join("\n"),
        ),
        (
            None,
            BgpSet { anycast_ip: vec![], ..full_set() },
            format!("{FILE}:1:1: anycast: missing [anycast] section; example: [anycast] with prefixes = [\"203.0.113.124/32\"]"),
        ),
        (
            Some("[bgp\n"),
            full_set(),
            format!("{FILE}:1:5: TOML syntax error: unclosed table, expected `]`"),
        ),
        (
            Some(CREATED),
            BgpSet { md5: Some("a".into()), md5_file: Some("/k".into()), ..BgpSet::default() },
            "--md5 and --md5_file cannot be used together; give one".to_string(),
        ),
        (
            Some(CREATED),
            BgpSet { remote_ip: vec![ip("192.0.2.1"), ip("192.0.2.1")], ..BgpSet::default() },
            "--remote_ip 192.0.2.1 is given twice".to_string(),
        ),
    ];
    for (existing, s, want) in cases {
        match apply_bgp_set(existing, &s, Path::new(FILE)) {
            Ok(out) => panic!("accepted {s:?}: {}", out.text),
            Err(e) => assert_eq!(e.to_string(), want),
        }
    }
}

#[test]
fn unset_removes_bgp_only() {
    let out = apply_bgp_unset(EXISTING, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.changes, ["- [bgp]", "- bgp.neighbor remote_ip=192.0.2.1", "- bgp.neighbor remote_ip=192.0.2.3"]);
    assert!(out.changed && !out.holds_key);
    assert!(!out.text.contains("bgp"), "{}", out.text);
    assert!(
        out.text.starts_with("[anycast]\nprefixes = [\"203.0.113.124/32\"] # the service address\n\n[role]"),
        "{}",
        out.text
    );
    let again = apply_bgp_unset(&out.text, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    assert!(!again.changed && again.changes.is_empty());
}

#[test]
fn write_atomic_sets_mode_and_replaces() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("atomic");
    let path = dir.0.join("anycastd.toml");
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
    write_atomic(&path, CREATED, true).expect("write 0600");
    assert_eq!(mode(&path), Some(0o600));
    assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some(CREATED));
    write_atomic(&path, UPDATED, false).expect("write 0644");
    assert_eq!(mode(&path), Some(0o644));
    assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some(UPDATED));
    let names: Vec<_> =
        std::fs::read_dir(&dir.0).expect("list").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(names, ["anycastd.toml"], "no temporary file may be left");
    assert!(write_atomic(&dir.0.join("missing-dir/x.toml"), "x", false).is_err());
}

#[test]
fn new_bgp_goes_last_and_inline_bgp_becomes_a_table() {
    let s = BgpSet {
        local_as: Asn::new(65124).ok(),
        local_ip: Some(ip("198.51.100.124")),
        remote_ip: vec![ip("192.0.2.1")],
        remote_as: Asn::new(65000).ok(),
        ..BgpSet::default()
    };
    let anycast = "[anycast]\nprefixes = [\"203.0.113.1/32\"]\n";
    let out = set(Some(&format!("# top comment\n{anycast}")), &s);
    let bgp = "[bgp]\nlocal_as = 65124\nlocal_ip = \"198.51.100.124\"\n\n\
               [[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nremote_as = 65000\n";
    assert_eq!(out.text, format!("# top comment\n{anycast}\n{bgp}"));
    let out = set(Some(&format!("bgp = {{ local_as = 1 }}\n\n{anycast}")), &s);
    assert_eq!(out.text, format!("{bgp}\n{anycast}"));
    assert_eq!(
        out.changes.get(..2),
        Some(&["bgp: inline table rewritten as [bgp]".to_string(), "bgp.local_as: 1 -> 65124".to_string()][..])
    );
}

#[test]
fn bfd_flags_set_every_neighbors_bfd_keys_and_keep_the_others() {
    let existing = CREATED.replacen(
        "md5 = \"secret\"\n\n",
        "md5 = \"secret\"\nbfd = { multiplier = 5, strict = false } # fast link\n\n",
        1,
    );
    let s = BgpSet { bfd_interval_ms: Some(50), bfd_multiplier: NonZeroU8::new(3), ..BgpSet::default() };
    let out = set(Some(&existing), &s);
    assert_eq!(
        out.changes,
        [
            "+ bgp.neighbor remote_ip=192.0.2.1 bfd.interval_ms = 50",
            "bgp.neighbor remote_ip=192.0.2.1 bfd.multiplier: 5 -> 3",
            "+ bgp.neighbor remote_ip=192.0.2.2 bfd.interval_ms = 50",
            "+ bgp.neighbor remote_ip=192.0.2.2 bfd.multiplier = 3",
        ]
    );
    let want = CREATED
        .replacen(
            "md5 = \"secret\"\n\n",
            "md5 = \"secret\"\nbfd = { multiplier = 3, strict = false, interval_ms = 50 } # fast link\n\n",
            1,
        )
        .replacen(
            "md5 = \"secret\"\n\n[anycast]",
            "md5 = \"secret\"\nbfd = { interval_ms = 50, multiplier = 3 }\n\n[anycast]",
            1,
        );
    assert_eq!(out.text, want);
    let c = parse(&out.text).unwrap_or_else(|e| panic!("{e}"));
    let bfd: Vec<_> = c.bgp.neighbors.iter().filter_map(|n| n.bfd.as_ref()).map(|b| (b.interval, b.strict)).collect();
    assert_eq!(bfd, [(Duration::from_millis(50), false), (Duration::from_millis(50), true)]);
    assert!(!set(Some(&out.text), &s).changed, "same flags twice must not change anything");
}

#[test]
fn bfd_flags_edit_a_bfd_subtable_in_place() {
    let existing = MINIMAL.replacen(
        "remote_as = 65000\n",
        "remote_as = 65000\n\n[bgp.neighbor.bfd] # BFD to r1\ninterval_ms = 300 # slow\nauth = \"simple\"\nkey = \"s3cret\"\n",
        1,
    );
    let s = BgpSet { bfd_interval_ms: Some(100), ..BgpSet::default() };
    let out = set(Some(&existing), &s);
    assert_eq!(out.changes, ["bgp.neighbor remote_ip=192.0.2.1 bfd.interval_ms: 300 -> 100"]);
    assert_eq!(out.text, existing.replacen("interval_ms = 300 # slow", "interval_ms = 100 # slow", 1));
    assert!(out.holds_key, "a BFD key makes the file 0600");
}

#[test]
fn bad_bfd_edits_are_refused() {
    let s = BgpSet { bfd_interval_ms: Some(5), ..BgpSet::default() };
    let e = apply_bgp_set(Some(CREATED), &s, Path::new(FILE)).map(|o| o.text).expect_err("5 ms is too short");
    assert_eq!(
        e.to_string(),
        [10, 16]
            .map(|line| {
                format!(
                    "{FILE}:{line}:23: bgp.neighbor[{}].bfd.interval_ms = 5: milliseconds must be 10 to 60000; \
                     example: interval_ms = 300",
                    (line - 10) / 6
                )
            })
            .join("\n")
    );
    let not_a_table = CREATED.replacen("md5 = \"secret\"\n\n", "md5 = \"secret\"\nbfd = true\n\n", 1);
    let s = BgpSet { bfd_multiplier: NonZeroU8::new(3), ..BgpSet::default() };
    let e = apply_bgp_set(Some(&not_a_table), &s, Path::new(FILE)).map(|o| o.text).expect_err("bfd = true");
    assert_eq!(
        e.to_string(),
        "cannot edit bgp.neighbor remote_ip=192.0.2.1 bfd: it is not a table; write it as bfd = { interval_ms = 300 }"
    );
}
