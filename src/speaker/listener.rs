//! The BGP listeners: one TCP listener per local address (and port) in use, carrying the
//! TCP-MD5 key of every neighbor on that address (per peer address) and GTSM where a neighbor
//! asks for it. Each listener's accept loop hands a connection to the neighbor task of its
//! source address (the accept table) and closes any other without a word (RFC 4271 §8.2.1.1).
//! Nothing here speaks BGP.

use super::neighbor::Cmd;
use super::{transport, SpeakerError};
use crate::config::{self, TtlMode};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Where the listeners send an accepted connection: the neighbor task of its source address.
pub(super) type AcceptTable = Arc<std::sync::Mutex<HashMap<IpAddr, mpsc::Sender<Cmd>>>>;

/// The neighbors a config wants on each listening address.
pub(super) type Wanted<'a> = HashMap<SocketAddr, Vec<&'a config::Neighbor>>;

/// The listening addresses `bgp` needs (none when `listen = false`).
pub(super) fn wanted(bgp: &config::Bgp) -> Wanted<'_> {
    let mut w: Wanted<'_> = HashMap::new();
    if bgp.listen {
        for n in &bgp.neighbors {
            w.entry(SocketAddr::new(n.local_ip, bgp.port)).or_default().push(n);
        }
    }
    w
}

/// A listener bound by [`Listeners::bind_missing`], not yet accepting.
pub(super) struct Bound(SocketAddr, Arc<TcpListener>);

struct Listener {
    listener: Arc<TcpListener>,
    task: JoinHandle<()>,
    /// Neighbors whose MD5 key is installed on this listener.
    keyed: Vec<IpAddr>,
}

/// The running listeners.
#[derive(Default)]
pub(super) struct Listeners {
    by_addr: HashMap<SocketAddr, Listener>,
}

impl Listeners {
    /// Binds the wanted addresses that are not listened on yet, without accepting: a bad
    /// address fails a reload before anything running is touched.
    pub(super) fn bind_missing(&self, wanted: &Wanted<'_>) -> Result<Vec<Bound>, SpeakerError> {
        let mut fresh = Vec::new();
        for addr in wanted.keys().filter(|a| !self.by_addr.contains_key(a)) {
            let l = transport::listen(*addr).map_err(|err| SpeakerError::Listen { addr: *addr, err })?;
            fresh.push(Bound(*addr, Arc::new(l)));
        }
        Ok(fresh)
    }

    /// Starts accepting on the `fresh` listeners, stops those no longer wanted and
    /// (re)installs every wanted neighbor's MD5 key and GTSM. Returns, per neighbor, why it
    /// must not start (the kernel refused its key or GTSM: it never runs unsigned).
    pub(super) fn apply(
        &mut self,
        fresh: Vec<Bound>,
        wanted: &Wanted<'_>,
        table: &AcceptTable,
    ) -> HashMap<IpAddr, String> {
        for Bound(addr, l) in fresh {
            let task = tokio::spawn(accept_loop(l.clone(), table.clone()));
            info!(%addr, "listening for BGP");
            self.by_addr.insert(addr, Listener { listener: l, task, keyed: Vec::new() });
        }
        let unused: Vec<SocketAddr> = self.by_addr.keys().filter(|a| !wanted.contains_key(a)).copied().collect();
        for a in unused {
            if let Some(h) = self.by_addr.remove(&a) {
                h.task.abort();
                info!(addr = %a, "stopped listening");
            }
        }
        let mut refused = HashMap::new();
        for (addr, ns) in wanted {
            let Some(h) = self.by_addr.get_mut(addr) else { continue };
            let fd = h.listener.as_raw_fd();
            for ip in std::mem::take(&mut h.keyed) {
                let _ = transport::set_md5(fd, ip, None);
            }
            for n in ns {
                if let Some(k) = &n.md5 {
                    match transport::set_md5(fd, n.remote_ip, Some(k)) {
                        Ok(()) => h.keyed.push(n.remote_ip),
                        Err(e) => {
                            refused.insert(n.remote_ip, e.to_string());
                        }
                    }
                }
                if n.ttl == TtlMode::Security {
                    if let Err(e) = transport::listener_gtsm(&h.listener) {
                        refused.insert(n.remote_ip, e.to_string());
                    }
                }
            }
        }
        refused
    }

    /// Stops accepting everywhere.
    pub(super) fn stop_all(&mut self) {
        for (_, l) in self.by_addr.drain() {
            l.task.abort();
        }
    }
}

async fn accept_loop(l: Arc<TcpListener>, accept_table: AcceptTable) {
    loop {
        let Ok((stream, peer)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let tx = accept_table.lock().unwrap_or_else(|p| p.into_inner()).get(&peer.ip()).cloned();
        match tx {
            Some(tx) => {
                let _ = tx.send(Cmd::Accepted(stream)).await;
            }
            // Not a configured neighbor: close without a word (RFC 4271 §8.2.1.1).
            None => warn!(%peer, "refused BGP connection from an unconfigured address"),
        }
    }
}
