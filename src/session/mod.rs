//! The BGP session: a pure, sans-IO finite state machine (RFC 4271 §8) for one neighbour.
//!
//! [`Session::handle`] takes the time and one [`Event`] (an operator start/stop, a TCP
//! outcome, received octets, or "check the timers") and returns the [`Action`]s the caller must
//! carry out, in order: connect, write octets, close, report. Nothing in here opens sockets,
//! reads a clock or draws randomness: time arrives as `now`, deadlines leave through
//! [`Session::next_deadline`], and the IdleHold jitter comes from a PRNG seeded by the config,
//! so every test is a deterministic script.
//!
//! anycastd only advertises: it sends its few prefixes, counts what the peer sends and never
//! installs routes. The only per-prefix state is the set of prefixes the peer holds announced,
//! kept when a prefix limit is configured and bounded by that limit, so memory stays bounded
//! whatever the peer does.
//!
//! One [`Session`] models one transport connection at a time. A neighbor is a [`Peer`]
//! (`peer.rs`): the main session plus, while both speakers connect to each other, a second one,
//! with RFC 4271 §6.8 collision resolution ([`collision::resolve`]) deciding which survives and
//! the loser fed [`Event::OpenCollisionDump`]. The routes a neighbor is sent come from its
//! export policy (`policy.rs`).
//!
//! Driving a session: `Connect` → start an outbound connection, then feed `TcpCrAcked` or
//! `TcpConnectionFails`; an accepted inbound connection is fed as `TcpConnectionConfirmed`
//! while the session is in Connect/Active (abandon the outbound attempt then); `Close` → drop
//! the socket or the attempt; `Send` → write; after every call sleep until
//! [`Session::next_deadline`] and feed `Timer`. Route changes go through
//! [`Session::set_routes`], which sends at once when Established. A [`Peer`] is driven the
//! same way, with each event and action tagged by its connection's [`ConnId`].

mod backoff;
pub mod collision;
mod fsm;
#[cfg(any(test, feature = "fuzzing"))]
mod fuzz;
pub mod negotiate;
pub mod peer;
pub mod policy;
mod receive;
pub mod routes;
mod send;
#[cfg(any(test, feature = "fuzzing"))]
pub mod testkit;
mod timers;

#[cfg(test)]
mod established_tests;
#[cfg(test)]
mod fsm_tests;
#[cfg(test)]
mod peer_tests;

pub use backoff::{Backoff, STABLE_TIME};
pub use collision::{resolve, Initiator, Survivor};
pub use fsm::Session;
#[cfg(any(test, feature = "fuzzing"))]
pub use fuzz::{fuzz_one, fuzz_peer, FuzzRun};
pub use negotiate::Negotiated;
pub use peer::{ConnId, Peer, PeerAction, PeerEvent};
pub use routes::Routes;
pub use timers::LARGE_HOLD_TIME;

use crate::types::{Asn, HoldTime, RouterId};
use crate::wire::{DecodeError, MessageType, Notification, Open, SessionParams};
use std::fmt;
use std::time::{Duration, Instant};

/// What the operator configured for one neighbour. The AS numbers, identifier and hold time
/// are the validated types of [`crate::types`]: nothing here is checked again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_as: Asn,
    pub remote_as: Asn,
    /// Our BGP Identifier.
    pub router_id: RouterId,
    /// The Hold Time we offer in our OPEN.
    pub hold_time: HoldTime,
    /// ConnectRetryTime (RFC 4271 §8.1.1).
    pub connect_retry: Duration,
    /// PassiveTcpEstablishment (RFC 4271 §8.1.1): never connect, only accept.
    pub passive: bool,
    /// Graceful Restart (RFC 4724) with this Restart Time, seconds. Off by default: a router
    /// keeping a dead node's route as stale defeats anycast failover.
    pub graceful_restart: Option<u16>,
    /// Offer Extended Message (RFC 8654); used only when the peer offers it too.
    pub extended_message: bool,
    /// Cease / Maximum Number of Prefixes Reached (RFC 4486) once the distinct prefixes the
    /// peer holds announced in one family exceed this (re-announcements replace, RFC 4271 §9).
    pub max_prefixes: Option<u64>,
    /// First IdleHoldTime after an error (RFC 4271 §8.1.1), doubled per consecutive failure.
    pub idle_hold_initial: Duration,
    /// Largest IdleHoldTime.
    pub idle_hold_max: Duration,
    /// Seed of the jitter PRNG (tests use a fixed one; the daemon may use anything).
    pub jitter_seed: u64,
}

