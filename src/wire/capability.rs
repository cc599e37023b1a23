//! Capabilities advertised in OPEN (RFC 5492) and the ones anycastd understands: multiprotocol
//! (RFC 4760), route refresh (RFC 2918), enhanced route refresh (RFC 7313), 4-octet AS
//! (RFC 6793), graceful restart (RFC 4724), extended message (RFC 8654), extended next hop
//! (RFC 8950), add-path (RFC 7911) and FQDN (draft-walton-bgp-hostname). Anything else is kept
//! as code + value so it can be shown and re-encoded unchanged.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! ~                              ~
//! +------------------------------+
//! ```

use super::notification::{code, open as sub, DecodeError};
use super::text::PeerText;
use super::{reader, EncodeError};
use bytes::BufMut;

code_points! {
    /// Capability codes (IANA "Capability Codes" registry), named as `anycastd decode` shows
    /// them.
    pub enum CapabilityCode, consts cap_code, unknown "unknown" {
        Multiprotocol = 1, MULTIPROTOCOL, "multiprotocol";
        RouteRefresh = 2, ROUTE_REFRESH, "route-refresh";
        ExtendedNextHop = 5, EXTENDED_NEXT_HOP, "extended-next-hop-encoding";
        ExtendedMessage = 6, EXTENDED_MESSAGE, "extended-message";
        BgpRole = 9, BGP_ROLE, "bgp-role";
        GracefulRestart = 64, GRACEFUL_RESTART, "graceful-restart";
        FourOctetAs = 65, FOUR_OCTET_AS, "four-octet-as";
        AddPath = 69, ADD_PATH, "add-path";
        EnhancedRouteRefresh = 70, ENHANCED_ROUTE_REFRESH, "enhanced-route-refresh";
        LongLivedGracefulRestart = 71, LONG_LIVED_GRACEFUL_RESTART, "long-lived-graceful-restart";
        Fqdn = 73, FQDN, "fqdn";
        SoftwareVersion = 75, SOFTWARE_VERSION, "software-version";
        RouteRefreshCisco = 128, ROUTE_REFRESH_CISCO, "route-refresh-cisco-prestandard";
    }
}

/// Address family identifiers used by this speaker (IANA AFI/SAFI registries).
pub const AFI_IPV4: u16 = 1;
pub const AFI_IPV6: u16 = 2;
pub const SAFI_UNICAST: u8 = 1;

/// An address family / subsequent address family pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AfiSafi {
    pub afi: u16,
    pub safi: u8,
}

impl AfiSafi {
    pub const IPV4_UNICAST: AfiSafi = AfiSafi { afi: AFI_IPV4, safi: SAFI_UNICAST };
    pub const IPV6_UNICAST: AfiSafi = AfiSafi { afi: AFI_IPV6, safi: SAFI_UNICAST };

    pub fn new(afi: u16, safi: u8) -> Self {
        AfiSafi { afi, safi }
    }
}

/// Add-path direction for one family (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddPathMode {
    Receive,
    Send,
    Both,
    Unknown(u8),
}

impl AddPathMode {
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => AddPathMode::Receive,
            2 => AddPathMode::Send,
            3 => AddPathMode::Both,
            v => AddPathMode::Unknown(v),
        }
    }
    pub fn to_u8(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
            AddPathMode::Unknown(v) => v,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            AddPathMode::Receive => "receive",
            AddPathMode::Send => "send",
            AddPathMode::Both => "send/receive",
            AddPathMode::Unknown(_) => "unknown",
        }
    }
    /// Whether the sender of this capability will send multiple paths.
    pub fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

/// Graceful Restart capability value (RFC 4724 §3, N bit from RFC 8538).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Restart State (R) bit.
    pub restarting: bool,
    /// Graceful Notification (N) bit, RFC 8538.
    pub notification: bool,
    /// Restart Time in seconds (12 bits).
    pub restart_time: u16,
    /// Families with their Forwarding State (F) bit.
    pub families: Vec<(AfiSafi, bool)>,
}

