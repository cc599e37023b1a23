//! anycastd-feeder: replays a generated full table to a BGP speaker over one real TCP session,
//! as fast as the socket takes it, so that the receiver is the bottleneck of a flood bench
//! (`interop/bench-full-table.sh --feeder fast`).
//!
//! 1. Builds the table in memory before any connection: `benches/compare/src/corpus.rs`
//!    ([`corpus::table`]: the decode bench's generator, 1 M IPv4 + 200 k IPv6 prefixes by
//!    default, 1–8 per UPDATE, 4-octet AS paths, IPv6 in MP_REACH_NLRI), made unique (a
//!    receiver that keeps a table counts distinct prefixes), with our AS first in every path
//!    and next hops the receiver can reach (`--next-hop4`, `--next-hop6`).
//! 2. Connects to the speaker (`--connect`, retried until `--wait`) or accepts one connection
//!    (`--listen`), sends its OPEN (version 4, `--as`, `--hold`, `--id`, capabilities:
//!    multiprotocol IPv4 and IPv6 unicast, 4-octet AS), checks the peer's (its AS against
//!    `--peer-as`, 4-octet AS, IPv6 unicast when the table has IPv6), sends KEEPALIVE and waits
//!    for the peer's: Established.
//! 3. Writes the whole table and the End-of-RIB of each family in 1 MiB writes, while a reader
//!    thread takes whatever the peer sends (KEEPALIVEs, its own UPDATEs, a NOTIFICATION).
//! 4. Keeps the session (KEEPALIVEs at a third of the hold time, the hold timer checked) for
//!    `--linger` seconds or until the peer closes it, then sends Cease / Administrative
//!    Shutdown and closes. Bounded: everything ends by `--timeout` seconds after start.
//!
//! Output: one JSON object per line on stdout (`table`, `established`, `sent`, `closed`);
//! times are Unix epoch microseconds. Exit 0 when the table was sent and the session ended
//! cleanly after it, 1 on a session failure, 64 on a usage error. std only.

#[allow(dead_code)]
#[path = "../../../../benches/compare/src/corpus.rs"]
mod corpus;

mod bgp;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: anycastd-feeder (--connect ADDR:PORT | --listen ADDR:PORT) --as N [--peer-as N]
        [--id A.B.C.D] [--hold S] [--v4 N] [--v6 N] [--seed N] [--next-hop4 A] [--next-hop6 A]
        [--wait S] [--linger S] [--timeout S]";

/// Size of one write of the table to the socket.
const CHUNK: usize = 1 << 20;
/// How long a blocked read or write waits before the loop looks at the clock and the peer.
const TICK: Duration = Duration::from_millis(100);

/// The command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub connect: Option<SocketAddr>,
    pub listen: Option<SocketAddr>,
    pub local_as: u32,
    pub peer_as: Option<u32>,
    pub id: Option<Ipv4Addr>,
    pub hold: u16,
    pub v4: usize,
    pub v6: usize,
    pub seed: u64,
    pub next_hop4: Option<Ipv4Addr>,
    pub next_hop6: Option<Ipv6Addr>,
    pub wait: Duration,
    pub linger: Duration,
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect: None,
            listen: None,
            local_as: 0,
            peer_as: None,
            id: None,
            hold: 90,
            v4: 1_000_000,
            v6: 200_000,
            seed: 0x5eed_b6b0,
            next_hop4: None,
            next_hop6: None,
            wait: Duration::from_secs(30),
            linger: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
        v.parse().map_err(|_| format!("{flag}: not a valid value: {}", v.escape_debug()))
    }
    let secs = |flag: &str, v: &str| -> Result<Duration, String> {
        let s: f64 = num(flag, v)?;
        if !(0.0..=3600.0).contains(&s) {
            return Err(format!("{flag}: 0..3600 seconds"));
        }
        Ok(Duration::from_secs_f64(s))
    };
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{}: needs a value", flag.escape_debug()))?;
        match flag.as_str() {
            "--connect" => o.connect = Some(num(flag, v)?),
            "--listen" => o.listen = Some(num(flag, v)?),
            "--as" => o.local_as = num(flag, v)?,
            "--peer-as" => o.peer_as = Some(num(flag, v)?),
            "--id" => o.id = Some(num(flag, v)?),
            "--hold" => o.hold = num(flag, v)?,
            "--v4" => o.v4 = num(flag, v)?,
            "--v6" => o.v6 = num(flag, v)?,
            "--seed" => o.seed = num(flag, v)?,
            "--next-hop4" => o.next_hop4 = Some(num(flag, v)?),
            "--next-hop6" => o.next_hop6 = Some(num(flag, v)?),
            "--wait" => o.wait = secs(flag, v)?,
            "--linger" => o.linger = secs(flag, v)?,
            "--timeout" => o.timeout = secs(flag, v)?,
            _ => return Err(format!("unknown option {}", flag.escape_debug())),
        }
    }
    if o.connect.is_some() == o.listen.is_some() {
        return Err("exactly one of --connect and --listen".into());
    }
    if o.local_as == 0 {
        return Err("--as: a nonzero AS number is required".into());
    }
    if o.hold == 1 || o.hold == 2 {
        return Err("--hold: 0 or at least 3 seconds (RFC 4271 §4.2)".into());
    }
    if o.v4 + o.v6 == 0 || o.v4 > 10_000_000 || o.v6 > 10_000_000 {
        return Err("--v4, --v6: 0..10,000,000 each, not both 0".into());
    }
    Ok(o)
}

