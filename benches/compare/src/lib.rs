//! Decode-throughput benchmark support for anycastd's BGP decoder: a synthetic full-table
//! corpus ([`corpus`]) and one full-decode function per competing Rust BGP library
//! ([`decoders`]). Every decoder reports a [`Counts`] that must equal the corpus's own
//! [`corpus::Tally`]; that equality is what makes the throughput numbers comparable.

pub mod corpus;
pub mod decoders;

/// What a full decode reports; identical in meaning to the generator's tally.
pub type Counts = corpus::Tally;
