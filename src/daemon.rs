//! `anycastd run`: load the config, start the speaker and the HA controller, connect the two
//! (every decision reaches the speaker in the same wake-up, no polling between them), serve the
//! control socket, and stop cleanly on SIGTERM/SIGINT: withdraw by Cease / Administrative
//! Shutdown (RFC 8203 message), so routers drop the route at once, then remove the loopback
//! addresses — in that order, so no traffic arrives for an address that is gone.

use crate::config::Config;
use crate::control::{self, Request, Response};
use crate::ha::loopback::Loopback;
use crate::ha::Advert;
use crate::ha::{DecisionHook, HaConfig, HaController};
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
    hook: DecisionHook,
    loopback: Option<Loopback>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    counters: Arc<crate::metrics::Counters>,
    metrics_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
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
            Some(lo)
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
        let ha = Arc::new(HaController::start(HaConfig::from(&cfg), Some(hook.clone())));
        speaker.set_advert(ha.current().advert);
        let metrics_listen = cfg.metrics.as_ref().map(|m| m.listen);
        let d = Arc::new(Daemon {
            path,
            cfg: Mutex::new(cfg),
            speaker,
            ha: RwLock::new(ha),
            hook,
            loopback,
            reloading: tokio::sync::Mutex::new(()),
            counters,
            metrics_task: Mutex::new(None),
        });
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

    fn ha(&self) -> Arc<HaController> {
        self.ha.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn config(&self) -> Config {
        self.cfg.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the config file. An invalid file is rejected and the running config kept.
    /// Unchanged neighbors keep their sessions; changed prefixes go out as UPDATE diffs;
    /// changed health checks or role source restart the HA controller (fail closed: withdrawn
    /// until the new checks pass `rise` times).
    pub async fn reload(&self) -> Result<String, String> {
        let _one = self.reloading.lock().await;
        let new =
            Config::load(&self.path).map_err(|e| format!("config rejected, still running the previous one:\n{e}"))?;
        let old = self.config();
        for w in &new.warnings {
            warn!("{w}");
        }
        let added: Vec<_> =
            new.anycast.prefixes.iter().filter(|p| !old.anycast.prefixes.contains(p)).copied().collect();
        let gone: Vec<_> = old.anycast.prefixes.iter().filter(|p| !new.anycast.prefixes.contains(p)).copied().collect();
        if let Some(lo) = &self.loopback {
            lo.add(&added).await?;
        }
        let report = self.speaker.reload(&new).await.map_err(|e| format!("reload failed: {e}"))?;
        // The prefixes are the controller's only input a reload changes in place.
        let ha_same = HaConfig { prefixes: Vec::new(), ..HaConfig::from(&old) }
            == HaConfig { prefixes: Vec::new(), ..HaConfig::from(&new) };
        let ha_note = if ha_same {
            if !added.is_empty() || !gone.is_empty() {
                self.ha().set_prefixes(new.anycast.prefixes.clone());
            }
            "HA controller kept"
        } else {
            let ha = Arc::new(HaController::start(HaConfig::from(&new), Some(self.hook.clone())));
            self.speaker.set_advert(ha.current().advert);
            *self.ha.write().unwrap_or_else(|p| p.into_inner()) = ha;
            "HA controller restarted (role or checks changed): withdrawn until the checks pass"
        };
        if let Some(lo) = &self.loopback {
            // The withdraw of removed prefixes is on the wire (set_advert sends at once).
            lo.remove(&gone).await?;
        }
        *self.cfg.lock().unwrap_or_else(|p| p.into_inner()) = new;
        let msg = format!(
            "reloaded {}: neighbors kept {:?}, restarted {:?}, added {:?}, removed {:?}; prefixes added {:?}, removed {:?}; {ha_note}",
            self.path.display(),
            report.kept,
            report.restarted,
            report.added,
            report.removed,
            added,
            gone
        );
        info!("{msg}");
        Ok(msg)
    }

    /// Withdraws with Cease / Administrative Shutdown, then removes the loopback addresses.
    pub async fn shutdown(&self, why: &str) {
        crate::systemd::notify("STOPPING=1");
        if let Some(t) = self.metrics_task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
        self.speaker.shutdown(&format!("anycastd stopping ({why})"), Duration::from_secs(2)).await;
        // Only now, with the withdraw on the wire, may the addresses go.
        if let Some(lo) = &self.loopback {
            if let Err(e) = lo.remove(&self.config().anycast.prefixes).await {
                error!("cannot remove the anycast addresses: {e}");
            }
        }
    }

    /// The status document (`anycastd status`, `/metrics`).
    pub fn status(&self) -> StatusDoc {
        StatusDoc {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ha: self.ha().status(),
            neighbors: self.speaker.status(),
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
            Request::Notify { state } => match self.ha().notify_keepalived(&state) {
                Ok(o) => outcome(o),
                Err(e) => Response::err(e),
            },
            Request::Drain { seconds } => outcome(self.ha().drain(seconds.unwrap_or(DEFAULT_DRAIN_SECS))),
            Request::Undrain => outcome(self.ha().undrain()),
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

/// Runs until SIGTERM or SIGINT; SIGHUP reloads the config.
pub async fn run(cfg: Config, path: PathBuf) -> Result<(), String> {
    // Dropped on every way out of here: removes the socket file if it is still ours.
    let ctl = control::bind(&cfg.control.socket).map_err(|e| e.to_string())?;
    let d = Daemon::start(cfg, path).await?;
    info!(socket = %ctl.path().display(), "anycastd running");
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("cannot watch SIGHUP: {e}"))?;
    crate::systemd::notify(&format!("READY=1\nSTATUS={}", d.ha().current().reason));
    // The watchdog is fed from this loop: if it stalls, systemd restarts the daemon.
    let mut watchdog = tokio::time::interval(crate::systemd::watchdog_interval().unwrap_or(Duration::from_secs(3600)));
    let dc = d.clone();
    let server = control::serve(&ctl, move |req| {
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
