//! Fuzz target `vrrp`: arbitrary octets through the VRRP v2/v3 advert parser of the
//! split-brain watch (`ha::vrrp`), as an IPv4 packet from a raw socket and as a bare VRRP
//! message. Beyond "no panic": a parsed advert's source, version, vrid and priority are the
//! input's octets, and its TTL was 255 (`ha::vrrp::fuzz_one`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    anycastd::ha::vrrp::fuzz_one(data);
});
