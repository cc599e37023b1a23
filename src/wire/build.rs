//! What a speaker sends: UPDATEs for our routes, packed as routers pack them (as many prefixes
//! as fit the negotiated maximum message size under one set of attributes), withdrawals, and
//! End-of-RIB markers (RFC 4724 §2). IPv4 goes in the classic fields, every other family in
//! MP_REACH_NLRI / MP_UNREACH_NLRI, placed first as RFC 7606 §5.1 asks.

use super::attr::{Attr, MpNextHop, Origin, PathAttribute, Segment, SegmentType};
use super::capability::AfiSafi;
use super::community::{Community, LargeCommunity};
use super::header::{put_header, MessageType, HEADER_LEN};
use super::nlri::{self, Prefix};
use super::SessionParams;
use bytes::BufMut;
use ipnet::IpNet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The attributes of our own routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteAttrs {
    pub origin: Origin,
    /// AS_SEQUENCE, leftmost first (our AS, repeated when prepending).
    pub as_path: Vec<u32>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    /// NEXT_HOP for IPv4 routes.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// MP_REACH_NLRI next hop for IPv6 routes.
    pub next_hop_v6: Option<(Ipv6Addr, Option<Ipv6Addr>)>,
}

impl RouteAttrs {
    /// Everything but NEXT_HOP and MP_REACH_NLRI, in type-code order.
    fn common(&self, four_octet_as: bool, with_next_hop: bool, buf: &mut Vec<u8>) {
        PathAttribute::new(Attr::Origin(self.origin)).encode(four_octet_as, buf);
        let segs = if self.as_path.is_empty() {
            Vec::new()
        } else {
            vec![Segment { kind: SegmentType::AsSequence, asns: self.as_path.clone() }]
        };
        PathAttribute::new(Attr::AsPath(segs)).encode(four_octet_as, buf);
        if with_next_hop {
            if let Some(nh) = self.next_hop_v4 {
                PathAttribute::new(Attr::NextHop(nh)).encode(four_octet_as, buf);
            }
        }
        if let Some(m) = self.med {
            PathAttribute::new(Attr::Med(m)).encode(four_octet_as, buf);
        }
        if let Some(l) = self.local_pref {
            PathAttribute::new(Attr::LocalPref(l)).encode(four_octet_as, buf);
        }
        if !self.communities.is_empty() {
            PathAttribute::new(Attr::Communities(self.communities.clone())).encode(four_octet_as, buf);
        }
        if !four_octet_as && self.as_path.iter().any(|a| *a > 0xffff) {
            // RFC 6793 §4.2.2: a NEW speaker sends AS4_PATH to an OLD one.
            let segs = vec![Segment { kind: SegmentType::AsSequence, asns: self.as_path.clone() }];
            PathAttribute::new(Attr::As4Path(segs)).encode(four_octet_as, buf);
        }
        if !self.large_communities.is_empty() {
            PathAttribute::new(Attr::LargeCommunities(self.large_communities.clone())).encode(four_octet_as, buf);
        }
    }
}

fn emit(buf: &mut impl BufMut, withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) {
    put_header(buf, MessageType::Update, 4 + withdrawn.len() + attrs.len() + nlri.len());
    buf.put_u16(withdrawn.len() as u16);
    buf.put_slice(withdrawn);
    buf.put_u16(attrs.len() as u16);
    buf.put_slice(attrs);
    buf.put_slice(nlri);
}

/// Splits prefixes into runs whose encodings fit `room` octets each.
fn chunks<'p>(prefixes: &'p [Prefix], room: usize) -> impl Iterator<Item = Vec<u8>> + 'p {
    let mut rest = prefixes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        let mut used = 0;
        for p in rest {
            let l = nlri::encoded_len(p);
            if !out.is_empty() && out.len() + l > room {
                break;
            }
            nlri::encode(p, &mut out);
            used += 1;
        }
        rest = &rest[used..];
        Some(out)
    })
}

fn mp_header(attr_code: u8, body_len: usize, out: &mut Vec<u8>) {
    use super::attr::flag;
    if body_len > 255 {
        out.put_u8(flag::OPTIONAL | flag::EXTENDED_LENGTH);
        out.put_u8(attr_code);
        out.put_u16(body_len as u16);
    } else {
        out.put_u8(flag::OPTIONAL);
        out.put_u8(attr_code);
        out.put_u8(body_len as u8);
    }
}

