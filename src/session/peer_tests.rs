//! The two-connection peer, step by step (RFC 4271 §6.8): which connection survives a
//! collision, in both orders (the OPEN on the existing connection first, or on the new one),
//! for every state pair §6.8 names (OpenSent, OpenConfirm, Established against a new
//! connection), for a higher, lower and equal BGP Identifier; the loser's Cease through the
//! session's NOTIFICATION path; the counters kept; and two peers wired back to back agreeing on
//! one connection whichever handshake completes first.

use super::fsm_tests::{cfg, full_caps, ka, peer_open_msg, routes};
use super::*;
use crate::wire::notification::{cease, code};
use crate::wire::{decode_message, Message, MessageType};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Instant;

const LO: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const HI: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 200);

/// A peer with our identifier `id` (AS 65001, the peer is AS 65002).
fn peer(id: Ipv4Addr) -> Peer {
    let mut c = cfg();
    c.router_id = crate::types::RouterId::new(id).unwrap();
    Peer::new(c, routes())
}

fn open_from(id: Ipv4Addr) -> Vec<u8> {
    peer_open_msg(65002, 90, id, full_caps(65002))
}

/// What we sent, in one word per message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Open,
    Keepalive,
    CollisionCease,
    Other(MessageType),
}

/// The messages sent on `conn` by these actions.
fn sent_on(acts: &[PeerAction], conn: ConnId) -> Vec<Sent> {
    let mut out = Vec::new();
    for (c, a) in acts {
        if let (true, Action::Send(b)) = (*c == conn, a) {
            let mut rest: &[u8] = b;
            while !rest.is_empty() {
                let (m, n) = decode_message(rest, &SessionParams::default()).expect("we send valid messages");
                out.push(match m {
                    Message::Open(_) => Sent::Open,
                    Message::Keepalive => Sent::Keepalive,
                    Message::Notification(n)
                        if n.code == code::CEASE && n.subcode == cease::CONNECTION_COLLISION_RESOLUTION =>
                    {
                        Sent::CollisionCease
                    }
                    m => Sent::Other(m.msg_type()),
                });
                rest = &rest[n..];
            }
        }
    }
    out
}

/// `conn` was sent Cease / Connection Collision Resolution, then closed, and ended Idle.
fn assert_dumped(acts: &[PeerAction], conn: ConnId) {
    let sent = sent_on(acts, conn);
    assert_eq!(sent.last(), Some(&Sent::CollisionCease), "no collision Cease on {conn}: {acts:?}");
    let on: Vec<&Action> = acts.iter().filter(|(c, _)| *c == conn).map(|(_, a)| a).collect();
    let close = on.iter().position(|a| **a == Action::Close).expect("closed");
    let cease = on.iter().rposition(|a| matches!(a, Action::Send(_))).expect("sent");
    assert!(cease < close, "Cease before Close: {on:?}");
    assert!(on
        .iter()
        .any(|a| matches!(a, Action::NotificationSent(n) if n.subcode == cease::CONNECTION_COLLISION_RESOLUTION)));
    assert!(matches!(on.last(), Some(Action::StateChange { to: State::Idle, .. })), "{on:?}");
}

fn assert_untouched(acts: &[PeerAction], conn: ConnId) {
    assert!(acts.iter().all(|(c, _)| *c != conn), "{conn} was touched: {acts:?}");
}

/// A peer with our identifier `id` whose outbound connection is up: OpenSent.
fn outbound(id: Ipv4Addr, t: Instant) -> (Peer, ConnId) {
    let mut p = peer(id);
    let acts = p.handle(t, PeerEvent::ManualStart);
    let out = p.main_conn();
    assert!(acts.contains(&(out, Action::Connect)), "{acts:?}");
    let acts = p.connected(t, out).expect("the attempt was waited for");
    assert!(sent_on(&acts, out) == [Sent::Open]);
    assert_eq!(p.state(), State::OpenSent);
    (p, out)
}

/// The same, and the peer's OPEN (identifier `theirs`) received on it: OpenConfirm.
fn outbound_open(id: Ipv4Addr, theirs: Ipv4Addr, t: Instant) -> (Peer, ConnId) {
    let (mut p, out) = outbound(id, t);
    p.handle(t, PeerEvent::Bytes(out, &open_from(theirs)));
    assert_eq!(p.state(), State::OpenConfirm);
    (p, out)
}

