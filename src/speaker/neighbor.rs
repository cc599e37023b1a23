//! One task per neighbor: the tokio driver of a pure `session::Peer`. It owns the sockets (one
//! per connection id, at most two while a collision is pending) and the outbound connection
//! attempt, feeds the peer octets, timer ticks, accepted connections and route changes, and
//! carries out its actions at once (an UPDATE leaves the socket in the same wake-up that asked
//! for it). Everything BGP — which connection survives a collision (RFC 4271 §6.8), the Cease
//! for the other, what to send — is decided by the peer; this file only moves octets and logs.
//!
//! The task never waits on a write (review finding M4): each link writes what its socket takes
//! now and queues the rest, flushed as the socket drains. Queued octets that make no progress
//! for the hold time, or a queue past [`QUEUE_LIMIT`], fail the connection (the session's TCP
//! failure path), so a peer that stops reading cannot keep the hold timer, the other link or
//! a stop from running. A closing link gets a short, detached chance to flush its queue.

use super::bfd::{BfdHandle, BfdLink, BfdSpec};
use super::transport::{self, TransportOpts};
use super::{Adverts, Stamped};
use crate::log_limit::{LogLimiter, Verdict};
use crate::session::policy::ExportPolicy;
use crate::session::{Action, ConnId, Peer, PeerAction, PeerEvent, SessionConfig, State, Stats};
use crate::status::{NeighborState, NeighborStatus, NotificationCount};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

mod admin;

/// Everything a neighbor task needs, derived from the config once. Two specs are equal exactly
/// when a reload may keep the running session (every field counts, by construction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborSpec {
    pub remote: SocketAddr,
    pub transport: TransportOpts,
    pub session: SessionConfig,
    pub policy: ExportPolicy,
    /// BFD with the neighbor (RFC 5882 coupling below), when configured.
    pub bfd: Option<BfdSpec>,
}

impl NeighborSpec {
    /// The routes this neighbor is to have for `a` (every service's).
    pub fn routes_for(&self, a: &Adverts) -> crate::session::Routes {
        a.routes(&self.policy)
    }
}

/// What a neighbor task publishes: its status, and when the current Established period began
/// (turned into `established_secs` when the status is read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NeighborReport {
    pub status: NeighborStatus,
    pub established_at: Option<std::time::Instant>,
    /// Established and not held back by strict BFD (`NeighborStatus::serving`).
    pub serving: bool,
    /// The kernel's TCP-MD5 counters when the neighbor last went down (or started); `None`
    /// while Established, or when they cannot be read (`md5_counters`).
    pub md5_since: Option<crate::status::Md5Counters>,
}

impl NeighborReport {
    /// The status as of `now`.
    pub fn at(&self, now: std::time::Instant) -> NeighborStatus {
        let mut s = self.status.clone();
        s.established_secs = self.established_at.map(|t| now.saturating_duration_since(t).as_secs());
        s
    }
}

/// What the published report is made of: when none of it changed, nothing is rebuilt.
type ReportInputs = (State, Stats, Option<String>, Option<Duration>, bool);

/// Which Cease a stopped neighbor sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopCause {
    /// Administrative Shutdown with this RFC 9003 shutdown communication (the daemon stops,
    /// or a neighbor must not run).
    Shutdown(String),
    /// A reload removed the neighbor or changed its settings (RFC 4486 §4 subcode 3 or 6).
    Config(crate::session::ConfigStop),
}

/// Requests from the speaker to a neighbor task.
pub enum Cmd {
    /// The listener accepted a connection from this neighbor.
    Accepted(TcpStream),
    /// Stop with the Cease of `cause`; `done` fires once the NOTIFICATION has been written.
    Stop { cause: StopCause, done: oneshot::Sender<()> },
    /// The operator's `neighbor reset|disable|enable`; `done` gets what was done, or why
    /// nothing was.
    Admin { action: crate::control::NeighborAction, done: oneshot::Sender<Result<String, String>> },
}

pub use admin::{DISABLE_MESSAGE, RESET_MESSAGE};

