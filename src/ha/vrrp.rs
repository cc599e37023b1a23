//! "Split brain suspected": VRRP adverts for our `[role] vrid` from another node, seen while
//! keepalived reports MASTER here. In normal operation only the MASTER sends adverts, so such
//! an advert means both nodes think they are MASTER (the link between them is cut one way, a
//! firewall drops VRRP, …). It changes nothing that is advertised — the preference guard
//! (MED / AS path per node) makes every router prefer one node — it is a warning in
//! `status`, in the JSON (`split_brain`) and in `anycastd_split_brain_suspected`.
//!
//! The parser ([`parse_ipv4`], [`parse_vrrp`]) and the episode tracker ([`SplitBrain`]) are
//! pure; [`watch`] is the tokio edge: a raw IPv4 socket for protocol 112 in the daemon's
//! namespace (IPv6 VRRP is not watched), a bounded read loop per wake-up. Without root or
//! CAP_NET_RAW the watch is off and `status` says so; nothing fails. The one `unsafe` is
//! tokio's `AsyncFd::register` of the socket it owns.
#![allow(unsafe_code)]

use super::decision::Role;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// The VRRP IPv4 multicast group (RFC 5798 §5.1.1.2).
pub const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// A sighting is forgotten after this many of its advert intervals without another.
const CLEAR_INTERVALS: u32 = 3;
/// Packets read per wake-up at most (then the runtime gets the thread back).
const READS_PER_WAKE: usize = 64;
/// Longest packet read (VRRP adverts are tens of bytes; anything longer is cut and ignored).
const MAX_PACKET: usize = 1500;

/// One VRRP advertisement's fields that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VrrpAdvert {
    /// 2 (RFC 3768) or 3 (RFC 5798).
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// v2: Adver Int in seconds; v3: Max Adver Int in centiseconds.
    pub interval: Duration,
}

/// Why a packet is not a VRRP advertisement we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VrrpError {
    /// Shorter than its headers or its own length fields say.
    Truncated,
    NotIpv4,
    NotVrrp,
    /// RFC 5798 §7.1 / RFC 3768 §7.1: the TTL must be 255.
    Ttl(u8),
    Version(u8),
    /// Type other than 1 (ADVERTISEMENT).
    Type(u8),
    Checksum,
}

/// The internet checksum (RFC 1071) over `parts`, as a sum that is 0 when they check.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for b in parts.iter().flat_map(|p| p.iter().copied()) {
        match odd.take() {
            Some(hi) => sum = sum.wrapping_add(u32::from(u16::from_be_bytes([hi, b]))),
            None => odd = Some(b),
        }
    }
    if let Some(hi) = odd {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([hi, 0])));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A VRRP message (the IP payload) from `src` to `dst`.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// v2: |   Auth Type   |   Adver Int   |          Checksum             |
