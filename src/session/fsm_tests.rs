//! Scripted transition tests for the session FSM: feed events, assert the exact actions.
//! Peer messages are built with the wire encoders; one test per RFC 4271 §8.2.2 transition
//! that applies to anycastd.

use super::*;
use crate::wire::attr::Origin;
use crate::wire::build::{self, RouteAttrs};
use crate::wire::{decode_message, Capability, Message};
use bytes::Bytes;
use ipnet::IpNet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

const OUR_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn cfg() -> SessionConfig {
    let mut c = SessionConfig::new(65001, 65002, OUR_ID);
    c.jitter_seed = 1;
    c
}

fn attrs() -> RouteAttrs {
    RouteAttrs {
        origin: Origin::Igp,
        as_path: vec![65001],
        med: None,
        local_pref: None,
        communities: vec![],
        large_communities: vec![],
        next_hop_v4: Some(Ipv4Addr::new(192, 0, 2, 1)),
        next_hop_v6: Some((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), None)),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn routes() -> Routes {
    Routes::with(attrs(), [net("203.0.113.1/32"), net("2001:db8::1/128")])
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn peer_open_msg(asn: u32, hold: u16, id: Ipv4Addr, caps: Vec<Capability>) -> Vec<u8> {
    let mut b = Vec::new();
    Open::new(asn, hold, id, caps).encode(&mut b).unwrap();
    b
}

fn full_caps(asn: u32) -> Vec<Capability> {
    vec![
        Capability::Multiprotocol(crate::wire::AfiSafi::IPV4_UNICAST),
        Capability::Multiprotocol(crate::wire::AfiSafi::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(asn),
    ]
}

fn peer_open() -> Vec<u8> {
    peer_open_msg(65002, 90, PEER_ID, full_caps(65002))
}

fn ka() -> Vec<u8> {
    let mut b = Vec::new();
    crate::wire::encode_keepalive(&mut b);
    b
}

fn notif_bytes(n: &Notification) -> Vec<u8> {
    let mut b = Vec::new();
    n.encode(&mut b);
    b
}

fn refresh(afi: u16, safi: u8) -> Vec<u8> {
    let mut b = Vec::new();
    crate::wire::RouteRefresh::new(afi, safi).encode(&mut b);
    b
}

/// A peer UPDATE announcing `n` IPv4 prefixes.
fn peer_update(n: u8) -> Vec<u8> {
    let mut a = attrs();
    a.as_path = vec![65002];
    let nets: Vec<IpNet> =
        (0..n).map(|i| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(198, 51, 100, i), 32).unwrap())).collect();
    let mut b = Vec::new();
    build::announce(&SessionParams::default(), &a, &nets, &mut b).unwrap();
    b
}

/// Actions with StateChange reasons blanked, for exact comparison.
fn strip(a: Vec<Action>) -> Vec<Action> {
    a.into_iter()
        .map(|x| match x {
            Action::StateChange { from, to, .. } => Action::StateChange { from, to, reason: String::new() },
            x => x,
        })
        .collect()
}

fn sc(from: State, to: State) -> Action {
    Action::StateChange { from, to, reason: String::new() }
}

fn send(b: impl Into<Vec<u8>>) -> Action {
    Action::Send(Bytes::from(b.into()))
}

/// The actions of an error that ends the connection from `from`.
fn failed(from: State, n: Notification) -> Vec<Action> {
    vec![send(notif_bytes(&n)), Action::NotificationSent(n), Action::Close, sc(from, State::Idle)]
}

fn in_opensent(c: SessionConfig, r: Routes) -> (Session, Instant) {
    let t = Instant::now();
    let mut s = Session::new(c, r);
    s.handle(t, Event::ManualStart);
    s.handle(t, Event::TcpCrAcked);
    assert_eq!(s.state(), State::OpenSent);
    (s, t)
}

fn established_with(c: SessionConfig, r: Routes, open: &[u8]) -> (Session, Instant) {
    let (mut s, t) = in_opensent(c, r);
    s.handle(t, Event::Bytes(open));
    s.handle(t, Event::Bytes(&ka()));
    assert_eq!(s.state(), State::Established);
    (s, t)
}

fn established() -> (Session, Instant) {
    established_with(cfg(), routes(), &peer_open())
}

/// Checks the automatic restart is scheduled within the jitter band of `base` after `t`.
fn assert_restart_in(s: &Session, t: Instant, base: Duration) {
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
    assert_restart_in(&s, t, secs(1));
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
    assert_eq!(n.hold_time, 30);
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
        (peer_open_msg(65001, 90, OUR_ID, full_caps(65001)), SessionConfig::new(65001, 65001, OUR_ID), (2, 3, vec![])),
        (peer_open_msg(65002, 90, Ipv4Addr::new(0, 0, 0, 0), full_caps(65002)), cfg(), (2, 3, vec![])),
        (bad_param, cfg(), (2, 4, vec![])),
    ];
    for (msg, c, (code, sub, data)) in cases {
        let (mut s, t) = in_opensent(c, routes());
        let a = strip(s.handle(t, Event::Bytes(&msg)));
        assert_eq!(a, failed(State::OpenSent, Notification::new(code, sub, data)), "{code}/{sub}");
        assert_eq!(s.stats().last_notification_sent.as_ref().map(|n| (n.code, n.subcode)), Some((code, sub)));
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

// ---- Established -------------------------------------------------------------------------

#[test]
fn update_with_session_reset_error_closes() {
    let (mut s, t) = established();
    let mut bad = ka();
    // Withdrawn Routes Length 5 but only 2 octets of body.
    bad.extend_from_slice(&[0, 5]);
    bad[16..18].copy_from_slice(&23u16.to_be_bytes());
    bad[18] = 2;
    bad.extend_from_slice(&[0, 0]);
    let a = strip(s.handle(t, Event::Bytes(&bad)));
    assert_eq!(a, failed(State::Established, Notification::new(3, 1, vec![])));
}

#[test]
fn update_treat_as_withdraw_keeps_the_session() {
    let (mut s, t) = established();
    // AS_PATH and NEXT_HOP but no ORIGIN, one NLRI: RFC 7606 §3 (d) treat-as-withdraw.
    let attrs = [0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 9];
    let nlri = [24, 198, 51, 100];
    let mut m = crate::wire::header::MARKER.to_vec();
    m.extend_from_slice(&(19u16 + 4 + 10 + 4).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&[0, 0, 0, 10]);
    m.extend_from_slice(&attrs);
    m.extend_from_slice(&nlri);
    let a = s.handle(t, Event::Bytes(&m));
    assert_eq!(a.len(), 1);
    let Action::UpdateError(e) = &a[0] else { panic!("{a:?}") };
    assert_eq!((e.code(), e.subcode(), e.notification.data.clone()), (3, 3, vec![1]));
    assert_eq!(s.state(), State::Established);
    let st = s.stats();
    assert_eq!((st.update_errors, st.prefixes_withdrawn_rx.ipv4, st.prefixes_announced_rx.ipv4), (1, 1, 0));
}

#[test]
fn received_prefixes_are_counted_per_family() {
    let (mut s, t) = established();
    assert!(s.handle(t, Event::Bytes(&peer_update(3))).is_empty());
    let mut w = Vec::new();
    build::withdraw(&SessionParams::default(), &[net("198.51.100.0/32"), net("2001:db8:1::/48")], &mut w);
    assert!(s.handle(t, Event::Bytes(&w)).is_empty());
    let st = s.stats();
    assert_eq!(
        (st.prefixes_announced_rx.ipv4, st.prefixes_withdrawn_rx.ipv4, st.prefixes_withdrawn_rx.ipv6),
        (3, 1, 1)
    );
    assert_eq!(st.msgs_in.update, 3);
}

#[test]
fn max_prefixes_exceeded_sends_cease_with_rfc4486_data() {
    let mut c = cfg();
    c.max_prefixes = Some(2);
    let (mut s, t) = established_with(c, routes(), &peer_open());
    assert!(s.handle(t, Event::Bytes(&peer_update(2))).is_empty());
    let a = strip(s.handle(t, Event::Bytes(&peer_update(3))));
    let n = Notification::new(6, 1, vec![0, 1, 1, 0, 0, 0, 2]);
    assert_eq!(a, failed(State::Established, n));
}

#[test]
fn notification_received_closes_without_answer() {
    let (mut s, t) = established();
    let n = Notification::cease_with_message(4, "reboot");
    let a = strip(s.handle(t, Event::Bytes(&notif_bytes(&n))));
    assert_eq!(a, vec![Action::NotificationReceived(n.clone()), Action::Close, sc(State::Established, State::Idle)]);
    assert_eq!(s.stats().last_notification_received, Some(n));
    assert_eq!(s.stats().flaps, 1);
    assert_restart_in(&s, t, secs(1));
}

#[test]
fn route_refresh_resends_routes_then_end_of_rib() {
    let (mut s, t) = established();
    let a = s.handle(t, Event::Bytes(&refresh(2, 1)));
    let mut want = Vec::new();
    build::announce(&SessionParams::default(), &attrs(), &[net("2001:db8::1/128")], &mut want).unwrap();
    build::end_of_rib(crate::wire::AfiSafi::IPV6_UNICAST, &mut want);
    assert_eq!(a, vec![send(want)]);
    // A family that was not negotiated is ignored (RFC 2918 §4).
    let a = s.handle(t, Event::Bytes(&refresh(1, 128)));
    assert!(matches!(a.as_slice(), [Action::Warning(_)]), "{a:?}");
}

#[test]
fn enhanced_route_refresh_frames_with_borr_and_eorr() {
    let mut caps = full_caps(65002);
    caps.push(Capability::EnhancedRouteRefresh);
    let (mut s, t) = established_with(cfg(), routes(), &peer_open_msg(65002, 90, PEER_ID, caps));
    let a = s.handle(t, Event::Bytes(&refresh(1, 1)));
    let rr = |sub| {
        let mut b = Vec::new();
        crate::wire::RouteRefresh { afi: 1, subtype: sub, safi: 1, orf: vec![] }.encode(&mut b);
        send(b)
    };
    let mut upd = Vec::new();
    build::announce(&SessionParams::default(), &attrs(), &[net("203.0.113.1/32")], &mut upd).unwrap();
    assert_eq!(a, vec![rr(1), send(upd), rr(2)]);
}

#[test]
fn set_routes_sends_the_withdraw_at_once() {
    let (mut s, t) = established();
    let mut r = routes();
    r.remove(&net("2001:db8::1/128"));
    let a = s.set_routes(t, r.clone());
    let mut want = Vec::new();
    build::withdraw(&SessionParams::default(), &[net("2001:db8::1/128")], &mut want);
    assert_eq!(a, vec![send(want)]);
    assert_eq!(s.advertised(), &r);
    assert_eq!(s.stats().prefixes_withdrawn_tx.ipv6, 1);
    // Same routes again: nothing to send.
    assert!(s.set_routes(t, r).is_empty());
}

#[test]
fn set_routes_outside_established_only_stores() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), Routes::new());
    assert!(s.set_routes(t, routes()).is_empty());
    assert_eq!(s.routes(), &routes());
    let (mut s, t) = in_opensent(cfg(), Routes::new());
    assert!(s.set_routes(t, routes()).is_empty());
    s.handle(t, Event::Bytes(&peer_open()));
    let a = s.handle(t, Event::Bytes(&ka()));
    assert_eq!(a.iter().filter(|x| matches!(x, Action::Send(_))).count(), 2, "{a:?}");
}

