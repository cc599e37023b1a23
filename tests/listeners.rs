//! The BGP listeners against connections they must refuse (review H1, M7): a connection from a
//! keyed neighbor's address to *another* local address is closed unread, never adopted by that
//! neighbor (no OPEN comes back), counted and logged once; a flood from unconfigured addresses
//! stays a handful of log lines. Loopback only (127.0.0.0/8 is all local on Linux `lo`).

use anycastd::config::Config;
use anycastd::ha::decision::Advert;
use anycastd::speaker::transport::{self, TransportOpts};
use anycastd::speaker::Speaker;
use anycastd::status::NeighborState;
use anycastd::types::Md5Key;
use common::log_capture::Capture;
use common::speaker_status::status_of;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

#[allow(dead_code)]
mod common;

type R<T> = Result<T, String>;

/// Bound for one step (a connection, a status change).
const STEP: Duration = Duration::from_secs(5);

const KEY: &str = "h1-listener-test-key";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or(Ipv4Addr::LOCALHOST)
}

/// A port free on every address of `ips` (asked of the OS, then released for the speaker).
fn free_port(ips: &[Ipv4Addr]) -> R<u16> {
    for _ in 0..20 {
        let first = std::net::TcpListener::bind((ips[0], 0)).map_err(|e| e.to_string())?;
        let port = first.local_addr().map_err(|e| e.to_string())?.port();
        if ips[1..].iter().all(|a| std::net::TcpListener::bind((*a, port)).is_ok()) {
            return Ok(port);
        }
    }
    Err("no port free on every address".into())
}

async fn start(text: &str) -> R<Speaker> {
    let cfg = Config::from_str(text, Path::new("listeners.toml")).map_err(|e| format!("config: {e}"))?;
    Speaker::start(&cfg, Advert::announce(cfg.anycast.prefixes.clone())).await.map_err(|e| format!("speaker: {e}"))
}

