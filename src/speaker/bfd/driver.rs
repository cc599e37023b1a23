//! The BFD thread's loop: sessions, their sockets and their timers. Everything BFD — states,
//! intervals, authentication, what to send — is `crate::bfd::Bfd`'s; this file moves
//! datagrams, enforces the transport's receive rules (TTL 255, RFC 5881 §5), demultiplexes
//! (RFC 5880 §6.3), withholds transmission while the decision loop is stalled, and publishes
//! status.
//!
//! The loop is a plain `poll(2)` with the earliest session deadline as its timeout; a wake-up
//! costs more than the packets it serves (BENCHMARKS.md), so there are as few as the sessions
//! allow:
//! - every wake-up reads every datagram queued and serves every session whose next packet is
//!   due within [`TX_SLACK`] (sent early, never below RFC 5880 §6.8.7's 75 %);
//! - a receive socket whose sessions are all Up (and run no Poll Sequence) wakes nobody: its
//!   datagrams are read at the next wake-up (a transmission, at most one interval away, or a
//!   Detection Time, which reads them before it judges), counted as heard when the kernel
//!   received them (`SO_TIMESTAMPNS`), so the Detection Time is exact. A socket with a session
//!   coming up, going down or polling wakes the loop at once.

use super::socket::{self, Datagram, RxSocket, TxSocket};
use super::{BfdLink, BfdSpec};
use crate::bfd::{Action, Bfd, Diag, Drop, Event, SessionConfig, State};
use crate::liveness::Liveness;
use crate::status::BfdStatus;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tracing::{error, info, warn};

/// Requests to the BFD thread.
#[derive(Debug)]
pub(super) enum Cmd {
    Add {
        discriminator: u32,
        spec: Box<BfdSpec>,
        link: watch::Sender<BfdLink>,
        status: Arc<Mutex<BfdStatus>>,
        seed: u64,
    },
    Remove(u32),
    SetTimers {
        discriminator: u32,
        interval: Duration,
        multiplier: std::num::NonZeroU8,
    },
    Shutdown(oneshot::Sender<()>),
}

/// The way into the BFD thread: commands, each followed by a wake-up byte.
#[derive(Debug)]
pub(super) struct Mailbox {
    tx: mpsc::Sender<Cmd>,
    wake: UnixStream,
}

impl Mailbox {
    /// Queues `cmd` and wakes the thread; false when the thread is gone.
    pub(super) fn send(&self, cmd: Cmd) -> bool {
        if self.tx.send(cmd).is_err() {
            return false;
        }
        // A full socket buffer means a wake-up is pending already.
        let _ = (&self.wake).write(&[1]);
        true
    }
}

/// The mailbox and the thread's end of it.
pub(super) fn mailbox() -> std::io::Result<(Mailbox, Inbox)> {
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    let (tx, rx) = mpsc::channel();
    Ok((Mailbox { tx, wake: a }, Inbox { rx, wake: b }))
}

/// The BFD thread's end of the [`Mailbox`].
pub(super) struct Inbox {
    rx: mpsc::Receiver<Cmd>,
    wake: UnixStream,
}

/// At most this many datagrams are read from one socket per wake-up, so a flood of packets
/// cannot keep the loop from its deadlines (the rest wait in the socket's buffer, bounded by
/// the kernel).
const RX_BATCH: usize = 256;

/// How early a periodic packet may leave to share a wake-up with another session's.
const TX_SLACK: Duration = Duration::from_millis(4);
/// The largest datagram read: a Control packet with the longest authentication section is
/// 52 octets; anything longer is discarded.
const RX_BUF: usize = 512;
/// How often a receive socket that failed is tried again.
const REBIND_EVERY: Duration = Duration::from_secs(1);

/// The thread's body.
pub(super) fn run(liveness: Liveness, inbox: Inbox) {
    Driver::new(liveness).run(inbox);
}

/// Whether the loop goes on after a command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

/// What a receive socket read.
struct Incoming<'a> {
    on: RxKey,
    dgram: Datagram,
    payload: &'a [u8],
}

/// A receive socket: the local address and whether it is the multihop port.
type RxKey = (IpAddr, bool);

struct Rx {
    sock: RxSocket,
    users: usize,
    /// Receive errors so far (logged at powers of two).
    errors: u64,
}

