//! One test per error class, asserting the exact rendered message with its line:column.

use super::*;

/// MINIMAL with `from` replaced by `to` (which must occur).
fn with(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from}");
    MINIMAL.replacen(from, to, 1)
}

fn one(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap_or_default()
}

const F: &str = FILE;

#[test]
fn syntax_error() {
    assert_eq!(one("[bgp\nlocal_as = 1\n"), format!("{F}:1:5: TOML syntax error: unclosed table, expected `]`"));
    assert_eq!(
        one(&with("local_as = 65124", "local_as = 65124\nlocal_as = 1")),
        format!("{F}:3:1: TOML syntax error: duplicate key")
    );
}

#[test]
fn hold_time_rfc_4271() {
    let text = "# anycastd\n[bgp]\nlocal_as = 65124\nlocal_ip = \"198.51.100.124\"\nrouter_id = \"198.51.100.124\"\n\
                connect_retry = 5\nhold_time = 2\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nremote_as = 65000\n\
                [anycast]\nprefixes = [\"203.0.113.124/32\"]\n";
    assert_eq!(
        one(text),
        format!(
            "{F}:7:13: bgp.hold_time = 2: hold time must be 0 or at least 3 seconds (RFC 4271 §4.2); \
             example: hold_time = 9"
        )
    );
    let text = with("remote_as = 65000", "remote_as = 65000\nhold_time = 70000");
    assert_eq!(
        one(&text),
        format!("{F}:8:13: bgp.neighbor[0].hold_time = 70000: seconds must be 0 to 65535; example: hold_time = 9")
    );
}

#[test]
fn unknown_key_suggests() {
    let text = with("local_ip", "hold_tme = 9\nlocal_ip");
    assert_eq!(one(&text), format!("{F}:3:1: unknown key `hold_tme` in [bgp]; did you mean `hold_time`?"));
    let text = with("[anycast]", "[anycats]");
    assert_eq!(
        errors(&text),
        [
            format!(
                "{F}:1:1: anycast: missing [anycast] section; example: [anycast] with prefixes = [\"203.0.113.124/32\"]"
            ),
            format!("{F}:9:2: unknown section `anycats` at the top level; did you mean `anycast`?"),
        ]
    );
}

#[test]
fn unknown_keys_are_all_reported() {
    let text = with("remote_as = 65000", "remote_as = 65000\nremote_asn = 1\nzzz = { a = 1 }").replacen(
        "local_as",
        "lcal_as = 1\nlocal_as",
        1,
    );
    assert_eq!(
        errors(&text),
        [
            format!("{F}:2:1: unknown key `lcal_as` in [bgp]; did you mean `local_as`?"),
            format!("{F}:9:1: unknown key `remote_asn` in bgp.neighbor[0]; did you mean `remote_as`?"),
            format!(
                "{F}:10:1: unknown key `zzz` in bgp.neighbor[0]; valid: remote_ip, remote_as, local_ip, md5, \
                 md5_file, passive, ttl_security, multihop, hold_time, max_prefixes, port, med, communities, \
                 large_communities, bfd, tcp_ao"
            ),
        ]
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        one(&with("local_as = 65124", "local_as = \"65124\"")),
        format!("{F}:2:12: bgp.local_as = \"65124\": expected an integer, found a string; example: local_as = 65124")
    );
    assert_eq!(
        one(&with("prefixes = [\"203.0.113.124/32\"]", "prefixes = \"203.0.113.124/32\"")),
        format!(
            "{F}:10:12: anycast.prefixes = \"203.0.113.124/32\": expected an array, found a string; \
             example: prefixes = [\"203.0.113.124/32\", \"2001:db8:124::1/128\"]"
        )
    );
}

#[test]
fn missing_required_key() {
    assert_eq!(
        one(&with("remote_as = 65000\n", "")),
        format!("{F}:5:1: bgp.neighbor[0].remote_as: missing required key; example: remote_as = 65000")
    );
    let text = with("local_ip = \"198.51.100.124\"\n", "");
    assert_eq!(
        errors(&text),
        [
            format!(
                "{F}:1:1: bgp.router_id: missing, and there is no IPv4 bgp.local_ip to take it from; example: router_id = \"198.51.100.124\""
            ),
            format!(
                "{F}:4:1: bgp.neighbor[0].local_ip: missing: no session source address here nor in [bgp]; example: local_ip = \"198.51.100.124\""
            ),
        ]
    );
}

