//! Transition and timer tests, driven through [`crate::bfd::Bfd`] with encoded packets.

use std::num::{NonZeroU32, NonZeroU8};
use std::time::{Duration, Instant};

use super::*;
use crate::bfd::packet::{decode, AuthType, Drop};
use crate::bfd::testkit::up_packet;
use crate::bfd::{Action, AuthConfig, Bfd, Event};

const OURS: u32 = 0x0a0b_0c0d;
const THEIRS: u32 = 0x0102_0304;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn config(disc: u32, iv: u64, mult: u8, seed: u64) -> SessionConfig {
    SessionConfig {
        my_discriminator: NonZeroU32::new(disc).unwrap(),
        desired_min_tx: ms(iv),
        required_min_rx: ms(iv),
        detect_mult: NonZeroU8::new(mult).unwrap(),
        jitter_seed: seed,
    }
}

fn new(t: Instant) -> Bfd {
    Bfd::new(t, config(OURS, 50, 3, 1), None)
}

/// A packet from the peer in `state`; Your Discriminator 0 in Down/AdminDown.
fn peer(state: State) -> ControlPacket {
    let mut p = up_packet();
    p.state = state;
    if matches!(state, State::Down | State::AdminDown) {
        p.your_discriminator = 0;
    }
    p
}

fn rx(b: &mut Bfd, t: Instant, p: &ControlPacket) -> Vec<Action> {
    b.handle(t, Event::Received(p.encode().unwrap()))
}

fn sent(a: &[Action]) -> Vec<ControlPacket> {
    a.iter()
        .filter_map(|a| match a {
            Action::Send(b) => Some(decode(b).unwrap()),
            _ => None,
        })
        .collect()
}

fn changes(a: &[Action]) -> Vec<(State, State, Diag)> {
    a.iter()
        .filter_map(|a| match a {
            Action::StateChange { from, to, diag } => Some((*from, *to, *diag)),
            _ => None,
        })
        .collect()
}

/// A session brought to `state` at `t`.
fn session_in(t: Instant, state: State) -> Bfd {
    let mut b = new(t);
    b.handle(t, Event::Timer);
    match state {
        State::Down => {}
        State::Init => {
            rx(&mut b, t, &peer(State::Down));
        }
        State::Up => {
            rx(&mut b, t, &peer(State::Down));
            rx(&mut b, t, &peer(State::Up));
        }
        State::AdminDown => {
            b.handle(t, Event::AdminDown);
        }
    }
    assert_eq!(b.session().state(), state);
    b
}

#[test]
fn a_new_session_sends_down_at_once_with_slow_tx() {
    let t = Instant::now();
    let mut b = new(t);
    let p = sent(&b.handle(t, Event::Timer));
    assert_eq!(p.len(), 1);
    let p = p.first().unwrap();
    assert_eq!((p.state, p.your_discriminator, p.my_discriminator), (State::Down, 0, OURS));
    assert_eq!((p.desired_min_tx, p.required_min_rx, p.detect_mult), (1_000_000, 50_000, 3));
    assert_eq!(b.session().detection_deadline(), None);
    // Next packet 0.75–1 s later (slow start).
    let next = b.session().next_transmit().unwrap() - t;
    assert!(next >= ms(750) && next <= ms(1000), "{next:?}");
}

/// The §6.8.6 table: (our state, received state) → (new state, Diag of the change).
#[test]
fn state_table() {
    use State::*;
    let table = [
        (Down, AdminDown, None),
        (Down, Down, Some((Init, Diag::None))),
        (Down, Init, Some((Up, Diag::None))),
        (Down, Up, None),
        (Init, AdminDown, Some((Down, Diag::NeighborSignaledSessionDown))),
        (Init, Down, None),
        (Init, Init, Some((Up, Diag::None))),
        (Init, Up, Some((Up, Diag::None))),
        (Up, AdminDown, Some((Down, Diag::NeighborSignaledSessionDown))),
        (Up, Down, Some((Down, Diag::NeighborSignaledSessionDown))),
        (Up, Init, None),
        (Up, Up, None),
        (AdminDown, AdminDown, None),
        (AdminDown, Down, None),
        (AdminDown, Init, None),
        (AdminDown, Up, None),
    ];
    for (ours, theirs, want) in table {
        let t = Instant::now();
        let mut b = session_in(t, ours);
        let a = rx(&mut b, t + ms(1), &peer(theirs));
        let got = changes(&a);
        match want {
            None => {
                assert!(got.is_empty(), "{ours:?} + {theirs:?}: {got:?}");
                assert_eq!(b.session().state(), ours);
            }
            Some((to, diag)) => assert_eq!(got, [(ours, to, diag)], "{ours:?} + {theirs:?}"),
        }
        assert_eq!(
            b.counters().packets_in,
            if ours == Up {
                3
            } else if ours == Init {
                2
            } else {
                1
            }
        );
    }
}

