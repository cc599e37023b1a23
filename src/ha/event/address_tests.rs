//! `address` checks: what a netlink message means (no IO), and in a network namespace of the
//! test's own the probe and the watcher's wake on the address's deletion and the link going
//! down, without any poll.

use super::address::{self, classify, Meaning};
use super::test_util::{drain, failed, failure_within, print_latency, within};
use super::Wake;
use crate::ha::loopback::tests::in_throwaway_netns;
use crate::ha::loopback::Loopback;
use ipnet::IpNet;
use rtnetlink::packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::time::timeout;

const A4: &str = "203.0.113.7";
const A6: &str = "2001:db8::7";
const IF: &str = "anyc0";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn msg(m: RouteNetlinkMessage) -> NetlinkMessage<RouteNetlinkMessage> {
    NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(m))
}

fn addr(index: u32, a: &str) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.index = index;
    m.attributes.push(AddressAttribute::Address(ip(a)));
    m.attributes.push(AddressAttribute::Local(ip(a)));
    m
}

fn link(index: u32, name: &str, up: bool) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    if up {
        m.header.flags = LinkFlags::Up;
    }
    m.attributes.push(LinkAttribute::IfName(name.into()));
    m
}

#[test]
fn only_our_address_and_interface_matter() {
    let a = ip(A4);
    let mut index = Some(7);
    let mut c = |m| classify(&msg(m), a, IF, &mut index);
    assert_eq!(c(RouteNetlinkMessage::DelAddress(addr(7, A4))), Meaning::Failed(format!("{A4} was removed from {IF}")));
    // Another address on the interface, or ours on another interface.
    assert_eq!(c(RouteNetlinkMessage::DelAddress(addr(7, "203.0.113.8"))), Meaning::Changed);
    assert_eq!(c(RouteNetlinkMessage::DelAddress(addr(8, A4))), Meaning::Other);
    assert_eq!(c(RouteNetlinkMessage::NewAddress(addr(7, A4))), Meaning::Changed);
    assert_eq!(c(RouteNetlinkMessage::NewAddress(addr(8, A4))), Meaning::Other);
    assert_eq!(c(RouteNetlinkMessage::NewLink(link(7, IF, false))), Meaning::Failed(format!("interface {IF} is down")));
    assert_eq!(c(RouteNetlinkMessage::NewLink(link(7, IF, true))), Meaning::Changed);
    assert_eq!(c(RouteNetlinkMessage::NewLink(link(8, "eth1", false))), Meaning::Other);
    assert_eq!(c(RouteNetlinkMessage::DelLink(link(8, "eth1", false))), Meaning::Other);
    assert_eq!(
        c(RouteNetlinkMessage::DelLink(link(7, IF, false))),
        Meaning::Failed(format!("interface {IF} was removed"))
    );
    // Gone: its old index means nothing any more; re-created under its name, the new one counts.
    assert_eq!(c(RouteNetlinkMessage::DelAddress(addr(7, A4))), Meaning::Other);
    assert_eq!(c(RouteNetlinkMessage::NewLink(link(9, IF, true))), Meaning::Changed);
    assert_eq!(c(RouteNetlinkMessage::DelAddress(addr(9, A4))), Meaning::Failed(format!("{A4} was removed from {IF}")));
    // Renamed away: no longer ours.
    assert_eq!(c(RouteNetlinkMessage::NewLink(link(9, "other0", true))), Meaning::Changed);
    assert_eq!(c(RouteNetlinkMessage::DelAddress(addr(9, A4))), Meaning::Other);
    let overrun = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::Overrun(Vec::new()));
    assert_eq!(classify(&overrun, a, IF, &mut index), Meaning::Overrun);
}

fn host(a: &str) -> IpNet {
    IpNet::from(ip(a))
}

const T: Duration = Duration::from_secs(1);

