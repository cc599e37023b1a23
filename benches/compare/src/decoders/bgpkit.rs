//! bgpkit-parser: `parse_bgp_message(&mut Bytes, add_path = false, AsnLength::Bits32)`
//! in a loop over one `Bytes` (owned model: `Attributes`, `Vec<NetworkPrefix>`).
//! The input slice is copied into a `Bytes` once per call (≈ one memcpy of the corpus).

use std::net::IpAddr;

use bgpkit_parser::models::{
    AsPathSegment, AsnLength, AttributeValue, BgpMessage, BgpUpdateMessage, Community,
    NetworkPrefix, NextHopAddress, Origin,
};
use bgpkit_parser::parser::bgp::parse_bgp_message;
use bytes::Bytes;

use crate::Counts;

fn tally_prefix(c: &mut Counts, p: &NetworkPrefix, withdrawn: bool) {
    let len = p.prefix.prefix_len();
    match (p.prefix.addr(), withdrawn) {
        (IpAddr::V4(a), false) => c.v4_prefix(a.octets(), len),
        (IpAddr::V6(a), false) => c.v6_prefix(a.octets(), len),
        (IpAddr::V4(a), true) => c.withdrawn_v4(a.octets(), len),
        (IpAddr::V6(a), true) => c.withdrawn_v6(a.octets(), len),
    }
}

fn tally_update(c: &mut Counts, u: &BgpUpdateMessage) -> Result<(), String> {
    u.withdrawn_prefixes
        .iter()
        .for_each(|p| tally_prefix(c, p, true));
    for v in &u.attributes {
        match v {
            AttributeValue::Origin(o) => c.origin(match o {
                Origin::IGP => 0,
                Origin::EGP => 1,
                Origin::INCOMPLETE => 2,
            }),
            AttributeValue::AsPath(p) => {
                for seg in p.iter_segments() {
                    match seg {
                        AsPathSegment::AsSequence(v)
                        | AsPathSegment::AsSet(v)
                        | AsPathSegment::ConfedSequence(v)
                        | AsPathSegment::ConfedSet(v) => v.iter().for_each(|a| c.asn(a.to_u32())),
                    }
                }
            }
            AttributeValue::NextHop(IpAddr::V4(a)) => c.next_hop_v4(a.octets()),
            AttributeValue::MultiExitDiscriminator(m) => c.med(*m),
            AttributeValue::Communities(cs) => {
                for x in cs {
                    c.community(match *x {
                        Community::NoExport => 0xffff_ff01,
                        Community::NoAdvertise => 0xffff_ff02,
                        Community::NoExportSubConfed => 0xffff_ff03,
                        Community::Custom(asn, v) => (asn.to_u32() << 16) | u32::from(v),
                    })
                }
            }
            AttributeValue::LargeCommunities(ls) => ls
                .iter()
                .for_each(|l| c.large_community(l.global_admin, l.local_data[0], l.local_data[1])),
            AttributeValue::MpReachNlri(n) => {
                match n.next_hop {
                    Some(NextHopAddress::Ipv6(a)) | Some(NextHopAddress::Ipv6LinkLocal(a, _)) => {
                        c.next_hop_v6(a.octets())
                    }
                    ref other => return Err(format!("unexpected MP next hop {other:?}")),
                }
                n.prefixes.iter().for_each(|p| tally_prefix(c, p, false));
            }
            AttributeValue::MpUnreachNlri(n) => {
                n.prefixes.iter().for_each(|p| tally_prefix(c, p, true))
            }
            other => return Err(format!("unexpected attribute {other:?}")),
        }
    }
    u.announced_prefixes
        .iter()
        .for_each(|p| tally_prefix(c, p, false));
    Ok(())
}

/// Full decode with bgpkit-parser.
pub fn decode_bgpkit(bytes: &[u8]) -> Result<Counts, String> {
    let total = bytes.len();
    let mut data = Bytes::copy_from_slice(bytes);
    let mut c = Counts::default();
    // Bounded: each successful parse consumes ≥ 19 octets; errors return.
    while !data.is_empty() {
        let at = total - data.len();
        let msg = parse_bgp_message(&mut data, false, &AsnLength::Bits32)
            .map_err(|e| format!("bgpkit: message at offset {at}: {e}"))?;
        if total - data.len() == at {
            return Err(format!("bgpkit: no progress at offset {at}"));
        }
        c.message();
        if let BgpMessage::Update(u) = msg {
            tally_update(&mut c, &u).map_err(|e| format!("bgpkit: UPDATE at offset {at}: {e}"))?;
        }
    }
    Ok(c)
}