#[test]
fn admin_down_and_up() {
    let t = Instant::now();
    let mut b = session_in(t, State::Up);
    let a = b.handle(t + ms(1), Event::AdminDown);
    assert_eq!(changes(&a), [(State::Up, State::AdminDown, Diag::AdministrativelyDown)]);
    let p = sent(&a);
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].state, p[0].diag, p[0].desired_min_tx), (State::AdminDown, Diag::AdministrativelyDown, 1_000_000));
    assert_eq!(b.session().detection_deadline(), None);
    assert_eq!(b.counters().down, 1);
    // Keeps sending AdminDown at the slow rate; no detection.
    let a = b.handle(t + ms(1100), Event::Timer);
    assert_eq!(sent(&a).first().map(|p| p.state), Some(State::AdminDown));
    assert!(changes(&b.handle(t + Duration::from_secs(60), Event::Timer)).is_empty());
    let a = b.handle(t + Duration::from_secs(61), Event::AdminUp);
    assert_eq!(changes(&a), [(State::AdminDown, State::Down, Diag::AdministrativelyDown)]);
    assert_eq!(b.session().remote_discriminator(), 0);
    // And comes up again.
    rx(&mut b, t + Duration::from_secs(62), &peer(State::Init));
    assert_eq!(b.session().state(), State::Up);
}

#[test]
fn detection_time_expiry() {
    let t = Instant::now();
    let mut b = session_in(t, State::Up);
    // Remote: mult 3, desired TX 50 ms; ours RX 50 ms → 150 ms.
    assert_eq!(b.session().detection_time(), Some(ms(150)));
    let t1 = t + ms(10);
    rx(&mut b, t1, &peer(State::Up));
    assert_eq!(b.session().detection_deadline(), Some(t1 + ms(150)));
    assert!(changes(&b.handle(t1 + ms(149), Event::Timer)).is_empty());
    let a = b.handle(t1 + ms(150), Event::Timer);
    assert_eq!(changes(&a), [(State::Up, State::Down, Diag::ControlDetectionTimeExpired)]);
    assert_eq!(b.session().remote_discriminator(), 0);
    assert_eq!(b.session().detection_deadline(), None);
    assert_eq!(b.counters().down, 1);
    // Down packets go out at the slow rate again, with the Diagnostic.
    let a = b.handle(t1 + ms(2000), Event::Timer);
    let p = sent(&a);
    assert_eq!((p[0].state, p[0].diag, p[0].your_discriminator), (State::Down, Diag::ControlDetectionTimeExpired, 0));
    assert_eq!(p[0].desired_min_tx, 1_000_000);
}

#[test]
fn detection_uses_the_larger_of_our_rx_and_their_tx() {
    let t = Instant::now();
    let mut b = session_in(t, State::Up);
    let mut p = peer(State::Up);
    p.desired_min_tx = 300_000;
    p.detect_mult = 5;
    rx(&mut b, t, &p);
    assert_eq!(b.session().detection_time(), Some(ms(1500)));
}

#[test]
fn detection_in_init_and_silence_in_down_forget_the_remote() {
    let t = Instant::now();
    let mut b = session_in(t, State::Init);
    // A peer still in Down advertises the slow 1 s.
    let mut p = peer(State::Down);
    p.desired_min_tx = 1_000_000;
    rx(&mut b, t, &p);
    assert_eq!(b.session().detection_time(), Some(ms(3000)));
    let a = b.handle(t + ms(3000), Event::Timer);
    assert_eq!(changes(&a), [(State::Init, State::Down, Diag::ControlDetectionTimeExpired)]);
    let mut b = session_in(t, State::Down);
    rx(&mut b, t, &peer(State::Up)); // heard, but Down + Up stays Down
    assert_eq!(b.session().remote_discriminator(), THEIRS);
    assert!(b.session().detection_deadline().is_some());
    assert!(changes(&b.handle(t + ms(150), Event::Timer)).is_empty());
    assert_eq!(b.session().remote_discriminator(), 0);
}

