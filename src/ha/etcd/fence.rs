//! The lease fence, pure: this node may call itself the leader only until `the send time of
//! the last keep-alive etcd confirmed + the TTL etcd answered − margin`. etcd renews a lease
//! when it *receives* the keep-alive, which is after we sent it, so the lease cannot expire at
//! etcd — and no other candidate can win — before that instant plus the margin, whatever the
//! network does afterwards. The deadline goes to the decider as the role's `until`: the
//! decider withdraws on its own timer even if this task or etcd never answers again.

use std::time::{Duration, Instant};

/// What this node knows of its lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    margin: Duration,
    /// The lease's TTL as granted.
    ttl: Duration,
    /// Send time and answered TTL of the last keep-alive (or the grant) etcd confirmed.
    confirmed: Option<(Instant, Duration)>,
}

impl Fence {
    /// A fence for a lease of `ttl` (as asked; [`Fence::granted`] takes etcd's answer).
    pub fn new(ttl: Duration, margin: Duration) -> Fence {
        Fence { margin, ttl, confirmed: None }
    }

    /// The grant sent at `sent` was answered with `ttl`: it counts as a keep-alive.
    pub fn granted(&mut self, sent: Instant, ttl: Duration) {
        self.ttl = ttl;
        self.confirmed = None;
        self.kept(sent, ttl);
    }

    /// A keep-alive sent at `sent` was answered with `ttl` left (zero: the lease is gone).
    /// An answer to an older request than the one already confirmed moves nothing.
    pub fn kept(&mut self, sent: Instant, ttl: Duration) {
        if ttl.is_zero() {
            self.confirmed = None;
            return;
        }
        if self.confirmed.is_none_or(|(t, _)| sent >= t) {
            self.confirmed = Some((sent, ttl));
        }
    }

    /// The lease is gone (revoked, not found, or given up).
    pub fn lost(&mut self) {
        self.confirmed = None;
    }

    /// Until when this node may advertise as the leader; `None`: not at all.
    pub fn deadline(&self) -> Option<Instant> {
        let (sent, ttl) = self.confirmed?;
        sent.checked_add(ttl.checked_sub(self.margin)?)
    }

    /// Whether the lease is still known to be alive at `now`.
    pub fn holds(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now < d)
    }

    /// When the next keep-alive is due: a third of the TTL after the last confirmed one, so
    /// two may be lost before the deadline.
    pub fn next_keep_alive(&self, now: Instant) -> Instant {
        match self.confirmed {
            Some((sent, _)) => sent + self.ttl / 3,
            None => now,
        }
    }

    /// The retry pace after a failed keep-alive: a tenth of the TTL (300 ms for 3 s), so that
    /// an endpoint failover has several tries before the deadline.
    pub fn retry(&self) -> Duration {
        (self.ttl / 10).max(Duration::from_millis(50))
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Time left before the fence closes at `now` (zero once closed).
    pub fn left(&self, now: Instant) -> Option<Duration> {
        self.deadline().map(|d| d.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MARGIN: Duration = Duration::from_millis(500);

    #[test]
    fn the_deadline_counts_from_when_the_keep_alive_was_sent_not_answered() {
        let t0 = Instant::now();
        let mut f = Fence::new(3 * S, MARGIN);
        assert_eq!(f.deadline(), None, "no lease: never the leader");
        f.granted(t0, 3 * S);
        assert_eq!(f.deadline(), Some(t0 + 3 * S - MARGIN));
        // Sent at t0+1 s, answered whenever: the deadline is from t0+1 s.
        f.kept(t0 + S, 3 * S);
        assert_eq!(f.deadline(), Some(t0 + 4 * S - MARGIN));
        assert!(f.holds(t0 + 4 * S - MARGIN - Duration::from_millis(1)));
        assert!(!f.holds(t0 + 4 * S - MARGIN), "closed exactly at the deadline");
    }

    #[test]
    fn a_late_answer_to_an_older_keep_alive_does_not_move_the_deadline_back() {
        let t0 = Instant::now();
        let mut f = Fence::new(3 * S, MARGIN);
        f.granted(t0, 3 * S);
        f.kept(t0 + 2 * S, 3 * S);
        f.kept(t0 + S, 3 * S);
        assert_eq!(f.deadline(), Some(t0 + 5 * S - MARGIN));
    }

    #[test]
    fn a_lease_etcd_no_longer_has_closes_the_fence_at_once() {
        let t0 = Instant::now();
        let mut f = Fence::new(3 * S, MARGIN);
        f.granted(t0, 3 * S);
        f.kept(t0 + S, Duration::ZERO);
        assert_eq!(f.deadline(), None);
        f.granted(t0 + 2 * S, 3 * S);
        f.lost();
        assert!(!f.holds(t0 + 2 * S));
    }

    #[test]
    fn a_shorter_ttl_in_the_answer_is_believed() {
        let t0 = Instant::now();
        let mut f = Fence::new(3 * S, MARGIN);
        f.granted(t0, 2 * S);
        assert_eq!(f.deadline(), Some(t0 + 2 * S - MARGIN));
        assert_eq!(f.next_keep_alive(t0), t0 + 2 * S / 3);
        f.kept(t0 + S, S);
        assert_eq!(f.deadline(), Some(t0 + S + S - MARGIN));
    }

    #[test]
    fn a_margin_as_long_as_the_ttl_never_opens_the_fence() {
        let t0 = Instant::now();
        let mut f = Fence::new(S, S);
        f.granted(t0, S);
        assert!(!f.holds(t0));
        let mut f = Fence::new(S, 2 * S);
        f.granted(t0, S);
        assert_eq!(f.deadline(), None);
    }

    #[test]
    fn keep_alives_are_due_every_third_of_the_ttl_and_retried_every_tenth() {
        let t0 = Instant::now();
        let mut f = Fence::new(3 * S, MARGIN);
        assert_eq!(f.next_keep_alive(t0), t0, "no lease yet: now");
        f.granted(t0, 3 * S);
        assert_eq!(f.next_keep_alive(t0), t0 + S);
        assert_eq!(f.retry(), Duration::from_millis(300));
        assert_eq!(f.left(t0 + S), Some(S + S / 2));
        assert_eq!(f.left(t0 + 9 * S), Some(Duration::ZERO));
    }
}
