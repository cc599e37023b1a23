//! anycastd: a minimal BGP-4 speaker that advertises an anycast prefix only while its node is
//! the healthy primary of an HA pair, and withdraws it the moment that stops being true.
//!
//! Module map (dependencies point down):
//! - [`wire`]: pure BGP message codec (bytes ⇄ messages, errors = NOTIFICATIONs).
//! - [`cli`]: the operator commands that are not the daemon (`decode`, …).
#![deny(unsafe_code)]

pub mod cli;
pub mod session;
pub mod wire;