#[test]
fn ipv6_without_next_hop_is_not_sent_and_warns() {
    let mut a6 = attrs();
    a6.next_hop_v6 = None;
    let r = Routes::with(a6.clone(), [net("203.0.113.1/32"), net("2001:db8::1/128")]);
    let (mut s, t) = in_opensent(cfg(), r);
    s.handle(t, Event::Bytes(&peer_open()));
    let a = s.handle(t, Event::Bytes(&ka()));
    let mut upd = Vec::new();
    build::announce(&SessionParams::default(), &a6, &[net("203.0.113.1/32")], &mut upd).unwrap();
    assert!(matches!(&a[2], Action::Warning(w) if w.contains("IPv6 next hop")), "{a:?}");
    assert_eq!(a[3], send(upd));
}

#[test]
fn two_octet_peer_gets_as_trans_and_as4_path() {
    let mut c = SessionConfig::new(4_200_000_001, 65002, OUR_ID);
    c.jitter_seed = 1;
    let mut a4 = attrs();
    a4.as_path = vec![4_200_000_001];
    let r = Routes::with(a4.clone(), [net("203.0.113.1/32")]);
    let (mut s, t) = in_opensent(c.clone(), r);
    // Our OPEN: My AS = AS_TRANS (23456), real AS in capability 65.
    assert_eq!(s.our_open().my_as, crate::wire::open::AS_TRANS);
    let old_peer = peer_open_msg(65002, 90, PEER_ID, vec![]);
    s.handle(t, Event::Bytes(&old_peer));
    let a = s.handle(t, Event::Bytes(&ka()));
    let p = s.params().unwrap();
    assert!(!p.four_octet_as);
    let Some(Action::Send(upd)) = a.get(2) else { panic!("{a:?}") };
    let mut want = Vec::new();
    build::announce(&p, &a4, &[net("203.0.113.1/32")], &mut want).unwrap();
    assert_eq!(upd.as_ref(), &want[..]);
    let (Message::Update(u), _) = decode_message(upd, &p).unwrap() else { panic!() };
    assert_eq!(u.as_path.unwrap().asns().collect::<Vec<_>>(), vec![23456]);
    assert_eq!(u.as4_path.unwrap().asns().collect::<Vec<_>>(), vec![4_200_000_001]);
    // Only IPv4 unicast was negotiated (no multiprotocol capability): one End-of-RIB.
    let mut eor = Vec::new();
    build::end_of_rib(crate::wire::AfiSafi::IPV4_UNICAST, &mut eor);
    assert_eq!(a.get(3), Some(&send(eor)));
}

