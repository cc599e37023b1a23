//! The [`Session`]: state, timers, receive buffer and the transitions of RFC 4271 §8.2.2, one
//! handler per input. Each arm quotes the RFC bullet it implements. Every error that ends a
//! connection goes through [`Session::fail`] (record, send the NOTIFICATION, close, Idle,
//! schedule the automatic restart); this file does no I/O and reads no clock.

use super::backoff::{Backoff, STABLE_TIME};
use super::negotiate::{self, Negotiated};
use super::routes::Routes;
use super::timers::{after, expired, Timers, LARGE_HOLD_TIME};
use super::{Action, Event, SessionConfig, State, Stats};
use crate::wire::header::HEADER_LEN;
use crate::wire::nlri::Prefix;
use crate::wire::notification::{cease, code};
use crate::wire::{MessageType, Notification, Open, SessionParams};
use bytes::{Bytes, BytesMut};
use std::collections::HashSet;
use std::time::Instant;

/// Whether going Idle schedules an automatic restart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// After an error: IdleHold with backoff, then AutomaticStart (RFC 4271 §8.1.1).
    Auto,
    /// After a connection attempt failed: AutomaticStart at the ConnectRetry pace, counted as
    /// a retry (ConnectRetryCounter) but not as a failure to damp.
    Retry,
    /// ManualStop or a lost collision: stay Idle.
    No,
}

/// One BGP session (one neighbour, one transport connection at a time).
#[derive(Clone, Debug)]
pub struct Session {
    pub(super) cfg: SessionConfig,
    pub(super) state: State,
    /// What we want the peer to have.
    pub(super) desired: Routes,
    /// What the peer has from us on this connection (a subset of `desired`, possibly stale).
    pub(super) advertised: Routes,
    pub(super) our_open: Open,
    pub(super) peer_open: Option<Open>,
    pub(super) neg: Option<Negotiated>,
    pub(super) timers: Timers,
    pub(super) backoff: Backoff,
    /// Set just before `go_idle` when the peer (or the transport) ended the session.
    pub(super) peer_ended: bool,
    /// Received octets not yet forming a whole message (at most one message long).
    pub(super) rx: Vec<u8>,
    /// Prefixes the peer holds announced on this connection (IPv4, IPv6), kept only when a
    /// prefix limit is configured: RFC 4271 §9 makes a repeated announcement replace the route
    /// and a withdrawal of an unknown prefix a no-op, which counters cannot tell apart. At most
    /// the limit plus one UPDATE's prefixes, since exceeding the limit resets the session.
    pub(super) held: [HashSet<Prefix>; 2],
    pub(super) stats: Stats,
}

