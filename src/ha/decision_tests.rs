//! Scripted transitions of the pure [`Decider`] on a simulated clock (a base `Instant` plus
//! offsets, no sleeps): every state, every reason text, fail-closed start, hysteresis, stalls,
//! drain timing and the prepend standby policy.

use super::decision::*;
use super::health::CheckResult;
use crate::config::Standby;
use crate::wire::community::Community;
use ipnet::IpNet;
use std::time::{Duration, Instant};

const IV: Duration = Duration::from_millis(1000);
const P: &str = "203.0.113.124/32";

struct Sim {
    t0: Instant,
    now: Instant,
    d: Decider,
}

fn prefixes() -> Vec<IpNet> {
    vec![P.parse().unwrap()]
}

fn spec(name: &str, rise: u32, fall: u32) -> CheckSpec {
    CheckSpec { name: name.into(), rise, fall, interval: IV }
}

impl Sim {
    fn new(standby: Standby, checks: Vec<CheckSpec>) -> Self {
        let t0 = Instant::now();
        Sim { t0, now: t0, d: Decider::new(prefixes(), standby, checks, None, t0) }
    }
    fn at(&mut self, ms: u64) -> &mut Self {
        self.now = self.t0 + Duration::from_millis(ms);
        self
    }
    fn input(&mut self, i: Input) -> Option<Decision> {
        self.d.update(self.now, i)
    }
    fn check(&mut self, index: usize, ok: bool, detail: &str) -> Option<Decision> {
        let result = CheckResult { ok, detail: detail.into(), duration: Duration::from_millis(2), at: self.now };
        self.input(Input::Check { index, result })
    }
    fn role(&mut self, role: Role, detail: &str) -> Option<Decision> {
        self.input(Input::Role(RoleUpdate::new(role, detail)))
    }
    fn tick(&mut self) -> Option<Decision> {
        self.input(Input::Tick)
    }
}

fn primary_healthy_two_checks() -> Sim {
    let mut s = Sim::new(Standby::Withdraw, vec![spec("db", 1, 3), spec("web", 1, 1)]);
    s.role(Role::Primary, "keepalived MASTER");
    s.check(0, true, "ok");
    let d = s.check(1, true, "200 OK").expect("advertises once both checks passed");
    assert_eq!(d.state, AdvertState::Advertising);
    s
}

#[test]
fn fail_closed_start_waits_for_role_and_every_rise() {
    let mut s = Sim::new(Standby::Withdraw, vec![spec("db", 2, 3), spec("web", 1, 1)]);
    assert_eq!(s.d.current().state, AdvertState::Withdrawn);
    assert_eq!(s.d.current().advert, Advert::nothing());
    assert_eq!(
        s.d.current().reason,
        format!(
            "not advertising {P}: role unknown (no role reported yet); check `db` has not run yet; \
             check `web` has not run yet"
        )
    );
    // Checks healthy but role unknown: still nothing.
    assert_eq!(s.at(100).check(0, true, "ok"), None);
    assert_eq!(s.check(1, true, "ok"), None);
    assert_eq!(s.at(1100).check(0, true, "ok"), None);
    assert!(s.d.healthy(s.now));
    assert_eq!(s.d.current().reason, format!("not advertising {P}: role unknown (no role reported yet)"));
    let d = s.role(Role::Primary, "keepalived MASTER").expect("primary and healthy");
    assert_eq!(d.advert, Advert::announce(prefixes()));
    assert_eq!(d.reason, format!("advertising {P}: primary (keepalived MASTER) and all 2 checks healthy"));
}

#[test]
fn primary_waits_for_rise_passes() {
    let mut s = Sim::new(Standby::Withdraw, vec![spec("db", 3, 3)]);
    assert_eq!(s.role(Role::Primary, "static"), None);
    assert_eq!(s.at(0).check(0, true, "ok"), None);
    assert_eq!(s.d.current().reason, format!("not advertising {P}: check `db` passed 1/3, not healthy yet"));
    assert_eq!(s.at(1000).check(0, true, "ok"), None);
    let d = s.at(2000).check(0, true, "ok").expect("third pass");
    assert_eq!(d.reason, format!("advertising {P}: primary (static) and check `db` healthy"));
}

