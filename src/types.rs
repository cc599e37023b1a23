//! The validated BGP values every layer shares: AS numbers, hold time, router ID (BGP
//! Identifier) and TCP-MD5 keys. Each constructor enforces the RFC rule for its value once, so
//! an illegal value cannot exist anywhere past the config boundary: the session, the transport
//! and the CLI take these types and never check again. The rejection reason is a plain sentence
//! (`ValueError`) that the config layer wraps with file, line, key and example. No I/O here.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

/// Why a value was rejected: one sentence saying what is wrong (no location, no example).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn reject<T>(msg: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(msg.into()))
}

/// A 4-octet AS number (RFC 6793), never 0 (RFC 7607).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Asn(u32);

impl Asn {
    /// AS_TRANS, the 2-octet placeholder for 4-octet AS numbers (RFC 6793 §9).
    pub const AS_TRANS: u32 = 23456;

    /// Any AS number but 0 (RFC 7607 §2: AS 0 must not be used in an OPEN).
    pub fn new(value: u32) -> Result<Self, ValueError> {
        if value == 0 {
            return reject("AS 0 is reserved and cannot be used (RFC 7607)");
        }
        Ok(Asn(value))
    }

    /// Our own AS: like [`Asn::new`], and AS_TRANS is refused too because it only ever stands in
    /// for a real 4-octet AS in the 2-octet My Autonomous System field (RFC 6793 §4.2.1).
    pub fn new_local(value: u32) -> Result<Self, ValueError> {
        if value == Self::AS_TRANS {
            return reject("AS 23456 is AS_TRANS (RFC 6793) and cannot be the local AS");
        }
        Self::new(value)
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The value for the 2-octet My Autonomous System field of an OPEN: the AS itself when it
    /// fits, else AS_TRANS (RFC 6793 §4.2.1).
    pub fn two_octet(self) -> u16 {
        u16::try_from(self.0).unwrap_or(23456)
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Asn {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let v = s
            .trim()
            .strip_prefix("AS")
            .unwrap_or(s.trim())
            .parse::<u32>()
            .map_err(|_| ValueError(format!("`{s}` is not an AS number (1-4294967295)")))?;
        Asn::new(v)
    }
}

/// The BGP hold time in seconds: 0 (no keepalives) or at least 3 (RFC 4271 §4.2). Ordered by
/// seconds, so the negotiated value is `ours.min(theirs)` and stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HoldTime(u16);

impl HoldTime {
    /// The RFC 4271 §10 suggested value, 90 seconds.
    pub const DEFAULT: HoldTime = HoldTime(90);
    /// No hold timer and no KEEPALIVEs (RFC 4271 §4.4).
    pub const DISABLED: HoldTime = HoldTime(0);

    /// Refuses 1 and 2 seconds (RFC 4271 §4.2).
    pub fn new(seconds: u16) -> Result<Self, ValueError> {
        if seconds == 1 || seconds == 2 {
            return reject("hold time must be 0 or at least 3 seconds (RFC 4271 §4.2)");
        }
        Ok(HoldTime(seconds))
    }

    /// Seconds.
    pub fn seconds(self) -> u16 {
        self.0
    }

    /// False when the hold time is 0: no keepalives and no hold timer (RFC 4271 §4.4).
    pub fn is_enabled(self) -> bool {
        self.0 != 0
    }

    /// The HoldTimer's duration; `None` when the hold time is 0.
    pub fn duration(self) -> Option<Duration> {
        self.is_enabled().then(|| Duration::from_secs(u64::from(self.0)))
    }

    /// KeepaliveTime: a third of the hold time (RFC 4271 §10); `None` when the hold time is 0.
    pub fn keepalive(self) -> Option<Duration> {
        self.duration().map(|h| h / 3)
    }
}

impl fmt::Display for HoldTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// The BGP Identifier: a unicast IPv4 address, not 0.0.0.0 (RFC 4271 §4.2, RFC 6286).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouterId(Ipv4Addr);

impl RouterId {
    /// Refuses 0.0.0.0, multicast, reserved 240/4 and the broadcast address.
    pub fn new(addr: Ipv4Addr) -> Result<Self, ValueError> {
        if addr.is_unspecified() {
            return reject("router ID 0.0.0.0 is not allowed (RFC 6286 §2.1)");
        }
        if addr.is_multicast() || addr.is_broadcast() || addr.octets()[0] >= 240 {
            return reject(format!("router ID {addr} is not a unicast address"));
        }
        Ok(RouterId(addr))
    }

    /// The address.
    pub fn addr(self) -> Ipv4Addr {
        self.0
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RouterId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let a = s.trim().parse::<Ipv4Addr>().map_err(|_| ValueError(format!("`{s}` is not an IPv4 address")))?;
        RouterId::new(a)
    }
}

/// The rules a TCP key (`what`: "TCP-MD5" or "TCP-AO") shares, so that the kernel stores
/// exactly the octets the peer's operator typed: 1 to `max` octets (`limit` names the kernel's
/// constant), no NUL. A NUL ends a key wherever keys are typed as text (router configs, C
/// strings), so the peer could never hold the same key. The reason never shows the key.
fn tcp_key(key: Vec<u8>, what: &str, max: usize, limit: &str) -> Result<Vec<u8>, ValueError> {
    if key.is_empty() {
        return reject(format!("the {what} key is empty"));
    }
    if key.len() > max {
        return reject(format!("the {what} key is {} bytes; Linux accepts at most {max} ({limit})", key.len()));
    }
    if let Some(at) = key.iter().position(|b| *b == 0) {
        return reject(format!(
            "the {what} key holds a NUL byte (byte {} of {}); a peer that types its key as text can never \
             hold the same key: use printable characters",
            at.saturating_add(1),
            key.len()
        ));
    }
    Ok(key)
}

/// A TCP-MD5 key (RFC 2385): 1 to 80 bytes (Linux `TCP_MD5SIG_MAXKEYLEN`), no NUL byte. Its
/// `Debug` and `Display` never show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Md5Key(Vec<u8>);

impl Md5Key {
    /// Linux `TCP_MD5SIG_MAXKEYLEN`.
    pub const MAX_LEN: usize = 80;

    /// Refuses empty keys, keys longer than 80 bytes and keys with a NUL byte.
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, ValueError> {
        tcp_key(key.into(), "TCP-MD5", Self::MAX_LEN, "TCP_MD5SIG_MAXKEYLEN").map(Md5Key)
    }

    /// Any bytes at all, bypassing the checks of [`Md5Key::new`]: for tests that make the
    /// kernel path refuse a key below the config layer.
    #[cfg(test)]
    pub(crate) fn unchecked_for_test(key: Vec<u8>) -> Self {
        Md5Key(key)
    }

    /// The key bytes, for `setsockopt(TCP_MD5SIG)` only.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Md5Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Md5Key(<redacted>)")
    }
}

impl fmt::Display for Md5Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A TCP-AO Master Key (RFC 5925 §3.1): 1 to 80 bytes (Linux `TCP_AO_MAXKEYLEN`), no NUL byte.
/// Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct TcpAoKey(Vec<u8>);

impl TcpAoKey {
    /// Linux `TCP_AO_MAXKEYLEN`.
    pub const MAX_LEN: usize = 80;

