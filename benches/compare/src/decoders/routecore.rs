//! routecore: `UpdateMessage::from_octets(&[u8], &SessionConfig::modern())` per framed
//! message (a zero-copy view: validation on construction, lazy iterators afterwards), then
//! iterate every attribute and every announcement/withdrawal.

use std::net::IpAddr;

use routecore::bgp::aspath::Hop;
use routecore::bgp::message::{SessionConfig, UpdateMessage};
use routecore::bgp::nlri::afisafi::{IsPrefix, Nlri};
use routecore::bgp::nlri::nexthop::NextHop;
use routecore::bgp::types::OriginType;

use super::frames;
use crate::Counts;

fn tally_nlri<O>(c: &mut Counts, n: &Nlri<O>, withdrawn: bool) -> Result<(), String> {
    let p = match n {
        Nlri::Ipv4Unicast(x) => x.prefix(),
        Nlri::Ipv6Unicast(x) => x.prefix(),
        _ => return Err(format!("unexpected NLRI type {:?}", n.nlri_type())),
    };
    let len = p.len();
    match (p.addr(), withdrawn) {
        (IpAddr::V4(a), false) => c.v4_prefix(a.octets(), len),
        (IpAddr::V6(a), false) => c.v6_prefix(a.octets(), len),
        (IpAddr::V4(a), true) => c.withdrawn_v4(a.octets(), len),
        (IpAddr::V6(a), true) => c.withdrawn_v6(a.octets(), len),
    }
    Ok(())
}

fn tally_update(c: &mut Counts, u: &UpdateMessage<&[u8]>) -> Result<(), String> {
    let e = |e: routecore::bgp::ParseError| e.to_string();
    for n in u.withdrawals().map_err(e)? {
        tally_nlri(c, &n.map_err(e)?, true)?;
    }
    if let Some(o) = u.origin().map_err(e)? {
        c.origin(match o {
            OriginType::Igp => 0,
            OriginType::Egp => 1,
            OriginType::Incomplete => 2,
            OriginType::Unimplemented(x) => x,
        });
    }
    if let Some(p) = u.aspath().map_err(e)? {
        for h in p.hops() {
            match h {
                Hop::Asn(a) => c.asn(a.into_u32()),
                other => return Err(format!("unexpected AS_PATH hop {other:?}")),
            }
        }
    }
    match u.conventional_next_hop().map_err(e)? {
        Some(NextHop::Unicast(IpAddr::V4(a))) => c.next_hop_v4(a.octets()),
        None => {}
        Some(other) => return Err(format!("unexpected NEXT_HOP {other:?}")),
    }
    match u.mp_next_hop().map_err(e)? {
        Some(NextHop::Unicast(IpAddr::V6(a))) | Some(NextHop::Ipv6LL { global: a, .. }) => {
            c.next_hop_v6(a.octets())
        }
        None => {}
        Some(other) => return Err(format!("unexpected MP next hop {other:?}")),
    }
    if let Some(m) = u.multi_exit_disc().map_err(e)? {
        c.med(m.0);
    }
    if let Some(cs) = u.communities().map_err(e)? {
        cs.for_each(|x| c.community(u32::from_be_bytes(x.to_raw())));
    }
    if let Some(ls) = u.large_communities().map_err(e)? {
        ls.for_each(|l| c.large_community(l.global(), l.local1(), l.local2()));
    }
    for n in u.announcements().map_err(e)? {
        tally_nlri(c, &n.map_err(e)?, false)?;
    }
    Ok(())
}

/// Full decode with routecore.
pub fn decode_routecore(bytes: &[u8]) -> Result<Counts, String> {
    let cfg = SessionConfig::modern();
    let mut c = Counts::default();
    for f in frames(bytes) {
        let (at, msg) = f.map_err(|e| format!("routecore framing: {e}"))?;
        c.message();
        if msg.get(18) != Some(&2) {
            continue; // not an UPDATE
        }
        let u = UpdateMessage::from_octets(msg, &cfg)
            .map_err(|e| format!("routecore: UPDATE at offset {at}: {e}"))?;
        tally_update(&mut c, &u).map_err(|e| format!("routecore: UPDATE at offset {at}: {e}"))?;
    }
    Ok(c)
}