struct Sess {
    spec: BfdSpec,
    bfd: Bfd,
    tx: Option<TxSocket>,
    link: watch::Sender<BfdLink>,
    status: Arc<Mutex<BfdStatus>>,
    /// Discarded before the session saw them (wrong TTL, oversize).
    transport_drops: BTreeMap<&'static str, u64>,
    last_drop: Option<Drop>,
    tx_suppressed: u64,
    send_failures: u64,
    /// Whether this session holds a use of its receive socket.
    rx_ok: bool,
    /// The source port to try first (kept for a retried bind).
    first_port: u16,
    /// Why the sockets do not work, when they do not.
    socket_problem: Option<String>,
}

impl Sess {
    fn dest(&self) -> SocketAddr {
        let port = if self.spec.multihop { socket::PORT_MULTIHOP } else { socket::PORT_SINGLE_HOP };
        SocketAddr::new(self.spec.remote, port)
    }

    fn rx_key(&self) -> RxKey {
        (self.spec.local, self.spec.multihop)
    }

    fn count_transport_drop(&mut self, why: &'static str) {
        let n = self.transport_drops.entry(why).or_default();
        *n = n.saturating_add(1);
    }
}

struct Driver {
    sessions: HashMap<u32, Sess>,
    rx: HashMap<RxKey, Rx>,
    liveness: Liveness,
    /// Whether the current stall of the decision loop was logged.
    stall_logged: bool,
    rebind_at: Option<Instant>,
    /// The time the last deadlines were served at.
    floor: Instant,
}

impl Driver {
    fn new(liveness: Liveness) -> Self {
        Driver {
            sessions: HashMap::new(),
            rx: HashMap::new(),
            liveness,
            stall_logged: false,
            rebind_at: None,
            floor: Instant::now(),
        }
    }

