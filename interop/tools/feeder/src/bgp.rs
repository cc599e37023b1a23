//! The few BGP-4 messages the feeder writes and reads (RFC 4271 §4, RFC 5492, RFC 4760,
//! RFC 6793, RFC 4724 §2 End-of-RIB). Hand-written on purpose: the feeder tests receivers,
//! so it shares no code with anycastd's codec.

use std::net::Ipv4Addr;

pub const HEADER: usize = 19;
pub const MAX_LEN: usize = 4096;
pub const OPEN: u8 = 1;
pub const UPDATE: u8 = 2;
pub const NOTIFICATION: u8 = 3;
pub const KEEPALIVE: u8 = 4;
pub const ROUTE_REFRESH: u8 = 5;
const AS_TRANS: u16 = 23456;

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    // Bodies here are at most a few dozen octets.
    let len = u16::try_from(HEADER + body.len()).unwrap_or(u16::MAX);
    m.extend_from_slice(&len.to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// OPEN: version 4, My AS (AS_TRANS when it needs 4 octets), hold time, identifier; one
/// Capabilities parameter: multiprotocol IPv4 unicast and IPv6 unicast, 4-octet AS.
pub fn open(asn: u32, hold: u16, id: Ipv4Addr) -> Vec<u8> {
    let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
    let mut caps = vec![1, 4, 0, 1, 0, 1, 1, 4, 0, 2, 0, 1, 65, 4];
    caps.extend_from_slice(&asn.to_be_bytes());
    let mut b = vec![4];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id.octets());
    b.push(2 + caps.len() as u8);
    b.push(2);
    b.push(caps.len() as u8);
    b.extend_from_slice(&caps);
    message(OPEN, &b)
}

pub fn keepalive() -> Vec<u8> {
    message(KEEPALIVE, &[])
}

pub fn notification(code: u8, sub: u8, data: &[u8]) -> Vec<u8> {
    let mut b = vec![code, sub];
    b.extend_from_slice(data);
    message(NOTIFICATION, &b)
}

/// IPv4 unicast End-of-RIB: an UPDATE with nothing in it.
pub fn end_of_rib_v4() -> Vec<u8> {
    message(UPDATE, &[0, 0, 0, 0])
}

/// IPv6 unicast End-of-RIB: an UPDATE whose only attribute is an empty MP_UNREACH_NLRI.
pub fn end_of_rib_v6() -> Vec<u8> {
    message(UPDATE, &[0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1])
}

/// Whether an UPDATE body is an End-of-RIB (IPv4, or an MP_UNREACH_NLRI with no prefixes).
pub fn is_end_of_rib(body: &[u8]) -> bool {
    body == [0, 0, 0, 0] || (body.len() == 10 && body[..4] == [0, 0, 0, 6] && body[5] == 15 && body[6] == 3)
}

/// The next whole message in `b`: (type, length) or None when more octets are needed.
pub fn frame(b: &[u8]) -> Result<Option<(u8, usize)>, String> {
    let Some(h) = b.get(..HEADER) else { return Ok(None) };
    if h[..16].iter().any(|&x| x != 0xff) {
        return Err("bad marker".into());
    }
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    if !(HEADER..=MAX_LEN).contains(&len) {
        return Err(format!("bad message length {len}"));
    }
    Ok((b.len() >= len).then_some((h[18], len)))
}

/// What the feeder needs from the peer's OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerOpen {
    pub asn: u32,
    pub hold: u16,
    pub id: Ipv4Addr,
    pub four_octet_as: bool,
    pub ipv4_unicast: bool,
    pub ipv6_unicast: bool,
}

/// Parses an OPEN body; an error is (code, subcode, why) for our NOTIFICATION.
pub fn parse_open(b: &[u8]) -> Result<PeerOpen, (u8, u8, String)> {
    let bad = |sub: u8, why: &str| (2u8, sub, why.to_string());
    if b.len() < 10 {
        return Err((1, 2, "OPEN shorter than 10 octets".into()));
    }
    if b[0] != 4 {
        return Err(bad(1, "not BGP version 4"));
    }
    let my_as = u16::from_be_bytes([b[1], b[2]]);
    let hold = u16::from_be_bytes([b[3], b[4]]);
    if hold == 1 || hold == 2 {
        return Err(bad(6, "hold time 1 or 2"));
    }
    let id = Ipv4Addr::new(b[5], b[6], b[7], b[8]);
    let params = b.get(10..10 + usize::from(b[9])).ok_or_else(|| bad(0, "optional parameters overrun"))?;
    let (mut four, mut mp4, mut mp6, mut any_mp) = (None, false, false, false);
    let mut p = params;
    while !p.is_empty() {
        let (&[kind, len], rest) = p.split_first_chunk::<2>().ok_or_else(|| bad(0, "short parameter"))?;
        let v = rest.get(..usize::from(len)).ok_or_else(|| bad(0, "parameter overrun"))?;
        p = &rest[usize::from(len)..];
        if kind != 2 {
            continue;
        }
        let mut c = v;
        while !c.is_empty() {
            let (&[code, clen], crest) = c.split_first_chunk::<2>().ok_or_else(|| bad(0, "short capability"))?;
            let cv = crest.get(..usize::from(clen)).ok_or_else(|| bad(0, "capability overrun"))?;
            c = &crest[usize::from(clen)..];
            match (code, cv) {
                (1, [0, 1, _, 1]) => (mp4, any_mp) = (true, true),
                (1, [0, 2, _, 1]) => (mp6, any_mp) = (true, true),
                (1, _) => any_mp = true,
                (65, &[a, b2, c2, d]) => four = Some(u32::from_be_bytes([a, b2, c2, d])),
                _ => {}
            }
        }
    }
    let asn = four.unwrap_or(u32::from(my_as));
    if asn == 0 {
        return Err(bad(2, "peer AS 0"));
    }
    // RFC 4760 §8: without any multiprotocol capability, IPv4 unicast is assumed.
    Ok(PeerOpen { asn, hold, id, four_octet_as: four.is_some(), ipv4_unicast: mp4 || !any_mp, ipv6_unicast: mp6 })
}