/// v3: |(rsvd) |     Max Adver Int     |          Checksum             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 IPv4 Address(es) (Count × 4 bytes)            |
/// |      (v2 only) Authentication Data (8 bytes, may be absent)   |
/// ```
/// The checksum covers the message (v2, RFC 3768 §5.3.8) or the message and the IPv4
/// pseudo-header (v3, RFC 5798 §5.2.8).
pub fn parse_vrrp(msg: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<VrrpAdvert, VrrpError> {
    let head: &[u8; 8] = msg.get(..8).and_then(|h| h.try_into().ok()).ok_or(VrrpError::Truncated)?;
    let (version, kind) = (head[0] >> 4, head[0] & 0x0f);
    if !(version == 2 || version == 3) {
        return Err(VrrpError::Version(version));
    }
    if kind != 1 {
        return Err(VrrpError::Type(kind));
    }
    let addrs = usize::from(head[3]) * 4;
    if msg.len() < 8 + addrs {
        return Err(VrrpError::Truncated);
    }
    let interval = if version == 2 {
        if checksum(&[msg]) != 0 {
            return Err(VrrpError::Checksum);
        }
        Duration::from_secs(u64::from(head[5]))
    } else {
        let len = u16::try_from(msg.len()).map_err(|_| VrrpError::Truncated)?.to_be_bytes();
        let pseudo = [&src.octets()[..], &dst.octets()[..], &[0, IPPROTO_VRRP], &len[..], msg];
        if checksum(&pseudo) != 0 {
            return Err(VrrpError::Checksum);
        }
        let cs = u16::from_be_bytes([head[4], head[5]]) & 0x0fff;
        Duration::from_millis(u64::from(cs) * 10)
    };
    Ok(VrrpAdvert { version, vrid: head[1], priority: head[2], interval })
}

/// An IPv4 packet as a raw socket delivers it (header included): its source and the VRRP
/// advert it carries.
pub fn parse_ipv4(pkt: &[u8]) -> Result<(Ipv4Addr, VrrpAdvert), VrrpError> {
    let first = *pkt.first().ok_or(VrrpError::Truncated)?;
    if first >> 4 != 4 {
        return Err(VrrpError::NotIpv4);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || pkt.len() < ihl {
        return Err(VrrpError::Truncated);
    }
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if total < ihl || pkt.len() < total {
        return Err(VrrpError::Truncated);
    }
    if pkt[9] != IPPROTO_VRRP {
        return Err(VrrpError::NotVrrp);
    }
    if pkt[8] != 255 {
        return Err(VrrpError::Ttl(pkt[8]));
    }
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    Ok((src, parse_vrrp(&pkt[ihl..total], src, dst)?))
}

/// The fuzz target's body (`fuzz/fuzz_targets/vrrp.rs`). Beyond "no panic": what a parsed
/// advert says is what the input's octets say (source, version, vrid, priority, TTL 255).
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    if let Ok((src, a)) = parse_ipv4(data) {
        let ihl = usize::from(data[0] & 0x0f) * 4;
        assert_eq!(src.octets()[..], data[12..16]);
        assert_eq!(data[8], 255);
        assert_eq!((a.version, a.vrid, a.priority), (data[ihl] >> 4, data[ihl + 1], data[ihl + 2]));
        assert!(a.version == 2 || a.version == 3);
    }
    if let Ok(a) = parse_vrrp(data, Ipv4Addr::new(192, 0, 2, 12), VRRP_GROUP) {
        assert_eq!((a.vrid, a.priority), (data[1], data[2]));
    }
}

/// The last advert for our vrid from another node seen while MASTER here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub source: Ipv4Addr,
    pub advert: VrrpAdvert,
    pub at: Instant,
}

impl Sighting {
    /// How long it stays a suspicion without another: 3 advert intervals (at least 3 × 1 s
    /// when the advert says 0).
    fn lifetime(&self) -> Duration {
        let iv = if self.advert.interval.is_zero() { Duration::from_secs(1) } else { self.advert.interval };
        iv.saturating_mul(CLEAR_INTERVALS)
    }

    /// The `split_brain` JSON object at `now`.
    pub fn status(&self, now: Instant) -> SplitBrainStatus {
        let age = now.saturating_duration_since(self.at);
        let a = &self.advert;
        SplitBrainStatus {
            vrid: a.vrid,
            source: self.source.to_string(),
            priority: a.priority,
            version: a.version,
            interval_ms: u64::try_from(a.interval.as_millis()).unwrap_or(u64::MAX),
            age_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
            message: format!(
                "split brain suspected: keepalived reports MASTER here but VRRP adverts for vrid {} from {} \
                 (priority {}) were seen {:.1} s ago",
                a.vrid,
                self.source,
                a.priority,
                age.as_secs_f64()
            ),
        }
    }
}

/// `split_brain` in the status JSON: present only while suspected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitBrainStatus {
    pub vrid: u8,
    /// The other node's address (the advert's IPv4 source).
    pub source: String,
    pub priority: u8,
    /// VRRP version of its adverts (2 or 3).
    pub version: u8,
    /// Its advert interval.
    pub interval_ms: u64,
    /// How long ago its last advert was seen.
    pub age_ms: u64,
    /// The warning line `status` prints.
    pub message: String,
}

/// `vrrp_watch` in the status JSON: present when `[role] vrid` is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VrrpWatchStatus {
    pub vrid: u8,
    /// The raw socket is open and read.
    pub listening: bool,
    /// Why not, when not ("no CAP_NET_RAW …").
    pub note: Option<String>,
    /// Adverts for our vrid from other nodes, since start (normal while BACKUP here).
    pub adverts_from_others: u64,
    /// Those of them seen while MASTER here (each one a split-brain sighting).
    pub adverts_while_master: u64,
}

