//! BFD on loopback, end to end through the speaker: the BFD thread's sockets and timers and
//! the RFC 5882 coupling in the neighbor task, against a scripted BGP peer and a BFD peer
//! built from the same sans-IO session (`anycastd::bfd::Bfd`) on its own sockets:
//!
//! ```text
//!   Speaker 127.0.0.x (BGP active, BFD 20 ms × 3)  ──BGP──▶  raw peer 127.0.0.y:<os port>
//!                     UDP 3784 ◀──────BFD──────▶ UDP 3784  BFD peer 127.0.0.y
//! ```
//!
//! Interop with real routers' BFD (BIRD, FRR) is in the labs (interop/tests/test_bfd_*.py).

#[allow(dead_code)]
mod common;

use anycastd::bfd::{Action, AuthConfig, AuthType, Bfd, Event, SessionConfig};
use anycastd::config::{self, Config};
use anycastd::ha::Advert;
use anycastd::liveness::Liveness;
use anycastd::speaker::bfd::socket::{RxSocket, TxSocket, PORT_SINGLE_HOP};
use anycastd::speaker::Speaker;
use anycastd::wire::Message;
use common::bgp_bytes::peer_open;
use common::raw_peer::{decode, Next, Peer, STEP};
use common::speaker_status::{status_of, wait_status};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::{NonZeroU32, NonZeroU8};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;

const INTERVAL: Duration = Duration::from_millis(20);

fn bfd_cfg(auth: Option<AuthConfig>) -> config::Bfd {
    config::Bfd { interval: INTERVAL, multiplier: NonZeroU8::new(3).unwrap(), auth, strict: true }
}

/// A speaker toward `peer` with BFD, its BGP peer's listener.
async fn speaker(local: Ipv4Addr, peer: Ipv4Addr, bfd: config::Bfd) -> (Speaker, TcpListener) {
    let l = TcpListener::bind((peer, 0)).await.expect("bind the raw peer");
    let port = l.local_addr().expect("raw peer address").port();
    let cfg = config_for(local, peer, port, bfd);
    let sp = Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone())).await.expect("speaker");
    (sp, l)
}

fn config_for(local: Ipv4Addr, peer: Ipv4Addr, port: u16, bfd: config::Bfd) -> Config {
    let text = format!(
        "[bgp]\nlocal_as = 65124\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = 9\n\
         connect_retry = 1\nlisten = false\n\
         [[bgp.neighbor]]\nremote_ip = \"{peer}\"\nremote_as = 65000\nport = {port}\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
    );
    let mut cfg = Config::from_str(&text, std::path::Path::new("bfd.toml")).unwrap_or_else(|e| panic!("config: {e}"));
    cfg.bgp.neighbors[0].bfd = Some(bfd);
    cfg
}

/// The far end's session settings: INTERVAL × 3.
fn peer_session(discriminator: u32, jitter_seed: u64) -> SessionConfig {
    SessionConfig {
        my_discriminator: NonZeroU32::new(discriminator).unwrap(),
        desired_min_tx: INTERVAL,
        required_min_rx: INTERVAL,
        detect_mult: NonZeroU8::new(3).unwrap(),
        jitter_seed,
    }
}

