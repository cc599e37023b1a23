//! `anycastd run`: load the config, start the speaker and the HA controller, connect the two
//! (every decision reaches the speaker in the same wake-up, no polling between them), serve the
//! control socket, and stop cleanly on SIGTERM/SIGINT: withdraw by Cease / Administrative
//! Shutdown (RFC 8203 message), so routers drop the route at once, then remove the loopback
//! addresses — in that order, so no traffic arrives for an address that is gone. Managed
//! addresses are watched while running (`ha::addrwatch`): re-added when deleted, withdrawn
//! while they cannot be. The keepalived track file (`ha::track`) follows "can serve" (checks,
//! drain, a serving neighbor) on every change of those, and gets the weight first at a stop.

use crate::config::Config;
use crate::control::{self, Request, Response};
use crate::ha::addrwatch::AddrWatch;
use crate::ha::loopback::Loopback;
use crate::ha::persist::Persister;
use crate::ha::track::{self, TrackWriter};
use crate::ha::{AddressReport, Advert};
use crate::ha::{Decision, DecisionHook, HaConfig, HaController};
use crate::speaker::Speaker;
use crate::status::StatusDoc;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::{Mutex, RwLock};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

/// Default `anycastd drain` time: long enough for routers to move traffic (RFC 8326).
pub const DEFAULT_DRAIN_SECS: u64 = 30;

/// The running daemon's parts, shared with the control socket.
pub struct Daemon {
    path: PathBuf,
    cfg: Mutex<Config>,
    speaker: Arc<Speaker>,
    ha: RwLock<Arc<HaController>>,
    gate: Arc<HookGate>,
    /// Writes the HA state files for every controller, so their writes stay in order.
    persister: Persister,
    loopback: Option<Arc<Loopback>>,
    /// Keeps the managed addresses on the interface (with `loopback`).
    addr_watch: std::sync::OnceLock<AddrWatch>,
    /// The watcher's last report. Held while it reaches the controller in force, and while a
    /// reload replaces the controller, so the new one starts knowing it.
    addresses: Mutex<AddressReport>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    counters: Arc<crate::metrics::Counters>,
    metrics_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Keeps `[role] track_file` in step with "can serve" (`ha::track`); `None` when off. A
    /// reload that changes the file or its weight replaces it.
    track: Mutex<Option<TrackWriter>>,
    track_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Bumped when a reload replaces the HA controller (the track follows the new one).
    ha_swaps: tokio::sync::watch::Sender<u64>,
    /// Set at the start of a clean stop: the node cannot serve any more.
    stopping: std::sync::atomic::AtomicBool,
}

/// Lets only the current HA controller's decisions reach the speaker: a controller replaced by
/// a reload (and kept alive a while, e.g. by an `anycastd check` in progress) can never make a
/// stale decision stick.
struct HookGate {
    current: Mutex<u64>,
    inner: DecisionHook,
}

impl HookGate {
    /// The hook for a new controller; from this call on, every older controller's hook does
    /// nothing. The check and the call share one lock, so no old decision slips in between.
    fn next(self: &Arc<Self>) -> DecisionHook {
        let generation = {
            let mut c = self.current.lock().unwrap_or_else(|p| p.into_inner());
            *c = c.wrapping_add(1);
            *c
        };
        let gate = self.clone();
        Arc::new(move |d: &Decision| {
            let c = gate.current.lock().unwrap_or_else(|p| p.into_inner());
            if *c == generation {
                (gate.inner)(d);
            }
        })
    }
}