/// Octets queued towards one connection beyond what its socket has taken; more fails the
/// connection. Far above any burst of ours (a whole advertisement), it only bounds the memory a
/// peer that reads slowly can make us hold before the write deadline fails it.
pub const QUEUE_LIMIT: usize = 16 << 20;
/// How long queued octets may make no progress when the hold time is 0 (no hold timer).
pub const WRITE_DEADLINE_NO_HOLD: Duration = Duration::from_secs(90);
/// `TCP_USER_TIMEOUT` for a write limit: half as long again. Our own write deadline fails a
/// connection whose queue stalls at the limit, with a reason ("the peer does not read") in
/// status; the kernel's timer is the backstop for octets stuck in its own buffer (a peer that
/// still ACKs zero-window probes, or none at all, while nothing more is queued here).
fn kernel_backstop(limit: Duration) -> Duration {
    limit.saturating_add(limit / 2)
}

/// How long a closing connection may take to flush what is queued (in a detached task).
pub const CLOSE_FLUSH: Duration = Duration::from_secs(1);

/// One bound connection and its outbound queue.
struct Link {
    id: ConnId,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    buf: Vec<u8>,
    /// Octets the socket has not taken yet: `out[head..]`.
    out: Vec<u8>,
    head: usize,
    /// While something is queued: when the queue last made progress (or began).
    progress_at: Option<Instant>,
}

/// What became of a link while the task waited.
enum LinkEvent {
    Read(std::io::Result<usize>),
    WriteFailed(std::io::Error),
}

impl Link {
    fn new(id: ConnId, s: TcpStream) -> Self {
        let (rd, wr) = s.into_split();
        Link { id, rd, wr, buf: vec![0; 65536], out: Vec::new(), head: 0, progress_at: None }
    }

    fn queued(&self) -> usize {
        self.out.len().saturating_sub(self.head)
    }

    /// Writes `b` after anything queued: what the socket takes now leaves at once, the rest
    /// waits in the queue. Errors are the reason the connection failed.
    fn send(&mut self, b: &[u8]) -> Result<(), String> {
        let mut b = b;
        if self.queued() == 0 {
            while !b.is_empty() {
                match self.wr.try_write(b) {
                    Ok(0) => return Err("connection error: the socket took no octets".into()),
                    Ok(n) => b = b.get(n..).unwrap_or_default(),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("connection error: {e}")),
                }
            }
            if b.is_empty() {
                return Ok(());
            }
            self.out.clear();
            self.head = 0;
            self.progress_at = Some(Instant::now());
        }
        if self.queued().saturating_add(b.len()) > QUEUE_LIMIT {
            return Err(format!(
                "the peer does not read: more than {QUEUE_LIMIT} octets queued towards it, connection failed"
            ));
        }
        // Drop what was sent before growing the queue.
        if self.head > 0 && self.head >= self.out.len() / 2 {
            self.out.drain(..self.head);
            self.head = 0;
        }
        self.out.extend_from_slice(b);
        Ok(())
    }

    /// Writes queued octets while the socket takes them; `Ready` only on an error.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        while let Some(q) = self.out.get(self.head..).filter(|q| !q.is_empty()) {
            match Pin::new(&mut self.wr).poll_write(cx, q) {
                Poll::Ready(Ok(0)) => return Poll::Ready(std::io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    self.head = self.head.saturating_add(n);
                    self.progress_at = Some(Instant::now());
                }
                Poll::Ready(Err(e)) => return Poll::Ready(e),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.head = 0;
        self.progress_at = None;
        Poll::Pending
    }

    /// Closes the connection: at once when nothing is queued; otherwise a detached task gets
    /// [`CLOSE_FLUSH`] to write the queue (a NOTIFICATION behind stuck octets) and the FIN.
    fn close(mut self) -> Option<JoinHandle<()>> {
        if self.queued() == 0 {
            return None;
        }
        let rest = self.out.split_off(self.head);
        let mut wr = self.wr;
        Some(tokio::spawn(async move {
            let flush = async {
                wr.write_all(&rest).await?;
                wr.shutdown().await
            };
            if tokio::time::timeout(CLOSE_FLUSH, flush).await.is_err() {
                debug!(queued = rest.len(), "closed a connection with octets the peer never took");
            }
        }))
    }
}

