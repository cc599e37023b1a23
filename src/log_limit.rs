//! A bounded, per-key rate limiter for log lines (M7): at most one line per key per window,
//! and at most a global budget of lines per window over all keys, so neither one source nor
//! many sources can flood the log. Pure: the caller passes the time in and prints; the verdict
//! says how many similar messages were suppressed since the key last logged, so the caller can
//! add "N similar messages suppressed". The table of keys is bounded; when it is full the
//! least recently logged key is evicted, and its suppressed count is kept as an unattributed
//! total that the next printed line reports. Used for refused inbound connections (keyed by
//! source address), a neighbor's peer-caused warnings (by kind), missing anycast addresses (by
//! address) and the accept loops' errors and over-cap refusals (one key each).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Print it. `suppressed` messages of this key were dropped since its last printed line;
    /// `others` messages of keys evicted from the table (no longer attributable) were dropped.
    Log { suppressed: u64, others: u64 },
    /// Drop it (counted; reported with the key's next printed line).
    Suppress,
}

impl Verdict {
    /// `" (N similar messages suppressed)"`, or empty; for appending to the printed line.
    pub fn suffix(&self) -> String {
        match *self {
            Verdict::Log { suppressed: 0, others: 0 } | Verdict::Suppress => String::new(),
            Verdict::Log { suppressed, others: 0 } => format!(" ({suppressed} similar messages suppressed)"),
            Verdict::Log { suppressed, others } => {
                format!(" ({suppressed} similar messages suppressed, {others} from other sources)")
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// When this key last printed a line.
    logged: Instant,
    suppressed: u64,
}

/// The limiter. `K` identifies a source of messages (an address, an error kind…).
#[derive(Debug)]
pub struct LogLimiter<K> {
    window: Duration,
    max_keys: usize,
    budget: u32,
    /// Start of the current global window and lines printed in it.
    global: Option<(Instant, u32)>,
    keys: HashMap<K, Entry>,
    /// Suppressed messages of evicted keys, reported with the next printed line.
    orphaned: u64,
}

impl<K: Hash + Eq + Clone> LogLimiter<K> {
    /// One line per key per `window`, at most `budget` lines per `window` in all, at most
    /// `max_keys` keys remembered (each at least 1).
    pub fn new(window: Duration, budget: u32, max_keys: usize) -> Self {
        LogLimiter {
            window,
            max_keys: max_keys.max(1),
            budget: budget.max(1),
            global: None,
            keys: HashMap::new(),
            orphaned: 0,
        }
    }

    /// The verdict for one message of `key` at `now`.
    pub fn check(&mut self, key: &K, now: Instant) -> Verdict {
        let due = |t: Instant| now.saturating_duration_since(t) >= self.window;
        let key_due = self.keys.get(key).is_none_or(|e| due(e.logged));
        let global_free = match self.global {
            Some((start, n)) => due(start) || n < self.budget,
            None => true,
        };
        if !(key_due && global_free) {
            match self.keys.get_mut(key) {
                Some(e) => e.suppressed = e.suppressed.saturating_add(1),
                None => {
                    // A new key with the global budget spent: remember it as already having
                    // logged, so it reports this message once the window allows.
                    self.insert(key.clone(), Entry { logged: now, suppressed: 1 });
                }
            }
            return Verdict::Suppress;
        }
        self.global = match self.global {
            Some((start, n)) if !due(start) => Some((start, n.saturating_add(1))),
            _ => Some((now, 1)),
        };
        let suppressed = self.keys.get(key).map_or(0, |e| e.suppressed);
        self.insert(key.clone(), Entry { logged: now, suppressed: 0 });
        let others = std::mem::take(&mut self.orphaned);
        Verdict::Log { suppressed, others }
    }

    /// Keys remembered now (never more than `max_keys`).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn insert(&mut self, key: K, e: Entry) {
        if !self.keys.contains_key(&key) && self.keys.len() >= self.max_keys {
            // Evict the least recently logged key; its drops become unattributed.
            if let Some(old) = self.keys.iter().min_by_key(|(_, e)| e.logged).map(|(k, _)| k.clone()) {
                if let Some(gone) = self.keys.remove(&old) {
                    self.orphaned = self.orphaned.saturating_add(gone.suppressed);
                }
            }
        }
        self.keys.insert(key, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn one_line_per_key_per_window_then_the_suppressed_count() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(W, 100, 16);
        assert_eq!(l.check(&1, t0), Verdict::Log { suppressed: 0, others: 0 });
        for i in 1..=5 {
            assert_eq!(l.check(&1, t0 + Duration::from_secs(i)), Verdict::Suppress);
        }
        // Another key is not held back by the first.
        assert_eq!(l.check(&2, t0 + Duration::from_secs(1)), Verdict::Log { suppressed: 0, others: 0 });
        let v = l.check(&1, t0 + W);
        assert_eq!(v, Verdict::Log { suppressed: 5, others: 0 });
        assert_eq!(v.suffix(), " (5 similar messages suppressed)");
        assert_eq!(l.check(&1, t0 + W + W), Verdict::Log { suppressed: 0, others: 0 });
        assert_eq!(Verdict::Log { suppressed: 0, others: 0 }.suffix(), "");
    }

    #[test]
    fn the_global_budget_caps_many_keys() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(W, 3, 1000);
        let printed = (0..500u32).filter(|k| matches!(l.check(k, t0), Verdict::Log { .. })).count();
        assert_eq!(printed, 3);
        // After the window, a held-back key reports its drop.
        assert_eq!(l.check(&400, t0 + W), Verdict::Log { suppressed: 1, others: 0 });
    }

    #[test]
    fn the_table_is_bounded_and_evicted_drops_are_still_reported() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(W, 1_000_000, 4);
        for k in 0..4u32 {
            l.check(&k, t0);
            l.check(&k, t0); // one suppressed each
        }
        let mut others = 0;
        for k in 4..10_000u32 {
            if let Verdict::Log { others: o, .. } = l.check(&k, t0 + Duration::from_millis(u64::from(k))) {
                others += o;
            }
            assert!(l.len() <= 4);
        }
        assert_eq!(others, 4, "the four evicted keys' drops are reported once");
    }

    #[test]
    fn time_going_backwards_does_not_panic_or_unblock() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut l = LogLimiter::new(W, 10, 10);
        assert!(matches!(l.check(&"a", t0), Verdict::Log { .. }));
        assert_eq!(l.check(&"a", t0 - Duration::from_secs(5)), Verdict::Suppress);
    }
}
