//! The advertise decision, pure: "advertise ⇔ role is primary ∧ healthy ∧ not drained". A
//! [`Decider`] holds the inputs (role, each check's hysteresis state, drain state) and turns
//! every [`Input`] into a new [`Decision`] only when what is advertised changes — never
//! periodically. It fails closed: nothing is advertised until the role is known and every check
//! has passed `rise` times; a stalled check or role source counts as failing. The standby
//! policy (`withdraw` or `prepend`) and operator drains (RFC 8326 GRACEFUL_SHUTDOWN until the
//! drain ends, then withdraw) are applied here too; a drain begun while advertising as primary
//! keeps advertising through a role change until it ends, so the peer that the role engine
//! makes primary because of the drain has its path in place before ours leaves. A managed anycast address that is not on
//! its interface ([`Input::Addresses`]) is never advertised, whatever the rest says: the node
//! cannot answer on it, so announcing it would make a black hole. No tokio, no clock reads: time comes in as
//! `now`, and [`Decider::next_deadline`] tells the edge when to call back with [`Input::Tick`].

use super::health::{CheckResult, CheckState};
use crate::config::{Preference, Standby};
use crate::session::policy::Announce;
use crate::wire::community::Community;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// This node's place in its HA pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Standby,
    /// Not reported yet, unreadable, or a state that is neither (keepalived FAULT/STOP).
    #[default]
    Unknown,
}

impl Role {
    /// The name in the status document and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
            Role::Unknown => "unknown",
        }
    }
}

/// A role as reported by a role source, with where it came from ("keepalived MASTER").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleUpdate {
    pub role: Role,
    pub detail: String,
    /// Honoured only until then, Unknown after (a saved keepalived state nobody confirmed).
    pub until: Option<Instant>,
}

impl RoleUpdate {
    pub fn new(role: Role, detail: impl Into<String>) -> Self {
        RoleUpdate { role, detail: detail.into(), until: None }
    }
}

/// The operator's drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    None,
    /// Advertise with GRACEFUL_SHUTDOWN until `until`, then withdraw.
    Draining {
        until: Instant,
    },
    /// Withdrawn until undrained.
    Drained,
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Role(RoleUpdate),
    /// A probe result for the check at `index` (config order).
    Check {
        index: usize,
        result: CheckResult,
    },
    /// Drain until `until` (at or before now: drained at once).
    Drain {
        until: Instant,
    },
    Undrain,
    /// The anycast prefixes changed (config reload); the decision is re-evaluated at once.
    Prefixes(Vec<IpNet>),
    /// Which managed anycast addresses are missing from the interface now (`manage_loopback`;
    /// the whole set each time, empty when all are there). Those are not advertised.
    Addresses(AddressReport),
    /// Time passed (a deadline from [`Decider::next_deadline`] was reached).
    Tick,
}

/// The managed addresses missing from their interface, and why (for the reason text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressReport {
    pub missing: Vec<IpNet>,
    /// Completes "203.0.113.124/32 …": e.g. "not on lo (re-add failed: No such device)".
    pub detail: String,
}

/// What is being advertised, in one word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdvertState {
    Advertising,
    /// Standby policy `prepend`: advertised with this many extra AS prepends.
    Standby(u8),
    /// Advertised with GRACEFUL_SHUTDOWN until the drain ends.
    Draining,
    #[default]
    Withdrawn,
}

/// What every neighbor is to advertise right now: the decision's output, which the speaker
/// carries out through each neighbor's export policy (`session::policy`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Advert {
    pub prefixes: Vec<IpNet>,
    /// Extra copies of our AS on the path (standby policy `prepend`).
    pub prepend: u8,
    /// MED override (standby policy `prepend`).
    pub med: Option<u32>,
    /// Added to whatever MED applies: the node preference (split-brain guard).
    pub med_offset: u32,
    /// Communities added to the neighbor's own (GRACEFUL_SHUTDOWN while draining).
    pub communities: Vec<Community>,
}

impl Advert {
    pub fn announce(prefixes: Vec<IpNet>) -> Self {
        Advert { prefixes, ..Default::default() }
    }

    pub fn nothing() -> Self {
        Advert::default()
    }

