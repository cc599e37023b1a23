//! What a speaker sends: UPDATEs for our routes, packed as routers pack them (as many prefixes
//! as fit the negotiated maximum message size under one set of attributes), withdrawals, and
//! End-of-RIB markers (RFC 4724 §2). IPv4 goes in the classic fields, every other family in
//! MP_REACH_NLRI / MP_UNREACH_NLRI, placed first as RFC 7606 §5.1 asks.

use super::attr::{Attr, MpNextHop, Origin, PathAttribute, Segment, SegmentType};
use super::capability::AfiSafi;
use super::community::{Community, LargeCommunity};
use super::header::{HEADER_LEN, MAX_MESSAGE_LEN};
use super::nlri::{self, Prefix};
use super::update::put_update;
use super::{EncodeError, SessionParams};
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
    fn common(&self, four_octet_as: bool, with_next_hop: bool, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut put = |a: Attr| PathAttribute::new(a).encode(four_octet_as, buf);
        put(Attr::Origin(self.origin))?;
        let segs = if self.as_path.is_empty() {
            Vec::new()
        } else {
            vec![Segment { kind: SegmentType::AsSequence, asns: self.as_path.clone() }]
        };
        put(Attr::AsPath(segs))?;
        if let Some(nh) = self.next_hop_v4.filter(|_| with_next_hop) {
            put(Attr::NextHop(nh))?;
        }
        if let Some(m) = self.med {
            put(Attr::Med(m))?;
        }
        if let Some(l) = self.local_pref {
            put(Attr::LocalPref(l))?;
        }
        if !self.communities.is_empty() {
            put(Attr::Communities(self.communities.clone()))?;
        }
        if !four_octet_as && self.as_path.iter().any(|a| *a > 0xffff) {
            // RFC 6793 §4.2.2: a NEW speaker sends AS4_PATH to an OLD one.
            let segs = vec![Segment { kind: SegmentType::AsSequence, asns: self.as_path.clone() }];
            put(Attr::As4Path(segs))?;
        }
        if !self.large_communities.is_empty() {
            put(Attr::LargeCommunities(self.large_communities.clone()))?;
        }
        Ok(())
    }
}

/// Splits prefixes into runs whose encodings fit `room` octets each (at least one per run).
fn runs(prefixes: &[Prefix], room: usize) -> impl Iterator<Item = &[Prefix]> {
    let mut rest = prefixes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut n, mut used) = (0usize, 0usize);
        for p in rest {
            let l = nlri::encoded_len(p);
            // Bounded by the message size: saturating only to state it.
            if n > 0 && used.saturating_add(l) > room {
                break;
            }
            used = used.saturating_add(l);
            n = n.saturating_add(1);
        }
        let (run, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(run)
    })
}

fn encode_run(run: &[Prefix]) -> Vec<u8> {
    let mut b = Vec::new();
    run.iter().for_each(|p| nlri::encode(p, &mut b));
    b
}

fn split_families(prefixes: &[IpNet]) -> (Vec<Prefix>, Vec<Prefix>) {
    prefixes.iter().map(|n| Prefix::from(*n)).partition(|x| matches!(x.net, IpNet::V4(_)))
}