/// The split-brain episodes, pure: sightings in, "suspected now?" out.
#[derive(Clone, Debug, Default)]
pub struct SplitBrain {
    vrid: Option<u8>,
    last: Option<Sighting>,
    listening: bool,
    note: Option<String>,
    from_others: u64,
    while_master: u64,
}

impl SplitBrain {
    pub fn new(vrid: Option<u8>) -> Self {
        SplitBrain { vrid, ..Default::default() }
    }

    /// An advert from `source` (not one of this host's addresses) at `now`, with this node's
    /// role then. The warning to log when it starts an episode.
    pub fn observe(&mut self, now: Instant, source: Ipv4Addr, advert: VrrpAdvert, role: Role) -> Option<String> {
        if Some(advert.vrid) != self.vrid {
            return None;
        }
        self.from_others = self.from_others.saturating_add(1);
        if role != Role::Primary {
            return None;
        }
        self.while_master = self.while_master.saturating_add(1);
        let new_episode = self.suspected(now, role).is_none();
        let s = Sighting { source, advert, at: now };
        self.last = Some(s);
        new_episode.then(|| s.status(now).message)
    }

    /// The sighting that makes split brain suspected at `now` with `role`: `None` once the role
    /// is not primary or the last sighting is older than 3 of its advert intervals.
    pub fn suspected(&self, now: Instant, role: Role) -> Option<&Sighting> {
        let s = self.last.as_ref()?;
        (role == Role::Primary && now.saturating_duration_since(s.at) < s.lifetime()).then_some(s)
    }

    /// The watch opened its socket (`None`) or could not (why).
    pub fn set_listening(&mut self, problem: Option<String>) {
        self.listening = problem.is_none();
        self.note = problem;
    }

    pub fn watch_status(&self) -> Option<VrrpWatchStatus> {
        let vrid = self.vrid?;
        Some(VrrpWatchStatus {
            vrid,
            listening: self.listening,
            note: self.note.clone(),
            adverts_from_others: self.from_others,
            adverts_while_master: self.while_master,
        })
    }
}

/// Whether `a` is one of this host's addresses (binding to it works; with
/// `ip_nonlocal_bind` on, every address looks local and nothing is suspected).
fn is_local(a: Ipv4Addr) -> bool {
    std::net::UdpSocket::bind((a, 0)).is_ok()
}

/// Interface indexes of this namespace but `lo` (`/sys/class/net/*/ifindex`).
fn interfaces() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else { return Vec::new() };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name() != "lo")
        .filter_map(|e| std::fs::read_to_string(e.path().join("ifindex")).ok())
        .filter_map(|s| s.trim().parse().ok())
        .take(256)
        .collect()
}

/// The raw VRRP socket, joined to 224.0.0.18 on every interface (keepalived joins its own
/// anyway; this makes the watch independent of it).
fn open_socket() -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(IPPROTO_VRRP))))?;
    s.set_nonblocking(true)?;
    for ix in interfaces() {
        let _ = s.join_multicast_v4_n(&VRRP_GROUP, &InterfaceIndexOrAddress::Index(ix));
    }
    Ok(s)
}

