//! Scripted transition tests for the session FSM: feed events, assert the exact actions.
//! Peer messages are built with the wire encoders; one test per RFC 4271 §8.2.2 transition
//! that applies to anycastd.

use super::*;
use crate::wire::build;
use crate::wire::Capability;
use bytes::Bytes;
use ipnet::IpNet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub(super) const OUR_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub(super) const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

pub(super) fn cfg() -> SessionConfig {
    let mut c = config(65001, 65002, OUR_ID);
    c.jitter_seed = 1;
    c.connect_retry = Duration::from_secs(30);
    c
}

pub(super) use super::testkit::{attrs, config};

pub(super) fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub(super) fn routes() -> Routes {
    Routes::with(attrs(), [net("203.0.113.1/32"), net("2001:db8::1/128")])
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub(super) fn peer_open_msg(asn: u32, hold: u16, id: Ipv4Addr, caps: Vec<Capability>) -> Vec<u8> {
    let mut b = Vec::new();
    Open::new(asn, hold, id, caps).encode(&mut b).unwrap();
    b
}

pub(super) fn full_caps(asn: u32) -> Vec<Capability> {
    vec![
        Capability::Multiprotocol(crate::wire::AfiSafi::IPV4_UNICAST),
        Capability::Multiprotocol(crate::wire::AfiSafi::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(asn),
    ]
}

pub(super) fn peer_open() -> Vec<u8> {
    peer_open_msg(65002, 90, PEER_ID, full_caps(65002))
}

pub(super) fn ka() -> Vec<u8> {
    let mut b = Vec::new();
    crate::wire::encode_keepalive(&mut b);
    b
}

pub(super) fn notif_bytes(n: &Notification) -> Vec<u8> {
    let mut b = Vec::new();
    n.encode(&mut b);
    b
}

pub(super) fn refresh(afi: u16, safi: u8) -> Vec<u8> {
    let mut b = Vec::new();
    crate::wire::RouteRefresh::new(afi, safi).encode(&mut b);
    b
}

/// A peer UPDATE announcing `n` IPv4 prefixes.
pub(super) fn peer_update(n: u8) -> Vec<u8> {
    let mut a = attrs();
    a.as_path = vec![65002];
    let nets: Vec<IpNet> =
        (0..n).map(|i| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(198, 51, 100, i), 32).unwrap())).collect();
    let mut b = Vec::new();
    build::announce(&SessionParams::default(), &a, &nets, &mut b).unwrap();
    b
}

/// Actions with StateChange reasons blanked, for exact comparison.
pub(super) fn strip(a: Vec<Action>) -> Vec<Action> {
    a.into_iter()
        .map(|x| match x {
            Action::StateChange { from, to, .. } => Action::StateChange { from, to, reason: String::new() },
            x => x,
        })
        .collect()
}

pub(super) fn sc(from: State, to: State) -> Action {
    Action::StateChange { from, to, reason: String::new() }
}

pub(super) fn send(b: impl Into<Vec<u8>>) -> Action {
    Action::Send(Bytes::from(b.into()))
}

/// The actions of an error that ends the connection from `from`.
pub(super) fn failed(from: State, n: Notification) -> Vec<Action> {
    vec![send(notif_bytes(&n)), Action::NotificationSent(n), Action::Close, sc(from, State::Idle)]
}

pub(super) fn in_opensent(c: SessionConfig, r: Routes) -> (Session, Instant) {
    let t = Instant::now();
    let mut s = Session::new(c, r);
    s.handle(t, Event::ManualStart);
    s.handle(t, Event::TcpCrAcked);
    assert_eq!(s.state(), State::OpenSent);
    (s, t)
}

pub(super) fn established_with(c: SessionConfig, r: Routes, open: &[u8]) -> (Session, Instant) {
    let (mut s, t) = in_opensent(c, r);
    s.handle(t, Event::Bytes(open));
    s.handle(t, Event::Bytes(&ka()));
    assert_eq!(s.state(), State::Established);
    (s, t)
}

pub(super) fn established() -> (Session, Instant) {
    established_with(cfg(), routes(), &peer_open())
}

/// Checks the automatic restart is scheduled within the jitter band of `base` after `t`.
pub(super) fn assert_restart_in(s: &Session, t: Instant, base: Duration) {
    let d = s.next_deadline().expect("automatic restart scheduled") - t;
    assert!(d >= base.mul_f64(0.75) && d <= base.mul_f64(1.25), "{d:?} vs {base:?}");
}

// ---- Idle, Connect, Active ---------------------------------------------------------------

