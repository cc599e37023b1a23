//! [`Bfd`]: one BFD session as the transport drives it: octets in, octets out. It owns the
//! [`Session`] state machine, the session's [`AuthState`] and its counters, and runs the
//! receive checks of RFC 5880 §6.8.6 that need the session (Your Discriminator, the A bit
//! against our authentication, §6.7 verification) before the state machine sees a packet.
//! No I/O: the caller sends [`Action::Send`] octets and calls [`Bfd::handle`] with
//! [`Event::Timer`] at [`Bfd::next_deadline`].
//!
//! Check order: the codec ([`super::decode`]) runs the packet-only checks and parses the
//! authentication section's structure, so a malformed section is counted before a wrong
//! Your Discriminator; every other check runs in the RFC's order.

use std::collections::BTreeMap;
use std::num::NonZeroU8;
use std::time::{Duration, Instant};

use super::auth::{AuthConfig, AuthState};
use super::packet::{decode, ControlPacket, Diag, Drop, State};
use super::session::{Output, Session, SessionConfig};

/// What happens to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A UDP payload that arrived for this session (the transport demultiplexes by Your
    /// Discriminator, or by addresses while it is zero, §6.3).
    Received(Vec<u8>),
    /// The clock reached [`Bfd::next_deadline`] (early or late calls are harmless).
    Timer,
    /// As [`Event::Timer`], and the next periodic packet goes now if it is due within this
    /// slack and §6.8.7's 75 % floor allows ([`Session::transmit_early`]).
    TimerWithin(Duration),
    /// §6.8.16: take the session administratively down.
    AdminDown,
    /// §6.8.16: enable it again.
    AdminUp,
    /// New intervals / multiplier from configuration (a Poll Sequence while Up).
    SetIntervals { desired_min_tx: Duration, required_min_rx: Duration, detect_mult: NonZeroU8 },
}

/// What the caller must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Transmit these octets (signed when authentication is configured).
    Send(Vec<u8>),
    /// bfd.SessionState changed; `diag` is the Diagnostic now sent.
    StateChange { from: State, to: State, diag: Diag },
    /// A received payload was discarded (already counted).
    Dropped(Drop),
}

/// Counters for status and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Packets accepted by every check.
    pub packets_in: u64,
    /// Packets handed to the transport.
    pub packets_out: u64,
    /// Discarded payloads by reason.
    pub drops: BTreeMap<Drop, u64>,
    /// Transitions into Up.
    pub up: u64,
    /// Transitions out of Up.
    pub down: u64,
}

/// One BFD session with its authentication and counters.
#[derive(Clone, Debug)]
pub struct Bfd {
    session: Session,
    auth: Option<AuthState>,
    counters: Counters,
    /// §6.8.1: bfd.AuthSeqKnown is forgotten after twice the Detection Time in silence.
    forget_seq_at: Option<Instant>,
}

impl Bfd {
    /// A session in Down that sends its first packet at `now`. `auth` is the configured
    /// authentication and the starting bfd.XmitAuthSeq (random in the daemon).
    pub fn new(now: Instant, config: SessionConfig, auth: Option<(AuthConfig, u32)>) -> Self {
        Bfd {
            session: Session::new(now, config),
            auth: auth.map(|(c, seq)| AuthState::new(c, seq)),
            counters: Counters::default(),
            forget_seq_at: None,
        }
    }

    /// The state machine, for status (state, intervals, detection time, discriminators).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The authentication state, if configured.
    pub fn auth(&self) -> Option<&AuthState> {
        self.auth.as_ref()
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// When to call [`Bfd::handle`] with [`Event::Timer`] next.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.session.next_deadline(), self.forget_seq_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feeds one event. Deadlines at or before `now` are served first, so a late timer
    /// never lets a packet arrive "before" a Detection Time that already passed.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        let mut actions = Vec::new();
        self.timers(now, &mut out);
        match event {
            Event::Timer => {}
            Event::TimerWithin(slack) => {
                self.session.transmit_early(now, slack, &mut out);
            }
            Event::Received(raw) => match self.check(&raw) {
                Ok(p) => {
                    self.counters.packets_in = self.counters.packets_in.saturating_add(1);
                    self.session.receive(now, &p, &mut out);
                    if self.auth.as_ref().is_some_and(AuthState::seq_known) {
                        let twice = self.session.detection_time().map(|d| d.saturating_mul(2));
                        self.forget_seq_at = twice.and_then(|d| now.checked_add(d));
                    }
                }
                Err(d) => {
                    let n = self.counters.drops.entry(d).or_default();
                    *n = n.saturating_add(1);
                    actions.push(Action::Dropped(d));
                }
            },
            Event::AdminDown => self.session.admin_down(now, &mut out),
            Event::AdminUp => self.session.admin_up(now, &mut out),
            Event::SetIntervals { desired_min_tx, required_min_rx, detect_mult } => {
                self.session.set_intervals(now, desired_min_tx, required_min_rx, detect_mult)
            }
        }
        // A state change asks for a packet at once: it leaves in this call.
        if self.session.next_transmit().is_some_and(|t| t <= now) {
            self.session.timer(now, &mut out);
        }
        for o in out {
            match o {
                Output::Send(mut p) => {
                    let bytes = match &mut self.auth {
                        Some(a) => a.sign(&mut p),
                        None => p.encode(),
                    };
                    // Our own packets always encode (validated keys, no password > 16).
                    if let Ok(b) = bytes {
                        self.counters.packets_out = self.counters.packets_out.saturating_add(1);
                        actions.push(Action::Send(b));
                    }
                }
                Output::StateChange { from, to, diag } => {
                    if to == State::Up {
                        self.counters.up = self.counters.up.saturating_add(1);
                    } else if from == State::Up {
                        self.counters.down = self.counters.down.saturating_add(1);
                    }
                    actions.push(Action::StateChange { from, to, diag });
                }
            }
        }
        actions
    }

    fn timers(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.forget_seq_at.is_some_and(|t| t <= now) {
            self.forget_seq_at = None;
            if let Some(a) = &mut self.auth {
                a.forget_seq();
            }
        }
        self.session.timer(now, out);
    }

    /// §6.8.6 from the Your Discriminator check on, then §6.7.
    fn check(&mut self, raw: &[u8]) -> Result<ControlPacket, Drop> {
        let p = decode(raw)?;
        if p.your_discriminator != 0 && p.your_discriminator != self.session.my_discriminator() {
            return Err(Drop::UnknownYourDiscriminator);
        }
        match (&mut self.auth, p.auth.is_some()) {
            (None, true) => Err(Drop::AuthUnexpected),
            (Some(_), false) => Err(Drop::AuthMissing),
            (None, false) => Ok(p),
            (Some(a), true) => a.verify(raw, &p).map(|()| p),
        }
    }
}
