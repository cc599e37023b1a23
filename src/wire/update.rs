//! UPDATE messages (RFC 4271 §4.3): one validating pass that reads the message in place
//! ([`Update`]), the RFC 4271 §6.3 / RFC 7606 error handling, and the owned model
//! ([`UpdateMsg`]) used to re-encode and to test round trips.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```
//!
//! Decoding never allocates on a well-formed message: every field is checked once and then read
//! through borrowed views and iterators. Errors resolve to the most severe RFC 7606 action:
//! session reset is returned as `Err`; treat-as-withdraw and attribute discard are recorded on
//! the [`Update`] so the session can act on them.

use super::attr::{
    self, flag, type_code as tc, Aggregator, AsPathView, Attr, AttrType, Malformed, MpNextHop, MpReach, MpUnreach,
    Origin, PathAttribute,
};
use super::community;
use super::header::{put_header, MessageType, HEADER_LEN};
use super::nlri::{self, Family, NlriIter, Prefix};
use super::notification::{code, update as sub, DecodeError, ErrorAction};
use super::{EncodeError, SessionParams};
use bytes::BufMut;
use std::net::{IpAddr, Ipv4Addr};

/// A set of attribute type codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttrSet([u64; 4]);

impl AttrSet {
    /// Adds `t`; false when it was already there.
    #[inline]
    pub fn insert(&mut self, t: u8) -> bool {
        let (w, b) = (usize::from(t >> 6), 1u64 << (t & 63));
        // `t >> 6` is 0..=3: the word always exists.
        let Some(word) = self.0.get_mut(w) else { return false };
        let fresh = *word & b == 0;
        *word |= b;
        fresh
    }
    #[inline]
    pub fn contains(&self, t: u8) -> bool {
        self.0.get(usize::from(t >> 6)).is_some_and(|word| word & (1u64 << (t & 63)) != 0)
    }
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }
}

/// One path attribute as it stands in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAttr<'a> {
    pub flags: u8,
    pub type_code: u8,
    pub value: &'a [u8],
    /// Flags, type, length and value: the Data of most UPDATE NOTIFICATIONs (RFC 4271 §6.3).
    pub whole: &'a [u8],
}

/// Iterates the attributes of a path-attribute field, stopping where one overruns it.
#[derive(Clone, Debug)]
pub struct RawAttrs<'a>(&'a [u8]);

impl<'a> RawAttrs<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        RawAttrs(b)
    }
}

impl<'a> Iterator for RawAttrs<'a> {
    type Item = Result<RawAttr<'a>, (Option<u8>, &'static str)>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.0;
        if b.is_empty() {
            return None;
        }
        self.0 = &[];
        let [flags, type_code, rest @ ..] = b else {
            return Some(Err((None, "fewer than 3 octets left for an attribute")));
        };
        let (len, hdr, rest) = if flags & flag::EXTENDED_LENGTH != 0 {
            let Some((l, rest)) = rest.split_first_chunk::<2>() else {
                return Some(Err((Some(*type_code), "fewer than 4 octets left for an extended-length attribute")));
            };
            (usize::from(u16::from_be_bytes(*l)), 4usize, rest)
        } else {
            let Some((l, rest)) = rest.split_first() else {
                return Some(Err((Some(*type_code), "fewer than 3 octets left for an attribute")));
            };
            (usize::from(*l), 3, rest)
        };
        let whole = hdr.checked_add(len).and_then(|end| b.get(..end));
        let (Some((value, rest)), Some(whole)) = (rest.split_at_checked(len), whole) else {
            return Some(Err((Some(*type_code), "attribute length overruns the path attributes")));
        };
        self.0 = rest;
        Some(Ok(RawAttr { flags: *flags, type_code: *type_code, value, whole }))
    }
}

