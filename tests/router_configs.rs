//! The router examples in `configs/routers/`, checked with the daemons' own parsers where the
//! daemon is installed here (CI installs them), and each against a broken copy that the same
//! check must reject, so every check can fail:
//!
//! - every file: the points all examples share (the MD5 key, the anycast blocks, both nodes,
//!   3/9 s timers, BFD, GRACEFUL_SHUTDOWN → LOCAL_PREF 0, a header saying what was checked),
//!   and the README's router section names it;
//! - `bird2.conf`: `bird -p -c` (BIRD's full config parser, filters included);
//! - `frr.conf`: `vtysh --dryrun -f`, which knows every command but not every value (it
//!   passes `permit graceful-shutdwn`); so, as root, bgpd itself also loads the file's BGP
//!   part in a network namespace of its own (empty: no address, nothing leaves it, no
//!   listener) and must log no error and show the graceful-shutdown route-map;
//! - `gobgp.toml`: `gobgpd -d` (dry run; shallow: it checks types, not every option name).
//!
//! `configs/keepalived.conf` is checked by `tests/keepalived_conf.rs` (`keepalived -t`).
//! The vendor files (IOS-XR, Junos, EOS, IOS-XE, NX-OS, SR OS, RouterOS) have no checker here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anycastd::test_env;

const BGPD: &str = "/usr/lib/frr/bgpd";

fn routers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/routers")
}

