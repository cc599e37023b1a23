//! Fuzz entry points for BFD (feature `fuzzing`, and unit tests): [`fuzz_packet`] runs
//! arbitrary octets through the codec and checks the round trip; [`fuzz_session`] turns
//! arbitrary octets into a script of events (clock steps, timers, AdminDown/Up, interval
//! changes, raw octets and well-formed peer packets signed with the right key) driven
//! through one [`Bfd`], checking invariants after every step. They panic only when an
//! invariant breaks.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]
#![allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]

use std::num::{NonZeroU32, NonZeroU8};
use std::time::{Duration, Instant};

use super::packet::{decode, AuthType, ControlPacket, Diag, State};
use super::{Action, AuthConfig, AuthState, Bfd, Event, SessionConfig, SLOW_TX};

/// Decode never panics; a decoded packet re-encodes and decodes to itself, and its octets
/// are the input's when its Length covers exactly the header and the section.
pub fn fuzz_packet(data: &[u8]) {
    let Ok(p) = decode(data) else { return };
    let b = p.encode().expect("a decoded packet encodes");
    assert_eq!(decode(&b).expect("re-encoded packet decodes"), p, "round trip");
    assert_eq!(usize::from(b[3]), b.len());
    // When the input's Length is exactly the header and section (no octets beyond them),
    // the octets are the input's, apart from the Reserved octet of digest sections (sent as
    // 0, ignored on receipt).
    let len = b.len();
    if usize::from(data[3]) != len {
        return;
    }
    let mut want = data[..len].to_vec();
    if matches!(&p.auth, Some(super::AuthSection::Digest { .. })) {
        want[27] = 0;
    }
    assert_eq!(b, want, "exact octets");
}

const OURS: u32 = 0x0a0b_0c0d;
const THEIRS: u32 = 0x0102_0304;

struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.byte()?, self.byte()?]))
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

fn auth_type(v: u8) -> Option<AuthType> {
    AuthType::from_u8(v % 6)
}

/// Runs one script; returns how many events it applied and the final state.
pub fn fuzz_session(data: &[u8]) -> (usize, State) {
    let mut s = Script(data);
    let Some(head) = s.byte() else { return (0, State::Down) };
    let auth = auth_type(head).map(|t| AuthConfig::new(t, 1, b"key".to_vec()).expect("valid key"));
    let mut peer_auth = auth.clone().map(|a| AuthState::new(a, 1000));
    let mult = NonZeroU8::new((head >> 3) % 4 + 1).expect("nonzero");
    let t0 = Instant::now();
    let mut now = t0;
    let config = SessionConfig {
        my_discriminator: NonZeroU32::new(OURS).expect("nonzero"),
        desired_min_tx: Duration::from_millis(50),
        required_min_rx: Duration::from_millis(50),
        detect_mult: mult,
        jitter_seed: u64::from(head),
    };
    let mut bfd = Bfd::new(now, config, auth.map(|a| (a, 7)));
    let mut steps = 0;
    while let Some(op) = s.byte() {
        let event = match op % 8 {
            0 => {
                now += Duration::from_micros(u64::from(s.u16().unwrap_or(0)) * 50);
                Event::Timer
            }
            1 => {
                if let Some(d) = bfd.next_deadline() {
                    now = now.max(d);
                }
                // Half the time with a slack: early transmission must keep every invariant.
                match s.byte() {
                    Some(b) if b & 1 == 1 => Event::TimerWithin(Duration::from_micros(u64::from(b) * 100)),
                    _ => Event::Timer,
                }
            }
            2 => Event::AdminDown,
            3 => Event::AdminUp,
            4 => {
                let tx = Duration::from_micros(u64::from(s.u16().unwrap_or(1)) * 10);
                let rx = Duration::from_micros(u64::from(s.u16().unwrap_or(1)) * 10);
                let detect_mult = NonZeroU8::new(s.byte().unwrap_or(3) % 8 + 1).expect("nonzero");
                Event::SetIntervals { desired_min_tx: tx, required_min_rx: rx, detect_mult }
            }
            5 => {
                let n = usize::from(s.byte().unwrap_or(0));
                Event::Received(s.take(n).to_vec())
            }
            _ => {
                let (Some(a), Some(b), Some(tx), Some(rx)) = (s.byte(), s.byte(), s.u16(), s.u16()) else {
                    break;
                };
                let state = State::from_bits(a);
                let mut p = ControlPacket {
                    version: 1,
                    diag: Diag::from_bits(a >> 2),
                    state,
                    poll: b & 1 != 0,
                    final_: b & 2 != 0 && b & 1 == 0,
                    cpi: b & 4 != 0,
                    demand: b & 8 != 0,
                    multipoint: false,
                    detect_mult: (b >> 4) % 4 + 1,
                    my_discriminator: THEIRS,
                    your_discriminator: if matches!(state, State::Down | State::AdminDown) && a & 0x80 != 0 {
                        0
                    } else {
                        OURS
                    },
                    desired_min_tx: u32::from(tx) * 100,
                    required_min_rx: if a & 0x40 != 0 { 0 } else { u32::from(rx) * 100 },
                    required_min_echo_rx: 0,
                    auth: None,
                };
                let bytes = match &mut peer_auth {
                    Some(pa) if a & 0x20 == 0 => pa.sign(&mut p).expect("signs"),
                    _ => p.encode().expect("encodes"),
                };
                Event::Received(bytes)
            }
        };
        let actions = bfd.handle(now, event);
        steps += 1;
        check(&bfd, now, &actions);
    }
    (steps, bfd.session().state())
}

fn check(bfd: &Bfd, now: Instant, actions: &[Action]) {
    let s = bfd.session();
    let heard = s.remote_discriminator() != 0;
    let watching = matches!(s.state(), State::Down | State::Init | State::Up);
    assert_eq!(s.detection_deadline().is_some(), heard && watching, "detection deadline iff heard and not AdminDown");
    if let Some(d) = bfd.next_deadline() {
        assert!(d >= now, "deadline in the past after handle");
    }
    assert!(!s.poll_active() || s.state() == State::Up, "Poll only while Up");
    let (tx, _) = s.advertised_intervals();
    assert!(s.state() == State::Up || tx >= SLOW_TX, "slow start while not Up");
    if s.tx_interval().is_some() && s.state() != State::Up {
        assert!(s.next_transmit().is_some(), "periodic transmission scheduled");
    }
    let c = bfd.counters();
    assert!(c.down <= c.up, "down transitions only from Up");
    for a in actions {
        match a {
            Action::Send(b) => {
                let p = decode(b).expect("our packets decode");
                assert!(!(p.poll && p.final_), "never P and F together");
                assert_eq!(p.my_discriminator, OURS);
                assert_eq!(p.auth.is_some(), bfd.auth().is_some());
            }
            Action::StateChange { from, to, .. } => assert_ne!(from, to),
            Action::Dropped(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_run_without_breaking_invariants() {
        let mut x: u64 = 0x1234_5678;
        for len in 0..400usize {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            fuzz_session(&data);
            fuzz_packet(&data);
        }
    }

    #[test]
    fn a_script_reaches_up() {
        // No auth, then peer Down, peer Up.
        let down = [6, 1, 0, 0x03, 0xe8, 0x01, 0xf4];
        let up = [6, 3, 0, 0x01, 0xf4, 0x01, 0xf4];
        let mut data = vec![0];
        data.extend_from_slice(&down);
        data.extend_from_slice(&up);
        assert_eq!(fuzz_session(&data), (2, State::Up));
    }
}