#[test]
fn poll_is_answered_with_final_at_once() {
    let t = Instant::now();
    let mut b = session_in(t, State::Up);
    let mut p = peer(State::Up);
    p.poll = true;
    let a = rx(&mut b, t + ms(3), &p);
    let f = sent(&a);
    assert_eq!(f.len(), 1);
    assert!(f[0].final_ && !f[0].poll);
    assert_eq!(f[0].your_discriminator, THEIRS);
}

#[test]
fn going_up_starts_a_poll_with_the_fast_interval() {
    let t = Instant::now();
    let mut b = session_in(t, State::Up);
    assert!(b.session().poll_active());
    assert_eq!(b.session().advertised_intervals(), (ms(50), ms(50)));
    // A decrease of TX applies at once: the next packet is 37.5–50 ms after the last.
    let next = b.session().next_transmit().unwrap();
    assert!(next <= t + ms(50), "{:?}", next - t);
    let p = sent(&b.handle(next, Event::Timer));
    assert!(p[0].poll && !p[0].final_);
    assert_eq!(p[0].desired_min_tx, 50_000);
    let mut f = peer(State::Up);
    f.final_ = true;
    rx(&mut b, next, &f);
    assert!(!b.session().poll_active());
    let p = sent(&b.handle(b.session().next_transmit().unwrap(), Event::Timer));
    assert!(!p[0].poll);
}

fn up_after_final(t: Instant) -> Bfd {
    let mut b = session_in(t, State::Up);
    let mut f = peer(State::Up);
    f.final_ = true;
    rx(&mut b, t, &f);
    assert!(!b.session().poll_active());
    b
}

fn set(b: &mut Bfd, t: Instant, tx: u64, rx: u64) {
    let detect_mult = NonZeroU8::new(3).unwrap();
    b.handle(t, Event::SetIntervals { desired_min_tx: ms(tx), required_min_rx: ms(rx), detect_mult });
}

#[test]
fn a_tx_increase_waits_for_the_final() {
    let t = Instant::now();
    let mut b = up_after_final(t);
    set(&mut b, t, 200, 50);
    assert!(b.session().poll_active());
    assert_eq!(b.session().advertised_intervals().0, ms(200));
    assert_eq!(b.session().tx_interval(), Some(ms(50)), "old interval until the Final");
    let mut f = peer(State::Up);
    f.final_ = true;
    rx(&mut b, t + ms(5), &f);
    assert_eq!(b.session().tx_interval(), Some(ms(200)));
}

#[test]
fn an_rx_decrease_waits_for_the_final_an_increase_does_not() {
    let t = Instant::now();
    let mut b = up_after_final(t);
    set(&mut b, t, 50, 20);
    let mut p = peer(State::Up);
    p.desired_min_tx = 10_000;
    rx(&mut b, t, &p);
    assert_eq!(b.session().detection_time(), Some(ms(150)), "old RX 50 ms until the Final");
    p.final_ = true;
    rx(&mut b, t, &p);
    assert_eq!(b.session().detection_time(), Some(ms(60)));
    set(&mut b, t, 50, 100);
    assert_eq!(b.session().detection_time(), Some(ms(300)), "an increase applies at once");
}

#[test]
fn a_poll_is_not_started_outside_up() {
    let t = Instant::now();
    let mut b = session_in(t, State::Init);
    set(&mut b, t, 20, 20);
    assert!(!b.session().poll_active());
    assert_eq!(b.session().advertised_intervals(), (SLOW_TX, ms(20)));
}

#[test]
fn slow_start_while_not_up_and_down_again() {
    let t = Instant::now();
    let mut b = session_in(t, State::Up);
    let a = rx(&mut b, t, &peer(State::Down));
    assert_eq!(changes(&a), [(State::Up, State::Down, Diag::NeighborSignaledSessionDown)]);
    assert_eq!(b.session().advertised_intervals().0, SLOW_TX);
    assert!(b.session().tx_interval().unwrap() >= SLOW_TX);
}

