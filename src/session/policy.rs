//! Per-neighbor export policy, pure: how the advertisement the HA decision chose becomes the
//! [`Routes`] (prefixes with their path attributes) one neighbor is sent. Next hop self, an
//! AS_PATH of our AS (prepended on request) on eBGP and an empty one with LOCAL_PREF 100 on
//! iBGP (RFC 4271 §5.1.2, §5.1.5), ORIGIN IGP, the MED and communities of the neighbor's
//! config plus what the decision adds (a standby MED, the node preference's MED offset,
//! GRACEFUL_SHUTDOWN while draining).
//! No I/O; the speaker calls [`ExportPolicy::routes`] whenever the advertisement changes.

use super::routes::Routes;
use super::SessionConfig;
use crate::wire::attr::Origin;
use crate::wire::build::RouteAttrs;
use crate::wire::community::{Community, LargeCommunity};
use ipnet::IpNet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// LOCAL_PREF on our iBGP routes: the RFC 4271 default, so the router's own policy decides.
pub const IBGP_LOCAL_PREF: u32 = 100;

/// What the HA decision asks every neighbor to be sent (a view of `ha::Advert`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Announce<'a> {
    pub prefixes: &'a [IpNet],
    /// Extra copies of our AS on the path (standby policy `prepend`).
    pub prepend: u8,
    /// MED that overrides the neighbor's (standby policy `prepend`).
    pub med: Option<u32>,
    /// Added to the MED (the neighbor's, the override, or 0): the node preference's
    /// split-brain guard, 255 − `[anycast] preference`.
    pub med_offset: u32,
    /// Communities added to the neighbor's own.
    pub communities: &'a [Community],
}

/// One neighbor's export settings, from its config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportPolicy {
    pub local_as: u32,
    /// Both ends in one AS: no AS_PATH of ours, LOCAL_PREF instead.
    pub ibgp: bool,
    pub next_hop_v4: Option<Ipv4Addr>,
    pub next_hop_v6: Option<Ipv6Addr>,
    pub med: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
}

impl ExportPolicy {
    /// A policy with our AS and session type from `session`, no next hop, MED or community.
    pub fn new(session: &SessionConfig) -> Self {
        ExportPolicy {
            local_as: session.local_as.get(),
            ibgp: session.ibgp(),
            next_hop_v4: None,
            next_hop_v6: None,
            med: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
        }
    }