#[test]
fn extended_message_and_graceful_restart_only_when_configured() {
    let mut caps = full_caps(65002);
    caps.push(Capability::ExtendedMessage);
    let (s, _) = established_with(cfg(), routes(), &peer_open_msg(65002, 90, PEER_ID, caps.clone()));
    assert!(!s.params().unwrap().extended_message);
    assert!(!s.our_open().has(64));
    let mut c = cfg();
    c.extended_message = true;
    c.graceful_restart = Some(30);
    let (s, _) = established_with(c, routes(), &peer_open_msg(65002, 90, PEER_ID, caps));
    assert!(s.params().unwrap().extended_message);
    assert!(s.our_open().has(64) && s.our_open().has(6));
}

// ---- stopping, collisions, backoff -------------------------------------------------------

#[test]
fn manual_stop_sends_shutdown_communication_and_stays_down() {
    let (mut s, t) = established();
    let a = strip(s.handle(t, Event::ManualStop { reason: Some("maintenance".into()) }));
    let n = Notification::cease_with_message(2, "maintenance");
    assert_eq!(n.data[0], 11);
    assert_eq!(a, failed(State::Established, n));
    assert_eq!(s.next_deadline(), None);
    assert!(s.handle(t + secs(3600), Event::Timer).is_empty());
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn manual_stop_in_connect_and_idle() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), routes());
    s.handle(t, Event::ManualStart);
    let a = strip(s.handle(t, Event::ManualStop { reason: None }));
    assert_eq!(a, vec![Action::Close, sc(State::Connect, State::Idle)]);
    assert_eq!(s.next_deadline(), None);
    // Stop in Idle cancels a pending automatic restart.
    s.handle(t, Event::ManualStart);
    s.handle(t, Event::TcpConnectionFails);
    assert!(s.next_deadline().is_some());
    assert!(s.handle(t, Event::ManualStop { reason: None }).is_empty());
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn collision_loser_ceases_without_restart() {
    let (mut s, t) = in_opensent(cfg(), routes());
    s.handle(t, Event::Bytes(&peer_open()));
    let a = strip(s.handle(t, Event::OpenCollisionDump));
    assert_eq!(a, failed(State::OpenConfirm, Notification::new(6, 7, vec![])));
    assert_eq!(s.next_deadline(), None);
    // A second connection while in OpenSent is left to the caller.
    let (mut s, t) = in_opensent(cfg(), routes());
    assert!(matches!(s.handle(t, Event::TcpConnectionConfirmed).as_slice(), [Action::Warning(_)]));
    assert_eq!(s.state(), State::OpenSent);
}

