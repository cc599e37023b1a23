//! The BFD session state machine (RFC 5880 §6.2, §6.8), asynchronous mode, Active role, over
//! decoded and already authenticated [`ControlPacket`]s. Owns the state variables of §6.8.1,
//! timer negotiation (§6.8.2), timer changes with Poll/Final (§6.5, §6.8.3), the Detection
//! Time (§6.8.4), the §6.8.6 state table, periodic transmission with jitter (§6.8.7) and
//! administrative control (§6.8.16). Time comes in as [`Instant`]s, packets leave as
//! [`Output::Send`] values; bytes, authentication and counters are [`super::Bfd`]'s.
//!
//! Not implemented: Demand mode of our own and the Echo function (we send D = 0 and Required
//! Min Echo RX = 0); we do honour a remote's Demand mode by ceasing periodic transmission.
//! Poll sequences are started only while Up: outside Up a new interval applies at once, since
//! the RFC's "must not change until the Poll Sequence terminated" rules only bind while Up.

use std::num::{NonZeroU32, NonZeroU8};
use std::time::{Duration, Instant};

use super::packet::{ControlPacket, Diag, State, VERSION};
use crate::splitmix::SplitMix64;

/// §6.8.3: bfd.DesiredMinTxInterval is at least one second while the session is not Up.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// Permille values drawn above 750 for the jitter (0..=150: 75–90 % of the interval).
const JITTER_SPAN: u64 = 151;

/// What a session is created with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.LocalDiscr: unique among our sessions, never zero.
    pub my_discriminator: NonZeroU32,
    /// Desired Min TX Interval once Up (at least [`SLOW_TX`] is sent while not Up).
    pub desired_min_tx: Duration,
    /// Required Min RX Interval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: NonZeroU8,
    /// Seed of the jitter generator (from the OS in the daemon, fixed in tests).
    pub jitter_seed: u64,
}

/// What the state machine asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Transmit this packet now (its authentication section is added by the caller).
    Send(ControlPacket),
    /// bfd.SessionState changed; `diag` is bfd.LocalDiag after the change.
    StateChange { from: State, to: State, diag: Diag },
}

/// One BFD session's state (RFC 5880 §6.8.1 plus the timers).
#[derive(Clone, Debug)]
pub struct Session {
    my_discriminator: u32,
    detect_mult: u8,
    cfg_tx: Duration,
    cfg_rx: Duration,
    state: State,
    remote_state: State,
    remote_discriminator: u32,
    local_diag: Diag,
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval as we advertise them.
    adv_tx: Duration,
    adv_rx: Duration,
    /// The values in force for our transmission interval and the Detection Time: they lag
    /// the advertised ones while a Poll Sequence runs (§6.8.3).
    used_tx: Duration,
    used_rx: Duration,
    poll: bool,
    remote_min_rx: Duration,
    remote_desired_tx: Duration,
    remote_detect_mult: u8,
    remote_demand: bool,
    remote_diag: Diag,
    detect_at: Option<Instant>,
    last_tx: Option<Instant>,
    next_tx: Option<Instant>,
    scheduled_interval: Option<Duration>,
    rng: SplitMix64,
}

/// A wire interval (µs) as a [`Duration`].
pub fn micros(v: u32) -> Duration {
    Duration::from_micros(u64::from(v))
}

/// A [`Duration`] as a wire interval, saturating at u32::MAX µs (≈ 71 minutes).
pub fn to_micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

impl Session {
    /// A session in Down that sends its first packet at `now`.
    pub fn new(now: Instant, config: SessionConfig) -> Self {
        let cfg_tx = config.desired_min_tx.max(Duration::from_micros(1));
        let cfg_rx = config.required_min_rx.max(Duration::from_micros(1));
        let adv_tx = cfg_tx.max(SLOW_TX);
        Session {
            my_discriminator: config.my_discriminator.get(),
            detect_mult: config.detect_mult.get(),
            cfg_tx,
            cfg_rx,
            state: State::Down,
            remote_state: State::Down,
            remote_discriminator: 0,
            local_diag: Diag::None,
            adv_tx,
            adv_rx: cfg_rx,
            used_tx: adv_tx,
            used_rx: cfg_rx,
            poll: false,
            // §6.8.1: bfd.RemoteMinRxInterval starts at 1 µs.
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_demand: false,
            remote_diag: Diag::None,
            detect_at: None,
            last_tx: None,
            next_tx: Some(now),
            scheduled_interval: None,
            rng: SplitMix64::new(config.jitter_seed),
        }
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.RemoteSessionState.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// bfd.LocalDiag.
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }

    /// bfd.LocalDiscr.
    pub fn my_discriminator(&self) -> u32 {
        self.my_discriminator
    }