#[test]
fn check_failure_withdraws_after_fall_with_reason() {
    let mut s = primary_healthy_two_checks();
    assert_eq!(s.at(1000).check(0, false, "exit 1"), None);
    assert_eq!(s.at(1000).check(1, true, "200 OK"), None);
    assert_eq!(s.at(2000).check(0, false, "exit 1"), None);
    assert_eq!(s.at(2000).check(1, true, "200 OK"), None);
    let d = s.at(3000).check(0, false, "exit 1").expect("third failure withdraws");
    assert_eq!(d.state, AdvertState::Withdrawn);
    assert_eq!(d.advert, Advert::nothing());
    assert_eq!(d.reason, format!("withdrawing {P}: check `db` failed 3/3: exit 1"));
    // Recovery (rise 1) re-advertises.
    let d = s.at(4000).check(0, true, "ok").expect("recovered");
    assert_eq!(d.state, AdvertState::Advertising);
    // No re-announcement while nothing changes.
    assert_eq!(s.at(4000).check(1, true, "200 OK"), None);
    assert_eq!(s.at(5000).check(0, true, "ok"), None);
}

#[test]
fn role_loss_withdraws_at_once() {
    let mut s = primary_healthy_two_checks();
    let d = s.role(Role::Standby, "keepalived BACKUP").expect("standby withdraws");
    assert_eq!(d.reason, format!("withdrawing {P}: standby (keepalived BACKUP)"));
    let d = s.role(Role::Primary, "keepalived MASTER").expect("back");
    assert_eq!(d.state, AdvertState::Advertising);
    let d = s.role(Role::Unknown, "keepalived FAULT").expect("fault withdraws");
    assert_eq!(d.reason, format!("withdrawing {P}: role unknown (keepalived FAULT)"));
}

#[test]
fn several_causes_are_all_named() {
    let mut s = primary_healthy_two_checks();
    s.role(Role::Standby, "keepalived BACKUP");
    s.at(500).check(1, false, "HTTP 503 Service Unavailable (expected 200-299)");
    assert_eq!(
        s.d.current().reason,
        format!(
            "withdrawing {P}: standby (keepalived BACKUP); \
             check `web` failed 1/1: HTTP 503 Service Unavailable (expected 200-299)"
        )
    );
}

#[test]
fn stalled_check_withdraws_on_tick_at_deadline() {
    let mut s = primary_healthy_two_checks();
    // Both last results at t0; stall after 3 intervals.
    assert_eq!(s.d.next_deadline(s.now), Some(s.t0 + 3 * IV));
    s.at(2000).check(1, true, "200 OK");
    assert_eq!(s.d.next_deadline(s.now), Some(s.t0 + 3 * IV));
    assert_eq!(s.at(2999).tick(), None);
    let d = s.at(3000).tick().expect("db stalled");
    assert_eq!(d.reason, format!("withdrawing {P}: check `db` stalled: no result for 3000 ms"));
    // Healthy checks still have a stall deadline; the stalled one does not.
    assert_eq!(s.d.next_deadline(s.now), Some(s.t0 + 5 * IV));
    // db reports again (rise 1): advertising again.
    let d = s.at(3100).check(0, true, "ok").expect("db back");
    assert_eq!(d.state, AdvertState::Advertising);
}

#[test]
fn hysteresis_flap_below_fall_does_not_withdraw() {
    let mut s = primary_healthy_two_checks();
    for (i, ok) in [false, false, true, false, false, true].into_iter().enumerate() {
        let ms = 1000 * (i as u64 + 1);
        assert_eq!(s.at(ms).check(0, ok, "flap"), None, "step {i}");
        s.check(1, true, "200 OK");
    }
    assert_eq!(s.d.current().state, AdvertState::Advertising);
}