#[test]
fn remote_min_rx_zero_stops_periodic_transmission() {
    let t = Instant::now();
    let mut b = up_after_final(t);
    let mut p = peer(State::Up);
    p.required_min_rx = 0;
    rx(&mut b, t, &p);
    assert_eq!(b.session().next_transmit(), None);
    assert!(sent(&b.handle(t + ms(500), Event::Timer)).is_empty());
    // A Poll is still answered.
    p.poll = true;
    assert_eq!(sent(&rx(&mut b, t + ms(600), &p)).len(), 1);
    p.poll = false;
    p.required_min_rx = 50_000;
    rx(&mut b, t + ms(700), &p);
    assert!(b.session().next_transmit().is_some());
}

#[test]
fn remote_demand_mode_stops_periodic_transmission() {
    let t = Instant::now();
    let mut b = up_after_final(t);
    let mut p = peer(State::Up);
    p.demand = true;
    rx(&mut b, t, &p);
    assert_eq!(b.session().next_transmit(), None);
}

#[test]
fn the_remote_required_rx_sets_our_interval() {
    let t = Instant::now();
    let mut b = up_after_final(t);
    let mut p = peer(State::Up);
    p.required_min_rx = 300_000;
    rx(&mut b, t, &p);
    assert_eq!(b.session().tx_interval(), Some(ms(300)));
}

fn jitter_bounds(mult: u8, lo: u64, hi: u64) {
    let t = Instant::now();
    let mut s = Session::new(t, config(OURS, 50, mult, 42));
    let (mut min, mut max) = (Duration::MAX, Duration::ZERO);
    for _ in 0..20_000 {
        let j = s.jittered(ms(1000));
        min = min.min(j);
        max = max.max(j);
    }
    assert!(min >= ms(lo) && min < ms(lo + 5), "{min:?}");
    assert!(max <= ms(hi) && max > ms(hi - 5), "{max:?}");
}

/// 75–90 % whatever the multiplier: within §6.8.7's 75–100 % (and the 75–90 % it requires
/// for Detect Mult 1), with the top tenth left for a packet that leaves a little late.
#[test]
fn jitter_is_75_to_90_percent() {
    jitter_bounds(3, 750, 900);
    jitter_bounds(1, 750, 900);
}

#[test]
fn periodic_gaps_stay_within_jitter() {
    let t = Instant::now();
    let mut b = up_after_final(t);
    let mut fed = t;
    let mut times = Vec::new();
    while times.len() < 500 {
        let now = b.next_deadline().unwrap();
        let mut a = b.handle(now, Event::Timer);
        if now - fed >= ms(40) {
            fed = now;
            a.extend(rx(&mut b, now, &peer(State::Up))); // keep the detection timer fed
        }
        if !sent(&a).is_empty() {
            times.push(now);
        }
    }
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= ms(37) + Duration::from_micros(500) && gap <= ms(45), "{gap:?}");
    }
}

#[test]
fn session_level_drops_are_counted() {
    let t = Instant::now();
    let mut b = session_in(t, State::Up);
    let mut p = peer(State::Up);
    p.your_discriminator = 99;
    assert_eq!(rx(&mut b, t, &p), [Action::Dropped(Drop::UnknownYourDiscriminator)]);
    let mut p = peer(State::Up);
    p.auth = Some(crate::bfd::AuthSection::SimplePassword { key_id: 1, password: b"x".to_vec() });
    assert_eq!(rx(&mut b, t, &p), [Action::Dropped(Drop::AuthUnexpected)]);
    assert_eq!(b.handle(t, Event::Received(vec![1, 2, 3])), [Action::Dropped(Drop::Truncated)]);
    let mut a =
        Bfd::new(t, config(OURS, 50, 3, 1), Some((AuthConfig::new(AuthType::KeyedMd5, 1, b"k".to_vec()).unwrap(), 0)));
    assert!(rx(&mut a, t, &peer(State::Down)).contains(&Action::Dropped(Drop::AuthMissing)));
    assert_eq!(b.counters().drops.get(&Drop::UnknownYourDiscriminator), Some(&1));
    assert_eq!(b.counters().drops.values().sum::<u64>(), 3);
}

