//! Our desired advertisement ([`Routes`]: prefixes with their attributes) and the UPDATE octets
//! that move the peer from what it has to what we want: withdrawals of removed prefixes, then
//! announcements of added or changed ones, packed by `wire::build` under the negotiated
//! parameters. Only families both sides negotiated are sent, and only with a next hop of the
//! prefix's family; everything else is left out with a warning. Pure: no I/O, no timers.

use super::negotiate::Negotiated;
use super::FamilyCounts;
use crate::wire::build::{self, RouteAttrs};
use crate::wire::{AfiSafi, SessionParams};
use bytes::BytesMut;
use ipnet::IpNet;
use std::collections::BTreeMap;

/// The prefixes to advertise, each with its attributes. Prefixes are kept in canonical form
/// (host bits cleared).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    map: BTreeMap<IpNet, RouteAttrs>,
}

impl Routes {
    pub fn new() -> Self {
        Routes::default()
    }

    /// All `prefixes` with the same attributes.
    pub fn with(attrs: RouteAttrs, prefixes: impl IntoIterator<Item = IpNet>) -> Self {
        let mut r = Routes::new();
        for p in prefixes {
            r.insert(p, attrs.clone());
        }
        r
    }

    pub fn insert(&mut self, prefix: IpNet, attrs: RouteAttrs) {
        self.map.insert(prefix.trunc(), attrs);
    }

    pub fn remove(&mut self, prefix: &IpNet) -> Option<RouteAttrs> {
        self.map.remove(&prefix.trunc())
    }

    pub fn get(&self, prefix: &IpNet) -> Option<&RouteAttrs> {
        self.map.get(&prefix.trunc())
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &RouteAttrs)> {
        self.map.iter()
    }

    /// The routes of one family.
    pub fn family(&self, af: AfiSafi) -> Routes {
        Routes { map: self.map.iter().filter(|(p, _)| family_of(p) == af).map(|(p, a)| (*p, a.clone())).collect() }
    }
}

/// The unicast family of a prefix.
pub fn family_of(p: &IpNet) -> AfiSafi {
    match p {
        IpNet::V4(_) => AfiSafi::IPV4_UNICAST,
        IpNet::V6(_) => AfiSafi::IPV6_UNICAST,
    }
}

/// The part of `desired` that can be sent on this session, and a warning per reason some of
/// it cannot: a family the peer did not negotiate, or no next hop of the prefix's family.
pub fn sendable(desired: &Routes, neg: &Negotiated) -> (Routes, Vec<String>) {
    let mut out = Routes::new();
    let (mut no_family, mut no_v4_nh, mut no_v6_nh) = (0usize, 0usize, 0usize);
    for (p, a) in desired.iter() {
        if !neg.has_family(family_of(p)) {
            no_family += 1;
        } else if p.addr().is_ipv4() && a.next_hop_v4.is_none() {
            no_v4_nh += 1;
        } else if p.addr().is_ipv6() && a.next_hop_v6.is_none() {
            no_v6_nh += 1;
        } else {
            out.map.insert(*p, a.clone());
        }
    }
    let mut warnings = Vec::new();
    if no_family > 0 {
        warnings.push(format!(
            "{no_family} prefix(es) not sent: the peer did not negotiate their address family (multiprotocol capability, RFC 4760)"
        ));
    }
    if no_v4_nh > 0 {
        warnings.push(format!("{no_v4_nh} IPv4 prefix(es) not sent: no IPv4 next hop configured"));
    }
    if no_v6_nh > 0 {
        warnings.push(format!("{no_v6_nh} IPv6 prefix(es) not sent: no IPv6 next hop configured (set next_hop_v6)"));
    }
    (out, warnings)
}

/// What one encoding run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: BytesMut,
    /// UPDATE messages written.
    pub messages: u64,
    pub announced: FamilyCounts,
    pub withdrawn: FamilyCounts,
    pub warnings: Vec<String>,
}

