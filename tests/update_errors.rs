//! One malformed-input test per UPDATE error: the exact NOTIFICATION (code, subcode, data) of
//! RFC 4271 §6.3 and the RFC 7606 action, plus the packing of our own UPDATEs.

use anycastd::wire::{self, build, nlri, update::Update, ErrorAction, Message, SessionParams};
use ipnet::IpNet;

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const AS_PATH_65000: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];
const NLRI_24: &[u8] = &[24, 203, 0, 113];

fn body(withdrawn: &[u8], attrs: &[&[u8]], nlri: &[u8]) -> Vec<u8> {
    let a: Vec<u8> = attrs.concat();
    let mut b = Vec::new();
    b.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(a.len() as u16).to_be_bytes());
    b.extend_from_slice(&a);
    b.extend_from_slice(nlri);
    b
}

fn p() -> SessionParams {
    SessionParams::default()
}

/// Decodes and returns (code, subcode, data, action) of the most severe error.
fn err(b: &[u8]) -> (u8, u8, Vec<u8>, ErrorAction) {
    match Update::decode(b, &p()) {
        Err(e) => (e.code(), e.subcode(), e.notification.data, e.action),
        Ok(u) => {
            let e = u.treat_as_withdraw.as_deref().or(u.discard_errors.first()).expect("an error");
            (e.code(), e.subcode(), e.notification.data.clone(), e.action)
        }
    }
}

#[test]
fn well_formed_update_decodes_clean() {
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, NEXT_HOP], NLRI_24);
    let u = Update::decode(&b, &p()).unwrap();
    assert!(u.treat_as_withdraw.is_none() && u.discard_errors.is_empty());
    assert_eq!(u.announced().map(|x| x.net.to_string()).collect::<Vec<_>>(), ["203.0.113.0/24"]);
    assert_eq!(u.as_path.unwrap().asns().collect::<Vec<_>>(), [65000]);
}

#[test]
fn lengths_past_the_message_are_malformed_attribute_list() {
    // RFC 4271 §6.3: Withdrawn Routes Length or Total Attribute Length too large.
    assert_eq!(err(&[0, 9, 24, 1, 2, 3]), (3, 1, vec![], ErrorAction::SessionReset));
    assert_eq!(err(&[0, 0, 0, 9, 0x40, 1, 1, 0]), (3, 1, vec![], ErrorAction::SessionReset));
    assert_eq!(err(&[0]), (3, 1, vec![], ErrorAction::SessionReset));
}

#[test]
fn nlri_syntax_errors_reset() {
    // RFC 7606 §5.3: prefix length beyond the family maximum, or a truncated prefix.
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, NEXT_HOP], &[33, 1, 2, 3, 4, 5]);
    assert_eq!(err(&b), (3, 10, vec![], ErrorAction::SessionReset));
    let b = body(&[24, 203, 0], &[], &[]);
    assert_eq!(err(&b), (3, 10, vec![], ErrorAction::SessionReset));
}

#[test]
fn attribute_overrun_is_treat_as_withdraw() {
    // RFC 7606 §4: an attribute running past the attribute field.
    let bad: &[u8] = &[0xc0, 8, 8, 0, 1];
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, NEXT_HOP, bad], NLRI_24);
    assert_eq!(err(&b), (3, 1, vec![], ErrorAction::TreatAsWithdraw));
    // Fewer than 3 octets left.
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, NEXT_HOP, &[0x40, 1]], NLRI_24);
    assert_eq!(err(&b), (3, 1, vec![], ErrorAction::TreatAsWithdraw));
    // An MP attribute cut short cannot be located: session reset.
    let b = body(&[], &[&[0x80, 15, 9, 0, 2, 1]], &[]);
    assert_eq!(err(&b).3, ErrorAction::SessionReset);
}

#[test]
fn unrecognized_well_known_resets_with_the_attribute_as_data() {
    let unknown: &[u8] = &[0x40, 99, 1, 7];
    let b = body(&[], &[ORIGIN_IGP, unknown], &[]);
    assert_eq!(err(&b), (3, 2, unknown.to_vec(), ErrorAction::SessionReset));
    // An unknown optional attribute is fine and kept.
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, NEXT_HOP, &[0xc0, 99, 1, 7]], NLRI_24);
    let u = Update::decode(&b, &p()).unwrap();
    assert_eq!(u.unknown_attrs, 1);
    assert!(u.treat_as_withdraw.is_none());
}

