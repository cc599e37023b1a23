//! Our OPEN and what two OPENs negotiate (RFC 4271 §4.2, §6.2; RFC 5492): hold time, 4-octet
//! AS (RFC 6793), families (RFC 4760), route refresh (RFC 2918, RFC 7313), extended message
//! (RFC 8654) and graceful restart (RFC 4724). Also the OPEN checks that need our
//! configuration (peer AS, BGP Identifier), which the wire codec cannot do. Pure functions.

use super::SessionConfig;
use crate::types::HoldTime;
use crate::wire::capability::{cap_code, GracefulRestart};
use crate::wire::notification::{code, open as sub};
use crate::wire::{AfiSafi, Capability, DecodeError, Open, SessionParams};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The families anycastd offers: it advertises IPv4 and IPv6 unicast prefixes.
pub const OUR_FAMILIES: [AfiSafi; 2] = [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST];

/// Our OPEN: version 4, AS_TRANS in My AS when the local AS needs 4 octets (RFC 6793 §4.1),
/// the configured Hold Time and BGP Identifier, and the capabilities:
/// multiprotocol IPv4 + IPv6 unicast, route refresh, enhanced route refresh, 4-octet AS,
/// extended message (when configured) and graceful restart (only when configured: a router
/// keeping a dead node's route as stale would defeat the failover anycastd exists for).
pub fn our_open(cfg: &SessionConfig) -> Open {
    let mut caps: Vec<Capability> = OUR_FAMILIES.iter().map(|af| Capability::Multiprotocol(*af)).collect();
    caps.push(Capability::RouteRefresh);
    caps.push(Capability::EnhancedRouteRefresh);
    caps.push(Capability::FourOctetAs(cfg.local_as.get()));
    if cfg.extended_message {
        caps.push(Capability::ExtendedMessage);
    }
    if let Some(t) = cfg.graceful_restart {
        // RFC 4724 §3: we keep no forwarding state for received routes (we install none), so
        // the F bits are clear; the families tell the peer which End-of-RIBs to expect.
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restarting: false,
            notification: false,
            restart_time: t.min(0x0fff),
            families: OUR_FAMILIES.iter().map(|af| (*af, false)).collect(),
        }));
    }
    Open::new(cfg.local_as.get(), cfg.hold_time.seconds(), cfg.router_id.addr(), caps)
}

/// What a pair of OPENs negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// What the codec needs (4-octet AS, extended message; add-path is never negotiated).
    pub params: SessionParams,
    /// The smaller of both Hold Times (RFC 4271 §4.2); 0 = no hold timer, no KEEPALIVEs.
    pub hold_time: HoldTime,
    pub peer_as: u32,
    pub peer_id: Ipv4Addr,
    /// Families both sides offered, in our order.
    pub families: Vec<AfiSafi>,
    /// The peer can receive ROUTE-REFRESH (RFC 2918) / enhanced route refresh (RFC 7313).
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// Both sides offered graceful restart (RFC 4724).
    pub graceful_restart: bool,
}

impl Negotiated {
    pub fn has_family(&self, af: AfiSafi) -> bool {
        self.families.contains(&af)
    }

    /// KeepaliveTime: a third of the Hold Time (RFC 4271 §10); `None` when it is zero.
    pub fn keepalive(&self) -> Option<Duration> {
        self.hold_time.keepalive()
    }
}

