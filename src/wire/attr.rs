//! Path attributes (RFC 4271 §4.3, §5): the type-code registry, flags, the per-attribute
//! length, flag and value rules with their RFC 7606 §7 action, borrowed views over validated
//! MP_REACH_NLRI / MP_UNREACH_NLRI values, and the owned model used to build and re-encode
//! UPDATEs. AS_PATH values live in [`super::as_path`] (re-exported here).
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Attr. Flags  |Attr. Type Code|  then 1 or 2 length octets (Extended Length bit)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The rules return a [`Malformed`] (subcode and reason); `update.rs` adds the Data and the
//! action, and records the result on the UPDATE. No I/O, no panics on any input; encoders
//! return an [`EncodeError`] instead of cutting a value their length field cannot express.

pub use super::as_path::{merge_as4_path, AsPathView, AsnIter, Segment, SegmentType};
use super::community::{Community, LargeCommunity};
use super::nlri::{self, Family, NlriIter, Prefix};
use super::notification::{update as sub, ErrorAction};
use super::{reader, EncodeError};
use bytes::BufMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flag {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

code_points! {
    /// Path attribute type codes (IANA "BGP Path Attributes"), named as tcpdump and the RFCs
    /// spell them.
    pub enum AttrType, consts type_code, unknown "UNKNOWN" {
        Origin = 1, ORIGIN, "ORIGIN";
        AsPath = 2, AS_PATH, "AS_PATH";
        NextHop = 3, NEXT_HOP, "NEXT_HOP";
        MultiExitDisc = 4, MULTI_EXIT_DISC, "MULTI_EXIT_DISC";
        LocalPref = 5, LOCAL_PREF, "LOCAL_PREF";
        AtomicAggregate = 6, ATOMIC_AGGREGATE, "ATOMIC_AGGREGATE";
        Aggregator = 7, AGGREGATOR, "AGGREGATOR";
        Communities = 8, COMMUNITIES, "COMMUNITIES";
        OriginatorId = 9, ORIGINATOR_ID, "ORIGINATOR_ID";
        ClusterList = 10, CLUSTER_LIST, "CLUSTER_LIST";
        MpReachNlri = 14, MP_REACH_NLRI, "MP_REACH_NLRI";
        MpUnreachNlri = 15, MP_UNREACH_NLRI, "MP_UNREACH_NLRI";
        ExtendedCommunities = 16, EXTENDED_COMMUNITIES, "EXTENDED_COMMUNITIES";
        As4Path = 17, AS4_PATH, "AS4_PATH";
        As4Aggregator = 18, AS4_AGGREGATOR, "AS4_AGGREGATOR";
        LargeCommunity = 32, LARGE_COMMUNITY, "LARGE_COMMUNITY";
    }
}

impl AttrType {
    /// The Optional and Transitive bits a known attribute must carry (RFC 4271 §5), or `None`
    /// for a type code this codec does not know.
    #[inline]
    pub const fn expected_flags(self) -> Option<u8> {
        const WELL_KNOWN: u8 = flag::TRANSITIVE;
        const OPT_NON_TRANS: u8 = flag::OPTIONAL;
        const OPT_TRANS: u8 = flag::OPTIONAL | flag::TRANSITIVE;
        Some(match self {
            Self::Origin | Self::AsPath | Self::NextHop | Self::LocalPref | Self::AtomicAggregate => WELL_KNOWN,
            Self::MultiExitDisc | Self::OriginatorId | Self::ClusterList | Self::MpReachNlri | Self::MpUnreachNlri => {
                OPT_NON_TRANS
            }
            Self::Aggregator
            | Self::Communities
            | Self::ExtendedCommunities
            | Self::As4Path
            | Self::As4Aggregator
            | Self::LargeCommunity => OPT_TRANS,
            Self::Unknown(_) => return None,
        })
    }

    /// What RFC 7606 §7 prescribes when this attribute is malformed (flags, length or value).
    pub const fn malformed_action(self) -> ErrorAction {
        match self {
            // §7.7, §7.6; RFC 6793 §6 for the AS4_* attributes.
            Self::AtomicAggregate | Self::Aggregator | Self::As4Path | Self::As4Aggregator => {
                ErrorAction::AttributeDiscard
            }
            // §7.11 and §5.3: the NLRI can no longer be trusted.
            Self::MpReachNlri | Self::MpUnreachNlri => ErrorAction::SessionReset,
            Self::Origin
            | Self::AsPath
            | Self::NextHop
            | Self::MultiExitDisc
            | Self::LocalPref
            | Self::Communities
            | Self::OriginatorId
            | Self::ClusterList
            | Self::ExtendedCommunities
            | Self::LargeCommunity
            | Self::Unknown(_) => ErrorAction::TreatAsWithdraw,
        }
    }
}

/// Why one attribute cannot be used: the UPDATE Message Error subcode (RFC 4271 §6.3) and a
/// reason. The caller adds the Data and the RFC 7606 action of the attribute's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub subcode: u8,
    pub why: String,
}

