//! The HA part of the status document (`crate::status`), pure: a serde view of the
//! [`Decider`]'s inputs and decision at a given `now` (ages instead of `Instant`s, milliseconds
//! instead of `Duration`s), with the JSON keys of `anycastd status --json`. Read-only; nothing
//! here changes what is advertised.

use super::decision::{AdvertState, Decider, Decision, Drain, Role};
use super::engine::EngineStatus;
use super::health::CheckState;
use super::vrrp::{SplitBrainStatus, VrrpWatchStatus};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Everything an operator wants to know about the advertise decision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HaStatus {
    /// The role after the staleness rule.
    pub role: Role,
    /// Where it came from ("keepalived MASTER").
    pub role_detail: String,
    /// Every check healthy.
    pub healthy: bool,
    /// Draining or drained by the operator.
    pub drained: bool,
    pub drain: DrainStatus,
    /// Prefixes advertised (empty when withdrawn).
    pub advertising: Vec<String>,
    pub advert_state: AdvertState,
    /// Extra AS prepends on what is advertised.
    pub prepend: u8,
    pub med: Option<u32>,
    /// Communities added to every neighbor's (GRACEFUL_SHUTDOWN while draining).
    pub communities: Vec<String>,
    /// Why the decision is what it is, in one sentence.
    pub reason: String,
    pub checks: Vec<CheckStatus>,
    /// keepalived's VRRP process as watched (`[role] pidfile`); null for other role sources
    /// and `pidfile = ""`.
    pub role_engine: Option<EngineStatus>,
    /// Present while split brain is suspected (`[role] vrid`).
    pub split_brain: Option<SplitBrainStatus>,
    /// The VRRP advert watch, present when `[role] vrid` is set.
    pub vrrp_watch: Option<VrrpWatchStatus>,
    /// The etcd election or followed key (`source = "etcd"`/`"etcd-key"`).
    pub etcd: Option<super::etcd::EtcdStatus>,
    /// The last decisions (at most `history::HISTORY_LEN`), oldest first: the failover timeline.
    pub decisions: Vec<super::history::DecisionRecord>,
}

/// One health check; `ok`, `detail`, `duration_ms`, `age_ms` describe its last probe run
/// (null before the first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckStatus {
    pub name: String,
    pub healthy: bool,
    pub stalled: bool,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    pub rise: u32,
    pub fall: u32,
    pub interval_ms: u64,
    pub ok: Option<bool>,
    /// First output line or what went wrong.
    pub detail: Option<String>,
    pub duration_ms: Option<u64>,
    /// How long ago the last result came in.
    pub age_ms: Option<u64>,
    /// Every run's duration since the check was created (`/metrics`:
    /// `anycastd_check_run_duration_seconds`).
    pub durations: DurationsStatus,
}

/// A check's duration histogram: `count[i]` runs took at most `le_us[i]` µs (cumulative, as
/// Prometheus has it); `total` runs in all (the +Inf bucket), taking `sum_us` µs together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DurationsStatus {
    pub le_us: Vec<u64>,
    pub count: Vec<u64>,
    pub total: u64,
    pub sum_us: u64,
}

impl From<&super::health::DurationHistogram> for DurationsStatus {
    fn from(h: &super::health::DurationHistogram) -> Self {
        let mut acc = 0u64;
        let count = h
            .counts
            .iter()
            .take(super::health::DURATION_BUCKETS_US.len())
            .map(|c| {
                acc = acc.saturating_add(*c);
                acc
            })
            .collect();
        DurationsStatus {
            le_us: super::health::DURATION_BUCKETS_US.to_vec(),
            count,
            total: h.count(),
            sum_us: h.sum_us,
        }
    }
}

/// The operator's drain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrainState {
    #[default]
    None,
    Draining,
    Drained,
}

/// The operator's drain and, while draining, the time until withdrawal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrainStatus {
    pub state: DrainState,
    pub remaining_ms: Option<u64>,
}

/// A decision in serializable form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionView {
    pub state: AdvertState,
    /// Prefixes advertised (empty when withdrawn).
    pub advertised: Vec<String>,
    pub prepend: u8,
    pub med: Option<u32>,
    pub communities: Vec<String>,
    pub reason: String,
}

