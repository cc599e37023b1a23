//! The tokio edge of the BGP speaker: sockets and timers around the pure session state
//! machine. One task per neighbor owns its socket and its `session::Session`; a listener
//! accepts configured neighbors only. Nothing here decides what to advertise (`ha/` does).

pub mod transport;