impl Malformed {
    #[cold]
    #[inline(never)]
    fn new(subcode: u8, why: String) -> Self {
        Malformed { subcode, why }
    }

    /// Attribute Length Error: the value is not `want` octets long.
    #[cold]
    #[inline(never)]
    fn length(v: &[u8], want: &str) -> Self {
        Malformed::new(sub::ATTRIBUTE_LENGTH_ERROR, format!("length {} is not {want}", v.len()))
    }
}

// The rules, one per attribute family. Each checks the value of an attribute whose type it is
// given and returns what the UPDATE view stores.

/// RFC 4271 §6.3 / RFC 7606 §3 (c): the Optional and Transitive bits must match the type.
#[inline]
pub fn check_flags(flags: u8, expected: u8) -> Result<(), Malformed> {
    if flags & (flag::OPTIONAL | flag::TRANSITIVE) == expected {
        return Ok(());
    }
    Err(Malformed::new(sub::ATTRIBUTE_FLAGS_ERROR, format!("flags {flags:#04x} conflict with the type")))
}

/// ORIGIN: one octet (RFC 7606 §7.1: an undefined value is Invalid ORIGIN Attribute).
#[inline]
pub fn origin(v: &[u8]) -> Result<Origin, Malformed> {
    let &[o] = v else { return Err(Malformed::length(v, "1")) };
    Origin::from_u8(o).ok_or_else(|| Malformed::new(sub::INVALID_ORIGIN_ATTRIBUTE, format!("undefined value {o}")))
}

/// AS_PATH and AS4_PATH (RFC 7606 §7.2, RFC 6793 §6): Malformed AS_PATH on a bad segment.
#[inline]
pub fn as_path(v: &[u8], four_octet: bool) -> Result<AsPathView<'_>, Malformed> {
    AsPathView::parse(v, four_octet).map_err(|why| Malformed::new(sub::MALFORMED_AS_PATH, why))
}

/// NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF, ORIGINATOR_ID: four octets (RFC 7606 §7.3–7.5, §7.9).
#[inline]
pub fn four_octets(v: &[u8]) -> Result<u32, Malformed> {
    match <[u8; 4]>::try_from(v) {
        Ok(a) => Ok(u32::from_be_bytes(a)),
        Err(_) => Err(Malformed::length(v, "4")),
    }
}

/// ATOMIC_AGGREGATE: no value (RFC 7606 §7.6).
#[inline]
pub fn empty(v: &[u8]) -> Result<(), Malformed> {
    if v.is_empty() {
        Ok(())
    } else {
        Err(Malformed::length(v, "0"))
    }
}

/// AGGREGATOR (2- or 4-octet AS, as negotiated) and AS4_AGGREGATOR (always 4) then an IPv4
/// address (RFC 7606 §7.7, RFC 6793 §6).
#[inline]
pub fn aggregator(v: &[u8], four_octet_as: bool) -> Result<Aggregator, Malformed> {
    let (asn, address) = if four_octet_as {
        let Ok([a0, a1, a2, a3, b0, b1, b2, b3]) = <[u8; 8]>::try_from(v) else {
            return Err(Malformed::length(v, "8"));
        };
        (u32::from_be_bytes([a0, a1, a2, a3]), [b0, b1, b2, b3])
    } else {
        let Ok([a0, a1, b0, b1, b2, b3]) = <[u8; 6]>::try_from(v) else {
            return Err(Malformed::length(v, "6"));
        };
        (u32::from(u16::from_be_bytes([a0, a1])), [b0, b1, b2, b3])
    };
    Ok(Aggregator { asn, address: Ipv4Addr::from(address) })
}

