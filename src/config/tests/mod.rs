//! Tests of the whole configuration module through its public API: the full example parses
//! to the expected typed values (here), every error class gives its exact located message
//! (`errors`), a neighbor's `bfd` table (`bfd`), `bgp set`/`unset` and `write_atomic` (`edit`),
//! and no input panics (`robust`).

mod bfd;
mod edit;
mod errors;
mod etcd;
mod ha_keys;
mod robust;
mod services;
mod tcp_ao;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// The file name used in expected messages.
pub const FILE: &str = "/etc/anycastd/anycastd.toml";

/// The full commented example shipped with the crate.
pub const FULL: &str = include_str!("../../../configs/anycastd.example.toml");

/// The smallest valid configuration.
pub const MINIMAL: &str = r#"[bgp]
local_as = 65124
local_ip = "198.51.100.124"

[[bgp.neighbor]]
remote_ip = "192.0.2.1"
remote_as = 65000

[anycast]
prefixes = ["203.0.113.124/32"]
"#;

pub fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_str(text, Path::new(FILE))
}

/// The rendered diagnostics of an invalid text (panics in the test if it is valid).
pub fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => {
            assert!(!e.diagnostics().is_empty(), "no diagnostics in {e}");
            e.diagnostics().iter().map(ToString::to_string).collect()
        }
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!("anycastd-cfg-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn full_example_parses_to_typed_values() {
    let c = parse(FULL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.bgp.local_as, Asn::new(65124).expect("asn"));
    assert_eq!(c.bgp.router_id.to_string(), "198.51.100.124");
    assert_eq!(c.bgp.local_ip, Some(ip("198.51.100.124")));
    assert_eq!(c.bgp.hold_time.seconds(), 9);
    assert_eq!(c.bgp.connect_retry, Duration::from_secs(5));
    assert_eq!((c.bgp.port, c.bgp.listen, c.bgp.graceful_restart), (179, true, false));

    let [n0, n1] = c.bgp.neighbors.as_slice() else { panic!("two neighbors expected: {:?}", c.bgp.neighbors) };
    assert_eq!(n0.remote_ip, ip("192.0.2.1"));
    assert_eq!(n0.remote_as.get(), 65000);
    assert_eq!(n0.local_ip, ip("198.51.100.124"));
    assert_eq!(n0.md5.as_ref().map(Md5Key::as_bytes), Some(&b"anycast-lab-key"[..]));
    assert!(!n0.passive);
    assert_eq!(n0.ttl, TtlMode::Default);
    assert_eq!((n0.hold_time.seconds(), n0.max_prefixes, n0.port, n0.med), (9, Some(1000), 179, Some(0)));
    assert_eq!(n0.communities, vec![Community(0xFE64_0064), Community(0xFFFF_FF01)]);
    assert_eq!(n0.large_communities.iter().map(ToString::to_string).collect::<Vec<_>>(), ["65124:1:2"]);
    assert!(n0.is_ebgp(c.bgp.local_as));

    assert_eq!(n1.remote_ip, ip("2001:db8:2::1"));
    assert_eq!(n1.local_ip, ip("2001:db8:2::11"));
    assert_eq!(n1.md5, None);
    assert_eq!(n1.ttl, TtlMode::Multihop(NonZeroU8::new(2).expect("2")));
    assert_eq!((n1.hold_time.seconds(), n1.max_prefixes, n1.med), (9, None, None));

    let want: Vec<IpNet> = vec!["203.0.113.124/32".parse().expect("net"), "2001:db8:124::1/128".parse().expect("net")];
    assert_eq!(c.anycast.prefixes, want);
    assert_eq!(c.anycast.standby, Standby::Withdraw);
    assert!(!c.anycast.manage_loopback);
    assert_eq!(c.anycast.interface, "lo");

    assert_eq!(c.role, RoleSource::Keepalived(KeepalivedRole::at("/var/lib/anycastd/role".into())));
    assert_eq!(c.track, Some(TrackFile { path: DEFAULT_TRACK_FILE.into(), weight: -254 }));
    assert_eq!(c.anycast.preference, None);

    let names: Vec<&str> = c.health.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["service", "port", "http", "flag"]);
    let argv = vec!["/usr/local/bin/health.sh".to_string(), "--quick".to_string()];
    assert_eq!(c.health.first().map(|h| &h.probe), Some(&Probe::Exec { argv }));
    let h0 = c.health.first().expect("check 0");
    assert_eq!((h0.interval, h0.timeout, h0.rise, h0.fall), (Duration::from_secs(1), Duration::from_millis(500), 3, 3));
    let addr: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
    assert_eq!(c.health.get(1).map(|h| &h.probe), Some(&Probe::Tcp { address: addr }));
    let url = HttpUrl { tls: false, host: "127.0.0.1".into(), port: 8080, path: "/health".into() };
    assert_eq!(c.health.get(2).map(|h| &h.probe), Some(&Probe::Http { url, status: 200..=299, body: None, ca: None }));
    let file = Probe::File { path: "/run/service.ok".into(), invert: false };
    assert_eq!(c.health.get(3).map(|h| &h.probe), Some(&file));

    assert_eq!(c.control.socket, PathBuf::from("/run/anycastd/anycastd.sock"));
    assert_eq!(c.control.state_dir, PathBuf::from("/var/lib/anycastd"));
    assert_eq!(c.control.group, None);
    assert_eq!(c.metrics, Some(Metrics { listen: "127.0.0.1:9179".parse().expect("addr") }));
    assert_eq!(c.warnings, vec![]);
    assert!(!format!("{c:?}").contains("anycast-lab-key"), "Debug must not show the key");
}