/// The far end's BFD: a session on its own sockets, silent while `mute` is set.
struct BfdPeer {
    mute: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BfdPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bfd_peer(me: Ipv4Addr, speaker: Ipv4Addr, auth: Option<AuthConfig>) -> BfdPeer {
    let mute = Arc::new(AtomicBool::new(false));
    let m = mute.clone();
    let task = tokio::spawn(async move {
        let rx = RxSocket::bind(IpAddr::V4(me), false).expect("BFD peer receive socket");
        let tx = TxSocket::bind(IpAddr::V4(me), 50000).expect("BFD peer send socket");
        let mut b = Bfd::new(std::time::Instant::now(), peer_session(0xfeed, 7), auth.map(|a| (a, 1)));
        let to = SocketAddr::new(IpAddr::V4(speaker), PORT_SINGLE_HOP);
        let mut buf = vec![0u8; 512];
        // Polls its socket every millisecond (the sockets do not wait; a test peer may).
        loop {
            let mut events = Vec::new();
            while let Ok(Some(d)) = rx.try_recv(&mut buf) {
                if !m.load(Ordering::Relaxed) {
                    events.push(Event::Received(buf[..d.len].to_vec()));
                }
            }
            if b.next_deadline().is_some_and(|t| t <= std::time::Instant::now()) {
                events.push(Event::Timer);
            }
            for ev in events {
                for a in b.handle(std::time::Instant::now(), ev) {
                    if let Action::Send(p) = a {
                        if !m.load(Ordering::Relaxed) {
                            let _ = tx.send_to(&p, to);
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    BfdPeer { mute, task }
}

fn bfd_state(sp: &Speaker, ip: Ipv4Addr) -> String {
    status_of(sp, ip).ok().and_then(|s| s.bfd).map(|b| b.state).unwrap_or_default()
}

/// Reads until an UPDATE that carries NLRI (an announcement) or `limit`.
async fn announcement(p: &mut Peer, limit: Duration) -> Result<bool, String> {
    let end = Instant::now() + limit;
    loop {
        match p.r.next(end).await? {
            Next::Msg(m) if m.get(18) == Some(&2) => {
                if let Message::Update(u) = decode(&m)? {
                    if !u.nlri_raw.is_empty() || u.mp_reach.is_some() {
                        return Ok(true);
                    }
                }
            }
            Next::Msg(m) if m.get(18) == Some(&3) => return Err(format!("NOTIFICATION: {m:02x?}")),
            Next::Msg(_) => {}
            Next::Eof => return Err("closed".into()),
            Next::Timeout => return Ok(false),
        }
    }
}

#[tokio::test]
async fn strict_bgp_waits_for_bfd_and_bfd_down_ends_it_with_cease_10_until_bfd_is_up_again() {
    let (local, peer) = (Ipv4Addr::new(127, 0, 0, 61), Ipv4Addr::new(127, 0, 0, 62));
    let (sp, l) = speaker(local, peer, bfd_cfg(None)).await;
    let mut p = Peer::accept(&l, STEP, "raw").await.unwrap();
    p.establish(&peer_open(65000, 9, [198, 51, 100, 2])).await.unwrap();
    // Established, but BFD is not Up: nothing is advertised (strict).
    assert!(!announcement(&mut p, Duration::from_millis(500)).await.unwrap(), "announced before BFD Up");
    let s = status_of(&sp, peer).unwrap();
    assert!(s.advertised.is_empty(), "{s:?}");
    let b = s.bfd.expect("bfd status");
    assert_ne!(b.state, "Up");
    assert!(b.problem.as_deref().unwrap_or("").contains("no BFD packets"), "{b:?}");

    // The peer answers BFD: Up, and the route follows at once.
    let bp = bfd_peer(peer, local, None);
    let up = wait_status(&sp, peer, STEP, "BFD Up", |s| s.bfd.as_ref().is_some_and(|b| b.state == "Up")).await.unwrap();
    let b = up.bfd.unwrap();
    assert_eq!(b.detection_time_us, Some(60_000), "{b:?}");
    assert_eq!(b.tx_interval_us, Some(20_000), "{b:?}");
    assert_eq!(b.remote_discriminator, 0xfeed);
    assert!(announcement(&mut p, STEP).await.unwrap(), "no announcement after BFD Up");

    // The peer's BFD goes silent: Cease / BFD Down within the Detection Time (60 ms) plus
    // scheduling, not the 9 s hold time.
    let t0 = Instant::now();
    bp.mute.store(true, Ordering::Relaxed);
    let n = p.r.notification(Duration::from_secs(2)).await.unwrap();
    let took = t0.elapsed();
    assert_eq!(n.map(|(c, s, _)| (c, s)), Some((6, 10)), "Cease / BFD Down");
    assert!(took < Duration::from_millis(400), "Cease after {took:?}");
    let s = wait_status(&sp, peer, STEP, "Idle", |s| s.state == anycastd::status::NeighborState::Idle).await.unwrap();
    assert!(s.last_error.as_deref().unwrap_or("").contains("BFD"), "{s:?}");
    assert_eq!(s.bfd.as_ref().map(|b| b.down_count), Some(1));
    assert_eq!(s.bfd.as_ref().map(|b| b.local_diag.as_str()), Some("Control Detection Time Expired"));

    // BGP stays down while BFD is (connect_retry is 1 s: nothing for 2 s).
    assert!(tokio::time::timeout(Duration::from_secs(2), l.accept()).await.is_err(), "BGP came back while BFD Down");

    // BFD comes back: BGP starts again and the route is announced.
    bp.mute.store(false, Ordering::Relaxed);
    let mut p = Peer::accept(&l, STEP, "raw").await.unwrap();
    p.establish(&peer_open(65000, 9, [198, 51, 100, 2])).await.unwrap();
    assert!(announcement(&mut p, STEP).await.unwrap(), "no announcement after BFD came back");
    let s = status_of(&sp, peer).unwrap();
    assert_eq!(bfd_state(&sp, peer), "Up", "{:?}", s.bfd);
    drop(bp);
}

#[tokio::test]
async fn a_wrong_bfd_key_never_comes_up_and_status_says_why() {
    let (local, peer) = (Ipv4Addr::new(127, 0, 0, 63), Ipv4Addr::new(127, 0, 0, 64));
    let ours = AuthConfig::new(AuthType::MeticulousKeyedSha1, 1, b"right-key".to_vec()).unwrap();
    let theirs = AuthConfig::new(AuthType::MeticulousKeyedSha1, 1, b"wrong-key".to_vec()).unwrap();
    let (sp, l) = speaker(local, peer, bfd_cfg(Some(ours))).await;
    let _bp = bfd_peer(peer, local, Some(theirs));
    let mut p = Peer::accept(&l, STEP, "raw").await.unwrap();
    p.establish(&peer_open(65000, 9, [198, 51, 100, 2])).await.unwrap();
    let s = wait_status(&sp, peer, STEP, "a digest drop", |s| {
        s.bfd.as_ref().is_some_and(|b| b.drops.get("bad_digest").copied().unwrap_or(0) >= 3)
    })
    .await
    .unwrap();
    let b = s.bfd.unwrap();
    assert_ne!(b.state, "Up");
    let why = b.problem.unwrap_or_default();
    assert!(why.contains("authentication failed") && why.contains("bad_digest"), "{why}");
    assert!(!why.contains("right-key") && !why.contains("wrong-key"), "a key in status: {why}");
    assert!(!announcement(&mut p, Duration::from_millis(300)).await.unwrap(), "announced without BFD Up");
}

#[tokio::test]
async fn a_stalled_decision_loop_stops_bfd_transmission_and_the_peer_sees_us_down() {
    let (local, peer) = (Ipv4Addr::new(127, 0, 0, 65), Ipv4Addr::new(127, 0, 0, 66));
    let mut c = bfd_cfg(None);
    c.strict = false;
    let (sp, l) = speaker(local, peer, c).await;
    let _bp = bfd_peer(peer, local, None);
    let _p = Peer::accept(&l, STEP, "raw").await.unwrap();
    let live: Liveness = sp.liveness();
    // A decision loop that beats: Up.
    let beat = {
        let live = live.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let h = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                live.beat(std::time::Instant::now());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        (stop, h)
    };
    wait_status(&sp, peer, STEP, "BFD Up", |s| s.bfd.as_ref().is_some_and(|b| b.state == "Up")).await.unwrap();
    // It stops beating (hung): past the stall limit nothing is sent, the peer declares us
    // down, so we see its Down and our session leaves Up; the packets withheld are counted.
    beat.0.store(true, Ordering::Relaxed);
    let _ = beat.1.await;
    let s = wait_status(&sp, peer, Duration::from_secs(3), "BFD down after the stall", |s| {
        s.bfd.as_ref().is_some_and(|b| b.down_count >= 1 && b.tx_suppressed > 0)
    })
    .await
    .unwrap();
    let why = s.bfd.and_then(|b| b.problem).unwrap_or_default();
    assert!(why.contains("decision loop"), "{why}");
    // Beating again resumes transmission: Up again.
    live.beat(std::time::Instant::now());
    let keep = tokio::spawn(async move {
        for _ in 0..200 {
            live.beat(std::time::Instant::now());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    wait_status(&sp, peer, STEP, "BFD Up again", |s| {
        s.bfd.as_ref().is_some_and(|b| b.state == "Up" && b.up_count >= 2)
    })
    .await
    .unwrap();
    keep.abort();
}

#[tokio::test]
async fn packets_with_a_ttl_below_255_are_dropped() {
    let (local, peer) = (Ipv4Addr::new(127, 0, 0, 67), Ipv4Addr::new(127, 0, 0, 68));
    let (sp, _l) = speaker(local, peer, bfd_cfg(None)).await;
    // A valid Down packet from the peer's address, one hop away (TTL 254).
    let mut b = Bfd::new(std::time::Instant::now(), peer_session(9, 1), None);
    let pkt = b
        .handle(std::time::Instant::now(), Event::Timer)
        .into_iter()
        .find_map(|a| if let Action::Send(p) = a { Some(p) } else { None })
        .expect("a first packet");
    // Once our session runs (its first packet is out), its receive socket is bound.
    wait_status(&sp, peer, STEP, "BFD running", |s| s.bfd.as_ref().is_some_and(|b| b.packets_out > 0)).await.unwrap();
    let u = std::net::UdpSocket::bind((peer, 0)).unwrap();
    u.set_ttl(254).unwrap();
    for _ in 0..3 {
        u.send_to(&pkt, (local, PORT_SINGLE_HOP)).unwrap();
    }
    let s = wait_status(&sp, peer, STEP, "bad_ttl drops", |s| {
        s.bfd.as_ref().is_some_and(|b| b.drops.get("bad_ttl").copied().unwrap_or(0) >= 3)
    })
    .await
    .unwrap();
    assert_eq!(s.bfd.as_ref().map(|b| b.state.as_str()), Some("Down"));
    // The same packet with TTL 255 is taken (Down → Init).
    u.set_ttl(255).unwrap();
    u.send_to(&pkt, (local, PORT_SINGLE_HOP)).unwrap();
    wait_status(&sp, peer, STEP, "Init", |s| s.bfd.as_ref().is_some_and(|b| b.state == "Init")).await.unwrap();
    assert_eq!(s.bfd.map(|b| b.packets_in), Some(0));
}

#[tokio::test]
async fn a_reload_that_changes_only_bfd_timers_keeps_both_sessions_up() {
    let (local, peer) = (Ipv4Addr::new(127, 0, 0, 69), Ipv4Addr::new(127, 0, 0, 70));
    let (sp, l) = speaker(local, peer, bfd_cfg(None)).await;
    let port = l.local_addr().unwrap().port();
    let _bp = bfd_peer(peer, local, None);
    let mut p = Peer::accept(&l, STEP, "raw").await.unwrap();
    p.establish(&peer_open(65000, 9, [198, 51, 100, 2])).await.unwrap();
    wait_status(&sp, peer, STEP, "BFD Up", |s| s.bfd.as_ref().is_some_and(|b| b.state == "Up")).await.unwrap();
    // 20 ms → 40 ms × 5: the peer's Detection Time of us and ours of it follow through a
    // Poll Sequence; neither BGP nor BFD goes down.
    let mut c = bfd_cfg(None);
    c.interval = Duration::from_millis(40);
    c.multiplier = NonZeroU8::new(5).unwrap();
    let report = sp.reload(&config_for(local, peer, port, c)).await.unwrap();
    assert_eq!(report.kept, vec![IpAddr::V4(peer)], "{report:?}");
    let s = wait_status(&sp, peer, STEP, "the new timers", |s| {
        s.bfd.as_ref().is_some_and(|b| {
            b.interval_ms == 40
                && b.multiplier == 5
                && b.detection_time_us == Some(120_000)
                && b.tx_interval_us == Some(40_000)
        })
    })
    .await
    .unwrap();
    let b = s.bfd.unwrap();
    assert_eq!((b.state.as_str(), b.up_count, b.down_count), ("Up", 1, 0), "{b:?}");
    p.r.quiet(Duration::from_millis(300)).await.unwrap();
    assert_eq!(status_of(&sp, peer).unwrap().established_count, 1);
}

/// A free TCP port on `ip`.
fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A connection from `src` to the speaker's listener.
async fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> tokio::net::TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(src.into(), 0)).unwrap();
    tokio::time::timeout(STEP, s.connect(dst)).await.expect("connect timed out").expect("connect")
}

#[tokio::test]
async fn while_bfd_is_down_the_routers_own_connections_are_refused_too() {
    let (local, peer) = (Ipv4Addr::new(127, 0, 0, 71), Ipv4Addr::new(127, 0, 0, 72));
    let port = free_port(local);
    let text = format!(
        "[bgp]\nlocal_as = 65124\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = 9\n\
         connect_retry = 1\nport = {port}\n\
         [[bgp.neighbor]]\nremote_ip = \"{peer}\"\nremote_as = 65000\npassive = true\n\
         bfd = {{ interval_ms = 20, multiplier = 3 }}\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
    );
    let cfg = Config::from_str(&text, std::path::Path::new("bfd.toml")).unwrap_or_else(|e| panic!("config: {e}"));
    let sp = Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone())).await.expect("speaker");
    let to = SocketAddr::new(IpAddr::V4(local), port);
    let bp = bfd_peer(peer, local, None);
    wait_status(&sp, peer, STEP, "BFD Up", |s| s.bfd.as_ref().is_some_and(|b| b.state == "Up")).await.unwrap();
    let mut p = Peer::from_stream(connect_from(peer, to).await).unwrap();
    p.establish(&peer_open(65000, 9, [198, 51, 100, 2])).await.unwrap();
    assert!(announcement(&mut p, STEP).await.unwrap());
    bp.mute.store(true, Ordering::Relaxed);
    assert_eq!(p.r.notification(Duration::from_secs(2)).await.unwrap().map(|(c, s, _)| (c, s)), Some((6, 10)));
    // The router reconnects at once: closed without an OPEN, for as long as BFD is down.
    for _ in 0..3 {
        let mut s = connect_from(peer, to).await;
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(STEP, tokio::io::AsyncReadExt::read(&mut s, &mut b)).await.expect("no close");
        assert!(matches!(n, Ok(0) | Err(_)), "answered while BFD is down: {n:?} {:02x?}", &b[..]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status_of(&sp, peer).unwrap().state, anycastd::status::NeighborState::Idle);
    // BFD Up again: after BFD_SETTLE the router's connection is taken.
    bp.mute.store(false, Ordering::Relaxed);
    wait_status(&sp, peer, STEP, "BFD Up again", |s| s.bfd.as_ref().is_some_and(|b| b.state == "Up")).await.unwrap();
    tokio::time::sleep(anycastd::speaker::neighbor::BFD_SETTLE + Duration::from_millis(100)).await;
    let mut p = Peer::from_stream(connect_from(peer, to).await).unwrap();
    p.establish(&peer_open(65000, 9, [198, 51, 100, 2])).await.unwrap();
    assert!(announcement(&mut p, STEP).await.unwrap());
}

#[tokio::test]
async fn a_local_address_not_configured_yet_is_a_problem_in_status() {
    // 192.0.2.99 is on no interface here: nothing can be bound (and nothing is sent).
    let (local, peer) = (Ipv4Addr::new(192, 0, 2, 99), Ipv4Addr::new(192, 0, 2, 98));
    let text = format!(
        "[bgp]\nlocal_as = 65124\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = 9\nlisten = false\n\
         [[bgp.neighbor]]\nremote_ip = \"{peer}\"\nremote_as = 65000\n\
         bfd = {{ interval_ms = 20, multiplier = 3 }}\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
    );
    let cfg = Config::from_str(&text, std::path::Path::new("bfd.toml")).unwrap_or_else(|e| panic!("config: {e}"));
    let sp = Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone())).await.expect("speaker");
    let s = wait_status(&sp, peer, STEP, "a socket problem", |s| {
        s.bfd
            .as_ref()
            .and_then(|b| b.problem.as_deref())
            .is_some_and(|p| p.contains("cannot send") && p.contains("cannot receive"))
    })
    .await
    .unwrap();
    let b = s.bfd.unwrap();
    assert_eq!((b.state.as_str(), b.packets_out), ("Down", 0), "{b:?}");
    assert!(b.problem.unwrap().contains("192.0.2.99"));
}

/// The heartbeat's only reader is the BFD thread, so the daemon beats only once that thread
/// runs (`Speaker::bfd_started`, awaited by the daemon's beat task): an idle daemon without
/// BFD no longer wakes every 50 ms. A reload that adds the first `bfd` starts it, and wakes
/// the waiter.
#[tokio::test]
async fn the_heartbeat_is_wanted_only_once_a_neighbor_has_bfd() {
    let (local, peer) = (Ipv4Addr::new(127, 0, 0, 73), Ipv4Addr::new(127, 0, 0, 74));
    let l = TcpListener::bind((peer, 0)).await.expect("bind the raw peer");
    let port = l.local_addr().expect("raw peer address").port();
    let with_bfd = config_for(local, peer, port, bfd_cfg(None));
    let mut without = with_bfd.clone();
    without.bgp.neighbors[0].bfd = None;
    let sp = Speaker::start(&without, Advert::announce(without.anycast.prefixes.clone())).await.expect("speaker");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sp.bfd_started()).await.is_err(),
        "BFD reported started with no neighbor having bfd"
    );
    let waiter = async {
        tokio::time::timeout(STEP, sp.bfd_started()).await.expect("BFD started by the reload");
    };
    let reload = async {
        // The waiter is waiting before the reload starts the thread.
        tokio::time::sleep(Duration::from_millis(100)).await;
        sp.reload(&with_bfd).await.expect("reload adding bfd");
    };
    tokio::join!(waiter, reload);
    // Once started it stays started: the next wait returns at once.
    tokio::time::timeout(Duration::from_millis(10), sp.bfd_started()).await.expect("still started");
}