#[test]
fn invalid_values() {
    let cases = [
        (
            "local_as = 65124",
            "local_as = 0",
            "2:12: bgp.local_as = 0: an AS number must be 1 to 4294967295; example: local_as = 65124",
        ),
        (
            "local_as = 65124",
            "local_as = 23456",
            "2:12: bgp.local_as = 23456: AS 23456 is AS_TRANS (RFC 6793) and cannot be the local AS; example: local_as = 65124",
        ),
        (
            "local_as = 65124",
            "local_as = 65124\nrouter_id = \"0.0.0.0\"",
            "3:13: bgp.router_id = \"0.0.0.0\": router ID 0.0.0.0 is not allowed (RFC 6286 §2.1); example: router_id = \"198.51.100.124\"",
        ),
        (
            "remote_ip = \"192.0.2.1\"",
            "remote_ip = \"192.0.2.300\"",
            "6:13: bgp.neighbor[0].remote_ip = \"192.0.2.300\": not an IPv4 or IPv6 address; example: remote_ip = \"192.0.2.1\"",
        ),
        (
            "remote_as = 65000",
            "remote_as = 65000\nmultihop = 0",
            "8:12: bgp.neighbor[0].multihop = 0: a TTL must be 1 to 255; example: multihop = 2",
        ),
        (
            "remote_as = 65000",
            "remote_as = 65000\ncommunities = [\"65124:100\", \"65536:1\"]",
            "8:29: bgp.neighbor[0].communities[1] = \"65536:1\": `65536:1` is not a community: write two numbers 0-65535 as \"a:b\", or a well-known name (GRACEFUL_SHUTDOWN, ACCEPT_OWN, LLGR_STALE, NO_LLGR, BLACKHOLE, NO_EXPORT, NO_ADVERTISE, NO_EXPORT_SUBCONFED, NOPEER); example: communities = [\"65124:100\", \"NO_EXPORT\"]",
        ),
        (
            "prefixes = [\"203.0.113.124/32\"]",
            "prefixes = [\"203.0.113.5/24\"]",
            "10:13: anycast.prefixes[0] = \"203.0.113.5/24\": host bits are set after the /24 mask; example: \"203.0.113.0/24\" for the whole network, or \"203.0.113.5/32\" for this one address",
        ),
        (
            "prefixes = [\"203.0.113.124/32\"]",
            "prefixes = []",
            "10:12: anycast.prefixes = []: at least one prefix is required (here, or in a [[service]]); example: prefixes = [\"203.0.113.124/32\", \"2001:db8:124::1/128\"]",
        ),
        (
            "prefixes = [\"203.0.113.124/32\"]",
            "prefixes = [\"203.0.113.124/32\"]\nstandby = \"withdrw\"",
            "11:11: anycast.standby = \"withdrw\": must be one of withdraw, prepend; example: standby = \"withdraw\"",
        ),
        (
            "prefixes = [\"203.0.113.124/32\"]",
            "prefixes = [\"203.0.113.124/32\"]\nstandby = \"prepend\"\nprepend = 11",
            "12:11: anycast.prepend = 11: the prepend count must be 1 to 10; example: prepend = 3",
        ),
    ];
    for (from, to, want) in cases {
        assert_eq!(one(&with(from, to)), format!("{F}:{want}"));
    }
}

