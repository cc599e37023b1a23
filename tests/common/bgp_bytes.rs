//! BGP messages as octets, built by hand so that any field can be wrong: headers with any
//! length and type, OPENs with any parameter layout, UPDATEs with any attribute list. The
//! hostile-peer suite builds its input with these, never with anycastd's own encoders.

/// A message of type `ty` around `body`, with the right Length field.
pub fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    let len = u16::try_from(19 + body.len()).expect("test message fits 65535 octets");
    m.extend_from_slice(&len.to_be_bytes());
    m.push(ty);
    m.extend_from_slice(body);
    m
}

/// A header alone, with any length and type.
pub fn header(len: u16, ty: u8) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&len.to_be_bytes());
    m.push(ty);
    m
}

/// A KEEPALIVE followed by one whose marker is broken in its last octet.
pub fn bad_marker_trickle() -> Vec<u8> {
    let mut b = keepalive();
    let mut bad = keepalive();
    bad[15] = 0;
    b.extend_from_slice(&bad);
    b
}

pub fn keepalive() -> Vec<u8> {
    msg(4, &[])
}

pub fn notification(code: u8, subcode: u8) -> Vec<u8> {
    msg(3, &[code, subcode])
}

pub const MP_V4: &[u8] = &[1, 4, 0, 1, 0, 1];
pub const MP_V6: &[u8] = &[1, 4, 0, 2, 0, 1];
pub const ROUTE_REFRESH: &[u8] = &[2, 0];
pub const ENHANCED_ROUTE_REFRESH: &[u8] = &[70, 0];

pub fn as4(asn: u32) -> Vec<u8> {
    let mut c = vec![65, 4];
    c.extend_from_slice(&asn.to_be_bytes());
    c
}

/// One Capabilities optional parameter (RFC 5492 §4).
pub fn cap_param(caps: &[&[u8]]) -> Vec<u8> {
    let v = caps.concat();
    let mut p = vec![2, u8::try_from(v.len()).expect("capabilities fit one parameter")];
    p.extend_from_slice(&v);
    p
}

pub fn std_caps(asn: u32) -> Vec<u8> {
    cap_param(&[MP_V4, MP_V6, ROUTE_REFRESH, ENHANCED_ROUTE_REFRESH, &as4(asn)])
}

/// An OPEN with every field given, the Opt Parm Len field included.
pub fn open_raw(version: u8, my_as: u16, hold: u16, id: [u8; 4], opt_len: u8, params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(opt_len);
    b.extend_from_slice(params);
    msg(1, &b)
}

pub fn open_with(version: u8, my_as: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    open_raw(version, my_as, hold, id, u8::try_from(params.len()).expect("parameters fit"), params)
}

/// A well-formed OPEN from `asn` (AS_TRANS in My AS when it needs 4 octets).
pub fn peer_open(asn: u32, hold: u16, id: [u8; 4]) -> Vec<u8> {
    open_with(4, u16::try_from(asn).unwrap_or(23456), hold, id, &std_caps(asn))
}

pub fn update(withdrawn: &[u8], attrs: &[&[u8]], nlri: &[u8]) -> Vec<u8> {
    let a = attrs.concat();
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(a.len()).expect("fits").to_be_bytes());
    b.extend_from_slice(&a);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

pub const ORIGIN: &[u8] = &[0x40, 1, 1, 0];
/// AS_SEQUENCE of one 4-octet AS, 65000.
pub const AS_PATH: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8];
pub const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 2];
pub const NLRI: &[u8] = &[24, 198, 51, 100];

/// A well-formed IPv4 announcement of 198.51.100.0/24 with `extra` attributes appended.
pub fn good_update_with(extra: &[&[u8]]) -> Vec<u8> {
    let mut attrs: Vec<&[u8]> = vec![ORIGIN, AS_PATH, NEXT_HOP];
    attrs.extend_from_slice(extra);
    update(&[], &attrs, NLRI)
}

/// An IPv4 announcement of 198.51.100.0/24 with exactly these attributes.
pub fn update_attrs(attrs: &[&[u8]]) -> Vec<u8> {
    update(&[], attrs, NLRI)
}

pub const V6_NEXT_HOP: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// 2001:db8:0:1::/64.
pub const V6_NLRI: &[u8] = &[64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1];

/// MP_REACH_NLRI for IPv6 unicast (RFC 4760 §3).
pub fn mp_reach_v6(flags: u8, next_hop: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 2, 1, u8::try_from(next_hop.len()).expect("fits")];
    v.extend_from_slice(next_hop);
    v.push(0);
    v.extend_from_slice(nlri);
    let mut a = vec![flags, 14, u8::try_from(v.len()).expect("fits")];
    a.extend_from_slice(&v);
    a
}

/// A pseudo-random, deterministic byte string (no marker in it by construction: LCG noise).
pub fn garbage(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}