/// A decoded UPDATE, read in place.
#[derive(Clone, Debug, Default)]
pub struct Update<'a> {
    pub withdrawn_raw: &'a [u8],
    pub attrs_raw: &'a [u8],
    pub nlri_raw: &'a [u8],
    pub four_octet_as: bool,
    pub add_path_v4: bool,
    pub origin: Option<Origin>,
    pub as_path: Option<AsPathView<'a>>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    pub communities: Option<&'a [u8]>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Option<&'a [u8]>,
    pub mp_reach: Option<MpReach<'a>>,
    pub mp_unreach: Option<MpUnreach<'a>>,
    pub ext_communities: Option<&'a [u8]>,
    pub as4_path: Option<AsPathView<'a>>,
    pub as4_aggregator: Option<Aggregator>,
    pub large_communities: Option<&'a [u8]>,
    /// Optional attributes of types this codec does not know (kept in `attrs_raw`).
    pub unknown_attrs: u16,
    /// Attribute types seen (first occurrence) and types discarded (RFC 7606 attribute discard,
    /// repeated attributes per RFC 7606 §3 (g)).
    pub seen: AttrSet,
    pub discarded: AttrSet,
    /// Set when RFC 7606 says to treat every route of this UPDATE as withdrawn.
    pub treat_as_withdraw: Option<Box<DecodeError>>,
    /// The attribute-discard errors, for logs (empty, and unallocated, on a clean UPDATE).
    pub discard_errors: Vec<DecodeError>,
}

#[cold]
#[inline(never)]
fn attr_error(subcode: u8, a: &RawAttr<'_>, action: ErrorAction, why: String) -> DecodeError {
    let data = match subcode {
        // RFC 4271 §6.3: Malformed AS_PATH carries no data.
        sub::MALFORMED_AS_PATH | sub::MALFORMED_ATTRIBUTE_LIST | sub::INVALID_NETWORK_FIELD => Vec::new(),
        _ => a.whole.to_vec(),
    };
    DecodeError::new(
        code::UPDATE_MESSAGE,
        subcode,
        data,
        action,
        format!("{} ({}): {why}", AttrType::from_code(a.type_code).name(), a.type_code),
    )
}

