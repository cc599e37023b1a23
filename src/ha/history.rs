//! The failover timeline: the last [`HISTORY_LEN`] decisions of one service, each with its
//! wall-clock time, what it advertised, the input that caused it and the decision's reason —
//! what an operator asks after an incident ("when did we withdraw, and why?"). `status -v`
//! prints it, `status --json` has it as `decisions`. A bounded ring, pure: the controller feeds
//! it under its decider lock, with the time as an argument.

use super::decision::{AdvertState, Decision, Input};
use super::health::CheckState;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

/// Decisions kept per service.
pub const HISTORY_LEN: usize = 10;

/// One decision of the timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionRecord {
    /// When it was made: UTC, RFC 3339 with milliseconds.
    pub at: String,
    /// The same instant, ms since the Unix epoch.
    pub at_unix_ms: u64,
    pub state: AdvertState,
    /// Prefixes advertised (empty when withdrawn).
    pub advertised: Vec<String>,
    /// The input that changed the decision: "start", "reload", "role primary: keepalived
    /// MASTER", "check `db` failed: exit 1", "drain", "undrain", "addresses", "timer".
    pub cause: String,
    /// The decision's reason, as the log and systemd's STATUS have it.
    pub reason: String,
}

/// The ring, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History(VecDeque<DecisionRecord>);

impl History {
    /// Records decision `d`, caused by `cause`, made at `at`; the oldest goes beyond
    /// [`HISTORY_LEN`].
    pub fn push(&mut self, d: &Decision, cause: String, at: SystemTime) {
        while self.0.len() >= HISTORY_LEN {
            self.0.pop_front();
        }
        let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.0.push_back(DecisionRecord {
            at: rfc3339_ms(ms),
            at_unix_ms: ms,
            state: d.state,
            advertised: d.advert.prefixes.iter().map(|p| p.to_string()).collect(),
            cause,
            reason: d.reason.clone(),
        });
    }

    /// Whether `d` advertises what the newest record does (a reload's first decision that
    /// changes nothing is not news).
    pub fn same_as_last(&self, d: &Decision) -> bool {
        let now: Vec<String> = d.advert.prefixes.iter().map(|p| p.to_string()).collect();
        self.0.back().is_some_and(|r| r.state == d.state && r.advertised == now)
    }

    /// The records, oldest first.
    pub fn list(&self) -> Vec<DecisionRecord> {
        self.0.iter().cloned().collect()
    }
}

/// What `input` was, in a few words, for the timeline. `checks` names the check of an
/// `Input::Check` and gives its verdict after the input.
pub fn cause_of(input: &Input, checks: &[(String, CheckState)]) -> String {
    match input {
        Input::Role(u) => format!("role {}: {}", u.role.name(), u.detail),
        Input::Check { index, result } => {
            let name = checks.get(*index).map_or("?", |(n, _)| n.as_str());
            let verdict = if result.ok { "passed" } else { "failed" };
            format!("check `{name}` {verdict}: {}", result.detail)
        }
        Input::Drain { .. } => "drain".into(),
        Input::Undrain => "undrain".into(),
        Input::Prefixes(_) => "prefixes changed (reload)".into(),
        Input::Addresses(a) if a.missing.is_empty() => "addresses: all present".into(),
        Input::Addresses(a) => format!("addresses: {}", a.detail),
        Input::Tick => "timer (drain end, a stalled check or the role's age)".into(),
    }
}

/// `ms` since the epoch as `2026-12-03T10:40:49.123Z` (proleptic Gregorian, UTC).
pub fn rfc3339_ms(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day); H. Hinnant's `civil_from_days`, for days ≥ 0.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::decision::{Advert, RoleUpdate};
    use crate::ha::health::CheckResult;
    use crate::ha::Role;
    use std::time::{Duration, Instant};

    fn decision(state: AdvertState, prefixes: &[&str], reason: &str) -> Decision {
        let advert = Advert::announce(prefixes.iter().map(|p| p.parse().unwrap()).collect());
        Decision { advert, state, reason: reason.into() }
    }

    #[test]
    fn keeps_the_last_ten_oldest_first() {
        let mut h = History::default();
        let t0 = UNIX_EPOCH + Duration::from_millis(1_764_758_449_123);
        for i in 0..13u64 {
            let d = decision(AdvertState::Withdrawn, &[], &format!("r{i}"));
            h.push(&d, format!("c{i}"), t0 + Duration::from_secs(i));
        }
        let l = h.list();
        assert_eq!(l.len(), HISTORY_LEN);
        assert_eq!(l[0].reason, "r3");
        assert_eq!(l[9].cause, "c12");
        assert_eq!(l[0].at_unix_ms, 1_764_758_452_123);
        assert_eq!(l[0].at, "2025-12-03T10:40:52.123Z");
    }

    #[test]
    fn a_decision_like_the_last_is_recognised() {
        let mut h = History::default();
        let on = decision(AdvertState::Advertising, &["203.0.113.124/32"], "up");
        assert!(!h.same_as_last(&on));
        h.push(&on, "start".into(), SystemTime::now());
        assert!(h.same_as_last(&decision(AdvertState::Advertising, &["203.0.113.124/32"], "other words")));
        assert!(!h.same_as_last(&decision(AdvertState::Withdrawn, &[], "down")));
        assert!(!h.same_as_last(&decision(AdvertState::Advertising, &["203.0.113.125/32"], "up")));
    }

    #[test]
    fn causes_name_the_input() {
        let t = Instant::now();
        let checks = vec![("db".to_string(), CheckState::new(1, 1, Duration::from_secs(1), t))];
        let result = CheckResult { ok: false, detail: "exit 1".into(), duration: Duration::ZERO, at: t };
        assert_eq!(cause_of(&Input::Check { index: 0, result }, &checks), "check `db` failed: exit 1");
        let u = RoleUpdate::new(Role::Standby, "keepalived BACKUP");
        assert_eq!(cause_of(&Input::Role(u), &checks), "role standby: keepalived BACKUP");
        assert_eq!(cause_of(&Input::Undrain, &checks), "undrain");
    }

    #[test]
    fn dates_are_utc_rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(rfc3339_ms(1_798_761_599_000), "2026-12-31T23:59:59.000Z");
    }
}
