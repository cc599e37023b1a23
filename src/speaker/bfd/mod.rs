//! The tokio edge of BFD: UDP sockets and timers around the pure `crate::bfd` sessions
//! (RFC 5881 single hop, RFC 5883 multihop).

pub mod socket;