/// Flushes every link's queue and reads from whichever link has octets (or an error) first.
async fn poll_links(links: &mut [Link]) -> (ConnId, LinkEvent) {
    std::future::poll_fn(|cx| {
        for l in links.iter_mut() {
            if l.queued() > 0 {
                if let Poll::Ready(e) = l.poll_flush(cx) {
                    return Poll::Ready((l.id, LinkEvent::WriteFailed(e)));
                }
            }
            let mut rb = ReadBuf::new(&mut l.buf);
            if let Poll::Ready(r) = Pin::new(&mut l.rd).poll_read(cx, &mut rb) {
                return Poll::Ready((l.id, LinkEvent::Read(r.map(|()| rb.filled().len()))));
            }
        }
        Poll::Pending
    })
    .await
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

type Connecting = Pin<Box<dyn std::future::Future<Output = Result<TcpStream, transport::TransportError>> + Send>>;

struct Task {
    spec: NeighborSpec,
    peer: Peer,
    links: Vec<Link>,
    /// The outbound attempt in progress and the connection id it is for.
    connecting: Option<(ConnId, Connecting)>,
    last_error: Option<String>,
    status: watch::Sender<NeighborReport>,
    /// What the last published report was made of.
    published: Option<ReportInputs>,
    /// The kernel's TCP-MD5 counters when the session last left Established (or the task
    /// started): what they count after is what a down neighbor's diagnosis reads.
    md5_since: Option<crate::status::Md5Counters>,
    /// Decision → last UPDATE byte written for the latest advertisement change.
    last_update_latency: Option<Duration>,
    /// Detached flushes of closed links (see [`Link::close`]).
    closing: Vec<JoinHandle<()>>,
    /// Warnings a keyed peer can cause at its own message rate (an RFC 7606 UPDATE error, an
    /// unnegotiated ROUTE-REFRESH…): one line per kind per minute, with the suppressed count.
    warn_limit: LogLimiter<PeerWarning>,
    /// The latest advertisements (what the routes follow, through the BFD gate).
    advert: Adverts,
    /// The neighbor's BFD session and what was last seen of it.
    bfd: Option<BfdHandle>,
    bfd_link: BfdLink,
    /// BGP was stopped by BFD Down and waits for BFD Up (strict).
    held_by_bfd: bool,
    /// BFD is Up again: BGP starts at this instant (see [`BFD_SETTLE`]).
    bfd_restart_at: Option<Instant>,
    /// Bumped whenever this neighbor starts or stops serving (the speaker's
    /// [`serving_changes`](super::Speaker::serving_changes)).
    serving: watch::Sender<u64>,
    published_serving: bool,
    /// Stopped by the operator (`neighbor disable`) until `neighbor enable`: no connection
    /// made or accepted, nothing advertised (AdminDown in status).
    admin_down: bool,
}

/// How long BFD must have been Up again before BGP starts after a BFD Down: a router whose BGP
/// hears of BFD from another daemon (FRR's bgpd from bfdd) must have learnt it first. Seen
/// with FRR 8.4: an OPEN within a millisecond of BFD Up got a session that bgpd closed at once
/// ("No AFI/SAFI activated for peer").
pub const BFD_SETTLE: Duration = Duration::from_millis(250);

/// The kinds of peer-caused warnings, each rate-limited on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PeerWarning {
    UpdateError,
    Other,
}

/// One line per kind per window; the budget covers both kinds.
const WARN_WINDOW: Duration = Duration::from_secs(60);

