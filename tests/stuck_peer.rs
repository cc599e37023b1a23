//! A peer that stops reading (zero window) must never get anycastd stuck (review finding M4):
//! it is dropped within the hold time, it does not delay the UPDATE to another neighbor, and
//! `Speaker::shutdown` with several of them finishes within its limit while the healthy
//! neighbor still gets its Cease.
//!
//! ```text
//!   anycastd Speaker 127.67.c.1 (AS 65124, active, listen = false)
//!        │ connects to                 │ connects to
//!        ▼                             ▼
//!   stuck raw peer(s) 127.67.c.2..    healthy raw peer 127.67.c.9
//!   (small SO_RCVBUF, never reads      (reads everything, counts UPDATEs,
//!    after Established, sends           records the NOTIFICATION)
//!    KEEPALIVEs every second)
//! ```
//!
//! Every raw peer listens on an OS-assigned port of its own address. anycastd's send buffer
//! towards a stuck peer is filled by toggling many prefixes with `set_advert`, a bounded number
//! of rounds, each round awaited at the healthy peer. Every wait is bounded.

use anycastd::config::Config;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use anycastd::status::NeighborState;
use common::bgp_bytes::{keepalive, peer_open};
use common::raw_peer::{decode, Next, Peer, Reader, R, STEP};
use common::speaker_status::{status_of, wait_status};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

// Shared with the hostile-peer suite, which uses all of it.
#[allow(dead_code)]
mod common;

const LOCAL_AS: u32 = 65124;
const PEER_AS: u32 = 65000;
/// Large communities (12 octets each) in every UPDATE to a neighbor.
const LARGE_COMMUNITIES: u32 = 300;
/// Rounds of the fill, one ~3.6 KB UPDATE each: about 7 MB per neighbor.
const FILL_ROUNDS: usize = 2000;

fn addr(case: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 67, case, host)
}

fn config(case: u8, hold: u16, peers: &[(Ipv4Addr, u16)]) -> R<Config> {
    let local = addr(case, 1);
    // Large communities make every UPDATE about 3.6 KB, so that a few rounds fill a buffer.
    let large: Vec<String> = (0..LARGE_COMMUNITIES).map(|i| format!("\"{LOCAL_AS}:1:{i}\"")).collect();
    let large = large.join(", ");
    let mut text = format!(
        "[bgp]\nlocal_as = {LOCAL_AS}\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = {hold}\n\
         connect_retry = 1\nlisten = false\n"
    );
    for (ip, port) in peers {
        text += &format!(
            "[[bgp.neighbor]]\nremote_ip = \"{ip}\"\nremote_as = {PEER_AS}\nport = {port}\n\
             large_communities = [{large}]\n"
        );
    }
    text += "[anycast]\nprefixes = [\"203.0.113.124/32\"]\n";
    Config::from_str(&text, Path::new("stuck_peer.toml")).map_err(|e| format!("config: {e}"))
}

/// A listener whose accepted sockets have a small receive buffer (a zero window soon).
fn small_window_listener(ip: Ipv4Addr) -> R<TcpListener> {
    let s = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    s.set_recv_buffer_size(2048).map_err(|e| e.to_string())?;
    s.bind((ip, 0).into()).map_err(|e| format!("bind {ip}: {e}"))?;
    s.listen(8).map_err(|e| e.to_string())
}

fn port(l: &TcpListener) -> R<u16> {
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// What the healthy peer has seen: UPDATEs received, when the last one arrived, and the
/// NOTIFICATION (code, subcode) if one came.
#[derive(Clone, Debug, Default)]
struct Seen {
    updates: usize,
    last_update: Option<Instant>,
    notification: Option<(u8, u8)>,
    ended: bool,
}

/// The healthy peer: reads everything, KEEPALIVE every second.
fn run_healthy(mut p: Peer, seen: watch::Sender<Seen>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut wr) = p.wr.take() else { return };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if wr.write_all(&keepalive()).await.is_err() {
                        seen.send_modify(|s| s.ended = true);
                        return;
                    }
                }
                r = p.r.next(Instant::now() + Duration::from_secs(60)) => match r {
                    Ok(Next::Msg(m)) => match m.get(18) {
                        Some(2) => seen.send_modify(|s| {
                            s.updates += 1;
                            s.last_update = Some(Instant::now());
                        }),
                        Some(3) => {
                            let n = decode(&m).ok().and_then(|msg| match msg {
                                anycastd::wire::Message::Notification(n) => Some((n.code, n.subcode)),
                                _ => None,
                            });
                            seen.send_modify(|s| s.notification = n);
                        }
                        _ => {}
                    },
                    Ok(Next::Timeout) => {}
                    Ok(Next::Eof) | Err(_) => {
                        seen.send_modify(|s| s.ended = true);
                        return;
                    }
                },
            }
        }
    })
}