    fn run(mut self, inbox: Inbox) {
        let mut buf = vec![0u8; RX_BUF];
        loop {
            // Commands first (a wake-up byte came with each).
            loop {
                match inbox.rx.try_recv() {
                    Ok(cmd) => {
                        if self.command(cmd) == Flow::Stop {
                            return;
                        }
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            // Everything received since the last wake-up, then what is due.
            let keys: Vec<RxKey> = self.rx.keys().copied().collect();
            for k in &keys {
                self.drain(*k, &mut buf);
            }
            self.timers();
            // Wait for a command, a datagram on a socket that must wake us, or the next
            // deadline (rounded up to the ms).
            let deadline = self.sessions.values().filter_map(|s| s.bfd.next_deadline()).chain(self.rebind_at).min();
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let ms = d.saturating_duration_since(Instant::now()).as_micros().div_ceil(1000);
                    PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::ZERO)
                }
            };
            let eager: Vec<RxKey> = keys.iter().copied().filter(|k| self.wakes_on(*k)).collect();
            let ready: Vec<bool> = {
                let mut fds = Vec::with_capacity(eager.len() + 1);
                fds.push(PollFd::new(inbox.wake.as_fd(), PollFlags::POLLIN));
                for k in &eager {
                    if let Some(rx) = self.rx.get(k) {
                        fds.push(PollFd::new(rx.sock.as_fd(), PollFlags::POLLIN));
                    }
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect(),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        error!("BFD poll failed: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                }
            };
            if ready.first().copied().unwrap_or(false) {
                let mut sink = [0u8; 64];
                while matches!((&inbox.wake).read(&mut sink), Ok(n) if n > 0) {}
            }
        }
    }

    /// Whether a datagram on `k` must wake the loop: some session on it is not Up, its
    /// remote is not, or a Poll Sequence runs (a Final is awaited, or one is to be sent).
    fn wakes_on(&self, k: RxKey) -> bool {
        self.sessions.values().filter(|s| s.rx_key() == k).any(|s| {
            let ses = s.bfd.session();
            ses.state() != State::Up || ses.remote_state() != State::Up || ses.poll_active()
        })
    }

    fn command(&mut self, cmd: Cmd) -> Flow {
        match cmd {
            Cmd::Add { discriminator, spec, link, status, seed } => self.add(discriminator, *spec, link, status, seed),
            Cmd::Remove(d) => self.remove(d),
            Cmd::SetTimers { discriminator, interval, multiplier } => {
                self.set_timers(discriminator, interval, multiplier)
            }
            Cmd::Shutdown(done) => {
                let all: Vec<u32> = self.sessions.keys().copied().collect();
                for d in all {
                    self.remove(d);
                }
                let _ = done.send(());
                return Flow::Stop;
            }
        }
        Flow::Go
    }

    /// Reads what socket `k` holds (at most [`RX_BATCH`]) and hands it to the sessions.
    fn drain(&mut self, k: RxKey, buf: &mut [u8]) {
        for _ in 0..RX_BATCH {
            let Some(rx) = self.rx.get_mut(&k) else { return };
            match rx.sock.try_recv(buf) {
                Ok(Some(dgram)) => {
                    let payload = buf.get(..dgram.len.min(buf.len())).unwrap_or_default();
                    let inc = Incoming { on: k, dgram, payload };
                    self.receive(&inc);
                }
                Ok(None) => return,
                Err(e) => {
                    rx.errors = rx.errors.saturating_add(1);
                    if rx.errors.is_power_of_two() {
                        warn!(local = %rx.sock.local(), errors = rx.errors, "BFD receive error: {e}");
                    }
                    return;
                }
            }
        }
    }

    fn add(&mut self, d: u32, spec: BfdSpec, link: watch::Sender<BfdLink>, status: Arc<Mutex<BfdStatus>>, seed: u64) {
        let Some(disc) = NonZeroU32::new(d) else { return };
        let now = Instant::now();
        let cfg = SessionConfig {
            my_discriminator: disc,
            desired_min_tx: spec.config.interval,
            required_min_rx: spec.config.interval,
            detect_mult: spec.config.multiplier,
            jitter_seed: seed,
        };
        // bfd.XmitAuthSeq starts at a random value (RFC 5880 §6.8.1).
        let auth = spec.config.auth.clone().map(|a| (a, (seed >> 32) as u32));
        let s = Sess {
            bfd: Bfd::new(now, cfg, auth),
            spec,
            tx: None,
            link,
            status,
            transport_drops: BTreeMap::new(),
            last_drop: None,
            tx_suppressed: 0,
            send_failures: 0,
            rx_ok: false,
            first_port: port_from(seed),
            socket_problem: None,
        };
        info!(neighbor = %s.spec.remote, local = %s.spec.local, discriminator = d, multihop = s.spec.multihop,
            interval_ms = s.spec.config.interval.as_millis() as u64, multiplier = s.spec.config.multiplier.get(),
            "BFD session started");
        self.sessions.insert(d, s);
        self.bind_sockets(d, now, true);
        self.step(d, now, Event::Timer);
    }

    /// Binds what session `d` lacks: its send socket and its use of the receive socket. What
    /// fails (the local address is not configured yet, the port is taken…) is retried every
    /// [`REBIND_EVERY`], logged the first time.
    fn bind_sockets(&mut self, d: u32, now: Instant, first: bool) {
        let Some(s) = self.sessions.get(&d) else { return };
        let (local, remote, key, need_tx, need_rx, port) =
            (s.spec.local, s.spec.remote, s.rx_key(), s.tx.is_none(), !s.rx_ok, s.first_port);
        let tx = need_tx.then(|| TxSocket::bind(local, port));
        let rx = need_rx.then(|| self.use_rx(key));
        let Some(s) = self.sessions.get_mut(&d) else { return };
        let mut problems = Vec::new();
        match tx {
            Some(Ok(t)) => s.tx = Some(t),
            Some(Err(e)) => problems.push(format!("cannot send: {e}")),
            None => {}
        }
        match rx {
            Some(Ok(())) => s.rx_ok = true,
            Some(Err(e)) => problems.push(format!("cannot receive: {e}")),
            None => {}
        }
        let was = s.socket_problem.take();
        if problems.is_empty() {
            if was.is_some() {
                info!(neighbor = %remote, "BFD sockets bound");
            }
        } else {
            let p = problems.join("; ");
            if first {
                error!(neighbor = %remote, "BFD {p} (retried every {REBIND_EVERY:?})");
            }
            s.socket_problem = Some(p);
            self.rebind_at = Some(now + REBIND_EVERY);
        }
    }

    /// New timers from a reload: the session runs a Poll Sequence (while Up) and keeps going.
    fn set_timers(&mut self, d: u32, interval: Duration, multiplier: std::num::NonZeroU8) {
        let Some(s) = self.sessions.get_mut(&d) else { return };
        s.spec.config.interval = interval;
        s.spec.config.multiplier = multiplier;
        {
            let mut st = s.status.lock().unwrap_or_else(|p| p.into_inner());
            st.interval_ms = interval.as_millis() as u64;
            st.multiplier = multiplier.get();
        }
        info!(neighbor = %s.spec.remote, interval_ms = interval.as_millis() as u64, multiplier = multiplier.get(),
            "BFD timers changed (Poll Sequence)");
        let ev = Event::SetIntervals { desired_min_tx: interval, required_min_rx: interval, detect_mult: multiplier };
        self.step(d, Instant::now(), ev);
    }

    /// Takes the session administratively down (its AdminDown packet leaves now) and drops it.
    fn remove(&mut self, d: u32) {
        if !self.sessions.contains_key(&d) {
            return;
        }
        self.step(d, Instant::now(), Event::AdminDown);
        if let Some(s) = self.sessions.remove(&d) {
            info!(neighbor = %s.spec.remote, discriminator = d, "BFD session removed (AdminDown sent)");
            if s.rx_ok {
                self.release_rx(s.rx_key());
            }
        }
    }

    /// One more session receives on `key`: binds its socket if it is the first.
    fn use_rx(&mut self, key: RxKey) -> Result<(), socket::SocketError> {
        if let Some(rx) = self.rx.get_mut(&key) {
            rx.users = rx.users.saturating_add(1);
            return Ok(());
        }
        let sock = RxSocket::bind(key.0, key.1)?;
        self.rx.insert(key, Rx { sock, users: 1, errors: 0 });
        Ok(())
    }

    fn release_rx(&mut self, key: RxKey) {
        if let Some(rx) = self.rx.get_mut(&key) {
            rx.users = rx.users.saturating_sub(1);
            if rx.users == 0 {
                self.rx.remove(&key);
            }
        }
    }

    /// Retries the sockets that could not be bound.
    fn rebind(&mut self, now: Instant) {
        self.rebind_at = None;
        let missing: Vec<u32> =
            self.sessions.iter().filter(|(_, s)| s.socket_problem.is_some()).map(|(d, _)| *d).collect();
        for d in missing {
            self.bind_sockets(d, now, false);
        }
    }

    /// Serves every deadline due now (all sessions due by this wake-up in one go).
    fn timers(&mut self) {
        let now = Instant::now();
        if self.rebind_at.is_some_and(|t| t <= now) {
            self.rebind(now);
        }
        self.floor = now;
        let soon = now + TX_SLACK;
        let due: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.bfd.next_deadline().is_some_and(|t| t <= soon))
            .map(|(d, _)| *d)
            .collect();
        for d in due {
            self.step(d, now, Event::TimerWithin(TX_SLACK));
        }
    }

    /// RFC 5880 §6.3: a nonzero Your Discriminator selects the session (which must be the
    /// one with that source and local address); a zero one selects by addresses.
    fn demux(&self, inc: &Incoming<'_>) -> Option<u32> {
        let src = inc.dgram.src.ip();
        let your = inc.payload.get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes)?;
        let fits = |s: &Sess| s.spec.remote == src && s.rx_key() == inc.on;
        if your != 0 {
            return self.sessions.get(&your).filter(|s| fits(s)).map(|_| your);
        }
        self.sessions.iter().find(|(_, s)| fits(s)).map(|(d, _)| *d)
    }

