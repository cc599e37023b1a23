//! The BGP listeners: one TCP listener per local address (and port) in use, carrying the
//! TCP-MD5 key of every neighbor on that address (per peer address) and GTSM while a neighbor
//! on it asks for it. Keys and GTSM are installed on the bound socket *before* `listen()`, and
//! a reload replaces a key in place (the kernel updates it) and deletes only keys whose peer
//! left the listener or lost its key: a kept neighbor is never unsigned for a moment.
//!
//! Each accept loop hands a connection to a neighbor task only if it arrived on that
//! neighbor's own `local_ip` and port (the accept table is keyed by listening address and peer
//! address, never by peer address alone), and only if this listener holds the neighbor's key
//! and GTSM as installed. Anything else is closed without a word (RFC 4271 §8.2.1.1), counted
//! by reason for `status` and `/metrics`, and logged at most once per source per minute. The
//! loop never waits for a neighbor (`try_send`) and backs off on `accept()` errors (EMFILE).
//! Nothing here speaks BGP.

use super::neighbor::Cmd;
use super::{transport, SpeakerError};
use crate::config::{self, TtlMode};
use crate::log_limit::{LogLimiter, Verdict};
use crate::status::InboundStatus;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// One line per source per window for refused connections, and at most `LOG_BUDGET` such lines
/// per window from all sources together.
const LOG_WINDOW: Duration = Duration::from_secs(60);
const LOG_BUDGET: u32 = 10;
const LOG_KEYS: usize = 256;

/// A running neighbor, as the accept loops see it.
pub(super) struct Route {
    pub tx: mpsc::Sender<Cmd>,
    /// The neighbor has an MD5 key: the listener must hold one for it.
    pub md5: bool,
    /// The neighbor wants GTSM: the listener must have it on.
    pub gtsm: bool,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Unconfigured,
    WrongListener(SocketAddr),
    Unprotected,
    Busy,
}

/// What a listener holds, as the kernel accepted it.
#[derive(Clone, Debug, Default)]
struct Held {
    keyed: HashSet<IpAddr>,
    gtsm: bool,
}

/// The state the accept loops share with the speaker.
pub(super) struct AcceptState {
    /// Running neighbors by (their listening address, their address).
    routes: HashMap<(SocketAddr, IpAddr), Route>,
    /// Every configured neighbor's listening address, running or not.
    configured: HashMap<IpAddr, SocketAddr>,
    held: HashMap<SocketAddr, Held>,
    stats: InboundStatus,
    log: LogLimiter<IpAddr>,
}

impl Default for AcceptState {
    fn default() -> Self {
        AcceptState {
            routes: HashMap::new(),
            configured: HashMap::new(),
            held: HashMap::new(),
            stats: InboundStatus::default(),
            log: LogLimiter::new(LOG_WINDOW, LOG_BUDGET, LOG_KEYS),
        }
    }
}

impl AcceptState {
    /// Replaces the accept table: `configured` maps every neighbor (with listening on) to its
    /// listening address, `routes` the running ones.
    pub(super) fn set_routes(
        &mut self,
        configured: HashMap<IpAddr, SocketAddr>,
        routes: HashMap<(SocketAddr, IpAddr), Route>,
    ) {
        self.configured = configured;
        self.routes = routes;
    }

    /// No more connections for `ip` (it is being stopped).
    pub(super) fn unroute(&mut self, ip: IpAddr) {
        self.routes.retain(|(_, p), _| *p != ip);
    }

    pub(super) fn stats(&self) -> InboundStatus {
        self.stats.clone()
    }

    /// Hands `stream` to its neighbor, or says why not (the caller closes it).
    fn dispatch(&mut self, listener: SocketAddr, stream: TcpStream, peer: IpAddr) -> Result<(), Refusal> {
        let here = stream.local_addr().unwrap_or(listener);
        let r = match self.configured.get(&peer) {
            None => Err(Refusal::Unconfigured),
            Some(theirs) if *theirs != here || here != listener => Err(Refusal::WrongListener(*theirs)),
            Some(_) => match self.routes.get(&(here, peer)) {
                None => Err(Refusal::Unprotected),
                Some(route) => {
                    let held = self.held.get(&listener);
                    let keyed = held.is_some_and(|h| h.keyed.contains(&peer));
                    let gtsm = held.is_some_and(|h| h.gtsm);
                    // GTSM explicitly on the accepted socket, not only inherited.
                    let min_ttl_ok = transport::set_accepted_min_ttl(&stream, route.gtsm).is_ok() || !route.gtsm;
                    if (route.md5 && !keyed) || (route.gtsm && !gtsm) || !min_ttl_ok {
                        Err(Refusal::Unprotected)
                    } else {
                        route.tx.try_send(Cmd::Accepted(stream)).map_err(|_| Refusal::Busy)
                    }
                }
            },
        };
        if let Err(why) = r {
            let n = match why {
                Refusal::Unconfigured => &mut self.stats.refused_unconfigured,
                Refusal::WrongListener(_) => &mut self.stats.refused_wrong_listener,
                Refusal::Unprotected => &mut self.stats.refused_unprotected,
                Refusal::Busy => &mut self.stats.refused_busy,
            };
            *n = n.saturating_add(1);
        }
        r
    }
}

