//! The tokio edge of the BGP speaker: sockets and timers around the pure session state
//! machine. One task per neighbor owns its sockets and its `session::Peer`; a listener
//! accepts configured neighbors only. Nothing here decides what to advertise (`ha/` does):
//! the speaker is told an [`Advert`] and every neighbor converges to it at once, through its
//! export policy (`session::policy`).

pub mod adverts;
pub mod bfd;
mod change;
pub mod detail;
mod listener;
pub mod md5_counters;
pub mod neighbor;
pub mod transport;

use crate::config::{self, Config, TtlMode};
use crate::control::NeighborAction;
use crate::ha::decision::Advert;
use crate::liveness::Liveness;
use crate::session::policy::ExportPolicy;
use crate::session::ConfigStop;
use crate::session::SessionConfig;
use crate::status::{NeighborState, NeighborStatus};
pub use adverts::Adverts;
use listener::{AcceptTable, Listeners};
use neighbor::{Cmd, NeighborReport, NeighborSpec, StopCause};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn, Instrument};
use transport::TransportOpts;

struct NeighborHandle {
    spec: NeighborSpec,
    cmds: mpsc::Sender<Cmd>,
    status: watch::Receiver<NeighborReport>,
    task: JoinHandle<()>,
    /// The neighbor's BFD status, kept current by the BFD thread.
    bfd: Option<Arc<std::sync::Mutex<crate::status::BfdStatus>>>,
    /// Changes the BFD session's timers in place.
    bfd_ctl: Option<bfd::BfdControl>,
}

#[derive(Default)]
struct Inner {
    neighbors: Vec<NeighborHandle>,
    /// Neighbors that could not start (e.g. the kernel refused their MD5 key), with why.
    failed: Vec<NeighborStatus>,
    listeners: Listeners,
    seed: u64,
    /// The BFD thread, started with the first neighbor that has `bfd`.
    bfd: Option<Arc<bfd::BfdRunner>>,
    /// Neighbors the operator disabled (`neighbor disable`): a reload that restarts one
    /// starts it disabled (fail closed); removed from the config, it is forgotten.
    admin_down: std::collections::HashSet<IpAddr>,
}

/// An advertisement and when it was decided (for the decision → wire latency in status).
#[derive(Clone, Debug)]
pub struct Stamped {
    pub advert: Adverts,
    pub at: std::time::Instant,
}

/// A running speaker: neighbors, listeners and the advertisement they follow.
pub struct Speaker {
    inner: std::sync::Mutex<Inner>,
    accept_table: AcceptTable,
    advert: watch::Sender<Arc<Stamped>>,
    /// The decision loop's heartbeat, which BFD transmission depends on.
    liveness: Liveness,
    /// Woken when the BFD thread starts: until then nothing reads the heartbeat, so the
    /// decision loop need not beat it (see [`Speaker::bfd_started`]).
    bfd_started: tokio::sync::Notify,
    /// Bumped whenever a neighbor starts or stops serving, or neighbors come or go.
    serving: watch::Sender<u64>,
    /// The kernel's TCP-MD5 counters when the speaker started (`md5_counters`).
    md5_start: Option<crate::status::Md5Counters>,
}

/// What [`Speaker::reload`] did, neighbor by neighbor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub kept: Vec<IpAddr>,
    pub restarted: Vec<IpAddr>,
    pub added: Vec<IpAddr>,
    pub removed: Vec<IpAddr>,
    /// Neighbors that must not run (the kernel refused their MD5 key or GTSM): stopped if they
    /// ran, `Disabled` in status with the reason.
    pub disabled: Vec<IpAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("cannot listen on {addr}: {err}")]
    Listen { addr: SocketAddr, err: transport::TransportError },
}

