//! Fuzz entry points for the session: arbitrary octets become a script of events (operator
//! starts/stops, TCP outcomes, raw octets, canned valid peer messages, clock jumps, route
//! changes) driven through one [`Session`] ([`fuzz_one`]) or through a two-connection
//! [`Peer`] with accepted and outbound connections colliding ([`fuzz_peer`]), with a fake
//! clock, checking invariants after every step. Used by `cargo fuzz` (feature `fuzzing`) and
//! by unit tests; they panic only when an invariant breaks, and say how deep the script got.

use super::testkit::{attrs, config};
use super::{Action, ConnId, Event, Peer, PeerAction, PeerEvent, Routes, Session, State};
use crate::types::HoldTime;
use crate::wire::build;
use crate::wire::notification::cease;
use crate::wire::{AfiSafi, Capability, Notification, Open, RouteRefresh, SessionParams};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn routes(n: u8) -> Routes {
    let nets = (0..n % 4).map(|i| IpNet::from(ipnet::Ipv4Net::from(Ipv4Addr::new(203, 0, 113, i))));
    let mut r = Routes::with(attrs(), nets);
    if n & 4 != 0 {
        r.insert("2001:db8:ff::/48".parse().unwrap_or_default(), attrs());
    }
    r
}

/// Canned peer messages, so the fuzzer reaches the deep states without guessing an OPEN.
struct Canned {
    open: Vec<u8>,
    keepalive: Vec<u8>,
    update: Vec<u8>,
    refresh: Vec<u8>,
    notification: Vec<u8>,
}

fn canned() -> Canned {
    let mut open = Vec::new();
    let caps = vec![
        Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
        Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(65002),
    ];
    // Our own encoder cannot fail on this OPEN; an empty message would only make the script
    // less deep, never wrong.
    let _ = Open::new(65002, 9, Ipv4Addr::new(192, 0, 2, 2), caps).encode(&mut open);
    let mut keepalive = Vec::new();
    crate::wire::encode_keepalive(&mut keepalive);
    let mut update = Vec::new();
    let mut a = attrs();
    a.as_path = vec![65002];
    let nets: Vec<IpNet> = (0..3).map(|i| IpNet::from(ipnet::Ipv4Net::from(Ipv4Addr::new(198, 51, 100, i)))).collect();
    let _ = build::announce(&SessionParams::default(), &a, &nets, &mut update);
    let mut refresh = Vec::new();
    RouteRefresh::new(1, 1).encode(&mut refresh);
    let mut notification = Vec::new();
    Notification::cease_with_message(cease::ADMINISTRATIVE_RESET, "fuzz").encode(&mut notification);
    Canned { open, keepalive, update, refresh, notification }
}

/// Takes a length-prefixed slice off the front of `d`.
fn take<'a>(d: &mut &'a [u8]) -> &'a [u8] {
    let Some((&n, rest)) = d.split_first() else { return &[] };
    let n = usize::from(n).min(rest.len());
    let (a, b) = rest.split_at(n);
    *d = b;
    a
}

/// How far a script got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuzzRun {
    /// The session was Established at some step.
    pub reached_established: bool,
    /// Steps (events) run.
    pub steps: usize,
}

