//! Fuzz target `bfd_session`: arbitrary octets become a script of events (clock steps, timers,
//! AdminDown/Up, interval changes, raw octets, well-formed peer packets signed or not) driven
//! through one BFD session; `bfd::fuzz::fuzz_session` checks its invariants after every step
//! (detection deadline iff the remote was heard and the session is not AdminDown, no deadline
//! in the past, Poll only while Up, slow TX while not Up, our packets decode and never carry
//! P and F together) and panics if one breaks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    anycastd::bfd::fuzz::fuzz_session(data);
});
