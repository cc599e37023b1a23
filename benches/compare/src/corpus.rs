//! Synthetic, deterministic BGP-4 "full table" corpus: a stream of concatenated UPDATE
//! messages (RFC 4271 §4.3, 4-octet AS session per RFC 6793, no ADD-PATH) packed the way
//! routers pack a table dump: 1–8 prefixes per UPDATE sharing one set of path attributes,
//! attributes in type-code order, IPv6 carried in MP_REACH_NLRI (RFC 4760).
//!
//! This file depends on `std` only so it can be copied into tests, fuzz seed generators and
//! benches unchanged. It owns the byte layout and the expected decode totals ([`Tally`]);
//! it must not depend on any BGP library (that would make the corpus agree with a decoder
//! by construction).
//!
//! Deliberate choices worth knowing when reusing it:
//! * MP_REACH_NLRI is always sent with the Extended Length flag (FRR does this); every other
//!   attribute uses it only when its value exceeds 255 octets ([`encode_update`]).
//! * Prefixes are random unicast space (IPv4 first octet 1–223, IPv6 inside 2000::/3), host
//!   bits zero, minimal octets. No withdrawals, no End-of-RIB marker.
//! * Communities inside one attribute are distinct (some decoders store them in sets).
//! * Next hops are documentation addresses (192.0.2.0/24, 2001:db8::/32, fe80::/64).

/// Maximum BGP message size without RFC 8654 extended messages.
pub const MAX_MESSAGE_LEN: usize = 4096;

const TYPE_UPDATE: u8 = 2;

const FLAG_OPTIONAL: u8 = 0x80;
const FLAG_TRANSITIVE: u8 = 0x40;
const FLAG_EXTENDED_LENGTH: u8 = 0x10;

const ATTR_ORIGIN: u8 = 1;
const ATTR_AS_PATH: u8 = 2;
const ATTR_NEXT_HOP: u8 = 3;
const ATTR_MED: u8 = 4;
const ATTR_COMMUNITIES: u8 = 8;
const ATTR_MP_REACH_NLRI: u8 = 14;
const ATTR_LARGE_COMMUNITIES: u8 = 32;

const AS_SEQUENCE: u8 = 2;
const AFI_IPV6: u16 = 2;
const SAFI_UNICAST: u8 = 1;

/// Running totals over decoded content. The generator fills one in while it writes; every
/// decoder under test fills one in while it reads; the two must be equal.
///
/// `checksum` is a wrapping sum over everything a full decode materialises: ORIGIN code,
/// every AS_PATH ASN, NEXT_HOP, MP_REACH global next hop (link-local is not summed: not
/// every decoder keeps it), MED, every community and large-community field, every prefix
/// (address and length).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// BGP messages seen (all UPDATEs here).
    pub messages: usize,
    /// Announced IPv4 unicast prefixes (classic NLRI field).
    pub v4_prefixes: usize,
    /// Announced IPv6 unicast prefixes (MP_REACH_NLRI).
    pub v6_prefixes: usize,
    /// Withdrawn prefixes of any family (always 0 for [`full_table`]).
    pub withdrawn: usize,
    /// ASNs across all AS_PATH segments.
    pub asns: usize,
    /// RFC 1997 communities plus RFC 8092 large communities.
    pub communities: usize,
    /// Wrapping sum, see the type documentation.
    pub checksum: u64,
}

fn fold128(x: u128) -> u64 {
    // Truncation is the point: fold the two halves together.
    ((x >> 64) as u64) ^ (x as u64)
}

