//! netgauze-bgp-pkt: `BgpMessage::parse` over one `SliceReader` for the whole stream with
//! the default `BgpParsingContext` (4-octet AS, no ADD-PATH, fail on any error). Builds
//! an owned model (boxed slices of attributes and prefixes).

use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::path_attribute::{AsPath, MpReach, MpUnreach, Origin, PathAttributeValue};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;

use crate::Counts;

fn tally_update(c: &mut Counts, u: &BgpUpdateMessage) -> Result<(), String> {
    for w in u.withdraw_routes() {
        let n = w.network().address();
        c.withdrawn_v4(n.addr().octets(), n.prefix_len());
    }
    for pa in u.path_attributes() {
        match pa.value() {
            PathAttributeValue::Origin(o) => c.origin(match o {
                Origin::IGP => 0,
                Origin::EGP => 1,
                Origin::Incomplete => 2,
            }),
            PathAttributeValue::AsPath(AsPath::As4PathSegments(segs)) => {
                for s in segs.iter() {
                    s.as_numbers().iter().for_each(|&a| c.asn(a));
                }
            }
            PathAttributeValue::AsPath(AsPath::As2PathSegments(_)) => {
                return Err("2-octet AS_PATH on a 4-octet session".into());
            }
            PathAttributeValue::NextHop(nh) => c.next_hop_v4(nh.next_hop().octets()),
            PathAttributeValue::MultiExitDiscriminator(m) => c.med(m.metric()),
            PathAttributeValue::Communities(cs) => {
                cs.communities().iter().for_each(|x| c.community(x.value()))
            }
            PathAttributeValue::LargeCommunities(ls) => ls.communities().iter().for_each(|x| {
                c.large_community(x.global_admin(), x.local_data1(), x.local_data2())
            }),
            PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
                next_hop_global,
                nlri,
                ..
            }) => {
                c.next_hop_v6(next_hop_global.octets());
                for p in nlri.iter() {
                    let n = p.network().address();
                    c.v6_prefix(n.addr().octets(), n.prefix_len());
                }
            }
            PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri }) => {
                for p in nlri.iter() {
                    let n = p.network().address();
                    c.withdrawn_v6(n.addr().octets(), n.prefix_len());
                }
            }
            other => return Err(format!("unexpected attribute {other:?}")),
        }
    }
    for p in u.nlri() {
        let n = p.network().address();
        c.v4_prefix(n.addr().octets(), n.prefix_len());
    }
    Ok(())
}

/// Full decode with netgauze-bgp-pkt.
pub fn decode_netgauze(bytes: &[u8]) -> Result<Counts, String> {
    let mut ctx = BgpParsingContext::default();
    let mut reader = SliceReader::new(bytes);
    let mut c = Counts::default();
    // Bounded: every successful parse consumes ≥ 19 octets; errors return.
    while !reader.is_empty() {
        let at = reader.offset();
        let msg = BgpMessage::parse(&mut reader, &mut ctx)
            .map_err(|e| format!("netgauze: message at offset {at}: {e}"))?;
        c.message();
        if let BgpMessage::Update(u) = msg {
            tally_update(&mut c, &u)
                .map_err(|e| format!("netgauze: UPDATE at offset {at}: {e}"))?;
        }
    }
    Ok(c)
}