/// One capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Capability {
    Multiprotocol(AfiSafi),
    RouteRefresh,
    EnhancedRouteRefresh,
    FourOctetAs(u32),
    GracefulRestart(GracefulRestart),
    ExtendedMessage,
    /// (NLRI AFI, NLRI SAFI, next-hop AFI) tuples, RFC 8950 §3.
    ExtendedNextHop(Vec<(u16, u16, u16)>),
    AddPath(Vec<(AfiSafi, AddPathMode)>),
    /// Hostname and domain name as the peer chose them: escaped at decode ([`PeerText`]).
    Fqdn {
        hostname: PeerText,
        domain: PeerText,
    },
    Unknown {
        code: u8,
        value: Vec<u8>,
    },
}

fn malformed(code_: u8, why: &str) -> DecodeError {
    // RFC 4271 §6.2: a recognized but malformed optional parameter → subcode 0 (Unspecific).
    DecodeError::reset(
        code::OPEN_MESSAGE,
        sub::UNSPECIFIC,
        Vec::new(),
        format!("malformed {} capability ({code_}): {why}", CapabilityCode::from_code(code_).name()),
    )
}

/// The value of a fixed-length capability, or the error naming the length it must have.
fn exact<const N: usize>(code_: u8, v: &[u8]) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(v).map_err(|_| malformed(code_, &format!("length {} is not {N}", v.len())))
}

impl Capability {
    /// The registry entry of this capability.
    pub fn kind(&self) -> CapabilityCode {
        match self {
            Capability::Multiprotocol(_) => CapabilityCode::Multiprotocol,
            Capability::RouteRefresh => CapabilityCode::RouteRefresh,
            Capability::EnhancedRouteRefresh => CapabilityCode::EnhancedRouteRefresh,
            Capability::FourOctetAs(_) => CapabilityCode::FourOctetAs,
            Capability::GracefulRestart(_) => CapabilityCode::GracefulRestart,
            Capability::ExtendedMessage => CapabilityCode::ExtendedMessage,
            Capability::ExtendedNextHop(_) => CapabilityCode::ExtendedNextHop,
            Capability::AddPath(_) => CapabilityCode::AddPath,
            Capability::Fqdn { .. } => CapabilityCode::Fqdn,
            Capability::Unknown { code, .. } => CapabilityCode::from_code(*code),
        }
    }

    pub fn code(&self) -> u8 {
        self.kind().code()
    }

    /// Decode one capability value.
    pub fn decode(code_: u8, v: &[u8]) -> Result<Capability, DecodeError> {
        use CapabilityCode as C;
        let bad = |why: &str| malformed(code_, why);
        Ok(match CapabilityCode::from_code(code_) {
            C::Multiprotocol => {
                // AFI (2), Reserved (1), SAFI (1) — RFC 4760 §8.
                let [a0, a1, _reserved, safi] = exact::<4>(code_, v)?;
                Capability::Multiprotocol(AfiSafi::new(u16::from_be_bytes([a0, a1]), safi))
            }
            C::RouteRefresh => {
                exact::<0>(code_, v)?;
                Capability::RouteRefresh
            }
            C::EnhancedRouteRefresh => {
                exact::<0>(code_, v)?;
                Capability::EnhancedRouteRefresh
            }
            C::ExtendedMessage => {
                exact::<0>(code_, v)?;
                Capability::ExtendedMessage
            }
            C::FourOctetAs => Capability::FourOctetAs(u32::from_be_bytes(exact::<4>(code_, v)?)),
            C::GracefulRestart => {
                let Some((head, families)) = v.split_first_chunk::<2>().filter(|(_, f)| f.len().is_multiple_of(4))
                else {
                    return Err(bad(&format!("length {} is not 2 + 4n", v.len())));
                };
                let head = u16::from_be_bytes(*head);
                let families = families
                    .as_chunks::<4>()
                    .0
                    .iter()
                    .map(|&[a0, a1, safi, flags]| (AfiSafi::new(u16::from_be_bytes([a0, a1]), safi), flags & 0x80 != 0))
                    .collect();
                Capability::GracefulRestart(GracefulRestart {
                    restarting: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                })
            }
            C::AddPath => {
                if v.is_empty() || !v.len().is_multiple_of(4) {
                    return Err(bad(&format!("length {} is not a non-zero multiple of 4", v.len())));
                }
                Capability::AddPath(
                    v.as_chunks::<4>()
                        .0
                        .iter()
                        .map(|&[a0, a1, safi, mode]| {
                            (AfiSafi::new(u16::from_be_bytes([a0, a1]), safi), AddPathMode::from_u8(mode))
                        })
                        .collect(),
                )
            }
            C::ExtendedNextHop => {
                if v.is_empty() || !v.len().is_multiple_of(6) {
                    return Err(bad(&format!("length {} is not a non-zero multiple of 6", v.len())));
                }
                Capability::ExtendedNextHop(
                    v.as_chunks::<6>()
                        .0
                        .iter()
                        .map(|&[a0, a1, s0, s1, n0, n1]| {
                            (u16::from_be_bytes([a0, a1]), u16::from_be_bytes([s0, s1]), u16::from_be_bytes([n0, n1]))
                        })
                        .collect(),
                )
            }
            C::Fqdn => {
                let parse = || -> Result<(PeerText, PeerText), reader::Short> {
                    let (i, hl) = reader::u8(v)?;
                    let (i, h) = reader::bytes(i, usize::from(hl))?;
                    let (i, dl) = reader::u8(i)?;
                    let (i, d) = reader::bytes(i, usize::from(dl))?;
                    if !i.is_empty() {
                        return Err(reader::Short);
                    }
                    Ok((PeerText::from_bytes(h), PeerText::from_bytes(d)))
                };
                let (hostname, domain) = parse().map_err(|_| bad("hostname/domain lengths do not match the value"))?;
                Capability::Fqdn { hostname, domain }
            }
            _ => Capability::Unknown { code: code_, value: v.to_vec() },
        })
    }