    /// The view a neighbor's export policy turns into routes.
    pub fn as_announce(&self) -> Announce<'_> {
        Announce {
            prefixes: &self.prefixes,
            prepend: self.prepend,
            med: self.med,
            med_offset: self.med_offset,
            communities: &self.communities,
        }
    }
}

/// The advertisement the speaker is to follow, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub advert: Advert,
    pub state: AdvertState,
    pub reason: String,
}

/// One health check as the decider sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub name: String,
    pub rise: u32,
    pub fall: u32,
    pub interval: Duration,
}

/// The inputs and the current decision.
#[derive(Clone, Debug)]
pub struct Decider {
    prefixes: Vec<IpNet>,
    standby: Standby,
    role: RoleUpdate,
    role_at: Instant,
    /// A role older than this counts as Unknown (exec sources: 3 intervals).
    role_max_age: Option<Duration>,
    checks: Vec<(String, CheckState)>,
    drain: Drain,
    /// The drain began while this node advertised as primary: until the drain ends it keeps
    /// advertising (with GRACEFUL_SHUTDOWN) even if the role changes meanwhile — the role engine
    /// hands MASTER to the peer because of the drain (track file), and the peer's path must be
    /// in place before ours leaves (make before break).
    drain_from_primary: bool,
    /// Managed addresses not on the interface: never advertised.
    addresses: AddressReport,
    /// The node preference: MED offset and prepends on every announcement.
    preference: Option<Preference>,
    /// Whether anything has been advertised since start (reason wording only).
    ever_advertised: bool,
    current: Decision,
}

impl Decider {
    /// Starts withdrawn, with the role unknown and every check unhealthy.
    pub fn new(
        prefixes: Vec<IpNet>,
        standby: Standby,
        checks: Vec<CheckSpec>,
        role_max_age: Option<Duration>,
        now: Instant,
    ) -> Self {
        let checks = checks.into_iter().map(|c| (c.name, CheckState::new(c.rise, c.fall, c.interval, now))).collect();
        let mut d = Decider {
            prefixes,
            standby,
            role: RoleUpdate::new(Role::Unknown, "no role reported yet"),
            role_at: now,
            role_max_age,
            checks,
            drain: Drain::None,
            drain_from_primary: false,
            addresses: AddressReport::default(),
            preference: None,
            ever_advertised: false,
            current: Decision { advert: Advert::nothing(), state: AdvertState::Withdrawn, reason: String::new() },
        };
        d.current = d.evaluate(now);
        d
    }

    /// Sets the node preference (`[anycast] preference`): every announcement from now on
    /// carries its MED offset and prepends, so that when two nodes both announce, routers
    /// prefer the one with the higher preference. Call before the first input.
    pub fn set_preference(&mut self, preference: Option<Preference>, now: Instant) {
        self.preference = preference;
        self.current = self.evaluate(now);
    }

    /// The decision in force (its reason kept up to date even when the decision did not change).
    pub fn current(&self) -> &Decision {
        &self.current
    }

    pub fn role(&self) -> &RoleUpdate {
        &self.role
    }

    /// The role after the staleness rule.
    pub fn effective_role(&self, now: Instant) -> Role {
        if self.role_is_stale(now) {
            Role::Unknown
        } else {
            self.role.role
        }
    }

    /// Takes over the hysteresis of `old` (the same check in the controller this one replaces)
    /// for the check at `index`, keeping this config's rise, fall and interval.
    pub fn carry_check(&mut self, index: usize, old: &CheckState) {
        if let Some((_, c)) = self.checks.get_mut(index) {
            c.carry_from(old);
        }
    }

    pub fn checks(&self) -> &[(String, CheckState)] {
        &self.checks
    }

    pub fn drain(&self) -> Drain {
        self.drain
    }

    /// Every check healthy at `now`.
    pub fn healthy(&self, now: Instant) -> bool {
        self.checks.iter().all(|(_, c)| c.is_healthy(now))
    }

