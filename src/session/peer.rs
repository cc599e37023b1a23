//! One neighbor with up to two transport connections, pure: RFC 4271 §6.8 connection
//! collision handling on top of [`Session`].
//!
//! A [`Peer`] owns the main session and, while both speakers connect to each other, a second
//! one for the connection the peer opened. Every connection has a [`ConnId`]; events come in
//! tagged with it and actions leave tagged with it, so the caller (the tokio edge) only keeps a
//! socket per id and carries out what it is told. Which connection survives is decided here:
//! once the peer's BGP Identifier is known (an OPEN was received on either connection) and one
//! of them is in OpenConfirm or Established, [`collision::resolve`] picks the survivor and the
//! loser is fed `OpenCollisionDump`, so its Cease / Connection Collision Resolution leaves
//! through the session's own NOTIFICATION path (counted, recorded, closed). "A connection
//! collision with an existing BGP connection that is in the Established state causes closing
//! of the newly created connection": an Established session always survives. When the main
//! connection fails while the second one is alive, the second one carries on as the main one.
//! The counters of a connection that goes away are kept (status counts every message
//! exchanged with the neighbor).
//!
//! Driving it: [`Peer::handle`] for operator, timer, TCP and octet events; [`Peer::connected`]
//! when an outbound attempt asked for by `Action::Connect` succeeds and [`Peer::accept`] when
//! the listener hands over a connection from this neighbor (both say whether, and under which
//! id, to keep the socket; binding a socket to an id abandons that id's outbound attempt); and
//! [`Peer::set_routes`] when the advertisement changes. No I/O, no clock.

use super::collision::{self, Initiator, Survivor};
use super::{Action, ConfigStop, Event, Routes, Session, SessionConfig, State, Stats};
use crate::types::HoldTime;
use std::time::Instant;

/// Names one transport connection of a [`Peer`] (or the outbound attempt that may become one)
/// for as long as it lives; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(super) u32);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Inputs of a [`Peer`] (new connections go through [`Peer::connected`] and [`Peer::accept`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent<'a> {
    ManualStart,
    ManualStop {
        reason: Option<String>,
    },
    /// A reload stops the neighbor: Cease / Peer De-configured or Other Configuration Change
    /// on every connection; it stays Idle.
    ConfigStop(ConfigStop),
    /// The operator resets the neighbor: Cease / Administrative Reset on every connection,
    /// then the main session starts over at once.
    AdminReset {
        reason: Option<String>,
    },
    /// The neighbor's BFD session went down: Cease / BFD Down on every connection.
    BfdDown {
        restart: bool,
    },
    /// The outbound attempt asked for by `Action::Connect` on this id failed (Event 18).
    ConnectFailed(ConnId),
    /// Octets received on a connection.
    Bytes(ConnId, &'a [u8]),
    /// The connection failed or the peer closed it (Event 18).
    Closed(ConnId),
    /// Check every deadline against `now`.
    Timer,
}

/// An action for the connection it names (see [`Action`]; `Connect` asks for an outbound
/// attempt whose outcome is fed back as `Connected`/`ConnectFailed` with the same id, `Close`
/// closes the socket or abandons the attempt).
pub type PeerAction = (ConnId, Action);

#[derive(Clone, Debug)]
struct Conn {
    id: ConnId,
    session: Session,
    by: Initiator,
}

/// A neighbor's sessions: the main one and, during a collision, the second connection's.
#[derive(Clone, Debug)]
pub struct Peer {
    main: Conn,
    second: Option<Conn>,
    next_id: u32,
}

impl Peer {
    pub fn new(cfg: SessionConfig, routes: Routes) -> Self {
        let main = Conn { id: ConnId(0), session: Session::new(cfg, routes), by: Initiator::Local };
        Peer { main, second: None, next_id: 1 }
    }

    /// The main session: its state, statistics and routes are the neighbor's.
    pub fn session(&self) -> &Session {
        &self.main.session
    }

    pub fn state(&self) -> State {
        self.main.session.state()
    }

    pub fn stats(&self) -> &Stats {
        self.main.session.stats()
    }

    /// The id of the main connection.
    pub fn main_conn(&self) -> ConnId {
        self.main.id
    }

    /// The id of the second connection while a collision is pending.
    pub fn second_conn(&self) -> Option<ConnId> {
        self.second.as_ref().map(|c| c.id)
    }

