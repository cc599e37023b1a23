//! The decision loop's heartbeat, which BFD transmission depends on (issue 11, "liveness").
//!
//! BFD packets are the router's proof that this node's anycastd is alive and deciding: a
//! router that still hears them keeps our route. BFD runs on its own thread so that its
//! packets leave on time however busy BGP is; that thread must therefore not outlive a hung
//! decision loop. Before it transmits, the BFD thread asks for a beat ([`Liveness::ask`]); the
//! daemon answers from the runtime that decides ([`Liveness::asked`], then [`Liveness::beat`]),
//! after taking every service's decider lock in turn (a decision stuck under a lock, or a
//! runtime thread stuck anywhere, leaves the question unanswered). The BFD thread sends nothing
//! once a question is older than [`STALL_LIMIT`], so the routers declare the session down one
//! Detection Time later and move the traffic, as they would for a dead node.
//!
//! Asking, not beating on a timer: the runtime wakes once per BFD transmission (or less), not
//! every 50 ms whatever the BFD intervals (BENCHMARKS.md, "Idle RSS … BFD").
//!
//! Nothing here reads a clock: times are passed in.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a question may go unanswered before BFD transmission stops. A full-table flood,
/// a slow health-check spawn or a reload stall the runtime for milliseconds, far below this;
/// a hung decision loop is stopped within it (then the routers' Detection Time).
pub const STALL_LIMIT: Duration = Duration::from_millis(250);

/// No question open.
const NONE: u64 = u64::MAX;

/// A heartbeat shared between the decision loop (which answers) and BFD (which asks).
#[derive(Clone, Debug)]
pub struct Liveness {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    base: Instant,
    /// Beaten at least once: only then can it stall.
    armed: AtomicBool,
    /// µs since `base` when the open question was asked, or [`NONE`].
    asked: AtomicU64,
    /// Wakes the decision loop's answering task.
    question: tokio::sync::Notify,
}

impl Liveness {
    /// A heartbeat nobody beats yet: [`Liveness::stalled`] is `None` until the first beat (a
    /// speaker run without a decision loop, as in tests, is never held back).
    pub fn new(base: Instant) -> Self {
        let inner =
            Inner { base, armed: AtomicBool::new(false), asked: AtomicU64::new(NONE), question: Default::default() };
        Liveness { inner: Arc::new(inner) }
    }

    fn micros(&self, at: Instant) -> u64 {
        let us = u64::try_from(at.saturating_duration_since(self.inner.base).as_micros()).unwrap_or(NONE - 1);
        us.min(NONE - 1)
    }

    /// The decision loop is alive at `now`: it answers the open question, if any.
    pub fn beat(&self, now: Instant) {
        let us = self.micros(now);
        self.inner.armed.store(true, Ordering::Relaxed);
        // Only a question asked before this beat is answered by it.
        let _ = self.inner.asked.fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| (q <= us).then_some(NONE));
    }

    /// BFD is about to transmit at `now`: asks the decision loop to show it is alive, unless a
    /// question is open already.
    pub fn ask(&self, now: Instant) {
        let us = self.micros(now);
        if self.inner.asked.compare_exchange(NONE, us, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.inner.question.notify_one();
        }
    }

    /// Waits for a question (one asked before the wait began is not lost).
    pub async fn asked(&self) {
        self.inner.question.notified().await;
    }

    /// How long the open question has gone unanswered at `now`, when that is more than
    /// [`STALL_LIMIT`]; `None` while the decision loop answers (or before its first beat).
    pub fn stalled(&self, now: Instant) -> Option<Duration> {
        let asked = self.inner.asked.load(Ordering::Acquire);
        if !self.inner.armed.load(Ordering::Relaxed) || asked == NONE {
            return None;
        }
        let at = self.inner.base.checked_add(Duration::from_micros(asked))?;
        let silent = now.saturating_duration_since(at);
        (silent > STALL_LIMIT).then_some(silent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_only_when_a_question_goes_unanswered_past_the_limit_and_only_once_armed() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let l = Liveness::new(t0);
        l.ask(ms(0));
        assert_eq!(l.stalled(ms(3_600_000)), None, "never armed");
        l.beat(ms(10));
        // Armed, nothing asked since: a loop nobody asks is not stalled however long it sleeps.
        assert_eq!(l.stalled(ms(10_000)), None);
        l.ask(ms(10_000));
        assert_eq!(l.stalled(ms(10_250)), None);
        assert_eq!(l.stalled(ms(10_251)), Some(Duration::from_millis(251)));
        // A second question does not restart the clock of the open one.
        l.ask(ms(10_200));
        assert_eq!(l.stalled(ms(10_260)), Some(Duration::from_millis(260)));
        // A late beat from before the question does not answer it; a beat after it does.
        l.beat(ms(9_000));
        assert!(l.stalled(ms(10_300)).is_some());
        l.beat(ms(10_300));
        assert_eq!(l.stalled(ms(20_000)), None);
    }

    #[tokio::test]
    async fn a_question_asked_before_the_wait_is_not_lost() {
        let t0 = Instant::now();
        let l = Liveness::new(t0);
        l.beat(t0);
        l.ask(t0 + Duration::from_millis(1));
        tokio::time::timeout(Duration::from_secs(5), l.asked()).await.expect("the open question wakes the waiter");
        // One question, one wake-up: asking again while it is open does not queue another.
        l.ask(t0 + Duration::from_millis(2));
        assert!(tokio::time::timeout(Duration::from_millis(50), l.asked()).await.is_err());
    }
}