    /// Applies `input`; returns the new decision if what is advertised changed.
    pub fn update(&mut self, now: Instant, input: Input) -> Option<Decision> {
        match input {
            Input::Role(r) => {
                self.role = r;
                self.role_at = now;
            }
            Input::Check { index, result } => {
                if let Some((_, c)) = self.checks.get_mut(index) {
                    c.record(result);
                }
            }
            Input::Drain { until } => {
                if !matches!(self.drain, Drain::Draining { .. }) {
                    self.drain_from_primary = self.current.state == AdvertState::Advertising;
                }
                self.drain = Drain::Draining { until };
            }
            Input::Undrain => self.drain = Drain::None,
            Input::Prefixes(p) => self.prefixes = p,
            Input::Addresses(a) => self.addresses = a,
            Input::Tick => {}
        }
        if let Drain::Draining { until } = self.drain {
            if now >= until {
                self.drain = Drain::Drained;
            }
        }
        if !matches!(self.drain, Drain::Draining { .. }) {
            self.drain_from_primary = false;
        }
        let next = self.evaluate(now);
        if next.advert == self.current.advert && next.state == self.current.state {
            self.current.reason = next.reason;
            return None;
        }
        if next.state != AdvertState::Withdrawn {
            self.ever_advertised = true;
        }
        self.current = next.clone();
        Some(next)
    }

