//! Communities (RFC 1997), their well-known values (IANA registry, RFC 8326 GRACEFUL_SHUTDOWN,
//! RFC 7999 BLACKHOLE), extended communities (RFC 4360) and large communities (RFC 8092):
//! values, names, parsing from operator text and formatting.

use std::fmt;
use std::str::FromStr;

/// A standard community, `asn:value` in 16 + 16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    pub const ACCEPT_OWN: Community = Community(0xFFFF_0001);
    pub const LLGR_STALE: Community = Community(0xFFFF_0006);
    pub const NO_LLGR: Community = Community(0xFFFF_0007);
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    pub const NOPEER: Community = Community(0xFFFF_FF04);

    const NAMES: [(Community, &'static str); 9] = [
        (Self::GRACEFUL_SHUTDOWN, "GRACEFUL_SHUTDOWN"),
        (Self::ACCEPT_OWN, "ACCEPT_OWN"),
        (Self::LLGR_STALE, "LLGR_STALE"),
        (Self::NO_LLGR, "NO_LLGR"),
        (Self::BLACKHOLE, "BLACKHOLE"),
        (Self::NO_EXPORT, "NO_EXPORT"),
        (Self::NO_ADVERTISE, "NO_ADVERTISE"),
        (Self::NO_EXPORT_SUBCONFED, "NO_EXPORT_SUBCONFED"),
        (Self::NOPEER, "NOPEER"),
    ];

    pub fn new(asn: u16, value: u16) -> Self {
        Community((u32::from(asn) << 16) | u32::from(value))
    }

    /// The well-known name of this community, if it has one.
    pub fn well_known_name(self) -> Option<&'static str> {
        Self::NAMES.iter().find(|(c, _)| *c == self).map(|(_, n)| *n)
    }
}

/// Always `asn:value`, the form `decode` output and logs use.
impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

impl FromStr for Community {
    type Err = String;
    /// `65000:100` or a well-known name (`NO_EXPORT`, `graceful_shutdown`, `NO_PEER`, …).
    fn from_str(s: &str) -> Result<Self, String> {
        let squash = |t: &str| t.trim().replace('_', "").to_ascii_uppercase();
        if let Some((c, _)) = Self::NAMES.iter().find(|(_, n)| squash(n) == squash(s)) {
            return Ok(*c);
        }
        let bad = || {
            let names: Vec<&str> = Self::NAMES.iter().map(|(_, n)| *n).collect();
            format!(
                "`{s}` is not a community: write two numbers 0-65535 as \"a:b\", or a well-known name ({})",
                names.join(", ")
            )
        };
        let (a, v) = s.trim().split_once(':').ok_or_else(bad)?;
        let a: u16 = a.parse().map_err(|_| bad())?;
        let v: u16 = v.parse().map_err(|_| bad())?;
        Ok(Community::new(a, v))
    }
}

/// A large community `global:local1:local2` (RFC 8092).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

impl FromStr for LargeCommunity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut it = s.split(':');
        let mut next = || -> Result<u32, String> {
            it.next().and_then(|p| p.parse().ok()).ok_or_else(|| {
                format!("large community `{s}` is not `global:local1:local2` with 32-bit numbers (e.g. `65000:1:2`)")
            })
        };
        let c = LargeCommunity { global: next()?, local1: next()?, local2: next()? };
        if it.next().is_some() {
            return Err(format!("large community `{s}` has more than three parts"));
        }
        Ok(c)
    }
}

/// Iterate the communities of a validated COMMUNITIES value.
pub fn communities(raw: &[u8]) -> impl Iterator<Item = Community> + '_ {
    raw.as_chunks::<4>().0.iter().map(|c| Community(u32::from_be_bytes(*c)))
}

/// Iterate the large communities of a validated LARGE_COMMUNITY value.
pub fn large_communities(raw: &[u8]) -> impl Iterator<Item = LargeCommunity> + '_ {
    raw.as_chunks::<12>().0.iter().map(|&[g0, g1, g2, g3, a0, a1, a2, a3, b0, b1, b2, b3]| LargeCommunity {
        global: u32::from_be_bytes([g0, g1, g2, g3]),
        local1: u32::from_be_bytes([a0, a1, a2, a3]),
        local2: u32::from_be_bytes([b0, b1, b2, b3]),
    })
}

/// Iterate the extended communities of a validated EXTENDED_COMMUNITIES value.
pub fn ext_communities(raw: &[u8]) -> impl Iterator<Item = [u8; 8]> + '_ {
    raw.as_chunks::<8>().0.iter().copied()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn well_known_values() {
        // RFC 8326 §5: GRACEFUL_SHUTDOWN is 65535:0.
        assert_eq!(Community::GRACEFUL_SHUTDOWN.to_string(), "65535:0");
        assert_eq!("graceful_shutdown".parse::<Community>(), Ok(Community::GRACEFUL_SHUTDOWN));
        assert_eq!(Community::NO_EXPORT.to_string(), "65535:65281");
        assert_eq!(Community(0xFFFF_FF02).well_known_name(), Some("NO_ADVERTISE"));
        assert_eq!("65124:100".parse::<Community>(), Ok(Community::new(65124, 100)));
        assert!("65536:1".parse::<Community>().is_err());
        assert!("x".parse::<Community>().is_err());
    }

    #[test]
    fn large_communities_parse() {
        let l: LargeCommunity = "4200000000:1:2".parse().unwrap();
        assert_eq!(l.to_string(), "4200000000:1:2");
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert!("1:2:3:4".parse::<LargeCommunity>().is_err());
    }
}