#[test]
fn missing_well_known_is_treat_as_withdraw_with_the_type_as_data() {
    let b = body(&[], &[AS_PATH_65000, NEXT_HOP], NLRI_24);
    assert_eq!(err(&b), (3, 3, vec![1], ErrorAction::TreatAsWithdraw));
    let b = body(&[], &[ORIGIN_IGP, NEXT_HOP], NLRI_24);
    assert_eq!(err(&b), (3, 3, vec![2], ErrorAction::TreatAsWithdraw));
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000], NLRI_24);
    assert_eq!(err(&b), (3, 3, vec![3], ErrorAction::TreatAsWithdraw));
    // No NLRI: nothing is mandatory (a withdraw-only UPDATE).
    let b = body(&[24, 203, 0, 113], &[], &[]);
    assert!(Update::decode(&b, &p()).unwrap().treat_as_withdraw.is_none());
    // Every announced prefix is then withdrawn.
    let b = body(&[], &[AS_PATH_65000, NEXT_HOP], NLRI_24);
    let u = Update::decode(&b, &p()).unwrap();
    assert_eq!(u.effective_withdrawn().count(), 1);
}

#[test]
fn attribute_flags_error_carries_the_attribute() {
    // ORIGIN sent as optional (scapy's fixture shape: 80 01 01 00).
    let bad: &[u8] = &[0x80, 1, 1, 0];
    let b = body(&[], &[bad, AS_PATH_65000, NEXT_HOP], NLRI_24);
    assert_eq!(err(&b), (3, 4, bad.to_vec(), ErrorAction::TreatAsWithdraw));
    // AGGREGATOR with wrong flags: attribute discard (RFC 7606 §7.7).
    let agg: &[u8] = &[0x40, 7, 8, 0, 0, 0xfd, 0xe8, 192, 0, 2, 1];
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, NEXT_HOP, agg], NLRI_24);
    assert_eq!(err(&b), (3, 4, agg.to_vec(), ErrorAction::AttributeDiscard));
    // MP_REACH_NLRI with the transitive bit: session reset.
    let mp: &[u8] = &[0xc0, 14, 5, 0, 2, 1, 0, 0];
    assert_eq!(err(&body(&[], &[mp], &[])).3, ErrorAction::SessionReset);
}

#[test]
fn attribute_length_errors() {
    for (bad, action) in [
        (&[0x40u8, 1, 2, 0, 0][..], ErrorAction::TreatAsWithdraw), // ORIGIN 2 octets
        (&[0x40, 3, 5, 192, 0, 2, 1, 0][..], ErrorAction::TreatAsWithdraw), // NEXT_HOP 5
        (&[0x80, 4, 3, 0, 0, 1][..], ErrorAction::TreatAsWithdraw), // MED 3
        (&[0x40, 5, 0][..], ErrorAction::TreatAsWithdraw),         // LOCAL_PREF 0
        (&[0x40, 6, 1, 0][..], ErrorAction::AttributeDiscard),     // ATOMIC_AGGREGATE 1
        (&[0xc0, 7, 6, 0, 1, 192, 0, 2, 1][..], ErrorAction::AttributeDiscard), // AGGREGATOR 6 on 4-octet
        (&[0xc0, 8, 3, 0, 1, 0][..], ErrorAction::TreatAsWithdraw), // COMMUNITIES 3
        (&[0xc0, 16, 4, 0, 2, 0, 1][..], ErrorAction::TreatAsWithdraw), // EXT COMMUNITIES 4
        (&[0xc0, 32, 8, 0, 0, 0, 1, 0, 0, 0, 2][..], ErrorAction::TreatAsWithdraw), // LARGE 8
        (&[0xc0, 18, 6, 0, 1, 192, 0, 2, 1][..], ErrorAction::AttributeDiscard), // AS4_AGGREGATOR 6
    ] {
        let t = bad[1];
        let attrs: Vec<&[u8]> =
            [ORIGIN_IGP, AS_PATH_65000, NEXT_HOP].into_iter().filter(|a| a[1] != t).chain([bad]).collect();
        let b = body(&[], &attrs, NLRI_24);
        assert_eq!(err(&b), (3, 5, bad.to_vec(), action), "attribute type {t}");
    }
}

