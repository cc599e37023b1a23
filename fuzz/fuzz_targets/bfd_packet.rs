//! Fuzz target `bfd_packet`: arbitrary octets through the BFD Control packet decoder
//! (RFC 5880 §4.1–4.4, §6.8.6 packet checks). Beyond "no panic": a decoded packet encodes,
//! decodes to itself, and its octets are the input's when Length covers exactly the header and
//! authentication section (`bfd::fuzz::fuzz_packet`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    anycastd::bfd::fuzz::fuzz_packet(data);
});