/// COMMUNITIES and CLUSTER_LIST (4), EXTENDED_COMMUNITIES (8), LARGE_COMMUNITY (12): a non-zero
/// multiple of the unit (RFC 7606 §7.8, §7.10, §7.14; RFC 8092 §6). The unit is a constant, so
/// the check needs no division instruction on the hot path.
#[inline]
pub fn list<const UNIT: usize>(v: &[u8]) -> Result<&[u8], Malformed> {
    if !v.is_empty() && v.len().is_multiple_of(UNIT) {
        return Ok(v);
    }
    Err(Malformed::length(
        v,
        match UNIT {
            4 => "a non-zero multiple of 4",
            8 => "a non-zero multiple of 8",
            _ => "a non-zero multiple of 12",
        },
    ))
}

/// MP_REACH_NLRI (RFC 7606 §7.11): Optional Attribute Error on any inconsistency.
#[inline]
pub fn mp_reach(v: &[u8], add_path_v4: bool, add_path_v6: bool) -> Result<MpReach<'_>, Malformed> {
    MpReach::parse(v, add_path_v4, add_path_v6).map_err(|why| Malformed::new(sub::OPTIONAL_ATTRIBUTE_ERROR, why))
}

/// MP_UNREACH_NLRI (RFC 7606 §7.11): Optional Attribute Error on any inconsistency.
#[inline]
pub fn mp_unreach(v: &[u8], add_path_v4: bool, add_path_v6: bool) -> Result<MpUnreach<'_>, Malformed> {
    MpUnreach::parse(v, add_path_v4, add_path_v6).map_err(|why| Malformed::new(sub::OPTIONAL_ATTRIBUTE_ERROR, why))
}

code_points! {
    /// ORIGIN values (RFC 4271 §5.1.1).
    pub enum Origin, closed {
        Igp = 0, "IGP";
        Egp = 1, "EGP";
        Incomplete = 2, "INCOMPLETE";
    }
}

/// A validated MP_REACH_NLRI value (RFC 4760 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpReach<'a> {
    pub afi: u16,
    pub safi: u8,
    pub next_hop: &'a [u8],
    pub nlri: &'a [u8],
    /// Set for the IPv4/IPv6 unicast families this codec decodes; other families keep `nlri` raw.
    pub family: Option<Family>,
    pub add_path: bool,
}

impl<'a> MpReach<'a> {
    /// Decode and validate: next-hop length per family, reserved octet, NLRI syntax.
    #[inline(always)]
    pub fn parse(v: &'a [u8], add_path_v4: bool, add_path_v6: bool) -> Result<Self, String> {
        let parse = |i| -> reader::R<'_, (u16, u8, &[u8], &[u8])> {
            let (i, afi) = reader::u16(i)?;
            let (i, safi) = reader::u8(i)?;
            let (i, nhl) = reader::u8(i)?;
            let (i, nh) = reader::bytes(i, usize::from(nhl))?;
            let (i, _reserved) = reader::u8(i)?;
            Ok((&[], (afi, safi, nh, i)))
        };
        let (_, (afi, safi, next_hop, nlri)) =
            parse(v).map_err(|_| "MP_REACH_NLRI shorter than its fixed part and next hop".to_string())?;
        let (family, add_path) = unicast_family(afi, safi, add_path_v4, add_path_v6);
        match (family, next_hop.len()) {
            // RFC 4760 / RFC 8950: IPv4 next hop is 4 octets, or an IPv6 one (16/32).
            (Some(Family::V4), 4 | 16 | 32) | (Some(Family::V6), 16 | 32) | (None, _) => {}
            (Some(_), l) => return Err(format!("next hop length {l} invalid for AFI {afi} SAFI {safi}")),
        }
        if let Some(f) = family {
            nlri::validate(nlri, f, add_path).map_err(|e| format!("MP_REACH_NLRI: {e}"))?;
        }
        Ok(MpReach { afi, safi, next_hop, nlri, family, add_path })
    }

    /// The global next hop and, for a 32-octet IPv6 next hop, the link-local one.
    pub fn next_hops(&self) -> (Option<IpAddr>, Option<IpAddr>) {
        let nh = self.next_hop;
        match nh.len() {
            4 => (reader::ipv4(nh).ok().map(|(_, a)| IpAddr::V4(a)), None),
            16 => (reader::ipv6(nh).ok().map(|(_, a)| IpAddr::V6(a)), None),
            32 => {
                let g = reader::ipv6(nh).ok();
                let ll = g.and_then(|(rest, _)| reader::ipv6(rest).ok()).map(|(_, a)| IpAddr::V6(a));
                (g.map(|(_, a)| IpAddr::V6(a)), ll)
            }
            _ => (None, None),
        }
    }

    pub fn prefixes(&self) -> NlriIter<'a> {
        match self.family {
            Some(f) => NlriIter::new(self.nlri, f, self.add_path),
            None => NlriIter::empty(),
        }
    }
}