/// Appends the UPDATEs that turn `old` (what the peer has from us) into `new` (both already
/// [`sendable`]): withdrawals first, then announcements of new prefixes and of prefixes whose
/// attributes changed (RFC 4271 §3.1: an announcement replaces the previous route).
pub fn encode_diff(old: &Routes, new: &Routes, p: &SessionParams, out: &mut Encoded) {
    let gone: Vec<IpNet> = old.map.keys().filter(|k| !new.map.contains_key(k)).copied().collect();
    if !gone.is_empty() {
        out.messages += build::withdraw(p, &gone, &mut out.bytes) as u64;
        for g in &gone {
            out.withdrawn.add(g.addr().is_ipv6(), 1);
        }
    }
    // Group the changed prefixes by attributes, in prefix order (few groups: a linear search).
    let mut groups: Vec<(&RouteAttrs, Vec<IpNet>)> = Vec::new();
    for (pfx, attrs) in new.map.iter().filter(|(k, a)| old.map.get(k) != Some(a)) {
        match groups.iter_mut().find(|(a, _)| *a == attrs) {
            Some((_, v)) => v.push(*pfx),
            None => groups.push((attrs, vec![*pfx])),
        }
    }
    for (attrs, prefixes) in groups {
        match build::announce(p, attrs, &prefixes, &mut out.bytes) {
            Ok(n) => {
                out.messages += n as u64;
                for x in &prefixes {
                    out.announced.add(x.addr().is_ipv6(), 1);
                }
            }
            Err(e) => out.warnings.push(format!("announcement not sent: {e}")),
        }
    }
}

/// Appends an End-of-RIB marker (RFC 4724 §2) for each family.
pub fn encode_end_of_rib(families: &[AfiSafi], out: &mut Encoded) {
    for af in families {
        build::end_of_rib(*af, &mut out.bytes);
        out.messages += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_message, Message};
    use std::net::Ipv4Addr;

    use crate::session::testkit::attrs;

    fn neg(families: Vec<AfiSafi>) -> Negotiated {
        Negotiated {
            params: SessionParams::default(),
            hold_time: crate::types::HoldTime::DEFAULT,
            peer_as: 65002,
            peer_id: Ipv4Addr::new(192, 0, 2, 2),
            families,
            route_refresh: true,
            enhanced_route_refresh: false,
            graceful_restart: false,
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// (announced, withdrawn) prefixes of a run of UPDATEs.
    fn decode_all(mut b: &[u8]) -> (Vec<IpNet>, Vec<IpNet>) {
        let (mut a, mut w) = (Vec::new(), Vec::new());
        while !b.is_empty() {
            let (m, n) = decode_message(b, &SessionParams::default()).unwrap();
            let Message::Update(u) = m else { panic!("not an UPDATE") };
            a.extend(u.announced().map(|p| p.net));
            w.extend(u.withdrawn_all().map(|p| p.net));
            b = &b[n..];
        }
        (a, w)
    }

    #[test]
    fn diff_withdraws_removed_and_announces_added_or_changed() {
        let old = Routes::with(attrs(), [net("203.0.113.1/32"), net("203.0.113.2/32"), net("2001:db8::1/128")]);
        let mut new = Routes::with(attrs(), [net("203.0.113.2/32"), net("203.0.113.3/32")]);
        let mut changed = attrs();
        changed.med = Some(10);
        new.insert(net("2001:db8::1/128"), changed);
        let mut e = Encoded::default();
        encode_diff(&old, &new, &SessionParams::default(), &mut e);
        let (a, w) = decode_all(&e.bytes);
        assert_eq!(w, vec![net("203.0.113.1/32")]);
        assert_eq!(a, vec![net("203.0.113.3/32"), net("2001:db8::1/128")]);
        assert_eq!(e.messages, 3);
        assert_eq!((e.announced.ipv4, e.announced.ipv6, e.withdrawn.ipv4), (1, 1, 1));
        // No change, no octets.
        let mut e = Encoded::default();
        encode_diff(&new, &new, &SessionParams::default(), &mut e);
        assert!(e.bytes.is_empty() && e.messages == 0);
    }

    #[test]
    fn sendable_drops_unnegotiated_families_and_missing_next_hops() {
        let mut no_v6 = attrs();
        no_v6.next_hop_v6 = None;
        let r = Routes::with(no_v6, [net("203.0.113.1/32"), net("2001:db8::1/128")]);
        let (s, w) = sendable(&r, &neg(vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]));
        assert_eq!(s.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![net("203.0.113.1/32")]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("IPv6 next hop"), "{w:?}");
        let r = Routes::with(attrs(), [net("203.0.113.1/32"), net("2001:db8::1/128")]);
        let (s, w) = sendable(&r, &neg(vec![AfiSafi::IPV4_UNICAST]));
        assert_eq!(s.len(), 1);
        assert!(w[0].contains("address family"), "{w:?}");
    }

    #[test]
    fn prefixes_are_canonical() {
        let r = Routes::with(attrs(), [net("203.0.113.77/24")]);
        assert!(r.get(&net("203.0.113.0/24")).is_some());
        assert_eq!(r.family(AfiSafi::IPV6_UNICAST).len(), 0);
    }
}
