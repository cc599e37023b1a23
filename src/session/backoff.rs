//! IdleHoldTime with exponential backoff and jitter: how long a session waits in Idle before
//! its automatic restart after an error (RFC 4271 §8.1.1 DampPeerOscillations / IdleHoldTimer).
//!
//! The wait starts at `initial`, doubles per consecutive failure up to `max`, and is spread by
//! ±25 % from a tiny seeded PRNG (SplitMix64) so two nodes restarted together do not hit the
//! router in lockstep, while tests stay deterministic. The count resets on ManualStart,
//! after the session stayed Established for [`STABLE_TIME`], and when the peer (or the
//! transport) ended an Established session: only errors this side detects are damped. A
//! connection attempt that fails (the router unreachable, refusing, silent) is not counted at
//! all: the next attempt follows at the ConnectRetry pace ([`Backoff::retry_delay`]), so the
//! session comes back within that pace once the router is back, however long it was away. No
//! clock and no OS randomness are read here.

use std::time::Duration;

use crate::splitmix::SplitMix64;

/// A session Established at least this long counts as stable: its next failure starts the
/// backoff from the initial value again.
pub const STABLE_TIME: Duration = Duration::from_secs(60);

/// Doublings beyond this cannot matter (2^20 s is far above any sane cap).
const MAX_EXPONENT: u32 = 20;

/// The IdleHold backoff state of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// `max` below `initial` is raised to `initial`.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Backoff { initial, max: max.max(initial), failures: 0, rng: SplitMix64::new(seed) }
    }

    /// Consecutive failures since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the initial value (ManualStart, or a session that stayed up [`STABLE_TIME`]).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The un-jittered wait for the next failure: `initial · 2^failures`, at most `max`.
    pub fn base(&self) -> Duration {
        let factor = 1u32 << self.failures.min(MAX_EXPONENT);
        self.initial.checked_mul(factor).unwrap_or(self.max).min(self.max)
    }

    /// Records a failure and returns how long to stay Idle: [`Self::base`] ±25 %, never above
    /// `max`.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base();
        self.failures = self.failures.saturating_add(1).min(MAX_EXPONENT + 1);
        self.jitter(base).min(self.max)
    }

    /// How long to wait before the next connection attempt after one that failed (the peer was
    /// unreachable, refused or did not answer): `pace` or the current [`Self::base`], whichever
    /// is longer, ±25 %. Not a failure of the session: nothing grows, so the attempts go on at
    /// a steady pace however long the peer is away.
    pub fn retry_delay(&mut self, pace: Duration) -> Duration {
        let d = self.base().max(pace);
        self.jitter(d).min(self.max.max(pace))
    }

    /// `d` spread uniformly over 75–125 %.
    fn jitter(&mut self, d: Duration) -> Duration {
        let permille = 750 + u128::from(self.rng.next_u64() % 501);
        let nanos = d.as_nanos().saturating_mul(permille) / 1000;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn doubles_up_to_the_cap_within_jitter() {
        let mut b = Backoff::new(secs(1), secs(120), 7);
        let mut bases = Vec::new();
        for _ in 0..10 {
            let base = b.base();
            let d = b.next_delay();
            assert!(d >= base.mul_f64(0.75) && d <= base.mul_f64(1.25).min(secs(120)), "{d:?} vs base {base:?}");
            bases.push(base.as_secs());
        }
        assert_eq!(bases, vec![1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        b.reset();
        assert_eq!(b.base(), secs(1));
        assert_eq!(b.failures(), 0);
    }

    #[test]
    fn retries_keep_a_steady_pace() {
        let mut b = Backoff::new(secs(1), secs(60), 7);
        for _ in 0..20 {
            let d = b.retry_delay(secs(5));
            assert!(d >= secs(5).mul_f64(0.75) && d <= secs(5).mul_f64(1.25), "{d:?}");
        }
        assert_eq!(b.failures(), 0, "a retry is not a failure");
        // After errors of ours, the damped wait stands if it is the longer one.
        for _ in 0..4 {
            b.next_delay();
        }
        let d = b.retry_delay(secs(5));
        assert!(d >= secs(16).mul_f64(0.75) && d <= secs(16).mul_f64(1.25), "{d:?}");
        assert_eq!(b.failures(), 4);
    }

    #[test]
    fn same_seed_same_delays_other_seed_differs() {
        let run = |seed| {
            let mut b = Backoff::new(secs(1), secs(120), seed);
            (0..8).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn jitter_actually_spreads() {
        let mut b = Backoff::new(secs(100), secs(100), 1);
        let v: Vec<Duration> = (0..200).map(|_| b.next_delay()).collect();
        let lo = v.iter().min().unwrap();
        assert!(*lo < secs(85), "lowest {lo:?}");
        assert!(v.iter().all(|d| *d >= secs(75) && *d <= secs(100)));
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut b = Backoff::new(Duration::MAX, Duration::MAX, 3);
        for _ in 0..40 {
            b.next_delay();
        }
        let mut z = Backoff::new(Duration::ZERO, secs(5), 3);
        assert_eq!(z.next_delay(), Duration::ZERO);
        let b = Backoff::new(secs(10), secs(1), 0);
        assert_eq!(b.base(), secs(10));
    }
}