/// A validated MP_UNREACH_NLRI value (RFC 4760 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpUnreach<'a> {
    pub afi: u16,
    pub safi: u8,
    pub withdrawn: &'a [u8],
    pub family: Option<Family>,
    pub add_path: bool,
}

impl<'a> MpUnreach<'a> {
    pub fn parse(v: &'a [u8], add_path_v4: bool, add_path_v6: bool) -> Result<Self, String> {
        let parse = |i| -> reader::R<'_, (u16, u8)> {
            let (i, afi) = reader::u16(i)?;
            let (i, safi) = reader::u8(i)?;
            Ok((i, (afi, safi)))
        };
        let (withdrawn, (afi, safi)) = parse(v).map_err(|_| "MP_UNREACH_NLRI shorter than 3 octets".to_string())?;
        let (family, add_path) = unicast_family(afi, safi, add_path_v4, add_path_v6);
        if let Some(f) = family {
            nlri::validate(withdrawn, f, add_path).map_err(|e| format!("MP_UNREACH_NLRI: {e}"))?;
        }
        Ok(MpUnreach { afi, safi, withdrawn, family, add_path })
    }

    pub fn prefixes(&self) -> NlriIter<'a> {
        match self.family {
            Some(f) => NlriIter::new(self.withdrawn, f, self.add_path),
            None => NlriIter::empty(),
        }
    }
}

/// The IPv4/IPv6 unicast family of an AFI/SAFI pair, with whether add-path applies to it.
fn unicast_family(afi: u16, safi: u8, add_path_v4: bool, add_path_v6: bool) -> (Option<Family>, bool) {
    use super::capability::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST};
    match (afi, safi) {
        (AFI_IPV4, SAFI_UNICAST) => (Some(Family::V4), add_path_v4),
        (AFI_IPV6, SAFI_UNICAST) => (Some(Family::V6), add_path_v6),
        _ => (None, false),
    }
}

/// AGGREGATOR / AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// Next hop carried in an owned MP_REACH_NLRI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MpNextHop {
    V4(Ipv4Addr),
    V6 {
        global: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
    },
    /// Next hops of families this codec does not decode, kept as octets.
    Raw(Vec<u8>),
}

/// The owned value of one path attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Attr {
    Origin(Origin),
    AsPath(Vec<Segment>),
    NextHop(Ipv4Addr),
    Med(u32),
    LocalPref(u32),
    AtomicAggregate,
    Aggregator(Aggregator),
    Communities(Vec<Community>),
    OriginatorId(Ipv4Addr),
    ClusterList(Vec<Ipv4Addr>),
    MpReach { afi: u16, safi: u8, next_hop: MpNextHop, nlri: Vec<Prefix>, raw_nlri: Vec<u8> },
    MpUnreach { afi: u16, safi: u8, withdrawn: Vec<Prefix>, raw_withdrawn: Vec<u8> },
    ExtCommunities(Vec<[u8; 8]>),
    As4Path(Vec<Segment>),
    As4Aggregator(Aggregator),
    LargeCommunities(Vec<LargeCommunity>),
    Unknown { type_code: u8, value: Vec<u8> },
}

/// An owned path attribute with its flags, as sent or received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathAttribute {
    pub flags: u8,
    pub attr: Attr,
}

