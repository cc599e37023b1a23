//! One full-decode function per BGP library, all with the same shape:
//! `fn(&[u8]) -> Result<Counts, String>` over a stream of concatenated BGP messages.
//! "Full" means every attribute the corpus carries and every prefix is materialised and
//! folded into [`Counts`], so neither the library nor the optimiser can skip work.
//! Errors name the decoder, the message index and byte offset, and the library's error.

mod anycastd;
mod bgpkit;
mod framing;
mod netgauze;
mod routecore;
mod zettabgp;

pub use anycastd::decode_anycastd;
pub use bgpkit::decode_bgpkit;
pub use framing::{decode_framing_only, frames};
pub use netgauze::decode_netgauze;
pub use routecore::decode_routecore;
pub use zettabgp::decode_zettabgp;

use crate::Counts;

/// A named decoder, for tables and loops.
pub type Decoder = fn(&[u8]) -> Result<Counts, String>;

/// The decoder under test.
pub const SUBJECT: (&str, Decoder) = ("anycastd", decode_anycastd);

/// All competitor decoders (not the framing-only ceiling), in report order.
pub const COMPETITORS: &[(&str, Decoder)] = &[
    ("zettabgp", decode_zettabgp),
    ("netgauze-bgp-pkt", decode_netgauze),
    ("bgpkit-parser", decode_bgpkit),
    ("routecore", decode_routecore),
];

fn v6_octets(a: std::net::Ipv6Addr) -> [u8; 16] {
    a.octets()
}