/// Two sessions wired back to back with a one-way delay of 1 ms; `deliver(from_a, at)`
/// decides whether a packet gets through. Runs until `end`.
fn simulate(
    a: &mut Bfd,
    b: &mut Bfd,
    t: Instant,
    end: Instant,
    deliver: impl Fn(bool, Instant) -> bool,
) -> Vec<(bool, Instant, Action)> {
    let mut log = Vec::new();
    let mut queue: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
    let mut now = t;
    while now < end {
        let next_pkt = queue.iter().map(|q| q.0).min();
        let next = [a.next_deadline(), b.next_deadline(), next_pkt].into_iter().flatten().min().unwrap();
        now = next.max(now);
        let mut step = |x: &mut Bfd, is_a: bool, ev: Event, q: &mut Vec<(Instant, bool, Vec<u8>)>| {
            for act in x.handle(now, ev) {
                if let Action::Send(bytes) = &act {
                    if deliver(is_a, now) {
                        q.push((now + ms(1), is_a, bytes.clone()));
                    }
                }
                log.push((is_a, now, act));
            }
        };
        let (due, rest): (Vec<_>, Vec<_>) = queue.drain(..).partition(|q| q.0 <= now);
        queue = rest;
        for (_, from_a, bytes) in due {
            if from_a {
                step(b, false, Event::Received(bytes), &mut queue);
            } else {
                step(a, true, Event::Received(bytes), &mut queue);
            }
        }
        step(a, true, Event::Timer, &mut queue);
        step(b, false, Event::Timer, &mut queue);
    }
    log
}

fn pair(t: Instant, auth: Option<(AuthType, &[u8], &[u8])>) -> (Bfd, Bfd) {
    let key = |k: &[u8]| auth.map(|(ty, _, _)| (AuthConfig::new(ty, 1, k.to_vec()).unwrap(), 77));
    let a = Bfd::new(t, config(1, 50, 3, 1), key(auth.map_or(&b""[..], |x| x.1)));
    let b = Bfd::new(t, config(2, 50, 3, 2), key(auth.map_or(&b""[..], |x| x.2)));
    (a, b)
}

#[test]
fn back_to_back_sessions_come_up_and_detect_silence() {
    let t = Instant::now();
    let (mut a, mut b) = pair(t, None);
    let cut = t + Duration::from_secs(10);
    let log = simulate(&mut a, &mut b, t, t + Duration::from_secs(12), |from_a, at| !(from_a && at >= cut));
    let up = |side: bool| {
        log.iter().find(|(s, _, act)| *s == side && matches!(act, Action::StateChange { to: State::Up, .. }))
    };
    let (_, up_a, _) = up(true).expect("a comes up");
    let (_, up_b, _) = up(false).expect("b comes up");
    assert!(*up_a < t + Duration::from_secs(3) && *up_b < t + Duration::from_secs(3));
    // After the poll, both run at 50 ms: detection time 150 ms.
    assert_eq!(b.session().detection_time(), None, "b forgot a after detecting it");
    let down = log
        .iter()
        .find(|(s, at, act)| !*s && *at >= cut && matches!(act, Action::StateChange { from: State::Up, .. }))
        .expect("b detects a's silence");
    let Action::StateChange { diag, .. } = &down.2 else { unreachable!() };
    assert_eq!(*diag, Diag::ControlDetectionTimeExpired);
    // a's last packet left at most 50 ms before the cut and arrived 1 ms later; b declares
    // it dead 150 ms after that arrival.
    assert!(down.1 - cut <= ms(151), "{:?}", down.1 - cut);
    // a sees b go Down through b's Diag/State (Neighbor Signaled Session Down) or its own
    // detection — b's packets still reach a.
    assert!(log.iter().any(|(s, at, act)| *s
        && *at >= cut
        && matches!(
            act,
            Action::StateChange { from: State::Up, to: State::Down, diag: Diag::NeighborSignaledSessionDown }
        )));
    assert!(a.counters().packets_out > 150 && b.counters().packets_in > 150);
}