impl SessionConfig {
    /// A config with the usual defaults: hold 90 s, ConnectRetry 5 s, active, no graceful
    /// restart, no extended message, no prefix limit, IdleHold 1 s doubling up to 60 s.
    pub fn new(local_as: Asn, remote_as: Asn, router_id: RouterId) -> Self {
        SessionConfig {
            local_as,
            remote_as,
            router_id,
            hold_time: HoldTime::DEFAULT,
            connect_retry: CONNECT_RETRY,
            passive: false,
            graceful_restart: None,
            extended_message: false,
            max_prefixes: None,
            idle_hold_initial: IDLE_HOLD_INITIAL,
            idle_hold_max: IDLE_HOLD_MAX,
            jitter_seed: 0,
        }
    }

    /// Internal BGP: both ends in the same AS.
    pub fn ibgp(&self) -> bool {
        self.local_as == self.remote_as
    }
}

/// ConnectRetryTime (RFC 4271 §8.1.1) unless configured: the pace of connection attempts while
/// the router cannot be reached (RFC 4271 §10 suggests 120 s; an anycast speaker wants its
/// route back within seconds of the router).
pub const CONNECT_RETRY: Duration = Duration::from_secs(5);
/// First IdleHoldTime after an error (RFC 4271 §8.1.1).
pub const IDLE_HOLD_INITIAL: Duration = Duration::from_secs(1);
/// Largest IdleHoldTime: a router that keeps refusing us is retried at least once a minute.
pub const IDLE_HOLD_MAX: Duration = Duration::from_secs(60);
/// Restart Time we advertise when graceful restart is configured (RFC 4724 §3).
pub const GRACEFUL_RESTART_TIME: u16 = 120;