impl<'a> Update<'a> {
    /// Decode an UPDATE body (the octets after the header).
    #[inline]
    pub fn decode(body: &'a [u8], p: &SessionParams) -> Result<Update<'a>, DecodeError> {
        let mut u = Update::default();
        u.decode_into(body, p)?;
        Ok(u)
    }

    /// Decode an UPDATE body straight into a box: the view is written in place on the heap,
    /// never moved (what [`super::decode_frame`] returns in a [`super::Message`]).
    #[inline]
    pub fn decode_boxed(body: &'a [u8], p: &SessionParams) -> Result<Box<Update<'a>>, DecodeError> {
        let mut u = Box::<Update<'a>>::default();
        u.decode_into(body, p)?;
        Ok(u)
    }

    /// Decode an UPDATE body into `self` (reset first), so a caller can decode in place — into
    /// a box or a reused slot — without moving the view around.
    pub fn decode_into(&mut self, body: &'a [u8], p: &SessionParams) -> Result<(), DecodeError> {
        let mal = |why: &str| {
            DecodeError::reset(code::UPDATE_MESSAGE, sub::MALFORMED_ATTRIBUTE_LIST, Vec::new(), why.to_string())
        };
        // RFC 4271 §6.3: lengths that run past the message → Malformed Attribute List.
        let (wl, rest) = body.split_first_chunk::<2>().ok_or_else(|| mal("no Withdrawn Routes Length"))?;
        let wl = usize::from(u16::from_be_bytes(*wl));
        let (withdrawn_raw, rest) =
            rest.split_at_checked(wl).ok_or_else(|| mal("Withdrawn Routes Length runs past the message"))?;
        let (al, rest) = rest.split_first_chunk::<2>().ok_or_else(|| mal("no Total Path Attribute Length"))?;
        let al = usize::from(u16::from_be_bytes(*al));
        let (attrs_raw, nlri_raw) =
            rest.split_at_checked(al).ok_or_else(|| mal("Total Path Attribute Length runs past the message"))?;
        // RFC 7606 §5.3: a syntax error in Withdrawn Routes or NLRI resets the session.
        let net = |what: &str, e: nlri::NlriError| {
            DecodeError::reset(code::UPDATE_MESSAGE, sub::INVALID_NETWORK_FIELD, Vec::new(), format!("{what}: {e}"))
        };
        nlri::validate(withdrawn_raw, Family::V4, p.add_path_v4).map_err(|e| net("Withdrawn Routes", e))?;
        nlri::validate(nlri_raw, Family::V4, p.add_path_v4).map_err(|e| net("NLRI", e))?;

        *self = Update::default();
        let u = self;
        u.withdrawn_raw = withdrawn_raw;
        u.attrs_raw = attrs_raw;
        u.nlri_raw = nlri_raw;
        u.four_octet_as = p.four_octet_as;
        u.add_path_v4 = p.add_path_v4;
        for a in RawAttrs::new(attrs_raw) {
            let a = match a {
                Ok(a) => a,
                Err((t, why)) => {
                    // RFC 7606 §4: treat-as-withdraw, unless the MP attributes themselves are cut
                    // (their NLRI can no longer be found) — then the session must reset.
                    let action = if matches!(t, Some(tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI)) {
                        ErrorAction::SessionReset
                    } else {
                        ErrorAction::TreatAsWithdraw
                    };
                    u.note(DecodeError::new(
                        code::UPDATE_MESSAGE,
                        sub::MALFORMED_ATTRIBUTE_LIST,
                        Vec::new(),
                        action,
                        why,
                    ))?;
                    break;
                }
            };
            if !u.seen.insert(a.type_code) {
                // RFC 7606 §3 (g): repeated MP attributes reset; other repeats are discarded.
                if matches!(a.type_code, tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI) {
                    return Err(attr_error(
                        sub::MALFORMED_ATTRIBUTE_LIST,
                        &a,
                        ErrorAction::SessionReset,
                        "appears twice".into(),
                    ));
                }
                u.discarded.insert(a.type_code);
                continue;
            }
            if let Err(e) = u.take_attr(&a, p) {
                u.note(e)?;
            }
        }
        u.check_mandatory()?;
        Ok(())
    }

    /// Records an error by its RFC 7606 action; a session reset comes back as `Err`.
    fn note(&mut self, e: DecodeError) -> Result<(), DecodeError> {
        match e.action {
            ErrorAction::SessionReset => return Err(e),
            ErrorAction::TreatAsWithdraw => {
                if self.treat_as_withdraw.is_none() {
                    self.treat_as_withdraw = Some(Box::new(e));
                }
            }
            ErrorAction::AttributeDiscard => self.discard_errors.push(e),
        }
        Ok(())
    }

    /// Checks one attribute (the first of its type) by the rules of `attr.rs` and stores it.
    #[inline]
    fn take_attr(&mut self, a: &RawAttr<'a>, p: &SessionParams) -> Result<(), DecodeError> {
        let t = AttrType::from_code(a.type_code);
        let Some(expected) = t.expected_flags() else {
            // RFC 4271 §6.3: an unrecognized well-known attribute resets the session.
            if a.flags & flag::OPTIONAL == 0 {
                return Err(attr_error(
                    sub::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                    a,
                    ErrorAction::SessionReset,
                    "unknown type without the Optional bit".into(),
                ));
            }
            self.unknown_attrs = self.unknown_attrs.saturating_add(1);
            return Ok(());
        };
        match attr::check_flags(a.flags, expected).and_then(|()| self.store(t, a.value, p)) {
            Ok(()) => Ok(()),
            Err(m) => Err(self.malformed(a, t, m)),
        }
    }

    /// Validates the value of a known attribute and keeps it on the view.
    #[inline]
    fn store(&mut self, t: AttrType, v: &'a [u8], p: &SessionParams) -> Result<(), Malformed> {
        use AttrType as T;
        match t {
            T::Origin => self.origin = Some(attr::origin(v)?),
            T::AsPath => self.as_path = Some(attr::as_path(v, p.four_octet_as)?),
            T::NextHop => self.next_hop = Some(Ipv4Addr::from(attr::four_octets(v)?)),
            T::MultiExitDisc => self.med = Some(attr::four_octets(v)?),
            T::LocalPref => self.local_pref = Some(attr::four_octets(v)?),
            T::AtomicAggregate => {
                attr::empty(v)?;
                self.atomic_aggregate = true;
            }
            T::Aggregator => self.aggregator = Some(attr::aggregator(v, p.four_octet_as)?),
            T::Communities => self.communities = Some(attr::list::<4>(v)?),
            T::OriginatorId => self.originator_id = Some(Ipv4Addr::from(attr::four_octets(v)?)),
            T::ClusterList => self.cluster_list = Some(attr::list::<4>(v)?),
            T::MpReachNlri => self.mp_reach = Some(attr::mp_reach(v, p.add_path_v4, p.add_path_v6)?),
            T::MpUnreachNlri => self.mp_unreach = Some(attr::mp_unreach(v, p.add_path_v4, p.add_path_v6)?),
            T::ExtendedCommunities => self.ext_communities = Some(attr::list::<8>(v)?),
            T::As4Path => self.as4_path = Some(attr::as_path(v, true)?),
            T::As4Aggregator => self.as4_aggregator = Some(attr::aggregator(v, true)?),
            T::LargeCommunity => self.large_communities = Some(attr::list::<12>(v)?),
            T::Unknown(_) => {}
        }
        Ok(())
    }

    /// The error of a malformed attribute, with the RFC 7606 action of its type; an attribute
    /// to discard is kept out of the owned form (RFC 7606 §2).
    #[cold]
    #[inline(never)]
    fn malformed(&mut self, a: &RawAttr<'_>, t: AttrType, m: Malformed) -> DecodeError {
        let action = t.malformed_action();
        if action == ErrorAction::AttributeDiscard {
            self.discarded.insert(a.type_code);
        }
        attr_error(m.subcode, a, action, m.why)
    }

    /// RFC 4271 §6.3 / RFC 7606 §3 (d): ORIGIN and AS_PATH must come with any NLRI, NEXT_HOP
    /// with classic NLRI; the NEXT_HOP must be a valid host address (RFC 7606 §7.3). The common
    /// case, all there and valid, is a few compares; [`Self::mandatory_errors`] finds what is
    /// wrong.
    #[inline(always)]
    fn check_mandatory(&mut self) -> Result<(), DecodeError> {
        let classic = !self.nlri_raw.is_empty();
        if !classic && self.mp_reach.is_none() {
            return Ok(());
        }
        let ok = if classic {
            self.seen.contains(tc::ORIGIN)
                && self.seen.contains(tc::AS_PATH)
                && self.next_hop.is_some_and(|nh| !(nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast()))
        } else {
            self.seen.contains(tc::ORIGIN) && self.seen.contains(tc::AS_PATH)
        };
        if ok {
            return Ok(());
        }
        self.mandatory_errors(classic)
    }

    /// The errors [`Self::check_mandatory`] found, in order: each missing attribute, then an
    /// invalid NEXT_HOP (its Data: the first NEXT_HOP attribute, the one decoded).
    #[cold]
    #[inline(never)]
    fn mandatory_errors(&mut self, classic: bool) -> Result<(), DecodeError> {
        let next_hop = self.raw_attrs().find(|a| a.type_code == tc::NEXT_HOP);
        let missing = |t: u8| {
            DecodeError::new(
                code::UPDATE_MESSAGE,
                sub::MISSING_WELL_KNOWN_ATTRIBUTE,
                vec![t],
                ErrorAction::TreatAsWithdraw,
                format!("{} ({t}) missing", AttrType::from_code(t).name()),
            )
        };
        for t in [tc::ORIGIN, tc::AS_PATH].into_iter().chain(classic.then_some(tc::NEXT_HOP)) {
            if !self.seen.contains(t) {
                self.note(missing(t))?;
            }
        }
        if let (true, Some(nh), Some(a)) = (classic, self.next_hop, next_hop.as_ref()) {
            if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() {
                self.note(attr_error(
                    sub::INVALID_NEXT_HOP_ATTRIBUTE,
                    a,
                    ErrorAction::TreatAsWithdraw,
                    format!("{nh} is not a valid host address"),
                ))?;
            }
        }
        Ok(())
    }

    /// Withdrawn prefixes of the classic field (IPv4 unicast).
    pub fn withdrawn(&self) -> NlriIter<'a> {
        NlriIter::new(self.withdrawn_raw, Family::V4, self.add_path_v4)
    }

    /// Announced prefixes of the classic NLRI field (IPv4 unicast).
    pub fn nlri(&self) -> NlriIter<'a> {
        NlriIter::new(self.nlri_raw, Family::V4, self.add_path_v4)
    }

