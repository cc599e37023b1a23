//! High availability: advertise the anycast prefixes exactly while this node is the healthy
//! primary of its HA pair and not drained. `decision` and `health` are pure.

pub mod decision;
pub mod health;

#[cfg(test)]
mod decision_tests;
pub mod probe;

#[cfg(test)]
mod probe_tests;