#[test]
fn manual_start_connects_and_arms_connect_retry() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), routes());
    assert_eq!(s.next_deadline(), None);
    let a = strip(s.handle(t, Event::ManualStart));
    assert_eq!(a, vec![Action::Connect, sc(State::Idle, State::Connect)]);
    assert_eq!(s.next_deadline(), Some(t + secs(30)));
    // Starting again is ignored.
    assert!(s.handle(t, Event::ManualStart).is_empty());
    assert_eq!(State::OpenConfirm.to_string(), "OpenConfirm");
}

#[test]
fn manual_start_passive_goes_active_without_connecting() {
    let t = Instant::now();
    let mut c = cfg();
    c.passive = true;
    let mut s = Session::new(c, routes());
    assert_eq!(strip(s.handle(t, Event::ManualStart)), vec![sc(State::Idle, State::Active)]);
    assert_eq!(s.next_deadline(), None);
    let open = s.our_open().clone();
    let a = strip(s.handle(t, Event::TcpConnectionConfirmed));
    let mut b = Vec::new();
    open.encode(&mut b).unwrap();
    assert_eq!(a, vec![send(b), sc(State::Active, State::OpenSent)]);
}

#[test]
fn connect_retry_expiry_retries_the_connection() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), routes());
    s.handle(t, Event::ManualStart);
    assert!(s.handle(t + secs(29), Event::Timer).is_empty());
    let a = s.handle(t + secs(30), Event::Timer);
    assert_eq!(a, vec![Action::Close, Action::Connect]);
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.next_deadline(), Some(t + secs(60)));
}

#[test]
fn tcp_cr_acked_sends_open_and_sets_the_large_hold_timer() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), routes());
    s.handle(t, Event::ManualStart);
    let a = strip(s.handle(t + secs(1), Event::TcpCrAcked));
    let mut open = Vec::new();
    negotiate::our_open(&cfg()).encode(&mut open).unwrap();
    assert_eq!(a, vec![send(open), sc(State::Connect, State::OpenSent)]);
    // RFC 4271 §8.2.2: HoldTimer "to a large value" (4 minutes); ConnectRetry stopped.
    assert_eq!(s.next_deadline(), Some(t + secs(1) + LARGE_HOLD_TIME));
    assert_eq!(s.stats().msgs_out.open, 1);
}

#[test]
fn idle_refuses_inbound_connections() {
    let mut s = Session::new(cfg(), routes());
    assert_eq!(s.handle(Instant::now(), Event::TcpConnectionConfirmed), vec![Action::Close]);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn tcp_fails_in_connect_goes_idle_then_restarts_automatically() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), routes());
    s.handle(t, Event::ManualStart);
    let a = strip(s.handle(t, Event::TcpConnectionFails));
    assert_eq!(a, vec![Action::Close, sc(State::Connect, State::Idle)]);
    // The next attempt at the ConnectRetry pace; a failed attempt is not a failure to damp.
    assert_restart_in(&s, t, secs(30));
    assert_eq!(s.backoff_failures(), 0);
    let when = s.next_deadline().unwrap();
    let a = strip(s.handle(when, Event::Timer));
    assert_eq!(a, vec![Action::Connect, sc(State::Idle, State::Connect)]);
}

#[test]
fn tcp_fails_in_opensent_goes_active_then_connects_on_retry() {
    let (mut s, t) = in_opensent(cfg(), routes());
    let a = strip(s.handle(t, Event::TcpConnectionFails));
    assert_eq!(a, vec![Action::Close, sc(State::OpenSent, State::Active)]);
    assert_eq!(s.next_deadline(), Some(t + secs(30)));
    let a = strip(s.handle(t + secs(30), Event::Timer));
    assert_eq!(a, vec![Action::Connect, sc(State::Active, State::Connect)]);
}

#[test]
fn tcp_fails_in_established_counts_a_flap() {
    let (mut s, t) = established();
    let a = strip(s.handle(t, Event::TcpConnectionFails));
    assert_eq!(a, vec![Action::Close, sc(State::Established, State::Idle)]);
    assert_eq!(s.stats().flaps, 1);
    assert!(s.peer_open().is_none() && s.params().is_none());
    assert_restart_in(&s, t, secs(1));
}

// ---- OpenSent ----------------------------------------------------------------------------