/// Drives a session through the events encoded in `data` and checks its invariants.
pub fn fuzz_one(data: &[u8]) -> FuzzRun {
    let mut run = FuzzRun::default();
    let Some((&seed, mut d)) = data.split_first() else { return run };
    let mut cfg = config(65001, 65002, Ipv4Addr::new(192, 0, 2, 1));
    cfg.jitter_seed = u64::from(seed);
    cfg.passive = seed & 1 != 0;
    cfg.extended_message = seed & 2 != 0;
    cfg.max_prefixes = (seed & 4 != 0).then_some(5);
    cfg.hold_time = if seed & 8 != 0 { HoldTime::DISABLED } else { HoldTime::new(9).unwrap_or(HoldTime::DEFAULT) };
    let mut s = Session::new(cfg, routes(seed >> 4));
    let c = canned();
    let mut now = Instant::now();
    let mut saw_open_and_keepalive = false;
    while let Some((&op, rest)) = d.split_first() {
        d = rest;
        now += Duration::from_millis(u64::from(op >> 4) * 250);
        let chunk: &[u8];
        let before = s.state();
        let msgs_in = s.stats().msgs_in;
        let acts = match op & 15 {
            0 => s.handle(now, Event::ManualStart),
            1 => s.handle(now, Event::ManualStop { reason: Some("fuzz".into()) }),
            2 => s.handle(now, Event::AutomaticStart),
            3 => s.handle(now, Event::TcpConnectionConfirmed),
            4 => s.handle(now, Event::TcpCrAcked),
            5 => s.handle(now, Event::TcpConnectionFails),
            6 => {
                now += Duration::from_secs(u64::from(take(&mut d).first().copied().unwrap_or(1)));
                s.handle(now, Event::Timer)
            }
            7 => {
                if let Some(t) = s.next_deadline() {
                    now = now.max(t);
                }
                s.handle(now, Event::Timer)
            }
            8 => {
                chunk = take(&mut d);
                s.handle(now, Event::Bytes(chunk))
            }
            9 => s.handle(now, Event::Bytes(&c.open)),
            10 => s.handle(now, Event::Bytes(&c.keepalive)),
            11 => s.handle(now, Event::Bytes(&c.update)),
            12 => s.handle(now, Event::Bytes(&c.refresh)),
            13 => s.handle(now, Event::Bytes(&c.notification)),
            14 => s.set_routes(now, routes(take(&mut d).first().copied().unwrap_or(0))),
            _ => s.handle(now, Event::OpenCollisionDump),
        };
        check(&s, before, &acts);
        run.steps += 1;
        run.reached_established |= s.state() == State::Established;
        let m = s.stats().msgs_in;
        if m.open > msgs_in.open {
            saw_open_and_keepalive = false;
        }
        if before == State::OpenConfirm && m.keepalive > msgs_in.keepalive {
            saw_open_and_keepalive = true;
        }
        if s.state() == State::Established {
            assert!(saw_open_and_keepalive, "Established without OPEN then KEEPALIVE");
        }
    }
    run
}

/// Drives a [`Peer`] through the events encoded in `data` and checks its invariants: at most
/// two connections, never both past OpenSent (a collision is resolved as soon as it can be),
/// none beside an Established one, every connection's state changes chaining, actions only on
/// connections that exist or just ended.
pub fn fuzz_peer(data: &[u8]) -> FuzzRun {
    let mut run = FuzzRun::default();
    let Some((&seed, mut d)) = data.split_first() else { return run };
    // Our identifier above or below the canned peer's (192.0.2.2): both resolutions.
    let ours = if seed & 1 != 0 { Ipv4Addr::new(192, 0, 2, 200) } else { Ipv4Addr::new(192, 0, 2, 1) };
    let mut cfg = config(65001, 65002, ours);
    cfg.jitter_seed = u64::from(seed);
    cfg.passive = seed & 2 != 0;
    let mut p = Peer::new(cfg, routes(seed >> 4));
    let c = canned();
    let mut now = Instant::now();
    // The state each connection id is in, as its StateChange actions tell it.
    let mut states: HashMap<ConnId, State> = HashMap::from([(p.main_conn(), State::Idle)]);
    while let Some((&op, rest)) = d.split_first() {
        d = rest;
        now += Duration::from_millis(u64::from(op >> 5) * 250);
        let main = p.main_conn();
        let on = if op & 16 != 0 { p.second_conn().unwrap_or(main) } else { main };
        let acts = match op & 15 {
            0 => p.handle(now, PeerEvent::ManualStart),
            1 => p.handle(now, PeerEvent::ManualStop { reason: Some("fuzz".into()) }),
            2 => p.connected(now, main).unwrap_or_default(),
            3 => p.handle(now, PeerEvent::ConnectFailed(main)),
            4 => match p.accept(now) {
                Some((id, acts)) => {
                    states.entry(id).or_insert(State::Active);
                    acts
                }
                None => Vec::new(),
            },
            5 => p.handle(now, PeerEvent::Bytes(on, &c.open)),
            6 => p.handle(now, PeerEvent::Bytes(on, &c.keepalive)),
            7 => p.handle(now, PeerEvent::Bytes(on, &c.update)),
            8 => p.handle(now, PeerEvent::Bytes(on, &c.notification)),
            9 => {
                let chunk = take(&mut d);
                p.handle(now, PeerEvent::Bytes(on, chunk))
            }
            10 => p.handle(now, PeerEvent::Closed(on)),
            11 => p.handle(now, PeerEvent::BfdDown { restart: op & 16 != 0 }),
            12 => {
                now += Duration::from_secs(u64::from(take(&mut d).first().copied().unwrap_or(1)));
                p.handle(now, PeerEvent::Timer)
            }
            13 | 14 => {
                if let Some(t) = p.next_deadline() {
                    now = now.max(t);
                }
                p.handle(now, PeerEvent::Timer)
            }
            _ => p.set_routes(now, routes(take(&mut d).first().copied().unwrap_or(0))),
        };
        check_peer(&p, &mut states, &acts);
        run.steps += 1;
        run.reached_established |= p.state() == State::Established;
    }
    run
}