/// Our outbound connection (the existing one, Local) in OpenSent, then the peer's (Remote).
fn outbound_then_inbound(id: Ipv4Addr, t: Instant) -> (Peer, ConnId, ConnId) {
    let (mut p, out) = outbound(id, t);
    let (inb, acts) = p.accept(t).expect("a second connection is taken");
    assert_ne!(inb, out);
    assert!(sent_on(&acts, inb) == [Sent::Open], "the second connection sends its OPEN");
    assert_eq!((p.main_conn(), p.second_conn()), (out, Some(inb)));
    (p, out, inb)
}

/// Which initiator RFC 4271 §6.8 keeps: the one of the speaker with the higher identifier
/// (RFC 6286 §2.3: with equal identifiers, the larger AS; ours is 65001, the peer's 65002).
fn keeps_local(ours: Ipv4Addr, theirs: Ipv4Addr) -> bool {
    if ours != theirs {
        u32::from(ours) > u32::from(theirs)
    } else {
        65001 > 65002
    }
}

const ID_PAIRS: [(Ipv4Addr, Ipv4Addr); 3] = [(HI, LO), (LO, HI), (LO, LO)];

/// Finishes the handshake on the survivor and checks the neighbor is Established on it alone.
fn establish_on(p: &mut Peer, t: Instant, conn: ConnId, theirs: Ipv4Addr, open_seen: bool) {
    assert_eq!((p.main_conn(), p.second_conn()), (conn, None));
    if !open_seen {
        let acts = p.handle(t, PeerEvent::Bytes(conn, &open_from(theirs)));
        assert!(sent_on(&acts, conn) == [Sent::Keepalive], "{acts:?}");
    }
    let acts = p.handle(t, PeerEvent::Bytes(conn, &ka()));
    assert!(acts.iter().all(|(c, _)| *c == conn));
    assert!(acts.iter().any(|(_, a)| matches!(a, Action::Established { .. })));
    assert_eq!(p.state(), State::Established);
}

#[test]
fn existing_open_confirm_meets_the_new_connections_open() {
    // Pair (OpenConfirm, OpenConfirm): the OPEN arrives on the existing connection first.
    for (ours, theirs) in ID_PAIRS {
        let t = Instant::now();
        let (mut p, out, inb) = outbound_then_inbound(ours, t);
        let acts = p.handle(t, PeerEvent::Bytes(out, &open_from(theirs)));
        // Once the existing one is in OpenConfirm the identifier is known: resolved at once.
        if keeps_local(ours, theirs) {
            assert_dumped(&acts, inb);
            assert!(sent_on(&acts, out) == [Sent::Keepalive]);
            establish_on(&mut p, t, out, theirs, true);
        } else {
            assert_dumped(&acts, out);
            assert_untouched(&acts, inb);
            establish_on(&mut p, t, inb, theirs, false);
        }
        let s = p.stats();
        assert_eq!((s.msgs_out.open, s.msgs_out.notification), (2, 1), "{ours}/{theirs}: every message counted");
        assert_eq!(s.established_count, 1);
        assert!(s.last_notification_sent.as_ref().is_some_and(|n| n.subcode == cease::CONNECTION_COLLISION_RESOLUTION));
    }
}

#[test]
fn existing_open_sent_meets_the_new_connections_open() {
    // Pair (OpenSent, OpenConfirm): the OPEN arrives on the new connection first.
    for (ours, theirs) in ID_PAIRS {
        let t = Instant::now();
        let (mut p, out, inb) = outbound_then_inbound(ours, t);
        let acts = p.handle(t, PeerEvent::Bytes(inb, &open_from(theirs)));
        if keeps_local(ours, theirs) {
            assert_dumped(&acts, inb);
            assert_untouched(&acts, out);
            establish_on(&mut p, t, out, theirs, false);
        } else {
            assert_dumped(&acts, out);
            assert!(sent_on(&acts, inb) == [Sent::Keepalive]);
            establish_on(&mut p, t, inb, theirs, true);
        }
    }
}

#[test]
fn existing_open_confirm_meets_a_connection_accepted_later() {
    // Pair (OpenConfirm, OpenSent): the peer's identifier is known from the existing
    // connection when the new one arrives, so it is resolved on accept.
    for (ours, theirs) in ID_PAIRS {
        let t = Instant::now();
        let (mut p, out) = outbound_open(ours, theirs, t);
        let (inb, acts) = p.accept(t).expect("taken");
        if keeps_local(ours, theirs) {
            assert_eq!(sent_on(&acts, inb), [Sent::Open, Sent::CollisionCease]);
            assert_dumped(&acts, inb);
            establish_on(&mut p, t, out, theirs, true);
        } else {
            assert_dumped(&acts, out);
            establish_on(&mut p, t, inb, theirs, false);
        }
    }
}

