//! `anycastd run`: load the config, start the speaker, follow the advertisement decision, and
//! stop cleanly on SIGTERM/SIGINT with Cease / Administrative Shutdown (RFC 8203 message) so
//! routers withdraw at once instead of waiting for their hold timer.

use crate::config::Config;
use crate::speaker::{Advert, Speaker};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

/// Runs until SIGTERM or SIGINT.
pub async fn run(cfg: Config) -> Result<(), String> {
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    // Until the HA controller decides, the static role applies: advertise while running.
    let advert = Advert::announce(cfg.anycast.prefixes.clone());
    let speaker = Speaker::start(&cfg, advert).await.map_err(|e| e.to_string())?;
    info!(prefixes = ?cfg.anycast.prefixes, neighbors = cfg.bgp.neighbors.len(), "anycastd running");
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info!("stopping on {why}: sending Cease/Administrative Shutdown to every neighbor");
    speaker.shutdown(&format!("anycastd stopping ({why})"), Duration::from_secs(2)).await;
    Ok(())
}