    /// Every announced prefix: classic NLRI then MP_REACH_NLRI.
    pub fn announced(&self) -> impl Iterator<Item = Prefix> + 'a {
        self.nlri().chain(self.mp_reach.map(|m| m.prefixes()).into_iter().flatten())
    }

    /// Every withdrawn prefix: classic Withdrawn Routes then MP_UNREACH_NLRI.
    pub fn withdrawn_all(&self) -> impl Iterator<Item = Prefix> + 'a {
        self.withdrawn().chain(self.mp_unreach.map(|m| m.prefixes()).into_iter().flatten())
    }

    /// The prefixes a receiver must remove: all withdrawn ones, plus all announced ones when the
    /// UPDATE is to be treated as withdraw (RFC 7606 §2).
    pub fn effective_withdrawn(&self) -> impl Iterator<Item = Prefix> + 'a {
        let taw = self.treat_as_withdraw.is_some();
        let announced = if taw { Some(self.announced()) } else { None };
        self.withdrawn_all().chain(announced.into_iter().flatten())
    }

    /// The next hop of the announced routes: NEXT_HOP for classic NLRI, else MP_REACH's global.
    pub fn next_hop_addr(&self) -> Option<IpAddr> {
        if !self.nlri_raw.is_empty() || self.mp_reach.is_none() {
            if let Some(nh) = self.next_hop {
                return Some(IpAddr::V4(nh));
            }
        }
        self.mp_reach.and_then(|m| m.next_hops().0)
    }

    /// The AS path to use, merged with AS4_PATH on a 2-octet session (RFC 6793 §4.2.3).
    pub fn effective_as_path(&self) -> Vec<attr::Segment> {
        let Some(ap) = &self.as_path else { return Vec::new() };
        if self.four_octet_as {
            return ap.to_segments();
        }
        attr::merge_as4_path(ap, self.as4_path.as_ref(), self.aggregator.map(|a| a.asn), self.as4_aggregator.is_some())
    }

    pub fn communities(&self) -> impl Iterator<Item = community::Community> + 'a {
        community::communities(self.communities.unwrap_or_default())
    }

    pub fn large_communities(&self) -> impl Iterator<Item = community::LargeCommunity> + 'a {
        community::large_communities(self.large_communities.unwrap_or_default())
    }

    pub fn ext_communities(&self) -> impl Iterator<Item = [u8; 8]> + 'a {
        community::ext_communities(self.ext_communities.unwrap_or_default())
    }

    /// `Some(family)` for an End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
    /// or one holding only an empty MP_UNREACH_NLRI for other families.
    pub fn end_of_rib(&self) -> Option<super::capability::AfiSafi> {
        if !self.withdrawn_raw.is_empty() || !self.nlri_raw.is_empty() {
            return None;
        }
        if self.attrs_raw.is_empty() {
            return Some(super::capability::AfiSafi::IPV4_UNICAST);
        }
        let only_unreach = RawAttrs::new(self.attrs_raw).count() == 1;
        match self.mp_unreach {
            Some(m) if only_unreach && m.withdrawn.is_empty() => Some(super::capability::AfiSafi::new(m.afi, m.safi)),
            _ => None,
        }
    }

    /// Every attribute as it stands in the message (repeats included).
    pub fn raw_attrs(&self) -> impl Iterator<Item = RawAttr<'a>> + 'a {
        RawAttrs::new(self.attrs_raw).map_while(Result::ok)
    }

    /// The owned form. Attributes keep their flags; any attribute this codec cannot represent
    /// (malformed, repeated, unknown) is kept as [`Attr::Unknown`] so it re-encodes unchanged.
    pub fn to_owned_msg(&self) -> UpdateMsg {
        let mut attrs = Vec::new();
        let mut first = AttrSet::default();
        for a in self.raw_attrs() {
            let fresh = first.insert(a.type_code);
            let ok = fresh && !self.discarded.contains(a.type_code);
            let attr = if ok { self.owned_attr(a.type_code) } else { None };
            let attr = attr.unwrap_or(Attr::Unknown { type_code: a.type_code, value: a.value.to_vec() });
            attrs.push(PathAttribute { flags: a.flags, attr });
        }
        UpdateMsg { withdrawn: self.withdrawn().collect(), attrs, nlri: self.nlri().collect() }
    }

    fn owned_attr(&self, t: u8) -> Option<Attr> {
        Some(match t {
            tc::ORIGIN => Attr::Origin(self.origin?),
            tc::AS_PATH => Attr::AsPath(self.as_path?.to_segments()),
            tc::NEXT_HOP => Attr::NextHop(self.next_hop?),
            tc::MULTI_EXIT_DISC => Attr::Med(self.med?),
            tc::LOCAL_PREF => Attr::LocalPref(self.local_pref?),
            tc::ATOMIC_AGGREGATE if self.atomic_aggregate => Attr::AtomicAggregate,
            tc::AGGREGATOR => Attr::Aggregator(self.aggregator?),
            tc::COMMUNITIES => Attr::Communities(community::communities(self.communities?).collect()),
            tc::ORIGINATOR_ID => Attr::OriginatorId(self.originator_id?),
            tc::CLUSTER_LIST => {
                Attr::ClusterList(self.cluster_list?.as_chunks::<4>().0.iter().map(|c| Ipv4Addr::from(*c)).collect())
            }
            tc::EXTENDED_COMMUNITIES => {
                Attr::ExtCommunities(community::ext_communities(self.ext_communities?).collect())
            }
            tc::LARGE_COMMUNITY => {
                Attr::LargeCommunities(community::large_communities(self.large_communities?).collect())
            }
            tc::AS4_PATH => Attr::As4Path(self.as4_path?.to_segments()),
            tc::AS4_AGGREGATOR => Attr::As4Aggregator(self.as4_aggregator?),
            tc::MP_REACH_NLRI => {
                let m = self.mp_reach?;
                let next_hop = match (m.family, m.next_hops()) {
                    (Some(Family::V4), (Some(IpAddr::V4(a)), None)) => MpNextHop::V4(a),
                    (Some(Family::V6), (Some(IpAddr::V6(g)), ll)) => MpNextHop::V6 {
                        global: g,
                        link_local: match ll {
                            Some(IpAddr::V6(l)) => Some(l),
                            _ => None,
                        },
                    },
                    _ => MpNextHop::Raw(m.next_hop.to_vec()),
                };
                let (nlri, raw_nlri) = if m.family.is_some() {
                    (m.prefixes().collect(), Vec::new())
                } else {
                    (Vec::new(), m.nlri.to_vec())
                };
                Attr::MpReach { afi: m.afi, safi: m.safi, next_hop, nlri, raw_nlri }
            }
            tc::MP_UNREACH_NLRI => {
                let m = self.mp_unreach?;
                let (withdrawn, raw_withdrawn) = if m.family.is_some() {
                    (m.prefixes().collect(), Vec::new())
                } else {
                    (Vec::new(), m.withdrawn.to_vec())
                };
                Attr::MpUnreach { afi: m.afi, safi: m.safi, withdrawn, raw_withdrawn }
            }
            _ => return None,
        })
    }
}