    fn receive(&mut self, inc: &Incoming<'_>) {
        // Heard when the kernel received it (never before the last wake-up's time, so the
        // sessions see time go forward).
        let now = arrival(inc.dgram.received, Instant::now(), std::time::SystemTime::now()).max(self.floor);
        // A datagram no session takes (unknown discriminator or addresses) is dropped unread.
        let Some(d) = self.demux(inc) else { return };
        let Some(s) = self.sessions.get_mut(&d) else { return };
        if inc.dgram.truncated {
            s.count_transport_drop("oversize");
            return publish(s, now, &self.liveness);
        }
        if !ttl_ok(&s.spec, inc.dgram.ttl) {
            s.count_transport_drop("bad_ttl");
            return publish(s, now, &self.liveness);
        }
        self.step(d, now, Event::Received(inc.payload.to_vec()));
    }

    /// Feeds `ev` to session `d` and carries out what it asks for.
    fn step(&mut self, d: u32, now: Instant, ev: Event) {
        let stalled = self.liveness.stalled(now);
        self.liveness.ask(now);
        match stalled {
            Some(for_) if !self.stall_logged => {
                self.stall_logged = true;
                error!(
                    silent_ms = for_.as_millis() as u64,
                    "the decision loop has not run for {for_:?}: BFD transmission stopped, so the routers declare this node down"
                );
            }
            None if self.stall_logged => {
                self.stall_logged = false;
                warn!("the decision loop runs again: BFD transmission resumed");
            }
            _ => {}
        }
        let Some(s) = self.sessions.get_mut(&d) else { return };
        let mut changes = Vec::new();
        for a in s.bfd.handle(now, ev) {
            match a {
                Action::Send(b) => {
                    if stalled.is_some() {
                        s.tx_suppressed = s.tx_suppressed.saturating_add(1);
                        continue;
                    }
                    let dest = s.dest();
                    let sent = match &s.tx {
                        Some(tx) => tx.send_to(&b, dest).unwrap_or(false),
                        None => false,
                    };
                    if !sent {
                        s.send_failures = s.send_failures.saturating_add(1);
                    }
                }
                Action::StateChange { from, to, diag } => {
                    let remote = s.spec.remote;
                    if from == State::Up {
                        warn!(neighbor = %remote, from = from.name(), to = to.name(), diag = diag.name(), "BFD session down");
                    } else {
                        info!(neighbor = %remote, from = from.name(), to = to.name(), diag = diag.name(), "BFD state change");
                    }
                    changes.push((from, to, diag));
                }
                Action::Dropped(why) => s.last_drop = Some(why),
            }
        }
        // Status first: whoever the link wakes (the BGP coupling) reads a status that
        // already shows the change.
        publish(s, now, &self.liveness);
        for (from, to, diag) in changes {
            s.link.send_if_modified(|l| {
                let before = *l;
                l.up = to == State::Up;
                if from == State::Up {
                    l.downs = l.downs.saturating_add(1);
                    l.diag = diag;
                }
                *l != before
            });
        }
    }
}