#[test]
fn established_always_keeps_its_connection() {
    // Pair (Established, new): "closing of the newly created connection", whatever the ids.
    for (ours, theirs) in ID_PAIRS {
        let t = Instant::now();
        let (mut p, out) = outbound_open(ours, theirs, t);
        p.handle(t, PeerEvent::Bytes(out, &ka()));
        assert_eq!(p.state(), State::Established);
        let (inb, acts) = p.accept(t).expect("taken, to be closed properly");
        assert_dumped(&acts, inb);
        assert_untouched(&acts, out);
        assert_eq!((p.main_conn(), p.second_conn(), p.state()), (out, None, State::Established));
        assert_eq!(p.stats().established_count, 1);
    }
}

#[test]
fn the_second_connection_carries_on_when_the_main_one_fails() {
    let t = Instant::now();
    let (mut p, out, inb) = outbound_then_inbound(HI, t);
    let acts = p.handle(t, PeerEvent::Closed(out));
    assert_eq!((p.main_conn(), p.second_conn()), (inb, None), "{acts:?}");
    establish_on(&mut p, t, inb, LO, false);
    // The failed connection's counters stay with the neighbor.
    assert_eq!(p.stats().msgs_out.open, 2);
}

#[test]
fn history_survives_a_promotion() {
    // Established once, reset by the peer, then a collision the new connection wins: the
    // neighbor's Established count and flaps are not lost with the old session.
    let t = Instant::now();
    let (mut p, c0) = outbound_open(LO, HI, t);
    p.handle(t, PeerEvent::Bytes(c0, &ka()));
    p.handle(t, PeerEvent::Closed(c0));
    assert_eq!(p.state(), State::Idle);
    let t = t + std::time::Duration::from_secs(5);
    p.handle(t, PeerEvent::Timer); // IdleHold over: AutomaticStart, Connect
    let c = p.main_conn();
    p.connected(t, c).expect("waited for");
    let (inb, _) = p.accept(t).expect("taken");
    let acts = p.handle(t, PeerEvent::Bytes(inb, &open_from(HI)));
    assert_dumped(&acts, c);
    establish_on(&mut p, t, inb, HI, true);
    let s = p.stats();
    assert_eq!((s.established_count, s.flaps), (2, 1));
}

#[test]
fn connections_the_peer_cannot_use_are_refused() {
    let t = Instant::now();
    let (mut p, _, _) = outbound_then_inbound(HI, t);
    assert!(p.accept(t).is_none(), "a third connection");
    assert!(p.connected(t, ConnId(99)).is_none(), "an attempt nobody waits for");
    // Idle after our own errors: the first three let an inbound connection restart the
    // session at once; after the fourth it waits out IdleHold (DampPeerOscillations).
    let mut d = peer(HI);
    let mut t = Instant::now();
    d.handle(t, PeerEvent::ManualStart);
    for failures in 1..=4 {
        let c = d.main_conn();
        d.connected(t, c).expect("waited for");
        d.handle(t, PeerEvent::Bytes(c, &[0u8; 19])); // not a BGP marker: header error
        assert_eq!((d.state(), d.session().backoff_failures()), (State::Idle, failures));
        if failures == 1 {
            let mut q = d.clone();
            let (id, acts) = q.accept(t).expect("one failure: the inbound connection restarts the session");
            assert_eq!(id, c);
            assert!(!acts.contains(&(c, Action::Connect)), "no outbound attempt for an accepted connection");
            assert_eq!(q.state(), State::OpenSent);
        }
        if failures < 4 {
            t = d.next_deadline().expect("IdleHold");
            d.handle(t, PeerEvent::Timer);
            assert_eq!(d.state(), State::Connect);
        }
    }
    assert!(d.accept(t).is_none(), "damped: refused while waiting out IdleHold");
}

// ---- two peers back to back ---------------------------------------------------------------

/// What travels on a wire.
enum Delivery {
    Bytes(Vec<u8>),
    Closed,
}

