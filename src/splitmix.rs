//! SplitMix64 (Steele, Lea, Flood 2014): the tiny seeded PRNG behind every jitter in anycastd
//! (IdleHold backoff, BFD transmission intervals). 64 bits of state, good enough for jitter,
//! deterministic for a given seed so tests are reproducible. Not for anything secret.

/// A seed that differs between processes and calls, from std's per-process random hash keys
/// (`RandomState`, seeded by the OS): for discriminators and jitter, nothing secret.
pub fn os_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::process::id())
}

/// The generator state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
