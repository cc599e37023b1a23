//! The listeners' key and GTSM lifecycle across a reload, through a running [`Speaker`]: a key
//! the kernel path refuses for a *kept* neighbor (forced below the config layer) stops it, and
//! GTSM is cleared from a listener when no neighbor on it wants it any more.

use super::super::Speaker;
use crate::config::Config;
use crate::ha::decision::Advert;
use crate::speaker::transport::{self, TransportError, TransportOpts};
use crate::status::{NeighborState, NeighborStatus};
use crate::types::Md5Key;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const STEP: Duration = Duration::from_secs(5);
const KEY: &str = "m1-reload-key";

/// A port free on `ip` (asked of the OS, then released for the speaker).
fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn config(text: &str) -> Config {
    Config::from_str(text, Path::new("listener_tests.toml")).expect("valid config")
}

fn status_of(sp: &Speaker, ip: Ipv4Addr) -> NeighborStatus {
    sp.status().into_iter().find(|s| s.remote_ip == Some(IpAddr::V4(ip))).expect("a status for the neighbor")
}

/// `true` if the connection is closed with nothing sent, `false` if an OPEN came back.
async fn closed_unread(mut s: TcpStream) -> bool {
    let mut b = [0u8; 4096];
    match tokio::time::timeout(STEP, s.read(&mut b)).await.expect("closed or answered in time") {
        Ok(0) | Err(_) => true,
        Ok(_) => {
            assert_eq!(b.get(18), Some(&1), "an OPEN");
            false
        }
    }
}

/// M1: on reload the key of a kept neighbor cannot be reinstalled (81 octets, injected below
/// the config layer). The neighbor must stop — Disabled, the reason in last_error — and its
/// inbound connections are refused, never adopted.
#[tokio::test]
async fn a_kept_neighbor_whose_key_cannot_be_reinstalled_is_disabled() {
    let (local, r1) = (Ipv4Addr::new(127, 0, 0, 21), Ipv4Addr::new(127, 0, 0, 22));
    let port = free_port(local);
    let cfg = config(&format!(
        "[bgp]\nlocal_as = 65124\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nport = {port}\n\
         [[bgp.neighbor]]\nremote_ip = \"{r1}\"\nremote_as = 65001\nmd5 = \"{KEY}\"\npassive = true\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
    ));
    let sp = Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone())).await.expect("speaker");
    let signed = TransportOpts { local: Some(r1.into()), md5_key: Md5Key::new(KEY).ok(), ..Default::default() };
    let dst = SocketAddr::new(local.into(), port);
    // Before: R1's signed connection is adopted.
    let s = transport::connect(dst, &signed, STEP, Duration::from_secs(90)).await.expect("signed connect");
    assert!(!closed_unread(s).await, "R1 adopted before the reload");
    sp.lock().listeners.key_override.insert(r1.into(), Md5Key::unchecked_for_test(vec![b'k'; 81]));
    let report = sp.reload(&cfg).await.expect("reload");
    assert_eq!(report.disabled, vec![IpAddr::from(r1)], "{report:?}");
    assert!(report.kept.is_empty(), "{report:?}");
    let st = status_of(&sp, r1);
    assert_eq!(st.state, NeighborState::Disabled, "{st:?}");
    let why = st.last_error.unwrap_or_default();
    assert!(why.contains("81 octets"), "{why}");
    // After: the old key is still on the listener (no unsigned handshake), and the signed
    // connection is closed unread.
    let before = sp.inbound().refused_unprotected;
    let s = transport::connect(dst, &signed, STEP, Duration::from_secs(90)).await.expect("signed connect");
    assert!(closed_unread(s).await, "a disabled neighbor's connection was adopted");
    assert_eq!(sp.inbound().refused_unprotected, before + 1);
    let unsigned = TransportOpts { local: Some(r1.into()), ..Default::default() };
    let r = transport::connect(dst, &unsigned, Duration::from_millis(300), Duration::from_secs(90)).await;
    assert!(matches!(r, Err(TransportError::Timeout { .. })), "unsigned handshake completed: {r:?}");
    sp.shutdown("test over", Duration::from_secs(1)).await;
}

/// L9: a listener's GTSM is cleared when its only GTSM neighbor stops asking for it, so the
/// other (default TTL) neighbor on that listener gets in again.
#[tokio::test]
async fn gtsm_leaves_the_listener_with_the_last_neighbor_wanting_it() {
    let (local, a, b) = (Ipv4Addr::new(127, 0, 0, 31), Ipv4Addr::new(127, 0, 0, 32), Ipv4Addr::new(127, 0, 0, 33));
    let port = free_port(local);
    let text = |gtsm: bool| {
        format!(
            "[bgp]\nlocal_as = 65124\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nport = {port}\n\
             [[bgp.neighbor]]\nremote_ip = \"{a}\"\nremote_as = 65001\npassive = true\nttl_security = {gtsm}\n\
             [[bgp.neighbor]]\nremote_ip = \"{b}\"\nremote_as = 65002\npassive = true\n\
             [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
        )
    };
    let cfg = config(&text(true));
    let sp = Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone())).await.expect("speaker");
    let dst = SocketAddr::new(local.into(), port);
    let plain_b = TransportOpts { local: Some(b.into()), ..Default::default() };
    let r = transport::connect(dst, &plain_b, Duration::from_millis(300), Duration::from_secs(90)).await;
    assert!(matches!(r, Err(TransportError::Timeout { .. })), "GTSM on: B's TTL-64 SYN is dropped: {r:?}");
    sp.reload(&config(&text(false))).await.expect("reload");
    let s = transport::connect(dst, &plain_b, STEP, Duration::from_secs(90)).await.expect("GTSM cleared: B connects");
    assert!(!closed_unread(s).await, "B adopted");
    sp.shutdown("test over", Duration::from_secs(1)).await;
}

/// The accept path never waits for a neighbor: with the neighbor's queue full the connection
/// is closed at once and counted as busy (a `send().await` would block every other accept).
#[tokio::test]
async fn a_full_neighbor_queue_refuses_without_waiting() {
    use super::{AcceptState, Refusal, Route};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local = l.local_addr().expect("local address");
    let peer: IpAddr = Ipv4Addr::LOCALHOST.into();
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let mut st = AcceptState::default();
    st.set_routes([(peer, local)].into(), [((local, peer), Route { tx, md5: false, gtsm: false })].into());
    st.held.insert(local, Default::default());
    let mut clients = Vec::new();
    for want in [Ok(()), Err(Refusal::Busy)] {
        clients.push(TcpStream::connect(local).await.expect("connect"));
        let (s, _) = l.accept().await.expect("accept");
        assert_eq!(st.dispatch(local, s, peer), want);
    }
    assert_eq!(st.stats().refused_busy, 1);
    assert!(closed_unread(clients.pop().expect("the refused client")).await);
}
