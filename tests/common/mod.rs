//! Helpers for the integration tests: hand-built BGP octets and a scripted raw BGP peer.

pub mod bgp_bytes;
pub mod raw_peer;
