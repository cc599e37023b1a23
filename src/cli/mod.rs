//! Operator commands other than the daemon itself. Each submodule owns one command's logic and
//! output; `main.rs` only parses arguments and maps results to exit codes.

pub mod bgp;
pub mod decode;
pub mod status;
