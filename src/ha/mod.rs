//! High availability: advertise the anycast prefixes exactly while this node is the primary of
//! its HA pair, its service is healthy and it is not drained — and withdraw the moment any of
//! that stops being true. [`HaController`] is the tokio edge: one task per health check
//! (`probe`), one for the role source (`role`), one for deadlines (drain end, stalls); all feed
//! the pure [`decision::Decider`] under one lock and publish each new [`Decision`] on a `watch`
//! channel (and to an optional synchronous hook) in the same task wake-up as the input that
//! caused it — no polling loop in between. The operator's drain is kept in `state_dir/drain`.
//! With keepalived as the role source, two more tasks: keepalived's liveness (`engine`: the
//! death of the process that reported the role makes it Unknown) and, with `[role] vrid`, the
//! VRRP advert watch (`vrrp`: "split brain suspected", a warning only).
//! `decision`, `health` and `status` are pure; nothing here talks BGP (the speaker follows).

pub mod addrwatch;
pub mod decision;
pub mod engine;
pub mod etcd;
pub mod event;
pub mod health;
pub mod history;
pub mod hook;
pub mod http;
pub mod loopback;
pub mod persist;
pub mod probe;
pub mod role;
pub mod state;
pub mod status;
pub mod track;
pub mod vrrp;

#[cfg(test)]
mod controller_tests;
#[cfg(test)]
mod decision_tests;
#[cfg(test)]
mod probe_tests;

use crate::config::{Config, HealthCheck, Preference, RoleSource, Standby, TrackFile};
use decision::{CheckSpec, Decider, Drain, Input, RoleUpdate};
use health::{CheckResult, STALL_INTERVALS};
use ipnet::IpNet;
use persist::{Persister, Ticket};
use serde::Serialize;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use decision::{AddressReport, Advert, AdvertState, Decision, Role};
pub use status::{DecisionView, HaStatus};

/// Shortest health-check interval honoured.
const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// How long an operator command waits for its state to be saved before answering with a
/// warning (the command is in effect either way; the write goes on in order).
pub const PERSIST_WAIT: Duration = Duration::from_secs(2);

/// Called with every new decision, synchronously and under the controller's lock, so it sees
/// decisions in order; it must not block (e.g. `speaker.set_advert(d.advert.clone())`).
pub type DecisionHook = Arc<dyn Fn(&Decision) + Send + Sync>;

/// What the controller needs from the config.
#[derive(Clone, Debug, PartialEq)]
pub struct HaConfig {
    /// The service this controller decides for (`default`: the `[anycast]` one).
    pub service: String,
    pub prefixes: Vec<IpNet>,
    pub standby: Standby,
    pub role: RoleSource,
    pub checks: Vec<HealthCheck>,
    /// Where `drain` (`drain.SERVICE` for a `[[service]]`) is kept.
    pub state_dir: PathBuf,
    /// The role engine's track file, kept at 0 / weight from health and drain.
    pub track: Option<TrackFile>,
    /// The split-brain guard: MED / prepends on every announcement.
    pub preference: Option<Preference>,
}

impl From<&Config> for HaConfig {
    /// The implicit `default` service's (`[anycast]`, `[[health.check]]`, `[role]`).
    fn from(c: &Config) -> Self {
        HaConfig {
            service: crate::config::DEFAULT_SERVICE.to_string(),
            prefixes: c.anycast.prefixes.clone(),
            standby: c.anycast.standby,
            role: c.role.clone(),
            checks: c.health.clone(),
            state_dir: c.control.state_dir.clone(),
            track: c.track.clone(),
            preference: c.anycast.preference,
        }
    }
}

impl HaConfig {
    /// `service`'s: its prefixes, standby and checks; its own role (and track file) or the
    /// node's; the node's state directory and preference.
    pub fn for_service(c: &Config, service: &crate::config::Service) -> Self {
        let (role, track) = match &service.role {
            Some(r) => (r.source.clone(), r.track.clone()),
            None => (c.role.clone(), c.track.clone()),
        };
        HaConfig {
            service: service.name.clone(),
            prefixes: service.prefixes.clone(),
            standby: service.standby,
            role,
            checks: service.checks.clone(),
            state_dir: c.control.state_dir.clone(),
            track,
            preference: c.anycast.preference,
        }
    }

