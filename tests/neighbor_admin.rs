//! `anycastd neighbor reset|disable|enable IP` and `status --neighbor IP` against a real peer:
//! `anycastd run` as a child process and a second speaker (in process, active too, so it keeps
//! trying to connect) over loopback.
//!
//! ```text
//!   anycastd run 127.0.0.1 (AS 65124, 203.0.113.124/32)  ⇄  Speaker 127.0.0.2 (AS 65000), both active
//! ```
//! - reset: the peer receives Cease / Administrative Reset (subcode 4) and the session is
//!   Established again, without anything else done;
//! - disable: the peer receives Cease / Administrative Shutdown (subcode 2); the session stays
//!   down although the peer keeps connecting (status AdminDown, nothing advertised), also across
//!   a reload; enable brings it back with the prefix;
//! - `status --neighbor`: the detail of the negotiated session, exit 0 / 1, an unknown address
//!   exit 1, a malformed one 64; `neighbor` to an unknown address exit 1.
//!
//! Every process started here is ended by its PID; every wait is bounded.

use anycastd::config::Config;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use anycastd::status::{NeighborState, NeighborStatus};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_anycastd");
const PORT: u16 = 17991;
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The daemon child, killed by its PID when dropped (SIGTERM first, by `stop`).
struct Daemon {
    child: std::process::Child,
    dir: PathBuf,
}