fn shipped(name: &str) -> String {
    let path = routers_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn program(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Runs `cmd` with `{}` in `args` replaced by a file holding `text`; (success, its output).
fn check_text(cmd: &Path, args: &[&str], text: &str, tag: &str) -> (bool, String) {
    let dir = test_env::fresh_dir("routers", tag);
    let file = dir.join("config");
    std::fs::write(&file, text).expect("write the config copy");
    let file = file.to_str().expect("a UTF-8 temp path");
    let args: Vec<&str> = args.iter().map(|a| if *a == "{}" { file } else { *a }).collect();
    let out = Command::new(cmd).args(&args).output().unwrap_or_else(|e| panic!("{}: {e}", cmd.display()));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

/// Whether `text` contains one of `what`.
fn any(text: &str, what: &[&str]) -> bool {
    what.iter().any(|w| text.contains(w))
}

/// `text` with `from` replaced by `to`, which must occur (so the broken copy really differs).
fn broken(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer contains {from:?}: update this test");
    text.replacen(from, to, 1)
}

#[test]
fn every_router_example_has_md5_both_families_bfd_and_the_graceful_shutdown_policy() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Router side").nth(1).expect("README has a '## Router side' section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut names: Vec<String> =
        std::fs::read_dir(routers_dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert!(names.len() >= 10, "configs/routers/ has {names:?}");
    for name in &names {
        let text = shipped(name);
        let lower = text.to_lowercase();
        let head: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
        let mut missing = Vec::new();
        for (what, ok) in [
            ("the MD5 key anycast-lab-key", text.contains("anycast-lab-key")),
            ("the IPv4 anycast block 203.0.113.0/24", text.contains("203.0.113.0/24")),
            ("the IPv6 anycast block 2001:db8:124::/48", lower.contains("2001:db8:124::/48")),
            ("both nodes 192.0.2.11 and 192.0.2.12", text.contains("192.0.2.11") && text.contains("192.0.2.12")),
            ("GRACEFUL_SHUTDOWN (65535:0)", any(&text, &["65535:0", "(65535, 0)", "graceful-shutdown"])),
            (
                "LOCAL_PREF 0",
                any(&text, &["local-preference 0", "bgp_local_pref = 0", "set-local-pref = 0", "bgp-local-pref 0"]),
            ),
            (
                "3/9 s timers",
                any(
                    &text,
                    &[
                        "timers 3 9",
                        "hold time 9; keepalive time 3",
                        "hold-time 9",
                        "hold-time seconds 9",
                        "hold-time=9s keepalive-time=3s",
                        "hold-time = 9",
                    ],
                ),
            ),
            ("BFD (or why not)", lower.contains("bfd")),
            ("a header saying what was checked", head.contains("Checked")),
            ("a mention in the README's '## Router side'", section.contains(name.as_str())),
        ] {
            if !ok {
                missing.push(what);
            }
        }
        // Where IPv6 is its own session (every vendor file), both nodes' IPv6 neighbors; BIRD,
        // FRR and GoBGP carry IPv6 over the IPv4 sessions (MP-BGP) instead.
        let mp_bgp_only = ["bird2.conf", "frr.conf", "gobgp.toml"].contains(&name.as_str());
        let v6_neighbors = lower.contains("2001:db8:2::11") && lower.contains("2001:db8:2::12");
        if !mp_bgp_only && !v6_neighbors {
            missing.push("the IPv6 neighbors 2001:db8:2::11 and 2001:db8:2::12");
        }
        assert!(missing.is_empty(), "configs/routers/{name} lacks: {}", missing.join(", "));
    }
}

#[test]
fn bird2_conf_passes_bird_p() {
    let Some(bird) = program(&["/usr/sbin/bird", "/usr/bin/bird"]) else {
        assert!(test_env::skip_missing("router_configs bird2.conf", "bird", "apt-get install bird2"));
        return;
    };
    let text = shipped("bird2.conf");
    assert!(text.contains("if (65535, 0) ~ bgp_community then bgp_local_pref = 0;"), "{text}");
    let (ok, said) = check_text(&bird, &["-p", "-c", "{}"], &text, "bird-good");
    assert!(ok, "bird -p rejects configs/routers/bird2.conf:\n{said}");
    let bad = broken(&text, "~ bgp_community", "~ bgp_comunity");
    let (ok, said) = check_text(&bird, &["-p", "-c", "{}"], &bad, "bird-bad");
    assert!(!ok && said.contains("syntax error"), "bird -p passed a misspelt attribute:\n{said}");
}

#[test]
fn frr_conf_passes_vtysh_dryrun() {
    let Some(vtysh) = program(&["/usr/bin/vtysh"]) else {
        assert!(test_env::skip_missing("router_configs frr.conf", "vtysh", "apt-get install frr"));
        return;
    };
    let text = shipped("frr.conf");
    let (ok, said) = check_text(&vtysh, &["--dryrun", "-f", "{}"], &text, "frr-good");
    assert!(ok, "vtysh --dryrun rejects configs/routers/frr.conf:\n{said}");
    let bad = broken(&text, "neighbor ANYCAST timers 3 9", "neighbor ANYCAST timerz 3 9");
    let (ok, said) = check_text(&vtysh, &["--dryrun", "-f", "{}"], &bad, "frr-bad");
    assert!(!ok && said.contains("Unknown command"), "vtysh --dryrun passed a misspelt command:\n{said}");
}

/// bgpd, started by `unshare -n` (a network namespace of its own), killed when dropped.
struct Bgpd(Child);

impl Drop for Bgpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// bgpd loads `conf` (bgpd commands only) in an empty network namespace; its log and, once it
/// answers, its running config. bgpd drops to user frr, so its directory is open to it.
fn bgpd_loads(vtysh: &Path, conf: &str, tag: &str) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = test_env::fresh_dir("routers", tag);
    std::fs::set_permissions(&*dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (file, log) = (dir.join("bgpd.conf"), dir.join("bgpd.log"));
    std::fs::write(&file, conf).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = dir.to_str().unwrap();
    let (pid, zserv) = (format!("{d}/bgpd.pid"), format!("{d}/zserv.api"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new("unshare")
        .args(["-n", BGPD, "-f", file.to_str().unwrap(), "-i", &pid, "-z", &zserv, "--vty_socket", d])
        .args(["-P", "0", "-p", "0", "--log", "stdout"])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("unshare -n bgpd");
    let _bgpd = Bgpd(child);
    let t = Instant::now();
    let mut running = String::new();
    while t.elapsed() < Duration::from_secs(10) && !running.contains("router bgp 65000") {
        std::thread::sleep(Duration::from_millis(100));
        let out = Command::new(vtysh).args(["--vty_socket", d, "-d", "bgpd", "-c", "show running-config"]).output();
        running = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    }
    (std::fs::read_to_string(&log).unwrap_or_default(), running)
}

/// The BGP part of frr.conf: without the `bfd` block (bfdd's) and the profile reference.
fn bgp_part(text: &str) -> String {
    let mut out = String::new();
    let mut in_bfd = false;
    for line in text.lines() {
        if line == "bfd" {
            in_bfd = true;
        } else if in_bfd {
            in_bfd = line != "exit";
        } else if !line.contains(" bfd profile ") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

const BGPD_ERRORS: [&str; 5] = ["Config Failed", "No such command", "error processing", "Malformed", "% "];

#[test]
fn frr_conf_loads_in_bgpd_with_the_graceful_shutdown_route_map() {
    if test_env::skip_unprivileged("router_configs bgpd (a network namespace of its own)") {
        return;
    }
    let (Some(vtysh), true) = (program(&["/usr/bin/vtysh"]), Path::new(BGPD).exists()) else {
        assert!(test_env::skip_missing("router_configs bgpd", "frr (bgpd, vtysh)", "apt-get install frr"));
        return;
    };
    let conf = bgp_part(&shipped("frr.conf"));
    assert!(!conf.lines().any(|l| l == "bfd" || l.contains("bfd profile")), "{conf}");
    let (log, running) = bgpd_loads(&vtysh, &conf, "bgpd-good");
    let errors: Vec<&str> = log.lines().filter(|l| BGPD_ERRORS.iter().any(|e| l.contains(e))).collect();
    assert!(errors.is_empty(), "bgpd reports errors loading configs/routers/frr.conf:\n{}", errors.join("\n"));
    for want in [
        "bgp community-list standard GSHUT seq 5 permit graceful-shutdown",
        "route-map ANYCAST-IN permit 10",
        " match community GSHUT",
        " set local-preference 0",
        "  neighbor ANYCAST route-map ANYCAST-IN in",
    ] {
        assert!(running.contains(want), "bgpd's running config lacks {want:?}:\n{running}\nlog:\n{log}");
    }
    // A value vtysh --dryrun lets through: bgpd refuses it, and this check sees that.
    let bad = broken(&conf, "permit graceful-shutdown", "permit graceful-shutdwn");
    let (log, running) = bgpd_loads(&vtysh, &bad, "bgpd-bad");
    assert!(running.contains("router bgp 65000"), "bgpd did not answer:\n{log}");
    assert!(
        log.contains("Config Failed") && !running.contains("permit graceful-shutdwn"),
        "bgpd accepted a malformed community:\n{log}\n{running}"
    );
}

#[test]
fn gobgp_toml_passes_gobgpd_dry_run() {
    let Some(gobgpd) = program(&["/usr/bin/gobgpd", "/usr/sbin/gobgpd"]) else {
        assert!(test_env::skip_missing("router_configs gobgp.toml", "gobgpd", "apt-get install gobgpd"));
        return;
    };
    let text = shipped("gobgp.toml");
    let (ok, said) = check_text(&gobgpd, &["-f", "{}", "-t", "toml", "-d"], &text, "gobgp-good");
    assert!(ok, "gobgpd -d rejects configs/routers/gobgp.toml:\n{said}");
    let bad = broken(&text, "as = 65000", "as = \"x\"");
    let (ok, said) = check_text(&gobgpd, &["-f", "{}", "-t", "toml", "-d"], &bad, "gobgp-bad");
    assert!(!ok && said.contains("global.config.as"), "gobgpd -d passed a string AS:\n{said}");
}
