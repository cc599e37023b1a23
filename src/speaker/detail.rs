//! The session detail of `status --neighbor IP` ([`SessionStatus`]) built from the pure
//! session: the negotiated timers, the peer's identity and capabilities, what we sent. The
//! peer's capabilities become one short line each; the only peer text in them (the FQDN
//! capability's names) arrives escaped from the codec ([`crate::wire::text::PeerText`]), and an
//! unknown capability is shown by its code and length, never its octets.

use crate::session::Session;
use crate::status::SessionStatus;
use crate::wire::capability::{AfiSafi, Capability, AFI_IPV4, AFI_IPV6, SAFI_UNICAST};

/// `ipv4-unicast`, `ipv6-unicast`, or `afi 25 safi 70` for the others.
pub fn family_name(af: AfiSafi) -> String {
    match (af.afi, af.safi) {
        (AFI_IPV4, SAFI_UNICAST) => "ipv4-unicast".into(),
        (AFI_IPV6, SAFI_UNICAST) => "ipv6-unicast".into(),
        (afi, safi) => format!("afi {afi} safi {safi}"),
    }
}

/// One capability of the peer's OPEN as a line of `status`.
pub fn capability_line(c: &Capability) -> String {
    let name = c.kind().name();
    match c {
        Capability::Multiprotocol(af) => format!("{name} {}", family_name(*af)),
        Capability::FourOctetAs(asn) => format!("{name} {asn}"),
        Capability::GracefulRestart(g) => {
            let afs: Vec<String> = g.families.iter().map(|(af, _)| family_name(*af)).collect();
            let r = if g.restarting { ", restarting" } else { "" };
            format!("{name} (restart time {} s{r}; {})", g.restart_time, afs.join(", "))
        }
        Capability::AddPath(t) => {
            let afs: Vec<String> = t.iter().map(|(af, m)| format!("{} {}", family_name(*af), m.name())).collect();
            format!("{name} ({})", afs.join(", "))
        }
        Capability::ExtendedNextHop(t) => {
            let tuples: Vec<String> = t.iter().map(|(a, s, n)| format!("afi {a} safi {s} via afi {n}")).collect();
            format!("{name} ({})", tuples.join(", "))
        }
        Capability::Fqdn { hostname, domain } if domain.is_empty() => format!("{name} {hostname}"),
        Capability::Fqdn { hostname, domain } => format!("{name} {hostname}.{domain}"),
        Capability::Unknown { code, value } => format!("capability {code} ({} octets)", value.len()),
        Capability::RouteRefresh | Capability::EnhancedRouteRefresh | Capability::ExtendedMessage => name.into(),
    }
}

/// What `status --neighbor` shows of `s`.
pub fn session_status(s: &Session) -> SessionStatus {
    let neg = s.negotiated();
    let open = s.peer_open().filter(|_| neg.is_some());
    let st = s.stats();
    SessionStatus {
        hold_time_offered: s.config().hold_time.seconds(),
        hold_time: neg.map(|n| n.hold_time.seconds()),
        keepalive: neg.and_then(|n| n.keepalive()).map(|k| u16::try_from(k.as_secs()).unwrap_or(u16::MAX)),
        peer_hold_time: open.map(|o| o.hold_time),
        peer_router_id: neg.map(|n| n.peer_id),
        peer_as: neg.map(|n| n.peer_as),
        peer_capabilities: open.map(|o| o.capabilities.iter().map(capability_line).collect()).unwrap_or_default(),
        families: neg.map(|n| n.families.iter().map(|af| family_name(*af)).collect()).unwrap_or_default(),
        four_octet_as: neg.is_some_and(|n| n.params.four_octet_as),
        route_refresh: neg.is_some_and(|n| n.route_refresh),
        enhanced_route_refresh: neg.is_some_and(|n| n.enhanced_route_refresh),
        extended_message: neg.is_some_and(|n| n.params.extended_message),
        graceful_restart: neg.is_some_and(|n| n.graceful_restart),
        prefixes_announced_v4: st.prefixes_announced_tx.ipv4,
        prefixes_announced_v6: st.prefixes_announced_tx.ipv6,
        prefixes_withdrawn_v4: st.prefixes_withdrawn_tx.ipv4,
        prefixes_withdrawn_v6: st.prefixes_withdrawn_tx.ipv6,
        notifications_sent: st.msgs_out.notification,
        notifications_received: st.msgs_in.notification,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::text::PeerText;

    #[test]
    fn capabilities_read_as_one_line_each_with_peer_text_escaped() {
        assert_eq!(capability_line(&Capability::Multiprotocol(AfiSafi::IPV6_UNICAST)), "multiprotocol ipv6-unicast");
        assert_eq!(capability_line(&Capability::FourOctetAs(4_200_000_000)), "four-octet-as 4200000000");
        assert_eq!(capability_line(&Capability::RouteRefresh), "route-refresh");
        let fqdn = Capability::Fqdn {
            hostname: PeerText::from_bytes(b"rtr1\x1b[31m"),
            domain: PeerText::from_bytes(b"example"),
        };
        let line = capability_line(&fqdn);
        assert!(!line.contains('\x1b'), "{line}");
        assert!(line.starts_with("fqdn rtr1"), "{line}");
        let unknown = Capability::Unknown { code: 99, value: b"\x1b[2J".to_vec() };
        assert_eq!(capability_line(&unknown), "capability 99 (4 octets)");
        assert_eq!(family_name(AfiSafi::new(25, 70)), "afi 25 safi 70");
    }
}