fn epoch_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the session: the report is also the exit code.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The pre-built table: UPDATEs then the End-of-RIBs.
pub struct Table {
    pub bytes: Vec<u8>,
    pub updates: usize,
    pub v4: usize,
    pub v6: usize,
}

pub fn build_table(o: &Options) -> Table {
    let shape = corpus::Shape {
        peer_as: o.local_as,
        next_hop4: o.next_hop4.map(|a| a.octets()),
        next_hop6: o.next_hop6.map(|a| a.octets()),
        unique: true,
    };
    let c = corpus::table(o.seed, o.v4, o.v6, &shape);
    let mut bytes = c.bytes;
    bytes.extend_from_slice(&bgp::end_of_rib_v4());
    if o.v6 > 0 {
        bytes.extend_from_slice(&bgp::end_of_rib_v6());
    }
    Table { bytes, updates: c.messages, v4: c.v4_prefixes, v6: c.v6_prefixes }
}

/// What the reader thread saw of the peer.
#[derive(Debug, Default)]
struct Seen {
    last_rx: Option<Instant>,
    updates: u64,
    end_of_ribs: u64,
    notification: Option<Vec<u8>>,
    /// Why the reader stopped (the peer closed, an error, a message out of place).
    ended: Option<String>,
}

struct Shared {
    seen: Mutex<Seen>,
    stop: AtomicBool,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        let mut g = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }
}

/// The reader: frames what the peer sends after Established until it ends or `stop`.
fn reader(mut s: TcpStream, mut pending: Vec<u8>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 1 << 16];
    let why = loop {
        loop {
            match bgp::frame(&pending) {
                Ok(None) => break,
                Ok(Some((kind, len))) => {
                    let body = pending.get(bgp::HEADER..len).unwrap_or_default().to_vec();
                    pending.drain(..len);
                    let r = shared.with(|seen| {
                        seen.last_rx = Some(Instant::now());
                        match kind {
                            bgp::UPDATE => {
                                seen.updates += 1;
                                seen.end_of_ribs += u64::from(bgp::is_end_of_rib(&body));
                                Ok(())
                            }
                            bgp::KEEPALIVE | bgp::ROUTE_REFRESH => Ok(()),
                            bgp::NOTIFICATION => {
                                seen.notification = Some(body.clone());
                                Err("the peer sent a NOTIFICATION".to_string())
                            }
                            k => Err(format!("the peer sent message type {k} after Established")),
                        }
                    });
                    if let Err(why) = r {
                        shared.with(|seen| seen.ended = Some(why));
                        return;
                    }
                }
                Err(e) => {
                    shared.with(|seen| seen.ended = Some(format!("peer stream: {e}")));
                    return;
                }
            }
        }
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        match s.read(&mut buf) {
            Ok(0) => break "the peer closed the connection".to_string(),
            Ok(n) => pending.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) => break format!("read: {e}"),
        }
    };
    shared.with(|seen| seen.ended = Some(why));
}

