//! Property tests: arbitrary valid messages round-trip encode → decode → the same value, and
//! arbitrary or mutated bytes never panic the decoder.

use anycastd::cli::decode;
use anycastd::wire::attr::{Aggregator, Attr, MpNextHop, Origin, PathAttribute, Segment, SegmentType};
use anycastd::wire::capability::{AddPathMode, AfiSafi, Capability, GracefulRestart};
use anycastd::wire::community::{Community, LargeCommunity};
use anycastd::wire::nlri::Prefix;
use anycastd::wire::{self, Message, Notification, Open, PeerText, RouteRefresh, SessionParams, UpdateMsg};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn v4_prefix() -> impl Strategy<Value = Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Prefix::from(IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap())))
}

fn v6_prefix() -> impl Strategy<Value = Prefix> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, l)| Prefix::from(IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap())))
}

fn host_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u32..0xe000_0000).prop_map(Ipv4Addr::from)
}

fn segments(four: bool) -> impl Strategy<Value = Vec<Segment>> {
    let asn = if four { any::<u32>().boxed() } else { any::<u16>().prop_map(u32::from).boxed() };
    prop::collection::vec(
        (1u8..=4, prop::collection::vec(asn, 1..12))
            .prop_map(|(k, asns)| Segment { kind: SegmentType::from_u8(k).unwrap(), asns }),
        0..4,
    )
}