impl Attr {
    pub fn type_code(&self) -> u8 {
        use type_code::*;
        match self {
            Attr::Origin(_) => ORIGIN,
            Attr::AsPath(_) => AS_PATH,
            Attr::NextHop(_) => NEXT_HOP,
            Attr::Med(_) => MULTI_EXIT_DISC,
            Attr::LocalPref(_) => LOCAL_PREF,
            Attr::AtomicAggregate => ATOMIC_AGGREGATE,
            Attr::Aggregator(_) => AGGREGATOR,
            Attr::Communities(_) => COMMUNITIES,
            Attr::OriginatorId(_) => ORIGINATOR_ID,
            Attr::ClusterList(_) => CLUSTER_LIST,
            Attr::MpReach { .. } => MP_REACH_NLRI,
            Attr::MpUnreach { .. } => MP_UNREACH_NLRI,
            Attr::ExtCommunities(_) => EXTENDED_COMMUNITIES,
            Attr::As4Path(_) => AS4_PATH,
            Attr::As4Aggregator(_) => AS4_AGGREGATOR,
            Attr::LargeCommunities(_) => LARGE_COMMUNITY,
            Attr::Unknown { type_code, .. } => *type_code,
        }
    }

    /// Append the value octets. AS_PATH and AGGREGATOR use 4-octet ASNs when `four_octet_as`.
    /// Fails, writing nothing, on a raw MP_REACH_NLRI next hop over 255 octets.
    pub fn encode_value(&self, four_octet_as: bool, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        match self {
            Attr::Origin(o) => buf.put_u8(*o as u8),
            Attr::AsPath(s) => put_segments(buf, s, four_octet_as),
            Attr::As4Path(s) => put_segments(buf, s, true),
            Attr::NextHop(a) | Attr::OriginatorId(a) => buf.put_slice(&a.octets()),
            Attr::Med(v) | Attr::LocalPref(v) => buf.put_u32(*v),
            Attr::AtomicAggregate => {}
            Attr::Aggregator(a) => {
                if four_octet_as {
                    buf.put_u32(a.asn);
                } else {
                    buf.put_u16(u16::try_from(a.asn).unwrap_or(super::open::AS_TRANS));
                }
                buf.put_slice(&a.address.octets());
            }
            Attr::As4Aggregator(a) => {
                buf.put_u32(a.asn);
                buf.put_slice(&a.address.octets());
            }
            Attr::Communities(c) => c.iter().for_each(|c| buf.put_u32(c.0)),
            Attr::ClusterList(c) => c.iter().for_each(|a| buf.put_slice(&a.octets())),
            Attr::ExtCommunities(c) => c.iter().for_each(|c| buf.put_slice(c)),
            Attr::LargeCommunities(c) => c.iter().for_each(|c| {
                buf.put_u32(c.global);
                buf.put_u32(c.local1);
                buf.put_u32(c.local2);
            }),
            Attr::MpReach { afi, safi, next_hop, nlri, raw_nlri } => {
                let nh_len = match next_hop {
                    MpNextHop::V4(_) => 4,
                    MpNextHop::V6 { link_local: None, .. } => 16,
                    MpNextHop::V6 { link_local: Some(_), .. } => 32,
                    MpNextHop::Raw(r) => u8::try_from(r.len()).map_err(|_| EncodeError::TooLong {
                        what: "MP_REACH_NLRI next hop",
                        len: r.len(),
                        max: 255,
                    })?,
                };
                buf.put_u16(*afi);
                buf.put_u8(*safi);
                buf.put_u8(nh_len);
                match next_hop {
                    MpNextHop::V4(a) => buf.put_slice(&a.octets()),
                    MpNextHop::V6 { global, link_local } => {
                        buf.put_slice(&global.octets());
                        if let Some(ll) = link_local {
                            buf.put_slice(&ll.octets());
                        }
                    }
                    MpNextHop::Raw(r) => buf.put_slice(r),
                }
                buf.put_u8(0);
                nlri.iter().for_each(|p| nlri::encode(p, buf));
                buf.put_slice(raw_nlri);
            }
            Attr::MpUnreach { afi, safi, withdrawn, raw_withdrawn } => {
                buf.put_u16(*afi);
                buf.put_u8(*safi);
                withdrawn.iter().for_each(|p| nlri::encode(p, buf));
                buf.put_slice(raw_withdrawn);
            }
            Attr::Unknown { value, .. } => buf.put_slice(value),
        }
        Ok(())
    }