/// Runs one neighbor until it is told to stop.
pub async fn run(
    spec: NeighborSpec,
    mut advert_rx: watch::Receiver<Arc<Stamped>>,
    mut cmds: mpsc::Receiver<Cmd>,
    status: watch::Sender<NeighborReport>,
    bfd: Option<BfdHandle>,
    serving: watch::Sender<u64>,
    admin_down: bool,
) {
    let advert = advert_rx.borrow_and_update().advert.clone();
    let mut t = Task {
        peer: Peer::new(spec.session.clone(), crate::session::Routes::default()),
        spec,
        links: Vec::new(),
        connecting: None,
        last_error: None,
        status,
        published: None,
        md5_since: None,
        last_update_latency: None,
        closing: Vec::new(),
        warn_limit: LogLimiter::new(WARN_WINDOW, 4, 2),
        advert,
        bfd,
        bfd_link: BfdLink::default(),
        held_by_bfd: false,
        bfd_restart_at: None,
        serving,
        published_serving: false,
        admin_down,
    };
    let acts = t.peer.set_routes(now(), t.desired_routes());
    t.apply(acts);
    if !t.admin_down {
        let acts = t.peer.handle(now(), PeerEvent::ManualStart);
        t.apply(acts);
    }
    loop {
        t.publish();
        t.closing.retain(|h| !h.is_finished());
        let deadline = t.next_deadline();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        let connecting = async {
            match t.connecting.as_mut() {
                Some((id, c)) => (*id, c.await),
                None => std::future::pending().await,
            }
        };
        let bfd = async {
            match t.bfd.as_mut() {
                Some(h) => h.link().changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // BFD first: when BFD going Down and the peer's close of the session (which its
            // own BFD Down caused) are ready together, the Cease / BFD Down is sent, rather
            // than the close handled first and the session dropped without a word.
            biased;
            alive = bfd => t.on_bfd(alive),
            (id, ev) = poll_links(&mut t.links) => {
                let full = match ev {
                    LinkEvent::Read(r) => t.on_read(id, r),
                    LinkEvent::WriteFailed(e) => {
                        t.fail(id, format!("connection error: {e}"));
                        false
                    }
                };
                // A full read buffer means more is waiting (a table being sent): let the
                // runtime's other tasks (the decision loop, its heartbeat) run in between.
                if full {
                    t.publish();
                    tokio::task::yield_now().await;
                }
            }
            (id, r) = connecting => {
                t.connecting = None;
                match r {
                    Ok(stream) => match t.peer.connected(now(), id) {
                        Some(acts) => {
                            t.links.push(Link::new(id, stream));
                            t.apply(acts);
                        }
                        None => debug!(conn = %id, "dropped an outbound connection no longer waited for"),
                    },
                    Err(e) => {
                        t.note_error(e.to_string());
                        let acts = t.peer.handle(now(), PeerEvent::ConnectFailed(id));
                        t.apply(acts);
                    }
                }
            }
            _ = sleep => {
                t.restart_after_bfd();
                t.fail_stalled();
                let acts = t.peer.handle(now(), PeerEvent::Timer);
                t.apply(acts);
            }
            changed = advert_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let stamped = advert_rx.borrow_and_update().clone();
                t.advert = stamped.advert.clone();
                let acts = t.peer.set_routes(now(), t.desired_routes());
                let sends = acts.iter().any(|(_, a)| matches!(a, Action::Send(_)));
                t.apply(acts);
                if sends && t.links.iter().all(|l| l.queued() == 0) {
                    let d = now().saturating_duration_since(stamped.at);
                    t.last_update_latency = Some(d);
                    debug!(latency_us = d.as_micros() as u64, "advertisement change written");
                } else if sends {
                    debug!("advertisement change queued behind octets the peer has not taken");
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Accepted(stream)) => t.on_accept(stream),
                Some(Cmd::Admin { action, done }) => {
                    let r = t.on_admin(action);
                    t.publish();
                    let _ = done.send(r);
                }
                Some(Cmd::Stop { cause, done }) => {
                    let ev = match cause {
                        StopCause::Shutdown(reason) => PeerEvent::ManualStop { reason: Some(reason) },
                        StopCause::Config(why) => PeerEvent::ConfigStop(why),
                    };
                    let acts = t.peer.handle(now(), ev);
                    t.apply(acts);
                    t.publish();
                    // The Cease is written, or queued behind octets a stuck peer has not
                    // taken: those get at most CLOSE_FLUSH, all links at once.
                    for h in std::mem::take(&mut t.closing) {
                        let _ = h.await;
                    }
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
        }
    }
}

impl Task {
    fn note_error(&mut self, e: String) {
        if self.last_error.as_deref() != Some(e.as_str()) {
            warn!(error = %e, "neighbor error");
        }
        self.last_error = Some(e);
    }

    /// Drops a link's socket (its attempt too, should one be pending for the id).
    fn unbind(&mut self, id: ConnId) -> Option<Link> {
        if self.connecting.as_ref().is_some_and(|(c, _)| *c == id) {
            self.connecting = None;
        }
        let i = self.links.iter().position(|l| l.id == id)?;
        Some(self.links.swap_remove(i))
    }

    /// The next instant the task must wake at: the peer's next deadline, or the write
    /// deadline of a link whose queue makes no progress.
    fn next_deadline(&self) -> Option<std::time::Instant> {
        let stalls = self.links.iter().filter_map(|l| Some(l.progress_at? + self.write_limit(l.id)));
        let restart = self.bfd_restart_at.map(Instant::into_std);
        self.peer.next_deadline().into_iter().chain(stalls.map(Instant::into_std)).chain(restart).min()
    }

    /// How long queued octets on `id` may make no progress: the hold time (negotiated, or
    /// the one we offer before that), [`WRITE_DEADLINE_NO_HOLD`] when it is 0.
    fn write_limit(&self, id: ConnId) -> Duration {
        self.peer.hold_time(id).and_then(|h| h.duration()).unwrap_or(WRITE_DEADLINE_NO_HOLD)
    }

    /// The write limit before any OPEN is exchanged (the hold time we offer); the
    /// `TCP_USER_TIMEOUT` of a new socket follows it ([`kernel_backstop`]).
    fn configured_limit(&self) -> Duration {
        self.spec.session.hold_time.duration().unwrap_or(WRITE_DEADLINE_NO_HOLD)
    }

    /// Fails every link whose queue made no progress for its write limit.
    fn fail_stalled(&mut self) {
        let now = Instant::now();
        let stalled: Vec<(ConnId, usize, Duration)> = self
            .links
            .iter()
            .filter_map(|l| {
                let limit = self.write_limit(l.id);
                (now.saturating_duration_since(l.progress_at?) >= limit).then_some((l.id, l.queued(), limit))
            })
            .collect();
        for (id, queued, limit) in stalled {
            self.fail(
                id,
                format!("the peer does not read: {queued} octets queued towards it made no progress for {limit:?}, connection failed"),
            );
        }
    }

    /// The connection `id` failed (`why`, shown in status): the session's TCP failure path.
    fn fail(&mut self, id: ConnId, why: String) {
        self.unbind(id);
        self.note_error(why);
        let acts = self.peer.handle(now(), PeerEvent::Closed(id));
        self.apply(acts);
    }

    /// Feeds what was read; true when it filled the read buffer.
    fn on_read(&mut self, id: ConnId, r: std::io::Result<usize>) -> bool {
        let (acts, full) = match r {
            Ok(n) if n > 0 => {
                let Some(l) = self.links.iter().find(|l| l.id == id) else { return false };
                let bytes = l.buf.get(..n).unwrap_or_default();
                let full = n == l.buf.len();
                (self.peer.handle(now(), PeerEvent::Bytes(id, bytes)), full)
            }
            _ => {
                let why = match &r {
                    Err(e) => format!("connection error: {e}"),
                    _ => "connection closed by peer".to_string(),
                };
                self.fail(id, why);
                return false;
            }
        };
        self.apply(acts);
        full
    }

    /// Starts BGP again once BFD has been Up for [`BFD_SETTLE`] (not while disabled).
    fn restart_after_bfd(&mut self) {
        if self.admin_down {
            self.bfd_restart_at = None;
            return;
        }
        if self.bfd_restart_at.is_some_and(|t| t <= Instant::now()) && self.bfd_link.up {
            self.bfd_restart_at = None;
            self.held_by_bfd = false;
            self.last_error = None;
            let acts = self.peer.handle(now(), PeerEvent::ManualStart);
            self.apply(acts);
        }
    }

    /// Whether BGP must advertise nothing for now: strict BFD that is not Up (RFC 5882 §4.3
    /// lets BGP wait for BFD; only we can enforce it, a router ignores a BFD session that
    /// never came up).
    fn gated_by_bfd(&self) -> bool {
        self.spec.bfd.as_ref().is_some_and(|b| b.config.strict) && !self.bfd_link.up
    }

    /// The routes the neighbor is to have now.
    fn desired_routes(&self) -> crate::session::Routes {
        if self.gated_by_bfd() || self.admin_down {
            crate::session::Routes::default()
        } else {
            self.spec.routes_for(&self.advert)
        }
    }

    /// The BFD session changed (RFC 5882 §4.3): Down after Up ends the BGP session with
    /// Cease / BFD Down at once; strict BGP then waits for BFD Up to start again, and
    /// advertises only while BFD is Up. `alive` is false when the BFD thread is gone (then
    /// BFD counts as Down for good: fail closed).
    fn on_bfd(&mut self, alive: bool) {
        let new = match self.bfd.as_mut() {
            Some(h) if alive => *h.link().borrow_and_update(),
            _ => {
                self.bfd = None;
                self.note_error("BFD stopped (its thread ended): counted as Down from now on".into());
                BfdLink { up: false, downs: self.bfd_link.downs.saturating_add(1), diag: crate::bfd::Diag::None }
            }
        };
        let old = std::mem::replace(&mut self.bfd_link, new);
        let strict = self.spec.bfd.as_ref().is_some_and(|b| b.config.strict);
        if new.downs > old.downs {
            warn!(diag = new.diag.name(), "BFD down: BGP session ended with Cease / BFD Down");
            let acts = self.peer.handle(now(), PeerEvent::BfdDown { restart: !strict });
            self.apply(acts);
            if strict {
                self.held_by_bfd = true;
                self.note_error(format!("BFD down ({}): BGP waits for BFD Up", new.diag.name()));
            }
        }
        if new.up && self.held_by_bfd && self.bfd.is_some() {
            info!("BFD up: BGP starts again in {BFD_SETTLE:?}");
            self.bfd_restart_at = Some(Instant::now() + BFD_SETTLE);
        } else if !new.up {
            self.bfd_restart_at = None;
        }
        if new.up != old.up || new.downs != old.downs {
            let acts = self.peer.set_routes(now(), self.desired_routes());
            self.apply(acts);
        }
    }

    fn on_accept(&mut self, stream: TcpStream) {
        let peer = stream.peer_addr().ok();
        if self.admin_down {
            debug!(?peer, "refused a connection: the neighbor is disabled (anycastd neighbor enable)");
            return;
        }
        // BGP waits for BFD Up: the router's own connection attempts are refused too.
        if self.held_by_bfd {
            debug!(port = peer.map_or(0, |p| p.port()), "refused a connection: BGP waits for BFD Up");
            return;
        }
        let user_timeout = kernel_backstop(self.configured_limit());
        let prepared = transport::prepare_accepted(&stream, &self.spec.transport)
            .and_then(|()| transport::set_user_timeout(&stream, user_timeout));
        if let Err(e) = prepared {
            self.note_error(e.to_string());
            return;
        }
        match self.peer.accept(now()) {
            Some((id, acts)) => {
                debug!(port = peer.map_or(0, |p| p.port()), conn = %id, "accepted connection");
                self.unbind(id);
                self.links.push(Link::new(id, stream));
                self.apply(acts);
            }
            None => {
                debug!(port = peer.map_or(0, |p| p.port()), state = %self.peer.state(), "refused a connection the session cannot take")
            }
        }
    }

    /// Carries out actions in order, never waiting: what a socket does not take now is
    /// queued; a failed write becomes a closed connection for the peer.
    fn apply(&mut self, actions: Vec<PeerAction>) {
        let mut queue: VecDeque<PeerAction> = actions.into();
        while let Some((id, a)) = queue.pop_front() {
            match a {
                Action::Send(b) => {
                    let sent = match self.links.iter_mut().find(|l| l.id == id) {
                        Some(l) => l.send(&b).map_err(Some),
                        None => Err(None),
                    };
                    if let Err(why) = sent {
                        self.unbind(id);
                        if let Some(why) = why {
                            self.note_error(why);
                        }
                        queue.extend(self.peer.handle(now(), PeerEvent::Closed(id)));
                    }
                }
                Action::Close => {
                    if let Some(h) = self.unbind(id).and_then(Link::close) {
                        self.closing.push(h);
                    }
                }
                Action::Connect => {
                    let (peer, opts, to) =
                        (self.spec.remote, self.spec.transport.clone(), self.spec.session.connect_retry);
                    let user_timeout = kernel_backstop(self.configured_limit());
                    self.connecting =
                        Some((id, Box::pin(async move { transport::connect(peer, &opts, to, user_timeout).await })));
                }
                Action::StateChange { from, to, reason } => info!(%from, %to, %reason, conn = %id, "state change"),
                Action::NotificationSent(n) => {
                    // An operator's Cease (shutdown, reload, reset) is news; an error a warning.
                    if n.is_operator_cease() {
                        info!(notification = %n, "sent NOTIFICATION");
                    } else {
                        warn!(notification = %n, "sent NOTIFICATION");
                    }
                    self.last_error = Some(format!("sent {n}"));
                }
                Action::NotificationReceived(n) => {
                    warn!(notification = %n, "received NOTIFICATION");
                    self.last_error = Some(format!("received {n}"));
                }
                Action::Established { params, peer_open } => {
                    info!(peer_as = peer_open.asn(), peer_id = %peer_open.bgp_id, four_octet_as = params.four_octet_as, "session established");
                    self.last_error = None;
                    // TCP_USER_TIMEOUT follows the negotiated hold time.
                    let limit = kernel_backstop(self.write_limit(id));
                    if let Some(l) = self.links.iter().find(|l| l.id == id) {
                        if let Err(e) = transport::set_user_timeout(l.wr.as_ref(), limit) {
                            warn!(error = %e, "cannot set TCP_USER_TIMEOUT");
                        }
                    }
                }
                Action::UpdateError(e) => {
                    let v = self.warn_limit.check(&PeerWarning::UpdateError, now());
                    if let Verdict::Log { .. } = v {
                        let more = v.suffix();
                        warn!(error = %e, "malformed UPDATE handled per RFC 7606, session kept{more}");
                    }
                }
                Action::Warning(w) => {
                    let v = self.warn_limit.check(&PeerWarning::Other, now());
                    if let Verdict::Log { .. } = v {
                        let more = v.suffix();
                        warn!("{w}{more}");
                    }
                }
            }
        }
    }

    /// Publishes the neighbor's status when something it shows changed.
    fn publish(&mut self) {
        let s = self.peer.session();
        let serving = NeighborState::from(s.state()) == NeighborState::Established && !self.gated_by_bfd();
        let unchanged = serving == self.published_serving
            && self.published.as_ref().is_some_and(|(state, stats, error, latency, admin_down)| {
                *state == s.state()
                    && stats == s.stats()
                    && *error == self.last_error
                    && *latency == self.last_update_latency
                    && *admin_down == self.admin_down
            });
        if unchanged {
            return;
        }
        let inputs = (s.state(), s.stats().clone(), self.last_error.clone(), self.last_update_latency, self.admin_down);
        if s.state() == State::Established {
            self.md5_since = None;
        } else if self.md5_since.is_none() {
            self.md5_since = super::md5_counters::read();
        }
        let st = s.stats();
        // Exact when max_prefixes keeps the set; otherwise announcements minus withdrawals (a
        // re-announced prefix counts twice): nothing per prefix is stored without a limit.
        let held = s.prefixes_held();
        let rx = |a: u64, w: u64| a.saturating_sub(w);
        let status = NeighborStatus {
            remote_ip: Some(self.spec.remote.ip()),
            remote_as: self.spec.session.remote_as.get(),
            state: if self.admin_down { NeighborState::AdminDown } else { s.state().into() },
            established_secs: None,
            md5: self.spec.transport.md5_key.is_some(),
            md5_diagnosis: None,
            session: Some(super::detail::session_status(s)),
            last_error: self.last_error.clone().or_else(|| st.last_error.clone()),
            last_notification_sent: st.last_notification_sent.as_ref().map(|n| n.to_string()),
            last_notification_received: st.last_notification_received.as_ref().map(|n| n.to_string()),
            msgs_in: st.msgs_in.total(),
            msgs_out: st.msgs_out.total(),
            updates_in: st.msgs_in.update,
            updates_out: st.msgs_out.update,
            prefixes_received_v4: held
                .map(|h| h[0] as u64)
                .unwrap_or_else(|| rx(st.prefixes_announced_rx.ipv4, st.prefixes_withdrawn_rx.ipv4)),
            prefixes_received_v6: held
                .map(|h| h[1] as u64)
                .unwrap_or_else(|| rx(st.prefixes_announced_rx.ipv6, st.prefixes_withdrawn_rx.ipv6)),
            update_errors: st.update_errors,
            advertised: s.advertised().iter().map(|(p, _)| p.to_string()).collect(),
            last_update_latency_us: self.last_update_latency.map(|d| d.as_micros() as u64),
            established_count: st.established_count,
            flaps: st.flaps,
            bfd: None,
            notifications: NotificationCount::list(&st.notifications_sent, &st.notifications_received),
        };
        self.status.send_replace(NeighborReport {
            status,
            established_at: st.established_at,
            serving,
            md5_since: self.md5_since,
        });
        self.published = Some(inputs);
        if serving != self.published_serving {
            self.published_serving = serving;
            self.serving.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}
