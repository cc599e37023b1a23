//! AS_PATH and AS4_PATH values (RFC 4271 §4.3, §5.1.2; RFC 6793): segment types, the owned
//! segment, a borrowed view over a validated value with its ASN iterators, and the AS4_PATH
//! merge a 4-octet speaker applies to routes from a 2-octet peer (RFC 6793 §4.2.3).
//!
//! ```text
//! +-------------------+-------------------+---------------------------+
//! | Segment Type (1)  | Segment Length (1)| Segment Value (2 or 4 × n) |
//! +-------------------+-------------------+---------------------------+
//! ```
//!
//! Validation happens once ([`AsPathView::parse`]); iterating a validated value allocates
//! nothing and cannot fail. No I/O, no panics on any input.

code_points! {
    /// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3).
    pub enum SegmentType, closed {
        AsSet = 1, "AS_SET";
        AsSequence = 2, "AS_SEQUENCE";
        ConfedSequence = 3, "AS_CONFED_SEQUENCE";
        ConfedSet = 4, "AS_CONFED_SET";
    }
}

impl SegmentType {
    fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// An owned AS_PATH segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    pub kind: SegmentType,
    pub asns: Vec<u32>,
}

/// A validated AS_PATH or AS4_PATH value, read in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsPathView<'a> {
    raw: &'a [u8],
    four_octet: bool,
}

impl<'a> AsPathView<'a> {
    /// Checks segment types, zero-length segments and overruns (RFC 7606 §7.2).
    #[inline(always)]
    pub fn parse(raw: &'a [u8], four_octet: bool) -> Result<Self, String> {
        let w = if four_octet { 4 } else { 2 };
        let mut b = raw;
        while !b.is_empty() {
            let [t, n, rest @ ..] = b else {
                return Err("AS_PATH ends inside a segment header".into());
            };
            if SegmentType::from_u8(*t).is_none() {
                return Err(format!("unknown AS_PATH segment type {t}"));
            }
            if *n == 0 {
                return Err("zero-length AS_PATH segment".into());
            }
            // At most 255 × 4 octets: the product cannot overflow (the check folds away).
            let len = usize::from(*n).saturating_mul(w);
            b = rest.get(len..).ok_or_else(|| "AS_PATH segment overruns the attribute".to_string())?;
        }
        Ok(AsPathView { raw, four_octet })
    }

    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    pub fn four_octet(&self) -> bool {
        self.four_octet
    }

    /// Segments in order, each with an iterator over its ASNs.
    pub fn segments(&self) -> impl Iterator<Item = (SegmentType, AsnIter<'a>)> + 'a {
        let w = if self.four_octet { 4 } else { 2 };
        let mut b = self.raw;
        std::iter::from_fn(move || {
            let [t, n, rest @ ..] = b else { return None };
            let kind = SegmentType::from_u8(*t)?;
            let len = usize::from(*n).saturating_mul(w);
            let asns = rest.get(..len)?;
            b = rest.get(len..)?;
            Some((kind, AsnIter { b: asns, w }))
        })
    }

    /// Every ASN in order, sets flattened.
    pub fn asns(&self) -> impl Iterator<Item = u32> + 'a {
        self.segments().flat_map(|(_, a)| a)
    }

    /// Path length for best-path selection and RFC 6793 §4.2.3: an AS_SET counts one,
    /// confederation segments count zero.
    pub fn path_len(&self) -> usize {
        self.segments()
            .map(|(k, a)| match k {
                SegmentType::AsSequence => a.count(),
                SegmentType::AsSet => 1,
                _ => 0,
            })
            .sum()
    }

    pub fn to_segments(&self) -> Vec<Segment> {
        self.segments().map(|(kind, a)| Segment { kind, asns: a.collect() }).collect()
    }

    fn has_confed(&self) -> bool {
        self.segments().any(|(k, _)| k.is_confed())
    }
}

/// ASNs of one segment.
#[derive(Clone, Debug)]
pub struct AsnIter<'a> {
    b: &'a [u8],
    w: usize,
}

impl Iterator for AsnIter<'_> {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        let (v, rest) = if self.w == 4 {
            let (a, rest) = self.b.split_first_chunk::<4>()?;
            (u32::from_be_bytes(*a), rest)
        } else {
            let (a, rest) = self.b.split_first_chunk::<2>()?;
            (u32::from(u16::from_be_bytes(*a)), rest)
        };
        self.b = rest;
        Some(v)
    }
}

/// The AS path a 4-octet speaker must use for a route from a 2-octet peer: AS_PATH merged with
/// AS4_PATH as RFC 6793 §4.2.3 describes. `aggregator_as` is the AGGREGATOR's AS when present.
pub fn merge_as4_path(
    as_path: &AsPathView<'_>,
    as4: Option<&AsPathView<'_>>,
    aggregator_as: Option<u32>,
    has_as4_aggregator: bool,
) -> Vec<Segment> {
    let plain = as_path.to_segments();
    let Some(as4) = as4 else { return plain };
    // §4.2.3: an AGGREGATOR with a real 2-octet AS alongside AS4_AGGREGATOR voids AS4_PATH.
    if has_as4_aggregator && aggregator_as.is_some_and(|a| a != u32::from(super::open::AS_TRANS)) {
        return plain;
    }
    // RFC 6793 §6: confederation segments in AS4_PATH make it malformed; ignore it.
    if as4.has_confed() {
        return plain;
    }
    // Keep the leading n - m ASes (counted the same way) of AS_PATH, then append AS4_PATH;
    // an AS4_PATH longer than AS_PATH is ignored.
    let Some(mut keep) = as_path.path_len().checked_sub(as4.path_len()) else {
        return plain;
    };
    let mut out = Vec::new();
    for seg in plain {
        if keep == 0 && !seg.kind.is_confed() {
            break;
        }
        match seg.kind {
            SegmentType::AsSequence => {
                let take = keep.min(seg.asns.len());
                keep = keep.saturating_sub(take);
                let mut asns = seg.asns;
                asns.truncate(take);
                out.push(Segment { kind: seg.kind, asns });
            }
            SegmentType::AsSet => {
                keep = keep.saturating_sub(1);
                out.push(seg);
            }
            _ => out.push(seg),
        }
    }
    for seg in as4.to_segments() {
        // Join adjacent AS_SEQUENCEs so the merged path reads as one sequence.
        match out.last_mut() {
            Some(last) if last.kind == SegmentType::AsSequence && seg.kind == SegmentType::AsSequence => {
                last.asns.extend(seg.asns)
            }
            _ => out.push(seg),
        }
    }
    out.retain(|s| !s.asns.is_empty());
    out
}
