//! Per-check hysteresis, pure: a [`CheckState`] turns the stream of probe results of one health
//! check into "healthy or not". `fall` consecutive failures make a healthy check unhealthy,
//! `rise` consecutive successes make an unhealthy one healthy, and every check starts unhealthy
//! (fail closed). A check that has not reported for [`STALL_INTERVALS`] intervals is *stalled*
//! and counts as failing; when it reports again it must rise again. No clock is read here: time
//! comes in as arguments, so the tests drive it with a simulated clock. Running probes is
//! `probe.rs`'s job, deciding what to advertise is `decision.rs`'s.

use std::time::{Duration, Instant};

/// Intervals without a result after which a check counts as failing.
pub const STALL_INTERVALS: u32 = 3;

/// One probe run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub ok: bool,
    /// First line of the output, or what went wrong ("exit 1: …", "timed out after 200 ms").
    pub detail: String,
    /// How long the probe took.
    pub duration: Duration,
    /// When the result came in.
    pub at: Instant,
}

/// Upper bounds of the check-duration histogram's buckets, µs: 1 ms to 10 s (a check times
/// out long before 10 s is of interest), then +Inf.
pub const DURATION_BUCKETS_US: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// How long a check's runs took, since the check was created (a reload that keeps the check
/// keeps its histogram). Fixed size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurationHistogram {
    /// Runs per bucket of [`DURATION_BUCKETS_US`] (not cumulative); the last one is +Inf.
    pub counts: [u64; DURATION_BUCKETS_US.len() + 1],
    /// Sum of all durations, µs.
    pub sum_us: u64,
}

impl DurationHistogram {
    pub fn observe(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = DURATION_BUCKETS_US.iter().position(|&le| us <= le).unwrap_or(DURATION_BUCKETS_US.len());
        if let Some(c) = self.counts.get_mut(i) {
            *c = c.saturating_add(1);
        }
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// Runs observed.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// The hysteresis state of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckState {
    pub rise: u32,
    pub fall: u32,
    pub interval: Duration,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    /// After hysteresis, ignoring stalls (see [`CheckState::is_healthy`]).
    pub healthy: bool,
    pub last_result: Option<CheckResult>,
    /// Every run's duration.
    pub durations: DurationHistogram,
    /// When the check was created; stalls before the first result count from here.
    since: Instant,
}

impl CheckState {
    /// A new, unhealthy check. `rise` and `fall` of 0 are taken as 1.
    pub fn new(rise: u32, fall: u32, interval: Duration, now: Instant) -> Self {
        CheckState {
            rise: rise.max(1),
            fall: fall.max(1),
            interval,
            consecutive_ok: 0,
            consecutive_fail: 0,
            healthy: false,
            last_result: None,
            durations: DurationHistogram::default(),
            since: now,
        }
    }

    /// Takes over `old`'s results and verdict (a reload that kept the check), keeping this
    /// state's rise, fall and interval.
    pub fn carry_from(&mut self, old: &CheckState) {
        self.consecutive_ok = old.consecutive_ok;
        self.consecutive_fail = old.consecutive_fail;
        self.healthy = old.healthy;
        self.last_result = old.last_result.clone();
        self.durations = old.durations.clone();
        self.since = old.since;
    }

    /// The time without a result after which the check is stalled.
    pub fn stall_after(&self) -> Duration {
        self.interval.saturating_mul(STALL_INTERVALS)
    }

    fn last_seen(&self) -> Instant {
        self.last_result.as_ref().map_or(self.since, |r| r.at)
    }

    /// When the check becomes stalled unless a result comes in first.
    pub fn stall_deadline(&self) -> Option<Instant> {
        self.last_seen().checked_add(self.stall_after())
    }

    /// No result for [`STALL_INTERVALS`] intervals.
    pub fn is_stalled(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen()) >= self.stall_after()
    }

    /// Healthy after hysteresis and not stalled.
    pub fn is_healthy(&self, now: Instant) -> bool {
        self.healthy && !self.is_stalled(now)
    }

    /// Records a result; returns true when `healthy` flipped. A result arriving after a stall
    /// first resets the check to unhealthy (the stall counted as failing), so it must rise again.
    pub fn record(&mut self, r: CheckResult) -> bool {
        let was = self.healthy;
        if self.is_stalled(r.at) {
            self.healthy = false;
            self.consecutive_ok = 0;
        }
        if r.ok {
            self.consecutive_ok = self.consecutive_ok.saturating_add(1);
            self.consecutive_fail = 0;
            if self.consecutive_ok >= self.rise {
                self.healthy = true;
            }
        } else {
            self.consecutive_fail = self.consecutive_fail.saturating_add(1);
            self.consecutive_ok = 0;
            if self.consecutive_fail >= self.fall {
                self.healthy = false;
            }
        }
        self.durations.observe(r.duration);
        self.last_result = Some(r);
        self.healthy != was
    }