    /// The flags an attribute of this type is sent with (Extended Length added when needed).
    pub fn default_flags(&self) -> u8 {
        AttrType::from_code(self.type_code()).expected_flags().unwrap_or(flag::OPTIONAL | flag::TRANSITIVE)
    }
}

impl PathAttribute {
    pub fn new(attr: Attr) -> Self {
        PathAttribute { flags: attr.default_flags(), attr }
    }

    /// Append flags, type, length and value. The Extended Length bit is kept when set, and set
    /// when the value needs it. Fails, writing nothing, when the value cannot be expressed
    /// (over 65535 octets, or see [`Attr::encode_value`]).
    pub fn encode(&self, four_octet_as: bool, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        let mut value = Vec::new();
        self.attr.encode_value(four_octet_as, &mut value)?;
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::TooLong {
            what: AttrType::from_code(self.attr.type_code()).name(),
            len: value.len(),
            max: usize::from(u16::MAX),
        })?;
        let mut flags = self.flags;
        if len > 255 {
            flags |= flag::EXTENDED_LENGTH;
        }
        buf.put_u8(flags);
        buf.put_u8(self.attr.type_code());
        match u8::try_from(len) {
            Ok(short) if flags & flag::EXTENDED_LENGTH == 0 => buf.put_u8(short),
            _ => buf.put_u16(len),
        }
        buf.put_slice(&value);
        Ok(())
    }
}

/// AS_PATH / AS4_PATH segments; segments over 255 ASNs are split, as RFC 4271 §5.1.2 leaves to
/// the sender. A 2-octet encoding writes AS_TRANS for ASNs that need 4 octets (RFC 6793 §4.2.2).
fn put_segments(buf: &mut impl BufMut, segs: &[Segment], four: bool) {
    for s in segs {
        for chunk in s.asns.chunks(usize::from(u8::MAX)) {
            buf.put_u8(s.kind as u8);
            // `chunks(255)`: the count always fits the octet.
            buf.put_u8(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
            for a in chunk {
                if four {
                    buf.put_u32(*a);
                } else {
                    buf.put_u16(u16::try_from(*a).unwrap_or(super::open::AS_TRANS));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_round_trips_every_code() {
        for c in 0..=255u8 {
            assert_eq!(AttrType::from_code(c).code(), c);
            assert_eq!(u8::from(AttrType::from(c)), c);
        }
        assert_eq!(AttrType::ALL.len(), 16);
        assert!(AttrType::ALL.iter().all(|t| t.expected_flags().is_some()));
        assert_eq!(AttrType::from_code(type_code::LARGE_COMMUNITY), AttrType::LargeCommunity);
        assert_eq!(AttrType::MpReachNlri.name(), "MP_REACH_NLRI");
        assert_eq!(AttrType::from_code(99), AttrType::Unknown(99));
        assert_eq!(AttrType::Unknown(99).name(), "UNKNOWN");
        // RFC 4271 §5: ORIGIN is well-known, MED optional non-transitive, COMMUNITIES optional
        // transitive (RFC 1997); RFC 7606 §7: AGGREGATOR is discarded, MP_* reset.
        assert_eq!(AttrType::Origin.expected_flags(), Some(flag::TRANSITIVE));
        assert_eq!(AttrType::MultiExitDisc.expected_flags(), Some(flag::OPTIONAL));
        assert_eq!(AttrType::Communities.expected_flags(), Some(flag::OPTIONAL | flag::TRANSITIVE));
        assert_eq!(AttrType::Unknown(99).expected_flags(), None);
        assert_eq!(AttrType::Aggregator.malformed_action(), ErrorAction::AttributeDiscard);
        assert_eq!(AttrType::MpUnreachNlri.malformed_action(), ErrorAction::SessionReset);
        assert_eq!(AttrType::LocalPref.malformed_action(), ErrorAction::TreatAsWithdraw);
    }
}