impl Daemon {
    /// Starts everything: loopback addresses (if managed), the speaker with nothing to
    /// advertise (fail closed), then the HA controller whose decisions drive the speaker.
    pub async fn start(cfg: Config, path: PathBuf) -> Result<Arc<Daemon>, String> {
        for w in &cfg.warnings {
            warn!("{w}");
        }
        // The addresses go on the interface before anything can be announced.
        let loopback = if cfg.anycast.manage_loopback {
            let lo = Loopback::open(&cfg.anycast.interface).await?;
            lo.add(&cfg.anycast.prefixes).await?;
            info!(interface = %cfg.anycast.interface, prefixes = ?cfg.anycast.prefixes, "anycast addresses added");
            Some(Arc::new(lo))
        } else {
            None
        };
        let speaker = Arc::new(Speaker::start(&cfg, Advert::nothing()).await.map_err(|e| e.to_string())?);
        let sp = speaker.clone();
        let counters = Arc::new(crate::metrics::Counters::default());
        let cn = counters.clone();
        let was_advertising = std::sync::atomic::AtomicBool::new(false);
        let hook: DecisionHook = Arc::new(move |d| {
            sp.set_advert(d.advert.clone());
            use std::sync::atomic::Ordering::Relaxed;
            cn.decisions.fetch_add(1, Relaxed);
            let advertising = !d.advert.prefixes.is_empty();
            if was_advertising.swap(advertising, Relaxed) && !advertising {
                cn.failovers.fetch_add(1, Relaxed);
            }
            crate::systemd::notify(&format!("STATUS={}", d.reason));
        });
        let gate = Arc::new(HookGate { current: Mutex::new(0), inner: hook });
        let persister = Persister::start();
        let ha = Arc::new(HaController::start_with(HaConfig::from(&cfg), Some(gate.next()), persister.clone()));
        ha.beat(speaker.liveness());
        speaker.set_advert(ha.current().advert);
        let metrics_listen = cfg.metrics.as_ref().map(|m| m.listen);
        let track = Mutex::new(cfg.track.clone().map(|t| TrackWriter::start(t, persister.clone()).0));
        let d = Arc::new(Daemon {
            path,
            cfg: Mutex::new(cfg),
            speaker,
            ha: RwLock::new(ha),
            gate,
            persister,
            loopback,
            addr_watch: std::sync::OnceLock::new(),
            addresses: Mutex::new(AddressReport::default()),
            reloading: tokio::sync::Mutex::new(()),
            counters,
            metrics_task: Mutex::new(None),
            track,
            track_task: Mutex::new(None),
            ha_swaps: tokio::sync::watch::channel(0).0,
            stopping: Default::default(),
        });
        let task = tokio::spawn(follow_track(Arc::downgrade(&d)));
        *d.track_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        if let Some(lo) = &d.loopback {
            let weak = Arc::downgrade(&d);
            let report = Arc::new(move |r: AddressReport| {
                if let Some(d) = weak.upgrade() {
                    d.addresses_changed(r);
                }
            });
            let _ = d.addr_watch.set(AddrWatch::spawn(lo.clone(), d.config().anycast.prefixes, report));
        }
        if let Some(addr) = metrics_listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
            let weak = Arc::downgrade(&d);
            let refused = d.counters.metrics_refused.clone();
            let task = tokio::spawn(crate::metrics::serve(l, refused, move || match weak.upgrade() {
                Some(d) => crate::metrics::render(&d.status(), &d.counters),
                None => String::new(),
            }));
            *d.metrics_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
            info!(%addr, "serving Prometheus metrics on /metrics");
        }
        Ok(d)
    }

    /// The address watcher's report: to the controller in force (missing ones withdrawn).
    fn addresses_changed(&self, r: AddressReport) {
        let mut cell = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        *cell = r.clone();
        self.ha().set_addresses(r);
    }

    /// The HA controller now in force (a reload may replace it).
    pub fn ha(&self) -> Arc<HaController> {
        self.ha.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn config(&self) -> Config {
        self.cfg.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the config file. An invalid file is rejected and the running config kept.
    /// Unchanged neighbors keep their sessions; changed prefixes go out as UPDATE diffs;
    /// changed health checks or role source restart the HA controller (fail closed: withdrawn
    /// until the new checks pass `rise` times). A reload the speaker refuses takes back the
    /// addresses it added; once the speaker runs the new config, so does `cfg`, even when an
    /// old address cannot be removed (reported as an error).
    pub async fn reload(&self) -> Result<String, String> {
        let _one = self.reloading.lock().await;
        let path = self.path.clone();
        let new = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|e| format!("config rejected, still running the previous one: the loader failed: {e}"))?
            .map_err(|e| format!("config rejected, still running the previous one:\n{e}"))?;
        let old = self.config();
        for w in &new.warnings {
            warn!("{w}");
        }
        if new.control != old.control {
            // The socket, its group and the state directory are set up once, at start.
            warn!("[control] changed: it takes effect at the next restart");
        }
        let added: Vec<_> =
            new.anycast.prefixes.iter().filter(|p| !old.anycast.prefixes.contains(p)).copied().collect();
        let gone: Vec<_> = old.anycast.prefixes.iter().filter(|p| !new.anycast.prefixes.contains(p)).copied().collect();
        if let Some(lo) = &self.loopback {
            if let Err(e) = lo.add(&added).await {
                self.take_back(lo, &added).await;
                return Err(format!("reload rejected, still running the previous config: {e}"));
            }
        }
        let report = match self.speaker.reload(&new).await {
            Ok(r) => r,
            Err(e) => {
                if let Some(lo) = &self.loopback {
                    self.take_back(lo, &added).await;
                }
                return Err(format!("reload failed: {e}"));
            }
        };
        // The watcher owns the new set from here on: a gone prefix's removal below is ours.
        if let Some(w) = self.addr_watch.get() {
            w.set_prefixes(new.anycast.prefixes.clone()).await;
        }
        // The prefixes are the controller's only input a reload changes in place.
        let ha_same = HaConfig { prefixes: Vec::new(), ..HaConfig::from(&old) }
            == HaConfig { prefixes: Vec::new(), ..HaConfig::from(&new) };
        let ha_note = if ha_same {
            if !added.is_empty() || !gone.is_empty() {
                self.ha().set_prefixes(new.anycast.prefixes.clone());
            }
            "HA controller kept"
        } else {
            // From here on the old controller's decisions no longer reach the speaker.
            let hook = self.gate.next();
            // No watcher report slips between the seed and the swap.
            let addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
            let carry = self.ha().carry();
            let ha = Arc::new(HaController::start_carried(
                HaConfig::from(&new),
                Some(hook),
                self.persister.clone(),
                addresses.clone(),
                Some(carry),
            ));
            ha.beat(self.speaker.liveness());
            self.speaker.set_advert(ha.current().advert);
            let old_ha = std::mem::replace(&mut *self.ha.write().unwrap_or_else(|p| p.into_inner()), ha);
            self.ha_swaps.send_modify(|n| *n = n.wrapping_add(1));
            drop(addresses);
            old_ha.stop();
            "HA controller restarted (role or checks changed): the role and unchanged checks carried over, a new or changed check withdraws until it passes"
        };
        if new.track != old.track {
            // The old file gets the weight (whatever still reads it fails closed); the new one
            // starts at the weight too, and the follower re-evaluates it at once.
            let mut t = self.track();
            if let Some(old) = t.as_mut() {
                old.set(false, "[role] track_file changed by a reload: no longer kept".into());
            }
            *t = new.track.clone().map(|c| TrackWriter::start(c, self.persister.clone()).0);
            drop(t);
            self.ha_swaps.send_modify(|n| *n = n.wrapping_add(1));
        }
        // The speaker and HA run the new config: so does `cfg`, whatever happens next.
        *self.cfg.lock().unwrap_or_else(|p| p.into_inner()) = new;
        let removed = match &self.loopback {
            // The withdraw of removed prefixes was handed to the sessions by set_advert.
            Some(lo) => lo.remove(&gone).await,
            None => Ok(()),
        };
        let msg = format!(
            "reloaded {}: neighbors kept {:?}, restarted {:?}, added {:?}, removed {:?}, disabled {:?}; prefixes added {:?}, removed {:?}; {ha_note}",
            self.path.display(),
            report.kept,
            report.restarted,
            report.added,
            report.removed,
            report.disabled,
            added,
            gone
        );
        info!("{msg}");
        match removed {
            Ok(()) => Ok(msg),
            Err(e) => {
                error!("{e}");
                Err(format!("{msg}; but {e} (the new config is running; remove it by hand)"))
            }
        }
    }

    /// Removes `added` again after a reload that did not go through.
    async fn take_back(&self, lo: &Loopback, added: &[ipnet::IpNet]) {
        if let Err(e) = lo.remove(added).await {
            error!("reload failed and the addresses it added cannot be removed: {e}");
        }
    }

    /// Whether the node can serve now (`check --quiet`, the track file): every check healthy,
    /// not drained, a neighbor serving, not stopping; and why.
    pub fn can_serve(&self) -> (bool, String) {
        let fitness = self.ha().fitness().borrow().clone();
        track::can_serve(&fitness, self.speaker.serving(), self.stopping.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Re-evaluates the track file (see [`follow_track`]).
    fn update_track(&self) {
        if let Some(t) = self.track().as_mut() {
            let (ok, why) = self.can_serve();
            t.set(ok, why);
        }
    }

    fn track(&self) -> std::sync::MutexGuard<'_, Option<TrackWriter>> {
        self.track.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The track file's state for `status`.
    pub fn track_status(&self) -> Option<track::TrackStatus> {
        self.track().as_ref().map(TrackWriter::status)
    }

    /// Puts the weight into the track file first (keepalived hands MASTER to the peer), then
    /// withdraws with Cease / Administrative Shutdown, then removes the loopback addresses.
    pub async fn shutdown(&self, why: &str) {
        crate::systemd::notify("STOPPING=1");
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.metrics_task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
        if let Some(t) = self.track_task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
        let track = self.track().as_mut().and_then(TrackWriter::stop);
        self.speaker.shutdown(&format!("anycastd stopping ({why})"), Duration::from_secs(2)).await;
        if let Some(t) = track {
            if let Err(e) = t.wait(crate::ha::PERSIST_WAIT).await {
                error!("the track file keeps its last value: {e}");
            }
        }
        // Only now, with the withdraw on the wire, may the addresses go; first the watcher,
        // so that our own removal is not "repaired".
        if let Some(w) = self.addr_watch.get() {
            w.stop().await;
        }
        if let Some(lo) = &self.loopback {
            if let Err(e) = lo.remove(&self.config().anycast.prefixes).await {
                error!("cannot remove the anycast addresses: {e}");
            }
        }
    }

    /// What the speaker advertises now (the last decision that reached it).
    pub fn speaker_advert(&self) -> Advert {
        self.speaker.advert()
    }

    /// The status document (`anycastd status`, `/metrics`).
    pub fn status(&self) -> StatusDoc {
        StatusDoc {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ha: self.ha().status(),
            neighbors: self.speaker.status(),
            inbound: self.speaker.inbound(),
            track: self.track_status(),
        }
    }

    pub async fn handle(&self, req: Request) -> Response {
        let outcome = |o: crate::ha::CommandOutcome| {
            let mut m = o.decision.reason.clone();
            if let Some(w) = o.warning {
                m.push_str(&format!(" (warning: {w})"));
            }
            Response::ok(m)
        };
        match req {
            Request::Status => Response::status(self.status()),
            Request::Notify { state, instance } => {
                let ha = self.ha();
                if let Some(why) = instance.as_deref().and_then(|i| ha.ignores_instance(i)) {
                    return Response::ok(why);
                }
                match ha.notify_keepalived(&state).await {
                    Ok(o) => outcome(o),
                    Err(e) => Response::err(e),
                }
            }
            Request::Serving => match self.can_serve() {
                (true, why) => Response::ok(format!("can serve: {why}")),
                (false, why) => Response::err(format!("cannot serve: {why}")),
            },
            Request::Drain { seconds } => outcome(self.ha().drain(seconds.unwrap_or(DEFAULT_DRAIN_SECS)).await),
            Request::Undrain => outcome(self.ha().undrain().await),
            Request::Check => {
                let ha = self.ha();
                let reports = ha.check_now().await;
                let mut lines: Vec<String> = reports
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {}: {} ({} ms)",
                            if r.ok { "ok  " } else { "FAIL" },
                            r.name,
                            r.detail,
                            r.duration_ms
                        )
                    })
                    .collect();
                if lines.is_empty() {
                    lines.push("no health checks configured".into());
                }
                lines.push(ha.current().reason);
                Response::ok(lines.join("\n"))
            }
            Request::Reload => match self.reload().await {
                Ok(m) => Response::ok(m),
                Err(e) => Response::err(e),
            },
        }
    }
}