impl Tally {
    fn add(&mut self, v: u64) {
        self.checksum = self.checksum.wrapping_add(v);
    }
    /// One BGP message.
    pub fn message(&mut self) {
        self.messages += 1;
    }
    /// ORIGIN value (0 IGP, 1 EGP, 2 INCOMPLETE).
    pub fn origin(&mut self, code: u8) {
        self.add(u64::from(code));
    }
    /// One AS_PATH ASN.
    pub fn asn(&mut self, asn: u32) {
        self.asns += 1;
        self.add(u64::from(asn));
    }
    /// MULTI_EXIT_DISC value.
    pub fn med(&mut self, med: u32) {
        self.add(u64::from(med));
    }
    /// IPv4 NEXT_HOP.
    pub fn next_hop_v4(&mut self, addr: [u8; 4]) {
        self.add(u64::from(u32::from_be_bytes(addr)));
    }
    /// Global IPv6 next hop from MP_REACH_NLRI.
    pub fn next_hop_v6(&mut self, global: [u8; 16]) {
        self.add(fold128(u128::from_be_bytes(global)));
    }
    /// One RFC 1997 community (as its 32-bit value).
    pub fn community(&mut self, value: u32) {
        self.communities += 1;
        self.add(u64::from(value));
    }
    /// One RFC 8092 large community.
    pub fn large_community(&mut self, global: u32, local1: u32, local2: u32) {
        self.communities += 1;
        self.add(u64::from(global) + u64::from(local1) + u64::from(local2));
    }
    fn v4_term(addr: [u8; 4], len: u8) -> u64 {
        (u64::from(u32::from_be_bytes(addr)) << 8) | u64::from(len)
    }
    fn v6_term(addr: [u8; 16], len: u8) -> u64 {
        fold128(u128::from_be_bytes(addr)).wrapping_add(u64::from(len))
    }
    /// One announced IPv4 prefix.
    pub fn v4_prefix(&mut self, addr: [u8; 4], len: u8) {
        self.v4_prefixes += 1;
        self.add(Self::v4_term(addr, len));
    }
    /// One announced IPv6 prefix.
    pub fn v6_prefix(&mut self, addr: [u8; 16], len: u8) {
        self.v6_prefixes += 1;
        self.add(Self::v6_term(addr, len));
    }
    /// One withdrawn IPv4 prefix.
    pub fn withdrawn_v4(&mut self, addr: [u8; 4], len: u8) {
        self.withdrawn += 1;
        self.add(Self::v4_term(addr, len));
    }
    /// One withdrawn IPv6 prefix.
    pub fn withdrawn_v6(&mut self, addr: [u8; 16], len: u8) {
        self.withdrawn += 1;
        self.add(Self::v6_term(addr, len));
    }
    /// Announced prefixes of both families.
    pub fn prefixes(&self) -> usize {
        self.v4_prefixes + self.v6_prefixes
    }
}

/// A generated stream plus the totals a correct decoder must report for it.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Concatenated BGP messages (header included), ready to feed a framer.
    pub bytes: Vec<u8>,
    /// Number of messages in `bytes`.
    pub messages: usize,
    /// IPv4 prefixes announced.
    pub v4_prefixes: usize,
    /// IPv6 prefixes announced.
    pub v6_prefixes: usize,
    /// Everything else a full decode must reproduce.
    pub expected: Tally,
}

/// Next hop and address family of one UPDATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// IPv4 unicast: NEXT_HOP attribute, prefixes in the classic NLRI field.
    V4([u8; 4]),
    /// IPv6 unicast: MP_REACH_NLRI with a 16- or 32-octet next hop, no classic NLRI.
    V6 {
        /// Global next hop.
        global: [u8; 16],
        /// Optional link-local next hop (RFC 2545 §3).
        link_local: Option<[u8; 16]>,
    },
}

/// One prefix: length and address (IPv4 uses the first 4 octets; host bits must be zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// Prefix length in bits.
    pub len: u8,
    /// Address octets, network byte order.
    pub addr: [u8; 16],
}

/// Content of one UPDATE message; see [`encode_update`].
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// ORIGIN code.
    pub origin: u8,
    /// One AS_SEQUENCE of 4-octet ASNs (at most 255).
    pub as_path: &'a [u32],
    /// Family and next hop.
    pub next_hop: NextHop,
    /// MULTI_EXIT_DISC, if any.
    pub med: Option<u32>,
    /// RFC 1997 communities (attribute omitted when empty).
    pub communities: &'a [u32],
    /// RFC 8092 large communities (attribute omitted when empty).
    pub large_communities: &'a [[u32; 3]],
    /// Announced prefixes of the family given by `next_hop`.
    pub prefixes: &'a [Prefix],
}

/// Why [`encode_update`] refused to write a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// AS_PATH has more than 255 ASNs; split it into several segments first.
    AsPathTooLong(usize),
    /// A prefix length exceeds 32 (IPv4) or 128 (IPv6).
    BadPrefixLength(u8),
    /// An attribute value exceeds 65535 octets.
    AttributeTooLong(usize),
    /// The message would exceed 4096 octets (RFC 4271 §4.1); use fewer prefixes.
    MessageTooLong(usize),
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AsPathTooLong(n) => write!(f, "AS_PATH of {n} ASNs exceeds 255 per segment"),
            Self::BadPrefixLength(l) => write!(f, "prefix length /{l} is too long for its family"),
            Self::AttributeTooLong(n) => write!(f, "attribute value of {n} octets exceeds 65535"),
            Self::MessageTooLong(n) => write!(f, "UPDATE of {n} octets exceeds {MAX_MESSAGE_LEN}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Appends one attribute; the Extended Length flag is set when `value` exceeds 255 octets
/// or when `force_extended` is true.
fn put_attr(out: &mut Vec<u8>, flags: u8, code: u8, value: &[u8], force_extended: bool) -> Result<(), EncodeError> {
    if force_extended || value.len() > 255 {
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::AttributeTooLong(value.len()))?;
        out.extend_from_slice(&[flags | FLAG_EXTENDED_LENGTH, code]);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        // value.len() <= 255 checked above.
        out.extend_from_slice(&[flags, code, value.len() as u8]);
    }
    out.extend_from_slice(value);
    Ok(())
}