/// The session and socket settings of one configured neighbor.
pub fn neighbor_spec(bgp: &config::Bgp, n: &config::Neighbor, seed: u64) -> NeighborSpec {
    let (v4, v6) = bgp.next_hops(n);
    let mut s = SessionConfig::new(bgp.local_as, n.remote_as, bgp.router_id);
    s.hold_time = n.hold_time;
    s.connect_retry = bgp.connect_retry;
    s.passive = n.passive;
    s.graceful_restart = bgp.graceful_restart.then_some(crate::session::GRACEFUL_RESTART_TIME);
    s.max_prefixes = n.max_prefixes.map(u64::from);
    s.jitter_seed = seed;
    let mut policy = ExportPolicy::new(&s);
    policy.next_hop_v4 = v4;
    policy.next_hop_v6 = v6;
    policy.med = n.med;
    policy.communities = n.communities.clone();
    policy.large_communities = n.large_communities.clone();
    NeighborSpec {
        remote: SocketAddr::new(n.remote_ip, n.port),
        transport: TransportOpts {
            local: Some(n.local_ip),
            md5_key: n.md5.clone(),
            ttl_security: n.ttl == TtlMode::Security,
            multihop: match n.ttl {
                TtlMode::Multihop(t) => Some(t.get()),
                _ => None,
            },
            tcp_ao: n.tcp_ao.clone(),
        },
        session: s,
        policy,
        bfd: n.bfd.clone().map(|config| bfd::BfdSpec {
            local: n.local_ip,
            remote: n.remote_ip,
            multihop: matches!(n.ttl, TtlMode::Multihop(_)),
            config,
        }),
    }
}

impl Speaker {
    /// Binds the listeners, installs each neighbor's MD5 key on them, and starts one task per
    /// neighbor. A neighbor whose key the kernel refuses does not start (shown in status).
    /// `advert` is the `default` service's first advertisement.
    pub async fn start(cfg: &Config, advert: Advert) -> Result<Speaker, SpeakerError> {
        let advert = Adverts::one(config::DEFAULT_SERVICE, advert);
        let (advert_tx, _) = watch::channel(Arc::new(Stamped { advert, at: tokio::time::Instant::now().into_std() }));
        let liveness = Liveness::new(std::time::Instant::now());
        let (serving, _) = watch::channel(0);
        let sp = Speaker {
            inner: Default::default(),
            accept_table: Default::default(),
            advert: advert_tx,
            liveness,
            bfd_started: tokio::sync::Notify::new(),
            serving,
            md5_start: md5_counters::read(),
        };
        sp.apply(cfg, true).await?;
        Ok(sp)
    }

    /// The heartbeat the decision loop must beat for BFD to transmit (see `crate::liveness`).
    pub fn liveness(&self) -> Liveness {
        self.liveness.clone()
    }