#[test]
fn invalid_origin_and_next_hop() {
    let bad: &[u8] = &[0x40, 1, 1, 3];
    let b = body(&[], &[bad, AS_PATH_65000, NEXT_HOP], NLRI_24);
    assert_eq!(err(&b), (3, 6, bad.to_vec(), ErrorAction::TreatAsWithdraw));
    for nh in [[0u8, 0, 0, 0], [224, 0, 0, 1], [255, 255, 255, 255]] {
        let bad = [&[0x40u8, 3, 4][..], &nh].concat();
        let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, &bad], NLRI_24);
        assert_eq!(err(&b), (3, 8, bad.clone(), ErrorAction::TreatAsWithdraw));
    }
    // NEXT_HOP 0.0.0.0 beside MP_REACH only (no classic NLRI) is ignored, as the
    // tcpdump mpbgp-linklocal fixture shows real speakers send.
    let mp: &[u8] = &[0x80, 14, 22, 0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0];
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, &[0x40, 3, 4, 0, 0, 0, 0], mp], &[]);
    assert!(Update::decode(&b, &p()).unwrap().treat_as_withdraw.is_none());
}

#[test]
fn malformed_as_path_has_no_data() {
    for bad in [
        &[0x40u8, 2, 6, 5, 1, 0, 0, 0xfd, 0xe8][..], // segment type 5
        &[0x40, 2, 2, 2, 0][..],                     // zero-length segment
        &[0x40, 2, 6, 2, 2, 0, 0, 0xfd, 0xe8][..],   // overrun
        &[0x40, 2, 1, 2][..],                        // half a header
    ] {
        let b = body(&[], &[ORIGIN_IGP, bad, NEXT_HOP], NLRI_24);
        assert_eq!(err(&b), (3, 11, vec![], ErrorAction::TreatAsWithdraw), "{bad:?}");
    }
    // A malformed AS4_PATH is discarded (RFC 6793 §6), the route stays.
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, NEXT_HOP, &[0xc0, 17, 2, 2, 0]], NLRI_24);
    let u = Update::decode(&b, &p()).unwrap();
    assert!(u.treat_as_withdraw.is_none());
    assert!(u.discarded.contains(17));
}

#[test]
fn mp_reach_errors_reset_with_optional_attribute_error() {
    // IPv6 next hop of 5 octets.
    let mp: &[u8] = &[0x80, 14, 11, 0, 2, 1, 5, 1, 2, 3, 4, 5, 0, 0];
    assert_eq!(err(&body(&[], &[ORIGIN_IGP, AS_PATH_65000, mp], &[])).0, 3);
    let (c, s, _, a) = err(&body(&[], &[ORIGIN_IGP, AS_PATH_65000, &mp[..mp.len() - 1]], &[]));
    assert_eq!((c, a), (3, ErrorAction::SessionReset));
    assert!(s == 9 || s == 1);
    // IPv6 prefix length 129 inside MP_REACH_NLRI.
    let mp: &[u8] = &[0x80, 14, 22, 0, 2, 1, 16, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 129];
    let fixed_len = [&mp[..2], &[(mp.len() - 3) as u8], &mp[3..]].concat();
    assert_eq!(
        err(&body(&[], &[ORIGIN_IGP, AS_PATH_65000, &fixed_len], &[])),
        (3, 9, fixed_len.clone(), ErrorAction::SessionReset)
    );
    // MP_UNREACH_NLRI shorter than AFI+SAFI.
    let mu: &[u8] = &[0x80, 15, 2, 0, 2];
    assert_eq!(err(&body(&[], &[mu], &[])), (3, 9, mu.to_vec(), ErrorAction::SessionReset));
}

#[test]
fn repeated_attributes() {
    // RFC 7606 §3 (g): a second MP_REACH_NLRI resets; any other repeat is discarded.
    let mu: &[u8] = &[0x80, 15, 3, 0, 2, 1];
    let (c, s, _, a) = err(&body(&[], &[mu, mu], &[]));
    assert_eq!((c, s, a), (3, 1, ErrorAction::SessionReset));
    let b = body(&[], &[ORIGIN_IGP, AS_PATH_65000, NEXT_HOP, &[0x40, 1, 1, 2]], NLRI_24);
    let u = Update::decode(&b, &p()).unwrap();
    assert_eq!(u.origin, Some(wire::attr::Origin::Igp));
    assert!(u.discarded.contains(1));
}