/// Appends a prefix in RFC 4271 §4.3 form: length octet then the minimal number of octets.
fn put_prefix(out: &mut Vec<u8>, p: &Prefix, max_len: u8) -> Result<(), EncodeError> {
    if p.len > max_len {
        return Err(EncodeError::BadPrefixLength(p.len));
    }
    let octets = usize::from(p.len).div_ceil(8);
    out.push(p.len);
    out.extend_from_slice(&p.addr[..octets]);
    Ok(())
}

/// Appends one complete UPDATE message (header included) to `out` and returns its length.
/// On error `out` is left as it was.
pub fn encode_update(out: &mut Vec<u8>, r: &Route<'_>) -> Result<usize, EncodeError> {
    let start = out.len();
    let res = encode_update_inner(out, r);
    if res.is_err() {
        out.truncate(start);
    }
    res
}

fn encode_update_inner(out: &mut Vec<u8>, r: &Route<'_>) -> Result<usize, EncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0xff; 16]);
    out.extend_from_slice(&[0, 0, TYPE_UPDATE]); // length patched below
    out.extend_from_slice(&[0, 0]); // Withdrawn Routes Length
    let attrs_len_at = out.len();
    out.extend_from_slice(&[0, 0]); // Total Path Attribute Length, patched below
    let attrs_start = out.len();

    put_attr(out, FLAG_TRANSITIVE, ATTR_ORIGIN, &[r.origin], false)?;

    let n = u8::try_from(r.as_path.len()).map_err(|_| EncodeError::AsPathTooLong(r.as_path.len()))?;
    let mut scratch = Vec::with_capacity(2 + 4 * r.as_path.len());
    if n > 0 {
        scratch.extend_from_slice(&[AS_SEQUENCE, n]);
        for asn in r.as_path {
            scratch.extend_from_slice(&asn.to_be_bytes());
        }
    }
    put_attr(out, FLAG_TRANSITIVE, ATTR_AS_PATH, &scratch, false)?;

    if let NextHop::V4(nh) = r.next_hop {
        put_attr(out, FLAG_TRANSITIVE, ATTR_NEXT_HOP, &nh, false)?;
    }
    if let Some(med) = r.med {
        put_attr(out, FLAG_OPTIONAL, ATTR_MED, &med.to_be_bytes(), false)?;
    }
    if !r.communities.is_empty() {
        scratch.clear();
        for c in r.communities {
            scratch.extend_from_slice(&c.to_be_bytes());
        }
        put_attr(out, FLAG_OPTIONAL | FLAG_TRANSITIVE, ATTR_COMMUNITIES, &scratch, false)?;
    }
    if let NextHop::V6 { global, link_local } = r.next_hop {
        scratch.clear();
        scratch.extend_from_slice(&AFI_IPV6.to_be_bytes());
        scratch.push(SAFI_UNICAST);
        match link_local {
            Some(ll) => {
                scratch.push(32);
                scratch.extend_from_slice(&global);
                scratch.extend_from_slice(&ll);
            }
            None => {
                scratch.push(16);
                scratch.extend_from_slice(&global);
            }
        }
        scratch.push(0); // Reserved
        for p in r.prefixes {
            put_prefix(&mut scratch, p, 128)?;
        }
        put_attr(out, FLAG_OPTIONAL, ATTR_MP_REACH_NLRI, &scratch, true)?;
    }
    if !r.large_communities.is_empty() {
        scratch.clear();
        for lc in r.large_communities {
            for v in lc {
                scratch.extend_from_slice(&v.to_be_bytes());
            }
        }
        put_attr(out, FLAG_OPTIONAL | FLAG_TRANSITIVE, ATTR_LARGE_COMMUNITIES, &scratch, false)?;
    }

    let attrs_len = out.len() - attrs_start;
    let attrs_len16 = u16::try_from(attrs_len).map_err(|_| EncodeError::MessageTooLong(attrs_len))?;
    out[attrs_len_at..attrs_len_at + 2].copy_from_slice(&attrs_len16.to_be_bytes());

    if let NextHop::V4(_) = r.next_hop {
        for p in r.prefixes {
            put_prefix(out, p, 32)?;
        }
    }

    let total = out.len() - start;
    if total > MAX_MESSAGE_LEN {
        return Err(EncodeError::MessageTooLong(total));
    }
    // total <= 4096 checked above.
    out[start + 16..start + 18].copy_from_slice(&(total as u16).to_be_bytes());
    Ok(total)
}