#[test]
fn minimal_example_gets_defaults() {
    let c = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.bgp.router_id.to_string(), "198.51.100.124");
    assert_eq!(c.bgp.hold_time, HoldTime::DEFAULT);
    assert_eq!((c.bgp.port, c.bgp.listen, c.bgp.graceful_restart), (179, true, false));
    assert_eq!(c.role, RoleSource::Static);
    assert_eq!(c.health, vec![]);
    assert_eq!(c.metrics, None);
    let n = c.bgp.neighbors.first().expect("one neighbor");
    assert_eq!((n.hold_time, n.port, n.ttl), (HoldTime::DEFAULT, 179, TtlMode::Default));
    assert_eq!(c.anycast.standby, Standby::Withdraw);
    assert_eq!(c.control.socket, PathBuf::from("/run/anycastd/anycastd.sock"));
}

#[test]
fn variants_parse() {
    let text = format!(
        "{MINIMAL}standby = \"prepend\"\nstandby_med = 1000\n\
         [role]\nsource = \"exec\"\ncommand = [\"/usr/local/bin/am-i-primary\"]\ninterval_ms = 200\n\
         [[health.check]]\nname = \"sh\"\ntype = \"exec\"\ncommand = [\"pgrep nginx\"]\nshell = true\ninterval_ms = 100\n\
         [[health.check]]\nname = \"gone\"\ntype = \"file\"\npath = \"/run/x\"\ninvert = true\n"
    );
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.anycast.standby, Standby::Prepend { count: 3, med: Some(1000) });
    let command = vec!["/usr/local/bin/am-i-primary".to_string()];
    assert_eq!(c.role, RoleSource::Exec { command, interval: Duration::from_millis(200) });
    let argv: Vec<String> = ["/bin/sh", "-c", "pgrep nginx"].map(String::from).to_vec();
    let h = c.health.first().expect("check");
    assert_eq!((&h.probe, h.timeout), (&Probe::Exec { argv }, Duration::from_millis(50)));
    let inverted = Probe::File { path: "/run/x".into(), invert: true };
    assert_eq!(c.health.get(1).map(|h| &h.probe), Some(&inverted));
}

#[test]
fn bare_anycast_address_is_a_host_prefix() {
    let text = MINIMAL.replace("203.0.113.124/32", "203.0.113.7");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.anycast.prefixes, vec!["203.0.113.7/32".parse::<IpNet>().expect("net")]);
}

/// `MINIMAL` with `md5_file` naming a 0600 file that holds `contents`.
fn with_md5_file(dir: &TempDir, contents: &[u8]) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.0.join("bgp.key");
    std::fs::write(&key, contents).expect("write key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (MINIMAL.replace("remote_as = 65000", &format!("remote_as = 65000\nmd5_file = \"{}\"", key.display())), key)
}

#[test]
fn md5_file_is_read_and_its_one_line_end_dropped() {
    let dir = TempDir::new("md5ok");
    for contents in [&b"s3cret\n"[..], b"s3cret"] {
        let c = parse(&with_md5_file(&dir, contents).0).unwrap_or_else(|e| panic!("{e}"));
        let n = c.bgp.neighbors.first().expect("neighbor");
        assert_eq!(n.md5.as_ref().map(Md5Key::as_bytes), Some(&b"s3cret"[..]));
    }
}

