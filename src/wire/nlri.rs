//! Prefixes as they travel in the Withdrawn Routes and NLRI fields (RFC 4271 §4.3) and inside
//! MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §5), with the optional add-path identifier
//! (RFC 7911 §3).
//!
//! ```text
//! +---------------------------+
//! | Path Identifier (4 octets)|   only with add-path
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```
//!
//! A field is validated once ([`validate`]); iterating a validated field ([`NlriIter`]) then
//! allocates nothing and cannot fail. Bits past the prefix length are ignored, so prefixes come
//! out in canonical form (host bits zero).

use bytes::BufMut;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A prefix and, with add-path, its path identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub path_id: Option<u32>,
    pub net: IpNet,
}

impl From<IpNet> for Prefix {
    fn from(net: IpNet) -> Self {
        Prefix { path_id: None, net: net.trunc() }
    }
}

/// The address family of a prefix field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn max_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// Why a prefix field is malformed (RFC 7606 §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NlriError {
    /// A prefix length beyond the family's maximum.
    BadLength(u8),
    /// The field ends inside a prefix (or its path identifier).
    Truncated,
}

impl std::fmt::Display for NlriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NlriError::BadLength(l) => write!(f, "prefix length {l} exceeds the address family maximum"),
            NlriError::Truncated => write!(f, "truncated prefix"),
        }
    }
}

/// Checks a whole field and returns how many prefixes it holds.
#[inline]
pub fn validate(mut b: &[u8], family: Family, add_path: bool) -> Result<usize, NlriError> {
    let max = family.max_len();
    let mut n = 0usize;
    while !b.is_empty() {
        if add_path {
            b = b.get(4..).ok_or(NlriError::Truncated)?;
        }
        let (&len, rest) = b.split_first().ok_or(NlriError::Truncated)?;
        if len > max {
            return Err(NlriError::BadLength(len));
        }
        let octets = usize::from(len).div_ceil(8);
        b = rest.get(octets..).ok_or(NlriError::Truncated)?;
        n = n.saturating_add(1);
    }
    Ok(n)
}

/// Iterates the prefixes of a field that [`validate`] accepted. On a field it did not accept it
/// stops at the first bad prefix instead of failing.
#[derive(Clone, Debug)]
pub struct NlriIter<'a> {
    b: &'a [u8],
    family: Family,
    add_path: bool,
}

impl<'a> NlriIter<'a> {
    pub fn new(b: &'a [u8], family: Family, add_path: bool) -> Self {
        NlriIter { b, family, add_path }
    }

    pub fn empty() -> Self {
        NlriIter { b: &[], family: Family::V4, add_path: false }
    }

    pub fn family(&self) -> Family {
        self.family
    }
}

impl Iterator for NlriIter<'_> {
    type Item = Prefix;

    #[inline]
    fn next(&mut self) -> Option<Prefix> {
        let mut b = self.b;
        let path_id = if self.add_path {
            let (id, rest) = b.split_first_chunk::<4>()?;
            b = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let (&len, rest) = b.split_first()?;
        let tail = rest.get(usize::from(len).div_ceil(8)..)?;
        // One fixed-size read and one mask instead of a copy of `octets` octets and a mask of
        // the last: the octets past the prefix (the next prefix, or zero padding at the end of
        // the field) and the host bits all fall under the mask.
        let net = match self.family {
            Family::V4 => {
                let a = u32::from_be_bytes(padded::<4>(rest)) & mask32(len);
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).ok()?)
            }
            Family::V6 => {
                let a = u128::from_be_bytes(padded::<16>(rest)) & mask128(len);
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).ok()?)
            }
        };
        self.b = tail;
        Some(Prefix { path_id, net })
    }
}

/// The first `N` octets of `b`, zero-padded when `b` is shorter.
#[inline(always)]
fn padded<const N: usize>(b: &[u8]) -> [u8; N] {
    if let Some(c) = b.first_chunk::<N>() {
        return *c;
    }
    let mut a = [0u8; N];
    if let Some(head) = a.get_mut(..b.len()) {
        head.copy_from_slice(b);
    }
    a
}

/// The network mask of an IPv4 prefix length (all ones past 32: the length check rejects it).
#[inline(always)]
fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(u32::from(32u8.saturating_sub(len))).unwrap_or(0)
}

/// The network mask of an IPv6 prefix length (all ones past 128).
#[inline(always)]
fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(u32::from(128u8.saturating_sub(len))).unwrap_or(0)
}

/// Octets a prefix takes on the wire.
pub fn encoded_len(p: &Prefix) -> usize {
    // Path identifier (4 with add-path), length octet, at most 16 address octets.
    let fixed = if p.path_id.is_some() { 4 + 1 } else { 1 };
    usize::from(p.net.prefix_len()).div_ceil(8).saturating_add(fixed)
}

/// Append one prefix: path identifier when present, length, and the minimal address octets.
pub fn encode(p: &Prefix, buf: &mut impl BufMut) {
    if let Some(id) = p.path_id {
        buf.put_u32(id);
    }
    let len = p.net.prefix_len();
    let octets = usize::from(len).div_ceil(8);
    buf.put_u8(len);
    // `octets` ≤ 4 or 16: the prefix length is at most the family's.
    match p.net.trunc() {
        IpNet::V4(n) => buf.put_slice(n.addr().octets().get(..octets).unwrap_or_default()),
        IpNet::V6(n) => buf.put_slice(n.addr().octets().get(..octets).unwrap_or_default()),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn collect(b: &[u8], f: Family, ap: bool) -> Vec<String> {
        NlriIter::new(b, f, ap).map(|p| p.net.to_string()).collect()
    }

    #[test]
    fn decodes_and_masks() {
        // 10.2.3.0/17 on the wire carries host bits; it comes out canonical.
        let b = [16, 10, 1, 17, 10, 2, 3, 0];
        assert_eq!(validate(&b, Family::V4, false), Ok(3));
        assert_eq!(collect(&b, Family::V4, false), ["10.1.0.0/16", "10.2.0.0/17", "0.0.0.0/0"]);
        let b = [32, 0x20, 0x01, 0x0d, 0xb8];
        assert_eq!(collect(&b, Family::V6, false), ["2001:db8::/32"]);
        let b = [0, 0, 0, 7, 24, 203, 0, 113];
        let p: Vec<Prefix> = NlriIter::new(&b, Family::V4, true).collect();
        assert_eq!(p[0].path_id, Some(7));
        assert_eq!(p[0].net.to_string(), "203.0.113.0/24");
    }

    #[test]
    fn masks_host_bits_at_every_length() {
        // Every length, with the prefix at the end of the field (zero-padded read) and followed
        // by another prefix (its octets must not leak in): the same as ipnet's trunc().
        let v4 = std::net::IpAddr::from(Ipv4Addr::BROADCAST);
        let v6 = std::net::IpAddr::from(Ipv6Addr::from(u128::MAX));
        for (family, max, all_ones) in [(Family::V4, 32u8, v4), (Family::V6, 128, v6)] {
            for len in 0..=max {
                let want = IpNet::new(all_ones, len).unwrap().trunc().to_string();
                let octets = usize::from(len).div_ceil(8);
                let mut b = vec![len];
                b.extend(std::iter::repeat_n(0xffu8, octets));
                assert_eq!(validate(&b, family, false), Ok(1));
                assert_eq!(collect(&b, family, false), std::slice::from_ref(&want), "{family:?} /{len} at the end");
                b.extend([max, 0xff, 0xff, 0xff, 0xff].iter().chain(&[0xff; 12][..usize::from(max / 8) - 4]));
                assert_eq!(validate(&b, family, false), Ok(2));
                assert_eq!(collect(&b, family, false)[0], want, "{family:?} /{len} followed by a prefix");
            }
        }
    }

    #[test]
    fn rejects_bad_fields() {
        assert_eq!(validate(&[33, 1, 2, 3, 4, 5], Family::V4, false), Err(NlriError::BadLength(33)));
        assert_eq!(validate(&[129], Family::V6, false), Err(NlriError::BadLength(129)));
        assert_eq!(validate(&[30, 192, 0], Family::V4, false), Err(NlriError::Truncated));
        assert_eq!(validate(&[0, 0, 1], Family::V4, true), Err(NlriError::Truncated));
        // A bad field iterates up to the bad prefix and stops.
        assert_eq!(collect(&[8, 10, 30, 192], Family::V4, false), ["10.0.0.0/8"]);
    }

    #[test]
    fn encodes_minimal_octets() {
        let mut b = Vec::new();
        for s in ["203.0.113.124/32", "198.51.100.0/23", "0.0.0.0/0", "2001:db8:124::1/128"] {
            encode(&Prefix::from(s.parse::<IpNet>().unwrap()), &mut b);
        }
        assert_eq!(&b[..9], &[32, 203, 0, 113, 124, 23, 198, 51, 100]);
        assert_eq!(b[9], 0);
        assert_eq!(b[10], 128);
        assert_eq!(b.len(), 11 + 16);
    }
}