#[test]
fn open_in_opensent_sends_keepalive_and_goes_openconfirm() {
    let (mut s, t) = in_opensent(cfg(), routes());
    let a = strip(s.handle(t + secs(2), Event::Bytes(&peer_open_msg(65002, 30, PEER_ID, full_caps(65002)))));
    assert_eq!(a, vec![send(ka()), sc(State::OpenSent, State::OpenConfirm)]);
    let n = s.negotiated().unwrap();
    assert_eq!(n.hold_time.seconds(), 30);
    // Keepalive at hold/3, hold at 30 s.
    assert_eq!(s.next_deadline(), Some(t + secs(2) + secs(10)));
    assert!(s.handle(t + secs(11), Event::Timer).is_empty());
    assert_eq!(s.handle(t + secs(12), Event::Timer), vec![send(ka())]);
    let a = strip(s.handle(t + secs(32), Event::Timer));
    assert_eq!(a, failed(State::OpenConfirm, Notification::new(4, 0, vec![])));
}

#[test]
fn bad_opens_get_the_exact_notification() {
    let mut wrong_version = peer_open();
    wrong_version[19] = 3;
    let mut bad_param = peer_open()[..28].to_vec();
    bad_param.extend_from_slice(&[3, 1, 1, 0]);
    bad_param[16..18].copy_from_slice(&32u16.to_be_bytes());
    type Case = (Vec<u8>, SessionConfig, (u8, u8, Vec<u8>));
    let cases: Vec<Case> = vec![
        (peer_open_msg(65003, 90, PEER_ID, full_caps(65003)), cfg(), (2, 2, vec![])),
        (wrong_version, cfg(), (2, 1, vec![0, 4])),
        (peer_open_msg(65002, 2, PEER_ID, full_caps(65002)), cfg(), (2, 6, vec![])),
        (peer_open_msg(65001, 90, OUR_ID, full_caps(65001)), config(65001, 65001, OUR_ID), (2, 3, vec![])),
        (peer_open_msg(65002, 90, Ipv4Addr::new(0, 0, 0, 0), full_caps(65002)), cfg(), (2, 3, vec![])),
        (bad_param, cfg(), (2, 4, vec![])),
    ];
    for (msg, c, (code, sub, data)) in cases {
        let (mut s, t) = in_opensent(c, routes());
        let a = strip(s.handle(t, Event::Bytes(&msg)));
        assert_eq!(a, failed(State::OpenSent, Notification::new(code, sub, data)), "{code}/{sub}");
        assert_eq!(s.stats().last_notification_sent.as_ref().map(|n| (n.code, n.subcode)), Some((code, sub)));
        assert_eq!(s.stats().notifications_sent.by_kind, vec![(code, sub, 1)]);
        assert_eq!(s.stats().notifications_received, Default::default());
        assert!(s.stats().last_error.is_some());
        assert_restart_in(&s, t, secs(1));
    }
}

#[test]
fn same_identifier_is_fine_on_ebgp() {
    let (s, _) = established_with(cfg(), routes(), &peer_open_msg(65002, 90, OUR_ID, full_caps(65002)));
    assert_eq!(s.negotiated().unwrap().peer_id, OUR_ID);
}

#[test]
fn unexpected_messages_are_fsm_errors_with_rfc6608_subcodes() {
    // UPDATE and KEEPALIVE in OpenSent → 5/1, data = the message type.
    for (msg, ty) in [(peer_update(1), 2u8), (ka(), 4), (refresh(1, 1), 5)] {
        let (mut s, t) = in_opensent(cfg(), routes());
        let a = strip(s.handle(t, Event::Bytes(&msg)));
        assert_eq!(a, failed(State::OpenSent, Notification::new(5, 1, vec![ty])));
    }
    // UPDATE or OPEN in OpenConfirm → 5/2.
    for (msg, ty) in [(peer_update(1), 2u8), (peer_open(), 1)] {
        let (mut s, t) = in_opensent(cfg(), routes());
        s.handle(t, Event::Bytes(&peer_open()));
        let a = strip(s.handle(t, Event::Bytes(&msg)));
        assert_eq!(a, failed(State::OpenConfirm, Notification::new(5, 2, vec![ty])));
    }
    // OPEN in Established → 5/3.
    let (mut s, t) = established();
    let a = strip(s.handle(t, Event::Bytes(&peer_open())));
    assert_eq!(a, failed(State::Established, Notification::new(5, 3, vec![1])));
}

#[test]
fn version_notification_in_opensent_goes_idle_without_answering() {
    let (mut s, t) = in_opensent(cfg(), routes());
    let n = Notification::new(2, 1, vec![0, 3]);
    let a = strip(s.handle(t, Event::Bytes(&notif_bytes(&n))));
    assert_eq!(a, vec![Action::NotificationReceived(n.clone()), Action::Close, sc(State::OpenSent, State::Idle)]);
    assert_eq!(s.stats().last_notification_received, Some(n));
    assert_eq!(s.stats().msgs_out.notification, 0);
    assert_eq!(s.stats().notifications_received.by_kind, vec![(2, 1, 1)]);
    assert_eq!(s.stats().notifications_sent, Default::default());
}

