//! `anycastd bgp set|show|unset` and `check-config` as an operator runs them, on temp files.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin(args: &[&str]) -> (String, String, i32) {
    let o = Command::new(env!("CARGO_BIN_EXE_anycastd")).args(args).output().unwrap();
    (String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into(), o.status.code().unwrap())
}

/// A config path in a directory of the test's own, removed when dropped.
struct Tmp(PathBuf);

impl std::ops::Deref for Tmp {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for Tmp {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        if let Some(d) = self.0.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn tmp(name: &str) -> Tmp {
    let d = std::env::temp_dir().join(format!("acd-bgp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Tmp(d.join("anycastd.toml"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

const SET: &[&str] = &[
    "bgp",
    "set",
    "--local_ip",
    "192.0.2.11",
    "--anycast_ip",
    "203.0.113.124",
    "--remote_ip",
    "192.0.2.1",
    "--local_as",
    "65124",
    "--remote_as",
    "65000",
    "--local_router_id",
    "192.0.2.11",
];

#[test]
fn set_creates_updates_is_idempotent_and_keeps_other_sections() {
    let p = tmp("create");
    let c = p.to_str().unwrap();
    let (out, _, code) = bin(&[SET, &["-c", c]].concat());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("+ bgp.local_as = 65124"), "{out}");
    assert_eq!(mode(&p), 0o644, "no key: world-readable is fine");
    // Same flags again: nothing to do.
    let (out, _, code) = bin(&[SET, &["-c", c]].concat());
    assert_eq!((code, out.trim_end().ends_with("no change")), (0, true), "{out}");
    // Another section and a comment survive an update; a key makes the file 0600.
    let mut t = std::fs::read_to_string(&p).unwrap();
    t.push_str("\n# operator's note\n[control]\nsocket = \"/run/anycastd/a.sock\"\n");
    std::fs::write(&p, t).unwrap();
    let (out, _, code) =
        bin(&["bgp", "set", "-c", c, "--md5", "s3cret", "--remote-ip", "192.0.2.1", "--remote-ip", "192.0.2.2"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("+ bgp.neighbor remote_ip=192.0.2.2"), "{out}");
    assert!(!out.contains("s3cret"), "a key must never be printed: {out}");
    let t = std::fs::read_to_string(&p).unwrap();
    assert!(t.contains("# operator's note") && t.contains("socket = \"/run/anycastd/a.sock\""), "{t}");
    assert_eq!(mode(&p), 0o600);
    let (out, _, _) = bin(&["bgp", "show", "-c", c]);
    assert!(
        out.contains("remote_ip = \"192.0.2.2\"") && !out.contains("s3cret") && !out.contains("[control]"),
        "{out}"
    );
    // unset removes [bgp] and keeps the rest.
    let (_, _, code) = bin(&["bgp", "unset", "-c", c]);
    assert_eq!(code, 0);
    let t = std::fs::read_to_string(&p).unwrap();
    assert!(!t.contains("[bgp]") && t.contains("[control]"), "{t}");
}

#[test]
fn bad_values_are_refused_and_the_file_is_untouched() {
    let p = tmp("bad");
    let c = p.to_str().unwrap();
    assert_eq!(bin(&[SET, &["-c", c]].concat()).2, 0);
    let before = std::fs::read(&p).unwrap();
    for (args, needle) in [
        (vec!["--local_as", "0"], "RFC 7607"),
        (vec!["--remote_ip", "not-an-ip"], "not an IP address"),
        (vec!["--anycast_ip", "203.0.113.5/24"], "203.0.113.5/24"),
        (vec!["--local_router_id", "0.0.0.0"], "0.0.0.0"),
        (vec!["--local_as", "23456"], "23456"),
    ] {
        let (_, err, code) = bin(&[&["bgp", "set", "-c", c][..], &args].concat());
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(std::fs::read(&p).unwrap(), before, "{args:?} changed the file");
    }
}

#[test]
fn check_config_names_file_line_column_key_and_fix() {
    let p = tmp("check");
    let c = p.to_str().unwrap();
    std::fs::write(
        &p,
        "[bgp]\nlocal_as = 65124\nrouter_id = \"192.0.2.11\"\nlocal_ip = \"192.0.2.11\"\nhold_time = 2\n\
         [[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nremote_as = 65000\n[anycast]\nprefixes = [\"203.0.113.124/32\"]\n",
    )
    .unwrap();
    let (_, err, code) = bin(&["check-config", "-c", c]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{c}:5:13: bgp.hold_time = 2")), "{err}");
    assert!(err.contains("example: hold_time = 9"), "{err}");
    let t = std::fs::read_to_string(&p).unwrap().replace("hold_time = 2", "hold_tme = 9");
    std::fs::write(&p, t).unwrap();
    let (_, err, _) = bin(&["check-config", "-c", c]);
    assert!(err.contains(&format!("{c}:5:1: unknown key `hold_tme` in [bgp]; did you mean `hold_time`?")), "{err}");
    let t = std::fs::read_to_string(&p).unwrap().replace("hold_tme = 9", "hold_time = 9");
    std::fs::write(&p, t).unwrap();
    let (out, _, code) = bin(&["check-config", "-c", c]);
    assert_eq!(code, 0);
    assert!(out.contains("OK (1 neighbor(s), 1 prefix(es), 0 check(s))"), "{out}");
}

/// Issue 16 item 4: a `tcp_ao` table is not an unknown key; `check-config` fails naming
/// TCP-AO and this kernel's support, located at the table. The kernel is probed
/// (`TCP_AO_ADD_KEY`): which sentence depends on it, and both end with "use md5".
#[test]
fn check_config_names_tcp_ao_as_unsupported() {
    let p = tmp("tcpao");
    let c = p.to_str().unwrap();
    std::fs::write(
        &p,
        "[bgp]\nlocal_as = 65124\nrouter_id = \"192.0.2.11\"\nlocal_ip = \"192.0.2.11\"\n\
         [[bgp.neighbor]]\nremote_ip = \"192.0.2.1\"\nremote_as = 65000\n\
         tcp_ao = { send_id = 1, recv_id = 1, key = \"s3cret-ao\" }\n[anycast]\nprefixes = [\"203.0.113.124/32\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (out, err, code) = bin(&["check-config", "-c", c]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.starts_with(&format!("{c}:8:10: bgp.neighbor[0].tcp_ao: ")), "{err}");
    assert!(!err.contains("unknown") && !err.contains("s3cret"), "{err}");
    let no_ao = "TCP-AO is not supported by this kernel (TCP_AO_ADD_KEY: Protocol not available); use md5 or a \
                 kernel ≥ 6.7 built with CONFIG_TCP_AO";
    let has_ao = "this kernel supports TCP-AO, but anycastd does not implement it yet; use md5";
    assert!(err.contains(no_ao) || err.contains(has_ao), "{err}");
    eprintln!("check-config here: {err}");
}