/// Appends UPDATEs announcing `prefixes` with `attrs`; returns how many messages it wrote.
/// IPv4 prefixes need `attrs.next_hop_v4`, IPv6 ones `attrs.next_hop_v6`; when one is missing
/// nothing is written and the error says which.
pub fn announce(
    p: &SessionParams,
    attrs: &RouteAttrs,
    prefixes: &[IpNet],
    buf: &mut impl BufMut,
) -> Result<usize, String> {
    let max = p.max_message_len();
    let (v4, v6): (Vec<Prefix>, Vec<Prefix>) =
        prefixes.iter().map(|n| Prefix::from(*n)).partition(|x| matches!(x.net, IpNet::V4(_)));
    // All or nothing: check every family's next hop before writing anything.
    if !v4.is_empty() && attrs.next_hop_v4.is_none() {
        return Err(format!("{} IPv4 prefixes but no IPv4 next hop", v4.len()));
    }
    if !v6.is_empty() && attrs.next_hop_v6.is_none() {
        return Err(format!("{} IPv6 prefixes but no IPv6 next hop", v6.len()));
    }
    let mut count = 0;
    if !v4.is_empty() {
        let mut a = Vec::new();
        attrs.common(p.four_octet_as, true, &mut a);
        let room = max.saturating_sub(HEADER_LEN + 4 + a.len());
        for n in chunks(&v4, room) {
            emit(buf, &[], &a, &n);
            count += 1;
        }
    }
    if !v6.is_empty() {
        let Some((global, ll)) = attrs.next_hop_v6 else {
            return Err(format!("{} IPv6 prefixes but no IPv6 next hop", v6.len()));
        };
        let mut a = Vec::new();
        attrs.common(p.four_octet_as, false, &mut a);
        let nh = MpNextHop::V6 { global, link_local: ll };
        let nh_len = if ll.is_some() { 32 } else { 16 };
        // MP_REACH header (4) + AFI/SAFI/len (4) + next hop + reserved (1).
        let room = max.saturating_sub(HEADER_LEN + 4 + a.len() + 4 + 4 + nh_len + 1);
        for n in chunks(&v6, room) {
            let mut m = Vec::new();
            mp_header(super::attr::type_code::MP_REACH_NLRI, 4 + nh_len + 1 + n.len(), &mut m);
            m.put_u16(AfiSafi::IPV6_UNICAST.afi);
            m.put_u8(AfiSafi::IPV6_UNICAST.safi);
            m.put_u8(nh_len as u8);
            if let MpNextHop::V6 { global, link_local } = &nh {
                m.put_slice(&global.octets());
                if let Some(l) = link_local {
                    m.put_slice(&l.octets());
                }
            }
            m.put_u8(0);
            m.put_slice(&n);
            m.extend_from_slice(&a);
            emit(buf, &[], &m, &[]);
            count += 1;
        }
    }
    Ok(count)
}

/// Appends UPDATEs withdrawing `prefixes`; returns how many messages it wrote.
pub fn withdraw(p: &SessionParams, prefixes: &[IpNet], buf: &mut impl BufMut) -> usize {
    let max = p.max_message_len();
    let (v4, v6): (Vec<Prefix>, Vec<Prefix>) =
        prefixes.iter().map(|n| Prefix::from(*n)).partition(|x| matches!(x.net, IpNet::V4(_)));
    let mut count = 0;
    for w in chunks(&v4, max - HEADER_LEN - 4) {
        emit(buf, &w, &[], &[]);
        count += 1;
    }
    for w in chunks(&v6, max - HEADER_LEN - 4 - 4 - 3) {
        let mut m = Vec::new();
        mp_header(super::attr::type_code::MP_UNREACH_NLRI, 3 + w.len(), &mut m);
        m.put_u16(AfiSafi::IPV6_UNICAST.afi);
        m.put_u8(AfiSafi::IPV6_UNICAST.safi);
        m.put_slice(&w);
        emit(buf, &[], &m, &[]);
        count += 1;
    }
    count
}

/// Appends the End-of-RIB marker of a family (RFC 4724 §2).
pub fn end_of_rib(af: AfiSafi, buf: &mut impl BufMut) {
    if af == AfiSafi::IPV4_UNICAST {
        emit(buf, &[], &[], &[]);
    } else {
        let mut m = Vec::new();
        mp_header(super::attr::type_code::MP_UNREACH_NLRI, 3, &mut m);
        m.put_u16(af.afi);
        m.put_u8(af.safi);
        emit(buf, &[], &m, &[]);
    }
}