impl Session {
    pub fn new(cfg: SessionConfig, routes: Routes) -> Self {
        Session {
            our_open: negotiate::our_open(&cfg),
            backoff: Backoff::new(cfg.idle_hold_initial, cfg.idle_hold_max, cfg.jitter_seed),
            peer_ended: false,
            cfg,
            state: State::Idle,
            desired: routes,
            advertised: Routes::new(),
            peer_open: None,
            neg: None,
            timers: Timers::default(),
            rx: Vec::new(),
            held: Default::default(),
            stats: Stats::default(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The peer's OPEN on the current connection (from OpenConfirm on).
    pub fn peer_open(&self) -> Option<&Open> {
        self.peer_open.as_ref()
    }

    /// Codec parameters negotiated on the current connection.
    pub fn params(&self) -> Option<SessionParams> {
        self.neg.as_ref().map(|n| n.params)
    }

    /// Everything negotiated on the current connection.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.neg.as_ref()
    }

    /// The OPEN we send.
    pub fn our_open(&self) -> &Open {
        &self.our_open
    }

    /// The routes we want advertised.
    pub fn routes(&self) -> &Routes {
        &self.desired
    }

    /// The routes the peer has from us on this connection.
    pub fn advertised(&self) -> &Routes {
        &self.advertised
    }

    /// When the caller must feed `Event::Timer` next; `None` = no timer running.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Prefixes held from the peer per family [IPv4, IPv6]: exact, but only kept when
    /// `max_prefixes` is configured (otherwise nothing per prefix is stored).
    pub fn prefixes_held(&self) -> Option<[usize; 2]> {
        self.cfg.max_prefixes.map(|_| [self.held[0].len(), self.held[1].len()])
    }

    /// Received octets held for an incomplete message.
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    /// Consecutive failures counted by the IdleHold backoff.
    pub fn backoff_failures(&self) -> u32 {
        self.backoff.failures()
    }

    /// Replaces the desired routes. In Established the difference is sent at once (withdrawals
    /// then announcements, in one `Send`); otherwise the routes are stored for the next
    /// Established.
    pub fn set_routes(&mut self, now: Instant, routes: Routes) -> Vec<Action> {
        self.desired = routes;
        let mut out = Vec::new();
        if self.state == State::Established {
            self.sync_routes(now, &mut out, &[]);
        }
        out
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, now: Instant, ev: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        match ev {
            Event::ManualStart => self.start(now, true, &mut out),
            Event::AutomaticStart => self.start(now, false, &mut out),
            Event::ManualStop { reason } => self.manual_stop(now, reason, &mut out),
            Event::AdminReset { reason, restart } => self.admin_reset(now, reason, restart, &mut out),
            Event::ConfigStop(why) => self.operator_stop(now, why.subcode(), None, "ManualStop", &mut out),
            Event::BfdDown { restart } => self.bfd_down(now, restart, &mut out),
            Event::TcpCrAcked => self.connected(now, "outbound connection established", &mut out),
            Event::TcpConnectionConfirmed => self.connected(now, "inbound connection accepted", &mut out),
            Event::TcpConnectionFails => self.tcp_fails(now, &mut out),
            Event::Bytes(b) => self.receive(now, b, &mut out),
            Event::Timer => self.on_timer(now, &mut out),
            Event::OpenCollisionDump => self.collision_dump(now, &mut out),
        }
        out
    }

    // ---- transitions ------------------------------------------------------------------

    pub(super) fn set_state(&mut self, to: State, reason: impl Into<String>, out: &mut Vec<Action>) {
        let from = self.state;
        if from != to {
            self.state = to;
            out.push(Action::StateChange { from, to, reason: reason.into() });
        }
    }

    pub(super) fn send(&mut self, bytes: Bytes, t: MessageType, n: u64, out: &mut Vec<Action>) {
        self.stats.msgs_out.add(t, n);
        out.push(Action::Send(bytes));
    }

    pub(super) fn send_keepalive(&mut self, now: Instant, out: &mut Vec<Action>) {
        let mut b = BytesMut::with_capacity(HEADER_LEN);
        crate::wire::encode_keepalive(&mut b);
        self.send(b.freeze(), MessageType::Keepalive, 1, out);
        self.restart_keepalive(now);
    }

    /// RFC 4271 §10: "Each time the local system sends a KEEPALIVE or UPDATE message, it
    /// restarts its KeepaliveTimer, unless the negotiated HoldTime value is zero."
    pub(super) fn restart_keepalive(&mut self, now: Instant) {
        self.timers.keepalive = self.neg.as_ref().and_then(|n| n.keepalive()).and_then(|k| after(now, k));
    }

    pub(super) fn restart_hold(&mut self, now: Instant) {
        let hold = self.neg.as_ref().and_then(|n| n.hold_time.duration());
        self.timers.hold = hold.and_then(|h| after(now, h));
    }

    /// Idle: "In response to a ManualStart event (Event 1) or an AutomaticStart event
    /// (Event 3), the local system: initializes all BGP resources for the peer connection,
    /// sets ConnectRetryCounter to zero, starts the ConnectRetryTimer with the initial value,
    /// initiates a TCP connection to the other BGP peer, listens for a connection that may be
    /// initiated by the remote BGP peer, and changes its state to Connect."
    /// Events 4/5 (passive): "… changes its state to Active" without connecting; the
    /// ConnectRetryTimer is not started, since a passive session never connects.
    /// Any start event in another state is ignored.
    fn start(&mut self, now: Instant, manual: bool, out: &mut Vec<Action>) {
        if self.state != State::Idle {
            return;
        }
        if manual {
            self.backoff.reset();
        }
        self.timers.clear();
        self.stats.connect_retry_counter = 0;
        let what = if manual { "ManualStart" } else { "AutomaticStart" };
        if self.cfg.passive {
            self.set_state(State::Active, format!("{what} (passive: waiting for the peer to connect)"), out);
        } else {
            self.timers.connect_retry = after(now, self.cfg.connect_retry);
            out.push(Action::Connect);
            self.set_state(State::Connect, what, out);
        }
    }

    /// ManualStop (Event 2). Idle: "ManualStop event (Event 2) [is] ignored" (we also cancel a
    /// pending automatic restart). Connect/Active: "drops the TCP connection, releases all BGP
    /// resources, sets ConnectRetryCounter to zero, stops the ConnectRetryTimer and sets
    /// ConnectRetryTimer to zero, and changes its state to Idle."
    /// OpenSent/OpenConfirm/Established: "sends the NOTIFICATION with a Cease, sets the
    /// ConnectRetryTimer to zero, … releases all BGP resources, drops the TCP connection, sets
    /// the ConnectRetryCounter to zero, and changes its state to Idle." The Cease is
    /// Administrative Shutdown with the RFC 9003 shutdown communication.
    fn manual_stop(&mut self, now: Instant, reason: Option<String>, out: &mut Vec<Action>) {
        self.operator_stop(now, cease::ADMINISTRATIVE_SHUTDOWN, reason, "ManualStop", out);
    }

    /// ManualStop's transitions with the Cease `subcode` (Administrative Shutdown or Reset)
    /// and the RFC 9003 shutdown communication `reason`; never restarts by itself.
    fn operator_stop(&mut self, now: Instant, subcode: u8, reason: Option<String>, what: &str, out: &mut Vec<Action>) {
        let text = reason.clone().unwrap_or_else(|| {
            crate::wire::notification::subcode_name(code::CEASE, subcode).unwrap_or("Cease").to_lowercase()
        });
        match self.state {
            State::Idle => self.timers.clear(),
            State::Connect | State::Active => {
                out.push(Action::Close);
                self.go_idle(now, format!("{what}: {text}"), Restart::No, out);
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                let n = match &reason {
                    Some(r) => Notification::cease_with_message(subcode, r),
                    None => Notification::new(code::CEASE, subcode, Vec::new()),
                };
                self.send_notification(n, out);
                out.push(Action::Close);
                self.go_idle(now, format!("{what}: {text}"), Restart::No, out);
            }
        }
        self.stats.connect_retry_counter = 0;
    }

    /// AdminReset: as ManualStop, but the Cease is Administrative Reset (RFC 4486 §4: "the
    /// BGP speaker administratively resets the peer"), and the session starts over at once
    /// (ManualStart, the backoff reset) when `restart`. In Idle only the restart happens: a
    /// session waiting out its IdleHoldTime connects now.
    fn admin_reset(&mut self, now: Instant, reason: Option<String>, restart: bool, out: &mut Vec<Action>) {
        self.operator_stop(now, cease::ADMINISTRATIVE_RESET, reason, "AdminReset", out);
        if restart {
            self.start(now, true, out);
        }
    }

    /// BFD Down (RFC 5882 §4.3): the forwarding path to the peer failed, so the session goes
    /// at once instead of after the hold time. OpenSent/OpenConfirm/Established: NOTIFICATION
    /// Cease / BFD Down (RFC 9384 §5, subcode 10), close, Idle; Connect/Active: abandon the
    /// connection, Idle. Idle: a pending automatic restart is cancelled unless `restart`.
    fn bfd_down(&mut self, now: Instant, restart: bool, out: &mut Vec<Action>) {
        let then = if restart { Restart::Auto } else { Restart::No };
        match self.state {
            State::Idle => {
                if !restart {
                    self.timers.clear();
                }
            }
            State::Connect | State::Active => {
                out.push(Action::Close);
                self.go_idle(now, "BFD Down", then, out);
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.send_notification(Notification::new(code::CEASE, cease::BFD_DOWN, Vec::new()), out);
                out.push(Action::Close);
                self.go_idle(now, "BFD Down", then, out);
            }
        }
    }

    /// Tcp_CR_Acked (16) / TcpConnectionConfirmed (17).
    /// Connect: "If the DelayOpen attribute is set to FALSE, the local system: stops the
    /// ConnectRetryTimer (if running) and sets the ConnectRetryTimer to zero, completes BGP
    /// initialization, sends an OPEN message to its peer, sets the HoldTimer to a large value,
    /// and changes its state to OpenSent." Active: the same.
    /// Idle: "the local system refuses all incoming BGP connections" → close it.
    /// OpenSent/OpenConfirm/Established: "a second TCP session may be in progress. This second
    /// TCP session is tracked per Call Collision processing (Section 6.8)" — by the caller,
    /// in a second `Session`.
    fn connected(&mut self, now: Instant, what: &str, out: &mut Vec<Action>) {
        match self.state {
            State::Idle => out.push(Action::Close),
            State::Connect | State::Active => {
                self.timers.clear();
                self.rx.clear();
                self.peer_open = None;
                self.neg = None;
                let mut b = BytesMut::with_capacity(64);
                if let Err(e) = self.our_open.encode(&mut b) {
                    // Cannot happen with the capabilities we build; fail loudly, not silently.
                    out.push(Action::Warning(format!("cannot encode our OPEN: {e}")));
                    out.push(Action::Close);
                    self.go_idle(now, format!("cannot encode our OPEN: {e}"), Restart::Auto, out);
                    return;
                }
                self.send(b.freeze(), MessageType::Open, 1, out);
                self.timers.hold = after(now, LARGE_HOLD_TIME);
                self.set_state(State::OpenSent, format!("{what}, OPEN sent"), out);
            }
            s => out.push(Action::Warning(format!(
                "second connection while in {s}: run it in its own Session and resolve the collision (RFC 4271 §6.8)"
            ))),
        }
    }

    /// TcpConnectionFails (Event 18).
    /// Connect: "stops the ConnectRetryTimer to zero, drops the TCP connection, releases all
    /// BGP resources, and changes its state to Idle." Active: "… increments the
    /// ConnectRetryCounter by 1, optionally performs peer oscillation damping …, and changes
    /// its state to Idle." OpenSent: "closes the BGP connection, restarts the
    /// ConnectRetryTimer, continues to listen for a connection that may be initiated by the
    /// remote BGP peer, and changes its state to Active." OpenConfirm/Established: "sets the
    /// ConnectRetryTimer to zero, releases all BGP resources, drops the TCP connection,
    /// increments the ConnectRetryCounter by 1, … and changes its state to Idle."
    /// From Idle we always schedule the automatic restart, or the session would stay down for
    /// good: a failed attempt (Connect/Active) at the ConnectRetry pace without growing the
    /// backoff (an unreachable router is not an oscillating one, and the attempts must go on
    /// at that pace until it is back), a failed session (OpenConfirm/Established) with backoff.
    fn tcp_fails(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Idle => {}
            s @ (State::Connect | State::Active) => {
                out.push(Action::Close);
                self.stats.last_error = Some(format!("connection failed in {s}"));
                self.go_idle(now, format!("connection failed in {s}"), Restart::Retry, out);
            }
            State::OpenSent => {
                out.push(Action::Close);
                self.reset_connection();
                self.timers.clear();
                if !self.cfg.passive {
                    self.timers.connect_retry = after(now, self.cfg.connect_retry);
                }
                self.set_state(State::Active, "connection failed in OpenSent", out);
            }
            s => {
                out.push(Action::Close);
                self.stats.last_error = Some(format!("connection failed in {s}"));
                self.peer_ended = true;
                self.go_idle(now, format!("connection failed in {s}"), Restart::Auto, out);
            }
        }
    }

    /// OpenCollisionDump (Event 23) in OpenSent/OpenConfirm/Established: "sends a NOTIFICATION
    /// with a Cease, … drops the TCP connection, … and changes its state to Idle." The other
    /// connection carries on, so no automatic restart here.
    fn collision_dump(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.state.has_connection() {
            return;
        }
        let n = Notification::new(code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION, Vec::new());
        self.send_notification(n, out);
        out.push(Action::Close);
        self.go_idle(now, "connection collision resolution (RFC 4271 §6.8)", Restart::No, out);
    }

    /// Event::Timer: every expired deadline, hold before keepalive.
    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.state {
            State::Idle => {
                if expired(self.timers.idle_hold, now) {
                    self.timers.idle_hold = None;
                    self.start(now, false, out);
                }
            }
            // Connect: "In response to the ConnectRetryTimer_Expires event (Event 9), the local
            // system: drops the TCP connection, restarts the ConnectRetryTimer, stops the
            // DelayOpenTimer and resets the timer to zero, initiates a TCP connection to the
            // other BGP peer, continues to listen for a connection that may be initiated by the
            // remote BGP peer, and stays in the Connect state."
            State::Connect => {
                if expired(self.timers.connect_retry, now) {
                    self.timers.connect_retry = after(now, self.cfg.connect_retry);
                    out.push(Action::Close);
                    out.push(Action::Connect);
                }
            }
            // Active: "In response to a ConnectRetryTimer_Expires event (Event 9), the local
            // system: restarts the ConnectRetryTimer (with initial value), initiates a TCP
            // connection to the other BGP peer, continues to listen for a TCP connection that
            // may be initiated by a remote BGP peer, and changes its state to Connect."
            State::Active => {
                if expired(self.timers.connect_retry, now) && !self.cfg.passive {
                    self.timers.connect_retry = after(now, self.cfg.connect_retry);
                    out.push(Action::Connect);
                    self.set_state(State::Connect, "ConnectRetryTimer expired", out);
                }
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                // "If the HoldTimer_Expires event (Event 10) occurs …, the local system: sends
                // a NOTIFICATION message with the error code Hold Timer Expired, sets the
                // ConnectRetryTimer to zero, releases all BGP resources, drops the TCP
                // connection, increments the ConnectRetryCounter, … and changes its state to
                // Idle."
                if expired(self.timers.hold, now) {
                    let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new());
                    let why = format!("hold timer expired in {}", self.state);
                    self.fail(now, Some(n), why, out);
                    return;
                }
                // "If the KeepaliveTimer_Expires event occurs (Event 11), the local system:
                // sends a KEEPALIVE message, [and] restarts the KeepaliveTimer."
                if self.state != State::OpenSent && expired(self.timers.keepalive, now) {
                    self.send_keepalive(now, out);
                }
            }
        }
    }

    // ---- errors -----------------------------------------------------------------------

    pub(super) fn send_notification(&mut self, n: Notification, out: &mut Vec<Action>) {
        let mut b = BytesMut::with_capacity(n.encoded_len());
        n.encode(&mut b);
        self.send(b.freeze(), MessageType::Notification, 1, out);
        self.stats.notifications_sent.add(n.code, n.subcode, 1);
        self.stats.last_notification_sent = Some(n.clone());
        out.push(Action::NotificationSent(n));
    }

    /// The one choke point for errors that end a connection: record, send the NOTIFICATION
    /// (if any), close, go Idle, schedule the automatic restart with backoff
    /// (ConnectRetryCounter + 1, DampPeerOscillations: RFC 4271 §8.1.1).
    pub(super) fn fail(&mut self, now: Instant, n: Option<Notification>, why: String, out: &mut Vec<Action>) {
        self.stats.last_error = Some(why.clone());
        // Damping is for errors we detect (a misconfiguration or a broken peer would loop);
        // a session the peer ended, or whose transport died (hold timer), restarts at once.
        self.peer_ended = n.as_ref().is_none_or(|n| n.code == code::HOLD_TIMER_EXPIRED);
        if let Some(n) = n {
            self.send_notification(n, out);
        }
        out.push(Action::Close);
        self.go_idle(now, why, Restart::Auto, out);
    }

    /// Forgets everything tied to the current connection.
    fn reset_connection(&mut self) {
        self.rx = Vec::new();
        self.peer_open = None;
        self.neg = None;
        self.advertised = Routes::new();
        self.held = Default::default();
    }

    fn go_idle(&mut self, now: Instant, why: impl Into<String>, restart: Restart, out: &mut Vec<Action>) {
        if self.state == State::Established {
            self.stats.flaps = self.stats.flaps.saturating_add(1);
            // DampPeerOscillations: a session that stayed up long enough starts over, and so
            // does one the peer ended or whose transport failed (a router restarting, a link
            // flap): the route must come back as soon as the router does. Only errors we
            // detected keep growing the wait.
            let stable = self.stats.established_at.is_some_and(|t| now.saturating_duration_since(t) >= STABLE_TIME);
            if stable || self.peer_ended {
                self.backoff.reset();
            }
        }
        self.peer_ended = false;
        self.stats.established_at = None;
        self.reset_connection();
        self.timers.clear();
        self.set_state(State::Idle, why, out);
        let wait = match restart {
            Restart::Auto => Some(self.backoff.next_delay()),
            Restart::Retry => Some(self.backoff.retry_delay(self.cfg.connect_retry)),
            Restart::No => None,
        };
        if let Some(d) = wait {
            self.stats.connect_retry_counter = self.stats.connect_retry_counter.saturating_add(1);
            self.timers.idle_hold = after(now, d);
        }
    }
}