    /// The rules of [`Md5Key::new`].
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, ValueError> {
        tcp_key(key.into(), "TCP-AO", Self::MAX_LEN, "TCP_AO_MAXKEYLEN").map(TcpAoKey)
    }
}

impl fmt::Debug for TcpAoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TcpAoKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn_rules() {
        assert!(Asn::new(0).is_err());
        assert_eq!(Asn::new(23456).map(Asn::get), Ok(23456));
        assert!(Asn::new_local(23456).is_err());
        assert!(Asn::new_local(0).is_err());
        assert_eq!(Asn::new_local(4_200_000_000).map(Asn::two_octet), Ok(23456));
        assert_eq!(Asn::new_local(65124).map(Asn::two_octet), Ok(65124));
        assert_eq!("AS65000".parse::<Asn>().map(Asn::get), Ok(65000));
        assert!("-1".parse::<Asn>().is_err());
    }

    #[test]
    fn hold_time_rules() {
        for s in [0u16, 3, 9, 90, 65535] {
            assert_eq!(HoldTime::new(s).map(HoldTime::seconds), Ok(s));
        }
        assert!(HoldTime::new(1).is_err());
        assert!(HoldTime::new(2).is_err());
        assert!(!HoldTime::new(0).is_ok_and(HoldTime::is_enabled));
        let h = HoldTime::new(9).expect("valid");
        assert_eq!((h.duration(), h.keepalive()), (Some(Duration::from_secs(9)), Some(Duration::from_secs(3))));
        assert_eq!((HoldTime::DISABLED.duration(), HoldTime::DISABLED.keepalive()), (None, None));
        assert_eq!(HoldTime::DEFAULT.min(h), h);
    }

    #[test]
    fn router_id_rules() {
        assert!("0.0.0.0".parse::<RouterId>().is_err());
        assert!("224.0.0.5".parse::<RouterId>().is_err());
        assert!("255.255.255.255".parse::<RouterId>().is_err());
        assert!("240.0.0.1".parse::<RouterId>().is_err());
        assert!("2001:db8::1".parse::<RouterId>().is_err());
        assert_eq!("198.51.100.1".parse::<RouterId>().map(|r| r.to_string()), Ok("198.51.100.1".to_string()));
    }

    #[test]
    fn md5_key_is_bounded_and_redacted() {
        assert!(Md5Key::new("").is_err());
        assert!(Md5Key::new(vec![b'a'; 81]).is_err());
        let k = Md5Key::new(vec![b'a'; 80]).expect("80 bytes is the maximum");
        assert_eq!(k.as_bytes().len(), 80);
        let k = Md5Key::new("hunter2").expect("valid key");
        assert!(!format!("{k:?}").contains("hunter2"));
        assert!(!k.to_string().contains("hunter2"));
    }

    #[test]
    fn tcp_keys_refuse_nul_bytes_with_where_never_what() {
        let e = Md5Key::new(&b"hunter\0two"[..]).expect_err("NUL");
        assert!(e.0.starts_with("the TCP-MD5 key holds a NUL byte (byte 7 of 10)"), "{e}");
        assert!(!e.0.contains("hunter"));
        assert!(TcpAoKey::new(vec![0u8]).is_err());
        assert!(TcpAoKey::new(vec![b'a'; 81]).is_err());
        assert!(!format!("{:?}", TcpAoKey::new("hunter2").expect("valid")).contains("hunter2"));
    }
}