/// The six states of RFC 4271 §8.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }

    /// States in which a transport connection is bound to the session.
    pub fn has_connection(self) -> bool {
        matches!(self, State::OpenSent | State::OpenConfirm | State::Established)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Inputs (RFC 4271 §8.1 events; message events come in as raw octets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Event 1 (Event 4 when the config is passive).
    ManualStart,
    /// Event 2; the reason becomes the RFC 9003 shutdown communication.
    ManualStop { reason: Option<String> },
    /// The operator resets the session (`anycastd neighbor reset`): NOTIFICATION Cease /
    /// Administrative Reset (RFC 4486 §4, subcode 4; the reason as its RFC 9003 shutdown
    /// communication) where a connection is up, Idle, then ManualStart at once when `restart`
    /// (the second connection of a collision is only closed).
    AdminReset { reason: Option<String>, restart: bool },
    /// Event 2 for a reload: the neighbor left the configuration or its settings changed. The
    /// Cease says which (RFC 4486 §4) and carries no Data: RFC 9003 defines the shutdown
    /// communication for Administrative Shutdown and Reset only.
    ConfigStop(ConfigStop),
    /// Event 3 (the session schedules its own after errors; see [`Session::next_deadline`]).
    AutomaticStart,
    /// The neighbor's BFD session went down (RFC 5882 §4.3): Cease / BFD Down (RFC 9384) and
    /// Idle, restarting by itself only when `restart` (otherwise the caller sends ManualStart
    /// once BFD is Up again).
    BfdDown { restart: bool },
    /// Event 17: an inbound connection from the peer was accepted and bound to this session.
    TcpConnectionConfirmed,
    /// Event 16: our outbound connection succeeded.
    TcpCrAcked,
    /// Event 18: the connection (or the connection attempt) failed or was closed by the peer.
    TcpConnectionFails,
    /// Octets received on the connection, in any chunking.
    Bytes(&'a [u8]),
    /// Check every deadline against `now` (Events 9, 10, 11, 13).
    Timer,
    /// Event 23: this connection lost a collision (RFC 4271 §6.8, see [`collision`]).
    OpenCollisionDump,
}

/// Why a reload stops a session: the Cease subcode it sends (RFC 4486 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigStop {
    /// Subcode 3, Peer De-configured: the neighbor was removed from the configuration.
    PeerDeconfigured,
    /// Subcode 6, Other Configuration Change: its settings changed (an MD5 key, say) and the
    /// session starts over with the new ones.
    OtherConfigurationChange,
}

impl ConfigStop {
    /// The Cease subcode (RFC 4486 §4).
    pub fn subcode(self) -> u8 {
        use crate::wire::notification::cease;
        match self {
            ConfigStop::PeerDeconfigured => cease::PEER_DECONFIGURED,
            ConfigStop::OtherConfigurationChange => cease::OTHER_CONFIGURATION_CHANGE,
        }
    }
}

/// Outputs, to be carried out in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open an outbound TCP connection to the peer (abandoning any attempt in progress).
    Connect,
    /// Write these octets now.
    Send(bytes::Bytes),
    /// Close the TCP connection (or abandon the connection attempt).
    Close,
    StateChange {
        from: State,
        to: State,
        reason: String,
    },
    NotificationSent(Notification),
    NotificationReceived(Notification),
    /// The session reached Established (RFC 4271 §8.2.2, OpenConfirm + KEEPALIVE).
    Established {
        params: SessionParams,
        peer_open: Open,
    },
    /// An UPDATE error handled by treat-as-withdraw or attribute discard (RFC 7606): the
    /// session is kept.
    UpdateError(DecodeError),
    Warning(String),
}

/// Message counters per type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgCounts {
    pub open: u64,
    pub update: u64,
    pub notification: u64,
    pub keepalive: u64,
    pub route_refresh: u64,
}

impl MsgCounts {
    pub fn bump(&mut self, t: MessageType) {
        self.add(t, 1);
    }

    pub fn add(&mut self, t: MessageType, n: u64) {
        let c = match t {
            MessageType::Open => &mut self.open,
            MessageType::Update => &mut self.update,
            MessageType::Notification => &mut self.notification,
            MessageType::Keepalive => &mut self.keepalive,
            MessageType::RouteRefresh => &mut self.route_refresh,
        };
        *c = c.saturating_add(n);
    }

    pub fn total(&self) -> u64 {
        [self.open, self.update, self.notification, self.keepalive, self.route_refresh]
            .iter()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }

    fn absorb(&mut self, o: &MsgCounts) {
        for (c, n) in [
            (&mut self.open, o.open),
            (&mut self.update, o.update),
            (&mut self.notification, o.notification),
            (&mut self.keepalive, o.keepalive),
            (&mut self.route_refresh, o.route_refresh),
        ] {
            *c = c.saturating_add(n);
        }
    }
}

/// Distinct (code, subcode) pairs counted per direction; further pairs (only a peer inventing
/// codes gets there) are counted together in [`NotificationCounts::other`].
pub const NOTIFICATION_KINDS: usize = 16;

/// NOTIFICATIONs by (code, subcode), for one direction. Bounded: at most
/// [`NOTIFICATION_KINDS`] pairs, whatever the peer sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    /// (code, subcode, count), in the order first seen.
    pub by_kind: Vec<(u8, u8, u64)>,
    /// NOTIFICATIONs whose pair found the table full.
    pub other: u64,
}

