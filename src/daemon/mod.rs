//! `anycastd run`: load the config, start the speaker and the HA controller, connect the two
//! (every decision reaches the speaker in the same wake-up, no polling between them), serve the
//! control socket, and stop cleanly on SIGTERM/SIGINT: withdraw by Cease / Administrative
//! Shutdown (RFC 8203 message), so routers drop the route at once, then remove the loopback
//! addresses — in that order, so no traffic arrives for an address that is gone. Managed
//! addresses are watched while running (`ha::addrwatch`): re-added when deleted, withdrawn
//! while they cannot be. The keepalived track file (`ha::track`) follows "can serve" (checks,
//! drain, a serving neighbor) on every change of those, and gets the weight first at a stop.
//! Each anycast service (`[[service]]`, and the implicit `default` one) runs its own HA
//! controller (`service`); a role's track file follows every service that shares that role.

mod service;

use crate::config::Config;
use crate::control::{self, Request, Response};
use crate::ha::addrwatch::AddrWatch;
use crate::ha::loopback::Loopback;
use crate::ha::persist::Persister;
use crate::ha::track::{self, TrackWriter};
use crate::ha::{AddressReport, Advert};
use crate::ha::{HaConfig, HaController};
use crate::speaker::Speaker;
use crate::status::{ServiceStatus, StatusDoc};
use service::{ServiceLink, ServiceRun};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::{Mutex, RwLock};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{debug, error, info, warn};

/// Default `anycastd drain` time: long enough for routers to move traffic (RFC 8326).
pub const DEFAULT_DRAIN_SECS: u64 = 30;

/// The running daemon's parts, shared with the control socket.
pub struct Daemon {
    path: PathBuf,
    cfg: Mutex<Config>,
    speaker: Arc<Speaker>,
    /// Every service's controller, in config order (the implicit `default` first).
    services: RwLock<Vec<Arc<ServiceRun>>>,
    /// Each service's link to the speaker, by name, kept across reloads.
    links: Mutex<BTreeMap<String, ServiceLink>>,
    /// Writes the HA state files for every controller, so their writes stay in order.
    persister: Persister,
    loopback: Option<Arc<Loopback>>,
    /// Beats the speaker's liveness while every service's decision loop is responsive.
    beat_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Keeps the managed addresses on the interface (with `loopback`).
    addr_watch: std::sync::OnceLock<AddrWatch>,
    /// The watcher's last report. Held while it reaches the controller in force, and while a
    /// reload replaces the controller, so the new one starts knowing it.
    addresses: Mutex<AddressReport>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    counters: Arc<crate::metrics::Counters>,
    metrics_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Keeps each role's track file in step with "can serve" (`ha::track`): `[role]
    /// track_file` for the services that follow the node's role, a `[service.role]`'s for its
    /// service. A reload that changes a file or its weight replaces it.
    tracks: Mutex<Vec<Track>>,
    track_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Bumped when a reload replaces an HA controller (the tracks follow the new one).
    ha_swaps: tokio::sync::watch::Sender<u64>,
    /// Set at the start of a clean stop: the node cannot serve any more.
    stopping: std::sync::atomic::AtomicBool,
}

/// One track file and the services whose fitness it follows (`None`: the node's role).
struct Track {
    service: Option<String>,
    cfg: crate::config::TrackFile,
    writer: TrackWriter,
}