    /// The hold time on connection `id`: the negotiated one once its OPENs are exchanged,
    /// before that the one we offer; `None` for an id this peer does not run. The driver bounds
    /// how long its writes may make no progress by it.
    pub fn hold_time(&self, id: ConnId) -> Option<HoldTime> {
        let c = std::iter::once(&self.main).chain(self.second.as_ref()).find(|c| c.id == id)?;
        Some(c.session.negotiated().map_or(c.session.config().hold_time, |n| n.hold_time))
    }

    /// When the caller must feed [`PeerEvent::Timer`] next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let second = self.second.as_ref().and_then(|c| c.session.next_deadline());
        self.main.session.next_deadline().into_iter().chain(second).min()
    }

    fn fresh_id(&mut self) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, now: Instant, ev: PeerEvent<'_>) -> Vec<PeerAction> {
        let mut out = Vec::new();
        match ev {
            PeerEvent::ManualStart => run(&mut self.main, now, Event::ManualStart, &mut out),
            PeerEvent::ManualStop { reason } => {
                if let Some(c) = self.second.as_mut() {
                    run(c, now, Event::ManualStop { reason: reason.clone() }, &mut out);
                }
                run(&mut self.main, now, Event::ManualStop { reason }, &mut out);
            }
            PeerEvent::ConfigStop(why) => {
                if let Some(c) = self.second.as_mut() {
                    run(c, now, Event::ConfigStop(why), &mut out);
                }
                run(&mut self.main, now, Event::ConfigStop(why), &mut out);
            }
            PeerEvent::AdminReset { reason } => {
                if let Some(c) = self.second.as_mut() {
                    run(c, now, Event::AdminReset { reason: reason.clone(), restart: false }, &mut out);
                }
                run(&mut self.main, now, Event::AdminReset { reason, restart: true }, &mut out);
            }
            PeerEvent::BfdDown { restart } => {
                if let Some(c) = self.second.as_mut() {
                    run(c, now, Event::BfdDown { restart: false }, &mut out);
                }
                run(&mut self.main, now, Event::BfdDown { restart }, &mut out);
            }
            PeerEvent::ConnectFailed(id) => {
                if id == self.main.id && self.main.session.state() == State::Connect {
                    run(&mut self.main, now, Event::TcpConnectionFails, &mut out);
                }
            }
            PeerEvent::Bytes(id, b) => {
                if let Some(c) = self.conn(id) {
                    run(c, now, Event::Bytes(b), &mut out);
                }
            }
            PeerEvent::Closed(id) => {
                if let Some(c) = self.conn(id) {
                    run(c, now, Event::TcpConnectionFails, &mut out);
                }
            }
            PeerEvent::Timer => {
                run(&mut self.main, now, Event::Timer, &mut out);
                if let Some(c) = self.second.as_mut() {
                    run(c, now, Event::Timer, &mut out);
                }
            }
        }
        self.settle(now, &mut out);
        out
    }

    /// The outbound attempt asked for by `Action::Connect` on `id` succeeded (Event 16). Returns
    /// the actions to carry out once the socket is bound to `id`, or `None` when this peer no
    /// longer waits for that attempt: then drop the socket.
    pub fn connected(&mut self, now: Instant, id: ConnId) -> Option<Vec<PeerAction>> {
        if id != self.main.id || self.main.session.state() != State::Connect {
            return None;
        }
        let mut out = Vec::new();
        self.main.by = Initiator::Local;
        run(&mut self.main, now, Event::TcpCrAcked, &mut out);
        self.settle(now, &mut out);
        Some(out)
    }

    /// The listener accepted a connection from this neighbor (Event 17). Returns the id to bind
    /// it to (binding abandons that id's outbound attempt) and the actions to carry out after
    /// binding, or `None` when this peer cannot use it (Idle while damped, or a third
    /// connection): then drop the socket without a word (RFC 4271 §8.2.2 Idle: "refuses all
    /// incoming BGP connections").
    pub fn accept(&mut self, now: Instant) -> Option<(ConnId, Vec<PeerAction>)> {
        let mut out = Vec::new();
        // An inbound connection while we wait out IdleHoldTime restarts the session at once, so
        // a router that comes back first is not kept waiting for our backoff; a peer that
        // keeps failing (DampPeerOscillations, RFC 4271 §8.1.1) waits its turn.
        let main = self.main.id;
        if self.main.session.state() == State::Idle && self.main.session.backoff_failures() <= 3 {
            run(&mut self.main, now, Event::AutomaticStart, &mut out);
            // The accepted connection takes the place of the attempt the restart asks for.
            out.retain(|(id, a)| !(*id == main && *a == Action::Connect));
        }
        let id = match self.main.session.state() {
            State::Idle => return None,
            // No connection bound yet: this one is the main connection.
            State::Connect | State::Active => {
                self.main.by = Initiator::Remote;
                run(&mut self.main, now, Event::TcpConnectionConfirmed, &mut out);
                main
            }
            // A second connection (RFC 4271 §6.8): its own session, started as an Active one
            // that accepts it; the collision is resolved once the peer's identifier is known.
            _ if self.second.is_none() => {
                let id = self.fresh_id();
                let s = &self.main.session;
                let mut session = Session::new(s.config().clone(), s.routes().clone());
                session.state = State::Active;
                let mut c = Conn { id, session, by: Initiator::Remote };
                run(&mut c, now, Event::TcpConnectionConfirmed, &mut out);
                self.second = Some(c);
                id
            }
            // A third connection: nothing to run it in.
            _ => return None,
        };
        self.settle(now, &mut out);
        Some((id, out))
    }

    /// Replaces the routes to advertise on every connection; sent at once where Established.
    pub fn set_routes(&mut self, now: Instant, routes: Routes) -> Vec<PeerAction> {
        let mut out = Vec::new();
        if let Some(c) = self.second.as_mut() {
            let acts = c.session.set_routes(now, routes.clone());
            out.extend(acts.into_iter().map(|a| (c.id, a)));
        }
        let c = &mut self.main;
        out.extend(c.session.set_routes(now, routes).into_iter().map(|a| (c.id, a)));
        out
    }

    fn conn(&mut self, id: ConnId) -> Option<&mut Conn> {
        if id == self.main.id {
            return Some(&mut self.main);
        }
        self.second.as_mut().filter(|c| c.id == id)
    }

    /// After every input: drop a second session that ended, let the second connection carry
    /// on when the main one is gone, and resolve a collision once it can be (RFC 4271 §6.8).
    fn settle(&mut self, now: Instant, out: &mut Vec<PeerAction>) {
        let Some(second) = self.second.as_ref() else { return };
        // A second connection that failed is over (its session would otherwise wait in Active
        // to connect out, which only the main session does).
        if !second.session.state().has_connection() {
            if let Some(gone) = self.second.take() {
                self.main.session.stats.absorb(&gone.session.stats, true);
            }
            return;
        }
        if !self.main.session.state().has_connection() {
            self.promote(out);
            return;
        }
        let (ms, ss) = (self.main.session.state(), second.session.state());
        if !(matches!(ms, State::OpenConfirm | State::Established) || ss == State::OpenConfirm) {
            return;
        }
        // The peer's BGP Identifier, from whichever connection has received its OPEN.
        let known = [&self.main, second]
            .into_iter()
            .filter(|c| matches!(c.session.state(), State::OpenConfirm | State::Established))
            .find_map(|c| c.session.peer_open().map(|o| o.bgp_id));
        let Some(remote_id) = known else { return };
        let cfg = self.main.session.config();
        let survivor = collision::resolve(
            cfg.router_id.addr(),
            remote_id,
            cfg.local_as.get(),
            cfg.remote_as.get(),
            ms,
            self.main.by,
            second.by,
        );
        match survivor {
            Survivor::Existing => {
                if let Some(mut loser) = self.second.take() {
                    run(&mut loser, now, Event::OpenCollisionDump, out);
                    self.main.session.stats.absorb(&loser.session.stats, true);
                }
            }
            Survivor::New => {
                run(&mut self.main, now, Event::OpenCollisionDump, out);
                self.promote(out);
            }
        }
    }

    /// The second connection becomes the main one; the old main session's history (counters,
    /// backoff) carries over, and any outbound attempt it had is abandoned.
    fn promote(&mut self, out: &mut Vec<PeerAction>) {
        let Some(second) = self.second.take() else { return };
        let old = std::mem::replace(&mut self.main, second);
        if old.session.state() == State::Connect {
            out.push((old.id, Action::Close));
        }
        let s = &mut self.main.session;
        s.stats.absorb(&old.session.stats, false);
        if old.session.backoff.failures() > s.backoff.failures() {
            s.backoff = old.session.backoff;
        }
    }
}

/// Feeds `ev` to one connection's session and tags its actions with the connection's id.
fn run(c: &mut Conn, now: Instant, ev: Event<'_>, out: &mut Vec<PeerAction>) {
    let id = c.id;
    out.extend(c.session.handle(now, ev).into_iter().map(|a| (id, a)));
}
