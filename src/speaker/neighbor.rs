//! One task per neighbor: the tokio driver of a pure `session::Peer`. It owns the sockets (one
//! per connection id, at most two while a collision is pending) and the outbound connection
//! attempt, feeds the peer octets, timer ticks, accepted connections and route changes, and
//! carries out its actions at once (an UPDATE leaves the socket in the same wake-up that asked
//! for it). Everything BGP — which connection survives a collision (RFC 4271 §6.8), the Cease
//! for the other, what to send — is decided by the peer; this file only moves octets and logs.

use super::transport::{self, TransportOpts};
use super::Stamped;
use crate::ha::decision::Advert;
use crate::session::policy::ExportPolicy;
use crate::session::{Action, ConnId, Peer, PeerAction, PeerEvent, SessionConfig, State, Stats};
use crate::status::NeighborStatus;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Everything a neighbor task needs, derived from the config once. Two specs are equal exactly
/// when a reload may keep the running session (every field counts, by construction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborSpec {
    pub remote: SocketAddr,
    pub transport: TransportOpts,
    pub session: SessionConfig,
    pub policy: ExportPolicy,
}

impl NeighborSpec {
    /// The routes this neighbor is to have for `a`.
    pub fn routes_for(&self, a: &Advert) -> crate::session::Routes {
        self.policy.routes(&a.as_announce())
    }
}

/// What a neighbor task publishes: its status, and when the current Established period began
/// (turned into `established_secs` when the status is read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NeighborReport {
    pub status: NeighborStatus,
    pub established_at: Option<std::time::Instant>,
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
type ReportInputs = (State, Stats, Option<String>, Option<Duration>);

/// Requests from the speaker to a neighbor task.
pub enum Cmd {
    /// The listener accepted a connection from this neighbor.
    Accepted(TcpStream),
    /// Stop with Cease / Administrative Shutdown carrying `reason`; `done` fires once the
    /// NOTIFICATION has been written.
    Stop { reason: String, done: oneshot::Sender<()> },
}

