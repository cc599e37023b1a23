//! `[role] source = "etcd"` and `"etcd-key"`: who is primary, decided by etcd, fenced by the
//! lease. `api` is the pure part of etcd's JSON gateway (request bodies, response parsing),
//! `client` its HTTP edge, `fence` the pure deadline rule (primary only until the last
//! confirmed keep-alive + TTL − margin), `election` the campaign and `follow` the key
//! follower, both written against the [`Etcd`] trait so that their tests can drive a fake
//! etcd in paused time.
//!
//! The role reports carry the fence as their `until`: the decider withdraws on its own timer
//! when the lease is not confirmed in time, whatever this task or the network does.

pub mod api;
pub mod client;
pub mod client_http;
#[cfg(test)]
mod client_tests;
pub mod election;
#[cfg(test)]
mod fake;
pub mod fence;
pub mod follow;

use super::decision::{Decision, RoleUpdate};
use super::role::SourceReport;
use super::track::Fitness;
use crate::config::{EtcdMode, EtcdRole};
use api::{Kv, LeaderKey, Lease};
use serde::{Deserialize, Serialize};
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What the election and the follower need from etcd ([`client::Client`], or a fake).
pub trait Etcd: Send + Sync + 'static {
    type Error: Display + Send;
    fn grant(&self, ttl_secs: i64) -> impl Future<Output = Result<Lease, Self::Error>> + Send;
    /// The TTL left after the keep-alive; 0 when etcd no longer has the lease.
    fn keep_alive(&self, id: i64) -> impl Future<Output = Result<i64, Self::Error>> + Send;
    fn revoke(&self, id: i64) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Seconds left of a lease; -1 when it is gone.
    fn time_to_live(&self, id: i64) -> impl Future<Output = Result<i64, Self::Error>> + Send;
    /// Returns once `lease`'s key leads `election`; not bounded in time.
    fn campaign(
        &self,
        election: &[u8],
        lease: i64,
        value: &[u8],
    ) -> impl Future<Output = Result<LeaderKey, Self::Error>> + Send;
    fn leader(&self, election: &[u8]) -> impl Future<Output = Result<Option<Kv>, Self::Error>> + Send;
    fn get(&self, key: &[u8]) -> impl Future<Output = Result<(Option<Kv>, i64), Self::Error>> + Send;
    type Watch: WatchEvents<Error = Self::Error>;
    /// Watches `key` from `start_revision` on.
    fn watch(&self, key: &[u8], start_revision: i64) -> impl Future<Output = Result<Self::Watch, Self::Error>> + Send;
    /// The endpoint that answered last, for the status.
    fn endpoint(&self) -> Option<String>;
}

/// A watch stream.
pub trait WatchEvents: Send + 'static {
    type Error: Display + Send;
    /// The events of the next message (empty for a progress message).
    fn next(&mut self) -> impl Future<Output = Result<Vec<api::WatchEvent>, Self::Error>> + Send;
}

impl WatchEvents for client::Watch {
    type Error = client::Error;
    async fn next(&mut self) -> Result<Vec<api::WatchEvent>, client::Error> {
        client::Watch::next(self).await
    }
}

impl Etcd for client::Client {
    type Error = client::Error;
    type Watch = client::Watch;
    async fn watch(&self, key: &[u8], start_revision: i64) -> Result<client::Watch, client::Error> {
        client::Client::watch(self, key, start_revision).await
    }
    async fn grant(&self, ttl_secs: i64) -> Result<Lease, client::Error> {
        client::Client::grant(self, ttl_secs).await
    }
    async fn keep_alive(&self, id: i64) -> Result<i64, client::Error> {
        client::Client::keep_alive(self, id).await
    }
    async fn revoke(&self, id: i64) -> Result<(), client::Error> {
        client::Client::revoke(self, id).await
    }
    async fn time_to_live(&self, id: i64) -> Result<i64, client::Error> {
        client::Client::time_to_live(self, id).await
    }
    async fn campaign(&self, election: &[u8], lease: i64, value: &[u8]) -> Result<LeaderKey, client::Error> {
        client::Client::campaign(self, election, lease, value).await
    }
    async fn leader(&self, election: &[u8]) -> Result<Option<Kv>, client::Error> {
        client::Client::leader(self, election).await
    }
    async fn get(&self, key: &[u8]) -> Result<(Option<Kv>, i64), client::Error> {
        client::Client::get(self, key).await
    }
    fn endpoint(&self) -> Option<String> {
        self.last_endpoint()
    }
}