    /// Length of the encoded value.
    pub fn value_len(&self) -> usize {
        match self {
            Capability::Multiprotocol(_) | Capability::FourOctetAs(_) => 4,
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh | Capability::ExtendedMessage => 0,
            Capability::GracefulRestart(g) => g.families.len().saturating_mul(4).saturating_add(2),
            Capability::ExtendedNextHop(t) => t.len().saturating_mul(6),
            Capability::AddPath(t) => t.len().saturating_mul(4),
            Capability::Fqdn { hostname, domain } => {
                hostname.as_bytes().len().saturating_add(domain.as_bytes().len()).saturating_add(2)
            }
            Capability::Unknown { value, .. } => value.len(),
        }
    }

    /// Append code, length and value. Fails, writing nothing, when the value does not fit the
    /// one-octet Capability Length (255 octets) or an FQDN part its own length octet.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        let mut v = Vec::with_capacity(self.value_len());
        self.encode_value(&mut v)?;
        let len = u8::try_from(v.len()).map_err(|_| EncodeError::TooLong {
            what: "capability value",
            len: v.len(),
            max: usize::from(u8::MAX),
        })?;
        buf.put_u8(self.code());
        buf.put_u8(len);
        buf.put_slice(&v);
        Ok(())
    }

    fn encode_value(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Capability::Multiprotocol(a) => {
                buf.put_u16(a.afi);
                buf.put_u8(0);
                buf.put_u8(a.safi);
            }
            Capability::FourOctetAs(asn) => buf.put_u32(*asn),
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh | Capability::ExtendedMessage => {}
            Capability::GracefulRestart(g) => {
                let mut head = g.restart_time & 0x0fff;
                if g.restarting {
                    head |= 0x8000;
                }
                if g.notification {
                    head |= 0x4000;
                }
                buf.put_u16(head);
                for (af, fwd) in &g.families {
                    buf.put_u16(af.afi);
                    buf.put_u8(af.safi);
                    buf.put_u8(if *fwd { 0x80 } else { 0 });
                }
            }
            Capability::ExtendedNextHop(t) => {
                for (a, s, n) in t {
                    buf.put_u16(*a);
                    buf.put_u16(*s);
                    buf.put_u16(*n);
                }
            }
            Capability::AddPath(t) => {
                for (af, mode) in t {
                    buf.put_u16(af.afi);
                    buf.put_u8(af.safi);
                    buf.put_u8(mode.to_u8());
                }
            }
            Capability::Fqdn { hostname, domain } => {
                for part in [hostname.as_bytes(), domain.as_bytes()] {
                    let len = u8::try_from(part.len()).map_err(|_| EncodeError::TooLong {
                        what: "FQDN capability name",
                        len: part.len(),
                        max: usize::from(u8::MAX),
                    })?;
                    buf.put_u8(len);
                    buf.put_slice(part);
                }
            }
            Capability::Unknown { value, .. } => buf.put_slice(value),
        }
        Ok(())
    }
}

