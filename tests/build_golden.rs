//! Golden bytes of our own UPDATE packing (`wire::build`): announcements, withdrawals and
//! End-of-RIB markers for IPv4 and IPv6, few and many prefixes (several messages), the 4096 and
//! the extended (65535) maximum, add-path negotiated or not, a 2-octet-AS peer (AS_TRANS +
//! AS4_PATH), long AS paths and attributes over 255 octets (Extended Length).
//!
//! The expectations were taken from the packing as it stood before `build.rs` reused the
//! attribute encoders of `attr.rs` (commit 9943d7c): any refactor must keep every octet. Small
//! cases are compared as hex; large ones by message count, octet count and MD5 of the octets.
//! `GOLDEN_PRINT=1 cargo test --test build_golden -- --nocapture` prints the current values.

use anycastd::wire::{self, build, AfiSafi, SessionParams};
use ipnet::IpNet;
use md5::{Digest, Md5};
use std::net::{Ipv4Addr, Ipv6Addr};

fn attrs() -> build::RouteAttrs {
    build::RouteAttrs {
        origin: wire::attr::Origin::Igp,
        as_path: vec![65124],
        med: Some(10),
        local_pref: Some(200),
        communities: vec!["65124:100".parse().unwrap(), "NO_EXPORT".parse().unwrap()],
        large_communities: vec!["65124:1:2".parse().unwrap()],
        next_hop_v4: Some("198.51.100.124".parse().unwrap()),
        next_hop_v6: Some(("2001:db8:2::11".parse().unwrap(), None)),
    }
}

fn v4(n: u32, len: u8) -> Vec<IpNet> {
    let step = 1u32 << (32 - u32::from(len)).min(31);
    (0..n)
        .map(|i| IpNet::new(Ipv4Addr::from(0xc000_0000u32.wrapping_add(i.wrapping_mul(step))).into(), len).unwrap())
        .collect()
}

fn v6(n: u128, len: u8) -> Vec<IpNet> {
    let step = 1u128 << (128 - u32::from(len)).min(127);
    (0..n)
        .map(|i| {
            let a = 0x2001_0db8_0000_0000_0000_0000_0000_0000u128.wrapping_add(i.wrapping_mul(step));
            IpNet::new(Ipv6Addr::from(a).into(), len).unwrap()
        })
        .collect()
}

fn mixed(n4: u32, n6: u128) -> Vec<IpNet> {
    let mut v = v4(n4, 32);
    v.extend(v4(n4 / 4, 24));
    v.extend(v4(3, 23));
    v.push("0.0.0.0/0".parse().unwrap());
    v.extend(v6(n6, 128));
    v.extend(v6(n6 / 4, 48));
    v.push("::/0".parse().unwrap());
    v
}

fn params(four: bool, ext: bool, add_path: bool) -> SessionParams {
    SessionParams { four_octet_as: four, extended_message: ext, add_path_v4: add_path, add_path_v6: add_path }
}

