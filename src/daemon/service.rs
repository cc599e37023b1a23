//! One anycast service in the running daemon: its HA controller, and the link from it to the
//! speaker (the gate that lets only the controller in force reach it, the service's counters).
//! The daemon runs one per service (`Config::services`); each decides for its own prefixes
//! only, and its decisions reach the speaker as that service's advertisement
//! (`Speaker::set_service_advert`), so one service's checks, role or drain never move another's
//! routes.

use crate::config::{RoleSource, Service, DEFAULT_SERVICE};
use crate::ha::track::Fitness;
use crate::ha::{AddressReport, AdvertState, Decision, DecisionHook, HaConfig, HaController};
use crate::speaker::Speaker;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Lets only the current HA controller of a service reach the speaker: a controller replaced
/// by a reload (and kept alive a while, e.g. by an `anycastd check` in progress) can never
/// make a stale decision stick.
pub struct HookGate {
    current: Mutex<u64>,
    inner: DecisionHook,
}

impl HookGate {
    pub fn new(inner: DecisionHook) -> Arc<HookGate> {
        Arc::new(HookGate { current: Mutex::new(0), inner })
    }

    /// The hook for a new controller; from this call on, every older controller's hook does
    /// nothing. The check and the call share one lock, so no old decision slips in between.
    pub fn next(self: &Arc<Self>) -> DecisionHook {
        let generation = self.bump();
        let gate = self.clone();
        Arc::new(move |d: &Decision| {
            let c = gate.current.lock().unwrap_or_else(|p| p.into_inner());
            if *c == generation {
                (gate.inner)(d);
            }
        })
    }

    /// Silences every hook handed out so far (the service is gone).
    pub fn close(&self) {
        self.bump();
    }

    fn bump(&self) -> u64 {
        let mut c = self.current.lock().unwrap_or_else(|p| p.into_inner());
        *c = c.wrapping_add(1);
        *c
    }
}

/// How long an `on_change` hook may run before it is killed.
pub const HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a service keeps across reloads that replace its controller.
#[derive(Default)]
pub struct ServiceStats {
    /// Transitions from advertising to withdrawn.
    pub failovers: AtomicU64,
    /// Changes of the decision.
    pub decisions: AtomicU64,
    was_advertising: AtomicBool,
    /// `on_change` (a reload may change it) and the advert state it was last told.
    hook: Mutex<(Option<Vec<String>>, Option<AdvertState>)>,
}

impl ServiceStats {
    /// Counts decision `d`; whether it ended an advertisement (a failover away from here).
    pub fn count(&self, d: &Decision) -> bool {
        self.decisions.fetch_add(1, Relaxed);
        let advertising = !d.advert.prefixes.is_empty();
        let failover = self.was_advertising.swap(advertising, Relaxed) && !advertising;
        if failover {
            self.failovers.fetch_add(1, Relaxed);
        }
        failover
    }

    /// Sets the `on_change` hook (from the config in force).
    pub fn set_hook(&self, argv: Option<Vec<String>>) {
        self.hook.lock().unwrap_or_else(|p| p.into_inner()).0 = argv;
    }

    /// Runs the `on_change` hook when `d`'s advert state differs from the last one (in the
    /// background: `hook::spawn` returns at once, never blocking the decision).
    fn on_change(&self, service: &str, d: &Decision) {
        let mut h = self.hook.lock().unwrap_or_else(|p| p.into_inner());
        if h.1 == Some(d.state) {
            return;
        }
        h.1 = Some(d.state);
        if let Some(argv) = &h.0 {
            crate::ha::hook::spawn(argv, service, state_word(d.state), &d.reason, HOOK_TIMEOUT);
        }
    }
}

/// The `STATE` an `on_change` hook is given.
pub fn state_word(s: AdvertState) -> &'static str {
    match s {
        AdvertState::Advertising => "advertising",
        AdvertState::Standby(_) => "standby",
        AdvertState::Draining => "draining",
        AdvertState::Withdrawn => "withdrawn",
    }
}

/// A service's link to the speaker, made once per service name and kept across reloads.
#[derive(Clone)]
pub struct ServiceLink {
    pub gate: Arc<HookGate>,
    pub stats: Arc<ServiceStats>,
}

impl ServiceLink {
    /// The link of service `name`: its decisions become its advertisement in `speaker`, and
    /// are counted in its stats and `node` (the node's totals). systemd's STATUS shows the
    /// reason, named after the service unless it is `default`.
    pub fn new(name: &str, speaker: Arc<Speaker>, node: Arc<crate::metrics::Counters>) -> ServiceLink {
        let stats = Arc::new(ServiceStats::default());
        let (st, name) = (stats.clone(), name.to_string());
        let hook: DecisionHook = Arc::new(move |d: &Decision| {
            speaker.set_service_advert(&name, d.advert.clone());
            node.decisions.fetch_add(1, Relaxed);
            if st.count(d) {
                node.failovers.fetch_add(1, Relaxed);
            }
            st.on_change(&name, d);
            if name == DEFAULT_SERVICE {
                crate::systemd::notify(&format!("STATUS={}", d.reason));
            } else {
                crate::systemd::notify(&format!("STATUS={name}: {}", d.reason));
            }
        });
        ServiceLink { gate: HookGate::new(hook), stats }
    }
}

