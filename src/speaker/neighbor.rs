//! One task per neighbor: it owns the TCP connection(s) and the `session::Session` state
//! machine, feeds it octets, timer ticks and route changes, and carries out its actions at
//! once (an UPDATE leaves the socket in the same wake-up that asked for it).
//!
//! While both speakers connect to each other, a second connection runs its own `Session`
//! until the peer's OPEN tells which one survives (RFC 4271 §6.8, `session::collision`).

use super::transport::{self, TransportOpts};
use super::{Advert, Stamped};
use crate::session::collision::{self, Initiator, Survivor};
use crate::session::routes::Routes;
use crate::session::{Action, Event, Session, SessionConfig, State};
use crate::wire::build::RouteAttrs;
use crate::wire::{attr::Origin, Notification};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Everything a neighbor task needs, derived from the config once.
#[derive(Clone, Debug)]
pub struct NeighborSpec {
    pub remote: SocketAddr,
    pub transport: TransportOpts,
    pub session: SessionConfig,
    pub next_hop_v4: Option<Ipv4Addr>,
    pub next_hop_v6: Option<Ipv6Addr>,
    pub med: Option<u32>,
    pub communities: Vec<crate::wire::community::Community>,
    pub large_communities: Vec<crate::wire::community::LargeCommunity>,
}

impl NeighborSpec {
    /// Our routes for this neighbor: next hop self, AS_PATH = our AS (prepended on request),
    /// ORIGIN IGP, MED and communities from the neighbor config and the advertisement.
    pub fn routes_for(&self, a: &Advert) -> Routes {
        let ibgp = self.session.ibgp();
        let mut as_path = Vec::new();
        if !ibgp {
            as_path = vec![self.session.local_as; 1 + usize::from(a.prepend)];
        }
        let mut communities = self.communities.clone();
        for c in &a.communities {
            if !communities.contains(c) {
                communities.push(*c);
            }
        }
        let attrs = RouteAttrs {
            origin: Origin::Igp,
            as_path,
            med: a.med.or(self.med),
            local_pref: ibgp.then_some(100),
            communities,
            large_communities: self.large_communities.clone(),
            next_hop_v4: self.next_hop_v4,
            next_hop_v6: self.next_hop_v6.map(|g| (g, None)),
        };
        Routes::with(attrs, a.prefixes.iter().copied())
    }
}

/// What `status` shows for one neighbor.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NeighborStatus {
    pub remote_ip: Option<IpAddr>,
    pub remote_as: u32,
    pub state: String,
    pub established_secs: Option<u64>,
    pub md5: bool,
    pub last_error: Option<String>,
    pub last_notification_sent: Option<String>,
    pub last_notification_received: Option<String>,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
    pub prefixes_received_v4: u64,
    pub prefixes_received_v6: u64,
    pub update_errors: u64,
    pub advertised: Vec<String>,
    /// Decision → UPDATE written to the socket, for the latest advertisement change (µs).
    pub last_update_latency_us: Option<u64>,
    pub established_count: u64,
    pub flaps: u64,
}

/// Requests from the speaker to a neighbor task.
pub enum Cmd {
    /// The listener accepted a connection from this neighbor.
    Accepted(TcpStream),
    /// Stop with Cease / Administrative Shutdown carrying `reason`; `done` fires once the
    /// NOTIFICATION has been written.
    Stop { reason: String, done: oneshot::Sender<()> },
}

struct Slot {
    session: Session,
    rd: Option<OwnedReadHalf>,
    wr: Option<OwnedWriteHalf>,
    by: Initiator,
    buf: Vec<u8>,
}

impl Slot {
    fn new(spec: &NeighborSpec, routes: Routes) -> Self {
        Slot {
            session: Session::new(spec.session.clone(), routes),
            rd: None,
            wr: None,
            by: Initiator::Local,
            buf: vec![0; 65536],
        }
    }

