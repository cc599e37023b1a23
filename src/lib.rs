//! anycastd: a minimal BGP-4 speaker that advertises an anycast prefix only while its node is
//! the healthy primary of an HA pair, and withdraws it the moment that stops being true.
//!
//! Module map (dependencies point down):
//! - [`types`]: the validated BGP values every layer shares (AS, hold time, router ID, MD5 key).
//! - [`wire`]: pure BGP message codec (bytes ⇄ messages, errors = NOTIFICATIONs).
//! - [`session`]: pure sans-IO BGP session FSM (RFC 4271 §8): events in, actions out.
//! - [`bfd`]: pure sans-IO BFD (RFC 5880): Control packet codec, authentication, session FSM.
//! - [`config`]: the TOML configuration, parsed once into typed values; `bgp set` editing.
//! - [`capture`]: the pcap/pcapng reader (`md5 verify`, `decode --pcap`).
//! - [`md5verify`]: RFC 2385 digest checks over pcap captures (`anycastd md5 verify`).
//! - [`speaker`]: the tokio edge: sockets (TCP-MD5, GTSM), one task per neighbor.
//! - [`ha`]: health checks, role sources, the advertise decision (pure) and loopback addresses.
//! - [`splitmix`]: the seeded PRNG behind every jitter.
//! - [`log_limit`]: a pure, bounded per-key rate limiter for repeated log lines.
//! - [`log_writer`]: the daemon's log sink, a bounded queue and a writer thread (a slow stderr
//!   never stalls the runtime; lines over the bound are dropped and counted).
//! - [`status`]: the typed status document the daemon serves and `status`/`/metrics` read.
//! - [`control`]: the root-only Unix socket (status readable by `[control] group`) and its JSON protocol.
//! - [`daemon`]: `anycastd run`: wires config, speaker and signals together.
//! - [`resident`]: start-up's code pages unmapped once it is done (the idle resident set).
//! - [`systemd`]: sd_notify READY/STATUS/WATCHDOG without a library.
//! - [`metrics`]: the optional Prometheus endpoint (prometheus-client encoding).
//! - [`accept`]: accept-error back-off and connection caps for the local endpoints.
//! - [`cli`]: the operator commands that are not the daemon (`decode`, …).
#![deny(unsafe_code)]

// First: `code_points!` is used by the codecs declared after it (wire/, bfd/).
#[macro_use]
mod code_point;

pub mod accept;
pub mod bfd;
pub mod capture;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod ha;
pub mod liveness;
pub mod log_limit;
pub mod log_writer;
pub mod md5verify;
pub mod metrics;
pub mod resident;
pub mod session;
pub mod speaker;
pub mod splitmix;
pub mod status;
pub mod systemd;
#[doc(hidden)]
pub mod test_env;
pub mod types;
pub mod wire;