#[test]
fn prepend_policy_advertises_while_standby_and_healthy() {
    let mut s = Sim::new(Standby::Prepend { count: 3, med: Some(200) }, vec![spec("db", 1, 1)]);
    s.role(Role::Standby, "keepalived BACKUP");
    let d = s.check(0, true, "ok").expect("standby + healthy advertises prepended");
    assert_eq!(d.state, AdvertState::Standby(3));
    assert_eq!(
        d.advert,
        Advert { prefixes: prefixes(), prepend: 3, med: Some(200), med_offset: 0, communities: vec![] }
    );
    assert_eq!(
        d.reason,
        format!(
            "advertising {P} with 3 extra AS prepends, MED 200: standby (keepalived BACKUP) and check `db` healthy"
        )
    );
    // Unhealthy: withdraw even in prepend mode.
    let d = s.at(1000).check(0, false, "exit 2").expect("unhealthy withdraws");
    assert_eq!(d.advert, Advert::nothing());
    assert_eq!(d.reason, format!("withdrawing {P}: check `db` failed 1/1: exit 2"));
    // Healthy again, then promoted: plain advert.
    assert_eq!(s.at(2000).check(0, true, "ok").map(|d| d.state), Some(AdvertState::Standby(3)));
    let d = s.role(Role::Primary, "keepalived MASTER").expect("promotion");
    assert_eq!(d.advert, Advert::announce(prefixes()));
    // Unknown role is not standby: withdraw.
    let d = s.role(Role::Unknown, "keepalived STOP").expect("unknown");
    assert_eq!(d.reason, format!("withdrawing {P}: role unknown (keepalived STOP)"));
}

#[test]
fn drain_advertises_gshut_until_deadline_then_withdraws() {
    let mut s = primary_healthy_two_checks();
    let until = s.t0 + Duration::from_secs(30);
    let d = s.input(Input::Drain { until }).expect("draining");
    assert_eq!(d.state, AdvertState::Draining);
    assert_eq!(d.advert.communities, vec![Community::GRACEFUL_SHUTDOWN]);
    assert_eq!(d.advert.prefixes, prefixes());
    assert_eq!(
        d.reason,
        format!(
            "draining {P}: advertising with GRACEFUL_SHUTDOWN, withdrawal in 30 s \
             (primary (keepalived MASTER) and all 2 checks healthy)"
        )
    );
    assert_eq!(s.d.next_deadline(s.now), Some(s.t0 + 3 * IV));
    // Keep checks fresh so only the drain deadline remains relevant.
    for sec in 1..30u64 {
        s.at(sec * 1000);
        s.check(0, true, "ok");
        assert_eq!(s.check(1, true, "ok"), None);
    }
    assert_eq!(s.d.next_deadline(s.now), Some(until));
    assert_eq!(s.at(29_999).tick(), None);
    let d = s.at(30_000).tick().expect("drain ended");
    assert_eq!(s.d.drain(), Drain::Drained);
    assert_eq!(d.state, AdvertState::Withdrawn);
    assert_eq!(d.reason, format!("withdrawing {P}: drained by operator (undrain to resume)"));
    let d = s.input(Input::Undrain).expect("undrain");
    assert_eq!(d.state, AdvertState::Advertising);
}

#[test]
fn drain_of_zero_seconds_withdraws_at_once() {
    let mut s = primary_healthy_two_checks();
    let d = s.input(Input::Drain { until: s.now }).expect("drained");
    assert_eq!(d.state, AdvertState::Withdrawn);
    assert_eq!(s.d.drain(), Drain::Drained);
}