/// Two peers (A = 0, B = 1) and the TCP connections between them. A connection's far end is
/// known once the far side has accepted it; octets wait in the inbox until delivered.
struct Net {
    peers: [Peer; 2],
    /// Each wire: the connection id at A and at B (the accepting end once accepted), open.
    wires: Vec<([Option<ConnId>; 2], bool)>,
    /// Outbound attempts in progress.
    dialing: [Option<ConnId>; 2],
    /// (wire, receiving side, what).
    inbox: VecDeque<(usize, usize, Delivery)>,
    t: Instant,
}

impl Net {
    fn new() -> Self {
        let mut a = cfg();
        a.router_id = crate::types::RouterId::new(HI).unwrap();
        let mut b = crate::session::testkit::config(65002, 65001, LO);
        b.jitter_seed = 2;
        Net {
            peers: [Peer::new(a, routes()), Peer::new(b, routes())],
            wires: Vec::new(),
            dialing: [None, None],
            inbox: VecDeque::new(),
            t: Instant::now(),
        }
    }

    fn start(&mut self) {
        for side in 0..2 {
            let acts = self.peers[side].handle(self.t, PeerEvent::ManualStart);
            self.carry_out(side, acts);
        }
    }

    fn wire_of(&self, side: usize, id: ConnId) -> Option<usize> {
        self.wires.iter().position(|(e, open)| *open && e[side] == Some(id))
    }

    fn carry_out(&mut self, side: usize, acts: Vec<PeerAction>) {
        for (id, a) in acts {
            match a {
                Action::Connect => self.dialing[side] = Some(id),
                Action::Send(b) => {
                    if let Some(w) = self.wire_of(side, id) {
                        self.inbox.push_back((w, 1 - side, Delivery::Bytes(b.to_vec())));
                    }
                }
                Action::Close => {
                    if self.dialing[side] == Some(id) {
                        self.dialing[side] = None;
                    }
                    if let Some(w) = self.wire_of(side, id) {
                        self.wires[w].1 = false;
                        self.inbox.push_back((w, 1 - side, Delivery::Closed));
                    }
                }
                _ => {}
            }
        }
    }

    /// `side`'s outbound attempt completes at its end.
    fn dial_done(&mut self, side: usize) {
        let Some(dial) = self.dialing[side].take() else { return };
        let mut ends = [None, None];
        ends[side] = Some(dial);
        self.wires.push((ends, true));
        match self.peers[side].connected(self.t, dial) {
            Some(acts) => self.carry_out(side, acts),
            None => self.carry_out(side, vec![(dial, Action::Close)]),
        }
    }

    /// The far side's listener hands over the connection `side` dialled (wire `w`).
    fn accepted(&mut self, w: usize) {
        let far = self.wires[w].0.iter().position(Option::is_none).expect("one end not accepted yet");
        match self.peers[far].accept(self.t) {
            Some((id, acts)) => {
                if self.dialing[far] == Some(id) {
                    self.dialing[far] = None; // binding abandons the id's own attempt
                }
                self.wires[w].0[far] = Some(id);
                self.carry_out(far, acts);
            }
            None => {
                self.wires[w].1 = false;
                self.inbox.push_back((w, 1 - far, Delivery::Closed));
            }
        }
    }

    /// Delivers everything in flight, in order, until nothing moves (bounded).
    fn run(&mut self) {
        for _ in 0..1000 {
            let Some((w, side, what)) = self.inbox.pop_front() else { return };
            let Some(id) = self.wires[w].0[side] else { continue };
            let acts = match what {
                Delivery::Bytes(b) => self.peers[side].handle(self.t, PeerEvent::Bytes(id, &b)),
                Delivery::Closed => self.peers[side].handle(self.t, PeerEvent::Closed(id)),
            };
            self.carry_out(side, acts);
        }
        panic!("the two peers never settled");
    }
}

