//! BFD (RFC 5880), sans-IO: the Control packet codec ([`packet`]), authentication
//! ([`auth`]) and the session state machine ([`session`]). Events come in with the current
//! [`std::time::Instant`], effects leave as values; there are no sockets, no clocks read and
//! no tokio here. Jitter comes from a seeded PRNG in the session's configuration, so tests
//! are deterministic.
//!
//! Not here yet (issue 11, later parts): the UDP transport of RFC 5881/5883 (ports, TTL 255,
//! demultiplexing by discriminator), the BGP coupling of RFC 5882, configuration, status and
//! metrics. Not implemented at all: Demand mode and the Echo function (we always send
//! Required Min Echo RX Interval = 0 and never set D).
//!
//! The no-panic contract of `wire/` applies: the lints below forbid indexing, truncating
//! casts, unchecked arithmetic, `unwrap`/`expect` and `panic!` outside unit tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::cast_possible_truncation,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod auth;
mod endpoint;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod packet;
pub mod session;
#[cfg(test)]
mod testkit;

pub use auth::{AuthConfig, AuthConfigError, AuthKey, AuthState};
pub use endpoint::{Action, Bfd, Counters, Event};
pub use packet::{decode, AuthSection, AuthType, ControlPacket, Diag, Drop, State};
pub use session::{Session, SessionConfig, SLOW_TX};