#[test]
fn control_group_must_exist_on_this_host() {
    let text = format!("{MINIMAL}[control]\ngroup = \"anycastd-no-such-group\"\n");
    assert_eq!(
        one(&text),
        format!(
            "{F}:12:9: control.group = \"anycastd-no-such-group\": no group named anycastd-no-such-group on this \
             host; create it (groupadd anycastd-no-such-group) or remove [control] group"
        )
    );
    let text = format!("{MINIMAL}[control]\ngroup = \"\"\n");
    assert_eq!(
        one(&text),
        format!("{F}:12:9: control.group = \"\": not a group name; example: group = \"anycastd-ops\"")
    );
    // Every host has a group root, gid 0; no group means root and our uid only.
    let c = parse(&format!("{MINIMAL}[control]\ngroup = \"root\"\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.control.group, Some(ControlGroup { name: "root".into(), gid: 0 }));
    assert_eq!(parse(MINIMAL).map(|c| c.control.group).ok(), Some(None));
}

#[test]
fn md5_key_length_is_redacted() {
    let long = "k".repeat(81);
    let text = with("remote_as = 65000", &format!("remote_as = 65000\nmd5 = \"{long}\""));
    assert_eq!(
        one(&text),
        format!(
            "{F}:8:7: bgp.neighbor[0].md5 = <redacted>: the TCP-MD5 key is 81 bytes; Linux accepts at most 80 \
             (TCP_MD5SIG_MAXKEYLEN); example: md5 = \"a-shared-secret\""
        )
    );
}

#[test]
fn duplicates() {
    let text = format!("{MINIMAL}\n[[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nremote_as = 65001\n");
    assert_eq!(
        one(&text),
        format!(
            "{F}:13:13: bgp.neighbor[1].remote_ip = \"192.0.2.1\": neighbor 192.0.2.1 is already defined in bgp.neighbor[0] (line 5); example: remote_ip = \"192.0.2.1\""
        )
    );
    let text = with("\"203.0.113.124/32\"]", "\"203.0.113.124/32\", \"203.0.113.124\"]");
    assert_eq!(
        one(&text),
        format!(
            "{F}:10:33: anycast.prefixes[1] = \"203.0.113.124\": 203.0.113.124/32 is listed twice; example: prefixes = [\"203.0.113.124/32\", \"2001:db8:124::1/128\"]"
        )
    );
    let check = "[[health.check]]\nname = \"a\"\ntype = \"file\"\npath = \"/run/a\"\n";
    assert_eq!(
        one(&format!("{MINIMAL}{check}{check}")),
        format!(
            "{F}:16:8: health.check[1].name = \"a\": check name `a` is already used by health.check[0]; example: name = \"service-2\""
        )
    );
}

#[test]
fn ipv4_mapped_and_compatible_session_addresses() {
    let text = with("remote_ip = \"192.0.2.1\"", "remote_ip = \"::ffff:192.0.2.1\"");
    assert_eq!(
        one(&text),
        format!(
            "{F}:6:13: bgp.neighbor[0].remote_ip = \"::ffff:192.0.2.1\": is an IPv4-mapped IPv6 address, \
             which an IPv6 socket never matches for an IPv4 peer; write the IPv4 address itself \
             (\"192.0.2.1\", with an IPv4 local_ip) or a real IPv6 address; example: remote_ip = \"192.0.2.1\""
        )
    );
    let text = with("local_ip = \"198.51.100.124\"", "local_ip = \"::198.51.100.124\"");
    let e = errors(&text);
    assert!(e.iter().any(|m| m.contains("bgp.local_ip = \"::198.51.100.124\": is an IPv4-compatible")), "{e:#?}");
    let own = with("remote_as = 65000", "remote_as = 65000\nlocal_ip = \"::ffff:198.51.100.124\"");
    assert!(errors(&own).iter().any(|m| m.contains("bgp.neighbor[0].local_ip") && m.contains("IPv4-mapped")));
    // A real IPv6 address and the IPv6 loopback are fine.
    let v6 = with("remote_ip = \"192.0.2.1\"", "remote_ip = \"2001:db8::2\"\nlocal_ip = \"2001:db8::1\"");
    assert!(parse(&v6).is_ok());
    let lo = with("remote_ip = \"192.0.2.1\"", "remote_ip = \"::1\"\nlocal_ip = \"::1\"");
    assert!(parse(&lo).is_ok());
}

#[test]
fn conflicts() {
    let add = |extra: &str| with("remote_as = 65000", &format!("remote_as = 65000\n{extra}"));
    assert_eq!(
        one(&add("md5 = \"x\"\nmd5_file = \"/etc/anycastd/bgp.key\"")),
        format!(
            "{F}:9:12: bgp.neighbor[0].md5_file = \"/etc/anycastd/bgp.key\": md5 and md5_file are both set; keep one; example: md5_file = \"/etc/anycastd/bgp.key\""
        )
    );
    assert_eq!(
        one(&add("ttl_security = true\nmultihop = 2")),
        format!(
            "{F}:9:12: bgp.neighbor[0].multihop = 2: cannot be combined with ttl_security = true (GTSM always sends TTL 255, RFC 5082); example: multihop = 2"
        )
    );
    assert_eq!(
        one(&add("local_ip = \"2001:db8::1\"")),
        format!(
            "{F}:8:12: bgp.neighbor[0].local_ip = \"2001:db8::1\": is IPv6 but remote_ip 192.0.2.1 is IPv4; the session source must be the same family; example: local_ip = \"198.51.100.124\""
        )
    );
    let text = add("passive = true").replacen("local_ip", "listen = false\nlocal_ip", 1);
    assert_eq!(
        one(&text),
        format!(
            "{F}:9:11: bgp.neighbor[0].passive = true: a passive neighbor can only connect to us, but bgp.listen = false; example: passive = false"
        )
    );
    let v6 = with("remote_ip = \"192.0.2.1\"", "remote_ip = \"2001:db8::2\"");
    assert_eq!(
        one(&v6),
        format!(
            "{F}:5:1: bgp.neighbor[0].local_ip: missing: remote_ip 2001:db8::2 is IPv6 but bgp.local_ip is IPv4; give this neighbor its own local_ip; example: local_ip = \"198.51.100.124\""
        )
    );
}

#[test]
fn health_check_type_fields() {
    let check = |body: &str| format!("{MINIMAL}[[health.check]]\nname = \"svc\"\n{body}");
    assert_eq!(
        errors(&check(
            "type = \"exec\"\ncommand = [\"/bin/true\"]\naddress = \"127.0.0.1:80\"\nurl = \"http://x/\"\n"
        )),
        [
            format!(
                "{F}:15:11: health.check[0].address = \"127.0.0.1:80\": `address` does not apply to type = \"exec\"; remove it; example: type = \"tcp\" or \"address\""
            ),
            format!(
                "{F}:16:7: health.check[0].url = \"http://x/\": `url` does not apply to type = \"exec\"; remove it; example: type = \"http\""
            ),
        ]
    );
    assert_eq!(
        one(&check("type = \"tcp\"\n")),
        format!(
            "{F}:11:1: health.check[0].address: missing: this type needs it; example: address = \"127.0.0.1:8080\""
        )
    );
    assert_eq!(
        one(&check("type = \"http\"\nurl = \"https://127.0.0.1/\"\nbody = \"\"\n")),
        format!(
            "{F}:15:8: health.check[0].body = \"\": the expected body text must be 1-1024 bytes; example: body = \"OK\""
        )
    );
    assert_eq!(
        one(&check(
            "type = \"exec\"\ncommand = [\"a\", \"b\"]\nshell = true\n"
        )),
        format!(
            "{F}:14:11: health.check[0].command = [\"a\", \"b\"]: with shell = true the command must be one string for /bin/sh -c; example: command = [\"pgrep -x nginx >/dev/null\"]"
        )
    );
    assert_eq!(
        one(&check(
            "type = \"file\"\npath = \"/x\"\ninterval_ms = 100\ntimeout_ms = 200\n"
        )),
        format!(
            "{F}:16:14: health.check[0].timeout_ms = 200: a timeout (at most interval_ms) must be 1 to 100; example: timeout_ms = 500"
        )
    );
    assert_eq!(
        one(&check("type = \"pnig\"\n")),
        format!(
            "{F}:13:8: health.check[0].type = \"pnig\": must be one of exec, tcp, http, file, process, systemd, address; example: type = \"tcp\""
        )
    );
}

#[test]
fn role_source_fields() {
    let text = format!("{MINIMAL}[role]\nsource = \"static\"\ncommand = [\"/bin/true\"]\n");
    assert_eq!(
        one(&text),
        format!(
            "{F}:13:11: role.command = [\"/bin/true\"]: `command` does not apply to source = \"static\"; remove it; example: source = \"exec\" with command = [\"/usr/local/bin/am-i-primary\"]"
        )
    );
    let text = format!("{MINIMAL}[role]\nsource = \"exec\"\n");
    assert_eq!(
        one(&text),
        format!(
            "{F}:11:1: role.command: missing: this type needs a command; example: command = [\"/usr/local/bin/am-i-primary\"]"
        )
    );
}

#[test]
fn key_file_problems() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("md5bad");
    let key = dir.0.join("bgp.key");
    let text = with("remote_as = 65000", &format!("remote_as = 65000\nmd5_file = \"{}\"", key.display()));
    let shown = format!("bgp.neighbor[0].md5_file = \"{}\"", key.display());
    let ex = "example: md5_file = \"/etc/anycastd/bgp.key\"";
    assert_eq!(one(&text), format!("{F}:8:12: {shown}: the key file does not exist; {ex}"));
    std::fs::write(&key, "secret\n").expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(
        one(&text),
        format!(
            "{F}:8:12: {shown}: the key file has mode 644, open to group or others; run `chmod 600 {}`; {ex}",
            key.display()
        )
    );
    std::fs::write(&key, "\n").expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(one(&text), format!("{F}:8:12: {shown}: in the key file: the TCP-MD5 key is empty; {ex}"));
    let rel = with("remote_as = 65000", "remote_as = 65000\nmd5_file = \"bgp.key\"");
    assert_eq!(one(&rel), format!("{F}:8:12: bgp.neighbor[0].md5_file = \"bgp.key\": must be an absolute path; {ex}"));
}

#[test]
fn missing_sections_and_lists() {
    assert_eq!(
        errors("[anycast]\nprefixes = [\"203.0.113.124/32\"]\n"),
        [format!(
            "{F}:1:1: bgp: missing [bgp] section; example: [bgp] with local_as = 65124 and at least one [[bgp.neighbor]]"
        )]
    );
    let text = "[bgp]\nlocal_as = 65124\nlocal_ip = \"198.51.100.124\"\n[anycast]\nprefixes = [\"203.0.113.124/32\"]\n";
    assert_eq!(
        one(text),
        format!(
            "{F}:1:1: bgp.neighbor: at least one neighbor is required; example: [[bgp.neighbor]] with remote_ip = \"192.0.2.1\" and remote_as = 65000"
        )
    );
}

#[test]
fn several_semantic_errors_at_once() {
    let text = with("local_as = 65124", "local_as = 0\nhold_time = 1")
        .replacen("remote_as = 65000", "remote_as = 65000\nport = 0", 1)
        .replacen("/32\"", "/33\"", 1);
    let e = errors(&text);
    let at: Vec<&str> = e.iter().map(|s| s.split(": ").next().unwrap_or_default()).collect();
    let want: Vec<String> = ["2:12", "3:13", "9:8", "12:13"].iter().map(|p| format!("{F}:{p}")).collect();
    assert_eq!(at, want, "{e:#?}");
}

#[test]
fn warnings_do_not_fail() {
    let text = with("\"203.0.113.124/32\"]", "\"203.0.113.124/32\", \"2001:db8:124::1/128\"]\nprepend = 3");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            format!(
                "{F}:10:33: warning: anycast.prefixes[1] = \"2001:db8:124::1/128\": no neighbor has an IPv6 session and bgp.next_hop_ipv6 is not set, so there is no IPv6 next hop; IPv6 prefixes will not be announced"
            ),
            format!(
                "{F}:11:11: warning: anycast.prepend = 3: has no effect unless standby = \"prepend\""
            ),
        ]
    );
}