/// Keeps the track file in step with "can serve", event-driven: it waits for a change of the
/// HA controller's checks or drain, of a neighbor's serving, or of the controller itself
/// (reload). Each receiver is taken before the evaluation it guards, so no change slips by.
async fn follow_track(d: std::sync::Weak<Daemon>) {
    loop {
        let Some(daemon) = d.upgrade() else { return };
        let (mut fitness, mut serving, mut swaps) =
            (daemon.ha().fitness(), daemon.speaker.serving_changes(), daemon.ha_swaps.subscribe());
        daemon.update_track();
        drop(daemon);
        tokio::select! {
            _ = fitness.changed() => {}
            _ = serving.changed() => {}
            _ = swaps.changed() => {}
        }
    }
}

/// Runs until SIGTERM or SIGINT; SIGHUP reloads the config.
pub async fn run(cfg: Config, path: PathBuf) -> Result<(), String> {
    // Dropped on every way out of here: removes the socket file if it is still ours.
    let group = cfg.control.group.as_ref().map(|g| g.gid);
    let ctl = control::bind(&cfg.control.socket, group).map_err(|e| e.to_string())?;
    let d = Daemon::start(cfg, path).await?;
    info!(socket = %ctl.path().display(), "anycastd running");
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("cannot watch SIGHUP: {e}"))?;
    crate::systemd::notify(&format!("READY=1\nSTATUS={}", d.ha().current().reason));
    // The watchdog is fed from this loop: if it stalls, systemd restarts the daemon.
    let mut watchdog = tokio::time::interval(crate::systemd::watchdog_interval().unwrap_or(Duration::from_secs(3600)));
    let dc = d.clone();
    let server = control::serve(&ctl, control::Policy::ours(group), move |req| {
        let d = dc.clone();
        async move { d.handle(req).await }
    });
    let why = {
        // The control server borrows the socket; it ends (in-flight commands go on as their
        // own tasks) before the socket is removed.
        let server = server;
        tokio::pin!(server);
        loop {
            tokio::select! {
                _ = watchdog.tick() => { crate::systemd::notify("WATCHDOG=1"); }
                _ = term.recv() => break "SIGTERM",
                _ = int.recv() => break "SIGINT",
                _ = hup.recv() => {
                    let d = d.clone();
                    tokio::spawn(async move {
                        crate::systemd::notify("RELOADING=1");
                        if let Err(e) = d.reload().await {
                            error!("SIGHUP reload: {e}");
                        }
                        crate::systemd::notify("READY=1");
                    });
                }
                () = &mut server => {}
            }
        }
    };
    info!("stopping on {why}: sending Cease/Administrative Shutdown to every neighbor");
    drop(ctl);
    d.shutdown(why).await;
    Ok(())
}
