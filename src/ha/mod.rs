//! High availability: advertise the anycast prefixes exactly while this node is the primary of
//! its HA pair, its service is healthy and it is not drained — and withdraw the moment any of
//! that stops being true. [`HaController`] is the tokio edge: one task per health check
//! (`probe`), one for the role source (`role`), one for deadlines (drain end, stalls); all feed
//! the pure [`decision::Decider`] under one lock and publish each new [`Decision`] on a `watch`
//! channel (and to an optional synchronous hook) in the same task wake-up as the input that
//! caused it — no polling loop in between. The operator's drain is kept in `state_dir/drain`.
//! `decision`, `health` and `status` are pure; nothing here talks BGP (the speaker follows).

pub mod decision;
pub mod health;
pub mod loopback;
pub mod probe;
pub mod role;
pub mod state;
pub mod status;

#[cfg(test)]
mod controller_tests;
#[cfg(test)]
mod decision_tests;
#[cfg(test)]
mod probe_tests;

use crate::config::{Config, HealthCheck, RoleSource, Standby};
use decision::{CheckSpec, Decider, Drain, Input, RoleUpdate};
use health::{CheckResult, STALL_INTERVALS};
use ipnet::IpNet;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use decision::{Advert, AdvertState, Decision, Role};
pub use status::{DecisionView, HaStatus};

/// Shortest health-check interval honoured.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// Called with every new decision, synchronously and under the controller's lock, so it sees
/// decisions in order; it must not block (e.g. `speaker.set_advert(d.advert.clone())`).
pub type DecisionHook = Arc<dyn Fn(&Decision) + Send + Sync>;

/// What the controller needs from the config.
#[derive(Clone, Debug, PartialEq)]
pub struct HaConfig {
    pub prefixes: Vec<IpNet>,
    pub standby: Standby,
    pub role: RoleSource,
    pub checks: Vec<HealthCheck>,
    /// Where `drain` is kept.
    pub state_dir: PathBuf,
}

impl From<&Config> for HaConfig {
    fn from(c: &Config) -> Self {
        HaConfig {
            prefixes: c.anycast.prefixes.clone(),
            standby: c.anycast.standby,
            role: c.role.clone(),
            checks: c.health.clone(),
            state_dir: c.control.state_dir.clone(),
        }
    }
}

/// One check run by [`HaController::check_now`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub duration_ms: u64,
}

/// The answer to an operator command: the decision now in force, and a warning when the
/// command took effect but could not be saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommandOutcome {
    pub decision: DecisionView,
    pub warning: Option<String>,
}

/// The running HA controller. Dropping it stops its tasks.
pub struct HaController {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

struct Shared {
    decider: Mutex<Decider>,
    tx: watch::Sender<Decision>,
    hook: Option<DecisionHook>,
    /// Wakes the deadline task after every input (the next deadline may have moved).
    inputs: Notify,
    checks: Vec<HealthCheck>,
    role: RoleSource,
    drain_path: PathBuf,
}

/// `now` for the decider, following tokio's clock (so paused-time tests work).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Decider> {
        // A panic elsewhere must not stop HA: the decider's state is still consistent.
        self.decider.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `input` and publishes a new decision, all before returning.
    fn apply(&self, input: Input) -> Decision {
        let now = now();
        let mut d = self.lock();
        match &input {
            Input::Role(u) if d.role() != u => info!(role = ?u.role, "role: {}", u.detail),
            _ => {}
        }
        let before = match &input {
            Input::Check { index, .. } => d.checks().get(*index).map(|(_, c)| c.healthy),
            _ => None,
        };
        let index = match &input {
            Input::Check { index, .. } => Some(*index),
            _ => None,
        };
        let changed = d.update(now, input);
        if let (Some(i), Some(was)) = (index, before) {
            if let Some((name, c)) = d.checks().get(i) {
                let detail = c.last_result.as_ref().map_or("", |r| r.detail.as_str());
                match (was, c.healthy) {
                    (false, true) => info!(check = %name, "check `{name}` healthy ({}/{}): {detail}", c.rise, c.rise),
                    (true, false) => warn!(check = %name, "check `{name}` unhealthy ({}/{}): {detail}", c.fall, c.fall),
                    _ => {}
                }
            }
        }
        if let Some(dec) = &changed {
            info!(state = ?dec.state, "{}", dec.reason);
            if let Some(hook) = &self.hook {
                hook(dec);
            }
            self.tx.send_replace(dec.clone());
        }
        let current = d.current().clone();
        drop(d);
        self.inputs.notify_one();
        current
    }

