//! Fuzz target `peer`: arbitrary octets become a script of events for one neighbor with two
//! connections (outbound attempts completing or failing, inbound connections accepted, canned
//! and raw peer messages on either, closes, clock jumps, route changes) driven through the
//! pure `session::Peer`; `session::fuzz_peer` checks its RFC 4271 §6.8 invariants after every
//! step (at most two connections, a collision resolved as soon as it can be, none beside an
//! Established session, state changes chaining per connection) and panics if one breaks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    anycastd::session::fuzz_peer(data);
});