/// One bound connection.
struct Link {
    id: ConnId,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl Link {
    fn new(id: ConnId, s: TcpStream) -> Self {
        let (rd, wr) = s.into_split();
        Link { id, rd, wr, buf: vec![0; 65536] }
    }
}

/// Reads from whichever link has octets (or an error) first.
async fn read_any(links: &mut [Link]) -> (ConnId, std::io::Result<usize>) {
    std::future::poll_fn(|cx| {
        for l in links.iter_mut() {
            let mut rb = ReadBuf::new(&mut l.buf);
            if let Poll::Ready(r) = Pin::new(&mut l.rd).poll_read(cx, &mut rb) {
                return Poll::Ready((l.id, r.map(|()| rb.filled().len())));
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
    /// Decision → last UPDATE byte written for the latest advertisement change.
    last_update_latency: Option<Duration>,
}

/// Runs one neighbor until it is told to stop.
pub async fn run(
    spec: NeighborSpec,
    mut advert_rx: watch::Receiver<Arc<Stamped>>,
    mut cmds: mpsc::Receiver<Cmd>,
    status: watch::Sender<NeighborReport>,
) {
    let routes = spec.routes_for(&advert_rx.borrow_and_update().advert);
    let mut t = Task {
        peer: Peer::new(spec.session.clone(), routes),
        spec,
        links: Vec::new(),
        connecting: None,
        last_error: None,
        status,
        published: None,
        last_update_latency: None,
    };
    let acts = t.peer.handle(now(), PeerEvent::ManualStart);
    t.apply(acts).await;
    loop {
        t.publish();
        let deadline = t.peer.next_deadline();
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
        tokio::select! {
            (id, r) = read_any(&mut t.links) => t.on_read(id, r).await,
            (id, r) = connecting => {
                t.connecting = None;
                match r {
                    Ok(stream) => match t.peer.connected(now(), id) {
                        Some(acts) => {
                            t.links.push(Link::new(id, stream));
                            t.apply(acts).await;
                        }
                        None => debug!(conn = %id, "dropped an outbound connection no longer waited for"),
                    },
                    Err(e) => {
                        t.note_error(e.to_string());
                        let acts = t.peer.handle(now(), PeerEvent::ConnectFailed(id));
                        t.apply(acts).await;
                    }
                }
            }
            _ = sleep => {
                let acts = t.peer.handle(now(), PeerEvent::Timer);
                t.apply(acts).await;
            }
            changed = advert_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let stamped = advert_rx.borrow_and_update().clone();
                let acts = t.peer.set_routes(now(), t.spec.routes_for(&stamped.advert));
                let sends = acts.iter().any(|(_, a)| matches!(a, Action::Send(_)));
                t.apply(acts).await;
                if sends {
                    let d = now().saturating_duration_since(stamped.at);
                    t.last_update_latency = Some(d);
                    debug!(latency_us = d.as_micros() as u64, "advertisement change written");
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Accepted(stream)) => t.on_accept(stream).await,
                Some(Cmd::Stop { reason, done }) => {
                    let acts = t.peer.handle(now(), PeerEvent::ManualStop { reason: Some(reason) });
                    t.apply(acts).await;
                    t.publish();
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

    async fn on_read(&mut self, id: ConnId, r: std::io::Result<usize>) {
        let acts = match r {
            Ok(n) if n > 0 => {
                let Some(l) = self.links.iter().find(|l| l.id == id) else { return };
                let bytes = l.buf.get(..n).unwrap_or_default();
                self.peer.handle(now(), PeerEvent::Bytes(id, bytes))
            }
            _ => {
                self.unbind(id);
                self.note_error(match &r {
                    Err(e) => format!("connection error: {e}"),
                    _ => "connection closed by peer".to_string(),
                });
                self.peer.handle(now(), PeerEvent::Closed(id))
            }
        };
        self.apply(acts).await;
    }

    async fn on_accept(&mut self, stream: TcpStream) {
        let peer = stream.peer_addr().ok();
        if let Err(e) = transport::prepare_accepted(&stream, &self.spec.transport) {
            self.note_error(e.to_string());
            return;
        }
        match self.peer.accept(now()) {
            Some((id, acts)) => {
                debug!(?peer, conn = %id, "accepted connection");
                self.unbind(id);
                self.links.push(Link::new(id, stream));
                self.apply(acts).await;
            }
            None => debug!(?peer, state = %self.peer.state(), "refused a connection the session cannot take"),
        }
    }

    /// Carries out actions in order; a failed write becomes a closed connection for the peer.
    async fn apply(&mut self, actions: Vec<PeerAction>) {
        let mut queue: VecDeque<PeerAction> = actions.into();
        while let Some((id, a)) = queue.pop_front() {
            match a {
                Action::Send(b) => {
                    let ok = match self.links.iter_mut().find(|l| l.id == id) {
                        Some(l) => l.wr.write_all(&b).await.is_ok(),
                        None => false,
                    };
                    if !ok {
                        self.unbind(id);
                        queue.extend(self.peer.handle(now(), PeerEvent::Closed(id)));
                    }
                }
                Action::Close => {
                    if let Some(mut l) = self.unbind(id) {
                        let _ = tokio::time::timeout(Duration::from_millis(100), l.wr.shutdown()).await;
                    }
                }
                Action::Connect => {
                    let (peer, opts, to) =
                        (self.spec.remote, self.spec.transport.clone(), self.spec.session.connect_retry);
                    self.connecting = Some((id, Box::pin(async move { transport::connect(peer, &opts, to).await })));
                }
                Action::StateChange { from, to, reason } => info!(%from, %to, %reason, conn = %id, "state change"),
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

    /// Publishes the neighbor's status when something it shows changed.
    fn publish(&mut self) {
        let s = self.peer.session();
        let unchanged = self.published.as_ref().is_some_and(|(state, stats, error, latency)| {
            *state == s.state()
                && stats == s.stats()
                && *error == self.last_error
                && *latency == self.last_update_latency
        });
        if unchanged {
            return;
        }
        let inputs = (s.state(), s.stats().clone(), self.last_error.clone(), self.last_update_latency);
        let st = s.stats();
        // Exact when max_prefixes keeps the set; otherwise announcements minus withdrawals (a
        // re-announced prefix counts twice): nothing per prefix is stored without a limit.
        let held = s.prefixes_held();
        let rx = |a: u64, w: u64| a.saturating_sub(w);
        let status = NeighborStatus {
            remote_ip: Some(self.spec.remote.ip()),
            remote_as: self.spec.session.remote_as.get(),
            state: s.state().into(),
            established_secs: None,
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
        self.status.send_replace(NeighborReport { status, established_at: st.established_at });
        self.published = Some(inputs);
    }
}