/// Reads VRRP adverts until aborted and records the foreign ones for vrid `vrid` in
/// `shared`'s [`SplitBrain`].
pub(super) async fn watch(vrid: u8, shared: Arc<super::Shared>) {
    // SAFETY (`register`): the Socket owns its descriptor, which stays open and the same until
    // the AsyncFd (and the Socket in it) is dropped.
    let registered = |s: socket2::Socket| unsafe { tokio::io::unix::AsyncFd::register(s) }.map_err(|e| e.into());
    let sock = match open_socket().and_then(registered) {
        Ok(s) => s,
        Err(e) => {
            let why = format!(
                "cannot open a raw VRRP socket ({e}): split brain for vrid {vrid} is not watched \
                 (needs root or CAP_NET_RAW)"
            );
            tracing::warn!("{why}");
            shared.with_lock(|_| shared.split_brain().set_listening(Some(why)));
            return;
        }
    };
    shared.with_lock(|_| shared.split_brain().set_listening(None));
    let mut buf = vec![0u8; MAX_PACKET];
    // The last source judged and whether it is ours, for a second: one bind() per source and
    // second at most, however many adverts it sends.
    let mut judged: Option<(Ipv4Addr, bool, Instant)> = None;
    let mut local = |src: Ipv4Addr| {
        let t = Instant::now();
        match judged {
            Some((a, l, at)) if a == src && t.saturating_duration_since(at) < Duration::from_secs(1) => l,
            _ => {
                let l = is_local(src);
                judged = Some((src, l, t));
                l
            }
        }
    };
    loop {
        let Ok(mut guard) = sock.readable().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        for _ in 0..READS_PER_WAKE {
            use std::io::Read;
            let n = match guard.get_inner().read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(e) => {
                    tracing::debug!("VRRP socket read: {e}");
                    break;
                }
            };
            let Some(pkt) = buf.get(..n) else { continue };
            match parse_ipv4(pkt) {
                Ok((src, advert)) if advert.vrid == vrid && !local(src) => {
                    shared.with_lock(|d| {
                        let t = super::now();
                        if let Some(w) = shared.split_brain().observe(t, src, advert, d.effective_role(t)) {
                            tracing::warn!("{w}");
                        }
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::trace!("not a VRRP advert we read: {e:?}"),
            }
        }
        // Yield between bursts, so a flood cannot hold the runtime thread.
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);

    /// A v2 or v3 advert for `vrid` with a correct checksum, in an IPv4 packet with `ttl`.
    pub(crate) fn packet(version: u8, vrid: u8, priority: u8, interval: u16, ttl: u8) -> Vec<u8> {
        let mut m = vec![version << 4 | 1, vrid, priority, 1];
        if version == 2 {
            m.extend_from_slice(&[0, u8::try_from(interval).unwrap_or(1), 0, 0]);
        } else {
            m.extend_from_slice(&(interval & 0x0fff).to_be_bytes());
            m.extend_from_slice(&[0, 0]);
        }
        m.extend_from_slice(&[203, 0, 113, 124]);
        if version == 2 {
            m.extend_from_slice(&[0; 8]);
        }
        let cs = if version == 2 {
            checksum(&[&m])
        } else {
            let len = u16::try_from(m.len()).unwrap().to_be_bytes();
            checksum(&[&SRC.octets(), &VRRP_GROUP.octets(), &[0, IPPROTO_VRRP], &len, &m])
        };
        m[6..8].copy_from_slice(&cs.to_be_bytes());
        let total = u16::try_from(20 + m.len()).unwrap().to_be_bytes();
        let mut ip = vec![0x45, 0xc0, total[0], total[1], 0, 0, 0, 0, ttl, IPPROTO_VRRP, 0, 0];
        ip.extend_from_slice(&SRC.octets());
        ip.extend_from_slice(&VRRP_GROUP.octets());
        ip.extend_from_slice(&m);
        ip
    }

    #[test]
    fn v2_and_v3_adverts_parse() {
        let (src, a) = parse_ipv4(&packet(2, 124, 100, 1, 255)).unwrap();
        assert_eq!(src, SRC);
        assert_eq!(a, VrrpAdvert { version: 2, vrid: 124, priority: 100, interval: Duration::from_secs(1) });
        let (_, a) = parse_ipv4(&packet(3, 7, 150, 100, 255)).unwrap();
        assert_eq!(a, VrrpAdvert { version: 3, vrid: 7, priority: 150, interval: Duration::from_millis(1000) });
    }

    /// Adverts captured from keepalived 2.2.7 (vrid 124, priority 100, 192.0.2.12; v2 with
    /// advert_int 1 and its 8 zero octets of authentication data, v3 with advert_int 0.5) by a
    /// raw socket on the other end of a veth pair, IPv4 header included.
    #[test]
    fn keepalived_s_own_adverts_parse() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        };
        let v2 = hex("45c0002800010000ff701886c000020ce0000012217c64010001b804c000027c0000000000000000");
        let v3 = hex("45c0002000010000ff70188ec000020ce0000012317c640100320538c000027c");
        let want = VrrpAdvert { version: 2, vrid: 124, priority: 100, interval: Duration::from_secs(1) };
        assert_eq!(parse_ipv4(&v2), Ok((SRC, want)));
        let want = VrrpAdvert { version: 3, vrid: 124, priority: 100, interval: Duration::from_millis(500) };
        assert_eq!(parse_ipv4(&v3), Ok((SRC, want)));
    }

    #[test]
    fn malformed_packets_are_refused() {
        let good = packet(3, 7, 150, 100, 255);
        for n in 0..good.len() {
            assert!(parse_ipv4(&good[..n]).is_err(), "truncated to {n} bytes");
        }
        assert_eq!(parse_ipv4(&packet(3, 7, 150, 100, 64)), Err(VrrpError::Ttl(64)));
        let mut v4 = good.clone();
        v4[20] = 0x41;
        assert_eq!(parse_ipv4(&v4), Err(VrrpError::Version(4)));
        let mut t = good.clone();
        t[20] = 0x32;
        assert_eq!(parse_ipv4(&t), Err(VrrpError::Type(2)));
        let mut c = good.clone();
        c[22] ^= 1;
        assert_eq!(parse_ipv4(&c), Err(VrrpError::Checksum));
        let mut p = good.clone();
        p[9] = 17;
        assert_eq!(parse_ipv4(&p), Err(VrrpError::NotVrrp));
        // Count of addresses beyond the packet.
        let mut many = packet(2, 1, 1, 1, 255);
        many[23] = 200;
        assert_eq!(parse_ipv4(&many), Err(VrrpError::Truncated));
        assert_eq!(parse_ipv4(&[0x60; 40]), Err(VrrpError::NotIpv4));
    }

    /// The fuzz target's checks over bounded random mutations of good packets.
    #[test]
    fn mutated_packets_never_panic_and_parse_to_their_octets() {
        let mut rng = crate::splitmix::SplitMix64::new(12);
        let seeds = [packet(2, 124, 100, 1, 255), packet(3, 7, 150, 100, 255)];
        for i in 0..20_000u32 {
            let mut p = seeds[(i % 2) as usize].clone();
            for _ in 0..(rng.next_u64() % 4) {
                let at = (rng.next_u64() % p.len() as u64) as usize;
                p[at] = rng.next_u64() as u8;
            }
            if rng.next_u64().is_multiple_of(8) {
                p.truncate((rng.next_u64() % p.len() as u64) as usize);
            }
            fuzz_one(&p);
        }
    }

    #[test]
    fn an_episode_starts_once_and_clears_after_three_intervals_or_with_the_role() {
        let t0 = Instant::now();
        let a = VrrpAdvert { version: 3, vrid: 124, priority: 100, interval: Duration::from_secs(1) };
        let mut sb = SplitBrain::new(Some(124));
        // Standby here: adverts from the MASTER are normal.
        assert_eq!(sb.observe(t0, SRC, a, Role::Standby), None);
        assert!(sb.suspected(t0, Role::Primary).is_none());
        // Another vrid: not ours.
        assert_eq!(sb.observe(t0, SRC, VrrpAdvert { vrid: 9, ..a }, Role::Primary), None);
        let w = sb.observe(t0, SRC, a, Role::Primary).expect("a new episode is logged");
        assert_eq!(
            w,
            "split brain suspected: keepalived reports MASTER here but VRRP adverts for vrid 124 from 192.0.2.12 \
             (priority 100) were seen 0.0 s ago"
        );
        let t = t0 + Duration::from_millis(300);
        assert_eq!(sb.observe(t, SRC, a, Role::Primary), None, "once per episode");
        let s =
            sb.suspected(t + Duration::from_millis(300), Role::Primary).unwrap().status(t + Duration::from_millis(300));
        assert_eq!(s.age_ms, 300);
        assert!(s.message.ends_with("were seen 0.3 s ago"), "{}", s.message);
        assert!(sb.suspected(t, Role::Standby).is_none(), "no longer MASTER: cleared");
        assert!(sb.suspected(t + Duration::from_millis(2999), Role::Primary).is_some());
        assert!(sb.suspected(t + Duration::from_secs(3), Role::Primary).is_none(), "3 intervals without one");
        assert!(sb.observe(t + Duration::from_secs(3), SRC, a, Role::Primary).is_some(), "a new episode");
        let w = sb.watch_status().unwrap();
        assert_eq!((w.adverts_from_others, w.adverts_while_master), (4, 3));
    }

    /// A named namespace of this test's, deleted at the end whatever happens.
    struct Netns(String);

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    fn ip(args: &[&str]) {
        let st = std::process::Command::new("ip").args(args).status().expect("run ip");
        assert!(st.success(), "ip {args:?} failed");
    }

    /// Sends the VRRP message `msg` to 224.0.0.18 from namespace `ns` (192.0.2.12 there).
    fn send_from(ns: &str, msg: Vec<u8>) {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let ns = ns.to_string();
        std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("the namespace");
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(IPPROTO_VRRP)))).unwrap();
            s.set_multicast_ttl_v4(255).unwrap();
            s.set_multicast_if_v4(&SRC).unwrap();
            s.send_to(&msg, &SockAddr::from(std::net::SocketAddrV4::new(VRRP_GROUP, 0))).expect("send the advert");
        })
        .join()
        .unwrap();
    }

    /// Two namespaces joined by a veth pair (192.0.2.11 here, 192.0.2.12 there); a crafted
    /// VRRP v3 advert for vrid 124 from there is split brain only while MASTER here.
    #[test]
    fn adverts_from_another_node_while_master_are_split_brain() {
        use super::super::controller_tests::{cfg, status_reaches as until};
        use super::super::loopback::tests::in_throwaway_netns;
        use super::super::HaController;
        let _ = in_throwaway_netns(|| async {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
            let name = format!("anycastd-vrrp-{}-{nanos}", std::process::id());
            ip(&["netns", "add", &name]);
            let _ns = Netns(name.clone());
            ip(&["link", "add", "vrrpa", "type", "veth", "peer", "name", "vrrpb"]);
            ip(&["addr", "add", "192.0.2.11/24", "dev", "vrrpa"]);
            ip(&["link", "set", "vrrpa", "up"]);
            ip(&["link", "set", "vrrpb", "netns", &name]);
            ip(&["-n", &name, "addr", "add", "192.0.2.12/24", "dev", "vrrpb"]);
            ip(&["-n", &name, "link", "set", "vrrpb", "up"]);
            let dir = std::env::temp_dir().join(format!("anycastd-vrrp-{}-{nanos}", std::process::id()));
            let role = crate::config::KeepalivedRole {
                vrid: Some(124),
                ..crate::config::KeepalivedRole::unwatched(dir.join("role"))
            };
            let cfg = cfg(&dir, crate::config::RoleSource::Keepalived(role), vec![]);
            let ha = HaController::start(cfg, None);
            until(&ha, "the watch listening", |s| s.vrrp_watch.as_ref().is_some_and(|w| w.listening)).await;
            let advert = packet(3, 124, 100, 100, 255)[20..].to_vec();
            // BACKUP here: the MASTER's adverts are normal.
            ha.notify_keepalived("BACKUP").await.unwrap();
            send_from(&name, advert.clone());
            until(&ha, "the advert read", |s| s.vrrp_watch.as_ref().is_some_and(|w| w.adverts_from_others == 1)).await;
            // Another vrid while MASTER: not ours.
            ha.notify_keepalived("MASTER").await.unwrap();
            send_from(&name, packet(3, 9, 100, 100, 255)[20..].to_vec());
            tokio::time::sleep(Duration::from_millis(100)).await;
            let s = ha.status();
            assert_eq!(s.split_brain, None);
            assert_eq!(s.vrrp_watch.as_ref().unwrap().adverts_while_master, 0);
            send_from(&name, advert);
            let s = until(&ha, "split brain suspected", |s| s.split_brain.is_some()).await;
            let sb = s.split_brain.unwrap();
            assert_eq!(
                (sb.vrid, sb.source.as_str(), sb.priority, sb.version, sb.interval_ms),
                (124, "192.0.2.12", 100, 3, 1000)
            );
            assert!(sb.message.starts_with("split brain suspected: keepalived reports MASTER here but VRRP adverts for vrid 124 from 192.0.2.12 (priority 100) were seen"), "{}", sb.message);
            // BACKUP again: cleared at once.
            ha.notify_keepalived("BACKUP").await.unwrap();
            assert_eq!(ha.status().split_brain, None);
            drop(ha);
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}