#[test]
fn failure_while_draining_withdraws_and_health_returns_to_draining() {
    let mut s = primary_healthy_two_checks();
    s.input(Input::Drain { until: s.t0 + Duration::from_secs(60) });
    let d = s.at(1000).check(1, false, "HTTP 503").expect("fail closed overrides drain");
    assert_eq!(d.reason, format!("withdrawing {P}: check `web` failed 1/1: HTTP 503; draining"));
    let d = s.at(2000).check(1, true, "200").expect("back to draining");
    assert_eq!(d.state, AdvertState::Draining);
}

#[test]
fn drain_in_prepend_standby_keeps_prepend_and_adds_gshut() {
    let mut s = Sim::new(Standby::Prepend { count: 2, med: None }, vec![]);
    let d = s.role(Role::Standby, "file /run/anycastd/role: standby").expect("standby prepend");
    assert_eq!(d.state, AdvertState::Standby(2));
    assert!(d.reason.ends_with("standby (file /run/anycastd/role: standby) and no health checks"));
    let d = s.input(Input::Drain { until: s.t0 + IV }).expect("drain");
    assert_eq!(
        d.advert,
        Advert {
            prefixes: prefixes(),
            prepend: 2,
            med: None,
            med_offset: 0,
            communities: vec![Community::GRACEFUL_SHUTDOWN]
        }
    );
}

#[test]
fn no_checks_means_role_alone_decides() {
    let mut s = Sim::new(Standby::Withdraw, vec![]);
    let d = s.role(Role::Primary, "static").expect("static primary advertises at once");
    assert_eq!(d.reason, format!("advertising {P}: primary (static) and no health checks"));
    assert_eq!(s.d.next_deadline(s.now), None);
}

#[test]
fn stale_exec_role_counts_as_unknown() {
    let t0 = Instant::now();
    let mut d = Decider::new(prefixes(), Standby::Withdraw, vec![], Some(3 * IV), t0);
    assert!(d.update(t0, Input::Role(RoleUpdate::new(Role::Primary, "exec: primary"))).is_some());
    assert_eq!(d.next_deadline(t0), Some(t0 + 3 * IV));
    // A fresh report pushes the deadline.
    d.update(t0 + IV, Input::Role(RoleUpdate::new(Role::Primary, "exec: primary")));
    assert_eq!(d.next_deadline(t0 + IV), Some(t0 + 4 * IV));
    let w = d.update(t0 + 4 * IV, Input::Tick).expect("stale role withdraws");
    assert_eq!(
        w.reason,
        format!("withdrawing {P}: role unknown (role source silent for 3000 ms; last said exec: primary)")
    );
    assert_eq!(d.effective_role(t0 + 4 * IV), Role::Unknown);
    assert_eq!(d.next_deadline(t0 + 4 * IV), None);
}

#[test]
fn unknown_check_index_is_ignored() {
    let mut s = Sim::new(Standby::Withdraw, vec![]);
    assert_eq!(s.check(7, true, "ok"), None);
}

#[test]
fn two_prefixes_are_listed() {
    let ps: Vec<IpNet> = vec![P.parse().unwrap(), "2001:db8::124/128".parse().unwrap()];
    let t0 = Instant::now();
    let mut d = Decider::new(ps, Standby::Withdraw, vec![], None, t0);
    let a = d.update(t0, Input::Role(RoleUpdate::new(Role::Primary, "static"))).unwrap();
    assert_eq!(a.reason, format!("advertising {P}, 2001:db8::124/128: primary (static) and no health checks"));
}

const V6: &str = "2001:db8::124/128";

fn gone(missing: &[&str], detail: &str) -> Input {
    Input::Addresses(AddressReport {
        missing: missing.iter().map(|p| p.parse().unwrap()).collect(),
        detail: detail.into(),
    })
}