/// Where the listeners send an accepted connection.
pub(super) type AcceptTable = Arc<std::sync::Mutex<AcceptState>>;

fn lock(t: &AcceptTable) -> std::sync::MutexGuard<'_, AcceptState> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

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

/// A socket bound by [`Listeners::bind_missing`], not yet listening.
pub(super) struct Bound(SocketAddr, socket2::Socket);

struct Listener {
    listener: Arc<TcpListener>,
    task: JoinHandle<()>,
    held: Held,
}

/// The running listeners.
#[derive(Default)]
pub(super) struct Listeners {
    by_addr: HashMap<SocketAddr, Listener>,
    /// Keys to install instead of the configured ones, to make the kernel path refuse a key
    /// below the config layer.
    #[cfg(test)]
    pub(super) key_override: HashMap<IpAddr, crate::types::Md5Key>,
}

impl Listeners {
    /// Binds the wanted addresses that are not listened on yet, without listening: a bad
    /// address fails a reload before anything running is touched, and no SYN is answered
    /// before the keys and GTSM are in place.
    pub(super) fn bind_missing(&self, wanted: &Wanted<'_>) -> Result<Vec<Bound>, SpeakerError> {
        let mut fresh = Vec::new();
        for addr in wanted.keys().filter(|a| !self.by_addr.contains_key(a)) {
            let s = transport::bind_listener(*addr).map_err(|err| SpeakerError::Listen { addr: *addr, err })?;
            fresh.push(Bound(*addr, s));
        }
        Ok(fresh)
    }

    /// Stops the listeners no longer wanted, installs every wanted neighbor's MD5 key and GTSM
    /// (on the fresh sockets before they listen), then starts the fresh ones. Returns, per
    /// neighbor, why it must not run (the kernel refused its key or GTSM: it never runs
    /// unsigned, and the caller stops it if it runs).
    pub(super) fn apply(
        &mut self,
        fresh: Vec<Bound>,
        wanted: &Wanted<'_>,
        table: &AcceptTable,
    ) -> HashMap<IpAddr, String> {
        let unused: Vec<SocketAddr> = self.by_addr.keys().filter(|a| !wanted.contains_key(a)).copied().collect();
        for a in unused {
            if let Some(h) = self.by_addr.remove(&a) {
                h.task.abort();
                lock(table).held.remove(&a);
                info!(addr = %a, "stopped listening");
            }
        }
        let mut refused = HashMap::new();
        let none = Vec::new();
        let keys: HashMap<SocketAddr, KeyMap> = wanted.iter().map(|(a, ns)| (*a, self.keys(ns))).collect();
        let no_keys = KeyMap::new();
        for (addr, h) in &mut self.by_addr {
            let (ns, k) = (wanted.get(addr).unwrap_or(&none), keys.get(addr).unwrap_or(&no_keys));
            install(h.listener.as_raw_fd(), *addr, ns, k, &mut h.held, &mut refused);
            lock(table).held.insert(*addr, h.held.clone());
        }
        for Bound(addr, sock) in fresh {
            let (ns, k) = (wanted.get(&addr).unwrap_or(&none), keys.get(&addr).unwrap_or(&no_keys));
            let mut held = Held::default();
            install(sock.as_raw_fd(), addr, ns, k, &mut held, &mut refused);
            let l = match transport::start_listening(sock) {
                Ok(l) => Arc::new(l),
                Err(e) => {
                    // Its neighbors do not run: never half up without their listener.
                    let why = SpeakerError::Listen { addr, err: e }.to_string();
                    for n in ns {
                        refused.insert(n.remote_ip, why.clone());
                    }
                    continue;
                }
            };
            lock(table).held.insert(addr, held.clone());
            let task = tokio::spawn(accept_loop(l.clone(), addr, table.clone()));
            info!(%addr, "listening for BGP");
            self.by_addr.insert(addr, Listener { listener: l, task, held });
        }
        refused
    }

    /// The key each neighbor of a listener wants.
    #[cfg(not(test))]
    fn keys(&self, ns: &[&config::Neighbor]) -> KeyMap {
        ns.iter().filter_map(|n| Some((n.remote_ip, n.md5.clone()?))).collect()
    }