#[test]
fn two_octet_session_reads_two_octet_as_path() {
    let two = SessionParams { four_octet_as: false, ..p() };
    let b = body(&[], &[ORIGIN_IGP, &[0x40, 2, 4, 2, 1, 0xfd, 0xe8], NEXT_HOP], NLRI_24);
    let u = Update::decode(&b, &two).unwrap();
    assert_eq!(u.as_path.unwrap().asns().collect::<Vec<_>>(), [65000]);
    // The same octets on a 4-octet session overrun the segment.
    assert_eq!(err(&b), (3, 11, vec![], ErrorAction::TreatAsWithdraw));
}

fn our_attrs() -> build::RouteAttrs {
    build::RouteAttrs {
        origin: wire::attr::Origin::Igp,
        as_path: vec![65124],
        med: Some(10),
        local_pref: None,
        communities: vec!["65124:100".parse().unwrap()],
        large_communities: vec!["65124:1:2".parse().unwrap()],
        next_hop_v4: Some("198.51.100.124".parse().unwrap()),
        next_hop_v6: Some(("2001:db8:2::11".parse().unwrap(), None)),
    }
}

fn decode_all(mut b: &[u8], p: &SessionParams) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (m, n) = wire::decode_message(b, p).unwrap();
        let Message::Update(u) = m else { panic!("not an UPDATE") };
        assert!(u.treat_as_withdraw.is_none());
        out.push(u.announced().chain(u.withdrawn_all()).map(|x| x.net.to_string()).collect());
        b = &b[n..];
    }
    out
}

#[test]
fn our_updates_pack_to_the_maximum_and_decode_back() {
    let p = p();
    // 2,000 IPv4 /32s and 1,000 IPv6 /128s: more than one 4096-octet message each.
    let v4: Vec<IpNet> =
        (0..2000u32).map(|i| IpNet::new(std::net::Ipv4Addr::from(0xcb00_7100 + i).into(), 32).unwrap()).collect();
    let v6: Vec<IpNet> = (0..1000u128)
        .map(|i| {
            IpNet::new(std::net::Ipv6Addr::from(0x2001_0db8_0124_0000_0000_0000_0000_0000 + i).into(), 128).unwrap()
        })
        .collect();
    let all: Vec<IpNet> = v4.iter().chain(&v6).copied().collect();
    let mut b = Vec::new();
    let n = build::announce(&p, &our_attrs(), &all, &mut b).unwrap();
    let msgs = decode_all(&b, &p);
    assert_eq!(msgs.len(), n);
    assert_eq!(msgs.iter().map(Vec::len).sum::<usize>(), 3000);
    // Packed: every message but the last of each family is close to the 4096 maximum.
    let mut rest: &[u8] = &b;
    let mut sizes = Vec::new();
    while let Ok(Some(f)) = wire::frame(rest, 4096) {
        sizes.push(f.len);
        rest = &rest[f.len..];
    }
    assert!(sizes.iter().all(|s| *s <= 4096));
    assert!(sizes.iter().filter(|s| **s > 4096 - 17).count() >= n - 2, "{sizes:?}");
    // Withdrawals and End-of-RIB.
    let mut w = Vec::new();
    let n = build::withdraw(&p, &all, &mut w);
    assert_eq!(decode_all(&w, &p).iter().map(Vec::len).sum::<usize>(), 3000);
    assert!(n >= 2);
    let mut e = Vec::new();
    build::end_of_rib(wire::AfiSafi::IPV6_UNICAST, &mut e);
    let (Message::Update(u), _) = wire::decode_message(&e, &p).unwrap() else { panic!() };
    assert_eq!(u.end_of_rib(), Some(wire::AfiSafi::IPV6_UNICAST));
}

#[test]
fn two_octet_peer_gets_as_trans_and_as4_path() {
    let p = SessionParams { four_octet_as: false, ..p() };
    let mut a = our_attrs();
    a.as_path = vec![4_200_000_124];
    let mut b = Vec::new();
    build::announce(&p, &a, &["203.0.113.124/32".parse().unwrap()], &mut b).unwrap();
    let (Message::Update(u), _) = wire::decode_message(&b, &p).unwrap() else { panic!() };
    assert_eq!(u.as_path.unwrap().asns().collect::<Vec<_>>(), [23456]);
    assert_eq!(u.effective_as_path()[0].asns, [4_200_000_124]);
}

#[test]
fn canonical_prefix_encoding() {
    let mut b = Vec::new();
    nlri::encode(&nlri::Prefix::from("203.0.113.124/32".parse::<IpNet>().unwrap()), &mut b);
    assert_eq!(b, [32, 203, 0, 113, 124]);
}