/// Every case: its name, the octets written and the message count `build` returned.
fn cases() -> Vec<(&'static str, Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut announce = |name, p: SessionParams, a: &build::RouteAttrs, nets: &[IpNet]| {
        let mut b = Vec::new();
        let n = build::announce(&p, a, nets, &mut b).unwrap();
        out.push((name, b, n));
    };
    let p = params(true, false, false);
    let mut ll = attrs();
    ll.next_hop_v6 = Some(("2001:db8:2::11".parse().unwrap(), Some("fe80::11".parse().unwrap())));
    let mut ibgp = attrs();
    ibgp.as_path.clear();
    ibgp.med = None;
    ibgp.communities.clear();
    ibgp.large_communities.clear();
    let mut as4 = attrs();
    as4.as_path = vec![4_200_000_124, 65124, 4_200_000_125];
    let mut long_path = attrs();
    long_path.as_path = (0..300).map(|i| 4_200_000_000 + i).collect();
    let mut big = attrs();
    big.communities = (0..100).map(|i| wire::community::Community::new(65124, i)).collect();
    big.large_communities =
        (0..30).map(|i| wire::community::LargeCommunity { global: 65124, local1: i, local2: 7 }).collect();
    let small: Vec<IpNet> =
        ["203.0.113.124/32", "198.51.100.0/24", "192.0.2.0/23", "2001:db8:124::/48", "2001:db8::1/128"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();

    announce("announce_small", p, &attrs(), &small);
    announce("announce_small_link_local", p, &ll, &small);
    announce("announce_small_ibgp", p, &ibgp, &small);
    announce("announce_small_two_octet_as4", params(false, false, false), &as4, &small);
    announce("announce_small_add_path_negotiated", params(true, false, true), &attrs(), &small);
    announce("announce_many_4096", p, &attrs(), &mixed(2000, 1000));
    announce("announce_many_4096_link_local", p, &ll, &mixed(1500, 700));
    announce("announce_many_extended", params(true, true, false), &attrs(), &mixed(30_000, 8_000));
    announce("announce_many_add_path", params(true, false, true), &attrs(), &mixed(900, 300));
    announce("announce_many_two_octet_as4", params(false, false, false), &as4, &mixed(1200, 400));
    announce("announce_many_two_octet_extended", params(false, true, false), &as4, &mixed(20_000, 3_000));
    announce("announce_long_as_path", p, &long_path, &mixed(900, 300));
    announce("announce_long_as_path_two_octet", params(false, false, false), &long_path, &mixed(900, 300));
    announce("announce_big_attributes", p, &big, &mixed(1500, 500));
    announce("announce_v6_only", p, &attrs(), &v6(3000, 64));
    announce("announce_v4_only", p, &attrs(), &v4(3000, 28));

    for (name, p, nets) in [
        ("withdraw_small", p, small.clone()),
        ("withdraw_many_4096", p, mixed(2000, 1000)),
        ("withdraw_many_extended", params(true, true, false), mixed(30_000, 8_000)),
        ("withdraw_many_add_path", params(true, false, true), mixed(900, 300)),
    ] {
        let mut b = Vec::new();
        let n = build::withdraw(&p, &nets, &mut b);
        out.push((name, b, n));
    }
    for (name, af) in [
        ("eor_ipv4", AfiSafi::IPV4_UNICAST),
        ("eor_ipv6", AfiSafi::IPV6_UNICAST),
        ("eor_ipv4_multicast", AfiSafi::new(1, 2)),
    ] {
        let mut b = Vec::new();
        build::end_of_rib(af, &mut b);
        out.push((name, b, 1));
    }
    out
}