/// Reads one whole message before `deadline`; `pending` keeps what followed it.
fn read_message(s: &mut TcpStream, pending: &mut Vec<u8>, deadline: Instant) -> Result<(u8, Vec<u8>), String> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some((kind, len)) = bgp::frame(pending)? {
            let body = pending.get(bgp::HEADER..len).unwrap_or_default().to_vec();
            pending.drain(..len);
            return Ok((kind, body));
        }
        if Instant::now() >= deadline {
            return Err("timed out waiting for the peer's OPEN/KEEPALIVE".into());
        }
        match s.read(&mut buf) {
            Ok(0) => return Err("the peer closed the connection before Established".into()),
            Ok(n) => pending.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn write_all(s: &mut TcpStream, mut b: &[u8], deadline: Instant) -> Result<(), String> {
    while !b.is_empty() {
        if Instant::now() >= deadline {
            return Err("timed out writing to the peer".into());
        }
        match s.write(b) {
            Ok(0) => return Err("write: the connection is closed".into()),
            Ok(n) => b = b.get(n..).unwrap_or_default(),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(())
}

fn connect(o: &Options, deadline: Instant) -> Result<TcpStream, String> {
    let wait_until = (Instant::now() + o.wait).min(deadline);
    if let Some(addr) = o.listen {
        let l = TcpListener::bind(addr).map_err(|e| format!("listen {addr}: {e}"))?;
        l.set_nonblocking(true).map_err(|e| format!("listen {addr}: {e}"))?;
        loop {
            match l.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).map_err(|e| format!("accept: {e}"))?;
                    return Ok(s);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < wait_until => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Err(format!("no connection to {addr} in time")),
                Err(e) => return Err(format!("accept: {e}")),
            }
        }
    }
    let addr = o.connect.ok_or("no address")?;
    loop {
        let left = wait_until.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        match TcpStream::connect_timeout(&addr, left.min(Duration::from_secs(3))) {
            Ok(s) => return Ok(s),
            Err(_) if Instant::now() + Duration::from_millis(200) < wait_until => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(format!("connect {addr}: {e}")),
        }
    }
}

/// What one run did.
#[derive(Debug)]
pub struct Outcome {
    pub sent: bool,
    pub why: String,
    pub rx_updates: u64,
    pub rx_end_of_ribs: u64,
    pub notification: Option<Vec<u8>>,
}

/// Everything after the table is built: session, stream, linger, close.
pub fn run(o: &Options, table: &Table) -> Result<Outcome, String> {
    let start = Instant::now();
    let deadline = start + o.timeout;
    let mut s = connect(o, deadline)?;
    s.set_nodelay(true).map_err(|e| format!("socket: {e}"))?;
    s.set_read_timeout(Some(TICK)).map_err(|e| format!("socket: {e}"))?;
    s.set_write_timeout(Some(TICK)).map_err(|e| format!("socket: {e}"))?;
    let id = match (o.id, s.local_addr().map(|a| a.ip())) {
        (Some(id), _) => id,
        (None, Ok(IpAddr::V4(a))) => a,
        _ => return Err("--id is needed on an IPv6 connection".into()),
    };
    write_all(&mut s, &bgp::open(o.local_as, o.hold, id), deadline)?;
    let mut pending = Vec::new();
    let open_by = (Instant::now() + Duration::from_secs(30)).min(deadline);
    let (kind, body) = read_message(&mut s, &mut pending, open_by)?;
    if kind == bgp::NOTIFICATION {
        return Err(format!("the peer refused our OPEN: NOTIFICATION {}", hex(&body)));
    }
    if kind != bgp::OPEN {
        return Err(format!("expected the peer's OPEN, got message type {kind}"));
    }
    let peer = match bgp::parse_open(&body) {
        Ok(p) => p,
        Err((code, sub, why)) => {
            let _ = write_all(&mut s, &bgp::notification(code, sub, &[]), deadline);
            return Err(format!("the peer's OPEN: {why}"));
        }
    };
    let refuse = |s: &mut TcpStream, code: u8, sub: u8, data: &[u8], why: String| {
        let _ = write_all(s, &bgp::notification(code, sub, data), deadline);
        Err(why)
    };
    if o.peer_as.is_some_and(|a| a != peer.asn) {
        let why = format!("the peer's AS is {}, not {}", peer.asn, o.peer_as.unwrap_or_default());
        return refuse(&mut s, 2, 2, &[], why);
    }
    if !peer.four_octet_as {
        return refuse(
            &mut s,
            2,
            7,
            &[65, 4],
            "the peer has no 4-octet AS capability (the table's paths need it)".into(),
        );
    }
    if table.v6 > 0 && !peer.ipv6_unicast {
        return refuse(&mut s, 2, 7, &[1, 4, 0, 2, 0, 1], "the peer does not offer IPv6 unicast".into());
    }
    if table.v4 > 0 && !peer.ipv4_unicast {
        return refuse(&mut s, 2, 7, &[1, 4, 0, 1, 0, 1], "the peer does not offer IPv4 unicast".into());
    }
    let hold = o.hold.min(peer.hold);
    write_all(&mut s, &bgp::keepalive(), deadline)?;
    let (kind, body) = read_message(&mut s, &mut pending, (Instant::now() + Duration::from_secs(30)).min(deadline))?;
    if kind != bgp::KEEPALIVE {
        return Err(format!("expected the peer's KEEPALIVE, got type {kind} {}", hex(&body)));
    }
    let est = epoch_us();
    let est_at = Instant::now();
    emit(&format!(
        "{{\"event\":\"established\",\"epoch_us\":{est},\"peer_as\":{},\"peer_id\":{},\"hold\":{hold}}}",
        peer.asn,
        js(&peer.id.to_string())
    ));

    let shared = Arc::new(Shared {
        seen: Mutex::new(Seen { last_rx: Some(est_at), ..Seen::default() }),
        stop: AtomicBool::new(false),
    });
    let rd = s.try_clone().map_err(|e| format!("socket: {e}"))?;
    let th = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || reader(rd, pending, shared))
    };
    let result = stream_and_linger(o, table, &mut s, &shared, hold, est_at, deadline);
    shared.stop.store(true, Ordering::Relaxed);
    let (sent, why) = match result {
        Ok(why) => (true, why),
        Err((sent, why)) => (sent, why),
    };
    // Our Cease, unless the peer already ended the session.
    if shared.with(|seen| seen.ended.is_none()) {
        let _ = write_all(
            &mut s,
            &bgp::notification(6, 2, &[]),
            (Instant::now() + Duration::from_secs(1)).min(deadline + Duration::from_secs(1)),
        );
    }
    let _ = s.shutdown(Shutdown::Both);
    let _ = th.join();
    let out = shared.with(|seen| Outcome {
        sent,
        why,
        rx_updates: seen.updates,
        rx_end_of_ribs: seen.end_of_ribs,
        notification: seen.notification.clone(),
    });
    Ok(out)
}

