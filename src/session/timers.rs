//! The session's timers as plain deadlines (RFC 4271 §8.1.3, §10): ConnectRetry, Hold,
//! Keepalive and IdleHold (the automatic restart). Nothing here sleeps or reads a clock: the
//! caller asks [`Timers::next`] when to wake up and then feeds `Event::Timer` with the time.

use std::time::{Duration, Instant};

/// The Hold Time used in OpenSent before the peer's OPEN has been seen: "a large value",
/// suggested 4 minutes (RFC 4271 §8.2.2, Connect state, Event 16/17).
pub const LARGE_HOLD_TIME: Duration = Duration::from_secs(240);

/// The deadlines of one session; `None` = not running.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timers {
    pub connect_retry: Option<Instant>,
    pub hold: Option<Instant>,
    pub keepalive: Option<Instant>,
    /// When the automatic restart (Event 3) fires, in Idle.
    pub idle_hold: Option<Instant>,
}

impl Timers {
    /// The earliest running deadline.
    pub fn next(&self) -> Option<Instant> {
        [self.connect_retry, self.hold, self.keepalive, self.idle_hold].into_iter().flatten().min()
    }

    /// Stops every timer.
    pub fn clear(&mut self) {
        *self = Timers::default();
    }
}

/// `now + d`, or `None` (never) when that is not representable.
pub fn after(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}

/// Whether a deadline is running and has passed.
pub fn expired(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_the_earliest_running_deadline() {
        let t = Instant::now();
        let mut tm = Timers::default();
        assert_eq!(tm.next(), None);
        tm.hold = after(t, Duration::from_secs(9));
        tm.keepalive = after(t, Duration::from_secs(3));
        assert_eq!(tm.next(), after(t, Duration::from_secs(3)));
        assert!(expired(tm.keepalive, t + Duration::from_secs(3)));
        assert!(!expired(tm.hold, t + Duration::from_secs(3)));
        assert!(!expired(None, t));
        tm.clear();
        assert_eq!(tm.next(), None);
    }

    #[test]
    fn unrepresentable_deadline_is_never() {
        assert_eq!(after(Instant::now(), Duration::MAX), None);
    }
}