#[test]
fn two_peers_keep_the_same_connection_whichever_handshake_completes_first() {
    // Steps: D(side) = side's outbound attempt completes at its end, A(wire) = the far side
    // accepts that wire. One after the other (no collision), and crossed in every order.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        D(usize),
        A(usize),
        Run,
    }
    use Step::{Run, A, D};
    let scripts: [&[Step]; 6] = [
        &[D(0), A(0), Run, D(1), Run],
        &[D(1), A(0), Run, D(0), Run],
        &[D(0), D(1), A(0), A(1), Run],
        &[D(0), D(1), A(1), A(0), Run],
        &[D(1), D(0), A(0), A(1), Run],
        &[D(0), D(1), A(0), Run, A(1), Run],
    ];
    for script in scripts {
        let mut n = Net::new();
        n.start();
        for step in script {
            match *step {
                D(side) => n.dial_done(side),
                A(w) => {
                    if w < n.wires.len() {
                        n.accepted(w)
                    }
                }
                Run => n.run(),
            }
        }
        let what = format!("script {script:?}: wires {:?}", n.wires);
        let live: Vec<[Option<ConnId>; 2]> = n.wires.iter().filter(|(_, open)| *open).map(|(e, _)| *e).collect();
        assert_eq!(live.len(), 1, "{what}");
        assert_eq!([Some(n.peers[0].main_conn()), Some(n.peers[1].main_conn())], live[0], "{what}");
        assert_eq!([n.peers[0].state(), n.peers[1].state()], [State::Established; 2], "{what}");
        assert_eq!(n.peers[0].second_conn().or(n.peers[1].second_conn()), None, "{what}");
        let crossed = script.iter().take_while(|s| !matches!(s, A(_))).filter(|s| matches!(s, D(_))).count() == 2;
        assert_eq!(n.wires.len(), if crossed { 2 } else { 1 }, "{what}");
        if crossed {
            // A collision: both keep the connection A (the higher identifier) initiated.
            let kept = n.wires.iter().position(|(_, open)| *open);
            // A dials on its main connection id, 0.
            let a_dialled = n.wires.iter().position(|(e, _)| e[0] == Some(ConnId(0)));
            assert_eq!(kept, a_dialled, "{what}");
        }
    }
}

#[test]
fn a_failed_second_connection_is_over() {
    // Its session would go Active and ask to connect out; only the main session does that.
    let t = Instant::now();
    let (mut p, out, inb) = outbound_then_inbound(HI, t);
    let acts = p.handle(t, PeerEvent::Closed(inb));
    assert!(!acts.contains(&(inb, Action::Connect)), "{acts:?}");
    assert_eq!((p.main_conn(), p.second_conn(), p.state()), (out, None, State::OpenSent));
    let later = p.handle(t + std::time::Duration::from_secs(60), PeerEvent::Timer);
    assert!(later.iter().all(|(c, _)| *c == out), "{later:?}");
}

#[test]
fn the_routers_connection_is_taken_however_long_it_was_unreachable() {
    // A long outage: our attempts fail again and again (network unreachable, refused, timed
    // out). Once the router is back and connects first, its connection is taken at once: a
    // router that could not be reached is not a damped, oscillating one.
    let mut p = peer(HI);
    let mut t = Instant::now();
    p.handle(t, PeerEvent::ManualStart);
    for _ in 0..10 {
        p.handle(t, PeerEvent::ConnectFailed(p.main_conn()));
        assert_eq!(p.state(), State::Idle);
        let next = p.next_deadline().expect("the next attempt is scheduled");
        let wait = next - t;
        assert!(wait <= cfg().connect_retry.mul_f64(1.25), "attempts keep the ConnectRetry pace: {wait:?}");
        t = next;
        p.handle(t, PeerEvent::Timer);
        assert_eq!(p.state(), State::Connect);
    }
    p.handle(t, PeerEvent::ConnectFailed(p.main_conn()));
    let (id, acts) = p.accept(t).expect("the router's connection is taken");
    assert_eq!((id, p.state()), (p.main_conn(), State::OpenSent));
    assert_eq!(sent_on(&acts, id), [Sent::Open]);
}

/// The driver bounds its writes by this: the hold time we offer until the peer's OPEN is in,
/// then the negotiated (smaller) one, per connection; nothing for an id the peer does not run.
#[test]
fn hold_time_is_the_offered_one_then_the_negotiated_one() {
    let t = Instant::now();
    let (mut p, out) = outbound(LO, t);
    let offered = p.session().config().hold_time;
    assert_ne!(offered.seconds(), 30, "the case needs a peer offering less");
    assert_eq!(p.hold_time(out), Some(offered));
    p.handle(t, PeerEvent::Bytes(out, &peer_open_msg(65002, 30, HI, full_caps(65002))));
    assert_eq!(p.state(), State::OpenConfirm);
    assert_eq!(p.hold_time(out).map(|h| h.seconds()), Some(30));
    let (inb, _) = p.accept(t).expect("a second connection is taken");
    assert_eq!(p.hold_time(inb), Some(offered));
    assert_eq!(p.hold_time(ConnId(999)), None);
}
