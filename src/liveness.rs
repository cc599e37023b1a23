//! The decision loop's heartbeat, which BFD transmission depends on (issue 11, "liveness").
//!
//! BFD packets are the router's proof that this node's anycastd is alive and deciding: a
//! router that still hears them keeps our route. BFD runs on its own thread so that its
//! packets leave on time however busy BGP is; that thread must therefore not outlive a hung
//! decision loop. The daemon beats a [`Liveness`] every [`HEARTBEAT`] from the runtime that
//! decides, after taking every service's decider lock in turn (a decision stuck under a lock,
//! or a runtime thread stuck anywhere, stops the beats). The BFD thread sends nothing once the
//! last beat is older than [`STALL_LIMIT`], so the routers declare the session down one
//! Detection Time later and move the traffic, as they would for a dead node.
//!
//! Nothing here reads a clock: times are passed in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the decision loop beats.
pub const HEARTBEAT: Duration = Duration::from_millis(50);

/// How old the last beat may be before BFD transmission stops: five beats. A full-table
/// flood, a slow health-check spawn or a reload stall the runtime for milliseconds, far
/// below this; a hung decision loop is stopped within it (then the routers' Detection Time).
pub const STALL_LIMIT: Duration = Duration::from_millis(250);

/// Never beaten yet.
const UNARMED: u64 = u64::MAX;

/// A heartbeat shared between the decision loop (which beats) and BFD (which checks).
#[derive(Clone, Debug)]
pub struct Liveness {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    base: Instant,
    /// µs since `base` at the last beat, or [`UNARMED`].
    last: AtomicU64,
}

impl Liveness {
    /// A heartbeat nobody beats yet: [`Liveness::stalled`] is `None` until the first beat (a
    /// speaker run without a decision loop, as in tests, is never held back).
    pub fn new(base: Instant) -> Self {
        Liveness { inner: Arc::new(Inner { base, last: AtomicU64::new(UNARMED) }) }
    }

    /// The decision loop is alive at `now`.
    pub fn beat(&self, now: Instant) {
        let us = u64::try_from(now.saturating_duration_since(self.inner.base).as_micros()).unwrap_or(UNARMED - 1);
        let us = us.min(UNARMED - 1);
        // The first beat arms it; later ones only move it forward (a late beat from another
        // thread never moves it back).
        if self.inner.last.compare_exchange(UNARMED, us, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            self.inner.last.fetch_max(us, Ordering::Relaxed);
        }
    }

    /// How long the decision loop has been silent at `now`, when that is more than
    /// [`STALL_LIMIT`]; `None` while it beats (or was never armed).
    pub fn stalled(&self, now: Instant) -> Option<Duration> {
        let last = self.inner.last.load(Ordering::Relaxed);
        if last == UNARMED {
            return None;
        }
        let at = self.inner.base.checked_add(Duration::from_micros(last))?;
        let silent = now.saturating_duration_since(at);
        (silent > STALL_LIMIT).then_some(silent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_only_after_the_limit_and_only_once_armed() {
        let t0 = Instant::now();
        let l = Liveness::new(t0);
        assert_eq!(l.stalled(t0 + Duration::from_secs(3600)), None, "never armed");
        l.beat(t0 + Duration::from_millis(10));
        assert_eq!(l.stalled(t0 + Duration::from_millis(260)), None);
        assert_eq!(l.stalled(t0 + Duration::from_millis(261)), Some(Duration::from_millis(251)));
        // A beat resumes it; an older beat (another thread, late) does not move it back.
        l.beat(t0 + Duration::from_millis(300));
        l.beat(t0 + Duration::from_millis(100));
        assert_eq!(l.stalled(t0 + Duration::from_millis(500)), None);
        assert!(l.stalled(t0 + Duration::from_millis(551)).is_some());
    }
}
