//! `anycastd run`: load the config, start the speaker, serve the control socket, follow the
//! advertisement decision, and stop cleanly on SIGTERM/SIGINT with Cease / Administrative
//! Shutdown (RFC 8203 message) so routers withdraw at once instead of waiting for their hold
//! timer.

use crate::config::Config;
use crate::control::{self, Request, Response};
use crate::speaker::{Advert, Speaker};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

/// The running daemon's parts, shared with the control socket.
struct Daemon {
    speaker: Speaker,
}

impl Daemon {
    fn status(&self) -> serde_json::Value {
        let advert = self.speaker.advert();
        let prefixes: Vec<String> = advert.prefixes.iter().map(|p| p.to_string()).collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "role": "primary",
            "role_detail": "static",
            "healthy": true,
            "drained": false,
            "advertising": prefixes,
            "reason": if prefixes.is_empty() { "nothing configured" } else { "static role: advertising while running" },
            "checks": [],
            "neighbors": self.speaker.status(),
        })
    }

    async fn handle(&self, req: Request) -> Response {
        match req {
            Request::Status => Response::status(self.status()),
            other => {
                Response::err(format!("{other:?} is not available in this build: the HA controller is not wired yet"))
            }
        }
    }
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(cfg: Config) -> Result<(), String> {
    for w in &cfg.warnings {
        warn!("{w}");
    }
    let ctl = control::bind(&cfg.control.socket).map_err(|e| e.to_string())?;
    // Until the HA controller decides, the static role applies: advertise while running.
    let advert = Advert::announce(cfg.anycast.prefixes.clone());
    let speaker = Speaker::start(&cfg, advert).await.map_err(|e| e.to_string())?;
    let d = Arc::new(Daemon { speaker });
    info!(prefixes = ?cfg.anycast.prefixes, neighbors = cfg.bgp.neighbors.len(), socket = %cfg.control.socket.display(), "anycastd running");
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    crate::systemd::notify(&format!(
        "READY=1\nSTATUS=advertising {} prefix(es) to {} neighbor(s)",
        cfg.anycast.prefixes.len(),
        cfg.bgp.neighbors.len()
    ));
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
    Ok(())
}