/// `now` for the fence, following tokio's clock (so paused-time tests work).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What the etcd source knows, for `status` (rendered at a `now` by [`EtcdState::status`]).
#[derive(Clone, Debug, Default)]
pub struct EtcdState {
    /// "leader", "campaigning", "following", "not a candidate: …", "etcd unreachable: …".
    pub candidacy: String,
    /// The leader's name (its campaign value), or the key's value in follow mode.
    pub leader: Option<String>,
    /// The leader key's create revision while this node leads: the fencing token.
    pub token: Option<i64>,
    pub lease: Option<i64>,
    /// Until when this node may advertise as primary.
    pub deadline: Option<Instant>,
    pub error: Option<String>,
    pub endpoint: Option<String>,
    /// Leadership won (or the key taken) since the start.
    pub won: u64,
}

/// The etcd part of `anycastd status --json` (`etcd` in the HA status).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EtcdStatus {
    /// "election" or "follow".
    pub mode: String,
    /// The election prefix or the followed key.
    pub name: String,
    /// This node's candidate name, or the value it follows.
    pub candidate: String,
    pub candidacy: String,
    pub leader: Option<String>,
    pub fencing_token: Option<i64>,
    pub lease_id: Option<i64>,
    pub lease_ttl_ms: u64,
    pub fence_margin_ms: u64,
    /// Time left before this node withdraws on its own unless etcd confirms the lease again.
    pub fence_in_ms: Option<u64>,
    pub endpoint: Option<String>,
    pub error: Option<String>,
    pub won: u64,
}

impl EtcdState {
    pub fn status(&self, cfg: &EtcdRole, now: Instant) -> EtcdStatus {
        let (mode, name, candidate) = match &cfg.mode {
            EtcdMode::Election { election, candidate } => ("election", election, candidate),
            EtcdMode::Follow { key, value } => ("follow", key, value),
        };
        EtcdStatus {
            mode: mode.into(),
            name: name.clone(),
            candidate: candidate.clone(),
            candidacy: self.candidacy.clone(),
            leader: self.leader.clone(),
            fencing_token: self.token,
            lease_id: self.lease,
            lease_ttl_ms: cfg.lease_ttl.as_millis() as u64,
            fence_margin_ms: cfg.margin.as_millis() as u64,
            fence_in_ms: self.deadline.map(|d| d.saturating_duration_since(now).as_millis() as u64),
            endpoint: self.endpoint.clone(),
            error: self.error.clone(),
            won: self.won,
        }
    }
}

/// Everything a running etcd source shares with the controller: its state and the lease to
/// revoke on a clean stop.
#[derive(Clone, Debug, Default)]
pub struct Shared(Arc<Mutex<EtcdState>>);

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, EtcdState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What an etcd source works with; the edge builds it for [`client::Client`].
pub struct Ctx<E: Etcd> {
    pub etcd: Arc<E>,
    pub cfg: EtcdRole,
    pub tx: mpsc::Sender<SourceReport>,
    /// Checks and drain: a candidate only while every check is healthy and not drained.
    pub fitness: watch::Receiver<Fitness>,
    /// The decision: a resigning leader revokes only once it no longer advertises as primary.
    pub decision: watch::Receiver<Decision>,
    /// Why no BGP neighbor serves (`None`: one does): not a candidate meanwhile.
    pub neighbors: watch::Receiver<Option<String>>,
    pub shared: Shared,
}

impl<E: Etcd> Ctx<E> {
    /// Its own view of the inputs of the candidacy.
    fn fit(&self) -> Fit {
        Fit { fitness: self.fitness.clone(), neighbors: self.neighbors.clone() }
    }

    /// Sends `u` to the decider; false when the controller is gone.
    async fn report(&self, u: RoleUpdate) -> bool {
        self.tx.send(u.into()).await.is_ok()
    }

    fn state(&self) -> MutexGuard<'_, EtcdState> {
        self.shared.lock()
    }

    fn note_error(&self, e: &impl Display) -> String {
        let msg = e.to_string();
        let mut s = self.state();
        s.error = Some(msg.clone());
        s.endpoint = self.etcd.endpoint();
        msg
    }
}