impl Daemon {
    fn start(tag: &str) -> Daemon {
        let dir = std::env::temp_dir().join(format!("acd-nbr-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("anycastd.toml");
        std::fs::write(
            &cfg,
            format!(
                "[bgp]\nlocal_as = 65124\nrouter_id = \"127.0.0.1\"\nlocal_ip = \"127.0.0.1\"\nhold_time = 9\nconnect_retry = 1\nport = {PORT}\n\
                 [[bgp.neighbor]]\nremote_ip = \"{PEER}\"\nremote_as = 65000\nport = {PORT}\n\
                 [anycast]\nprefixes = [\"203.0.113.124/32\"]\n\
                 [control]\nsocket = \"{}\"\nstate_dir = \"{}\"\n",
                dir.join("ctl.sock").display(),
                dir.join("state").display()
            ),
        )
        .unwrap();
        Config::load(&cfg).expect("the config loads");
        let child = std::process::Command::new(BIN)
            .args(["run", "--config"])
            .arg(&cfg)
            .env("ANYCASTD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Daemon { child, dir }
    }

    fn sock(&self) -> String {
        self.dir.join("ctl.sock").display().to_string()
    }

    async fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < end, "the daemon did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the client binary as a process (this test's runtime goes on meanwhile): exit code,
/// stdout, stderr.
async fn cli(args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(BIN).args(args).kill_on_drop(true).output(),
    )
    .await
    .expect("the client command did not end within 20 s")
    .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

/// The peer's view of the daemon (127.0.0.1).
fn seen(peer: &Speaker) -> NeighborStatus {
    peer.status().into_iter().next().expect("the peer has one neighbor")
}

/// Polls `f` every 25 ms for at most `limit`.
async fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The router stand-in: an active speaker at 127.0.0.2 that advertises nothing. Its prefix
/// limit makes it keep the set it holds from us, so its count is exact (not cumulative).
async fn peer() -> Speaker {
    let text = format!(
        "[bgp]\nlocal_as = 65000\nrouter_id = \"127.0.0.2\"\nlocal_ip = \"127.0.0.2\"\nhold_time = 9\nconnect_retry = 1\nport = {PORT}\n\
         [[bgp.neighbor]]\nremote_ip = \"127.0.0.1\"\nremote_as = 65124\nport = {PORT}\nmax_prefixes = 10\n\
         [anycast]\nprefixes = [\"198.51.100.0/24\"]\n"
    );
    let cfg = Config::from_str(&text, Path::new("peer.toml")).unwrap();
    Speaker::start(&cfg, Advert::nothing()).await.unwrap()
}

fn established_with_prefix(n: &NeighborStatus) -> bool {
    n.state == NeighborState::Established && n.prefixes_received_v4 == 1
}

#[tokio::test(flavor = "current_thread")]
async fn reset_disable_and_enable_reach_the_peer_with_the_right_cease() {
    let d = Daemon::start("admin");
    let sock = d.sock();
    let peer = peer().await;
    until(Duration::from_secs(15), "session Established, the prefix received", || {
        established_with_prefix(&seen(&peer))
    })
    .await;
    let ip = PEER.to_string();

    // status --neighbor: the negotiated session in detail, exit 0 while it serves.
    let (code, out, err) = cli(&["status", "--neighbor", &ip, "--socket", &sock]).await;
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "neighbor 127.0.0.2 AS65000: Established",
        "  hold time: 9 s negotiated (we offer 9 s, the peer 9 s); keepalive 3 s\n",
        "  peer: router id 127.0.0.2, AS 65000\n",
        "  negotiated: ipv4-unicast, ipv6-unicast, four-octet-as, route-refresh, enhanced-route-refresh\n",
        "  peer capabilities: multiprotocol ipv4-unicast, multiprotocol ipv6-unicast, route-refresh, enhanced-route-refresh, four-octet-as 65000\n",
        "  advertised now (1): 203.0.113.124/32\n",
        "  prefixes sent: announced v4 1 v6 0, withdrawn v4 0 v6 0\n",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    let (code, out, _) = cli(&["status", "--neighbor", &ip, "--json", "--socket", &sock]).await;
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["session"]["hold_time"], 9, "{v}");
    assert_eq!(v["session"]["peer_router_id"], "127.0.0.2", "{v}");
    // An address the daemon has no neighbor for: its answer, exit 1; a malformed one: usage, 64.
    let (code, _, err) = cli(&["status", "--neighbor", "192.0.2.99", "--socket", &sock]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no neighbor 192.0.2.99 in the running daemon; its neighbors are: 127.0.0.2"), "{err}");
    let (code, _, _) = cli(&["status", "--neighbor", "192.0.2.300", "--socket", &sock]).await;
    assert_eq!(code, 64);
    let (code, _, err) = cli(&["neighbor", "reset", "192.0.2.99", "--socket", &sock]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no neighbor 192.0.2.99 in the running configuration; its neighbors are: 127.0.0.2"), "{err}");
    let (code, _, _) = cli(&["neighbor", "reboot", &ip, "--socket", &sock]).await;
    assert_eq!(code, 64, "an unknown action is a usage error");

    // reset: Cease / Administrative Reset at the peer, then Established again by itself.
    let before = seen(&peer).established_count;
    let (code, out, err) = cli(&["neighbor", "reset", &ip, "--socket", &sock]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reset (Cease / Administrative Reset sent"), "{out}");
    until(Duration::from_secs(5), "the peer saw the reset", || {
        seen(&peer)
            .last_notification_received
            .as_deref()
            .is_some_and(|n| n.starts_with("Cease (6) / Administrative Reset (4)"))
    })
    .await;
    let n = seen(&peer).last_notification_received.unwrap();
    assert!(n.contains("anycastd neighbor reset"), "the RFC 9003 communication: {n}");
    let again = Instant::now() + Duration::from_secs(15);
    loop {
        let n = seen(&peer);
        if established_with_prefix(&n) && n.established_count > before {
            break;
        }
        if Instant::now() > again {
            let (_, daemon, _) = cli(&["status", "--neighbor", &ip, "--socket", &sock]).await;
            panic!("not Established again after the reset: the peer sees {n:?}\nthe daemon: {daemon}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // disable: Cease / Administrative Shutdown, and down it stays although the peer keeps
    // connecting (connect_retry 1 s): several of its attempts are refused.
    let (code, out, err) = cli(&["neighbor", "disable", &ip, "--socket", &sock]).await;
    assert_eq!(code, 0, "{out}{err}");
    until(Duration::from_secs(5), "the peer saw the shutdown", || {
        seen(&peer)
            .last_notification_received
            .as_deref()
            .is_some_and(|n| n.starts_with("Cease (6) / Administrative Shutdown (2)"))
    })
    .await;
    let count = seen(&peer).established_count;
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        let n = seen(&peer);
        assert_ne!(n.state, NeighborState::Established, "re-established while disabled: {n:?}");
        assert_eq!(n.established_count, count);
        assert_eq!(n.prefixes_received_v4, 0, "a disabled neighbor advertises nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, out, _) = cli(&["status", "--neighbor", &ip, "--socket", &sock]).await;
    assert_eq!(code, 1, "a disabled neighbor does not serve: {out}");
    assert!(out.starts_with("neighbor 127.0.0.2 AS65000: AdminDown\n"), "{out}");
    assert!(out.contains("  advertised now (0): nothing\n"), "{out}");
    let (code, out, _) = cli(&["status", "--socket", &sock]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("neighbor 127.0.0.2 AS65000 AdminDown"), "{out}");
    // Still down after a reload that restarts the neighbor (its MED changed); a reset does
    // not bring it back either.
    let cfg = d.dir.join("anycastd.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("remote_as = 65000\n", "remote_as = 65000\nmed = 50\n")).unwrap();
    let (code, out, err) = cli(&["reload", "--socket", &sock]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("restarted [127.0.0.2]"), "the neighbor was restarted: {out}");
    let (code, _, err) = cli(&["neighbor", "reset", &ip, "--socket", &sock]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is disabled: `anycastd neighbor enable 127.0.0.2` starts it again"), "{err}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(seen(&peer).established_count, count, "re-established while disabled");

    // enable: back, with the prefix.
    let (code, out, err) = cli(&["neighbor", "enable", &ip, "--socket", &sock]).await;
    assert_eq!(code, 0, "{out}{err}");
    until(Duration::from_secs(15), "Established again after enable", || established_with_prefix(&seen(&peer))).await;
    let (code, out, _) = cli(&["status", "--neighbor", &ip, "--socket", &sock]).await;
    assert_eq!(code, 0, "{out}");
    peer.shutdown("test over", Duration::from_secs(1)).await;
    let sock_path = d.dir.join("ctl.sock");
    d.stop().await;
    // No daemon: 2 for both commands.
    let sock = sock_path.display().to_string();
    assert_eq!(cli(&["status", "--neighbor", &ip, "--socket", &sock]).await.0, 2);
    assert_eq!(cli(&["neighbor", "enable", &ip, "--socket", &sock]).await.0, 2);
}