/// Polls `f` until it holds, at most `limit`.
async fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> R<()> {
    let end = Instant::now() + limit;
    while !f() {
        if Instant::now() >= end {
            return Err(format!("{what} not reached within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// An unsigned connection from `src` to `dst`.
async fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> R<TcpStream> {
    let s = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    s.bind(SocketAddr::new(src.into(), 0)).map_err(|e| format!("bind {src}: {e}"))?;
    timeout(STEP, s.connect(dst))
        .await
        .map_err(|_| format!("connect {src} → {dst} timed out"))?
        .map_err(|e| format!("connect {src} → {dst}: {e}"))
}

/// What the listener does with a connection: `Ok(true)` closed with nothing sent, `Ok(false)`
/// it sent an OPEN (the connection was adopted by a neighbor task).
async fn closed_unread(mut s: TcpStream) -> R<bool> {
    let mut b = [0u8; 4096];
    match timeout(STEP, s.read(&mut b)).await {
        Err(_) => Err("neither closed nor answered".into()),
        Ok(Ok(0)) | Ok(Err(_)) => Ok(true),
        Ok(Ok(n)) => {
            let ty = b.get(18).copied();
            if ty == Some(1) {
                Ok(false)
            } else {
                Err(format!("unexpected {n} bytes, type {ty:?}"))
            }
        }
    }
}

/// H1: two listeners (127.0.0.1 and 127.0.0.2). R1 = 127.0.0.3 has local_ip 127.0.0.1 and an
/// MD5 key; R2 = 127.0.0.4 has local_ip 127.0.0.2 and none. An unsigned connection from R1's
/// address to 127.0.0.2 completes the handshake (that listener has no key for it) but must be
/// closed without a word — not handed to R1's task — counted and logged once. R2's own
/// connection to 127.0.0.2 and R1's signed one to 127.0.0.1 are adopted (an OPEN comes back).
#[tokio::test]
async fn a_neighbor_address_on_the_wrong_listener_is_refused() -> R<()> {
    let log = Capture::default();
    let _g = log.install();
    let (a, b, r1, r2) = (ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.3"), ip("127.0.0.4"));
    let port = free_port(&[a, b])?;
    let sp = start(&format!(
        "[bgp]\nlocal_as = 65124\nrouter_id = \"{a}\"\nport = {port}\nconnect_retry = 1\n\
         [[bgp.neighbor]]\nremote_ip = \"{r1}\"\nremote_as = 65001\nlocal_ip = \"{a}\"\nmd5 = \"{KEY}\"\npassive = true\n\
         [[bgp.neighbor]]\nremote_ip = \"{r2}\"\nremote_as = 65002\nlocal_ip = \"{b}\"\npassive = true\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
    ))
    .await?;
    let r = async {
        let wrong = SocketAddr::new(b.into(), port);
        for attempt in 1..=2u64 {
            let s = connect_from(r1, wrong).await?;
            if !closed_unread(s).await? {
                return Err(format!("attempt {attempt}: R1's address on 127.0.0.2 was adopted (an OPEN came back)"));
            }
            until(STEP, "refusal counted", || sp.inbound().refused_wrong_listener == attempt).await?;
        }
        let st = status_of(&sp, r1)?;
        if st.state != NeighborState::Active || st.msgs_out != 0 || st.msgs_in != 0 {
            return Err(format!("R1's task was disturbed: {st:?}"));
        }
        let lines = log.text().lines().filter(|l| l.contains("refused") && l.contains(&r1.to_string())).count();
        if lines != 1 {
            return Err(format!("{lines} refusal lines for {r1}, want 1:\n{}", log.text()));
        }
        // Positive controls: R2 on its own listener, unsigned; R1 on its own, signed.
        let s = connect_from(r2, wrong).await?;
        if closed_unread(s).await? {
            return Err("R2's own connection was refused".into());
        }
        let opts = TransportOpts {
            local: Some(r1.into()),
            md5_key: Some(Md5Key::new(KEY).map_err(|e| e.0)?),
            ..Default::default()
        };
        let own = SocketAddr::new(a.into(), port);
        let s = transport::connect(own, &opts, STEP, Duration::from_secs(90)).await.map_err(|e| e.to_string())?;
        if closed_unread(s).await? {
            return Err("R1's own signed connection was refused".into());
        }
        let inbound = sp.inbound();
        if inbound.refused_wrong_listener != 2 || inbound.refused_unconfigured != 0 || inbound.refused_unprotected != 0
        {
            return Err(format!("counters: {inbound:?}"));
        }
        Ok(())
    }
    .await;
    sp.shutdown("test over", Duration::from_secs(1)).await;
    r
}

/// M7: 10,000 connection attempts from ten unconfigured addresses produce at most 20 log
/// lines (one per source per minute, a global budget above that), and every one is counted.
#[tokio::test]
async fn ten_thousand_unconfigured_connections_log_a_few_lines() -> R<()> {
    let log = Capture::default();
    let _g = log.install();
    let (local, nb) = (ip("127.0.0.9"), ip("127.0.0.10"));
    let port = free_port(&[local])?;
    let sp = start(&format!(
        "[bgp]\nlocal_as = 65124\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nport = {port}\n\
         [[bgp.neighbor]]\nremote_ip = \"{nb}\"\nremote_as = 65001\npassive = true\n\
         [anycast]\nprefixes = [\"203.0.113.124/32\"]\n"
    ))
    .await?;
    let before = log.text().lines().count();
    let dst = SocketAddr::new(local.into(), port);
    const SOURCES: u8 = 10;
    const PER_SOURCE: u32 = 1_000;
    let r = timeout(Duration::from_secs(120), async {
        let tasks: Vec<_> = (1..=SOURCES)
            .map(|x| {
                tokio::spawn(async move {
                    let src = Ipv4Addr::new(127, 0, 1, x);
                    for _ in 0..PER_SOURCE {
                        // One at a time per source: each waits for the listener's close.
                        if !closed_unread(connect_from(src, dst).await?).await? {
                            return Err(format!("{src} got an OPEN"));
                        }
                    }
                    Ok::<(), String>(())
                })
            })
            .collect();
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        let want = u64::from(SOURCES) * u64::from(PER_SOURCE);
        until(STEP, "every attempt counted", || sp.inbound().refused_unconfigured == want).await?;
        let text = log.text();
        let new: Vec<&str> = text.lines().skip(before).collect();
        if new.len() > 20 {
            return Err(format!("{} log lines for {want} attempts:\n{}", new.len(), new.join("\n")));
        }
        for x in 1..=SOURCES {
            // The source as every log line names a peer: `neighbor=IP port=PORT`.
            let src = format!("neighbor=127.0.1.{x} port=");
            if !new.iter().any(|l| l.contains(&src)) {
                return Err(format!("source {src} never logged:\n{}", new.join("\n")));
            }
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|_| Err("attempts not done within 120 s".into()));
    sp.shutdown("test over", Duration::from_secs(1)).await;
    r
}