    /// Why the check named `name` is not healthy at `now`; `None` when it is.
    pub fn describe_failure(&self, name: &str, now: Instant) -> Option<String> {
        if self.is_healthy(now) {
            return None;
        }
        if self.is_stalled(now) {
            let ms = now.saturating_duration_since(self.last_seen()).as_millis();
            let what = if self.last_result.is_some() { "no result" } else { "no result since start" };
            return Some(format!("check `{name}` stalled: {what} for {ms} ms"));
        }
        let Some(last) = &self.last_result else {
            return Some(format!("check `{name}` has not run yet"));
        };
        Some(if last.ok {
            format!("check `{name}` passed {}/{}, not healthy yet", self.consecutive_ok, self.rise)
        } else if self.consecutive_fail > self.fall {
            format!("check `{name}` failed {} times in a row: {}", self.consecutive_fail, last.detail)
        } else if self.consecutive_fail == self.fall {
            format!("check `{name}` failed {}/{}: {}", self.consecutive_fail, self.fall, last.detail)
        } else {
            format!("check `{name}` not healthy yet, last run failed: {}", last.detail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IV: Duration = Duration::from_millis(1000);

    fn res(t0: Instant, ms: u64, ok: bool) -> CheckResult {
        let detail = if ok { "ok".to_string() } else { "exit 1".to_string() };
        CheckResult { ok, detail, duration: Duration::from_millis(3), at: t0 + Duration::from_millis(ms) }
    }

    #[test]
    fn starts_unhealthy_and_rises_after_rise_successes() {
        let t0 = Instant::now();
        let mut c = CheckState::new(2, 3, IV, t0);
        assert!(!c.is_healthy(t0));
        assert_eq!(c.describe_failure("db", t0).as_deref(), Some("check `db` has not run yet"));
        assert!(!c.record(res(t0, 1000, true)));
        assert!(!c.is_healthy(t0 + IV));
        assert_eq!(c.describe_failure("db", t0 + IV).as_deref(), Some("check `db` passed 1/2, not healthy yet"));
        assert!(c.record(res(t0, 2000, true)));
        assert!(c.is_healthy(t0 + 2 * IV));
        assert_eq!(c.describe_failure("db", t0 + 2 * IV), None);
    }

    #[test]
    fn falls_only_after_fall_consecutive_failures() {
        let t0 = Instant::now();
        let mut c = CheckState::new(1, 3, IV, t0);
        assert!(c.record(res(t0, 1000, true)));
        assert!(!c.record(res(t0, 2000, false)));
        assert!(!c.record(res(t0, 3000, false)));
        // A success in between resets the failure count.
        assert!(!c.record(res(t0, 4000, true)));
        assert!(!c.record(res(t0, 5000, false)));
        assert!(!c.record(res(t0, 6000, false)));
        assert!(c.is_healthy(t0 + 6 * IV));
        assert!(c.record(res(t0, 7000, false)));
        assert!(!c.healthy);
        let now = t0 + 7 * IV;
        assert_eq!(c.describe_failure("db", now).as_deref(), Some("check `db` failed 3/3: exit 1"));
        c.record(res(t0, 8000, false));
        assert_eq!(c.describe_failure("db", now + IV).as_deref(), Some("check `db` failed 4 times in a row: exit 1"));
    }

    #[test]
    fn failures_before_first_health_are_described_as_not_yet_healthy() {
        let t0 = Instant::now();
        let mut c = CheckState::new(2, 3, IV, t0);
        c.record(res(t0, 1000, false));
        assert_eq!(
            c.describe_failure("web", t0 + IV).as_deref(),
            Some("check `web` not healthy yet, last run failed: exit 1")
        );
    }

    #[test]
    fn stalls_after_three_intervals_and_must_rise_again() {
        let t0 = Instant::now();
        let mut c = CheckState::new(2, 3, IV, t0);
        c.record(res(t0, 1000, true));
        c.record(res(t0, 2000, true));
        assert!(c.is_healthy(t0 + Duration::from_millis(4999)));
        assert_eq!(c.stall_deadline(), Some(t0 + Duration::from_millis(5000)));
        let late = t0 + Duration::from_millis(5000);
        assert!(c.is_stalled(late));
        assert!(!c.is_healthy(late));
        assert_eq!(c.describe_failure("db", late).as_deref(), Some("check `db` stalled: no result for 3000 ms"));
        // The first result after the stall does not restore health: rise = 2 passes needed.
        assert!(c.record(res(t0, 6000, true)));
        assert!(!c.healthy);
        assert!(c.record(res(t0, 7000, true)));
        assert!(c.healthy);
    }

    #[test]
    fn never_reporting_check_stalls_from_start() {
        let t0 = Instant::now();
        let c = CheckState::new(1, 1, IV, t0);
        let late = t0 + 3 * IV;
        assert_eq!(
            c.describe_failure("x", late).as_deref(),
            Some("check `x` stalled: no result since start for 3000 ms")
        );
    }

    #[test]
    fn every_run_lands_in_its_duration_bucket() {
        let t0 = Instant::now();
        let mut c = CheckState::new(1, 1, IV, t0);
        for us in [0, 1_000, 1_001, 250_000, 10_000_000, 10_000_001, u64::MAX] {
            let r = CheckResult { ok: true, detail: String::new(), duration: Duration::from_micros(us), at: t0 };
            c.record(r);
        }
        let h = &c.durations;
        assert_eq!(h.counts[0], 2, "0 and 1 ms are ≤ 1 ms");
        assert_eq!(h.counts[1], 1, "1.001 ms ≤ 2.5 ms");
        assert_eq!(h.counts[7], 1, "250 ms");
        assert_eq!(h.counts[12], 1, "10 s");
        assert_eq!(h.counts[13], 2, "beyond 10 s: +Inf");
        assert_eq!(h.count(), 7);
        assert_eq!(h.sum_us, u64::MAX, "saturates");
        let mut n = CheckState::new(2, 2, IV, t0);
        n.carry_from(&c);
        assert_eq!(n.durations, c.durations, "a reload keeps it");
    }

    #[test]
    fn zero_rise_and_fall_act_as_one() {
        let t0 = Instant::now();
        let mut c = CheckState::new(0, 0, IV, t0);
        assert!(c.record(res(t0, 10, true)));
        assert!(c.record(res(t0, 20, false)));
    }
}