/// The stuck peer: after the handshake it never reads again, but keeps sending KEEPALIVEs so
/// anycastd's hold timer stays satisfied. The reading half is kept (not closed).
fn run_stuck(mut p: Peer) -> (Reader, tokio::task::JoinHandle<()>) {
    let wr = p.wr.take();
    let task = tokio::spawn(async move {
        let Some(mut wr) = wr else { return };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // Bounded: the tests end well within this many seconds.
        for _ in 0..120 {
            tick.tick().await;
            if wr.write_all(&keepalive()).await.is_err() {
                return;
            }
        }
    });
    (p.r, task)
}

/// The configured prefix with MED `med`: one UPDATE of about 3.6 KB (see [`config`]).
fn heavy(med: u32) -> Advert {
    let mut a = Advert::announce(vec![IpNet::from(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 124)))]);
    a.med = Some(med);
    a
}

/// Toggles the advertisement between two MEDs `rounds` times, each change awaited
/// at the healthy peer, so that every stuck neighbor has far more queued towards it than its
/// socket takes (the kernel grows a loopback send buffer up to 4 MB).
async fn fill(sp: &Speaker, seen: &mut watch::Receiver<Seen>, rounds: usize) -> R<()> {
    for i in 0..rounds {
        let before = seen.borrow().updates;
        sp.set_advert(heavy(if i % 2 == 0 { 1 } else { 2 }));
        timeout(STEP, seen.wait_for(|s| s.updates > before))
            .await
            .map_err(|_| format!("round {i}: the healthy peer got no UPDATE within {STEP:?}"))?
            .map_err(|_| "healthy peer gone")?;
    }
    Ok(())
}

/// A Speaker with `stuck` zero-window peers (127.67.case.2..) and one healthy peer
/// (127.67.case.9), all Established.
struct Lab {
    sp: Speaker,
    cfg: Config,
    stuck_ips: Vec<Ipv4Addr>,
    good_ip: Ipv4Addr,
    seen: watch::Receiver<Seen>,
    /// The raw peers' halves and tasks, kept alive for as long as the case runs.
    _peers: Vec<(Option<Reader>, tokio::task::JoinHandle<()>)>,
}

async fn lab(case: u8, hold: u16, stuck: u8) -> R<Lab> {
    let good_ip = addr(case, 9);
    let stuck_ips: Vec<Ipv4Addr> = (0..stuck).map(|i| addr(case, 2 + i)).collect();
    let mut listeners = Vec::new();
    let mut peers = Vec::new();
    for ip in &stuck_ips {
        let l = small_window_listener(*ip)?;
        peers.push((*ip, port(&l)?));
        listeners.push(l);
    }
    let good_l = TcpListener::bind((good_ip, 0)).await.map_err(|e| e.to_string())?;
    peers.push((good_ip, port(&good_l)?));
    let cfg = config(case, hold, &peers)?;
    let sp = Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone()))
        .await
        .map_err(|e| format!("speaker: {e}"))?;
    let mut good = Peer::accept(&good_l, STEP, "healthy").await?;
    good.establish(&peer_open(PEER_AS, hold, [198, 51, 100, 9])).await?;
    let (seen_tx, seen) = watch::channel(Seen::default());
    let mut kept = vec![(None, run_healthy(good, seen_tx))];
    for (i, l) in (0u8..).zip(&listeners) {
        let mut p = Peer::accept(l, STEP, "stuck").await?;
        p.establish(&peer_open(PEER_AS, hold, [198, 51, 100, 2 + i])).await?;
        let (rd, task) = run_stuck(p);
        kept.push((Some(rd), task));
    }
    for ip in stuck_ips.iter().chain([&good_ip]) {
        wait_status(&sp, *ip, STEP, "Established", |s| s.state == NeighborState::Established).await?;
    }
    Ok(Lab { sp, cfg, stuck_ips, good_ip, seen, _peers: kept })
}

/// Runs a case, bounded as a whole: on a speaker that blocks on a stuck socket, nothing in
/// a case need return by itself.
async fn bounded(case: impl std::future::Future<Output = R<()>>) {
    match timeout(Duration::from_secs(30), case).await {
        Ok(r) => r.unwrap_or_else(|e| panic!("{e}")),
        Err(_) => panic!("case did not finish within 30 s"),
    }
}