/// An owned UPDATE: what a speaker builds to send, and what round-trip tests compare.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct UpdateMsg {
    pub withdrawn: Vec<Prefix>,
    pub attrs: Vec<PathAttribute>,
    pub nlri: Vec<Prefix>,
}

impl UpdateMsg {
    /// Append the UPDATE, header included; fails, writing nothing, when it would exceed the
    /// negotiated maximum or an attribute cannot be expressed.
    pub fn encode(&self, p: &SessionParams, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        let mut w = Vec::new();
        self.withdrawn.iter().for_each(|x| nlri::encode(x, &mut w));
        let mut a = Vec::new();
        for x in &self.attrs {
            x.encode(p.four_octet_as, &mut a)?;
        }
        let mut n = Vec::new();
        self.nlri.iter().for_each(|x| nlri::encode(x, &mut n));
        put_update(buf, &w, &a, &n, p.max_message_len())
    }
}

/// Appends an UPDATE (RFC 4271 §4.3) from its three fields, already encoded: the one writer of
/// the UPDATE layout, for [`UpdateMsg::encode`] and our own packing (`build.rs`). Fails, writing
/// nothing, when the message would exceed `max_len` (the negotiated maximum message size).
pub fn put_update(
    buf: &mut impl BufMut,
    withdrawn: &[u8],
    attrs: &[u8],
    nlri: &[u8],
    max_len: usize,
) -> Result<(), EncodeError> {
    let body = [withdrawn.len(), attrs.len(), nlri.len()].iter().fold(4usize, |n, l| n.saturating_add(*l));
    let len = HEADER_LEN.saturating_add(body);
    let too_long = || EncodeError::TooLong { what: "UPDATE", len, max: max_len };
    if len > max_len {
        return Err(too_long());
    }
    let wl = u16::try_from(withdrawn.len()).map_err(|_| too_long())?;
    let al = u16::try_from(attrs.len()).map_err(|_| too_long())?;
    put_header(buf, MessageType::Update, body)?;
    buf.put_u16(wl);
    buf.put_slice(withdrawn);
    buf.put_u16(al);
    buf.put_slice(attrs);
    buf.put_slice(nlri);
    Ok(())
}