    /// Where the drain of this service is kept.
    pub fn drain_path(&self) -> PathBuf {
        if self.service == crate::config::DEFAULT_SERVICE {
            self.state_dir.join("drain")
        } else {
            self.state_dir.join(format!("drain.{}", self.service))
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

/// What a controller knew, for the one that replaces it on a reload.
#[derive(Clone, Debug)]
pub struct Carry {
    role: RoleSource,
    update: RoleUpdate,
    engine: engine::EngineState,
    checks: Vec<(String, crate::config::Probe, health::CheckState)>,
    history: history::History,
}

/// The running HA controller. Dropping it stops its tasks.
pub struct HaController {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The etcd role source (`source = "etcd"`/`"etcd-key"`), which resigns on a clean stop.
    etcd: Option<etcd::Handle>,
    /// Why no BGP neighbor serves (`None`: one does, or no speaker told): an etcd candidate
    /// stands down meanwhile, as keepalived's track file makes VRRP do.
    neighbors: watch::Sender<Option<String>>,
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
    /// Writes the keepalived state and the drain, off the runtime thread and in order.
    persister: Persister,
    /// Checks and drain as the track file and `check --quiet` see them (`track`).
    fitness: watch::Sender<track::Fitness>,
    /// Set (under the decider lock) by [`HaController::stop`]: no input changes the decision
    /// any more, so a replaced controller can never reach the speaker.
    stopped: AtomicBool,
    /// keepalived's liveness: who reported the role in force, who died. Taken after the
    /// decider lock, never before.
    engine: Mutex<engine::EngineState>,
    /// The VRRP advert watch (`[role] vrid`): split brain suspected. Taken after the decider
    /// lock, never before.
    vrrp: Mutex<vrrp::SplitBrain>,
    /// The last decisions and their causes (`status -v`). Taken after the decider lock, never
    /// before.
    history: Mutex<history::History>,
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
        self.with_lock(|d| {
            self.update_locked(d, input);
            d.current().clone()
        })
    }

    /// Runs `f` under the decider lock, then wakes the deadline task.
    fn with_lock<R>(&self, f: impl FnOnce(&mut Decider) -> R) -> R {
        let mut d = self.lock();
        let r = f(&mut d);
        drop(d);
        self.inputs.notify_one();
        r
    }

    /// Feeds `input` to the decider (the caller holds the lock) and publishes a changed
    /// decision to the hook and the channel. Nothing once stopped.
    fn update_locked(&self, d: &mut Decider, input: Input) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        match &input {
            // A new `until` alone (an etcd keep-alive moving the fence) is not news.
            Input::Role(u) if d.role().role != u.role || d.role().detail != u.detail => {
                info!(role = ?u.role, "role: {}", u.detail)
            }
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
        let cause = history::cause_of(&input, d.checks());
        let changed = d.update(now(), input);
        let fit = track::Fitness::of(d, now());
        self.fitness.send_if_modified(|f| std::mem::replace(f, fit.clone()) != fit);
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
            self.history().push(dec, cause, SystemTime::now());
            info!(state = ?dec.state, "{}", dec.reason);
            if let Some(hook) = &self.hook {
                hook(dec);
            }
            self.tx.send_replace(dec.clone());
        }
    }

    /// A role read by the role source. While our own write of the keepalived file `own` is
    /// queued, the file may still hold an older state than the one applied: such a read is
    /// ignored (`false`), and the file is read again once the writes settle. A report from a
    /// keepalived process already seen dead is not believed.
    fn source_role(&self, r: role::SourceReport, own: Option<&Path>) -> bool {
        self.with_lock(|d| {
            if own.is_some_and(|p| self.persister.pending(p)) {
                tracing::debug!("role source read {:?} while a write is queued: ignored", r.update.role);
                return false;
            }
            let u = self.engine_state().on_role(r.engine, r.update);
            self.update_locked(d, Input::Role(u));
            true
        })
    }

    fn engine_state(&self) -> MutexGuard<'_, engine::EngineState> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn split_brain(&self) -> MutexGuard<'_, vrrp::SplitBrain> {
        self.vrrp.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn history(&self) -> MutexGuard<'_, history::History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the keepalived watch saw: a death of the process that reported the role in force
    /// makes it Unknown at once.
    fn engine_event(&self, ev: engine::EngineEvent) {
        self.with_lock(|d| {
            let u = match ev {
                engine::EngineEvent::Seen(seen) => {
                    self.engine_state().on_seen(seen);
                    None
                }
                engine::EngineEvent::Exited(id) => {
                    warn!("keepalived's VRRP process (pid {}) exited", id.pid);
                    self.engine_state().on_exit(id, d.effective_role(now()))
                }
            };
            if let Some(u) = u {
                self.update_locked(d, Input::Role(u));
            }
        })
    }

    /// Queues the drain file for `drain` (call it under the lock that applied it).
    fn queue_drain(&self, drain: Drain) -> Ticket {
        let text = state::drain_text(drain, now(), SystemTime::now());
        self.persister.queue(&self.drain_path, text.map(String::into_bytes))
    }

    fn record(&self, index: usize, o: probe::ProbeOutcome) -> Decision {
        let result = CheckResult { ok: o.ok, detail: o.detail, duration: o.duration, at: now() };
        self.apply(Input::Check { index, result })
    }
}

/// Waits (at most [`PERSIST_WAIT`]) for `ticket`: the warning for the answer when the write
/// failed or is slow.
async fn saved(ticket: Ticket, what: &str) -> Option<String> {
    let e = ticket.wait(PERSIST_WAIT).await.err()?;
    let w = format!("{e}; {what} is in effect but a restart would forget it");
    warn!("{w}");
    Some(w)
}

impl HaController {
    /// Loads the saved drain, starts the role source, the checks and the deadline timer. The
    /// first decision (withdrawn until role and checks say otherwise) is already on the channel.
    /// Its files are written by a writer of its own.
    pub fn start(cfg: HaConfig, hook: Option<DecisionHook>) -> HaController {
        HaController::start_with(cfg, hook, Persister::start())
    }

    /// [`start`](Self::start) with the writer of the files given: the daemon shares one
    /// across reloads, so an old controller's last write can never land after a new one's.
    pub fn start_with(cfg: HaConfig, hook: Option<DecisionHook>, persister: Persister) -> HaController {
        HaController::start_seeded(cfg, hook, persister, AddressReport::default())
    }

    /// [`start_with`](Self::start_with) knowing which managed addresses are missing: they are
    /// left out of the very first decision (a reload that replaces the controller must not
    /// announce, even once, an address the watcher knows is gone).
    pub fn start_seeded(
        cfg: HaConfig,
        hook: Option<DecisionHook>,
        persister: Persister,
        addresses: AddressReport,
    ) -> HaController {
        HaController::start_carried(cfg, hook, persister, addresses, None)
    }

    /// [`start_seeded`](Self::start_seeded) taking over what the controller it replaces knew
    /// (a reload): the role, when the role source is unchanged, and the hysteresis of every check
    /// whose name and probe are unchanged — so a reload that only retunes a check (its interval,
    /// rise, fall) or adds one moves nothing that was healthy. A new or changed check starts
    /// unhealthy, as at start (fail closed).
    pub fn start_carried(
        cfg: HaConfig,
        hook: Option<DecisionHook>,
        persister: Persister,
        addresses: AddressReport,
        carry: Option<Carry>,
    ) -> HaController {
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
        let mut decider = Decider::new(cfg.prefixes.clone(), cfg.standby, specs, role_max_age, t);
        decider.set_preference(cfg.preference, t);
        let mut engine = engine::EngineState::new(match &cfg.role {
            RoleSource::Keepalived(ka) => ka.pidfile.clone(),
            _ => crate::config::EnginePid::Off,
        });
        let mut timeline = history::History::default();
        let cause = if carry.is_some() { "reload" } else { "start" };
        if let Some(c) = carry {
            timeline = c.history;
            for (i, check) in cfg.checks.iter().enumerate() {
                if let Some((_, _, old)) = c.checks.iter().find(|(n, p, _)| *n == check.name && *p == check.probe) {
                    decider.carry_check(i, old);
                }
            }
            // Not an etcd role: the old controller gives its lease up as it stops (another
            // candidate may win at once), so its leadership must not carry over.
            if c.role == cfg.role && !matches!(cfg.role, RoleSource::Etcd(_)) {
                decider.update(t, Input::Role(c.update));
                engine = c.engine;
            }
        }
        decider.update(t, Input::Addresses(addresses));
        let first = decider.current().clone();
        if !timeline.same_as_last(&first) {
            timeline.push(&first, cause.to_string(), SystemTime::now());
        }
        info!("{}", first.reason);
        if let Some(hook) = &hook {
            hook(&first);
        }
        let (tx, _) = watch::channel(first);
        let (fitness, _) = watch::channel(track::Fitness::of(&decider, t));
        let shared = Arc::new(Shared {
            decider: Mutex::new(decider),
            tx,
            hook,
            inputs: Notify::new(),
            checks: cfg.checks.clone(),
            role: cfg.role.clone(),
            drain_path: cfg.drain_path(),
            persister,
            fitness,
            stopped: AtomicBool::new(false),
            engine: Mutex::new(engine),
            vrrp: Mutex::new(vrrp::SplitBrain::new(match &cfg.role {
                RoleSource::Keepalived(ka) => ka.vrid,
                _ => None,
            })),
            history: Mutex::new(timeline),
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
        let (role_tx, role_rx) = mpsc::channel::<role::SourceReport>(16);
        let started = shared.persister.started();
        let (neighbors, _) = watch::channel(None);
        let etcd = match &cfg.role {
            RoleSource::Etcd(e) => {
                let (f, d, n) = (shared.fitness.subscribe(), shared.tx.subscribe(), neighbors.subscribe());
                let h = etcd::Handle::start(e.clone(), role_tx, f, d, n);
                Some(h)
            }
            _ => {
                tasks.push(role::spawn_source(&cfg.role, started, role_tx));
                None
            }
        };
        let own = match &cfg.role {
            RoleSource::Keepalived(ka) => {
                let loader =
                    role::KaLoader { path: ka.path.clone(), pidfile: ka.pidfile.clone(), started, grace: ka.grace };
                if ka.pidfile != crate::config::EnginePid::Off {
                    let s = shared.clone();
                    tasks.push(tokio::spawn(engine::watch(ka.pidfile.clone(), move |ev| s.engine_event(ev))));
                }
                if let Some(vrid) = ka.vrid {
                    tasks.push(tokio::spawn(vrrp::watch(vrid, shared.clone())));
                }
                Some(loader)
            }
            _ => None,
        };
        tasks.push(tokio::spawn(follow_role(shared.clone(), role_rx, own)));
        for index in 0..cfg.checks.len() {
            tasks.push(tokio::spawn(run_check(shared.clone(), index)));
        }
        tasks.push(tokio::spawn(run_deadlines(shared.clone())));
        HaController { shared, tasks: Mutex::new(tasks), etcd, neighbors }
    }

    /// Takes the decider's lock and lets it go: returns only when no decision is stuck under
    /// it. The daemon's liveness beat (`daemon::beat`) proves it of every service in turn, so a
    /// decision stuck under any lock, or the runtime thread stuck anywhere, stops the beats (and
    /// so BFD transmission).
    pub fn responsive(&self) {
        drop(self.shared.lock());
    }

    /// What a replacement controller takes over (see [`start_carried`](Self::start_carried)).
    pub fn carry(&self) -> Carry {
        let d = self.shared.lock();
        let checks = self
            .shared
            .checks
            .iter()
            .zip(d.checks())
            .map(|(c, (_, state))| (c.name.clone(), c.probe.clone(), state.clone()))
            .collect();
        Carry {
            role: self.shared.role.clone(),
            update: d.role().clone(),
            engine: self.shared.engine_state().clone(),
            checks,
            history: self.shared.history().clone(),
        }
    }

    /// A receiver of every new decision; the one in force is its initial value (`borrow()`).
    pub fn subscribe(&self) -> watch::Receiver<Decision> {
        self.shared.tx.subscribe()
    }

    /// Checks and drain as `check --quiet` and the track file see them, on every change.
    pub fn fitness(&self) -> watch::Receiver<track::Fitness> {
        self.shared.fitness.subscribe()
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
            // A controller stopped meanwhile (replaced by a reload) records nothing.
            self.shared.record(index, o);
        }
        reports
    }

    /// `anycastd notify MASTER|BACKUP|FAULT|STOP` from keepalived: applies the state at once
    /// (the speaker has it before this returns to the runtime), then saves it so a restart
    /// remembers it — off the runtime thread, in order — and waits at most [`PERSIST_WAIT`]
    /// for the save. An error when the role source is not keepalived or the state is not one
    /// of keepalived's.
    pub async fn notify_keepalived(&self, state: &str) -> Result<CommandOutcome, String> {
        let RoleSource::Keepalived(ka) = &self.shared.role else {
            return Err("the role source is not keepalived ([role] source = \"keepalived\"); notify ignored".into());
        };
        let word = role::keepalived_word(state)?;
        // Which keepalived process reports it, this boot and this anycastd: saved with the state.
        let spec = ka.pidfile.clone();
        let (seen, boot, me) =
            tokio::task::spawn_blocking(move || (engine::probe(&spec), role::boot_id(), engine::me()))
                .await
                .unwrap_or_else(|e| (engine::EngineNow::NotRunning(e.to_string()), Err(e.to_string()), None));
        if let Err(e) = &boot {
            warn!("{e}: the keepalived state is saved without its boot and a restart will not honour it");
        }
        let text = role::saved_text(&word, boot.ok().as_deref(), seen.id(), me);
        let (d, ticket) = self.shared.with_lock(|d| {
            let u = {
                let mut e = self.shared.engine_state();
                let id = seen.id();
                if e.watched() {
                    e.on_seen(seen);
                }
                e.on_role(id, role::keepalived_update(&word))
            };
            self.shared.update_locked(d, Input::Role(u));
            // Queued under the lock that applied it: queue order is apply order.
            (d.current().clone(), self.shared.persister.queue(&ka.path, Some(text.into_bytes())))
        });
        let warning = saved(ticket, "the state").await;
        Ok(CommandOutcome { decision: DecisionView::from(&d), warning })
    }

    /// Why a keepalived state for VRRP instance `instance` is ignored: `[role] instance` names
    /// another one. `None`: it is ours (or no instance is configured).
    pub fn ignores_instance(&self, instance: &str) -> Option<String> {
        let RoleSource::Keepalived(ka) = &self.shared.role else { return None };
        let ours = ka.instance.as_deref()?;
        (ours != instance).then(|| {
            let shown = crate::wire::text::escape_at_most(instance.as_bytes(), 64);
            format!("ignored: keepalived instance \"{shown}\" is not [role] instance \"{ours}\"")
        })
    }

    /// Advertises with GRACEFUL_SHUTDOWN for `seconds`, then withdraws (0: withdraw now).
    /// Saved in `state_dir/drain` after it is applied (see `notify_keepalived`).
    pub async fn drain(&self, seconds: u64) -> CommandOutcome {
        let until = now().checked_add(Duration::from_secs(seconds)).unwrap_or_else(now);
        self.drain_input(Input::Drain { until }).await
    }

    /// Ends a drain: back to the normal decision.
    pub async fn undrain(&self) -> CommandOutcome {
        self.drain_input(Input::Undrain).await
    }

    async fn drain_input(&self, input: Input) -> CommandOutcome {
        let (d, ticket) = self.shared.with_lock(|d| {
            self.shared.update_locked(d, input);
            (d.current().clone(), self.shared.queue_drain(d.drain()))
        });
        let warning = saved(ticket, "the drain").await;
        CommandOutcome { decision: DecisionView::from(&d), warning }
    }

    /// New anycast prefixes (config reload): the speaker gets the difference at once, the rest
    /// of the decision is untouched.
    pub fn set_prefixes(&self, prefixes: Vec<IpNet>) -> Decision {
        self.shared.apply(Input::Prefixes(prefixes))
    }

    /// Which managed anycast addresses are missing from the interface (the address watcher):
    /// those are withdrawn at once, and advertised again per the decision once back.
    pub fn set_addresses(&self, addresses: AddressReport) -> Decision {
        self.shared.apply(Input::Addresses(addresses))
    }

    /// Role, health, each check's last result, drain and decision (`anycastd status --json`).
    pub fn status(&self) -> HaStatus {
        let d = self.shared.lock();
        let t = now();
        let mut s = status::status_of(&d, t);
        s.role_engine = self.shared.engine_state().status();
        let sb = self.shared.split_brain();
        s.split_brain = sb.suspected(t, d.effective_role(t)).map(|x| x.status(t));
        s.vrrp_watch = sb.watch_status();
        s.etcd = self.etcd.as_ref().map(|h| h.status(t));
        s.decisions = self.shared.history().list();
        s
    }

    /// Whether a BGP neighbor serves (`None`) or why none does; the daemon tells it on every
    /// change of the speaker's serving count.
    pub fn set_neighbors(&self, why_not: Option<String>) {
        self.neighbors.send_if_modified(|n| std::mem::replace(n, why_not.clone()) != why_not);
    }

    /// Gives up an etcd leadership (revokes the lease) so that the next candidate takes over at
    /// once: the clean stop calls it once the withdraw is on the wire. Nothing for other role
    /// sources.
    pub async fn resign(&self) {
        if let Some(h) = &self.etcd {
            h.resign().await;
        }
    }

    /// Stops every task; from now on nothing changes its decision or reaches the hook (the
    /// decision channel stays readable). Writes already queued still land.
    pub fn stop(&self) {
        // Under the decider lock: an input being applied finishes first, none starts after.
        self.shared.with_lock(|_| self.shared.stopped.store(true, Ordering::SeqCst));
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            t.abort();
        }
        if let Some(h) = &self.etcd {
            h.stop();
        }
    }
}

impl Drop for HaController {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Feeds the role source's reports to the decider. A report ignored because our own write of
/// the keepalived file was queued is made good by reading the file (`own`) again once the
/// writes to it have settled.
async fn follow_role(shared: Arc<Shared>, mut rx: mpsc::Receiver<role::SourceReport>, own: Option<role::KaLoader>) {
    let mut settled = shared.persister.settled();
    let mut ignored = false;
    let own_path = own.as_ref().map(|l| l.path.clone());
    loop {
        tokio::select! {
            u = rx.recv() => {
                let Some(u) = u else { return };
                ignored |= !shared.source_role(u, own_path.as_deref());
            }
            Ok(()) = settled.changed(), if ignored => {
                let Some(loader) = own.clone() else { continue };
                if shared.persister.pending(&loader.path) {
                    continue;
                }
                let u = tokio::task::spawn_blocking(move || loader.load()).await.unwrap_or_else(|e| {
                    RoleUpdate::new(Role::Unknown, format!("cannot read the keepalived state: {e}")).into()
                });
                ignored = !shared.source_role(u, own_path.as_deref());
            }
        }
    }
}

/// Runs check `index` every interval, and at once on every event of its watcher (`event`),
/// and records each result as it comes in. An event's result is recorded only when it differs
/// from the last one: a burst of events repeating what the check already knows must not count
/// as `rise` consecutive successes in a millisecond; a change counts at once.
async fn run_check(shared: Arc<Shared>, index: usize) {
    let Some(check) = shared.checks.get(index).cloned() else { return };
    let mut ticker = tokio::time::interval(check.interval.max(MIN_INTERVAL));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut events = event::watch(&check.probe);
    let mut last: Option<bool> = None;
    loop {
        let wake = tokio::select! {
            _ = ticker.tick() => None,
            w = async {
                match events.as_mut() {
                    Some(e) => e.next().await,
                    None => std::future::pending().await,
                }
            } => Some(w),
        };
        let by_event = wake.is_some();
        let o = match wake {
            None => probe::run(&check.probe, check.timeout).await,
            Some(event::Wake { outcome: Some(o) }) => o,
            Some(event::Wake { outcome: None }) => probe::run(&check.probe, check.timeout).await,
        };
        if by_event && last == Some(o.ok) {
            continue;
        }
        last = Some(o.ok);
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