/// Checks the peer's OPEN against our configuration and computes what was negotiated. The
/// configuration-free checks of RFC 4271 §6.2 (version, AS 0, hold time 1–2, identifier
/// syntax) already ran in `Open::decode`.
pub fn negotiate(cfg: &SessionConfig, peer: &Open) -> Result<Negotiated, DecodeError> {
    let peer_as = peer.asn();
    // RFC 4271 §6.2: "If the Autonomous System field of the OPEN message is unacceptable, then
    // the Error Subcode MUST be set to Bad Peer AS." RFC 6793 §4.1: the 4-octet capability
    // carries the real AS.
    if peer_as != cfg.remote_as.get() {
        return Err(DecodeError::reset(
            code::OPEN_MESSAGE,
            sub::BAD_PEER_AS,
            Vec::new(),
            format!("peer AS {peer_as} is not the configured remote AS {}", cfg.remote_as),
        ));
    }
    // RFC 6286 §2.2: identical identifiers are allowed only between different ASes; within one
    // AS it is an error, reported as Bad BGP Identifier (RFC 4271 §6.2).
    if peer.bgp_id == cfg.router_id.addr() && cfg.ibgp() {
        return Err(DecodeError::reset(
            code::OPEN_MESSAGE,
            sub::BAD_BGP_IDENTIFIER,
            Vec::new(),
            format!("peer BGP identifier {} equals ours on an iBGP session", peer.bgp_id),
        ));
    }
    // RFC 4271 §6.2: Hold Time 1 and 2 are unacceptable (`Open::decode` refuses them too).
    let peer_hold = HoldTime::new(peer.hold_time)
        .map_err(|e| DecodeError::reset(code::OPEN_MESSAGE, sub::UNACCEPTABLE_HOLD_TIME, Vec::new(), e.to_string()))?;
    let theirs = peer.families();
    let families: Vec<AfiSafi> = OUR_FAMILIES.iter().copied().filter(|af| theirs.contains(af)).collect();
    let four_octet_as = peer.four_octet_as().is_some();
    let params = SessionParams {
        four_octet_as,
        // RFC 8654 §3: used only when both sides advertised it.
        extended_message: cfg.extended_message && peer.has(cap_code::EXTENDED_MESSAGE),
        add_path_v4: false,
        add_path_v6: false,
    };
    Ok(Negotiated {
        params,
        // RFC 4271 §4.2: "the smaller of its configured Hold Time and the Hold Time received".
        hold_time: cfg.hold_time.min(peer_hold),
        peer_as,
        peer_id: peer.bgp_id,
        families,
        route_refresh: peer.has(cap_code::ROUTE_REFRESH) || peer.has(cap_code::ROUTE_REFRESH_CISCO),
        enhanced_route_refresh: peer.has(cap_code::ENHANCED_ROUTE_REFRESH),
        graceful_restart: cfg.graceful_restart.is_some() && peer.has(cap_code::GRACEFUL_RESTART),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::testkit::config;

    const OURS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const THEIRS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn peer(asn: u32, hold: u16, id: Ipv4Addr, caps: Vec<Capability>) -> Open {
        Open::new(asn, hold, id, caps)
    }

    fn full(asn: u32) -> Vec<Capability> {
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::Multiprotocol(AfiSafi::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::FourOctetAs(asn),
            Capability::ExtendedMessage,
            Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                notification: false,
                restart_time: 120,
                families: vec![],
            }),
        ]
    }

    #[test]
    fn our_open_capabilities_follow_config() {
        let mut cfg = config(65001, 65002, OURS);
        let o = our_open(&cfg);
        assert_eq!(o.my_as, 65001);
        assert_eq!(o.hold_time, 90);
        assert!(!o.has(cap_code::GRACEFUL_RESTART), "graceful restart must be off by default");
        assert!(!o.has(cap_code::EXTENDED_MESSAGE));
        assert!(o.has(cap_code::ROUTE_REFRESH) && o.has(cap_code::ENHANCED_ROUTE_REFRESH));
        assert_eq!(o.four_octet_as(), Some(65001));
        assert_eq!(o.families(), OUR_FAMILIES.to_vec());
        cfg.graceful_restart = Some(120);
        cfg.extended_message = true;
        cfg.local_as = crate::types::Asn::new(4_200_000_001).unwrap();
        let o = our_open(&cfg);
        assert!(o.has(cap_code::GRACEFUL_RESTART) && o.has(cap_code::EXTENDED_MESSAGE));
        assert_eq!(o.my_as, crate::wire::open::AS_TRANS);
        assert_eq!(o.asn(), 4_200_000_001);
    }

    #[test]
    fn hold_time_is_the_minimum_and_zero_disables_keepalives() {
        let cfg = config(65001, 65002, OURS);
        let n = negotiate(&cfg, &peer(65002, 30, THEIRS, full(65002))).unwrap();
        assert_eq!((n.hold_time.seconds(), n.keepalive()), (30, Some(Duration::from_secs(10))));
        let n = negotiate(&cfg, &peer(65002, 0, THEIRS, full(65002))).unwrap();
        assert_eq!((n.hold_time.seconds(), n.keepalive()), (0, None));
        let n = negotiate(&cfg, &peer(65002, 180, THEIRS, full(65002))).unwrap();
        assert_eq!(n.hold_time, HoldTime::DEFAULT);
    }

    #[test]
    fn optional_features_need_both_sides() {
        let mut cfg = config(65001, 65002, OURS);
        let n = negotiate(&cfg, &peer(65002, 90, THEIRS, full(65002))).unwrap();
        assert!(!n.params.extended_message && !n.graceful_restart);
        assert!(n.params.four_octet_as && n.route_refresh && n.enhanced_route_refresh);
        assert_eq!(n.families, OUR_FAMILIES.to_vec());
        cfg.extended_message = true;
        cfg.graceful_restart = Some(60);
        let n = negotiate(&cfg, &peer(65002, 90, THEIRS, full(65002))).unwrap();
        assert!(n.params.extended_message && n.graceful_restart);
        // An old peer: no capabilities at all → IPv4 unicast only, 2-octet AS, no refresh.
        let n = negotiate(&cfg, &peer(65002, 90, THEIRS, vec![])).unwrap();
        assert!(!n.params.four_octet_as && !n.params.extended_message && !n.route_refresh && !n.graceful_restart);
        assert_eq!(n.families, vec![AfiSafi::IPV4_UNICAST]);
    }

    #[test]
    fn bad_peer_as_and_identifier() {
        let cfg = config(65001, 65002, OURS);
        let e = negotiate(&cfg, &peer(65003, 90, THEIRS, full(65003))).unwrap_err();
        assert_eq!((e.code(), e.subcode(), e.notification.data.clone()), (2, 2, vec![]));
        // AS_TRANS in My AS but the real AS in the capability: accepted by the capability.
        let cfg4 = config(65001, 4_200_000_002, OURS);
        let n = negotiate(&cfg4, &peer(4_200_000_002, 90, THEIRS, full(4_200_000_002))).unwrap();
        assert_eq!(n.peer_as, 4_200_000_002);
        // Without the capability, AS_TRANS is all we see: wrong AS.
        assert_eq!(negotiate(&cfg4, &peer(4_200_000_002, 90, THEIRS, vec![])).unwrap_err().subcode(), 2);
        // Same identifier: fine on eBGP (RFC 6286 §2.2), Bad BGP Identifier on iBGP.
        assert!(negotiate(&cfg, &peer(65002, 90, OURS, full(65002))).is_ok());
        let ibgp = config(65001, 65001, OURS);
        let e = negotiate(&ibgp, &peer(65001, 90, OURS, full(65001))).unwrap_err();
        assert_eq!((e.code(), e.subcode()), (2, 3));
        assert!(negotiate(&ibgp, &peer(65001, 90, THEIRS, full(65001))).is_ok());
    }
}
