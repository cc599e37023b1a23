//! `anycastd run`: load the config, start the speaker and the HA controller, connect the two
//! (every decision reaches the speaker in the same wake-up, no polling between them), serve the
//! control socket, and stop cleanly on SIGTERM/SIGINT: withdraw by Cease / Administrative
//! Shutdown (RFC 8203 message), so routers drop the route at once, then remove the loopback
//! addresses — in that order, so no traffic arrives for an address that is gone.

use crate::config::Config;
use crate::control::{self, Request, Response};
use crate::ha::loopback::Loopback;
use crate::ha::{DecisionHook, HaConfig, HaController};
use crate::speaker::{Advert, Speaker};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

/// Default `anycastd drain` time: long enough for routers to move traffic (RFC 8326).
pub const DEFAULT_DRAIN_SECS: u64 = 30;

/// The running daemon's parts, shared with the control socket.
struct Daemon {
    speaker: Arc<Speaker>,
    ha: HaController,
}

impl Daemon {
    fn status(&self) -> Value {
        let h = self.ha.status();
        let checks: Vec<Value> = h
            .checks
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "healthy": c.healthy,
                    "stalled": c.stalled,
                    "consecutive_ok": c.consecutive_ok,
                    "consecutive_fail": c.consecutive_fail,
                    "rise": c.rise,
                    "fall": c.fall,
                    "interval_ms": c.interval_ms,
                    "ok": c.last.as_ref().map(|l| l.ok),
                    "detail": c.last.as_ref().map(|l| l.detail.clone()),
                    "duration_ms": c.last.as_ref().map(|l| l.duration_ms),
                    "age_ms": c.last.as_ref().map(|l| l.age_ms),
                })
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "role": h.role,
            "role_detail": h.role_detail,
            "healthy": h.healthy,
            "drained": h.drain.state != "none",
            "drain": h.drain,
            "advertising": h.decision.advertised,
            "advert_state": h.decision.state,
            "prepend": h.decision.prepend,
            "med": h.decision.med,
            "communities": h.decision.communities,
            "reason": h.decision.reason,
            "checks": checks,
            "neighbors": self.speaker.status(),
        })
    }

    async fn handle(&self, req: Request) -> Response {
        let outcome = |o: crate::ha::CommandOutcome| {
            let mut m = o.decision.reason.clone();
            if let Some(w) = o.warning {
                m.push_str(&format!(" (warning: {w})"));
            }
            Response::ok(m)
        };
        match req {
            Request::Status => Response::status(self.status()),
            Request::Notify { state } => match self.ha.notify_keepalived(&state) {
                Ok(o) => outcome(o),
                Err(e) => Response::err(e),
            },
            Request::Drain { seconds } => outcome(self.ha.drain(seconds.unwrap_or(DEFAULT_DRAIN_SECS))),
            Request::Undrain => outcome(self.ha.undrain()),
            Request::Check => {
                let reports = self.ha.check_now().await;
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
                lines.push(self.ha.current().reason);
                Response::ok(lines.join("\n"))
            }
            Request::Reload => Response::err(
                "reload is not implemented yet: restart the daemon (systemctl restart anycastd) to apply a new config",
            ),
        }
    }
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(cfg: Config) -> Result<(), String> {
    for w in &cfg.warnings {
        warn!("{w}");
    }
    let ctl = control::bind(&cfg.control.socket).map_err(|e| e.to_string())?;
    // The addresses go on the interface before anything can be announced.
    let loopback = if cfg.anycast.manage_loopback {
        let lo = Loopback::open(&cfg.anycast.interface).await?;
        lo.add(&cfg.anycast.prefixes).await?;
        info!(interface = %cfg.anycast.interface, prefixes = ?cfg.anycast.prefixes, "anycast addresses added");
        Some(lo)
    } else {
        None
    };
    // Fail closed: the speaker starts with nothing to advertise until the HA decision says so.
    let speaker = Arc::new(Speaker::start(&cfg, Advert::nothing()).await.map_err(|e| e.to_string())?);
    let sp = speaker.clone();
    let hook: DecisionHook = Arc::new(move |d| {
        sp.set_advert(d.advert.clone());
        crate::systemd::notify(&format!("STATUS={}", d.reason));
    });
    let ha = HaController::start(HaConfig::from(&cfg), Some(hook));
    speaker.set_advert(ha.current().advert);
    let d = Arc::new(Daemon { speaker, ha });
    info!(prefixes = ?cfg.anycast.prefixes, neighbors = cfg.bgp.neighbors.len(), socket = %cfg.control.socket.display(), "anycastd running");
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    crate::systemd::notify(&format!("READY=1\nSTATUS={}", d.ha.current().reason));
    // The watchdog is fed from this loop: if it stalls, systemd restarts the daemon.
    let mut watchdog = tokio::time::interval(crate::systemd::watchdog_interval().unwrap_or(Duration::from_secs(3600)));
    let why = loop {
        tokio::select! {
            _ = watchdog.tick() => { crate::systemd::notify("WATCHDOG=1"); }
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            conn = ctl.accept() => {
                if let Ok((mut s, _)) = conn {
                    let d = d.clone();
                    tokio::spawn(async move {
                        let resp = match control::read_request(&mut s).await {
                            Ok(req) => d.handle(req).await,
                            Err(e) => Response::err(e),
                        };
                        control::write_response(&mut s, &resp).await;
                    });
                }
            }
        }
    };
    info!("stopping on {why}: sending Cease/Administrative Shutdown to every neighbor");
    crate::systemd::notify("STOPPING=1");
    let _ = std::fs::remove_file(&cfg.control.socket);
    d.speaker.shutdown(&format!("anycastd stopping ({why})"), Duration::from_secs(2)).await;
    // Only now, with the withdraw on the wire, may the addresses go.
    if let Some(lo) = loopback {
        if let Err(e) = lo.remove(&cfg.anycast.prefixes).await {
            error!("cannot remove the anycast addresses: {e}");
        }
    }
    Ok(())
}
