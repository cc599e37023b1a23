//! High availability: advertise the anycast prefixes exactly while this node is the healthy
//! primary of its HA pair and not drained. `decision` and `health` are pure.

pub mod decision;
pub mod health;
pub mod probe;
pub mod role;
pub mod state;

#[cfg(test)]
mod decision_tests;
#[cfg(test)]
mod probe_tests;
