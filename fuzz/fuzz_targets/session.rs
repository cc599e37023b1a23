//! Fuzz target `session`: arbitrary octets become a script of events (operator start/stop,
//! TCP outcomes, raw and canned peer messages, clock jumps, route changes) driven through one
//! session state machine with a fake clock; `session::fuzz_one` checks the FSM's invariants
//! after every step (valid states, Established only after the OPEN/KEEPALIVE exchange,
//! bounded receive buffer) and panics if one breaks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    anycastd::session::fuzz_one(data);
});