#[test]
fn idle_hold_backs_off_and_resets_after_a_stable_session() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), routes());
    s.handle(t, Event::ManualStart);
    let mut now = t;
    for base in [1, 2, 4, 8] {
        s.handle(now, Event::TcpConnectionFails);
        assert_restart_in(&s, now, secs(base));
        now = s.next_deadline().unwrap();
        s.handle(now, Event::Timer);
        assert_eq!(s.state(), State::Connect);
    }
    // A short Established period keeps doubling.
    s.handle(now, Event::TcpCrAcked);
    s.handle(now, Event::Bytes(&peer_open()));
    s.handle(now, Event::Bytes(&ka()));
    now += secs(10);
    s.handle(now, Event::Bytes(&ka()));
    s.handle(now, Event::TcpConnectionFails);
    assert_restart_in(&s, now, secs(16));
    // A session up for STABLE_TIME starts over at the initial value.
    now = s.next_deadline().unwrap();
    s.handle(now, Event::Timer);
    s.handle(now, Event::TcpCrAcked);
    s.handle(now, Event::Bytes(&peer_open()));
    s.handle(now, Event::Bytes(&ka()));
    for _ in 0..3 {
        now += secs(20);
        s.handle(now, Event::Bytes(&ka()));
    }
    s.handle(now, Event::TcpConnectionFails);
    assert_restart_in(&s, now, secs(1));
    // ManualStart resets too.
    s.handle(now, Event::ManualStop { reason: None });
    s.handle(now, Event::ManualStart);
    assert_eq!(s.backoff_failures(), 0);
}

