//! Two anycastd speakers peer over loopback (127.0.0.1 ⇄ 127.0.0.2) through real sockets with
//! TCP-MD5: Established and routes exchanged with matching keys; never Established with
//! mismatched keys, and the reason is visible in status; two active speakers settle on one
//! session. Waits are bounded polls, not sleeps.

use anycastd::config::Config;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use anycastd::status::NeighborState;
use std::path::Path;
use std::time::Duration;

fn cfg(local: &str, remote: &str, port: u16, asn: u32, peer_as: u32, key: &str, prefixes: &[&str]) -> Config {
    cfg_p(local, remote, port, asn, peer_as, key, prefixes, false)
}

#[allow(clippy::too_many_arguments)]
fn cfg_p(
    local: &str,
    remote: &str,
    port: u16,
    asn: u32,
    peer_as: u32,
    key: &str,
    prefixes: &[&str],
    passive: bool,
) -> Config {
    let p: Vec<String> = prefixes.iter().map(|p| format!("\"{p}\"")).collect();
    let text = format!(
        r#"
[bgp]
local_as = {asn}
router_id = "{local}"
local_ip = "{local}"
hold_time = 9
connect_retry = 1
port = {port}
[[bgp.neighbor]]
remote_ip = "{remote}"
remote_as = {peer_as}
port = {port}
md5 = "{key}"
passive = {passive}
[anycast]
prefixes = [{}]
"#,
        p.join(", ")
    );
    Config::from_str(&text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("gave up waiting for {what}");
    false
}

#[tokio::test(flavor = "current_thread")]
async fn md5_session_over_loopback_exchanges_routes_and_withdraws() {
    let port = 17901;
    let a_cfg = cfg("127.0.0.1", "127.0.0.2", port, 65124, 65000, "anycast-lab-key", &["203.0.113.124/32"]);
    // B waits for A to connect: no connection collision, so exactly one Established.
    let b_cfg = cfg_p("127.0.0.2", "127.0.0.1", port, 65000, 65124, "anycast-lab-key", &["198.51.100.0/24"], true);
    let a = Speaker::start(&a_cfg, Advert::announce(a_cfg.anycast.prefixes.clone())).await.unwrap();
    let b = Speaker::start(&b_cfg, Advert::announce(b_cfg.anycast.prefixes.clone())).await.unwrap();
    let up = wait_for("Established", Duration::from_secs(10), || {
        a.status()[0].state == NeighborState::Established && b.status()[0].state == NeighborState::Established
    })
    .await;
    assert!(up, "a: {:?}\nb: {:?}", a.status(), b.status());
    // A connection from an address that is not a configured neighbor is closed at once and
    // changes nothing (RFC 4271 §8.2.1.1).
    {
        use tokio::io::AsyncReadExt;
        let before = a.status()[0].established_count;
        assert_eq!(before, 1);
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.9:0".parse().unwrap()).unwrap();
        let mut s = sock.connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await.expect("not closed").unwrap_or(0);
        assert_eq!(n, 0, "an unconfigured peer got data");
        assert_eq!(a.status()[0].established_count, before);
        assert_eq!(a.status()[0].state, NeighborState::Established);
    }
    // Routes exchanged: each side received the other's one prefix.
    assert!(
        wait_for("routes", Duration::from_secs(5), || a.status()[0].prefixes_received_v4 == 1
            && b.status()[0].prefixes_received_v4 == 1)
        .await
    );
    assert!(a.status()[0].md5);
    assert_eq!(a.status()[0].advertised, ["203.0.113.124/32"]);
    // Withdraw from A: B's count drops without any timer.
    a.set_advert(Advert::nothing());
    assert!(wait_for("withdraw", Duration::from_secs(2), || b.status()[0].prefixes_received_v4 == 0).await);
    // Clean stop of A: B sees Cease / Administrative Shutdown with our message.
    a.shutdown("test over", Duration::from_secs(2)).await;
    assert!(
        wait_for("Cease at B", Duration::from_secs(3), || b.status()[0]
            .last_notification_received
            .as_deref()
            .is_some_and(|n| n.contains("Administrative Shutdown") && n.contains("test over")))
        .await,
        "{:?}",
        b.status()
    );
    b.shutdown("bye", Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn mismatched_md5_keys_never_establish() {
    let port = 17902;
    let a_cfg = cfg("127.0.0.1", "127.0.0.2", port, 65124, 65000, "anycast-lab-key", &["203.0.113.124/32"]);
    let b_cfg = cfg("127.0.0.2", "127.0.0.1", port, 65000, 65124, "wrong-key-0000", &["198.51.100.0/24"]);
    let a = Speaker::start(&a_cfg, Advert::announce(a_cfg.anycast.prefixes.clone())).await.unwrap();
    let b = Speaker::start(&b_cfg, Advert::announce(b_cfg.anycast.prefixes.clone())).await.unwrap();
    // Long enough for several connect attempts each way (ConnectRetry 1 s).
    let up = wait_for("Established (must not happen)", Duration::from_secs(4), || {
        a.status()[0].state == NeighborState::Established || b.status()[0].state == NeighborState::Established
    })
    .await;
    assert!(!up, "a session came up with mismatched keys");
    let sa = &a.status()[0];
    assert!(sa.msgs_in == 0, "no BGP message may get through: {sa:?}");
    // Visible in status: normally "connect to 127.0.0.2:17902 timed out after 1 s" (the peer's
    // kernel drops the wrongly signed SYNs); the exact wording is not the point.
    let err = sa.last_error.clone().unwrap_or_default();
    assert!(!err.is_empty(), "error not visible in status: {sa:?}");
    eprintln!("status shows: {err}");
    a.shutdown("bye", Duration::from_secs(1)).await;
    b.shutdown("bye", Duration::from_secs(1)).await;
}

/// Both speakers active and started together, so their connection attempts may cross (RFC 4271
/// §6.8; the collisions themselves are driven step by step in `session/peer_tests.rs`): they
/// must settle on one session that stays up — no side may close the connection the other
/// kept. Several rounds, each on its own port.
#[tokio::test(flavor = "current_thread")]
async fn two_active_speakers_settle_on_one_session() {
    for round in 0..3u16 {
        let port = 17910 + round;
        let a_cfg = cfg("127.0.0.1", "127.0.0.2", port, 65124, 65000, "anycast-lab-key", &["203.0.113.124/32"]);
        let b_cfg = cfg("127.0.0.2", "127.0.0.1", port, 65000, 65124, "anycast-lab-key", &["198.51.100.0/24"]);
        let (a, b) = tokio::join!(
            Speaker::start(&a_cfg, Advert::announce(a_cfg.anycast.prefixes.clone())),
            Speaker::start(&b_cfg, Advert::announce(b_cfg.anycast.prefixes.clone()))
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let up = wait_for("both Established", Duration::from_secs(10), || {
            a.status()[0].state == NeighborState::Established && b.status()[0].state == NeighborState::Established
        })
        .await;
        assert!(up, "round {round}: a: {:?}\nb: {:?}", a.status(), b.status());
        // Settled: still up a while later, never dropped after Established.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        for (who, s) in [("a", &a.status()[0]), ("b", &b.status()[0])] {
            assert_eq!(s.state, NeighborState::Established, "round {round}: {who}: {s:?}");
            assert_eq!((s.established_count, s.flaps), (1, 0), "round {round}: {who} flapped: {s:?}");
            assert_eq!(s.prefixes_received_v4, 1, "round {round}: {who}: {s:?}");
        }
        a.shutdown("bye", Duration::from_secs(1)).await;
        b.shutdown("bye", Duration::from_secs(1)).await;
    }
}