/// Cases small enough to compare octet by octet.
const HEX: &[(&str, &str)] = &[
    ("announce_small", "ffffffffffffffffffffffffffffffff0060020000003c4001010040020602010000fe64400304c633647c8004040000000a400504000000c8c00808fe640064ffffff01c0200c0000fe64000000010000000220cb00717c18c6336417c00002ffffffffffffffffffffffffffffffff007c0200000065800e2d0002011020010db8000200000000000000000011003020010db801248020010db80000000000000000000000014001010040020602010000fe648004040000000a400504000000c8c00808fe640064ffffff01c0200c0000fe640000000100000002"),
    ("announce_small_link_local", "ffffffffffffffffffffffffffffffff0060020000003c4001010040020602010000fe64400304c633647c8004040000000a400504000000c8c00808fe640064ffffff01c0200c0000fe64000000010000000220cb00717c18c6336417c00002ffffffffffffffffffffffffffffffff008c0200000075800e3d0002012020010db8000200000000000000000011fe800000000000000000000000000011003020010db801248020010db80000000000000000000000014001010040020602010000fe648004040000000a400504000000c8c00808fe640064ffffff01c0200c0000fe640000000100000002"),
    ("announce_small_ibgp", "ffffffffffffffffffffffffffffffff0039020000001540010100400200400304c633647c400504000000c820cb00717c18c6336417c00002ffffffffffffffffffffffffffffffff0055020000003e800e2d0002011020010db8000200000000000000000011003020010db801248020010db800000000000000000000000140010100400200400504000000c8"),
    ("announce_small_two_octet_as4", "ffffffffffffffffffffffffffffffff0073020000004f4001010040020802035ba0fe645ba0400304c633647c8004040000000a400504000000c8c00808fe640064ffffff01c0110e0203fa56ea7c0000fe64fa56ea7dc0200c0000fe64000000010000000220cb00717c18c6336417c00002ffffffffffffffffffffffffffffffff008f0200000078800e2d0002011020010db8000200000000000000000011003020010db801248020010db80000000000000000000000014001010040020802035ba0fe645ba08004040000000a400504000000c8c00808fe640064ffffff01c0110e0203fa56ea7c0000fe64fa56ea7dc0200c0000fe640000000100000002"),
    ("announce_small_add_path_negotiated", "ffffffffffffffffffffffffffffffff0060020000003c4001010040020602010000fe64400304c633647c8004040000000a400504000000c8c00808fe640064ffffff01c0200c0000fe64000000010000000220cb00717c18c6336417c00002ffffffffffffffffffffffffffffffff007c0200000065800e2d0002011020010db8000200000000000000000011003020010db801248020010db80000000000000000000000014001010040020602010000fe648004040000000a400504000000c8c00808fe640064ffffff01c0200c0000fe640000000100000002"),
    ("withdraw_small", "ffffffffffffffffffffffffffffffff002402000d20cb00717c18c6336417c000020000ffffffffffffffffffffffffffffffff0035020000001e800f1b0002013020010db801248020010db8000000000000000000000001"),
    ("eor_ipv4", "ffffffffffffffffffffffffffffffff00170200000000"),
    ("eor_ipv6", "ffffffffffffffffffffffffffffffff001d0200000006800f03000201"),
    ("eor_ipv4_multicast", "ffffffffffffffffffffffffffffffff001d0200000006800f03000102"),
];

/// Every case: (name, messages, octets, MD5 of the octets).
const DIGESTS: &[(&str, usize, usize, &str)] = &[
    ("announce_small", 2, 220, "1e66c9a880a38f1af4020a02de2a3fa2"),
    ("announce_small_link_local", 2, 236, "c20cbe060b702811952c120c5e598a28"),
    ("announce_small_ibgp", 2, 142, "3d58d885a6d54784047edd9a5341a281"),
    ("announce_small_two_octet_as4", 2, 258, "45a065197797f3fa5da9d89020287f3b"),
    ("announce_small_add_path_negotiated", 2, 220, "1e66c9a880a38f1af4020a02de2a3fa2"),
    ("announce_many_4096", 8, 31518, "290af7cfbe46210cc0318395cf2b22a2"),
    ("announce_many_4096_link_local", 7, 22856, "ea2b60773fa7cdc0c7e83bc86dd18617"),
    ("announce_many_extended", 6, 330566, "b7e2dbc5e9a935ad36a42e4fdbbb4495"),
    ("announce_many_add_path", 4, 11407, "d240822336104ea63c64da40b2ffb4cd"),
    ("announce_many_two_octet_as4", 4, 15158, "db6802d278b26467d37d926fcb51ac78"),
    ("announce_many_two_octet_extended", 3, 176588, "6a1a94e27ff4f5b8fbdb9c73a73e1b3c"),
    ("announce_long_as_path", 5, 17502, "1cf5183960a5cae4bc5cd469d3a0694f"),
    ("announce_long_as_path_two_octet", 6, 22433, "d0386e7fc43b31c92395376fd1442a98"),
    ("announce_big_attributes", 6, 23393, "38e1feee638c8429b9ff4c3779f33f93"),
    ("announce_v6_only", 7, 27707, "2b217e4faf591b8152ae50fbca1dbd06"),
    ("announce_v4_only", 4, 15332, "eaf425f7b97d9cbb7ac2dd0207efeacf"),
    ("withdraw_small", 2, 89, "23eb81e2fd99e3597f8ef1289698e351"),
    ("withdraw_many_4096", 8, 30983, "dc8950fa252dcae55bbd5ff4af1d9d5d"),
    ("withdraw_many_extended", 6, 330173, "e7d7452fda5f9dddf4d05fe7f39696fd"),
    ("withdraw_many_add_path", 4, 11145, "c5903e51a909865b19505ca9155b5ebb"),
    ("eor_ipv4", 1, 23, "f49a0b18f49f2bb24a1d01f8a2b3fe45"),
    ("eor_ipv6", 1, 29, "7415e8d226e7026ffb0fb41f1d768b50"),
    ("eor_ipv4_multicast", 1, 29, "ee5a0bdb9f8f68da85c8a1d9130b6f0d"),
];