fn update(four: bool) -> impl Strategy<Value = UpdateMsg> {
    (
        prop::collection::vec(v4_prefix(), 0..20),
        prop::collection::vec(v4_prefix(), 0..20),
        (0u8..3, segments(four), host_v4()),
        (any::<Option<u32>>(), any::<Option<u32>>(), any::<bool>(), any::<Option<(u32, u32)>>()),
        prop::collection::vec(any::<u32>(), 0..8),
        prop::collection::vec(any::<(u32, u32, u32)>(), 0..4),
        prop::collection::vec(any::<[u8; 8]>(), 0..4),
        prop::option::of((prop::collection::vec(v6_prefix(), 0..20), any::<u128>(), any::<Option<u128>>())),
        prop::option::of(prop::collection::vec(v6_prefix(), 0..20)),
        prop::option::of((100u8..=200, prop::collection::vec(any::<u8>(), 1..40))),
    )
        .prop_map(
            move |(withdrawn, nlri, (o, path, nh), (med, lp, atomic, agg), comms, large, ext, mp, mpu, unk)| {
                let mut attrs = Vec::new();
                let mut push = |a: Attr| attrs.push(PathAttribute::new(a));
                if let Some((v6, g, ll)) = mp {
                    push(Attr::MpReach {
                        afi: 2,
                        safi: 1,
                        next_hop: MpNextHop::V6 { global: Ipv6Addr::from(g), link_local: ll.map(Ipv6Addr::from) },
                        nlri: v6,
                        raw_nlri: Vec::new(),
                    });
                }
                if let Some(w) = mpu {
                    push(Attr::MpUnreach { afi: 2, safi: 1, withdrawn: w, raw_withdrawn: Vec::new() });
                }
                push(Attr::Origin(Origin::from_u8(o).unwrap()));
                push(Attr::AsPath(path));
                push(Attr::NextHop(nh));
                if let Some(m) = med {
                    push(Attr::Med(m));
                }
                if let Some(l) = lp {
                    push(Attr::LocalPref(l));
                }
                if atomic {
                    push(Attr::AtomicAggregate);
                }
                if let Some((a, addr)) = agg {
                    let asn = if four { a } else { a & 0xffff };
                    push(Attr::Aggregator(Aggregator { asn, address: Ipv4Addr::from(addr) }));
                }
                if !comms.is_empty() {
                    push(Attr::Communities(comms.into_iter().map(Community).collect()));
                }
                if !ext.is_empty() {
                    push(Attr::ExtCommunities(ext));
                }
                if !large.is_empty() {
                    push(Attr::LargeCommunities(
                        large.into_iter().map(|(g, a, b)| LargeCommunity { global: g, local1: a, local2: b }).collect(),
                    ));
                }
                if let Some((t, v)) = unk {
                    push(Attr::Unknown { type_code: t, value: v });
                }
                UpdateMsg { withdrawn, attrs, nlri }
            },
        )
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Capability::Multiprotocol(AfiSafi::new(a, s))),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        (1u32..).prop_map(Capability::FourOctetAs),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            prop::collection::vec((any::<u16>(), any::<u8>(), any::<bool>()), 0..4)
        )
            .prop_map(|(r, n, t, f)| Capability::GracefulRestart(GracefulRestart {
                restarting: r,
                notification: n,
                restart_time: t,
                families: f.into_iter().map(|(a, s, fw)| (AfiSafi::new(a, s), fw)).collect(),
            })),
        prop::collection::vec((any::<u16>(), any::<u8>(), 1u8..=3), 1..4).prop_map(|t| Capability::AddPath(
            t.into_iter().map(|(a, s, m)| (AfiSafi::new(a, s), AddPathMode::from_u8(m))).collect()
        )),
        (prop::collection::vec(any::<u8>(), 0..30), prop::collection::vec(any::<u8>(), 0..30)).prop_map(|(h, d)| {
            Capability::Fqdn { hostname: PeerText::from_bytes(&h), domain: PeerText::from_bytes(&d) }
        }),
        (129u8..=250, prop::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn update_round_trips((four, msg) in any::<bool>().prop_flat_map(|four| (Just(four), update(four)))) {
        let p = SessionParams { four_octet_as: four, ..SessionParams::default() };
        let mut b = Vec::new();
        if msg.encode(&p, &mut b).is_ok() {
            let (m, used) = wire::decode_message(&b, &p).unwrap();
            prop_assert_eq!(used, b.len());
            let Message::Update(u) = m else { panic!("not an UPDATE") };
            prop_assert!(u.treat_as_withdraw.is_none(), "{:?}", u.treat_as_withdraw);
            // The encoder sets Extended Length on values over 255 octets; expect that flag.
            let mut want = msg.clone();
            for a in &mut want.attrs {
                let mut v = Vec::new();
                a.attr.encode_value(four, &mut v).unwrap();
                if v.len() > 255 {
                    a.flags |= anycastd::wire::attr::flag::EXTENDED_LENGTH;
                }
            }
            prop_assert_eq!(u.to_owned_msg(), want);
        }
    }

    #[test]
    fn open_round_trips(asn in 1u32.., hold in prop_oneof![Just(0u16), 3u16..], id in host_v4(),
                        caps in prop::collection::vec(capability(), 0..12), extended in any::<bool>()) {
        let mut o = Open::new(asn, hold, id, caps);
        o.extended_params = extended;
        let mut b = Vec::new();
        if o.encode(&mut b).is_ok() {
            let (m, _) = wire::decode_message(&b, &SessionParams::default()).unwrap();
            let Message::Open(mut d) = m else { panic!("not an OPEN") };
            d.param_layout.clear();
            prop_assert_eq!(d, o);
        }
    }

    #[test]
    fn notification_and_route_refresh_round_trip(code in any::<u8>(), sub in any::<u8>(),
            data in prop::collection::vec(any::<u8>(), 0..100), afi in any::<u16>(), safi in any::<u8>()) {
        let n = Notification::new(code, sub, data);
        let mut b = Vec::new();
        n.encode(&mut b);
        let (Message::Notification(d), _) = wire::decode_message(&b, &SessionParams::default()).unwrap() else { panic!() };
        prop_assert_eq!(d, n);
        let r = RouteRefresh::new(afi, safi);
        let mut b = Vec::new();
        r.encode(&mut b);
        let (Message::RouteRefresh(d), _) = wire::decode_message(&b, &SessionParams::default()).unwrap() else { panic!() };
        prop_assert_eq!(d, r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..600), four in any::<bool>(), ap in any::<bool>()) {
        let p = SessionParams { four_octet_as: four, extended_message: false, add_path_v4: ap, add_path_v6: ap };
        let _ = wire::decode_message(&b, &p);
        let _ = wire::update::Update::decode(&b, &p).map(|u| (u.announced().count(), u.effective_as_path(), u.to_owned_msg()));
        let _ = Open::decode(&b);
        let _ = wire::attr::MpReach::parse(&b, ap, ap);
        // With a valid header in front, every body reaches the message decoders.
        for t in 1u8..=5 {
            let mut m = vec![0xff; 16];
            m.extend_from_slice(&((19 + b.len()) as u16).to_be_bytes());
            m.push(t);
            m.extend_from_slice(&b);
            let _ = decode::decode_stream(&m, &p);
        }
    }

    #[test]
    fn mutated_updates_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let p = SessionParams::default();
        let mut b = Vec::new();
        let attrs = vec![
            PathAttribute::new(Attr::Origin(Origin::Igp)),
            PathAttribute::new(Attr::AsPath(vec![Segment { kind: SegmentType::AsSequence, asns: vec![65000, 4_200_000_000] }])),
            PathAttribute::new(Attr::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
            PathAttribute::new(Attr::Communities(vec![Community::NO_EXPORT])),
            PathAttribute::new(Attr::MpReach { afi: 2, safi: 1, next_hop: MpNextHop::V6 { global: Ipv6Addr::LOCALHOST, link_local: None },
                nlri: vec![Prefix::from("2001:db8::/32".parse::<IpNet>().unwrap())], raw_nlri: vec![] }),
        ];
        UpdateMsg { withdrawn: vec![], attrs, nlri: vec![Prefix::from("203.0.113.0/24".parse::<IpNet>().unwrap())] }.encode(&p, &mut b).unwrap();
        for (i, v) in flips {
            let i = 19 + i.index(b.len() - 19);
            b[i] = v;
        }
        let out = decode::decode_stream(&b, &p);
        prop_assert!(!out.lines.is_empty());
    }
}