/// Why this node is not fit to lead, or `None`: drained, a check failing, or no BGP
/// neighbor serving (`neighbors`).
pub fn unfit(f: &Fitness, neighbors: Option<&str>) -> Option<String> {
    match (f.drained, f.failing.as_slice()) {
        (true, _) => Some("drained (anycastd drain)".into()),
        (false, []) => neighbors.map(str::to_string),
        (false, [one]) => Some(format!("check `{one}` failing")),
        (false, many) => {
            Some(format!("checks {} failing", many.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")))
        }
    }
}

/// The inputs of the candidacy (checks and drain, BGP neighbors), watched.
struct Fit {
    fitness: watch::Receiver<Fitness>,
    neighbors: watch::Receiver<Option<String>>,
}

impl Fit {
    /// Why this node cannot lead now (marking both inputs seen), or `None`.
    fn why_not(&mut self) -> Option<String> {
        let n = self.neighbors.borrow_and_update().clone();
        unfit(&self.fitness.borrow_and_update(), n.as_deref())
    }

    /// Waits for a change of either input; false when the controller is gone.
    async fn changed(&mut self) -> bool {
        tokio::select! {
            r = self.fitness.changed() => r.is_ok(),
            r = self.neighbors.changed() => r.is_ok(),
        }
    }
}

/// Revokes `id` within `timeout`, saying how it went; a lease not revoked expires by itself.
async fn revoke(client: &client::Client, id: i64, timeout: Duration) {
    match tokio::time::timeout(timeout, client.revoke(id)).await {
        Ok(Ok(())) => tracing::info!("etcd: resigned (lease {id:x} revoked)"),
        Ok(Err(e)) => tracing::warn!("etcd: could not revoke lease {id:x} ({e}); it expires by itself"),
        Err(_) => tracing::warn!("etcd: revoking lease {id:x} timed out; it expires by itself"),
    }
}

/// A running etcd source: its task, its state, and the lease to give up on a clean stop.
pub struct Handle {
    pub shared: Shared,
    pub cfg: EtcdRole,
    client: Arc<client::Client>,
    task: JoinHandle<()>,
}

impl Handle {
    /// Starts the election or the follower for `cfg`.
    pub fn start(
        cfg: EtcdRole,
        tx: mpsc::Sender<SourceReport>,
        fitness: watch::Receiver<Fitness>,
        decision: watch::Receiver<Decision>,
        neighbors: watch::Receiver<Option<String>>,
    ) -> Handle {
        let client = Arc::new(client::Client::new(&cfg.conn));
        let shared = Shared::default();
        let ctx =
            Ctx { etcd: client.clone(), cfg: cfg.clone(), tx, fitness, decision, neighbors, shared: shared.clone() };
        let task = match cfg.mode {
            EtcdMode::Election { .. } => tokio::spawn(election::run(ctx)),
            EtcdMode::Follow { .. } => tokio::spawn(follow::run(ctx)),
        };
        Handle { shared, cfg, client, task }
    }

    pub fn status(&self, now: Instant) -> EtcdStatus {
        self.shared.lock().status(&self.cfg, now)
    }

    /// Stops the source and revokes its lease, so that the next candidate takes over at once
    /// instead of after the TTL: call it once the withdraw is on the wire. Bounded by the
    /// request timeout.
    pub async fn resign(&self) {
        self.task.abort();
        let lease = self.shared.lock().lease.take();
        if let Some(id) = lease {
            revoke(&self.client, id, self.cfg.conn.timeout).await;
        }
    }

    /// Stops the source without waiting: the lease is revoked in the background (a replaced
    /// controller, whose decision no longer reaches the speaker).
    pub fn stop(&self) {
        self.task.abort();
        if let Some(id) = self.shared.lock().lease.take() {
            let (client, timeout) = (self.client.clone(), self.cfg.conn.timeout);
            tokio::spawn(async move { revoke(&client, id, timeout).await });
        }
    }
}

/// Sleeps `d` (tokio's clock).
async fn sleep(d: Duration) {
    tokio::time::sleep(d).await
}

#[cfg(test)]
mod election_tests;
#[cfg(test)]
mod live_tests;