fn md5_hex(b: &[u8]) -> String {
    wire::hex(&Md5::digest(b))
}

#[test]
fn packing_is_byte_identical_to_the_golden_values() {
    let cases = cases();
    if std::env::var_os("GOLDEN_PRINT").is_some() {
        println!("const HEX: &[(&str, &str)] = &[");
        for (name, b, _) in cases.iter().filter(|(_, b, _)| b.len() <= 400) {
            println!("    (\"{name}\", \"{}\"),", wire::hex(b));
        }
        println!("];\nconst DIGESTS: &[(&str, usize, usize, &str)] = &[");
        for (name, b, n) in &cases {
            println!("    (\"{name}\", {n}, {}, \"{}\"),", b.len(), md5_hex(b));
        }
        println!("];");
    }
    assert_eq!(DIGESTS.len(), cases.len(), "one digest per case");
    for ((name, b, n), (gname, gn, glen, gmd5)) in cases.iter().zip(DIGESTS) {
        assert_eq!(name, gname);
        assert_eq!((*n, b.len(), md5_hex(b).as_str()), (*gn, *glen, *gmd5), "{name}");
    }
    for (gname, ghex) in HEX {
        let (_, b, _) = cases.iter().find(|(n, _, _)| n == gname).expect("a case of that name");
        assert_eq!(wire::hex(b), *ghex, "{gname}");
    }
}

#[test]
fn every_packed_message_decodes_and_fits() {
    for (name, b, n) in cases() {
        let max = if name.contains("extended") { 65535 } else { 4096 };
        let p = SessionParams { extended_message: max > 4096, ..SessionParams::default() };
        let mut rest: &[u8] = &b;
        let mut count = 0;
        while !rest.is_empty() {
            let f = wire::frame(rest, max).unwrap().unwrap_or_else(|| panic!("{name}: truncated"));
            assert!(f.len <= max, "{name}: {} > {max}", f.len);
            if !name.contains("two_octet") {
                let (m, _) = wire::decode_message(rest, &p).unwrap();
                let wire::Message::Update(u) = m else { panic!("{name}: not an UPDATE") };
                assert!(u.treat_as_withdraw.is_none(), "{name}: {:?}", u.treat_as_withdraw);
            }
            rest = &rest[f.len..];
            count += 1;
        }
        assert_eq!(count, n, "{name}");
    }
}

#[test]
fn attributes_that_leave_no_room_are_refused_and_nothing_is_written() {
    // 1,100 communities are 4,400 octets: no 4096-octet UPDATE can carry them. The packing
    // used to write over-long messages here; now it refuses, all or nothing.
    let mut a = attrs();
    a.communities = (0..1100).map(|i| wire::community::Community::new(65124, i)).collect();
    let mut b = Vec::new();
    let e = build::announce(&params(true, false, false), &a, &mixed(10, 10), &mut b).unwrap_err();
    assert!(matches!(e, wire::EncodeError::TooLong { what: "UPDATE", max: 4096, .. }), "{e}");
    assert!(b.is_empty(), "nothing written");
    // With Extended Message they fit.
    assert!(build::announce(&params(true, true, false), &a, &mixed(10, 10), &mut b).unwrap() >= 2);
    // A missing next hop names the family, and writes nothing either.
    let mut no_v6 = attrs();
    no_v6.next_hop_v6 = None;
    let mut b = Vec::new();
    let e = build::announce(&params(true, false, false), &no_v6, &mixed(10, 10), &mut b).unwrap_err();
    assert_eq!(e.to_string(), "13 IPv6 prefixes but no IPv6 next hop");
    assert!(b.is_empty());
}