    /// Returns once the BFD thread runs (at once if it does already). It starts with the first
    /// neighbor that has `bfd` and then runs until the speaker stops. The heartbeat is only
    /// read by that thread, so an idle daemon without BFD need not wake 20 times a second.
    pub async fn bfd_started(&self) {
        loop {
            // Made before the check: a start between the check and the wait still wakes it.
            let started = self.bfd_started.notified();
            if self.lock().bfd.is_some() {
                return;
            }
            started.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a (new) configuration: neighbors whose settings did not change keep their
    /// sessions untouched; removed ones are stopped, changed ones restarted alone, new ones
    /// started. Listeners follow the local addresses in use; MD5 keys follow the neighbors.
    pub async fn reload(&self, cfg: &Config) -> Result<ReloadReport, SpeakerError> {
        self.apply(cfg, false).await
    }

    async fn apply(&self, cfg: &Config, first: bool) -> Result<ReloadReport, SpeakerError> {
        let bgp = &cfg.bgp;
        let mut report = ReloadReport::default();
        // 1. Listeners: one per local address (and port) in use; bind the new ones first, so a
        //    bad address fails the reload before anything running is touched. They do not
        //    listen yet: no SYN is answered before their keys and GTSM are in place (step 3).
        let wanted = listener::wanted(bgp);
        let fresh = self.lock().listeners.bind_missing(&wanted)?;
        // 2. Neighbors: compare specs by remote address.
        let mut specs: Vec<NeighborSpec> = Vec::new();
        let mut stops = Vec::new();
        {
            let mut inner = self.lock();
            inner.failed.clear();
            let mut old: HashMap<IpAddr, NeighborHandle> =
                inner.neighbors.drain(..).map(|h| (h.spec.remote.ip(), h)).collect();
            for n in &bgp.neighbors {
                inner.seed += 1;
                let spec = neighbor_spec(bgp, n, 0x5eed_0000 + inner.seed);
                match old.remove(&n.remote_ip) {
                    Some(h) if same_settings(&h.spec, &spec) => {
                        report.kept.push(n.remote_ip);
                        inner.neighbors.push(h);
                    }
                    // Only the BFD timers changed: a Poll Sequence, the BGP session stays.
                    Some(mut h) if same_but_bfd_timers(&h.spec, &spec) => {
                        if let (Some(ctl), Some(b)) = (&h.bfd_ctl, &spec.bfd) {
                            ctl.set_timers(b.config.interval, b.config.multiplier);
                        }
                        h.spec.bfd = spec.bfd.clone();
                        report.kept.push(n.remote_ip);
                        inner.neighbors.push(h);
                    }
                    // RFC 4486 §4: Other Configuration Change; the log says what changed.
                    Some(h) => {
                        let what = change::describe(&h.spec, &spec);
                        info!(neighbor = %n.remote_ip, "reload: {what}: restarting the session (Cease / Other Configuration Change)");
                        report.restarted.push(n.remote_ip);
                        stops.push((h, StopCause::Config(ConfigStop::OtherConfigurationChange)));
                        specs.push(spec);
                    }
                    None => {
                        if !first {
                            report.added.push(n.remote_ip);
                        }
                        specs.push(spec);
                    }
                }
            }
            for (ip, h) in old {
                inner.admin_down.remove(&ip);
                report.removed.push(ip);
                info!(neighbor = %ip, "reload: neighbor removed from the configuration (Cease / Peer De-configured)");
                stops.push((h, StopCause::Config(ConfigStop::PeerDeconfigured)));
            }
        }
        for (h, _) in &stops {
            self.accept().unroute(h.spec.remote.ip());
        }
        stop_all(stops, RELOAD_STOP).await;
        // 3. Listeners: drop the unused, add or update every wanted key and GTSM in place
        //    (delete only those whose neighbor left), then start the fresh ones.
        let refused = self.lock().listeners.apply(fresh, &wanted, &self.accept_table);
        // 4. A kept neighbor whose key or GTSM could not be reinstalled stops: it never runs
        //    unsigned, and its status says why.
        let doomed: Vec<NeighborHandle> = {
            let mut inner = self.lock();
            let (bad, good) = inner.neighbors.drain(..).partition(|h| refused.contains_key(&h.spec.remote.ip()));
            inner.neighbors = good;
            bad
        };
        let mut disabled: Vec<(NeighborSpec, String)> = Vec::new();
        for h in &doomed {
            let ip = h.spec.remote.ip();
            self.accept().unroute(ip);
            report.kept.retain(|k| *k != ip);
            disabled.push((h.spec.clone(), refused.get(&ip).cloned().unwrap_or_default()));
        }
        let why = || StopCause::Shutdown("TCP-MD5 key or GTSM could not be installed".into());
        stop_all(doomed.into_iter().map(|h| (h, why())).collect(), RELOAD_STOP).await;
        // 5. Start the new and changed neighbors (never one whose key the kernel refused).
        let mut inner = self.lock();
        for spec in specs {
            let ip = spec.remote.ip();
            if let Some(why) = refused.get(&ip) {
                disabled.push((spec, why.clone()));
                continue;
            }
            // Never TCP-MD5 or unsigned instead of the TCP-AO asked for.
            if spec.transport.tcp_ao.is_some() {
                disabled.push((spec, transport::tcp_ao_support().refusal()));
                continue;
            }
            let bfd = match &spec.bfd {
                Some(b) => match inner.bfd_runner(&self.liveness) {
                    Ok(r) => {
                        self.bfd_started.notify_waiters();
                        Some(r.add(b))
                    }
                    Err(e) => {
                        disabled.push((spec, format!("BFD cannot start: {e}")));
                        continue;
                    }
                },
                None => None,
            };
            let (cmd_tx, cmd_rx) = mpsc::channel(8);
            // Until the task publishes, status names the neighbor (Idle).
            let first = NeighborStatus {
                remote_ip: Some(ip),
                remote_as: spec.session.remote_as.get(),
                md5: spec.transport.md5_key.is_some(),
                ..Default::default()
            };
            let (st_tx, st_rx) =
                watch::channel(NeighborReport { status: first, established_at: None, serving: false, md5_since: None });
            let span = tracing::info_span!("neighbor", neighbor = %ip);
            let bfd_status = bfd.as_ref().map(bfd::BfdHandle::status_cell);
            let bfd_ctl = bfd.as_ref().map(bfd::BfdHandle::control);
            let down = inner.admin_down.contains(&ip);
            let run =
                neighbor::run(spec.clone(), self.advert.subscribe(), cmd_rx, st_tx, bfd, self.serving.clone(), down);
            let task = tokio::spawn(run.instrument(span));
            inner.neighbors.push(NeighborHandle { spec, cmds: cmd_tx, status: st_rx, task, bfd: bfd_status, bfd_ctl });
        }
        for (spec, why) in disabled {
            let ip = spec.remote.ip();
            error!(neighbor = %ip, "{why}");
            report.disabled.push(ip);
            inner.failed.push(NeighborStatus {
                remote_ip: Some(ip),
                remote_as: spec.session.remote_as.get(),
                state: NeighborState::Disabled,
                md5: spec.transport.md5_key.is_some(),
                last_error: Some(why),
                ..Default::default()
            });
        }
        // 6. The accept table: a connection reaches a running neighbor only through its own
        //    listening address (local_ip and port), never by source address alone.
        let listening =
            |spec: &NeighborSpec| spec.transport.local.filter(|_| bgp.listen).map(|l| SocketAddr::new(l, bgp.port));
        let configured = bgp
            .neighbors
            .iter()
            .filter(|_| bgp.listen)
            .map(|n| (n.remote_ip, SocketAddr::new(n.local_ip, bgp.port)))
            .collect();
        let routes = inner
            .neighbors
            .iter()
            .filter_map(|h| {
                let route = listener::Route {
                    tx: h.cmds.clone(),
                    md5: h.spec.transport.md5_key.is_some(),
                    gtsm: h.spec.transport.ttl_security,
                };
                Some(((listening(&h.spec)?, h.spec.remote.ip()), route))
            })
            .collect();
        self.accept().set_routes(configured, routes);
        drop(inner);
        // Neighbors may have gone (or come): whoever counts the serving ones counts again.
        self.bump_serving();
        Ok(report)
    }

    fn accept(&self) -> std::sync::MutexGuard<'_, listener::AcceptState> {
        self.accept_table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inbound connections the listeners refused, by reason.
    pub fn inbound(&self) -> crate::status::InboundStatus {
        self.accept().stats()
    }

    /// Every neighbor converges to `a` as the `default` service's advertisement now.
    pub fn set_advert(&self, a: Advert) {
        self.set_service_advert(config::DEFAULT_SERVICE, a);
    }

    /// Every neighbor converges to `a` as `service`'s advertisement now (UPDATEs for that
    /// service's prefixes leave in the same wake-up; the other services' are untouched).
    pub fn set_service_advert(&self, service: &str, a: Advert) {
        self.update_adverts(|next| next.set(service, a));
    }

    /// Forgets the advertisements of services `keep` rejects (a reload removed them): their
    /// prefixes are withdrawn.
    pub fn retain_services(&self, keep: impl FnMut(&str) -> bool) {
        self.update_adverts(|next| next.retain(keep));
    }

    /// Applies `change` to the advertisements; when it says something changed, every neighbor
    /// is told, stamped now.
    fn update_adverts(&self, change: impl FnOnce(&mut Adverts) -> bool) {
        let at = tokio::time::Instant::now().into_std();
        self.advert.send_if_modified(|cur| {
            let mut next = cur.advert.clone();
            if !change(&mut next) {
                return false;
            }
            *cur = Arc::new(Stamped { advert: next, at });
            true
        });
    }

    /// The `default` service's advertisement.
    pub fn advert(&self) -> Advert {
        self.advert.borrow().advert.get(config::DEFAULT_SERVICE)
    }

    /// Every service's advertisement.
    pub fn adverts(&self) -> Adverts {
        self.advert.borrow().advert.clone()
    }

    /// How many neighbors serve now (Established, BFD Up where strict), of how many.
    pub fn serving(&self) -> crate::ha::track::Serving {
        let inner = self.lock();
        let serving = inner.neighbors.iter().filter(|n| n.status.borrow().serving).count();
        crate::ha::track::Serving { serving, total: inner.neighbors.len() + inner.failed.len() }
    }

    /// Changes whenever [`serving`](Self::serving) may have changed: no polling needed.
    pub fn serving_changes(&self) -> watch::Receiver<u64> {
        self.serving.subscribe()
    }

    fn bump_serving(&self) {
        self.serving.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn status(&self) -> Vec<NeighborStatus> {
        let counters = md5_counters::read();
        let inner = self.lock();
        let now = tokio::time::Instant::now().into_std();
        let mut all: Vec<(NeighborStatus, Option<crate::status::Md5Counters>)> = inner
            .neighbors
            .iter()
            .map(|n| {
                let report = n.status.borrow();
                let mut s = report.at(now);
                s.bfd = n.bfd.as_deref().map(bfd::read_status);
                let counted = counters.zip(report.md5_since).map(|(c, since)| md5_counters::delta(c, since));
                (s, counted)
            })
            .chain(inner.failed.iter().map(|f| (f.clone(), None)))
            .collect();
        drop(inner);
        md5_counters::diagnose_all(&mut all);
        all.into_iter().map(|(s, _)| s).collect()
    }

    /// The kernel's TCP-MD5 drop counters of this namespace since the speaker started.
    pub fn md5_counters(&self) -> Option<crate::status::Md5Counters> {
        md5_counters::read().zip(self.md5_start).map(|(c, start)| md5_counters::delta(c, start))
    }

    /// The operator's `neighbor reset|disable|enable IP`: what was done, or why nothing was (no
    /// such neighbor, one that could not start, a reset of a disabled one).
    pub async fn neighbor_admin(&self, ip: IpAddr, action: NeighborAction) -> Result<String, String> {
        let cmds = {
            let mut inner = self.lock();
            if let Some(h) = inner.neighbors.iter().find(|h| h.spec.remote.ip() == ip) {
                let cmds = h.cmds.clone();
                // Remembered before the task hears of it: a reload meanwhile restarts it down.
                if action == NeighborAction::Disable {
                    inner.admin_down.insert(ip);
                }
                cmds
            } else if let Some(f) = inner.failed.iter().find(|f| f.remote_ip == Some(ip)) {
                let why = f.last_error.as_deref().unwrap_or("unknown");
                return Err(format!(
                    "neighbor {ip} is not running (it could not start: {why}): nothing to {}",
                    action.name()
                ));
            } else {
                let all: Vec<String> = inner
                    .neighbors
                    .iter()
                    .map(|h| h.spec.remote.ip())
                    .chain(inner.failed.iter().filter_map(|f| f.remote_ip))
                    .map(|i| i.to_string())
                    .collect();
                let all = if all.is_empty() { "none".to_string() } else { all.join(", ") };
                return Err(format!("no neighbor {ip} in the running configuration; its neighbors are: {all}"));
            }
        };
        let (tx, rx) = oneshot::channel();
        let asked = async {
            cmds.send(Cmd::Admin { action, done: tx })
                .await
                .map_err(|_| "the neighbor's task has ended".to_string())?;
            rx.await.map_err(|_| "the neighbor's task ended before it answered".to_string())?
        };
        let r = match tokio::time::timeout(ADMIN_WAIT, asked).await {
            Ok(r) => r,
            Err(_) => Err(format!("neighbor {ip} did not answer within {ADMIN_WAIT:?}")),
        };
        if action == NeighborAction::Enable && r.is_ok() {
            self.lock().admin_down.remove(&ip);
        }
        r
    }

    /// Sends Cease / Administrative Shutdown with `reason` to every neighbor at once and waits
    /// (at most `limit` in all, however many peers are stuck) until the NOTIFICATIONs are
    /// written; then the neighbor tasks end.
    pub async fn shutdown(&self, reason: &str, limit: Duration) {
        let (neighbors, bfd) = {
            let mut inner = self.lock();
            inner.listeners.stop_all();
            (std::mem::take(&mut inner.neighbors), inner.bfd.take())
        };
        self.bump_serving();
        stop_all(neighbors.into_iter().map(|n| (n, StopCause::Shutdown(reason.to_string()))).collect(), limit).await;
        // The Ceases are out; the BFD sessions go AdminDown (RFC 5882 §3.2: not a failure).
        if let Some(b) = bfd {
            b.shutdown(BFD_SHUTDOWN).await;
        }
    }
}

/// Same settings: a reload keeps the session of such a neighbor untouched. Every field of the
/// spec counts (a field added later counts too); only the jitter seed, drawn anew for each
/// spec, does not.
fn same_settings(a: &NeighborSpec, b: &NeighborSpec) -> bool {
    let mut b = b.clone();
    b.session.jitter_seed = a.session.jitter_seed;
    *a == b
}

/// How long a shutdown waits for the BFD thread to send its AdminDown packets.
const BFD_SHUTDOWN: Duration = Duration::from_millis(200);

impl Inner {
    /// The BFD thread, started now if it is not running yet.
    fn bfd_runner(&mut self, liveness: &Liveness) -> std::io::Result<Arc<bfd::BfdRunner>> {
        if let Some(r) = &self.bfd {
            return Ok(r.clone());
        }
        let r = Arc::new(bfd::BfdRunner::start(liveness.clone(), crate::splitmix::os_seed())?);
        self.bfd = Some(r.clone());
        Ok(r)
    }
}

/// Same settings but the BFD interval or multiplier: a reload changes those in place (RFC 5880
/// §6.8.3 Poll Sequence) without touching the BGP session.
fn same_but_bfd_timers(a: &NeighborSpec, b: &NeighborSpec) -> bool {
    let (Some(x), Some(y)) = (&a.bfd, &b.bfd) else { return false };
    let mut b = b.clone();
    if let Some(bb) = b.bfd.as_mut() {
        bb.config.interval = x.config.interval;
        bb.config.multiplier = x.config.multiplier;
    }
    x.config != y.config && same_settings(a, &b)
}

/// How long `neighbor reset|disable|enable` waits for the neighbor's task.
const ADMIN_WAIT: Duration = Duration::from_secs(5);

/// How long a reload waits for the Ceases of the neighbors it stops (all at once).
const RELOAD_STOP: Duration = Duration::from_secs(1);

/// Stops every neighbor at once (each with its Cease), waits at most `limit` in all, then ends
/// their tasks.
async fn stop_all(stops: Vec<(NeighborHandle, StopCause)>, limit: Duration) {
    futures_util::future::join_all(stops.iter().map(|(n, cause)| stop_one(n, cause, limit))).await;
    for (n, _) in stops {
        n.task.abort();
    }
}

/// Stops one neighbor with the Cease of `cause` and waits until it is written, at most `limit`
/// in all (a full command channel included); the caller aborts the task after.
async fn stop_one(n: &NeighborHandle, cause: &StopCause, limit: Duration) {
    let (tx, rx) = oneshot::channel();
    let stop = async {
        // Either fails only when the task has already ended: nothing to wait for.
        if n.cmds.send(Cmd::Stop { cause: cause.clone(), done: tx }).await.is_ok() {
            let _ = rx.await;
        }
    };
    if tokio::time::timeout(limit, stop).await.is_err() {
        warn!(neighbor = %n.spec.remote.ip(), "shutdown NOTIFICATION not written within {limit:?}");
    }
}