// ---- the receive path --------------------------------------------------------------------

#[test]
fn ten_thousand_keepalives_in_one_chunk() {
    let (mut s, t) = established();
    let chunk = ka().repeat(10_000);
    assert!(s.handle(t + secs(60), Event::Bytes(&chunk)).is_empty());
    assert_eq!(s.stats().msgs_in.keepalive, 10_001);
    assert_eq!(s.buffered(), 0);
    // The hold timer was restarted at t+60.
    assert_eq!(s.state(), State::Established);
    assert!(s.handle(t + secs(149), Event::Timer).iter().all(|a| matches!(a, Action::Send(_))));
    assert_eq!(s.state(), State::Established);
}

#[test]
fn receive_buffer_keeps_at_most_one_incomplete_message() {
    let (mut s, t) = established();
    let big = {
        let mut a = attrs();
        a.as_path = vec![65002];
        let nets: Vec<IpNet> = (0..=255u8)
            .flat_map(|i| {
                (0..4u8).map(move |j| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(100, i, j, 0), 24).unwrap()))
            })
            .collect();
        let mut b = Vec::new();
        build::announce(&SessionParams::default(), &a, &nets, &mut b).unwrap();
        b
    };
    let first_len = usize::from(u16::from_be_bytes([big[16], big[17]]));
    assert!(first_len > 4000, "{first_len}");
    // Everything but the last octet of the first message: held, nothing handled yet.
    s.handle(t, Event::Bytes(&big[..first_len - 1]));
    assert_eq!(s.buffered(), first_len - 1);
    // Octet by octet through the rest: never more than one message held.
    for b in big[first_len - 1..].chunks(1) {
        s.handle(t, Event::Bytes(b));
        assert!(s.buffered() < 4096);
    }
    assert_eq!(s.buffered(), 0);
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.stats().prefixes_announced_rx.ipv4, 1024);
}

#[test]
fn bytes_without_a_connection_are_ignored() {
    let mut s = Session::new(cfg(), routes());
    assert!(s.handle(Instant::now(), Event::Bytes(&ka())).is_empty());
    assert_eq!(s.buffered(), 0);
}

mod split {
    use super::*;
    use proptest::prelude::*;

    /// The whole conversation after our OPEN, as the peer sends it.
    fn stream() -> Vec<u8> {
        let mut v = peer_open();
        v.extend(ka());
        v.extend(peer_update(3));
        v.extend(ka().repeat(3));
        v.extend(refresh(1, 1));
        v.extend(peer_update(1));
        v.extend(ka());
        v
    }

    fn run(chunks: &[&[u8]]) -> (Vec<Action>, Stats, State) {
        let (mut s, t) = in_opensent(cfg(), routes());
        let mut acts = Vec::new();
        for c in chunks {
            acts.extend(s.handle(t, Event::Bytes(c)));
        }
        let mut st = s.stats().clone();
        st.established_at = None; // a different clock base per run
        (acts, st, s.state())
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_result(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let v = stream();
            let whole = run(&[&v]);
            prop_assert_eq!(whole.2, State::Established);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(v.len() + 1)).collect();
            at.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in at.into_iter().chain([v.len()]) {
                chunks.push(&v[prev..c]);
                prev = c;
            }
            prop_assert_eq!(run(&chunks), whole);
        }
    }
}