/// RFC 5881 §5: a single-hop packet must arrive with TTL / Hop Limit 255. RFC 5883 sets no
/// TTL rule for multihop, and routers do not send 255 there (BIRD sends 64): any TTL is
/// taken, and authentication is what protects a multihop session (RFC 5883 §6).
fn ttl_ok(spec: &BfdSpec, ttl: Option<u8>) -> bool {
    socket::ttl_acceptable(spec.multihop, spec.config.auth.is_some(), ttl)
}

/// When a datagram the kernel stamped `received` (wall clock) arrived, on the monotonic clock:
/// `now` less its age, the age bounded to a second (a wall clock that jumped says nothing).
fn arrival(received: Option<std::time::SystemTime>, now: Instant, wall: std::time::SystemTime) -> Instant {
    let age = received.and_then(|r| wall.duration_since(r).ok()).unwrap_or(Duration::ZERO).min(Duration::from_secs(1));
    now.checked_sub(age).unwrap_or(now)
}

/// A source port from the seed, in RFC 5881's range.
fn port_from(seed: u64) -> u16 {
    let (lo, hi) = (*socket::SOURCE_PORTS.start(), *socket::SOURCE_PORTS.end());
    let span = u64::from(hi - lo) + 1;
    lo + (seed % span) as u16
}

/// The status of a session before its first event.
pub(super) fn initial_status(spec: &BfdSpec) -> BfdStatus {
    BfdStatus {
        state: State::Down.name().into(),
        remote_state: State::Down.name().into(),
        local_diag: Diag::None.name().into(),
        remote_diag: Diag::None.name().into(),
        multihop: spec.multihop,
        strict: spec.config.strict,
        auth: spec.config.auth.as_ref().map(|a| a.auth_type().name().to_string()),
        interval_ms: spec.config.interval.as_millis() as u64,
        multiplier: spec.config.multiplier.get(),
        ..Default::default()
    }
}

fn set(field: &mut String, v: &str) {
    if field != v {
        *field = v.to_string();
    }
}