#[test]
fn a_missing_address_is_withdrawn_and_advertised_again_when_back() {
    let mut s = Sim::new(Standby::Withdraw, vec![]);
    s.role(Role::Primary, "static").expect("advertises");
    let w = s.input(gone(&[P], "not on lo (re-add failed: No such device)")).expect("withdraws at once");
    assert_eq!(w.state, AdvertState::Withdrawn);
    assert_eq!(w.advert, Advert::nothing());
    assert_eq!(w.reason, format!("withdrawing {P}: address {P} not on lo (re-add failed: No such device)"));
    let a = s.input(gone(&[], "")).expect("back: advertised again");
    assert_eq!(a.state, AdvertState::Advertising);
    assert_eq!(a.advert.prefixes, prefixes());
    assert_eq!(a.reason, format!("advertising {P}: primary (static) and no health checks"));
}

#[test]
fn only_the_missing_prefix_is_withdrawn() {
    let ps: Vec<IpNet> = vec![P.parse().unwrap(), V6.parse().unwrap()];
    let t0 = Instant::now();
    let mut d = Decider::new(ps.clone(), Standby::Withdraw, vec![], None, t0);
    d.update(t0, Input::Role(RoleUpdate::new(Role::Primary, "static"))).expect("advertises both");
    let part = d.update(t0, gone(&[P], "not on lo")).expect("one fewer prefix");
    assert_eq!(part.state, AdvertState::Advertising);
    assert_eq!(part.advert.prefixes, vec![V6.parse::<IpNet>().unwrap()]);
    assert_eq!(
        part.reason,
        format!("advertising {V6}: primary (static) and no health checks; not advertising {P}: address {P} not on lo")
    );
    let none = d.update(t0, gone(&[V6, P], "not on lo")).expect("both gone");
    assert_eq!(none.state, AdvertState::Withdrawn);
    assert_eq!(none.reason, format!("withdrawing {P}, {V6}: address {P}, {V6} not on lo"));
    assert_eq!(d.update(t0, gone(&[], "")).expect("both back").advert.prefixes, ps);
}

#[test]
fn a_missing_address_is_never_advertised_whatever_else_says() {
    // Missing before the role is known: the role alone does not announce it.
    let mut s = Sim::new(Standby::Prepend { count: 2, med: None }, vec![]);
    assert_eq!(s.input(gone(&[P], "")), None, "already withdrawn");
    assert_eq!(s.role(Role::Primary, "static"), None, "primary, but the address is not there");
    assert_eq!(s.d.current().reason, format!("not advertising {P}: address {P} not on the interface"));
    assert_eq!(s.role(Role::Standby, "file: standby"), None, "nor as a prepended standby");
    // Nor while draining (GRACEFUL_SHUTDOWN would still attract traffic).
    s.role(Role::Primary, "static");
    s.input(Input::Drain { until: s.now + IV });
    assert_eq!(s.d.current().state, AdvertState::Withdrawn);
    assert_eq!(s.d.current().reason, format!("not advertising {P}: address {P} not on the interface; draining"));
    let d = s.input(gone(&[], "")).expect("back: draining");
    assert_eq!(d.state, AdvertState::Draining);
}

#[test]
fn a_missing_address_and_another_cause_are_both_named() {
    let mut s = Sim::new(Standby::Withdraw, vec![]);
    s.role(Role::Primary, "static");
    s.input(gone(&[P], "not on lo"));
    s.role(Role::Standby, "keepalived BACKUP");
    assert_eq!(s.d.current().reason, format!("withdrawing {P}: standby (keepalived BACKUP); address {P} not on lo"));
}

#[test]
fn a_missing_address_that_is_not_configured_changes_nothing() {
    let mut s = Sim::new(Standby::Withdraw, vec![]);
    s.role(Role::Primary, "static");
    assert_eq!(s.input(gone(&["198.51.100.7/32"], "not on lo")), None);
    assert_eq!(s.d.current().reason, format!("advertising {P}: primary (static) and no health checks"));
}

