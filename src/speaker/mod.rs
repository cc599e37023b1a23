//! The tokio edge of the BGP speaker: sockets and timers around the pure session state
//! machine. One task per neighbor owns its socket and its `session::Session`; a listener
//! accepts configured neighbors only. Nothing here decides what to advertise (`ha/` does):
//! the speaker is told an [`Advert`] and every neighbor converges to it at once.

pub mod neighbor;
pub mod transport;

use crate::config::{self, Config, TtlMode};
use crate::session::SessionConfig;
use crate::wire::community::Community;
use ipnet::IpNet;
use neighbor::{Cmd, NeighborSpec, NeighborStatus};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn, Instrument};
use transport::TransportOpts;

/// What every neighbor is to advertise right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Advert {
    pub prefixes: Vec<IpNet>,
    /// Extra copies of our AS on the path (standby policy `prepend`).
    pub prepend: u8,
    /// MED override (standby policy `prepend`).
    pub med: Option<u32>,
    /// Communities added to the neighbor's own (GRACEFUL_SHUTDOWN while draining).
    pub communities: Vec<Community>,
}

impl Advert {
    pub fn announce(prefixes: Vec<IpNet>) -> Self {
        Advert { prefixes, ..Default::default() }
    }
    pub fn nothing() -> Self {
        Advert::default()
    }
}

struct NeighborHandle {
    remote_ip: IpAddr,
    cmds: mpsc::Sender<Cmd>,
    status: watch::Receiver<NeighborStatus>,
    task: JoinHandle<()>,
}

/// A running speaker: neighbors, listeners and the advertisement they follow.
pub struct Speaker {
    neighbors: Vec<NeighborHandle>,
    /// Neighbors that could not start (e.g. the kernel refused their MD5 key), with why.
    failed: Vec<NeighborStatus>,
    listeners: Vec<JoinHandle<()>>,
    advert: watch::Sender<Arc<Advert>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("cannot listen on {addr}: {err}")]
    Listen { addr: SocketAddr, err: transport::TransportError },
}

/// The session and socket settings of one configured neighbor.
pub fn neighbor_spec(bgp: &config::Bgp, n: &config::Neighbor, seed: u64) -> NeighborSpec {
    let (v4, v6) = bgp.next_hops(n);
    let mut s = SessionConfig::new(bgp.local_as.get(), n.remote_as.get(), bgp.router_id.addr());
    s.hold_time = n.hold_time.seconds();
    s.connect_retry = bgp.connect_retry;
    s.passive = n.passive;
    s.graceful_restart = bgp.graceful_restart.then_some(120);
    s.max_prefixes = n.max_prefixes.map(u64::from);
    s.idle_hold_initial = Duration::from_secs(1);
    s.idle_hold_max = Duration::from_secs(60);
    s.jitter_seed = seed;
    NeighborSpec {
        remote: SocketAddr::new(n.remote_ip, n.port),
        transport: TransportOpts {
            local: Some(n.local_ip),
            md5_key: n.md5.as_ref().map(|k| k.as_bytes().to_vec()),
            ttl_security: n.ttl == TtlMode::Security,
            multihop: match n.ttl {
                TtlMode::Multihop(t) => Some(t.get()),
                _ => None,
            },
        },
        session: s,
        next_hop_v4: v4,
        next_hop_v6: v6,
        med: n.med,
        communities: n.communities.clone(),
        large_communities: n.large_communities.clone(),
    }
}