/// splitmix64: tiny, fast, good enough for shaping test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0), by multiply-shift.
    fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.next_u64() as u32) * u64::from(n)) >> 32) as u32
    }
    /// Picks from a table of (value, weight) pairs.
    fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u32 = table.iter().map(|&(_, w)| w).sum();
        let mut x = self.below(total);
        for &(v, w) in table {
            if x < w {
                return v;
            }
            x -= w;
        }
        table[table.len() - 1].0
    }
}

/// IPv4 prefix length, per mille. About 55 % /24, a handful longer than /24.
#[rustfmt::skip]
const V4_LENGTHS: &[(u8, u32)] = &[
    (8, 1), (9, 1), (10, 2), (11, 4), (12, 8), (13, 10), (14, 10), (15, 15),
    (16, 40), (17, 20), (18, 25), (19, 35), (20, 50), (21, 50), (22, 100), (23, 80),
    (24, 545), (25, 1), (26, 1), (28, 1), (32, 1),
];

/// IPv6 prefix length, per mille. About 55 % /48, then /32, /44, /40 …
#[rustfmt::skip]
const V6_LENGTHS: &[(u8, u32)] = &[
    (16, 1), (20, 2), (24, 3), (28, 5), (29, 20), (30, 5), (31, 3), (32, 120),
    (33, 10), (34, 10), (35, 10), (36, 30), (40, 50), (42, 15), (44, 60), (45, 10),
    (46, 25), (47, 20), (48, 551), (52, 10), (56, 15), (60, 5), (64, 20),
];

const PREFIXES_PER_UPDATE: &[(usize, u32)] = &[(1, 35), (2, 20), (3, 12), (4, 10), (5, 7), (6, 6), (7, 5), (8, 5)];
const AS_PATH_LEN: &[(usize, u32)] = &[(1, 5), (2, 15), (3, 25), (4, 25), (5, 15), (6, 8), (7, 4), (8, 3)];
const COMMUNITY_COUNT: &[(usize, u32)] = &[(0, 40), (1, 15), (2, 15), (3, 10), (4, 8), (5, 6), (6, 6)];
const ORIGINS: &[(u8, u32)] = &[(0, 85), (1, 2), (2, 13)];

/// Upstream (first) AS of every path: the peer this "table" was learnt from.
const PEER_AS: u32 = 64500;

fn mask(addr: &mut [u8], len: u8) {
    let len = usize::from(len);
    for (i, b) in addr.iter_mut().enumerate() {
        let bit = i * 8;
        if bit >= len {
            *b = 0;
        } else if bit + 8 > len {
            *b &= 0xffu8 << (8 - (len - bit));
        }
    }
}

fn random_v4(rng: &mut Rng) -> Prefix {
    let len = rng.weighted(V4_LENGTHS);
    let mut addr = [0u8; 16];
    let r = rng.next_u64().to_be_bytes();
    addr[..4].copy_from_slice(&r[..4]);
    addr[0] = 1 + (rng.below(223) as u8); // 1..=223: unicast, not class D/E
    mask(&mut addr[..4], len);
    Prefix { len, addr }
}

/// First 16 bits of IPv6 prefixes: RIR blocks inside 2000::/3.
const V6_TOP: &[u16] = &[
    0x2001, 0x2400, 0x2401, 0x2403, 0x2600, 0x2602, 0x2604, 0x2605, 0x2607, 0x2800, 0x2803, 0x2a00, 0x2a01, 0x2a02,
    0x2a03, 0x2a05, 0x2a06, 0x2a0e, 0x2c0f,
];

fn random_v6(rng: &mut Rng) -> Prefix {
    let len = rng.weighted(V6_LENGTHS);
    let mut addr = [0u8; 16];
    addr[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    let top = V6_TOP[rng.below(V6_TOP.len() as u32) as usize];
    addr[..2].copy_from_slice(&top.to_be_bytes());
    mask(&mut addr, len);
    Prefix { len, addr }
}

fn random_asn(rng: &mut Rng) -> u32 {
    if rng.below(10) < 7 {
        // 16-bit range, avoiding 0 and AS_TRANS (23456).
        match 1 + rng.below(64_510) {
            23_456 => 23_457,
            a => a,
        }
    } else {
        131_072 + rng.below(270_000)
    }
}

/// Generates `v4` IPv4 and `v6` IPv6 unicast prefixes as a stream of UPDATE messages.
/// The same `seed` always gives the same bytes. Families are interleaved in proportion.
pub fn full_table(seed: u64, v4: usize, v6: usize) -> Corpus {
    table(seed, v4, v6, &Shape::default())
}

/// How [`table`] departs from [`full_table`]'s stream, for replaying it to a real BGP speaker
/// (`interop/tools/feeder`): the defaults give exactly [`full_table`]'s bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// First AS of every AS_PATH (an eBGP receiver may enforce that it is the peer's).
    pub peer_as: u32,
    /// Replaces every IPv4 NEXT_HOP (a receiver drops routes whose next hop it cannot reach).
    pub next_hop4: Option<[u8; 4]>,
    /// Replaces every global IPv6 next hop, and then no link-local one is sent.
    pub next_hop6: Option<[u8; 16]>,
    /// No prefix twice, none in 127/8 or 169.254/16 (a receiver ignores them): a receiver
    /// that keeps a table (BIRD) counts distinct prefixes, so a
    /// repeated one would never let it reach the total. A prefix drawn again is redrawn (at
    /// most [`REDRAWS`] times, then left out: the [`Corpus`] counts say what was generated).
    pub unique: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Self { peer_as: PEER_AS, next_hop4: None, next_hop6: None, unique: false }
    }
}