#[test]
fn back_to_back_with_meticulous_sha1_and_with_a_wrong_key() {
    let t = Instant::now();
    let end = t + Duration::from_secs(5);
    let (mut a, mut b) = pair(t, Some((AuthType::MeticulousKeyedSha1, b"s3cret", b"s3cret")));
    simulate(&mut a, &mut b, t, end, |_, _| true);
    assert_eq!((a.session().state(), b.session().state()), (State::Up, State::Up));
    assert!(a.counters().drops.is_empty() && b.counters().drops.is_empty());
    let (mut a, mut b) = pair(t, Some((AuthType::MeticulousKeyedSha1, b"s3cret", b"other")));
    let log = simulate(&mut a, &mut b, t, end, |_, _| true);
    assert!(!log.iter().any(|(_, _, act)| matches!(act, Action::StateChange { .. })));
    assert!(a.counters().drops.get(&Drop::BadDigest).is_some_and(|n| *n > 3));
}

#[test]
fn the_auth_sequence_is_forgotten_after_twice_the_detection_time() {
    let t = Instant::now();
    let cfg = || AuthConfig::new(AuthType::MeticulousKeyedMd5, 1, b"k".to_vec()).unwrap();
    let mut a = Bfd::new(t, config(OURS, 50, 3, 1), Some((cfg(), 0)));
    let mut tx = crate::bfd::AuthState::new(cfg(), 1000);
    let mut p = peer(State::Down);
    let bytes = tx.sign(&mut p).unwrap();
    a.handle(t, Event::Received(bytes));
    assert!(a.auth().unwrap().seq_known());
    // Detection time: 3 × max(50 ms, 50 ms) → forgotten at 300 ms.
    a.handle(t + ms(299), Event::Timer);
    assert!(a.auth().unwrap().seq_known());
    a.handle(t + ms(300), Event::Timer);
    assert!(!a.auth().unwrap().seq_known());
}

#[test]
fn early_transmission_stays_above_75_percent_and_never_later_than_planned() {
    let t = Instant::now();
    let mut b = up_after_final(t);
    let mut last: Option<Instant> = None;
    let mut now = t;
    let mut gaps = Vec::new();
    // Wake every 3 ms and let the session send up to 5 ms early: every gap stays within
    // 75 % (37.5 ms) and the planned 90 % (45 ms) of 50 ms.
    for _ in 0..20_000 {
        now += ms(3);
        let mut a = b.handle(now, Event::TimerWithin(ms(5)));
        if (now - t).as_millis().is_multiple_of(30) {
            a.extend(rx(&mut b, now, &peer(State::Up)));
        }
        if !sent(&a).is_empty() {
            if let Some(l) = last {
                gaps.push(now - l);
            }
            last = Some(now);
        }
    }
    assert!(gaps.len() > 1000, "{}", gaps.len());
    for g in &gaps {
        assert!(*g >= ms(37) + Duration::from_micros(500) && *g <= ms(45) + ms(3), "{g:?}");
    }
    assert!(gaps.iter().any(|g| *g < ms(40)), "some packets went early");
}

#[test]
fn a_state_change_is_sent_at_once_not_at_the_slow_pace() {
    // Down → Init on the peer's Down, Init → Up on its Init, Up → Down on its Down: each
    // change leaves in the packet of the same call, whatever the (1 s) slow-start pace.
    let t = Instant::now();
    let mut b = new(t);
    b.handle(t, Event::Timer);
    let t1 = t + ms(100);
    let a = rx(&mut b, t1, &peer(State::Down));
    assert_eq!(changes(&a).first().map(|c| c.1), Some(State::Init));
    assert_eq!(sent(&a).iter().map(|p| p.state).collect::<Vec<_>>(), vec![State::Init], "{a:?}");
    let t2 = t1 + ms(100);
    let a = rx(&mut b, t2, &peer(State::Init));
    assert_eq!(changes(&a).first().map(|c| c.1), Some(State::Up));
    let up = sent(&a);
    assert_eq!(up.len(), 1, "{a:?}");
    assert_eq!(up[0].state, State::Up);
    let a = rx(&mut b, t2 + ms(10), &peer(State::Down));
    assert_eq!(sent(&a).iter().map(|p| p.state).collect::<Vec<_>>(), vec![State::Down]);
}