impl NotificationCounts {
    pub fn add(&mut self, code: u8, subcode: u8, n: u64) {
        if let Some(e) = self.by_kind.iter_mut().find(|e| e.0 == code && e.1 == subcode) {
            e.2 = e.2.saturating_add(n);
        } else if self.by_kind.len() < NOTIFICATION_KINDS {
            self.by_kind.push((code, subcode, n));
        } else {
            self.other = self.other.saturating_add(n);
        }
    }

    fn absorb(&mut self, o: &NotificationCounts) {
        for &(c, s, n) in &o.by_kind {
            self.add(c, s, n);
        }
        self.other = self.other.saturating_add(o.other);
    }
}

/// Prefix counters per family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FamilyCounts {
    pub ipv4: u64,
    pub ipv6: u64,
}

impl FamilyCounts {
    pub(crate) fn add(&mut self, v6: bool, n: u64) {
        let c = if v6 { &mut self.ipv6 } else { &mut self.ipv4 };
        *c = c.saturating_add(n);
    }

    fn absorb(&mut self, o: &FamilyCounts) {
        self.add(false, o.ipv4);
        self.add(true, o.ipv6);
    }
}

/// Counters and last events, for `status`. Fixed size: nothing here grows with what the peer
/// sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub msgs_in: MsgCounts,
    pub msgs_out: MsgCounts,
    /// Prefixes the peer announced / withdrew (treat-as-withdraw counts as withdrawn).
    pub prefixes_announced_rx: FamilyCounts,
    pub prefixes_withdrawn_rx: FamilyCounts,
    /// Prefixes we announced / withdrew.
    pub prefixes_announced_tx: FamilyCounts,
    pub prefixes_withdrawn_tx: FamilyCounts,
    /// UPDATEs handled by treat-as-withdraw or attribute discard (RFC 7606).
    pub update_errors: u64,
    pub last_notification_sent: Option<Notification>,
    pub last_notification_received: Option<Notification>,
    /// Every NOTIFICATION sent and received, by (code, subcode).
    pub notifications_sent: NotificationCounts,
    pub notifications_received: NotificationCounts,
    pub last_error: Option<String>,
    /// When the current Established period began (`None` outside Established).
    pub established_at: Option<Instant>,
    /// Times the session reached Established, and times it left it.
    pub established_count: u64,
    pub flaps: u64,
    /// ConnectRetryCounter (RFC 4271 §8.1.1).
    pub connect_retry_counter: u32,
}

impl Stats {
    /// Adds the counters of another connection to the same neighbor that is going away (a
    /// collision's loser, or the connection a promoted one replaces), so `status` counts every
    /// message exchanged with the neighbor. Its last events fill the gaps of ours, or replace
    /// them when they are `newer`. The current Established period stays ours.
    pub(super) fn absorb(&mut self, other: &Stats, newer: bool) {
        self.msgs_in.absorb(&other.msgs_in);
        self.msgs_out.absorb(&other.msgs_out);
        self.prefixes_announced_rx.absorb(&other.prefixes_announced_rx);
        self.prefixes_withdrawn_rx.absorb(&other.prefixes_withdrawn_rx);
        self.prefixes_announced_tx.absorb(&other.prefixes_announced_tx);
        self.prefixes_withdrawn_tx.absorb(&other.prefixes_withdrawn_tx);
        self.update_errors = self.update_errors.saturating_add(other.update_errors);
        self.notifications_sent.absorb(&other.notifications_sent);
        self.notifications_received.absorb(&other.notifications_received);
        self.established_count = self.established_count.saturating_add(other.established_count);
        self.flaps = self.flaps.saturating_add(other.flaps);
        self.connect_retry_counter = self.connect_retry_counter.max(other.connect_retry_counter);
        fn pick<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>, newer: bool) {
            if theirs.is_some() && (newer || mine.is_none()) {
                mine.clone_from(theirs);
            }
        }
        pick(&mut self.last_notification_sent, &other.last_notification_sent, newer);
        pick(&mut self.last_notification_received, &other.last_notification_received, newer);
        pick(&mut self.last_error, &other.last_error, newer);
    }
}
