//! Scripted tests of the Established state and the receive path: UPDATE errors and
//! counters, prefix limit, route refresh, route changes, AS4 handling, stopping, collisions,
//! IdleHold backoff, stream framing (one big chunk, any split point).

use super::fsm_tests::*;
use super::*;
use crate::wire::build;
use crate::wire::{decode_message, Capability, Message};
use ipnet::IpNet;
use std::net::Ipv4Addr;
use std::time::Instant;

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
fn max_prefixes_counts_prefixes_held_not_announcements() {
    // RFC 4271 §9: announcing a held prefix again replaces it (implicit withdraw).
    let mut c = cfg();
    c.max_prefixes = Some(2);
    let (mut s, t) = established_with(c, routes(), &peer_open());
    for _ in 0..5 {
        assert!(s.handle(t, Event::Bytes(&peer_update(2))).is_empty());
    }
    assert_eq!(s.state(), State::Established);
    // Withdrawing a prefix never announced frees nothing: a third one still exceeds 2.
    let mut w = Vec::new();
    build::withdraw(&SessionParams::default(), &[net("192.0.2.1/32"), net("192.0.2.2/32")], &mut w);
    assert!(s.handle(t, Event::Bytes(&w)).is_empty());
    let a = strip(s.handle(t, Event::Bytes(&peer_update(3))));
    assert_eq!(a, failed(State::Established, Notification::new(6, 1, vec![0, 1, 1, 0, 0, 0, 2])));
}

#[test]
fn max_prefixes_withdrawn_and_treat_as_withdraw_make_room() {
    let mut c = cfg();
    c.max_prefixes = Some(2);
    let (mut s, t) = established_with(c, routes(), &peer_open());
    let p = SessionParams::default();
    let mut a = attrs();
    a.as_path = vec![65002];
    let announce = |nets: &[&str]| {
        let mut b = Vec::new();
        build::announce(&p, &a, &nets.iter().map(|n| net(n)).collect::<Vec<_>>(), &mut b).unwrap();
        b
    };
    assert!(s.handle(t, Event::Bytes(&announce(&["198.51.100.0/32", "198.51.100.1/32"]))).is_empty());
    let mut w = Vec::new();
    build::withdraw(&p, &[net("198.51.100.0/32")], &mut w);
    assert!(s.handle(t, Event::Bytes(&w)).is_empty());
    assert!(s.handle(t, Event::Bytes(&announce(&["198.51.100.2/32"]))).is_empty());
    // 198.51.100.3/32 without ORIGIN: treat-as-withdraw (RFC 7606 §3 (d)), not held.
    let mut m = crate::wire::header::MARKER.to_vec();
    m.extend_from_slice(&(19u16 + 4 + 10 + 5).to_be_bytes());
    m.extend_from_slice(&[2, 0, 0, 0, 10, 0x40, 2, 0, 0x40, 3, 4, 192, 0, 2, 9, 32, 198, 51, 100, 3]);
    assert!(matches!(s.handle(t, Event::Bytes(&m)).as_slice(), [Action::UpdateError(_)]));
    // Announcing a held prefix again replaces it: still 2.
    assert!(s.handle(t, Event::Bytes(&announce(&["198.51.100.1/32"]))).is_empty());
    assert_eq!(s.state(), State::Established);
    let a = strip(s.handle(t, Event::Bytes(&announce(&["198.51.100.3/32"]))));
    assert_eq!(a, failed(State::Established, Notification::new(6, 1, vec![0, 1, 1, 0, 0, 0, 2])));
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
    let mut c = config(4_200_000_001, 65002, OUR_ID);
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

/// A reload's stops (RFC 4486 §4): 6/6 for a changed neighbor, 6/3 for a removed one, no Data
/// (no shutdown communication outside subcodes 2 and 4), Idle for good.
#[test]
fn config_stop_sends_its_cease_without_data_and_stays_down() {
    for (why, subcode) in [(ConfigStop::OtherConfigurationChange, 6), (ConfigStop::PeerDeconfigured, 3)] {
        let (mut s, t) = established();
        let a = strip(s.handle(t, Event::ConfigStop(why)));
        assert_eq!(a, failed(State::Established, Notification::new(6, subcode, vec![])));
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.state(), State::Idle);
    }
}

