//! Helpers for the integration tests: hand-built BGP octets, a scripted raw BGP peer and the
//! speaker-side status polls.

pub mod bgp_bytes;
pub mod log_capture;
pub mod one_peer;
pub mod raw_peer;
pub mod speaker_status;