#[test]
fn preference_puts_its_med_offset_and_prepends_on_every_announcement() {
    use crate::config::{PreferVia, Preference};
    let mut s = Sim::new(Standby::Prepend { count: 2, med: Some(200) }, vec![spec("db", 1, 1)]);
    s.d.set_preference(Some(Preference { value: 100, via: PreferVia::Both }), s.now);
    s.role(Role::Primary, "keepalived MASTER");
    let d = s.check(0, true, "ok").expect("advertises");
    // 255 - 100 = 155: MED +155 and 155 / 64 = 2 extra prepends.
    assert_eq!(d.advert, Advert { prefixes: prefixes(), prepend: 2, med: None, med_offset: 155, communities: vec![] });
    assert_eq!(
        d.reason,
        format!("advertising {P}, preference 100 (MED +155, 2 extra AS prepends): primary (keepalived MASTER) and check `db` healthy")
    );
    // Standby prepend: both shares add up; the standby MED stays the override.
    let d = s.role(Role::Standby, "keepalived BACKUP").expect("standby");
    assert_eq!(
        d.advert,
        Advert { prefixes: prefixes(), prepend: 4, med: Some(200), med_offset: 155, communities: vec![] }
    );
    // Draining keeps the preference.
    let d = s.input(Input::Drain { until: s.now + IV }).expect("draining");
    assert_eq!((d.advert.prepend, d.advert.med_offset), (4, 155));
    // MED only (the default): no prepend; the most preferred node adds nothing.
    for (value, offset) in [(200u8, 55u32), (255, 0), (0, 255)] {
        let mut s = Sim::new(Standby::Withdraw, vec![]);
        s.d.set_preference(Some(Preference { value, via: PreferVia::Med }), s.now);
        let d = s.role(Role::Primary, "static").expect("advertises");
        assert_eq!((d.advert.prepend, d.advert.med_offset), (0, offset), "preference {value}");
    }
}

#[test]
fn a_drain_begun_as_primary_keeps_advertising_through_a_role_change_until_it_ends() {
    let mut s = primary_healthy_two_checks();
    let until = s.t0 + Duration::from_secs(10);
    let d = s.at(0).input(Input::Drain { until }).expect("draining");
    assert_eq!(d.state, AdvertState::Draining);
    // keepalived goes FAULT because the drain set the track file: still draining (the peer's
    // path is being installed), not withdrawn.
    assert_eq!(s.at(100).role(Role::Unknown, "keepalived FAULT"), None);
    let c = s.d.current();
    assert_eq!(c.state, AdvertState::Draining);
    assert!(c.reason.contains("primary when the drain began, now role unknown (keepalived FAULT)"), "{}", c.reason);
    // Health still rules: a failing check withdraws at once.
    let d = s.at(200).check(1, false, "503").expect("withdrawn");
    assert_eq!(d.state, AdvertState::Withdrawn);
    s.at(300).check(1, true, "200 OK");
    assert_eq!(s.d.current().state, AdvertState::Draining);
    // The drain ends: withdrawn, and undrain does not bring back the old role.
    let d = s.at(10_000).tick().expect("drained");
    assert_eq!(d.state, AdvertState::Withdrawn);
    assert_eq!(s.at(10_100).input(Input::Undrain), None, "role unknown: nothing to advertise");
}

#[test]
fn a_drain_begun_while_not_primary_holds_nothing() {
    let mut s = Sim::new(Standby::Withdraw, vec![spec("db", 1, 1)]);
    s.role(Role::Standby, "keepalived BACKUP");
    s.check(0, true, "ok");
    let until = s.t0 + Duration::from_secs(10);
    s.input(Input::Drain { until });
    // The role becoming primary during the drain does not matter either: drains withdraw at the end.
    let d = s.at(100).role(Role::Primary, "keepalived MASTER").expect("draining as primary");
    assert_eq!(d.state, AdvertState::Draining);
    let d = s.at(200).role(Role::Unknown, "keepalived FAULT").expect("not held: it began as standby");
    assert_eq!(d.state, AdvertState::Withdrawn);
}