impl From<&Decision> for DecisionView {
    fn from(d: &Decision) -> Self {
        DecisionView {
            state: d.state,
            advertised: d.advert.prefixes.iter().map(|p| p.to_string()).collect(),
            prepend: d.advert.prepend,
            med: d.advert.med,
            communities: d.advert.communities.iter().map(|c| c.to_string()).collect(),
            reason: d.reason.clone(),
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn check_status(name: &str, c: &CheckState, now: Instant) -> CheckStatus {
    let last = c.last_result.as_ref();
    CheckStatus {
        name: name.to_string(),
        healthy: c.is_healthy(now),
        stalled: c.is_stalled(now),
        consecutive_ok: c.consecutive_ok,
        consecutive_fail: c.consecutive_fail,
        rise: c.rise,
        fall: c.fall,
        interval_ms: ms(c.interval),
        ok: last.map(|r| r.ok),
        detail: last.map(|r| r.detail.clone()),
        duration_ms: last.map(|r| ms(r.duration)),
        age_ms: last.map(|r| ms(now.saturating_duration_since(r.at))),
        durations: DurationsStatus::from(&c.durations),
    }
}

/// The status of `d` at `now`.
pub fn status_of(d: &Decider, now: Instant) -> HaStatus {
    let drain = match d.drain() {
        Drain::None => DrainStatus { state: DrainState::None, remaining_ms: None },
        Drain::Draining { until } => {
            DrainStatus { state: DrainState::Draining, remaining_ms: Some(ms(until.saturating_duration_since(now))) }
        }
        Drain::Drained => DrainStatus { state: DrainState::Drained, remaining_ms: None },
    };
    let DecisionView { state, advertised, prepend, med, communities, reason } = DecisionView::from(d.current());
    HaStatus {
        role: d.effective_role(now),
        role_detail: d.role().detail.clone(),
        healthy: d.healthy(now),
        drained: drain.state != DrainState::None,
        drain,
        advertising: advertised,
        advert_state: state,
        prepend,
        med,
        communities,
        reason,
        checks: d.checks().iter().map(|(n, c)| check_status(n, c, now)).collect(),
        // The controller's, not the decider's: filled in by `HaController::status`.
        role_engine: None,
        split_brain: None,
        vrrp_watch: None,
        etcd: None,
        decisions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::decision::{CheckSpec, Input, RoleUpdate};
    use super::super::health::CheckResult;
    use super::*;
    use crate::config::Standby;

    #[test]
    fn status_json_shows_checks_drain_and_decision() {
        let t0 = Instant::now();
        let spec = CheckSpec { name: "db".into(), rise: 1, fall: 2, interval: Duration::from_millis(500) };
        let mut d = Decider::new(vec!["203.0.113.124/32".parse().unwrap()], Standby::Withdraw, vec![spec], None, t0);
        d.update(t0, Input::Role(RoleUpdate::new(Role::Primary, "static")));
        let result = CheckResult { ok: true, detail: "ok".into(), duration: Duration::from_millis(7), at: t0 };
        d.update(t0, Input::Check { index: 0, result });
        d.update(t0, Input::Drain { until: t0 + Duration::from_secs(10) });
        let s = status_of(&d, t0 + Duration::from_millis(250));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["role"], "primary");
        assert_eq!(json["healthy"], true);
        assert_eq!(json["checks"][0]["duration_ms"], 7);
        assert_eq!(json["checks"][0]["age_ms"], 250);
        assert_eq!(json["checks"][0]["ok"], true);
        assert_eq!(json["checks"][0]["consecutive_ok"], 1);
        assert_eq!(json["checks"][0]["durations"]["total"], 1);
        assert_eq!(json["checks"][0]["durations"]["count"][2], 0, "7 ms is not ≤ 5 ms");
        assert_eq!(json["checks"][0]["durations"]["count"][3], 1, "7 ms ≤ 10 ms");
        assert_eq!(json["checks"][0]["durations"]["sum_us"], 7000);
        assert_eq!(json["drained"], true);
        assert_eq!(json["drain"]["state"], "draining");
        assert_eq!(json["drain"]["remaining_ms"], 9750);
        assert_eq!(json["advert_state"], "draining");
        assert_eq!(json["advertising"][0], "203.0.113.124/32");
        assert_eq!(json["communities"].as_array().unwrap().len(), 1);
        assert_eq!(serde_json::from_value::<HaStatus>(json).unwrap(), s, "reads back as it was written");
        let standby = serde_json::to_value(AdvertState::Standby(3)).unwrap();
        assert_eq!(standby, serde_json::json!({"standby": 3}));
    }
}