#[test]
fn a_deleted_address_or_a_link_down_fails_within_100_ms() {
    let _ = in_throwaway_netns(|| async {
        let (conn, handle, _) = rtnetlink::new_connection().unwrap();
        let _conn = tokio::spawn(conn);
        // A bridge without ports stands in for a dummy interface (the dummy module may be absent),
        // created down. No IPv6 link-local address nor duplicate address detection on it: their
        // late notifications would wake the watcher at random moments.
        let bridge = rtnetlink::LinkMessageBuilder::<rtnetlink::LinkBridge>::new(IF).build();
        handle.link().add(bridge).execute().await.unwrap();
        for (key, value) in [("addr_gen_mode", "1"), ("accept_dad", "0")] {
            // This thread's namespace: /proc/sys/net is the opener's.
            std::fs::write(format!("/proc/sys/net/ipv6/conf/{IF}/{key}"), value).unwrap();
        }
        let lo = Loopback::open(IF).await.unwrap();
        let a = ip(A4);
        assert_eq!(address::probe(a, IF, T).await, (false, format!("interface {IF} is down")));
        handle.link().set(rtnetlink::LinkUnspec::new_with_index(lo.index()).up().build()).execute().await.unwrap();
        assert_eq!(address::probe(a, IF, T).await, (false, format!("{A4} is not on {IF}")));
        assert_eq!(address::probe(a, "nosuch0", T).await, (false, "interface nosuch0 does not exist".into()));
        lo.add(&[host(A4), host(A6)]).await.unwrap();
        assert_eq!(address::probe(a, IF, T).await, (true, format!("{A4} is on {IF}, which is up")));
        assert!(address::probe(ip(A6), IF, T).await.0);

        let mut w = address::watch(a, IF).expect("an address watcher");
        within(&mut w, 2000, "initial").await;
        drain(&mut w).await;
        // An address on another interface does not wake it; another one on ours does, without
        // an outcome.
        let other = Loopback::open("lo").await.unwrap();
        other.add(&[host("203.0.113.8")]).await.unwrap();
        assert!(timeout(Duration::from_millis(100), w.next()).await.is_err(), "woke for lo");
        lo.add(&[host("203.0.113.9")]).await.unwrap();
        assert_eq!(within(&mut w, 100, "another address on ours").await, Wake { outcome: None });
        drain(&mut w).await;
        lo.remove(&[host(A6)]).await.unwrap();
        assert_eq!(failed(&within(&mut w, 100, "another address removed").await), None);
        drain(&mut w).await;

        let mut lat = Vec::new();
        for i in 0..50 {
            if i > 0 {
                lo.add(&[host(A4)]).await.unwrap();
                assert_eq!(within(&mut w, 500, "re-added").await, Wake { outcome: None });
                drain(&mut w).await;
            }
            let t = Instant::now();
            lo.remove(&[host(A4)]).await.unwrap();
            let why = failure_within(&mut w, 100, "address removed").await;
            lat.push(t.elapsed());
            assert_eq!(why, format!("{A4} was removed from {IF}"));
        }
        print_latency("address removal -> wake", &mut lat);
        assert_eq!(address::probe(a, IF, T).await, (false, format!("{A4} is not on {IF}")));

        lo.add(&[host(A4)]).await.unwrap();
        drain(&mut w).await;
        let t = Instant::now();
        handle.link().set(rtnetlink::LinkUnspec::new_with_index(lo.index()).down().build()).execute().await.unwrap();
        let why = failure_within(&mut w, 100, "link down").await;
        eprintln!("link down -> wake {:?}", t.elapsed());
        assert_eq!(why, format!("interface {IF} is down"));
        assert_eq!(address::probe(a, IF, T).await, (false, format!("interface {IF} is down")));
        drain(&mut w).await;
        handle.link().set(rtnetlink::LinkUnspec::new_with_index(lo.index()).up().build()).execute().await.unwrap();
        assert_eq!(failed(&within(&mut w, 100, "link up").await), None);
        drain(&mut w).await;
        handle.link().del(lo.index()).execute().await.unwrap();
        // The removal of its addresses may come first.
        let mut why = failure_within(&mut w, 100, "link removed").await;
        while why != format!("interface {IF} was removed") {
            why = failure_within(&mut w, 100, "link removed").await;
        }
        other.remove(&[host("203.0.113.8")]).await.unwrap();
    });
}