#[test]
fn admin_reset_sends_cease_administrative_reset_and_connects_again_at_once() {
    let (mut s, t) = established();
    let a = strip(s.handle(t, Event::AdminReset { reason: Some("operator reset".into()), restart: true }));
    let n = Notification::cease_with_message(crate::wire::notification::cease::ADMINISTRATIVE_RESET, "operator reset");
    assert_eq!((n.code, n.subcode), (6, 4));
    let mut want = failed(State::Established, n);
    want.extend([Action::Connect, sc(State::Idle, State::Connect)]);
    assert_eq!(a, want);
    assert_eq!(s.stats().flaps, 1);
    // Without `restart` (a collision's second connection): closed and Idle for good.
    let (mut s, t) = established();
    let a = strip(s.handle(t, Event::AdminReset { reason: None, restart: false }));
    assert_eq!(a, failed(State::Established, Notification::new(6, 4, vec![])));
    assert_eq!(s.next_deadline(), None);
    // In Idle, waiting out a back-off: connects now.
    let t = Instant::now();
    let mut s = Session::new(cfg(), routes());
    s.handle(t, Event::ManualStart);
    s.handle(t, Event::TcpConnectionFails);
    assert_eq!(s.state(), State::Idle);
    let a = strip(s.handle(t, Event::AdminReset { reason: None, restart: true }));
    assert_eq!(a, vec![Action::Connect, sc(State::Idle, State::Connect)]);
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
fn bfd_down_ceases_with_subcode_10_and_waits_or_restarts() {
    // Strict: Cease / BFD Down (RFC 9384), Idle, nothing scheduled: the caller restarts the
    // session when BFD is Up again.
    let (mut s, t) = established();
    let a = strip(s.handle(t, Event::BfdDown { restart: false }));
    assert_eq!(a, failed(State::Established, Notification::new(6, 10, vec![])));
    assert_eq!(s.next_deadline(), None);
    assert!(s.handle(t + secs(3600), Event::Timer).is_empty());
    // Not strict: the session comes back by itself after the IdleHold back-off.
    let (mut s, t) = established();
    s.handle(t, Event::BfdDown { restart: true });
    assert_eq!(s.state(), State::Idle);
    assert!(s.next_deadline().is_some());
    // Connect: the attempt is abandoned; Idle: a pending restart is cancelled.
    let mut s = Session::new(cfg(), routes());
    s.handle(t, Event::ManualStart);
    assert_eq!(
        strip(s.handle(t, Event::BfdDown { restart: false })),
        vec![Action::Close, sc(State::Connect, State::Idle)]
    );
    s.handle(t, Event::ManualStart);
    s.handle(t, Event::TcpConnectionFails);
    assert!(s.next_deadline().is_some());
    assert!(s.handle(t, Event::BfdDown { restart: false }).is_empty());
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
fn idle_hold_backs_off_on_our_errors_and_resets_when_the_peer_ends_the_session() {
    let t = Instant::now();
    let mut s = Session::new(cfg(), routes());
    s.handle(t, Event::ManualStart);
    let mut now = t;
    // Failed connection attempts (the router unreachable, refusing or silent) go on at the
    // ConnectRetry pace however many there are: nothing is damped, so the session comes back
    // within that pace once the router is reachable again, and the router's own connection is
    // accepted meanwhile (`Peer::accept` refuses only damped sessions).
    for _ in 0..6 {
        s.handle(now, Event::TcpConnectionFails);
        assert_restart_in(&s, now, secs(30));
        assert_eq!(s.backoff_failures(), 0);
        now = s.next_deadline().unwrap();
        s.handle(now, Event::Timer);
        assert_eq!(s.state(), State::Connect);
    }
    // A short Established period that the transport ended (a router restarting, a link
    // flap) starts over at the initial value: the route must come back with the router.
    s.handle(now, Event::TcpCrAcked);
    s.handle(now, Event::Bytes(&peer_open()));
    s.handle(now, Event::Bytes(&ka()));
    now += secs(10);
    s.handle(now, Event::Bytes(&ka()));
    s.handle(now, Event::TcpConnectionFails);
    assert_restart_in(&s, now, secs(1));
    // One ended by an error we detected keeps doubling (DampPeerOscillations).
    now = s.next_deadline().unwrap();
    s.handle(now, Event::Timer);
    s.handle(now, Event::TcpCrAcked);
    s.handle(now, Event::Bytes(&peer_open()));
    s.handle(now, Event::Bytes(&ka()));
    assert_eq!(s.state(), State::Established);
    let acts = s.handle(now, Event::Bytes(&[0u8; 19]));
    assert!(acts.iter().any(|a| matches!(a, Action::NotificationSent(n) if n.code == 1 && n.subcode == 1)));
    assert_restart_in(&s, now, secs(2));
    now = s.next_deadline().unwrap();
    s.handle(now, Event::Timer);
    s.handle(now, Event::TcpCrAcked);
    s.handle(now, Event::Bytes(&peer_open()));
    s.handle(now, Event::Bytes(&ka()));
    s.handle(now, Event::Bytes(&[0u8; 19]));
    assert_restart_in(&s, now, secs(4));
    // A NOTIFICATION from the peer (it ended the session) starts over too.
    now = s.next_deadline().unwrap();
    s.handle(now, Event::Timer);
    s.handle(now, Event::TcpCrAcked);
    s.handle(now, Event::Bytes(&peer_open()));
    s.handle(now, Event::Bytes(&ka()));
    let mut cease = Vec::new();
    crate::wire::Notification::cease_with_message(2, "router maintenance").encode(&mut cease);
    s.handle(now, Event::Bytes(&cease));
    assert_restart_in(&s, now, secs(1));
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
fn pending_message_is_completed_then_the_rest_parsed_in_place() {
    let (mut s, t) = established();
    let upd = peer_update(2);
    // 10 octets of an UPDATE (mid-marker), then its rest followed by 10,000 KEEPALIVEs and
    // half a KEEPALIVE.
    s.handle(t, Event::Bytes(&upd[..10]));
    assert_eq!(s.buffered(), 10);
    let mut chunk = upd[10..].to_vec();
    chunk.extend(ka().repeat(10_000));
    chunk.extend(&ka()[..9]);
    assert!(s.handle(t, Event::Bytes(&chunk)).is_empty());
    assert_eq!(s.buffered(), 9);
    assert_eq!(s.stats().prefixes_announced_rx.ipv4, 2);
    assert_eq!(s.stats().msgs_in.keepalive, 10_001);
    s.handle(t, Event::Bytes(&ka()[9..]));
    assert_eq!((s.buffered(), s.stats().msgs_in.keepalive), (0, 10_002));
    // A bad header completed across chunks is still caught.
    s.handle(t, Event::Bytes(&[0xff; 17]));
    let a = s.handle(t, Event::Bytes(&[0x13, 9]));
    assert!(a.contains(&Action::NotificationSent(Notification::new(1, 3, vec![9]))), "{a:?}");
    assert_eq!((s.state(), s.buffered()), (State::Idle, 0));
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