    /// The key each neighbor of a listener wants; an override takes the configured one's place.
    #[cfg(test)]
    fn keys(&self, ns: &[&config::Neighbor]) -> KeyMap {
        let pick = |n: &config::Neighbor| self.key_override.get(&n.remote_ip).or(n.md5.as_ref()).cloned();
        ns.iter().filter_map(|n| Some((n.remote_ip, pick(n)?))).collect()
    }

    /// Stops accepting everywhere.
    pub(super) fn stop_all(&mut self) {
        for (_, l) in self.by_addr.drain() {
            l.task.abort();
        }
    }
}

type KeyMap = HashMap<IpAddr, crate::types::Md5Key>;

/// Brings one listening socket to what its neighbors want: every wanted key added or updated
/// in place, then keys of peers that left (or lost their key) deleted, then GTSM on or off.
/// `held` follows what the kernel accepted; a refusal is recorded per neighbor.
fn install(
    fd: RawFd,
    addr: SocketAddr,
    ns: &[&config::Neighbor],
    keys: &KeyMap,
    held: &mut Held,
    refused: &mut HashMap<IpAddr, String>,
) {
    for (ip, k) in keys {
        match transport::set_md5(fd, *ip, Some(k)) {
            Ok(()) => {
                held.keyed.insert(*ip);
            }
            // A key already there stays (the peer cannot get in unsigned); the neighbor stops.
            Err(e) => {
                refused.insert(*ip, e.to_string());
            }
        }
    }
    let gone: Vec<IpAddr> = held.keyed.iter().filter(|ip| !keys.contains_key(ip)).copied().collect();
    for ip in gone {
        match transport::set_md5(fd, ip, None) {
            Ok(()) => {
                held.keyed.remove(&ip);
            }
            // Still keyed is stricter, not weaker: only the unused key stays.
            Err(e) => error!(%addr, neighbor = %ip, "cannot remove an unused TCP-MD5 key: {e}"),
        }
    }
    let gtsm: Vec<IpAddr> = ns.iter().filter(|n| n.ttl == TtlMode::Security).map(|n| n.remote_ip).collect();
    let want = !gtsm.is_empty();
    if want || held.gtsm {
        match transport::set_listener_gtsm(fd, addr.is_ipv6(), want) {
            Ok(()) => held.gtsm = want,
            Err(e) if want => {
                held.gtsm = false;
                for ip in gtsm {
                    refused.insert(ip, e.to_string());
                }
            }
            // Still on is stricter: it only blocks multihop peers until the next reload.
            Err(e) => error!(%addr, "cannot clear GTSM on the listener: {e}"),
        }
    }
}

async fn accept_loop(l: Arc<TcpListener>, addr: SocketAddr, table: AcceptTable) {
    let mut backoff = crate::accept::Backoff::new("BGP");
    loop {
        match l.accept().await {
            Ok((stream, peer)) => {
                backoff.reset();
                // A refused stream is closed by now (dropped in `dispatch`): without a word.
                let refused = {
                    let mut t = lock(&table);
                    match t.dispatch(addr, stream, peer.ip()) {
                        Ok(()) => None,
                        Err(why) => Some((why, t.log.check(&peer.ip(), tokio::time::Instant::now().into_std()))),
                    }
                };
                if let Some((why, verdict)) = refused {
                    log_refusal(addr, peer, why, verdict);
                }
            }
            Err(e) => {
                // EMFILE/ENFILE and the like: no spin; the pending connection waits.
                {
                    let mut t = lock(&table);
                    t.stats.accept_errors = t.stats.accept_errors.saturating_add(1);
                }
                backoff.pause(&e).await;
            }
        }
    }
}

fn log_refusal(addr: SocketAddr, peer: SocketAddr, why: Refusal, verdict: Verdict) {
    if verdict == Verdict::Suppress {
        return;
    }
    let more = verdict.suffix();
    match why {
        Refusal::Unconfigured => {
            warn!(neighbor = %peer.ip(), port = peer.port(), %addr, "refused BGP connection from an unconfigured address{more}")
        }
        Refusal::WrongListener(theirs) => warn!(
            neighbor = %peer.ip(), port = peer.port(), %addr,
            "refused BGP connection from a neighbor's address to a local address that is not its session address {theirs}{more}"
        ),
        Refusal::Unprotected => warn!(
            neighbor = %peer.ip(), port = peer.port(), %addr,
            "refused BGP connection: the neighbor is disabled or this listener lacks its TCP-MD5 key or GTSM{more}"
        ),
        Refusal::Busy => {
            warn!(neighbor = %peer.ip(), port = peer.port(), %addr, "refused BGP connection: the neighbor has connections queued{more}")
        }
    }
}

#[cfg(test)]
#[path = "listener_tests.rs"]
mod tests;