    /// bfd.RemoteDiscr (0 while nothing valid was heard within a Detection Time).
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discriminator
    }

    /// The Diagnostic of the remote's last accepted packet.
    pub fn remote_diag(&self) -> Diag {
        self.remote_diag
    }

    /// The remote's Required Min RX Interval, Desired Min TX Interval and Detect Mult from its
    /// last accepted packet (1 µs, 0 and 0 before any).
    pub fn remote_intervals(&self) -> (Duration, Duration, u8) {
        (self.remote_min_rx, self.remote_desired_tx, self.remote_detect_mult)
    }

    /// Whether a Poll Sequence is running.
    pub fn poll_active(&self) -> bool {
        self.poll
    }

    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval as advertised now.
    pub fn advertised_intervals(&self) -> (Duration, Duration) {
        (self.adv_tx, self.adv_rx)
    }

    /// §6.8.2: the negotiated transmission interval before jitter, max(our Desired Min TX
    /// in force, the remote's Required Min RX); `None` while periodic transmission is off
    /// (remote Required Min RX 0, or the remote's Demand mode, §6.8.7).
    pub fn tx_interval(&self) -> Option<Duration> {
        let demand = self.remote_demand && self.state == State::Up && self.remote_state == State::Up && !self.poll;
        (!self.remote_min_rx.is_zero() && !demand).then(|| self.used_tx.max(self.remote_min_rx))
    }

    /// §6.8.4, asynchronous mode: the remote's Detect Mult × max(our Required Min RX in
    /// force, the remote's Desired Min TX); `None` before anything was heard.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult != 0)
            .then(|| self.used_rx.max(self.remote_desired_tx).saturating_mul(u32::from(self.remote_detect_mult)))
    }

    /// When the remote is declared silent, if it is being watched.
    pub fn detection_deadline(&self) -> Option<Instant> {
        self.detect_at
    }

    /// When the next periodic packet leaves.
    pub fn next_transmit(&self) -> Option<Instant> {
        self.next_tx
    }

    /// The earliest instant at which [`Session::timer`] has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.detect_at, self.next_tx) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A received packet that passed every check of §6.8.6 up to and including
    /// authentication: the rest of §6.8.6, in order.
    pub fn receive(&mut self, now: Instant, p: &ControlPacket, out: &mut Vec<Output>) {
        self.remote_discriminator = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_demand = p.demand;
        self.remote_min_rx = micros(p.required_min_rx);
        self.remote_desired_tx = micros(p.desired_min_tx);
        self.remote_detect_mult = p.detect_mult;
        self.remote_diag = p.diag;
        // §6.5: a Final ends our Poll Sequence; the new values take effect (§6.8.3).
        if p.final_ && self.poll {
            self.poll = false;
            self.used_tx = self.adv_tx;
            self.used_rx = self.adv_rx;
        }
        if self.state == State::AdminDown {
            self.reschedule(now);
            return;
        }
        if p.state == State::AdminDown {
            if self.state != State::Down {
                self.set_state(now, State::Down, Diag::NeighborSignaledSessionDown, out);
            }
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => self.set_state(now, State::Init, self.local_diag, out),
                (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                    self.set_state(now, State::Up, self.local_diag, out)
                }
                (State::Up, State::Down) => self.set_state(now, State::Down, Diag::NeighborSignaledSessionDown, out),
                _ => {}
            }
        }
        // §6.8.4: the packet counts as received for the Detection Time.
        self.detect_at = self.detection_time().map(|d| later(now, d));
        // §6.8.6: a Poll is answered with a Final at once, regardless of the transmit timer;
        // P and F are never set together (§6.8.7).
        if p.poll {
            let mut f = self.packet();
            f.poll = false;
            f.final_ = true;
            out.push(Output::Send(f));
        }
        self.reschedule(now);
    }

    /// Everything due at `now`: the Detection Time and periodic transmission.
    pub fn timer(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.detect_at.is_some_and(|t| t <= now) {
            self.detect_at = None;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(now, State::Down, Diag::ControlDetectionTimeExpired, out);
            }
            // §6.8.1: bfd.RemoteDiscr is zeroed when the Detection Time passes in silence;
            // the remote's other variables go back to their initial values.
            self.remote_discriminator = 0;
            self.remote_state = State::Down;
            self.remote_min_rx = Duration::from_micros(1);
            self.remote_demand = false;
            self.remote_detect_mult = 0;
            self.remote_desired_tx = Duration::ZERO;
            self.reschedule(now);
        }
        if self.next_tx.is_some_and(|t| t <= now) {
            out.push(Output::Send(self.packet()));
            self.last_tx = Some(now);
            self.next_tx = None;
            self.scheduled_interval = None;
            self.reschedule(now);
        }
    }

    /// Sends the next periodic packet now if it is due within `slack` and the interval since
    /// the last one is already at least 75 % of the transmission interval (§6.8.7's lower
    /// bound): a transport serving several sessions at one wake-up sends early what it would
    /// otherwise wake for again a moment later. Never earlier than the RFC allows, never
    /// later than planned; true when a packet was sent.
    pub fn transmit_early(&mut self, now: Instant, slack: Duration, out: &mut Vec<Output>) -> bool {
        let (Some(next), Some(iv)) = (self.next_tx, self.tx_interval()) else { return false };
        let floor = self.last_tx.map(|l| later(l, iv.saturating_mul(3).checked_div(4).unwrap_or(iv)));
        if next > later(now, slack) || floor.is_some_and(|f| now < f) {
            return false;
        }
        out.push(Output::Send(self.packet()));
        self.last_tx = Some(now);
        self.next_tx = None;
        self.scheduled_interval = None;
        self.reschedule(now);
        true
    }

    /// §6.8.16: the session goes to AdminDown with Diag 7 and keeps sending AdminDown
    /// packets at the slow rate; received packets are discarded.
    pub fn admin_down(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.state != State::AdminDown {
            self.set_state(now, State::AdminDown, Diag::AdministrativelyDown, out);
            self.detect_at = None;
            out.push(Output::Send(self.packet()));
            self.last_tx = Some(now);
            self.scheduled_interval = None;
            self.reschedule(now);
        }
    }

    /// §6.8.16: back to Down; the remote is learned afresh from its next packet.
    pub fn admin_up(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.state == State::AdminDown {
            self.remote_discriminator = 0;
            self.remote_state = State::Down;
            self.remote_detect_mult = 0;
            self.set_state(now, State::Down, self.local_diag, out);
        }
    }

    /// New configured intervals and multiplier (§6.8.3): while Up a Poll Sequence announces
    /// them; a longer TX interval and a shorter RX interval take effect only after the Final.
    pub fn set_intervals(
        &mut self,
        now: Instant,
        desired_min_tx: Duration,
        required_min_rx: Duration,
        mult: NonZeroU8,
    ) {
        self.cfg_tx = desired_min_tx.max(Duration::from_micros(1));
        self.cfg_rx = required_min_rx.max(Duration::from_micros(1));
        self.detect_mult = mult.get();
        self.update_intervals();
        self.reschedule(now);
    }

    fn set_state(&mut self, now: Instant, to: State, diag: Diag, out: &mut Vec<Output>) {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        if to != State::Up {
            self.poll = false;
        }
        out.push(Output::StateChange { from, to, diag });
        self.update_intervals();
        self.reschedule(now);
        // The remote hears of the change at once, not at the (slow, while not Up) pace: a
        // router in Init that waits a whole slow interval for our Up gives up (FRR's bfdd
        // does after ~0.3 s, seen in the lab), and our Down tells it why we went.
        if to != State::AdminDown && self.tx_interval().is_some() {
            self.next_tx = Some(now);
        }
    }

    /// Recomputes bfd.DesiredMinTxInterval (slow while not Up) and bfd.RequiredMinRxInterval
    /// and applies §6.8.3.
    fn update_intervals(&mut self) {
        let tx = if self.state == State::Up { self.cfg_tx } else { self.cfg_tx.max(SLOW_TX) };
        let rx = self.cfg_rx;
        if tx == self.adv_tx && rx == self.adv_rx {
            return;
        }
        self.adv_tx = tx;
        self.adv_rx = rx;
        if self.state == State::Up {
            self.poll = true;
            if tx < self.used_tx {
                self.used_tx = tx;
            }
            if rx > self.used_rx {
                self.used_rx = rx;
            }
        } else {
            self.used_tx = tx;
            self.used_rx = rx;
        }
    }

    /// Keeps the periodic transmission in step with the negotiated interval: off when
    /// §6.8.7 forbids it, re-timed from the last packet when the interval changed.
    fn reschedule(&mut self, now: Instant) {
        let Some(iv) = self.tx_interval() else {
            self.next_tx = None;
            self.scheduled_interval = None;
            return;
        };
        let pending = self.next_tx.is_some();
        let slower = self.scheduled_interval.is_some_and(|s| iv >= s);
        self.scheduled_interval = Some(iv);
        // A longer interval (a state change to Down, a Final) leaves the packet already
        // scheduled where it is, so the remote hears of the change at the old pace; only
        // the packets after it are spaced by the new interval.
        if pending && slower {
            return;
        }
        let gap = self.jittered(iv);
        self.next_tx = Some(match self.last_tx {
            Some(t) => later(t, gap).max(now),
            None => now,
        });
    }

    /// §6.8.7: the interval reduced by a random 0–25 % (10–25 % when Detect Mult is 1). We
    /// always draw 10–25 % (75–90 % of the interval): the RFC's range, less its top tenth,
    /// which a packet sent a millisecond or two late (timer rounding, a busy CPU) would push
    /// past 100 % — measured in the lab with the full range: 7–13 % of the gaps at 50 ms were
    /// over 50 ms.
    pub fn jittered(&mut self, iv: Duration) -> Duration {
        let permille = 750u64.saturating_add(self.rng.next_u64().checked_rem(JITTER_SPAN).unwrap_or(0));
        let nanos = iv.as_nanos().saturating_mul(u128::from(permille)).checked_div(1000).unwrap_or(0);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The periodic packet of §6.8.7 as things stand.
    fn packet(&self) -> ControlPacket {
        ControlPacket {
            version: VERSION,
            diag: self.local_diag,
            state: self.state,
            poll: self.poll,
            final_: false,
            cpi: false,
            demand: false,
            multipoint: false,
            detect_mult: self.detect_mult,
            my_discriminator: self.my_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx: to_micros(self.adv_tx),
            required_min_rx: to_micros(self.adv_rx),
            required_min_echo_rx: 0,
            auth: None,
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