/// Redraws of a repeated prefix before [`table`] leaves it out (the space is ~10⁸ times
/// larger than a table: a second draw is almost always new).
pub const REDRAWS: usize = 64;

/// [`full_table`] shaped by `shape`; see [`Shape`].
pub fn table(seed: u64, v4: usize, v6: usize, shape: &Shape) -> Corpus {
    let mut rng = Rng(seed);
    let mut seen = std::collections::HashSet::new();
    let mut bytes = Vec::with_capacity((v4 + v6) * 32 + 4096);
    let mut t = Tally::default();
    let (mut left4, mut left6) = (v4, v6);

    let mut prefixes: Vec<Prefix> = Vec::with_capacity(8);
    let mut as_path: Vec<u32> = Vec::with_capacity(8);
    let mut communities: Vec<u32> = Vec::with_capacity(6);
    let mut large: Vec<[u32; 3]> = Vec::with_capacity(3);

    while left4 + left6 > 0 {
        // Bounded: every iteration consumes at least one prefix.
        let pick_v6 = (rng.next_u64() % (left4 + left6) as u64) < left6 as u64;
        let left = if pick_v6 { &mut left6 } else { &mut left4 };
        let n = rng.weighted(PREFIXES_PER_UPDATE).min(*left);
        *left -= n;

        prefixes.clear();
        for _ in 0..n {
            let mut draw = || if pick_v6 { random_v6(&mut rng) } else { random_v4(&mut rng) };
            if !shape.unique {
                prefixes.push(draw());
                continue;
            }
            // A receiver ignores host-scope space (BIRD: 127/8, 169.254/16): never counted.
            let routable = |p: &Prefix| pick_v6 || (p.addr[0] != 127 && p.addr[..2] != [169, 254]);
            let fresh = |p: &Prefix| routable(p) && seen.insert((p.len, p.addr));
            if let Some(p) = (0..=REDRAWS).map(|_| draw()).find(fresh) {
                prefixes.push(p);
            }
        }
        if prefixes.is_empty() {
            continue;
        }
        let origin = rng.weighted(ORIGINS);
        as_path.clear();
        as_path.push(shape.peer_as);
        for _ in 1..rng.weighted(AS_PATH_LEN) {
            as_path.push(random_asn(&mut rng));
        }
        let next_hop = if pick_v6 {
            let mut global = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            global[15] = 1 + rng.below(4) as u8;
            let link_local = (rng.below(10) < 4).then(|| {
                let mut ll = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                ll[15] = global[15];
                ll
            });
            NextHop::V6 { global, link_local }
        } else {
            NextHop::V4([192, 0, 2, 1 + rng.below(4) as u8])
        };
        let next_hop = match (next_hop, shape.next_hop4, shape.next_hop6) {
            (NextHop::V4(_), Some(a), _) => NextHop::V4(a),
            (NextHop::V6 { .. }, _, Some(global)) => NextHop::V6 { global, link_local: None },
            (nh, _, _) => nh,
        };
        let med = (rng.below(10) < 3).then(|| rng.below(1000));
        communities.clear();
        let nc = rng.weighted(COMMUNITY_COUNT);
        if nc > 0 {
            let asn16 = 1 + rng.below(64_510);
            let (tag0, step) = (rng.below(30_000), 1 + rng.below(1000));
            for i in 0..nc as u32 {
                // tag0 + 5 * 1000 < 65535: distinct, no overflow.
                let asn = if i % 2 == 0 { asn16 } else { PEER_AS };
                communities.push((asn << 16) | (tag0 + i * step));
            }
        }
        large.clear();
        if rng.below(20) == 0 {
            let global = random_asn(&mut rng);
            let l1 = rng.below(1000);
            for i in 0..=rng.below(3) {
                large.push([global, l1, i]);
            }
        }

        let route = Route {
            origin,
            as_path: &as_path,
            next_hop,
            med,
            communities: &communities,
            large_communities: &large,
            prefixes: &prefixes,
        };
        // Cannot fail: at most 8 ASNs, 6 communities, 3 large communities and 8 prefixes
        // make an UPDATE of at most ~330 octets.
        encode_update(&mut bytes, &route).expect("generator keeps UPDATEs far below 4096 octets");

        t.message();
        t.origin(origin);
        as_path.iter().for_each(|&a| t.asn(a));
        match next_hop {
            NextHop::V4(a) => t.next_hop_v4(a),
            NextHop::V6 { global, .. } => t.next_hop_v6(global),
        }
        if let Some(m) = med {
            t.med(m);
        }
        communities.iter().for_each(|&c| t.community(c));
        large.iter().for_each(|l| t.large_community(l[0], l[1], l[2]));
        for p in &prefixes {
            if pick_v6 {
                t.v6_prefix(p.addr, p.len);
            } else {
                let mut a = [0u8; 4];
                a.copy_from_slice(&p.addr[..4]);
                t.v4_prefix(a, p.len);
            }
        }
    }

    Corpus { bytes, messages: t.messages, v4_prefixes: t.v4_prefixes, v6_prefixes: t.v6_prefixes, expected: t }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], len: u8) -> Prefix {
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&a);
        Prefix { len, addr }
    }

    #[test]
    fn ipv4_update_matches_hand_encoding() {
        let route = Route {
            origin: 0,
            as_path: &[64500, 196_608],
            next_hop: NextHop::V4([192, 0, 2, 1]),
            med: Some(10),
            communities: &[0xfbf4_0064],
            large_communities: &[[196_608, 1, 2]],
            prefixes: &[v4([198, 51, 100, 0], 24), v4([203, 0, 0, 0], 15)],
        };
        let mut out = Vec::new();
        let n = encode_update(&mut out, &route).unwrap();
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[0xff; 16][..],
            &[0x00, 83, 0x02],                       // length 83, UPDATE
            &[0x00, 0x00],                           // no withdrawn routes
            &[0x00, 53],                             // 53 octets of attributes
            &[0x40, 1, 1, 0],                        // ORIGIN IGP
            &[0x40, 2, 10, 2, 2, 0, 0, 0xfb, 0xf4, 0, 3, 0, 0], // AS_SEQUENCE 64500 196608
            &[0x40, 3, 4, 192, 0, 2, 1],             // NEXT_HOP
            &[0x80, 4, 4, 0, 0, 0, 10],              // MED 10
            &[0xc0, 8, 4, 0xfb, 0xf4, 0x00, 0x64],   // COMMUNITIES 64500:100
            &[0xc0, 32, 12, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2], // LARGE 196608:1:2
            &[24, 198, 51, 100],                     // 198.51.100.0/24
            &[15, 203, 0],                           // 203.0.0.0/15
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(n, 83);
        assert_eq!(usize::from(u16::from_be_bytes([out[16], out[17]])), out.len());
    }

    #[test]
    fn ipv6_update_uses_mp_reach_with_extended_length() {
        let ll = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let global = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut addr = [0u8; 16];
        addr[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34]);
        let route = Route {
            origin: 2,
            as_path: &[64500],
            next_hop: NextHop::V6 { global, link_local: Some(ll) },
            med: None,
            communities: &[],
            large_communities: &[],
            prefixes: &[Prefix { len: 48, addr }],
        };
        let mut out = Vec::new();
        encode_update(&mut out, &route).unwrap();
        let mut mp = vec![0x90, 14, 0, 44, 0, 2, 1, 32];
        mp.extend_from_slice(&global);
        mp.extend_from_slice(&ll);
        mp.extend_from_slice(&[0, 48, 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34]);
        let mut expected = vec![0xff; 16];
        expected.extend_from_slice(&[0, 19 + 4 + 4 + 9 + 48, 2, 0, 0, 0, 4 + 9 + 48]);
        expected.extend_from_slice(&[0x40, 1, 1, 2]);
        expected.extend_from_slice(&[0x40, 2, 6, 2, 1, 0, 0, 0xfb, 0xf4]);
        expected.extend_from_slice(&mp);
        assert_eq!(out, expected);
    }

    #[test]
    fn long_attribute_gets_extended_length_flag() {
        let path: Vec<u32> = (1..=64).collect(); // 2 + 256 octets > 255
        let route = Route {
            origin: 0,
            as_path: &path,
            next_hop: NextHop::V4([192, 0, 2, 1]),
            med: None,
            communities: &[],
            large_communities: &[],
            prefixes: &[v4([198, 51, 100, 0], 24)],
        };
        let mut out = Vec::new();
        encode_update(&mut out, &route).unwrap();
        // header 19 + withdrawn len 2 + attr len 2 + ORIGIN 4 = offset 27
        assert_eq!(&out[27..31], &[0x50, 2, 0x01, 0x02]);
        assert_eq!(out[31], AS_SEQUENCE);
        assert_eq!(out[32], 64);
    }

    #[test]
    fn encode_rejects_oversized_and_leaves_buffer_untouched() {
        let path: Vec<u32> = (1..=256).collect();
        let route = Route {
            origin: 0,
            as_path: &path,
            next_hop: NextHop::V4([192, 0, 2, 1]),
            med: None,
            communities: &[],
            large_communities: &[],
            prefixes: &[],
        };
        let mut out = vec![7u8];
        assert_eq!(encode_update(&mut out, &route), Err(EncodeError::AsPathTooLong(256)));
        assert_eq!(out, vec![7u8]);
        let many: Vec<Prefix> = (0..1100).map(|_| v4([198, 51, 100, 0], 24)).collect();
        let route = Route { as_path: &[1], prefixes: &many, ..route };
        assert!(matches!(encode_update(&mut out, &route), Err(EncodeError::MessageTooLong(_))));
        let route = Route { prefixes: &[v4([0; 4], 33)], ..route };
        assert_eq!(encode_update(&mut out, &route), Err(EncodeError::BadPrefixLength(33)));
        assert_eq!(out, vec![7u8]);
    }

    /// The first path attribute of `attrs`: its type code, its value and the attributes after it.
    fn split_attribute(attrs: &[u8]) -> (u8, &[u8], &[u8]) {
        let (flags, code) = (attrs[0], attrs[1]);
        let (vlen, hdr) = if flags & FLAG_EXTENDED_LENGTH != 0 {
            (usize::from(u16::from_be_bytes([attrs[2], attrs[3]])), 4)
        } else {
            (usize::from(attrs[2]), 3)
        };
        let (value, next) = attrs[hdr..].split_at(vlen);
        (code, value, next)
    }

    /// Minimal independent walker: frames messages and counts prefixes.
    fn walk(bytes: &[u8]) -> (usize, usize, usize) {
        let (mut msgs, mut p4, mut p6) = (0, 0, 0);
        let mut rest = bytes;
        while !rest.is_empty() {
            assert!(rest[..16].iter().all(|&b| b == 0xff), "marker");
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            assert!((23..=MAX_MESSAGE_LEN).contains(&len));
            assert_eq!(rest[18], TYPE_UPDATE);
            let (msg, tail) = rest.split_at(len);
            rest = tail;
            msgs += 1;
            assert_eq!(&msg[19..21], &[0, 0]);
            let alen = usize::from(u16::from_be_bytes([msg[21], msg[22]]));
            let (mut attrs, mut nlri) = msg[23..].split_at(alen);
            let mut last_code = 0;
            while !attrs.is_empty() {
                let (code, value, next) = split_attribute(attrs);
                assert!(code > last_code, "type-code order");
                last_code = code;
                if code == ATTR_MP_REACH_NLRI {
                    let nhl = usize::from(value[3]);
                    let mut n = &value[5 + nhl..];
                    while !n.is_empty() {
                        assert!(n[0] <= 128);
                        let o = usize::from(n[0]).div_ceil(8);
                        n = &n[1 + o..];
                        p6 += 1;
                    }
                }
                attrs = next;
            }
            while !nlri.is_empty() {
                assert!(nlri[0] <= 32);
                let o = usize::from(nlri[0]).div_ceil(8);
                nlri = &nlri[1 + o..];
                p4 += 1;
            }
        }
        (msgs, p4, p6)
    }

    #[test]
    fn small_table_is_well_formed_and_counts_match() {
        let c = full_table(7, 5000, 1000);
        assert_eq!(c.v4_prefixes, 5000);
        assert_eq!(c.v6_prefixes, 1000);
        assert_eq!(walk(&c.bytes), (c.messages, 5000, 1000));
        assert!(c.messages > 6000 / 8 && c.messages < 6000);
        assert!(c.expected.asns >= c.messages);
        assert!(c.expected.communities > 0);
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        let a = full_table(1, 300, 100);
        let b = full_table(1, 300, 100);
        let c = full_table(2, 300, 100);
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.expected, b.expected);
        assert_ne!(a.bytes, c.bytes);
    }

    #[test]
    fn shaped_table_defaults_to_the_full_table() {
        let a = full_table(5, 3000, 600);
        let b = table(5, 3000, 600, &Shape::default());
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.expected, b.expected);
    }

    #[test]
    fn shaped_table_is_unique_with_its_peer_as_and_next_hops() {
        let shape = Shape {
            peer_as: 65000,
            next_hop4: Some([192, 0, 2, 9]),
            next_hop6: Some([0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]),
            unique: true,
        };
        // Many short prefixes (few /8s exist): without redraws this size repeats some.
        let plain = full_table(3, 50_000, 10_000);
        let c = table(3, 50_000, 10_000, &shape);
        assert_eq!((c.v4_prefixes, c.v6_prefixes), (50_000, 10_000));
        assert_eq!(walk(&c.bytes), (c.messages, 50_000, 10_000));
        let (mut seen, mut rest, mut repeats_in_plain) = (std::collections::HashSet::new(), &c.bytes[..], 0);
        let mut plain_seen = std::collections::HashSet::new();
        for_each_prefix(&plain.bytes, |p| repeats_in_plain += usize::from(!plain_seen.insert(p)));
        assert!(repeats_in_plain > 0, "the test must be able to fail");
        for_each_prefix(&c.bytes, |p| assert!(seen.insert(p.clone()), "repeated {p:?}"));
        for_each_prefix(&c.bytes, |p| {
            assert!(p.0 || (p.2.first() != Some(&127) && p.2.get(..2) != Some(&[169, 254])), "{p:?}")
        });
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            let msg = &rest[..len];
            rest = &rest[len..];
            // ORIGIN (4 octets) at 23, then AS_PATH: flags, code, length, AS_SEQUENCE, count, ASN.
            assert_eq!(&msg[27..29], &[0x40, 2]);
            assert_eq!(u32::from_be_bytes([msg[32], msg[33], msg[34], msg[35]]), 65000);
            let nh4 = msg.windows(7).any(|w| w == [0x40, 3, 4, 192, 0, 2, 9]);
            let nh6 = msg
                .windows(20)
                .any(|w| w[..4] == [0, 2, 1, 16] && Some(&w[4..]) == shape.next_hop6.as_ref().map(|a| &a[..]));
            assert!(nh4 || nh6, "next hop replaced: {msg:02x?}");
        }
    }

    /// Calls `f` with (family, length, address octets) of every announced prefix.
    fn for_each_prefix(bytes: &[u8], mut f: impl FnMut((bool, u8, Vec<u8>))) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            let (msg, tail) = rest.split_at(len);
            rest = tail;
            let alen = usize::from(u16::from_be_bytes([msg[21], msg[22]]));
            let (mut attrs, mut nlri) = msg[23..].split_at(alen);
            let mut walk_nlri = |mut n: &[u8], v6: bool| {
                while !n.is_empty() {
                    let o = usize::from(n[0]).div_ceil(8);
                    f((v6, n[0], n[1..1 + o].to_vec()));
                    n = &n[1 + o..];
                }
            };
            while !attrs.is_empty() {
                let (code, value, next) = split_attribute(attrs);
                if code == ATTR_MP_REACH_NLRI {
                    walk_nlri(&value[5 + usize::from(value[3])..], true);
                }
                attrs = next;
            }
            walk_nlri(std::mem::take(&mut nlri), false);
        }
    }

    #[test]
    fn empty_table_is_empty() {
        let c = full_table(1, 0, 0);
        assert!(c.bytes.is_empty());
        assert_eq!(c.messages, 0);
    }

    #[test]
    fn prefix_lengths_look_like_a_real_table() {
        let c = full_table(3, 20_000, 5_000);
        let mut hist4 = [0usize; 33];
        let mut hist6 = [0usize; 129];
        let mut rng = Rng(3);
        // Re-derive the distributions from the generator's own functions.
        for _ in 0..20_000 {
            let p = random_v4(&mut rng);
            hist4[usize::from(p.len)] += 1;
            assert!(p.addr[0] >= 1 && p.addr[0] <= 223);
            let mut m = p.addr;
            mask(&mut m[..4], p.len);
            assert_eq!(m, p.addr, "host bits zero");
        }
        for _ in 0..5_000 {
            let p = random_v6(&mut rng);
            hist6[usize::from(p.len)] += 1;
            assert_eq!(p.addr[0] & 0xe0, 0x20, "inside 2000::/3");
        }
        assert!(hist4[24] > 10_000 && hist4[24] < 12_000, "{}", hist4[24]);
        assert!(hist4[25..].iter().sum::<usize>() < 200);
        assert!(hist4[..8].iter().sum::<usize>() == 0);
        assert!(hist6[48] > 2_500 && hist6[48] < 3_000, "{}", hist6[48]);
        assert!(hist6[..16].iter().sum::<usize>() + hist6[65..].iter().sum::<usize>() == 0);
        assert_eq!(c.v4_prefixes, 20_000);
    }

    #[test]
    fn mask_clears_host_bits() {
        let mut a = [0xff; 4];
        mask(&mut a, 15);
        assert_eq!(a, [0xff, 0xfe, 0, 0]);
        let mut b = [0xff; 4];
        mask(&mut b, 32);
        assert_eq!(b, [0xff; 4]);
        let mut z = [0xff; 4];
        mask(&mut z, 0);
        assert_eq!(z, [0; 4]);
    }
}