#[test]
fn array_where_a_table_belongs() {
    let text = MINIMAL.replacen("[bgp]", "[[bgp]]", 1).replacen("[[bgp.neighbor]]", "[[bgp.x]]", 1);
    assert_eq!(
        one(&text),
        format!(
            "{F}:1:1: bgp: expected a table, found an array; example: [bgp] with local_as = 65124 and at least one [[bgp.neighbor]]"
        )
    );
    assert_eq!(
        one("[bgp]\nlocal_as = 1\nneighbor = [[\"192.0.2.1\", 1]]\n"),
        format!(
            "{F}:3:13: bgp.neighbor[0]: expected a table, found an array; example: [[bgp.neighbor]] with remote_ip = \"192.0.2.1\" and remote_as = 65000"
        )
    );
}

#[test]
fn skipping_an_unknown_dotted_key_reports_nothing_spurious() {
    let text = format!("a.b.c = 1\n{MINIMAL}");
    assert_eq!(
        one(&text),
        format!("{F}:1:1: unknown section `a` at the top level; valid: bgp, anycast, role, health, control, metrics, service")
    );
}

#[test]
fn a_neighbor_sharing_a_listener_with_a_gtsm_neighbor_is_warned_about() {
    let text = MINIMAL.replacen(
        "[anycast]",
        "ttl_security = true\n\n[[bgp.neighbor]]\nremote_ip = \"203.0.113.9\"\nremote_as = 65009\nmultihop = 2\npassive = true\n\n[anycast]",
        1,
    );
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(w[0].contains("shares local address 198.51.100.124 with GTSM neighbor 192.0.2.1"), "{}", w[0]);
    assert!(w[0].contains("this neighbor is passive"), "{}", w[0]);
    // Its own local_ip, or listen = false: nothing to say.
    let apart = text.replacen("passive = true", "passive = true\nlocal_ip = \"198.51.100.125\"", 1);
    assert_eq!(parse(&apart).map(|c| c.warnings.len()).map_err(|e| e.to_string()), Ok(0));
    let no_listen = text
        .replacen("local_ip = \"198.51.100.124\"", "local_ip = \"198.51.100.124\"\nlisten = false", 1)
        .replacen("passive = true", "passive = false", 1);
    assert_eq!(parse(&no_listen).map(|c| c.warnings.len()).map_err(|e| e.to_string()), Ok(0));
}