impl Daemon {
    /// Starts everything: loopback addresses (if managed), the speaker with nothing to
    /// advertise (fail closed), then one HA controller per service whose decisions drive the
    /// speaker.
    pub async fn start(cfg: Config, path: PathBuf) -> Result<Arc<Daemon>, String> {
        for w in &cfg.warnings {
            warn!("{w}");
        }
        // The addresses go on the interface before anything can be announced.
        let all = cfg.all_prefixes();
        let loopback = if cfg.anycast.manage_loopback {
            let lo = Loopback::open(&cfg.anycast.interface).await?;
            lo.add(&all).await?;
            info!(interface = %cfg.anycast.interface, prefixes = ?all, "anycast addresses added");
            Some(Arc::new(lo))
        } else {
            None
        };
        let speaker = Arc::new(Speaker::start(&cfg, Advert::nothing()).await.map_err(|e| e.to_string())?);
        let metrics_listen = cfg.metrics.as_ref().map(|m| m.listen);
        let d = Arc::new(Daemon {
            path,
            cfg: Mutex::new(cfg.clone()),
            speaker,
            services: RwLock::new(Vec::new()),
            links: Mutex::new(BTreeMap::new()),
            persister: Persister::start(),
            loopback,
            beat_task: Mutex::new(None),
            addr_watch: std::sync::OnceLock::new(),
            addresses: Mutex::new(AddressReport::default()),
            reloading: tokio::sync::Mutex::new(()),
            counters: Arc::new(crate::metrics::Counters::default()),
            metrics_task: Mutex::new(None),
            tracks: Mutex::new(Vec::new()),
            track_task: Mutex::new(None),
            ha_swaps: tokio::sync::watch::channel(0).0,
            stopping: Default::default(),
        });
        {
            let none = AddressReport::default();
            let runs = cfg.services().into_iter().map(|s| d.start_service(&cfg, s, &none, None)).collect();
            *d.services.write().unwrap_or_else(|p| p.into_inner()) = runs;
        }
        d.set_tracks(&cfg);
        let task = tokio::spawn(beat(Arc::downgrade(&d), d.speaker.liveness()));
        *d.beat_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        let task = tokio::spawn(follow_track(Arc::downgrade(&d)));
        *d.track_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        if let Some(lo) = &d.loopback {
            let weak = Arc::downgrade(&d);
            let report = Arc::new(move |r: AddressReport| {
                if let Some(d) = weak.upgrade() {
                    d.addresses_changed(r);
                }
            });
            let _ = d.addr_watch.set(AddrWatch::spawn(lo.clone(), all, report));
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

    /// The link of service `name` (made at its first start).
    fn link(&self, name: &str) -> ServiceLink {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links
            .entry(name.to_string())
            .or_insert_with(|| ServiceLink::new(name, self.speaker.clone(), self.counters.clone()))
            .clone()
    }

    /// Starts `service`'s controller, knowing which managed addresses are missing and taking
    /// over `carry` from the controller it replaces; from now on only the new controller's
    /// decisions reach the speaker.
    fn start_service(
        &self,
        cfg: &Config,
        service: crate::config::Service,
        addresses: &AddressReport,
        carry: Option<crate::ha::Carry>,
    ) -> Arc<ServiceRun> {
        let link = self.link(&service.name);
        link.stats.set_hook(service.on_change.clone());
        let ha_cfg = HaConfig::for_service(cfg, &service);
        let addresses = service::addresses_of(&service, addresses);
        let ha = Arc::new(HaController::start_carried(
            ha_cfg.clone(),
            Some(link.gate.next()),
            self.persister.clone(),
            addresses,
            carry,
        ));
        self.speaker.set_service_advert(&service.name, ha.current().advert);
        Arc::new(ServiceRun { service, cfg: ha_cfg, ha })
    }

    /// The address watcher's report: to every service's controller in force (its missing
    /// addresses withdrawn).
    fn addresses_changed(&self, r: AddressReport) {
        let mut cell = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        *cell = r.clone();
        for run in self.runs() {
            run.ha.set_addresses(service::addresses_of(&run.service, &r));
        }
    }

    /// Service `name`'s HA controller in force (a reload may replace it).
    pub fn ha(&self, name: &str) -> Option<Arc<HaController>> {
        self.runs().into_iter().find(|r| r.name() == name).map(|r| r.ha.clone())
    }

    /// Every service as it runs now.
    fn runs(&self) -> Vec<Arc<ServiceRun>> {
        self.services.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn config(&self) -> Config {
        self.cfg.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the config file. An invalid file is rejected and the running config kept.
    /// Unchanged neighbors keep their sessions; changed prefixes go out as UPDATE diffs;
    /// a service whose checks or role source changed gets a new HA controller (fail closed:
    /// withdrawn until the new checks pass `rise` times; the role and unchanged checks carry
    /// over); a new service starts withdrawn, a removed one is withdrawn. A reload the speaker
    /// refuses takes back the addresses it added; once the speaker runs the new config, so does
    /// `cfg`, even when an old address cannot be removed (reported as an error).
    pub async fn reload(&self) -> Result<String, String> {
        let done = self.reload_config().await;
        // Whether it applied or not, the config parser and validation ran: their code leaves
        // the resident set again.
        unmap_startup_pages("reload");
        done
    }

    async fn reload_config(&self) -> Result<String, String> {
        let _one = self.reloading.lock().await;
        let path = self.path.clone();
        let new = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|e| format!("config rejected, still running the previous one: the loader failed: {e}"))?
            .map_err(|e| format!("config rejected, still running the previous one:\n{e}"))?;
        let old = self.config();
        let fixed = set_at_start(&old, &new);
        if !fixed.is_empty() {
            return Err(format!(
                "reload refused, still running the previous config: {} changed; {} set up once, at start: \
                 restart the daemon to apply (systemctl restart anycastd), or put the old value back to reload the rest",
                fixed.join(", "),
                if fixed.len() == 1 { "it is" } else { "they are" }
            ));
        }
        for w in &new.warnings {
            warn!("{w}");
        }
        let (old_all, new_all) = (old.all_prefixes(), new.all_prefixes());
        let added: Vec<_> = new_all.iter().filter(|p| !old_all.contains(p)).copied().collect();
        let gone: Vec<_> = old_all.iter().filter(|p| !new_all.contains(p)).copied().collect();
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
            w.set_prefixes(new_all.clone()).await;
        }
        let ha_note = self.reload_services(&new);
        if self.track_keys(&new) != self.track_keys(&old) {
            self.set_tracks(&new);
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

    /// The services of `new`, each kept (prefixes changed in place), restarted or started;
    /// the services `new` no longer has are stopped and withdrawn. What happened, in words.
    fn reload_services(&self, new: &Config) -> String {
        let (mut kept, mut restarted, mut started) = (Vec::new(), Vec::new(), Vec::new());
        // No watcher report slips between a new controller's seed and the swap.
        let addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let mut runs = self.services.write().unwrap_or_else(|p| p.into_inner());
        let old_runs = std::mem::take(&mut *runs);
        let mut next = Vec::new();
        for s in new.services() {
            let cfg = HaConfig::for_service(new, &s);
            let name = s.name.clone();
            match old_runs.iter().find(|r| r.name() == s.name) {
                Some(old)
                    if (HaConfig { prefixes: Vec::new(), ..old.cfg.clone() })
                        == HaConfig { prefixes: Vec::new(), ..cfg.clone() } =>
                {
                    if old.cfg.prefixes != cfg.prefixes {
                        old.ha.set_prefixes(cfg.prefixes.clone());
                    }
                    self.link(&s.name).stats.set_hook(s.on_change.clone());
                    next.push(Arc::new(ServiceRun { service: s, cfg, ha: old.ha.clone() }));
                    kept.push(name);
                }
                Some(old) => {
                    next.push(self.start_service(new, s, &addresses, Some(old.ha.carry())));
                    restarted.push(name);
                }
                None => {
                    next.push(self.start_service(new, s, &addresses, None));
                    started.push(name);
                }
            }
        }
        let mut stopped = Vec::new();
        for old in &old_runs {
            if !next.iter().any(|r| Arc::ptr_eq(&r.ha, &old.ha)) {
                old.ha.stop();
            }
            if !next.iter().any(|r| r.name() == old.name()) {
                if let Some(link) = self.links.lock().unwrap_or_else(|p| p.into_inner()).remove(old.name()) {
                    link.gate.close();
                }
                stopped.push(old.name().to_string());
            }
        }
        self.speaker.retain_services(|n| next.iter().any(|r| r.name() == n));
        *runs = next;
        drop(runs);
        drop(addresses);
        if !(restarted.is_empty() && started.is_empty() && stopped.is_empty()) {
            self.ha_swaps.send_modify(|n| *n = n.wrapping_add(1));
        }
        let mut note = Vec::new();
        if !restarted.is_empty() {
            note.push(format!(
                "HA controller restarted for {restarted:?} (role or checks changed): the role and unchanged checks carried over, a new or changed check withdraws until it passes"
            ));
        }
        if !started.is_empty() {
            note.push(format!("services started {started:?} (withdrawn until their checks pass)"));
        }
        if !stopped.is_empty() {
            note.push(format!("services stopped {stopped:?} (withdrawn)"));
        }
        if note.is_empty() {
            note.push(format!("HA controller kept for {kept:?}"));
        }
        note.join("; ")
    }

    /// Removes `added` again after a reload that did not go through.
    async fn take_back(&self, lo: &Loopback, added: &[ipnet::IpNet]) {
        if let Err(e) = lo.remove(added).await {
            error!("reload failed and the addresses it added cannot be removed: {e}");
        }
    }

    /// The track files `cfg` asks for: the node's (`[role] track_file`, when a service follows
    /// the node's role) and each `[service.role]`'s.
    fn track_keys(&self, cfg: &Config) -> Vec<(Option<String>, crate::config::TrackFile)> {
        let services = cfg.services();
        let mut out = Vec::new();
        if let Some(t) = &cfg.track {
            if services.iter().any(|s| s.role.is_none()) {
                out.push((None, t.clone()));
            }
        }
        for s in &services {
            if let Some(t) = s.role.as_ref().and_then(|r| r.track.clone()) {
                out.push((Some(s.name.clone()), t));
            }
        }
        out
    }

    /// Keeps the track files `cfg` asks for: unchanged ones go on; a file no longer kept gets
    /// the weight (whatever still reads it fails closed); a new one starts at the weight, and
    /// the follower re-evaluates it at once.
    fn set_tracks(&self, cfg: &Config) {
        let want = self.track_keys(cfg);
        let mut tracks = self.tracks();
        let mut next = Vec::new();
        for mut t in std::mem::take(&mut *tracks) {
            if want.iter().any(|(s, c)| *s == t.service && *c == t.cfg) {
                next.push(t);
            } else {
                t.writer.set(false, "the track file was changed by a reload: no longer kept".into());
            }
        }
        for (service, c) in want {
            if !next.iter().any(|t| t.service == service && t.cfg == c) {
                let writer = TrackWriter::start(c.clone(), self.persister.clone()).0;
                next.push(Track { service, cfg: c, writer });
            }
        }
        *tracks = next;
        drop(tracks);
        self.ha_swaps.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether the node can serve now (`check --quiet`): every check of every service healthy,
    /// not every service drained, a neighbor serving, not stopping; and why.
    pub fn can_serve(&self) -> (bool, String) {
        self.can_serve_of(|_| true)
    }

    /// [`can_serve`](Self::can_serve) for the services `pick` picks.
    fn can_serve_of(&self, pick: impl Fn(&ServiceRun) -> bool) -> (bool, String) {
        let runs = self.runs();
        let fitness = service::joint_fitness(
            runs.iter().filter(|r| pick(r)).map(|r| (r.name(), r.ha.fitness().borrow().clone())),
        );
        track::can_serve(&fitness, self.speaker.serving(), self.stopping.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Re-evaluates every track file (see [`follow_track`]): each follows the services that
    /// share its role.
    fn update_tracks(&self) {
        // An etcd candidate stands down while no neighbor serves (VRRP does, through the
        // track file below).
        let s = self.speaker.serving();
        let why_not = (s.serving == 0).then(|| format!("no BGP neighbor serving ({}/{} up)", s.serving, s.total));
        for run in self.runs() {
            run.ha.set_neighbors(why_not.clone());
        }
        for t in self.tracks().iter_mut() {
            let (ok, why) = match &t.service {
                None => self.can_serve_of(ServiceRun::follows_node_role),
                Some(name) => self.can_serve_of(|r| r.name() == name),
            };
            t.writer.set(ok, why);
        }
    }

    fn tracks(&self) -> std::sync::MutexGuard<'_, Vec<Track>> {
        self.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node's track file's state for `status` (`None`: the services' own tracks only).
    pub fn track_status(&self) -> Option<track::TrackStatus> {
        self.tracks().iter().find(|t| t.service.is_none()).map(|t| t.writer.status())
    }

    /// Puts the weight into the track files first (keepalived hands MASTER to the peer), then
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
        if let Some(t) = self.beat_task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
        let tickets: Vec<_> = self.tracks().iter_mut().filter_map(|t| t.writer.stop()).collect();
        self.speaker.shutdown(&format!("anycastd stopping ({why})"), Duration::from_secs(2)).await;
        // With the withdraw on the wire, an etcd leader resigns: the next candidate takes over
        // at once instead of after the lease's TTL.
        for run in self.runs() {
            run.ha.resign().await;
        }
        for t in tickets {
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
            if let Err(e) = lo.remove(&self.config().all_prefixes()).await {
                error!("cannot remove the anycast addresses: {e}");
            }
        }
    }

    /// What the speaker advertises now for the `default` service (the last decision that
    /// reached it).
    pub fn speaker_advert(&self) -> Advert {
        self.speaker.advert()
    }

    /// What the speaker advertises now for every service.
    pub fn speaker_adverts(&self) -> crate::speaker::Adverts {
        self.speaker.adverts()
    }

    /// The status document (`anycastd status`, `/metrics`).
    pub fn status(&self) -> StatusDoc {
        let tracks: Vec<_> = self.tracks().iter().map(|t| (t.service.clone(), t.writer.status())).collect();
        let links = self.links.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let services: Vec<ServiceStatus> = self
            .runs()
            .iter()
            .map(|r| ServiceStatus {
                name: r.name().to_string(),
                prefixes: r.service.prefixes.iter().map(ToString::to_string).collect(),
                failovers: links
                    .get(r.name())
                    .map_or(0, |l| l.stats.failovers.load(std::sync::atomic::Ordering::Relaxed)),
                track: tracks.iter().find(|(s, _)| s.as_deref() == Some(r.name())).map(|(_, t)| t.clone()),
                ha: r.ha.status(),
            })
            .collect();
        StatusDoc {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ha: services.first().map(|s| s.ha.clone()).unwrap_or_default(),
            neighbors: self.speaker.status(),
            inbound: self.speaker.inbound(),
            track: tracks.iter().find(|(s, _)| s.is_none()).map(|(_, t)| t.clone()),
            services,
            tcp_md5: self.speaker.md5_counters(),
        }
    }

    /// The services an operator command names: `service`, or every one.
    fn pick(&self, service: Option<&str>) -> Result<Vec<Arc<ServiceRun>>, String> {
        let runs = self.runs();
        match service {
            None => Ok(runs),
            Some(name) => match runs.iter().find(|r| r.name() == name) {
                Some(r) => Ok(vec![r.clone()]),
                None => {
                    let shown = crate::wire::text::escape_at_most(name.as_bytes(), 64);
                    let names: Vec<&str> = runs.iter().map(|r| r.name()).collect();
                    Err(format!("no service \"{shown}\"; the services are: {}", names.join(", ")))
                }
            },
        }
    }

    pub async fn handle(&self, req: Request) -> Response {
        match req {
            Request::Status => Response::status(self.status()),
            Request::Notify { state, instance } => self.notify(&state, instance.as_deref()).await,
            Request::Serving => match self.can_serve() {
                (true, why) => Response::ok(format!("can serve: {why}")),
                (false, why) => Response::err(format!("cannot serve: {why}")),
            },
            Request::Drain { seconds, service } => {
                self.drain(service.as_deref(), Some(seconds.unwrap_or(DEFAULT_DRAIN_SECS))).await
            }
            Request::Undrain { service } => self.drain(service.as_deref(), None).await,
            Request::Check => {
                let runs = self.runs();
                let many = runs.len() > 1;
                let mut lines = Vec::new();
                let mut failed = false;
                for r in &runs {
                    let tag = if many { format!("[{}] ", r.name()) } else { String::new() };
                    let reports = r.ha.check_now().await;
                    failed |= reports.iter().any(|c| !c.ok);
                    for c in &reports {
                        let word = if c.ok { "ok  " } else { "FAIL" };
                        lines.push(format!("{tag}{word} {}: {} ({} ms)", c.name, c.detail, c.duration_ms));
                    }
                    if reports.is_empty() {
                        lines.push(format!("{tag}no health checks configured"));
                    }
                    lines.push(format!("{tag}{}", r.ha.current().reason));
                }
                // A failed check is an error answer, so `anycastd check` exits 1 (the report
                // is the same text either way).
                if failed {
                    Response::err(lines.join("\n"))
                } else {
                    Response::ok(lines.join("\n"))
                }
            }
            Request::Reload => match self.reload().await {
                Ok(m) => Response::ok(m),
                Err(e) => Response::err(e),
            },
            Request::Neighbor { action, ip } => match self.speaker.neighbor_admin(ip, action).await {
                Ok(m) => Response::ok(m),
                Err(e) => Response::err(e),
            },
        }
    }

    /// Drains `service` (every service when `None`) for `seconds`, or ends its drain (`None`).
    async fn drain(&self, service: Option<&str>, seconds: Option<u64>) -> Response {
        let runs = match self.pick(service) {
            Ok(runs) => runs,
            Err(e) => return Response::err(e),
        };
        let mut out = Vec::new();
        for r in &runs {
            let o = match seconds {
                Some(s) => r.ha.drain(s).await,
                None => r.ha.undrain().await,
            };
            out.push((r.name().to_string(), o));
        }
        outcomes(out)
    }

    /// keepalived's `state` for VRRP instance `instance`: to every service that follows it
    /// (see [`service::notify_targets`]).
    async fn notify(&self, state: &str, instance: Option<&str>) -> Response {
        let runs = self.runs();
        let targets = service::notify_targets(&runs, |r| &r.cfg.role, instance);
        if targets.is_empty() {
            if let Some(why) = instance.and_then(|i| runs.iter().find_map(|r| r.ha.ignores_instance(i))) {
                return Response::ok(why);
            }
            // No service follows keepalived: the first one says why.
            let Some(r) = runs.first() else { return Response::err("no service runs") };
            return match r.ha.notify_keepalived(state).await {
                Ok(o) => outcomes(vec![(r.name().to_string(), o)]),
                Err(e) => Response::err(e),
            };
        }
        let mut out = Vec::new();
        for r in targets {
            match r.ha.notify_keepalived(state).await {
                Ok(o) => out.push((r.name().to_string(), o)),
                Err(e) => return Response::err(format!("service {}: {e}", r.name())),
            }
        }
        outcomes(out)
    }
}

/// The answer to an operator command over one or more services: each decision's reason (with
/// the service's name when there are several) and any warning.
fn outcomes(each: Vec<(String, crate::ha::CommandOutcome)>) -> Response {
    let many = each.len() > 1;
    let lines: Vec<String> = each
        .into_iter()
        .map(|(name, o)| {
            let mut m = if many { format!("{name}: {}", o.decision.reason) } else { o.decision.reason.clone() };
            if let Some(w) = o.warning {
                m.push_str(&format!(" (warning: {w})"));
            }
            m
        })
        .collect();
    Response::ok(lines.join("\n"))
}

/// Answers the BFD thread's questions ([`crate::liveness`]): on each, takes every service's
/// decider lock in turn (one task for all services, not one per service), then beats. A
/// decision stuck under any of them, or the runtime thread stuck anywhere, leaves the question
/// unanswered (and so stops BFD transmission). It starts when the BFD thread starts, the
/// heartbeat's only reader; it wakes only when asked, about once per BFD transmission.
async fn beat(d: std::sync::Weak<Daemon>, liveness: crate::liveness::Liveness) {
    {
        let Some(daemon) = d.upgrade() else { return };
        let speaker = daemon.speaker.clone();
        drop(daemon);
        speaker.bfd_started().await;
    }
    loop {
        {
            let Some(daemon) = d.upgrade() else { return };
            let runs = daemon.services.read().unwrap_or_else(|p| p.into_inner());
            for r in runs.iter() {
                r.ha.responsive();
            }
        }
        liveness.beat(tokio::time::Instant::now().into_std());
        liveness.asked().await;
    }
}

/// Keeps the track files in step with "can serve", event-driven: it waits for a change of a
/// service's checks or drain, of a neighbor's serving, or of the controllers or tracks
/// themselves (reload). Each receiver is taken before the evaluation it guards, so no change
/// slips by.
async fn follow_track(d: std::sync::Weak<Daemon>) {
    loop {
        let Some(daemon) = d.upgrade() else { return };
        let mut fitness: Vec<_> = daemon.runs().iter().map(|r| r.ha.fitness()).collect();
        let (mut serving, mut swaps) = (daemon.speaker.serving_changes(), daemon.ha_swaps.subscribe());
        daemon.update_tracks();
        drop(daemon);
        let any_fitness = async {
            if fitness.is_empty() {
                std::future::pending::<()>().await;
            }
            let changes = fitness.iter_mut().map(|f| Box::pin(f.changed()));
            let _ = futures_util::future::select_all(changes).await;
        };
        tokio::select! {
            _ = any_fitness => {}
            _ = serving.changed() => {}
            _ = swaps.changed() => {}
        }
    }
}

/// Start-up or a reload is done: the code it ran leaves the resident set ([`crate::resident`]).
fn unmap_startup_pages(after: &str) {
    match crate::resident::drop_startup_pages() {
        Ok(d) => debug!(after, mappings = d.mappings, kb = d.kb, "start-up code pages unmapped"),
        Err(e) => debug!(after, "start-up code pages left mapped: {e}"),
    }
}

/// How long [`unmap_once_settled`] waits for every neighbor to serve.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Unmaps start-up's code again once every neighbor serves for the first time (the sessions'
/// set-up, which runs after READY, runs again only when one flaps), or after [`SETTLE_LIMIT`]
/// when one does not come up.
async fn unmap_once_settled(speaker: Arc<crate::speaker::Speaker>) {
    let mut changes = speaker.serving_changes();
    let all_serve = async {
        loop {
            let s = speaker.serving();
            if s.serving == s.total || changes.changed().await.is_err() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(SETTLE_LIMIT, all_serve).await;
    unmap_startup_pages("every neighbor serving");
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
    let reasons: Vec<String> = d.runs().iter().map(|r| r.ha.current().reason).collect();
    crate::systemd::notify(&format!("READY=1\nSTATUS={}", reasons.join("; ")));
    unmap_startup_pages("start");
    tokio::spawn(unmap_once_settled(d.speaker.clone()));
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

/// What `reload` cannot apply: the settings the daemon sets up once, at start (the control
/// socket, its group and state directory; the metrics listener; the loopback management). A
/// reload that changes one is refused as a whole, so nothing is half-applied or silently ignored.
fn set_at_start(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if old.control != new.control {
        out.push("[control] (socket, group, state_dir)".to_string());
    }
    if old.metrics != new.metrics {
        let show = |m: &Option<crate::config::Metrics>| m.as_ref().map_or("off".to_string(), |m| m.listen.to_string());
        out.push(format!("[metrics] listen ({} → {})", show(&old.metrics), show(&new.metrics)));
    }
    if old.anycast.manage_loopback != new.anycast.manage_loopback {
        out.push(format!(
            "[anycast] manage_loopback ({} → {})",
            old.anycast.manage_loopback, new.anycast.manage_loopback
        ));
    }
    if old.anycast.interface != new.anycast.interface {
        out.push(format!("[anycast] interface ({:?} → {:?})", old.anycast.interface, new.anycast.interface));
    }
    out
}