/// (a) A zero-window peer is dropped within the hold time, and meanwhile an advertisement
/// change reaches the healthy neighbor within 1 ms of the decision.
#[tokio::test(flavor = "current_thread")]
async fn a_peer_that_stops_reading_is_dropped_within_the_hold_time() {
    const HOLD: u16 = 3;
    bounded(async {
        let Lab { sp, cfg, stuck_ips, good_ip, mut seen, _peers } = lab(1, HOLD, 1).await?;
        let stuck_ip = *stuck_ips.first().ok_or("no stuck peer")?;
        let est = status_of(&sp, stuck_ip)?.established_count;
        fill(&sp, &mut seen, FILL_ROUNDS).await?;
        let stuck_at = Instant::now();
        // The healthy neighbor is not delayed: a small change, decision → its socket.
        let before = seen.borrow().updates;
        let decided = Instant::now();
        sp.set_advert(Advert::announce(cfg.anycast.prefixes.clone()));
        timeout(STEP, seen.wait_for(|s| s.updates > before))
            .await
            .map_err(|_| "the healthy peer got no UPDATE")?
            .map_err(|_| "healthy peer gone")?;
        let at_peer = seen.borrow().last_update.map(|t| t.duration_since(decided));
        let g = status_of(&sp, good_ip)?;
        eprintln!(
            "healthy neighbor: decision → written {:?} µs (status), decision → read by the peer {at_peer:?}",
            g.last_update_latency_us
        );
        let lat = g.last_update_latency_us.ok_or("no latency in status")?;
        if lat > 1000 {
            return Err(format!("the UPDATE to the healthy neighbor took {lat} µs"));
        }
        // The stuck neighbor is dropped within the hold time of its last progress.
        let limit = Duration::from_secs(u64::from(HOLD)) + Duration::from_millis(1500);
        let s = wait_status(&sp, stuck_ip, limit, "stuck neighbor dropped", |s| {
            s.state != NeighborState::Established || s.established_count != est
        })
        .await?;
        eprintln!("stuck neighbor dropped {:?} after the fill: {:?}", stuck_at.elapsed(), s.last_error);
        // By our own write deadline (TCP_USER_TIMEOUT is only the later backstop).
        if !s.last_error.as_deref().is_some_and(|e| e.contains("the peer does not read")) {
            return Err(format!("dropped, but not by the write deadline: {:?}", s.last_error));
        }
        let g = status_of(&sp, good_ip)?;
        if g.state != NeighborState::Established || g.flaps != 0 {
            return Err(format!("healthy neighbor disturbed: {g:?}"));
        }
        timeout(Duration::from_secs(3), sp.shutdown("test over", Duration::from_secs(2)))
            .await
            .map_err(|_| "shutdown hung")?;
        Ok(())
    })
    .await
}

/// (b) `shutdown` with three stuck peers (send buffers full) and a healthy one finishes within
/// its 2 s limit, and the healthy peer receives Cease / Administrative Shutdown.
#[tokio::test(flavor = "current_thread")]
async fn shutdown_with_three_stuck_peers_finishes_within_its_limit() {
    // Long enough that no stuck peer is dropped before the shutdown.
    const HOLD: u16 = 30;
    bounded(async {
        let Lab { sp, mut seen, _peers, .. } = lab(2, HOLD, 3).await?;
        fill(&sp, &mut seen, FILL_ROUNDS).await?;
        let t0 = Instant::now();
        timeout(Duration::from_secs(4), sp.shutdown("maintenance", Duration::from_secs(2)))
            .await
            .map_err(|_| format!("shutdown still running after {:?}", t0.elapsed()))?;
        let took = t0.elapsed();
        eprintln!("shutdown with 3 stuck peers took {took:?}");
        if took > Duration::from_secs(2) {
            return Err(format!("shutdown took {took:?}, more than its 2 s limit"));
        }
        // The Cease was written before shutdown returned; reading it may take a moment.
        let s = timeout(STEP, seen.wait_for(|s| s.notification.is_some() || s.ended))
            .await
            .map_err(|_| "the healthy peer saw neither a NOTIFICATION nor a close")?
            .map_err(|_| "healthy peer gone")?
            .clone();
        // Cease (6) / Administrative Shutdown (2), RFC 4486.
        if s.notification != Some((6, 2)) {
            return Err(format!("the healthy peer got {:?} instead of Cease / Administrative Shutdown", s));
        }
        Ok(())
    })
    .await
}