/// A running service: its config and controller.
#[derive(Clone)]
pub struct ServiceRun {
    pub service: Service,
    pub cfg: HaConfig,
    pub ha: Arc<HaController>,
}

impl ServiceRun {
    pub fn name(&self) -> &str {
        &self.service.name
    }

    /// Whether this service follows the node's `[role]` (and its track file).
    pub fn follows_node_role(&self) -> bool {
        self.service.role.is_none()
    }
}

/// Which of `r`'s missing addresses are `service`'s.
pub fn addresses_of(service: &Service, r: &AddressReport) -> AddressReport {
    let missing: Vec<_> = r.missing.iter().filter(|p| service.prefixes.contains(p)).copied().collect();
    let detail = if missing.is_empty() { String::new() } else { r.detail.clone() };
    AddressReport { missing, detail }
}

/// The services keepalived's state for `instance` is for: those whose keepalived role names
/// that instance; when none does (or no instance is given), those whose keepalived role names
/// no instance. Empty when no service follows keepalived there.
pub fn notify_targets<'a, T>(runs: &'a [T], role_of: impl Fn(&T) -> &RoleSource, instance: Option<&str>) -> Vec<&'a T> {
    let follows = |r: &T| match role_of(r) {
        RoleSource::Keepalived(ka) => Some(ka.instance.clone()),
        _ => None,
    };
    if let Some(i) = instance {
        let named: Vec<_> = runs.iter().filter(|r| follows(r) == Some(Some(i.to_string()))).collect();
        if !named.is_empty() {
            return named;
        }
    }
    runs.iter().filter(|r| follows(r) == Some(None)).collect()
}

/// The fitness of several services as one (a role and its track file shared by them): every
/// failing check, named `service/check` outside the `default` service; drained when all are (a
/// drain of one service moves only its own routes, not the role the others follow).
pub fn joint_fitness<'a>(each: impl IntoIterator<Item = (&'a str, Fitness)>) -> Fitness {
    let mut out = Fitness { failing: Vec::new(), drained: true };
    let mut any = false;
    for (name, f) in each {
        any = true;
        out.drained &= f.drained;
        for c in f.failing {
            out.failing.push(if name == DEFAULT_SERVICE { c } else { format!("{name}/{c}") });
        }
    }
    out.drained &= any;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EnginePid, KeepalivedRole};

    fn ka(instance: Option<&str>) -> RoleSource {
        RoleSource::Keepalived(KeepalivedRole {
            path: "/var/lib/anycastd/role".into(),
            pidfile: EnginePid::Off,
            grace: std::time::Duration::from_secs(3),
            instance: instance.map(str::to_string),
            vrid: None,
        })
    }

    fn role_of<'a>(r: &'a (&str, RoleSource)) -> &'a RoleSource {
        &r.1
    }

    fn names<'a>(v: Vec<&'a (&'a str, RoleSource)>) -> Vec<&'a str> {
        v.into_iter().map(|(n, _)| *n).collect()
    }

    #[test]
    fn a_keepalived_state_reaches_the_services_of_its_instance_only() {
        let runs = [
            ("default", ka(None)),
            ("dns", ka(Some("VI_DNS"))),
            ("web", ka(Some("VI_WEB"))),
            ("f", RoleSource::Static),
        ];
        assert_eq!(names(notify_targets(&runs, role_of, Some("VI_DNS"))), ["dns"]);
        assert_eq!(names(notify_targets(&runs, role_of, Some("VI_WEB"))), ["web"]);
        // An instance no service names, or none given: the services following any instance.
        assert_eq!(names(notify_targets(&runs, role_of, Some("VI_OTHER"))), ["default"]);
        assert_eq!(names(notify_targets(&runs, role_of, None)), ["default"]);
        let named_only = [("dns", ka(Some("VI_DNS"))), ("f", RoleSource::Static)];
        assert!(notify_targets(&named_only, role_of, Some("VI_WEB")).is_empty());
        assert!(notify_targets(&named_only, role_of, None).is_empty());
    }

    #[test]
    fn a_shared_role_can_serve_only_when_every_service_sharing_it_can() {
        let fit =
            |failing: &[&str], drained| Fitness { failing: failing.iter().map(|s| s.to_string()).collect(), drained };
        let j = joint_fitness([("default", fit(&["up"], false)), ("dns", fit(&["unbound"], true))]);
        assert_eq!(j.failing, ["up", "dns/unbound"]);
        // One service drained does not drain the role the others follow; all drained does.
        assert!(!j.drained);
        assert!(joint_fitness([("a", fit(&[], true)), ("b", fit(&[], true))]).drained);
        assert_eq!(joint_fitness([]), Fitness::default());
    }

    #[test]
    fn a_service_sees_only_its_own_missing_addresses() {
        let svc = Service {
            name: "dns".into(),
            prefixes: vec!["203.0.113.53/32".parse().unwrap()],
            standby: crate::config::Standby::Withdraw,
            checks: vec![],
            role: None,
            on_change: None,
        };
        let r = AddressReport { missing: vec!["203.0.113.80/32".parse().unwrap()], detail: "not on lo".into() };
        assert_eq!(addresses_of(&svc, &r), AddressReport::default());
        let r = AddressReport { missing: vec!["203.0.113.53/32".parse().unwrap()], ..r };
        assert_eq!(addresses_of(&svc, &r), r);
    }
}