type StreamResult = Result<String, (bool, String)>;

fn stream_and_linger(
    o: &Options,
    table: &Table,
    s: &mut TcpStream,
    shared: &Shared,
    hold: u16,
    est_at: Instant,
    deadline: Instant,
) -> StreamResult {
    let peer_ended = || shared.with(|seen| seen.ended.clone());
    for chunk in table.bytes.chunks(CHUNK) {
        if let Some(why) = peer_ended() {
            return Err((false, why));
        }
        write_all(s, chunk, deadline).map_err(|e| (false, e))?;
    }
    let secs = est_at.elapsed().as_secs_f64();
    let n = table.bytes.len();
    let prefixes = table.v4 + table.v6;
    emit(&format!(
        "{{\"event\":\"sent\",\"epoch_us\":{},\"secs\":{secs:.6},\"bytes\":{n},\"updates\":{},\"v4\":{},\"v6\":{},\"bytes_per_s\":{:.0},\"prefixes_per_s\":{:.0}}}",
        epoch_us(),
        table.updates,
        table.v4,
        table.v6,
        n as f64 / secs.max(1e-9),
        prefixes as f64 / secs.max(1e-9)
    ));
    let linger_until = (Instant::now() + o.linger).min(deadline);
    let hold_d = Duration::from_secs(u64::from(hold));
    let keepalive_every = hold_d / 3;
    let mut last_tx = Instant::now();
    while Instant::now() < linger_until {
        if let Some(why) = peer_ended() {
            return Ok(why);
        }
        if hold > 0 {
            let last_rx = shared.with(|seen| seen.last_rx).unwrap_or(est_at);
            if last_rx.elapsed() > hold_d {
                let _ = write_all(s, &bgp::notification(4, 0, &[]), deadline);
                return Err((true, "hold timer expired".into()));
            }
            if last_tx.elapsed() >= keepalive_every {
                write_all(s, &bgp::keepalive(), deadline).map_err(|e| (true, e))?;
                last_tx = Instant::now();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(if Instant::now() >= deadline { "--timeout reached" } else { "--linger elapsed" }.into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("anycastd-feeder: {e}\n{USAGE}");
            std::process::exit(64);
        }
    };
    let t0 = Instant::now();
    let table = build_table(&o);
    emit(&format!(
        "{{\"event\":\"table\",\"v4\":{},\"v6\":{},\"updates\":{},\"bytes\":{},\"build_ms\":{}}}",
        table.v4,
        table.v6,
        table.updates,
        table.bytes.len(),
        t0.elapsed().as_millis()
    ));
    let code = match run(&o, &table) {
        Ok(out) => {
            let note = out.notification.as_deref().map(|n| js(&hex(n))).unwrap_or_else(|| "null".into());
            emit(&format!(
                "{{\"event\":\"closed\",\"epoch_us\":{},\"table_sent\":{},\"why\":{},\"rx_updates\":{},\"rx_end_of_ribs\":{},\"notification\":{note}}}",
                epoch_us(),
                out.sent,
                js(&out.why),
                out.rx_updates,
                out.rx_end_of_ribs
            ));
            // A Cease after the table (the receiver stopped) is a clean end; anything else not.
            let clean = out.notification.as_ref().is_none_or(|n| n.first() == Some(&6));
            i32::from(!(out.sent && clean))
        }
        Err(e) => {
            emit(&format!("{{\"event\":\"failed\",\"epoch_us\":{},\"why\":{}}}", epoch_us(), js(&e)));
            1
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests;