/// Issue 16: a key the kernel would store otherwise than the peer's operator typed it is
/// refused, located, with the fault and the fix, never the key.
#[test]
fn md5_keys_the_kernel_would_store_otherwise_are_refused_with_the_reason() {
    let dir = TempDir::new("md5bad");
    let fix = "; write the file with `printf '%s\\n' 'THE-KEY' > FILE` (one line, one LF)";
    let cases: [(&[u8], &str); 8] = [
        (b"s3cret\r\n", "the key file ends with CR LF (a DOS line end): the CR would be part of the key"),
        (b"s3cret\r", "the key file ends with CR LF (a DOS line end): the CR would be part of the key"),
        (b"s3cret\n\n", "the key file has more than one line (or a line break inside the key)"),
        (b"s3c\nret\n", "the key file has more than one line (or a line break inside the key)"),
        (b" s3cret\n", "the key file begins with a space or tab: it would be part of the key"),
        (b"s3cret \n", "the key in the key file ends with a space or tab: it would be part of the key"),
        (b"s3cret\t", "the key in the key file ends with a space or tab: it would be part of the key"),
        (b"\n", "in the key file: the TCP-MD5 key is empty"),
    ];
    for (contents, why) in cases {
        let (text, key) = with_md5_file(&dir, contents);
        let shown = format!("{FILE}:8:12: bgp.neighbor[0].md5_file = \"{}\": {why}", key.display());
        let ex = "; example: md5_file = \"/etc/anycastd/bgp.key\"";
        let want =
            if why.starts_with("in the key file") { format!("{shown}{ex}") } else { format!("{shown}{fix}{ex}") };
        assert_eq!(errors(&text), [want], "{contents:?}");
    }
    let (text, key) = with_md5_file(&dir, b"s3c\0ret\n");
    assert_eq!(
        errors(&text),
        [format!(
            "{FILE}:8:12: bgp.neighbor[0].md5_file = \"{}\": in the key file: the TCP-MD5 key holds a NUL byte \
             (byte 4 of 7); a peer that types its key as text can never hold the same key: use printable characters; \
             example: md5_file = \"/etc/anycastd/bgp.key\"",
            key.display()
        )]
    );
    let (text, key) = with_md5_file(&dir, &[b'k'; 81]);
    assert_eq!(
        errors(&text),
        [format!(
            "{FILE}:8:12: bgp.neighbor[0].md5_file = \"{}\": in the key file: the TCP-MD5 key is 81 bytes; Linux \
             accepts at most 80 (TCP_MD5SIG_MAXKEYLEN); example: md5_file = \"/etc/anycastd/bgp.key\"",
            key.display()
        )]
    );
    // Inline: the same octet rules, located at the key, which is never shown.
    let text = MINIMAL.replace("remote_as = 65000", "remote_as = 65000\nmd5 = \"s3c\\u0000ret\"");
    let e = errors(&text);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(&format!("{FILE}:8:7: bgp.neighbor[0].md5 = <redacted>: the TCP-MD5 key holds a NUL")),
        "{e:?}"
    );
    assert!(!e[0].contains("s3c"), "{e:?}");
}

/// The warnings of `Config::load` on `text` written with mode 0644, then with 0600 (which must
/// have none); `{path}` in the expected warning stands for the file.
fn open_key_warnings(dir: &TempDir, text: &str) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.0.join("anycastd.toml");
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(Config::load(&path).map(|c| c.warnings.len()).ok(), Some(0));
    let shown = path.display().to_string();
    c.warnings.iter().map(|w| w.to_string().replace(&shown, "{path}")).collect()
}

#[test]
fn load_reads_file_and_warns_on_open_inline_key() {
    let dir = TempDir::new("load");
    let path = dir.0.join("anycastd.toml");
    assert_eq!(
        open_key_warnings(&dir, FULL),
        ["{path}:23:7: warning: bgp.neighbor[0].md5: this file holds a TCP-MD5 key but has mode 644; run `chmod 600 {path}`"]
    );

    let missing = dir.0.join("nope.toml");
    let e = Config::load(&missing).expect_err("missing file");
    assert!(e.to_string().starts_with(&format!("{}: cannot read the configuration: ", missing.display())), "{e}");

    std::fs::write(&path, b"[bgp]\nlocal_as = \xff\n").expect("write");
    let e = Config::load(&path).expect_err("not UTF-8");
    assert_eq!(e.to_string(), format!("{}:2:12: the file is not valid UTF-8", path.display()));
}

#[test]
fn load_warns_on_an_open_inline_bfd_key() {
    let dir = TempDir::new("loadbfd");
    let text = MINIMAL.replacen(
        "remote_as = 65000",
        "remote_as = 65000\nbfd = { auth = \"keyed-sha1\", key = \"s3cret-bfd\" }",
        1,
    );
    assert_eq!(
        open_key_warnings(&dir, &text),
        ["{path}:8:36: warning: bgp.neighbor[0].bfd.key: this file holds a BFD key but has mode 644; run `chmod 600 {path}`"]
    );
}

#[test]
fn communities_parse_and_print() {
    assert_eq!("65124:100".parse(), Ok(Community(0xFE64_0064)));
    assert_eq!("no_export".parse(), Ok(Community(0xFFFF_FF01)));
    assert_eq!(Community(0xFFFF_FF01).to_string(), "65535:65281");
    assert_eq!("NO_PEER".parse(), Ok(Community::NOPEER));
    assert_eq!(Community(0x0001_0002).to_string(), "1:2");
    for bad in ["65536:1", "1", "1:2:3", "a:b", ""] {
        assert!(bad.parse::<Community>().is_err(), "{bad}");
    }
    let lc: LargeCommunity = "65124:1:2".parse().expect("valid");
    assert_eq!((lc.global, lc.local1, lc.local2), (65124, 1, 2));
    assert_eq!(lc.to_string(), "65124:1:2");
    for bad in ["1:2", "1:2:3:4", "1:2:x", "4294967296:1:1"] {
        assert!(bad.parse::<LargeCommunity>().is_err(), "{bad}");
    }
}