/// Appends UPDATEs announcing `prefixes` with `attrs`; returns how many messages it wrote.
/// IPv4 prefixes need `attrs.next_hop_v4`, IPv6 ones `attrs.next_hop_v6`. All or nothing: when
/// a next hop is missing, or the attributes leave no room under the negotiated maximum, nothing
/// is written and the error says why.
pub fn announce(
    p: &SessionParams,
    attrs: &RouteAttrs,
    prefixes: &[IpNet],
    buf: &mut impl BufMut,
) -> Result<usize, EncodeError> {
    let max = p.max_message_len();
    let (v4, v6) = split_families(prefixes);
    if !v4.is_empty() && attrs.next_hop_v4.is_none() {
        return Err(EncodeError::MissingNextHop { family: "IPv4", count: v4.len() });
    }
    let v6_next_hop = match attrs.next_hop_v6 {
        None if !v6.is_empty() => return Err(EncodeError::MissingNextHop { family: "IPv6", count: v6.len() }),
        nh => nh.filter(|_| !v6.is_empty()),
    };
    let mut out = Vec::new();
    let mut count = 0usize;
    if !v4.is_empty() {
        let mut a = Vec::new();
        attrs.common(p.four_octet_as, true, &mut a)?;
        let room = max.saturating_sub(a.len()).saturating_sub(HEADER_LEN + 4);
        for run in runs(&v4, room) {
            put_update(&mut out, &[], &a, &encode_run(run), max)?;
            count = count.saturating_add(1);
        }
    }
    if let Some((global, link_local)) = v6_next_hop {
        let mut a = Vec::new();
        attrs.common(p.four_octet_as, false, &mut a)?;
        let nh_len = if link_local.is_some() { 32 } else { 16 };
        // MP_REACH_NLRI first (RFC 7606 §5.1). Room: its header (4, counted as extended) +
        // AFI/SAFI/next-hop length (4) + next hop + reserved (1).
        let room = max.saturating_sub(a.len()).saturating_sub(nh_len).saturating_sub(HEADER_LEN + 4 + 4 + 4 + 1);
        for run in runs(&v6, room) {
            let mp = Attr::MpReach {
                afi: AfiSafi::IPV6_UNICAST.afi,
                safi: AfiSafi::IPV6_UNICAST.safi,
                next_hop: MpNextHop::V6 { global, link_local },
                nlri: run.to_vec(),
                raw_nlri: Vec::new(),
            };
            let mut m = Vec::new();
            PathAttribute::new(mp).encode(p.four_octet_as, &mut m)?;
            m.extend_from_slice(&a);
            put_update(&mut out, &[], &m, &[], max)?;
            count = count.saturating_add(1);
        }
    }
    buf.put_slice(&out);
    Ok(count)
}

/// Appends UPDATEs withdrawing `prefixes`; returns how many messages it wrote. Every message is
/// sized to fit the negotiated maximum, so this cannot fail.
pub fn withdraw(p: &SessionParams, prefixes: &[IpNet], buf: &mut impl BufMut) -> usize {
    let max = p.max_message_len();
    let (v4, v6) = split_families(prefixes);
    let write = |out: &mut Vec<u8>| -> Result<usize, EncodeError> {
        let mut count = 0usize;
        for run in runs(&v4, max.saturating_sub(HEADER_LEN + 4)) {
            put_update(out, &encode_run(run), &[], &[], max)?;
            count = count.saturating_add(1);
        }
        // MP_UNREACH_NLRI header (4, counted as extended) + AFI/SAFI (3).
        for run in runs(&v6, max.saturating_sub(HEADER_LEN + 4 + 4 + 3)) {
            let mp = mp_unreach(AfiSafi::IPV6_UNICAST, run.to_vec())?;
            put_update(out, &[], &mp, &[], max)?;
            count = count.saturating_add(1);
        }
        Ok(count)
    };
    let mut out = Vec::new();
    match write(&mut out) {
        Ok(count) => {
            buf.put_slice(&out);
            count
        }
        Err(_) => 0,
    }
}

/// Appends the End-of-RIB marker of a family (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
/// an UPDATE holding only an empty MP_UNREACH_NLRI for any other family. 23 or 29 octets.
pub fn end_of_rib(af: AfiSafi, buf: &mut impl BufMut) {
    let attrs = if af == AfiSafi::IPV4_UNICAST { Ok(Vec::new()) } else { mp_unreach(af, Vec::new()) };
    // Fixed sizes far below any maximum: the encoders cannot refuse them.
    if let Ok(a) = attrs {
        let _ = put_update(buf, &[], &a, &[], MAX_MESSAGE_LEN);
    }
}

/// An encoded MP_UNREACH_NLRI attribute withdrawing `withdrawn` (RFC 4760 §4).
fn mp_unreach(af: AfiSafi, withdrawn: Vec<Prefix>) -> Result<Vec<u8>, EncodeError> {
    let mut m = Vec::new();
    let attr = Attr::MpUnreach { afi: af.afi, safi: af.safi, withdrawn, raw_withdrawn: Vec::new() };
    PathAttribute::new(attr).encode(true, &mut m)?;
    Ok(m)
}