    /// The routes this neighbor is to have for `a`.
    pub fn routes(&self, a: &Announce<'_>) -> Routes {
        let as_path = if self.ibgp { Vec::new() } else { vec![self.local_as; 1 + usize::from(a.prepend)] };
        let mut communities = self.communities.clone();
        for c in a.communities {
            if !communities.contains(c) {
                communities.push(*c);
            }
        }
        let attrs = RouteAttrs {
            origin: Origin::Igp,
            as_path,
            med: match (a.med.or(self.med), a.med_offset) {
                (med, 0) => med,
                (med, offset) => Some(med.unwrap_or(0).saturating_add(offset)),
            },
            local_pref: self.ibgp.then_some(IBGP_LOCAL_PREF),
            communities,
            large_communities: self.large_communities.clone(),
            next_hop_v4: self.next_hop_v4,
            next_hop_v6: self.next_hop_v6.map(|g| (g, None)),
        };
        Routes::with(attrs, a.prefixes.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::testkit::config;

    fn ebgp() -> ExportPolicy {
        let mut p = ExportPolicy::new(&config(65124, 65000, Ipv4Addr::new(192, 0, 2, 11)));
        p.next_hop_v4 = Some(Ipv4Addr::new(192, 0, 2, 11));
        p.next_hop_v6 = Some("2001:db8:2::11".parse().unwrap());
        p.communities = vec![Community(0xFE64_0001)];
        p
    }

    fn prefixes() -> Vec<IpNet> {
        vec!["203.0.113.124/32".parse().unwrap(), "2001:db8:124::1/128".parse().unwrap()]
    }

    #[test]
    fn ebgp_gets_our_as_next_hop_self_and_origin_igp() {
        let p = prefixes();
        let r = ebgp().routes(&Announce { prefixes: &p, ..Default::default() });
        assert_eq!(r.len(), 2);
        let a = r.get(&p[0]).expect("announced");
        assert_eq!(a.origin, Origin::Igp);
        assert_eq!(a.as_path, vec![65124]);
        assert_eq!((a.med, a.local_pref), (None, None));
        assert_eq!(a.next_hop_v4, Some(Ipv4Addr::new(192, 0, 2, 11)));
        assert_eq!(a.next_hop_v6, Some(("2001:db8:2::11".parse().unwrap(), None)));
        assert_eq!(a.communities, vec![Community(0xFE64_0001)]);
        assert_eq!(r.get(&p[1]), Some(a), "one set of attributes for every prefix");
    }

    #[test]
    fn preference_offsets_whatever_med_applies() {
        let (mut pol, p) = (ebgp(), prefixes());
        let r = pol.routes(&Announce { prefixes: &p, med_offset: 55, ..Default::default() });
        assert_eq!(r.get(&p[0]).expect("announced").med, Some(55), "no MED configured: the offset alone");
        pol.med = Some(10);
        let r = pol.routes(&Announce { prefixes: &p, med_offset: 55, ..Default::default() });
        assert_eq!(r.get(&p[0]).expect("announced").med, Some(65), "added to the neighbor's");
        let r = pol.routes(&Announce { prefixes: &p, med: Some(u32::MAX), med_offset: 55, ..Default::default() });
        assert_eq!(r.get(&p[0]).expect("announced").med, Some(u32::MAX), "saturates");
        let r = pol.routes(&Announce { prefixes: &p, ..Default::default() });
        assert_eq!(r.get(&p[0]).expect("announced").med, Some(10), "no offset: unchanged");
    }

    #[test]
    fn standby_prepends_and_overrides_the_med() {
        let mut pol = ebgp();
        pol.med = Some(10);
        let p = prefixes();
        let r = pol.routes(&Announce { prefixes: &p, prepend: 3, med: Some(500), med_offset: 0, communities: &[] });
        let a = r.get(&p[0]).expect("announced");
        assert_eq!(a.as_path, vec![65124; 4]);
        assert_eq!(a.med, Some(500));
        let r = pol.routes(&Announce { prefixes: &p, ..Default::default() });
        assert_eq!(r.get(&p[0]).expect("announced").med, Some(10), "the neighbor's MED without an override");
    }

    #[test]
    fn drain_adds_graceful_shutdown_once() {
        let p = prefixes();
        let gs = [Community::GRACEFUL_SHUTDOWN, Community(0xFE64_0001)];
        let r = ebgp().routes(&Announce { prefixes: &p, communities: &gs, ..Default::default() });
        let a = r.get(&p[0]).expect("announced");
        assert_eq!(a.communities, vec![Community(0xFE64_0001), Community::GRACEFUL_SHUTDOWN]);
    }

    #[test]
    fn ibgp_has_no_as_path_of_ours_and_local_pref_100() {
        let mut pol = ExportPolicy::new(&config(65000, 65000, Ipv4Addr::new(192, 0, 2, 11)));
        pol.next_hop_v4 = Some(Ipv4Addr::new(192, 0, 2, 11));
        let p = prefixes();
        let r = pol.routes(&Announce { prefixes: &p, prepend: 2, ..Default::default() });
        let a = r.get(&p[0]).expect("announced");
        assert!(a.as_path.is_empty(), "{:?}", a.as_path);
        assert_eq!(a.local_pref, Some(IBGP_LOCAL_PREF));
    }

    #[test]
    fn nothing_to_announce_is_no_routes() {
        assert!(ebgp().routes(&Announce::default()).is_empty());
    }
}