/// Writes the session's state into its status cell (no allocation unless a text changed).
fn publish(s: &Sess, now: Instant, liveness: &Liveness) {
    let ses = s.bfd.session();
    let c = s.bfd.counters();
    let mut st = s.status.lock().unwrap_or_else(|p| p.into_inner());
    set(&mut st.state, ses.state().name());
    set(&mut st.remote_state, ses.remote_state().name());
    set(&mut st.local_diag, ses.local_diag().name());
    set(&mut st.remote_diag, ses.remote_diag().name());
    st.my_discriminator = ses.my_discriminator();
    st.remote_discriminator = ses.remote_discriminator();
    st.tx_interval_us = ses.tx_interval().map(|d| d.as_micros() as u64);
    st.detection_time_us = ses.detection_time().map(|d| d.as_micros() as u64);
    let (min_rx, min_tx, mult) = ses.remote_intervals();
    st.remote_min_rx_us = min_rx.as_micros() as u64;
    st.remote_min_tx_us = min_tx.as_micros() as u64;
    st.remote_multiplier = mult;
    st.up_count = c.up;
    st.down_count = c.down;
    st.packets_in = c.packets_in;
    st.packets_out = c.packets_out.saturating_sub(s.tx_suppressed).saturating_sub(s.send_failures);
    st.tx_suppressed = s.tx_suppressed;
    let drops = c.drops.iter().map(|(d, n)| (d.name(), *n)).chain(s.transport_drops.iter().map(|(k, n)| (*k, *n)));
    let total: u64 = c.drops.values().chain(s.transport_drops.values()).sum();
    let counted: u64 = st.drops.values().sum();
    if total != counted {
        st.drops = drops.map(|(k, n)| (k.to_string(), n)).collect();
    }
    let problem = problem(s, ses.state(), now, liveness);
    if st.problem != problem {
        st.problem = problem;
    }
}

/// Why a session is not Up (or what weakens it), in words an operator can act on.
fn problem(s: &Sess, state: State, now: Instant, liveness: &Liveness) -> Option<String> {
    if let Some(p) = &s.socket_problem {
        return Some(p.clone());
    }
    if let Some(stall) = liveness.stalled(now) {
        return Some(format!("not transmitting: the decision loop has not run for {} ms", stall.as_millis()));
    }
    if state == State::Up {
        return None;
    }
    let not_strict = (!s.spec.config.strict)
        .then_some("strict = false: BGP runs without BFD, so this node's death is seen only by the hold timer");
    let why = match s.last_drop {
        Some(d) if d.is_auth() => {
            let ours = match &s.spec.config.auth {
                Some(a) => format!("{} key_id {}", a.auth_type().name(), a.key_id()),
                None => "no authentication".into(),
            };
            format!(
                "authentication failed: {} ({} packets dropped); we use {ours}: check auth, key_id and key against the router's",
                d.name(),
                s.bfd.counters().drops.get(&d).copied().unwrap_or(0)
            )
        }
        Some(d) => format!("packets from the router dropped: {}", d.name()),
        None if s.transport_drops.contains_key("bad_ttl") => {
            "packets from the router dropped: TTL/hop limit not 255 (single hop, RFC 5881); is the router more than one hop away? then the neighbor needs multihop".into()
        }
        None if s.bfd.counters().packets_in == 0 => {
            format!("no BFD packets from {}: is BFD enabled for this session on the router?", s.spec.remote)
        }
        None => return not_strict.map(str::to_string),
    };
    Some(match not_strict {
        Some(n) => format!("{why}; {n}"),
        None => why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU8;

    fn spec(multihop: bool) -> BfdSpec {
        BfdSpec {
            local: IpAddr::from([192, 0, 2, 11]),
            remote: IpAddr::from([192, 0, 2, 1]),
            multihop,
            config: crate::config::Bfd {
                interval: Duration::from_millis(50),
                multiplier: NonZeroU8::MIN,
                auth: None,
                strict: true,
            },
        }
    }

    #[test]
    fn single_hop_wants_255_and_multihop_any_ttl() {
        assert!(ttl_ok(&spec(false), Some(255)));
        assert!(!ttl_ok(&spec(false), Some(254)));
        assert!(!ttl_ok(&spec(false), None));
        assert!(ttl_ok(&spec(true), Some(64)), "BIRD's multihop TTL");
        assert!(ttl_ok(&spec(true), Some(1)));
    }

    #[test]
    fn arrival_is_now_less_the_kernel_age_bounded() {
        let now = Instant::now();
        let wall = std::time::SystemTime::now();
        let ms = Duration::from_millis;
        assert_eq!(arrival(Some(wall - ms(30)), now, wall), now - ms(30));
        assert_eq!(arrival(None, now, wall), now);
        assert_eq!(arrival(Some(wall + ms(5)), now, wall), now, "a stamp in the future is now");
        assert_eq!(arrival(Some(wall - ms(5000)), now, wall), now - ms(1000), "at most a second old");
    }

    #[test]
    fn source_ports_stay_in_the_rfc_range() {
        for seed in [0, 1, 16383, 16384, u64::MAX] {
            assert!(socket::SOURCE_PORTS.contains(&port_from(seed)), "{seed}");
        }
    }
}
