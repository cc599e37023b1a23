//! zettabgp: `BgpSessionParams::decode_message_head` + `BgpUpdateMessage::decode_from`
//! (owned Vec/BTreeSet model). ADD-PATH guessing (`fuzzy_pathid`) is switched off: the
//! corpus has no path IDs and a heuristic must not get to guess.

use std::net::{IpAddr, Ipv4Addr};

use zettabgp::prelude::*;

use super::{frames, v6_octets};
use crate::Counts;

fn session() -> BgpSessionParams {
    let mut p = BgpSessionParams::new(
        64500,
        180,
        BgpTransportMode::IPv4,
        Ipv4Addr::new(192, 0, 2, 254),
        vec![BgpCapability::CapASN32(64500)],
    );
    p.has_as32bit = true;
    p.fuzzy_pathid = false;
    p
}

fn tally_addrs(c: &mut Counts, addrs: &BgpAddrs, withdrawn: bool) -> Result<(), String> {
    match addrs {
        BgpAddrs::None => {}
        BgpAddrs::IPV4U(v) => {
            for a in v {
                if withdrawn {
                    c.withdrawn_v4(a.addr.octets(), a.prefixlen);
                } else {
                    c.v4_prefix(a.addr.octets(), a.prefixlen);
                }
            }
        }
        BgpAddrs::IPV6U(v) => {
            for a in v {
                if withdrawn {
                    c.withdrawn_v6(v6_octets(a.addr), a.prefixlen);
                } else {
                    c.v6_prefix(v6_octets(a.addr), a.prefixlen);
                }
            }
        }
        other => return Err(format!("unexpected NLRI kind {other:?}")),
    }
    Ok(())
}

fn tally_update(c: &mut Counts, u: &BgpUpdateMessage) -> Result<(), String> {
    tally_addrs(c, &u.withdraws, true)?;
    for attr in &u.attrs {
        match attr {
            BgpAttrItem::Origin(o) => c.origin(match o.value {
                BgpAttrOrigin::Igp => 0,
                BgpAttrOrigin::Egp => 1,
                BgpAttrOrigin::Incomplete => 2,
            }),
            BgpAttrItem::ASPath(p) => {
                for seg in &p.value {
                    match seg {
                        BgpASitem::Seq(s) => s.value.iter().for_each(|a| c.asn(a.value)),
                        BgpASitem::Set(s) => s.value.iter().for_each(|a| c.asn(a.value)),
                    }
                }
            }
            BgpAttrItem::NextHop(nh) => match nh.value {
                IpAddr::V4(a) => c.next_hop_v4(a.octets()),
                IpAddr::V6(a) => return Err(format!("IPv6 NEXT_HOP {a}")),
            },
            BgpAttrItem::MED(m) => c.med(m.value),
            BgpAttrItem::CommunityList(l) => l.value.iter().for_each(|x| c.community(x.value)),
            BgpAttrItem::LargeCommunityList(l) => l
                .value
                .iter()
                .for_each(|x| c.large_community(x.ga, x.ldp1, x.ldp2)),
            BgpAttrItem::MPUpdates(mp) => {
                match mp.nexthop {
                    BgpAddr::V6(a) => c.next_hop_v6(v6_octets(a)),
                    ref other => return Err(format!("unexpected MP next hop {other:?}")),
                }
                tally_addrs(c, &mp.addrs, false)?;
            }
            BgpAttrItem::MPWithdraws(mp) => tally_addrs(c, &mp.addrs, true)?,
            other => return Err(format!("unexpected attribute {other:?}")),
        }
    }
    tally_addrs(c, &u.updates, false)
}

/// Full decode with zettabgp.
pub fn decode_zettabgp(bytes: &[u8]) -> Result<Counts, String> {
    let params = session();
    let mut c = Counts::default();
    for f in frames(bytes) {
        let (at, msg) = f.map_err(|e| format!("zettabgp framing: {e}"))?;
        let (kind, len) = params
            .decode_message_head(msg)
            .map_err(|e| format!("zettabgp: header at offset {at}: {e:?}"))?;
        c.message();
        if let BgpMessageType::Update = kind {
            let body = msg
                .get(19..19 + len)
                .ok_or_else(|| format!("zettabgp: short body at {at}"))?;
            let mut u = BgpUpdateMessage::new();
            u.decode_from(&params, body)
                .map_err(|e| format!("zettabgp: UPDATE at offset {at}: {e:?}"))?;
            tally_update(&mut c, &u)
                .map_err(|e| format!("zettabgp: UPDATE at offset {at}: {e}"))?;
        }
    }
    Ok(c)
}