impl Speaker {
    /// Binds the listeners, installs each neighbor's MD5 key on them, and starts one task per
    /// neighbor. A neighbor whose key the kernel refuses does not start (shown in status).
    pub async fn start(cfg: &Config, advert: Advert) -> Result<Speaker, SpeakerError> {
        let (advert_tx, _) = watch::channel(Arc::new(advert));
        let mut sp = Speaker { neighbors: Vec::new(), failed: Vec::new(), listeners: Vec::new(), advert: advert_tx };
        let bgp = &cfg.bgp;
        // One listener per local address (and port) in use.
        let mut by_local: HashMap<SocketAddr, Vec<&config::Neighbor>> = HashMap::new();
        if bgp.listen {
            for n in &bgp.neighbors {
                by_local.entry(SocketAddr::new(n.local_ip, bgp.port)).or_default().push(n);
            }
        }
        let mut routes: HashMap<IpAddr, mpsc::Sender<Cmd>> = HashMap::new();
        let mut listeners = Vec::new();
        let mut refused: HashMap<IpAddr, String> = HashMap::new();
        for (addr, ns) in &by_local {
            let l = transport::listen(*addr).map_err(|err| SpeakerError::Listen { addr: *addr, err })?;
            for n in ns {
                if let Some(k) = &n.md5 {
                    if let Err(e) = transport::set_md5(l.as_raw_fd(), n.remote_ip, Some(k.as_bytes())) {
                        refused.insert(n.remote_ip, e.to_string());
                    }
                }
                if n.ttl == TtlMode::Security {
                    if let Err(e) = transport::listener_gtsm(&l) {
                        refused.insert(n.remote_ip, e.to_string());
                    }
                }
            }
            info!(%addr, neighbors = ns.len(), "listening for BGP");
            listeners.push(l);
        }
        for (i, n) in bgp.neighbors.iter().enumerate() {
            if let Some(why) = refused.get(&n.remote_ip) {
                error!(neighbor = %n.remote_ip, "{why}");
                sp.failed.push(NeighborStatus {
                    remote_ip: Some(n.remote_ip),
                    remote_as: n.remote_as.get(),
                    state: "Disabled".into(),
                    md5: n.md5.is_some(),
                    last_error: Some(why.clone()),
                    ..Default::default()
                });
                continue;
            }
            let spec = neighbor_spec(bgp, n, 0x5eed_0000 + i as u64);
            let (cmd_tx, cmd_rx) = mpsc::channel(8);
            let (st_tx, st_rx) = watch::channel(NeighborStatus::default());
            let span = tracing::info_span!("neighbor", peer = %n.remote_ip);
            let task = tokio::spawn(neighbor::run(spec, sp.advert.subscribe(), cmd_rx, st_tx).instrument(span));
            routes.insert(n.remote_ip, cmd_tx.clone());
            sp.neighbors.push(NeighborHandle { remote_ip: n.remote_ip, cmds: cmd_tx, status: st_rx, task });
        }
        for l in listeners {
            let routes = routes.clone();
            sp.listeners.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, peer)) = l.accept().await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    match routes.get(&peer.ip()) {
                        Some(tx) => {
                            let _ = tx.send(Cmd::Accepted(stream)).await;
                        }
                        // Not a configured neighbor: close without a word (RFC 4271 §8.2.1.1).
                        None => warn!(%peer, "refused BGP connection from an unconfigured address"),
                    }
                }
            }));
        }
        Ok(sp)
    }

    /// Every neighbor converges to `a` now (UPDATEs leave in the same wake-up).
    pub fn set_advert(&self, a: Advert) {
        self.advert.send_if_modified(|cur| {
            if **cur == a {
                false
            } else {
                *cur = Arc::new(a);
                true
            }
        });
    }

    pub fn advert(&self) -> Arc<Advert> {
        self.advert.borrow().clone()
    }

    pub fn status(&self) -> Vec<NeighborStatus> {
        self.neighbors.iter().map(|n| n.status.borrow().clone()).chain(self.failed.iter().cloned()).collect()
    }

    /// Sends Cease / Administrative Shutdown with `reason` to every neighbor and waits (at most
    /// `limit`) until the NOTIFICATIONs are written.
    pub async fn shutdown(&self, reason: &str, limit: Duration) {
        let mut waits = Vec::new();
        for n in &self.neighbors {
            let (tx, rx) = oneshot::channel();
            if n.cmds.send(Cmd::Stop { reason: reason.to_string(), done: tx }).await.is_ok() {
                waits.push((n.remote_ip, rx));
            }
        }
        let all = async {
            for (ip, rx) in waits {
                if rx.await.is_err() {
                    warn!(neighbor = %ip, "neighbor task ended before its shutdown NOTIFICATION");
                }
            }
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            warn!("shutdown NOTIFICATIONs not all written within {limit:?}");
        }
        for l in &self.listeners {
            l.abort();
        }
        for n in &self.neighbors {
            n.task.abort();
        }
    }
}