    /// The earliest time at which the decision may change without any input: the drain end,
    /// a healthy check becoming stalled, the role going stale.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let drain = match self.drain {
            Drain::Draining { until } => Some(until),
            _ => None,
        };
        let stalls = self.checks.iter().filter(|(_, c)| c.is_healthy(now)).filter_map(|(_, c)| c.stall_deadline());
        let role = match self.role_max_age {
            Some(age) if !self.role_is_stale(now) && self.role.role != Role::Unknown => self.role_at.checked_add(age),
            _ => None,
        };
        let until = self.role.until.filter(|_| !self.role_is_stale(now) && self.role.role != Role::Unknown);
        drain.into_iter().chain(stalls).chain(role).chain(until).min()
    }

    fn role_is_stale(&self, now: Instant) -> bool {
        self.role_max_age.is_some_and(|age| now.saturating_duration_since(self.role_at) >= age)
            || self.role_expired(now)
    }

    fn role_expired(&self, now: Instant) -> bool {
        self.role.until.is_some_and(|u| now >= u)
    }

    fn role_phrase(&self, now: Instant) -> String {
        let d = &self.role.detail;
        if self.role_expired(now) && self.role.role != Role::Unknown {
            return format!("role unknown (not confirmed in time; last said {d})");
        }
        if self.role_is_stale(now) && self.role.role != Role::Unknown {
            let ms = now.saturating_duration_since(self.role_at).as_millis();
            return format!("role unknown (role source silent for {ms} ms; last said {d})");
        }
        match self.role.role {
            Role::Primary => format!("primary ({d})"),
            Role::Standby => format!("standby ({d})"),
            Role::Unknown => format!("role unknown ({d})"),
        }
    }

    fn health_phrase(&self) -> String {
        match self.checks.as_slice() {
            [] => "no health checks".to_string(),
            [(name, _)] => format!("check `{name}` healthy"),
            all => format!("all {} checks healthy", all.len()),
        }
    }

    fn prefix_list(&self) -> String {
        list(&self.prefixes)
    }

    /// The configured prefixes whose address is on the interface, and those whose is not.
    fn split_present(&self) -> (Vec<IpNet>, Vec<IpNet>) {
        self.prefixes.iter().partition(|p| !self.addresses.missing.contains(p))
    }

    /// "203.0.113.124/32 not on lo (…)", or `None` when every address is there.
    fn missing_phrase(&self, missing: &[IpNet]) -> Option<String> {
        if missing.is_empty() {
            return None;
        }
        let detail = match self.addresses.detail.as_str() {
            "" => "not on the interface",
            d => d,
        };
        Some(format!("address {} {detail}", list(missing)))
    }

    /// The decision the inputs call for at `now`.
    fn evaluate(&self, now: Instant) -> Decision {
        let draining = matches!(self.drain, Drain::Draining { until } if now < until);
        let held = draining && self.drain_from_primary && self.effective_role(now) != Role::Primary;
        let role = if held { Role::Primary } else { self.effective_role(now) };
        let failures: Vec<String> = self.checks.iter().filter_map(|(n, c)| c.describe_failure(n, now)).collect();
        let healthy = failures.is_empty();
        let prefixes = self.prefix_list();
        // Fail closed per address: one the node cannot answer on is never announced.
        let (present, missing) = self.split_present();
        let missing_phrase = self.missing_phrase(&missing);
        let why_ok = || {
            let partial = match &missing_phrase {
                Some(m) => format!("; not advertising {}: {m}", list(&missing)),
                None => String::new(),
            };
            let role = match held {
                true => format!("primary when the drain began, now {}", self.role_phrase(now)),
                false => self.role_phrase(now),
            };
            format!("{role} and {}{partial}", self.health_phrase())
        };

        // Base decision from role, health and the addresses present.
        let base = match (role, self.standby, healthy) {
            _ if present.is_empty() => None,
            (Role::Primary, _, true) => Some((self.preferred(present.clone(), 0, None), AdvertState::Advertising)),
            (Role::Standby, Standby::Prepend { count, med }, true) => {
                Some((self.preferred(present.clone(), count, med), AdvertState::Standby(count)))
            }
            _ => None,
        };
        let shown = list(&present);
        let withdraw = |causes: Vec<String>| {
            let verb = if self.ever_advertised { "withdrawing" } else { "not advertising" };
            Decision {
                advert: Advert::nothing(),
                state: AdvertState::Withdrawn,
                reason: format!("{verb} {prefixes}: {}", causes.join("; ")),
            }
        };
        match (self.drain, base) {
            (Drain::Drained, _) => {
                let mut causes = vec!["drained by operator (undrain to resume)".to_string()];
                causes.extend(self.not_advertising_causes(now, role, failures));
                withdraw(causes)
            }
            (Drain::Draining { until }, Some((mut advert, _))) if now < until => {
                advert.communities.push(Community::GRACEFUL_SHUTDOWN);
                let left = until.saturating_duration_since(now).as_secs_f64().ceil();
                Decision {
                    advert,
                    state: AdvertState::Draining,
                    reason: format!(
                        "draining {shown}: advertising with GRACEFUL_SHUTDOWN, withdrawal in {left} s ({})",
                        why_ok()
                    ),
                }
            }
            (_, Some((advert, state))) => {
                let reason = match state {
                    AdvertState::Standby(count) => {
                        let med = advert.med.map(|m| format!(", MED {m}")).unwrap_or_default();
                        format!(
                            "advertising {shown} with {count} extra AS prepends{med}{}: {}",
                            self.preference_phrase(),
                            why_ok()
                        )
                    }
                    _ => format!("advertising {shown}{}: {}", self.preference_phrase(), why_ok()),
                };
                Decision { advert, state, reason }
            }
            (drain, None) => {
                let mut causes = self.not_advertising_causes(now, role, failures);
                if matches!(drain, Drain::Draining { .. }) {
                    causes.push("draining".to_string());
                }
                withdraw(causes)
            }
        }
    }

    /// An announcement of `prefixes` with `prepend` extra AS copies and the MED override
    /// `med`, plus the node preference's share of each.
    fn preferred(&self, prefixes: Vec<IpNet>, prepend: u8, med: Option<u32>) -> Advert {
        let (extra, med_offset) = self.preference.map_or((0, 0), |p| (p.prepend(), p.med().unwrap_or(0)));
        Advert { prefixes, prepend: prepend.saturating_add(extra), med, med_offset, communities: Vec::new() }
    }

    /// ", preference 100 (MED +155)" for the reason, empty without a preference.
    fn preference_phrase(&self) -> String {
        let Some(p) = self.preference else { return String::new() };
        let mut parts = Vec::new();
        if let Some(m) = p.med() {
            parts.push(format!("MED +{m}"));
        }
        if p.prepend() > 0 {
            parts.push(format!("{} extra AS prepends", p.prepend()));
        }
        match parts.is_empty() {
            true => format!(", preference {}", p.value),
            false => format!(", preference {} ({})", p.value, parts.join(", ")),
        }
    }

    /// The reasons, besides a drain, that nothing is advertised.
    fn not_advertising_causes(&self, now: Instant, role: Role, failures: Vec<String>) -> Vec<String> {
        let mut causes = Vec::new();
        let prepend = matches!(self.standby, Standby::Prepend { .. });
        if role == Role::Unknown || (role == Role::Standby && !prepend) {
            causes.push(self.role_phrase(now));
        }
        causes.extend(failures);
        let (_, missing) = self.split_present();
        causes.extend(self.missing_phrase(&missing));
        causes
    }
}

fn list(prefixes: &[IpNet]) -> String {
    let p: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
    p.join(", ")
}