    fn record(&self, index: usize, o: probe::ProbeOutcome) -> Decision {
        let result = CheckResult { ok: o.ok, detail: o.detail, duration: o.duration, at: now() };
        self.apply(Input::Check { index, result })
    }

    fn save_drain(&self, drain: Drain) -> Option<String> {
        state::save_drain(&self.drain_path, drain, now(), SystemTime::now())
            .map_err(|e| {
                let w = format!("{e}; the drain is in effect but a restart would forget it");
                warn!("{w}");
                w
            })
            .err()
    }
}

impl HaController {
    /// Loads the saved drain, starts the role source, the checks and the deadline timer. The
    /// first decision (withdrawn until role and checks say otherwise) is already on the channel.
    pub fn start(cfg: HaConfig, hook: Option<DecisionHook>) -> HaController {
        let t = now();
        let specs = cfg
            .checks
            .iter()
            .map(|c| CheckSpec { name: c.name.clone(), rise: c.rise, fall: c.fall, interval: c.interval })
            .collect();
        let role_max_age = match &cfg.role {
            RoleSource::Exec { interval, .. } => Some(interval.saturating_mul(STALL_INTERVALS)),
            _ => None,
        };
        let decider = Decider::new(cfg.prefixes.clone(), cfg.standby, specs, role_max_age, t);
        let first = decider.current().clone();
        info!("{}", first.reason);
        if let Some(hook) = &hook {
            hook(&first);
        }
        let (tx, _) = watch::channel(first);
        let shared = Arc::new(Shared {
            decider: Mutex::new(decider),
            tx,
            hook,
            inputs: Notify::new(),
            checks: cfg.checks.clone(),
            role: cfg.role.clone(),
            drain_path: cfg.state_dir.join("drain"),
        });
        let (drain, problem) = state::load_drain(&shared.drain_path, t, SystemTime::now());
        if let Some(p) = problem {
            warn!("{p}");
        }
        match drain {
            Drain::None => {}
            Drain::Draining { until } => {
                info!("resuming the drain saved in {}", shared.drain_path.display());
                shared.apply(Input::Drain { until });
            }
            Drain::Drained => {
                info!("staying drained as saved in {}", shared.drain_path.display());
                shared.apply(Input::Drain { until: t });
            }
        }
        let mut tasks = Vec::new();
        let (role_tx, mut role_rx) = mpsc::channel::<RoleUpdate>(16);
        tasks.push(role::spawn_source(&cfg.role, role_tx));
        let s = shared.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(u) = role_rx.recv().await {
                s.apply(Input::Role(u));
            }
        }));
        for index in 0..cfg.checks.len() {
            tasks.push(tokio::spawn(run_check(shared.clone(), index)));
        }
        tasks.push(tokio::spawn(run_deadlines(shared.clone())));
        HaController { shared, tasks }
    }

    /// A receiver of every new decision; the one in force is its initial value (`borrow()`).
    pub fn subscribe(&self) -> watch::Receiver<Decision> {
        self.shared.tx.subscribe()
    }

    /// The decision in force.
    pub fn current(&self) -> Decision {
        self.shared.lock().current().clone()
    }

    /// Runs every check at once (`anycastd check`); the results count like scheduled ones.
    pub async fn check_now(&self) -> Vec<CheckReport> {
        let mut runs = Vec::new();
        for (index, c) in self.shared.checks.iter().enumerate() {
            let (probe, timeout, name) = (c.probe.clone(), c.timeout, c.name.clone());
            runs.push((index, name, tokio::spawn(async move { probe::run(&probe, timeout).await })));
        }
        let mut reports = Vec::new();
        for (index, name, run) in runs {
            let o = match run.await {
                Ok(o) => o,
                Err(e) => probe::ProbeOutcome {
                    ok: false,
                    detail: format!("probe task failed: {e}"),
                    duration: Duration::ZERO,
                },
            };
            let duration_ms = u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX);
            reports.push(CheckReport { name, ok: o.ok, detail: o.detail.clone(), duration_ms });
            self.shared.record(index, o);
        }
        reports
    }

    /// `anycastd notify MASTER|BACKUP|FAULT|STOP` from keepalived: saves the state (so a
    /// restart remembers it) and applies it at once. An error when the role source is not
    /// keepalived or the state is not one of keepalived's.
    pub fn notify_keepalived(&self, state: &str) -> Result<CommandOutcome, String> {
        let RoleSource::Keepalived { path } = &self.shared.role else {
            return Err("the role source is not keepalived ([role] source = \"keepalived\"); notify ignored".into());
        };
        let warning = match role::persist_role(path, state) {
            Ok(()) => None,
            Err(e) if e.starts_with("unknown keepalived state") => return Err(e),
            Err(e) => {
                let w = format!("{e}; the state is in effect but a restart would forget it");
                warn!("{w}");
                Some(w)
            }
        };
        let d = self.shared.apply(Input::Role(role::keepalived_update(state)));
        Ok(CommandOutcome { decision: DecisionView::from(&d), warning })
    }

    /// Advertises with GRACEFUL_SHUTDOWN for `seconds`, then withdraws (0: withdraw now).
    /// Saved in `state_dir/drain`.
    pub fn drain(&self, seconds: u64) -> CommandOutcome {
        let until = now().checked_add(Duration::from_secs(seconds)).unwrap_or_else(now);
        let d = self.shared.apply(Input::Drain { until });
        let drain = self.shared.lock().drain();
        let warning = self.shared.save_drain(drain);
        CommandOutcome { decision: DecisionView::from(&d), warning }
    }

    /// Ends a drain: back to the normal decision.
    pub fn undrain(&self) -> CommandOutcome {
        let d = self.shared.apply(Input::Undrain);
        let warning = self.shared.save_drain(Drain::None);
        CommandOutcome { decision: DecisionView::from(&d), warning }
    }

    /// New anycast prefixes (config reload): the speaker gets the difference at once, the rest
    /// of the decision is untouched.
    pub fn set_prefixes(&self, prefixes: Vec<IpNet>) -> Decision {
        self.shared.apply(Input::Prefixes(prefixes))
    }

    /// Role, health, each check's last result, drain and decision (`anycastd status --json`).
    pub fn status(&self) -> HaStatus {
        status::status_of(&self.shared.lock(), now())
    }

    /// Stops every task (the decision channel stays readable).
    pub fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for HaController {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs check `index` every interval and records each result as it comes in.
async fn run_check(shared: Arc<Shared>, index: usize) {
    let Some(check) = shared.checks.get(index).cloned() else { return };
    let mut ticker = tokio::time::interval(check.interval.max(MIN_INTERVAL));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let o = probe::run(&check.probe, check.timeout).await;
        shared.record(index, o);
    }
}

/// Sleeps until the decider's next deadline (re-computed after every input) and ticks it.
async fn run_deadlines(shared: Arc<Shared>) {
    loop {
        let next = shared.lock().next_deadline(now());
        let sleep = async {
            match next {
                // At least 1 ms, so a deadline that a tick does not clear cannot spin.
                Some(t) => {
                    let t =
                        tokio::time::Instant::from_std(t).max(tokio::time::Instant::now() + Duration::from_millis(1));
                    tokio::time::sleep_until(t).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shared.inputs.notified() => {}
            _ = sleep => {
                shared.apply(Input::Tick);
            }
        }
    }
}