/// Decode the capabilities packed in one Capabilities optional parameter (RFC 5492 §4).
pub fn decode_list(mut v: &[u8], out: &mut Vec<Capability>) -> Result<(), DecodeError> {
    while !v.is_empty() {
        let parse = |i| -> reader::R<'_, (u8, &[u8])> {
            let (i, c) = reader::u8(i)?;
            let (i, l) = reader::u8(i)?;
            let (i, val) = reader::bytes(i, usize::from(l))?;
            Ok((i, (c, val)))
        };
        let (rest, (c, val)) = parse(v).map_err(|_| {
            DecodeError::reset(
                code::OPEN_MESSAGE,
                sub::UNSPECIFIC,
                Vec::new(),
                "capability overruns its optional parameter",
            )
        })?;
        out.push(Capability::decode(c, val)?);
        v = rest;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn round_trip(c: Capability) {
        let mut b = Vec::new();
        c.encode(&mut b).unwrap();
        assert_eq!(usize::from(b[1]), c.value_len());
        let mut out = Vec::new();
        decode_list(&b, &mut out).unwrap();
        assert_eq!(out, vec![c]);
    }

    #[test]
    fn every_capability_round_trips() {
        round_trip(Capability::Multiprotocol(AfiSafi::IPV6_UNICAST));
        round_trip(Capability::RouteRefresh);
        round_trip(Capability::EnhancedRouteRefresh);
        round_trip(Capability::ExtendedMessage);
        round_trip(Capability::FourOctetAs(4_200_000_000));
        round_trip(Capability::GracefulRestart(GracefulRestart {
            restarting: true,
            notification: true,
            restart_time: 120,
            families: vec![(AfiSafi::IPV4_UNICAST, true), (AfiSafi::IPV6_UNICAST, false)],
        }));
        round_trip(Capability::AddPath(vec![(AfiSafi::IPV4_UNICAST, AddPathMode::Both)]));
        round_trip(Capability::ExtendedNextHop(vec![(1, 1, 2)]));
        round_trip(Capability::Fqdn {
            hostname: PeerText::from_bytes(b"node-a"),
            domain: PeerText::from_bytes(b"example"),
        });
        round_trip(Capability::Fqdn {
            hostname: PeerText::from_bytes(b"a\n\x1b[31m\xff"),
            domain: PeerText::default(),
        });
        round_trip(Capability::Unknown { code: 200, value: vec![1, 2, 3] });
    }

    #[test]
    fn values_over_255_octets_are_refused_not_cut() {
        let mut b = Vec::new();
        let c = Capability::Unknown { code: 200, value: vec![7; 256] };
        assert_eq!(c.encode(&mut b), Err(EncodeError::TooLong { what: "capability value", len: 256, max: 255 }));
        let c = Capability::Fqdn { hostname: PeerText::from_bytes(&[b'a'; 300]), domain: PeerText::default() };
        assert!(c.encode(&mut b).is_err());
        assert!(b.is_empty(), "nothing written on error");
    }

    #[test]
    fn registry_round_trips_every_code() {
        for c in 0..=255u8 {
            assert_eq!(CapabilityCode::from_code(c).code(), c);
        }
        assert_eq!(CapabilityCode::from(65), CapabilityCode::FourOctetAs);
        assert_eq!(CapabilityCode::FourOctetAs.name(), "four-octet-as");
        assert_eq!(CapabilityCode::from(200).name(), "unknown");
        assert_eq!(cap_code::ROUTE_REFRESH_CISCO, 128);
        assert_eq!(CapabilityCode::ALL.len(), 13);
    }

    #[test]
    fn malformed_values_are_open_errors() {
        for (c, v) in [
            (1u8, &[0u8, 1, 0][..]),
            (2, &[0][..]),
            (65, &[0, 0, 1][..]),
            (64, &[0, 120, 0][..]),
            (69, &[0, 1, 1][..]),
            (73, &[5, b'a'][..]),
        ] {
            let e = Capability::decode(c, v).unwrap_err();
            assert_eq!((e.code(), e.subcode()), (2, 0), "code {c}");
        }
        let mut out = Vec::new();
        let e = decode_list(&[65, 4, 0, 0], &mut out).unwrap_err();
        assert_eq!((e.code(), e.subcode()), (2, 0));
    }
}