#[test]
fn notification_counts_are_bounded_whatever_the_peer_invents() {
    let mut c = crate::session::NotificationCounts::default();
    for i in 0..=255u8 {
        c.add(i, i, 1);
    }
    c.add(0, 0, 2);
    assert_eq!(c.by_kind.len(), crate::session::NOTIFICATION_KINDS);
    assert_eq!(c.by_kind[0], (0, 0, 3));
    assert_eq!(c.other, 256 - crate::session::NOTIFICATION_KINDS as u64);
}

#[test]
fn header_errors_send_the_framer_notification() {
    let mut marker = ka();
    marker[0] = 0;
    let mut length = ka();
    length[16..18].copy_from_slice(&18u16.to_be_bytes());
    let mut ty = ka();
    ty[18] = 9;
    for (msg, want) in [(marker, (1, 1, vec![])), (length, (1, 2, vec![0, 18])), (ty, (1, 3, vec![9]))] {
        let (mut s, t) = established();
        let a = strip(s.handle(t, Event::Bytes(&msg)));
        assert_eq!(a, failed(State::Established, Notification::new(want.0, want.1, want.2)));
    }
}

// ---- OpenConfirm → Established -----------------------------------------------------------

#[test]
fn keepalive_in_openconfirm_establishes_and_announces_then_end_of_rib() {
    let (mut s, t) = in_opensent(cfg(), routes());
    s.handle(t, Event::Bytes(&peer_open()));
    let peer = s.peer_open().cloned().unwrap();
    let a = strip(s.handle(t + secs(1), Event::Bytes(&ka())));
    let p = SessionParams::default();
    let mut upd = Vec::new();
    build::announce(&p, &attrs(), &[net("203.0.113.1/32"), net("2001:db8::1/128")], &mut upd).unwrap();
    let mut eor = Vec::new();
    build::end_of_rib(crate::wire::AfiSafi::IPV4_UNICAST, &mut eor);
    build::end_of_rib(crate::wire::AfiSafi::IPV6_UNICAST, &mut eor);
    assert_eq!(
        a,
        vec![
            sc(State::OpenConfirm, State::Established),
            Action::Established { params: p, peer_open: peer },
            send(upd),
            send(eor),
        ]
    );
    let st = s.stats();
    assert_eq!((st.msgs_out.update, st.prefixes_announced_tx.ipv4, st.prefixes_announced_tx.ipv6), (4, 1, 1));
    assert_eq!(st.established_at, Some(t + secs(1)));
    assert_eq!(s.advertised().len(), 2);
}

#[test]
fn keepalive_timer_sends_keepalives_in_established() {
    let (mut s, t) = established();
    // UPDATEs were sent at t: the keepalive timer restarted then (30 s for hold 90).
    assert_eq!(s.next_deadline(), Some(t + secs(30)));
    assert_eq!(s.handle(t + secs(30), Event::Timer), vec![send(ka())]);
    assert_eq!(s.next_deadline(), Some(t + secs(60)));
}

#[test]
fn hold_timer_restarts_only_on_keepalive_and_update() {
    let (mut s, t) = established();
    // ROUTE-REFRESH does not restart the hold timer (RFC 4271 §8.2.2 lists Events 26, 27).
    s.handle(t + secs(80), Event::Bytes(&refresh(1, 1)));
    s.handle(t + secs(85), Event::Timer); // keepalives only
    let a = strip(s.handle(t + secs(90), Event::Timer));
    assert_eq!(a, failed(State::Established, Notification::new(4, 0, vec![])));

    let (mut s, t) = established();
    s.handle(t + secs(80), Event::Bytes(&ka()));
    s.handle(t + secs(160), Event::Bytes(&peer_update(1)));
    assert!(!s.handle(t + secs(249), Event::Timer).iter().any(|x| matches!(x, Action::Close)));
    assert_eq!(s.state(), State::Established);
    let a = strip(s.handle(t + secs(250), Event::Timer));
    assert_eq!(a, failed(State::Established, Notification::new(4, 0, vec![])));
}

#[test]
fn hold_time_zero_runs_no_timers() {
    let (mut s, t) = established_with(cfg(), routes(), &peer_open_msg(65002, 0, PEER_ID, full_caps(65002)));
    assert_eq!(s.next_deadline(), None);
    assert!(s.handle(t + secs(100_000), Event::Timer).is_empty());
    assert_eq!(s.state(), State::Established);
}