fn check_peer(p: &Peer, states: &mut HashMap<ConnId, State>, acts: &[PeerAction]) {
    let (main, second) = (p.main_conn(), p.second_conn());
    for (id, a) in acts {
        let cur = states.get(id).copied();
        assert!(cur.is_some(), "action on {id}, a connection that never existed: {a:?}");
        if let Action::StateChange { from, to, .. } = a {
            assert_eq!(Some(*from), cur, "state change chain broken on {id}");
            states.insert(*id, *to);
        }
    }
    assert_ne!(Some(main), second);
    assert_eq!(states.get(&main).copied(), Some(p.state()), "the main connection's state");
    if let Some(sec) = second {
        let ss = states.get(&sec).copied().unwrap_or(State::Idle);
        assert!(p.state().has_connection() && ss.has_connection(), "a second connection beside {:?}/{ss:?}", p.state());
        assert_ne!(p.state(), State::Established, "a second connection beside an Established one");
        let past = |s: State| matches!(s, State::OpenConfirm | State::Established);
        assert!(!(past(p.state()) && past(ss)), "a collision left unresolved");
    }
    // Ended connections are forgotten: only the live ones may act next time.
    states.retain(|id, _| *id == main || Some(*id) == second);
}

fn check(s: &Session, before: State, acts: &[Action]) {
    // State changes chain from the state before the event to the state after it.
    let mut cur = before;
    for a in acts {
        match a {
            Action::StateChange { from, to, .. } => {
                assert_eq!(*from, cur, "state change chain broken");
                assert_ne!(from, to);
                cur = *to;
            }
            Action::Established { .. } => assert_eq!(cur, State::Established),
            _ => {}
        }
    }
    assert_eq!(cur, s.state());
    if s.state() == State::Established {
        assert!(s.peer_open().is_some() && s.params().is_some());
        let st = s.stats();
        assert!(st.msgs_out.open >= 1 && st.msgs_out.keepalive >= 1);
        assert!(st.msgs_in.open >= 1 && st.msgs_in.keepalive >= 1);
    }
    if !s.state().has_connection() {
        assert_eq!(s.buffered(), 0, "octets buffered without a connection");
    }
    // The receive buffer never holds a whole message: at most one incomplete one.
    assert!(s.buffered() < crate::wire::header::MAX_EXTENDED_MESSAGE_LEN);
    if s.state() == State::Connect {
        assert!(s.next_deadline().is_some(), "Connect without a ConnectRetry deadline");
    }
    if s.state().has_connection() {
        assert!(s.next_deadline().is_some() || s.negotiated().is_some_and(|n| !n.hold_time.is_enabled()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scripted_paths_reach_established() {
        // seed 0 (active, hold 9): start, connect, OPEN, KEEPALIVE, UPDATE, refresh, timers.
        let r = fuzz_one(&[0, 0, 4, 9, 10, 11, 12, 7, 7, 7, 14, 3, 1]);
        assert!(r.reached_established && r.steps >= 10, "{r:?}");
        // seed 1 (passive): an accepted connection, OPEN, KEEPALIVE, then a NOTIFICATION.
        let r = fuzz_one(&[1, 0, 3, 9, 10, 13, 7, 7, 0x55, 8, 3, 1, 2, 3]);
        assert!(r.reached_established, "{r:?}");
        // seed 4 (prefix limit 5): the peer's UPDATEs of 3 prefixes exceed it on the second.
        let r = fuzz_one(&[4, 0, 4, 9, 10, 11, 11, 11, 5, 7, 7, 9]);
        assert!(r.reached_established, "{r:?}");
        // Without the peer's KEEPALIVE there is no Established.
        assert!(!fuzz_one(&[0, 0, 4, 9, 7, 11, 12]).reached_established);
    }

    #[test]
    fn scripted_collisions_reach_established() {
        // Connect, accept a second connection, the peer's OPEN on the main one (resolved at
        // once). Our identifier lower (seed 0): the peer's connection is kept, its OPEN and
        // KEEPALIVE follow on it; higher (seed 1): ours is kept and only needs the KEEPALIVE.
        assert!(fuzz_peer(&[0, 0, 2, 4, 5, 5, 6]).reached_established);
        assert!(fuzz_peer(&[1, 0, 2, 4, 5, 6]).reached_established);
        // A connection accepted while Established is closed at once.
        assert!(fuzz_peer(&[1, 0, 2, 5, 6, 4, 6]).reached_established);
    }

    proptest! {
        // PROPTEST_CASES=100000 for a longer run.
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            fuzz_one(&data);
        }

        #[test]
        fn peer_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            fuzz_peer(&data);
        }
    }
}