    fn attach(&mut self, s: TcpStream, by: Initiator) {
        let (r, w) = s.into_split();
        self.rd = Some(r);
        self.wr = Some(w);
        self.by = by;
    }
}

async fn read_some(slot: &mut Slot) -> std::io::Result<usize> {
    match slot.rd.as_mut() {
        Some(r) => r.read(&mut slot.buf).await,
        None => std::future::pending().await,
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

type Connecting =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<TcpStream, transport::TransportError>> + Send>>;

struct Task {
    spec: NeighborSpec,
    primary: Slot,
    secondary: Option<Slot>,
    connecting: Option<Connecting>,
    last_error: Option<String>,
    status: watch::Sender<NeighborStatus>,
    advert: Advert,
    /// Decision → last UPDATE byte written for the latest advertisement change.
    last_update_latency: Option<Duration>,
}

/// Runs one neighbor until it is told to stop.
pub async fn run(
    spec: NeighborSpec,
    mut advert_rx: watch::Receiver<Arc<Stamped>>,
    mut cmds: mpsc::Receiver<Cmd>,
    status: watch::Sender<NeighborStatus>,
) {
    let advert = advert_rx.borrow_and_update().advert.clone();
    let routes = spec.routes_for(&advert);
    let mut t = Task {
        primary: Slot::new(&spec, routes),
        spec,
        secondary: None,
        connecting: None,
        last_error: None,
        status,
        advert,
        last_update_latency: None,
    };
    let acts = t.primary.session.handle(now(), Event::ManualStart);
    t.apply(false, acts).await;
    loop {
        t.publish();
        let deadline =
            [t.primary.session.next_deadline(), t.secondary.as_ref().and_then(|s| s.session.next_deadline())]
                .into_iter()
                .flatten()
                .min();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        let connecting = async {
            match t.connecting.as_mut() {
                Some(c) => c.await,
                None => std::future::pending().await,
            }
        };
        let second = async {
            match t.secondary.as_mut() {
                Some(s) => read_some(s).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = read_some(&mut t.primary) => t.on_read(false, r).await,
            r = second => t.on_read(true, r).await,
            r = connecting => {
                t.connecting = None;
                match r {
                    Ok(stream) => {
                        t.primary.attach(stream, Initiator::Local);
                        let acts = t.primary.session.handle(now(), Event::TcpCrAcked);
                        t.apply(false, acts).await;
                    }
                    Err(e) => {
                        t.note_error(e.to_string());
                        let acts = t.primary.session.handle(now(), Event::TcpConnectionFails);
                        t.apply(false, acts).await;
                    }
                }
            }
            _ = sleep => {
                let acts = t.primary.session.handle(now(), Event::Timer);
                t.apply(false, acts).await;
                if let Some(s) = t.secondary.as_mut() {
                    let acts = s.session.handle(now(), Event::Timer);
                    t.apply(true, acts).await;
                }
            }
            changed = advert_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let stamped = advert_rx.borrow_and_update().clone();
                t.advert = stamped.advert.clone();
                let routes = t.spec.routes_for(&t.advert);
                let acts = t.primary.session.set_routes(now(), routes.clone());
                let sends = acts.iter().any(|a| matches!(a, Action::Send(_)));
                t.apply(false, acts).await;
                if sends {
                    let d = now().saturating_duration_since(stamped.at);
                    t.last_update_latency = Some(d);
                    debug!(latency_us = d.as_micros() as u64, "advertisement change written");
                }
                if let Some(s) = t.secondary.as_mut() {
                    let acts = s.session.set_routes(now(), routes);
                    t.apply(true, acts).await;
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Accepted(stream)) => t.on_accept(stream).await,
                Some(Cmd::Stop { reason, done }) => {
                    let acts = t.primary.session.handle(now(), Event::ManualStop { reason: Some(reason.clone()) });
                    t.apply(false, acts).await;
                    if let Some(s) = t.secondary.as_mut() {
                        let acts = s.session.handle(now(), Event::ManualStop { reason: Some(reason) });
                        t.apply(true, acts).await;
                    }
                    t.publish();
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
        }
        t.check_collision().await;
    }
}

impl Task {
    fn slot(&mut self, second: bool) -> Option<&mut Slot> {
        if second {
            self.secondary.as_mut()
        } else {
            Some(&mut self.primary)
        }
    }

    fn note_error(&mut self, e: String) {
        if self.last_error.as_deref() != Some(e.as_str()) {
            warn!(error = %e, "neighbor error");
        }
        self.last_error = Some(e);
    }

    async fn on_read(&mut self, second: bool, r: std::io::Result<usize>) {
        let Some(slot) = self.slot(second) else { return };
        let acts = match r {
            Ok(0) | Err(_) => {
                slot.rd = None;
                slot.wr = None;
                let why = match &r {
                    Err(e) => format!("connection error: {e}"),
                    _ => "connection closed by peer".to_string(),
                };
                let acts = slot.session.handle(now(), Event::TcpConnectionFails);
                self.note_error(why);
                acts
            }
            Ok(n) => {
                let Slot { session, buf, .. } = slot;
                session.handle(now(), Event::Bytes(&buf[..n]))
            }
        };
        self.apply(second, acts).await;
        if second && self.secondary.as_ref().is_some_and(|s| s.session.state() == State::Idle) {
            self.secondary = None;
        }
    }

    async fn on_accept(&mut self, stream: TcpStream) {
        let peer = stream.peer_addr().ok();
        if let Err(e) = transport::prepare_accepted(&stream, &self.spec.transport) {
            self.note_error(e.to_string());
            return;
        }
        // An inbound connection while we wait out IdleHoldTime restarts the session at once, so
        // a router that comes back first is not kept waiting for our backoff; a peer that keeps
        // failing (DampPeerOscillations, RFC 4271 §8.1.1) waits its turn.
        if self.primary.session.state() == State::Idle && self.primary.session.backoff_failures() <= 3 {
            let acts = self.primary.session.handle(now(), Event::AutomaticStart);
            self.apply(false, acts).await;
        }
        match self.primary.session.state() {
            State::Idle | State::Connect | State::Active => {
                // No connection bound yet: take this one, abandon our own attempt.
                self.connecting = None;
                self.primary.attach(stream, Initiator::Remote);
                debug!(?peer, "accepted connection");
                let acts = self.primary.session.handle(now(), Event::TcpConnectionConfirmed);
                self.apply(false, acts).await;
            }
            State::Established => {
                // RFC 4271 §6.8: a collision with an Established session closes the new one.
                let mut s = stream;
                let mut b = Vec::new();
                Notification::new(6, 7, Vec::new()).encode(&mut b);
                let _ = tokio::time::timeout(Duration::from_millis(200), s.write_all(&b)).await;
                info!(?peer, "refused a second connection while Established (Cease/Connection Collision Resolution)");
            }
            State::OpenSent | State::OpenConfirm if self.secondary.is_none() => {
                let mut slot = Slot::new(&self.spec, self.spec.routes_for(&self.advert));
                slot.attach(stream, Initiator::Remote);
                let acts = slot.session.handle(now(), Event::ManualStart);
                self.secondary = Some(slot);
                self.apply(true, acts).await;
                let acts = self.secondary.as_mut().map(|s| s.session.handle(now(), Event::TcpConnectionConfirmed));
                if let Some(acts) = acts {
                    self.apply(true, acts).await;
                }
            }
            _ => debug!(?peer, "dropped a third connection"),
        }
    }

    /// RFC 4271 §6.8: once either connection knows the peer's BGP Identifier (OpenConfirm),
    /// keep one and dump the other with Cease / Connection Collision Resolution.
    async fn check_collision(&mut self) {
        let Some(sec) = self.secondary.as_ref() else { return };
        let (ps, ss) = (self.primary.session.state(), sec.session.state());
        if !self.primary.session.state().has_connection() {
            // The primary lost its connection: the second one carries on alone.
            if let Some(s) = self.secondary.take() {
                self.primary = s;
            }
            return;
        }
        let known = [&self.primary, sec]
            .iter()
            .find(|s| matches!(s.session.state(), State::OpenConfirm | State::Established))
            .and_then(|s| s.session.peer_open().map(|o| o.bgp_id));
        let Some(remote_id) = known else { return };
        if ps != State::OpenConfirm && ps != State::Established && ss != State::OpenConfirm {
            return;
        }
        let c = &self.spec.session;
        let survivor = collision::resolve(c.router_id, remote_id, c.local_as, c.remote_as, ps, self.primary.by, sec.by);
        let dump_second = survivor == Survivor::Existing;
        info!(keep = if dump_second { "existing" } else { "new" }, "connection collision resolved (RFC 4271 §6.8)");
        let loser = if dump_second { self.secondary.as_mut() } else { Some(&mut self.primary) };
        if let Some(l) = loser {
            let acts = l.session.handle(now(), Event::OpenCollisionDump);
            self.apply(!dump_second, acts).await;
        }
        if dump_second {
            self.secondary = None;
        } else if let Some(s) = self.secondary.take() {
            self.primary = s;
        }
    }

    /// Carries out actions in order; a failed write becomes TcpConnectionFails.
    async fn apply(&mut self, second: bool, actions: Vec<Action>) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            let Some(slot) = self.slot(second) else { return };
            match a {
                Action::Send(b) => {
                    let ok = match slot.wr.as_mut() {
                        Some(w) => w.write_all(&b).await.is_ok(),
                        None => false,
                    };
                    if !ok {
                        slot.rd = None;
                        slot.wr = None;
                        queue.extend(slot.session.handle(now(), Event::TcpConnectionFails));
                    }
                }
                Action::Close => {
                    if let Some(mut w) = slot.wr.take() {
                        let _ = tokio::time::timeout(Duration::from_millis(100), w.shutdown()).await;
                    }
                    slot.rd = None;
                    if !second {
                        self.connecting = None;
                    }
                }
                Action::Connect => {
                    if !second {
                        let (peer, opts, to) =
                            (self.spec.remote, self.spec.transport.clone(), self.spec.session.connect_retry);
                        self.connecting = Some(Box::pin(async move { transport::connect(peer, &opts, to).await }));
                    }
                }
                Action::StateChange { from, to, reason } => info!(%from, %to, %reason, "state change"),
                Action::NotificationSent(n) => {
                    warn!(notification = %n, "sent NOTIFICATION");
                    self.last_error = Some(format!("sent {n}"));
                }
                Action::NotificationReceived(n) => {
                    warn!(notification = %n, "received NOTIFICATION");
                    self.last_error = Some(format!("received {n}"));
                }
                Action::Established { params, peer_open } => {
                    info!(peer_as = peer_open.asn(), peer_id = %peer_open.bgp_id, four_octet_as = params.four_octet_as, "session established");
                    self.last_error = None;
                }
                Action::UpdateError(e) => warn!(error = %e, "malformed UPDATE handled per RFC 7606, session kept"),
                Action::Warning(w) => warn!("{w}"),
            }
        }
    }

    fn publish(&self) {
        let s = &self.primary.session;
        let st = s.stats();
        // Exact when max_prefixes keeps the set; otherwise announcements minus withdrawals (a
        // re-announced prefix counts twice): nothing per prefix is stored without a limit.
        let held = s.prefixes_held();
        let rx = |a: u64, w: u64| a.saturating_sub(w);
        let status = NeighborStatus {
            remote_ip: Some(self.spec.remote.ip()),
            remote_as: self.spec.session.remote_as,
            state: s.state().to_string(),
            established_secs: st.established_at.map(|t| now().saturating_duration_since(t).as_secs()),
            md5: self.spec.transport.md5_key.is_some(),
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
        };
        self.status.send_replace(status);
    }
}
