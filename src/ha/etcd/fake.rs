//! An etcd in memory for the election and follower tests, in tokio's (paused) clock: leases
//! expire at etcd `TTL` after the keep-alive *arrived*, a campaign returns once its key has the
//! lowest create revision of the election, and each node's link to it can be cut (requests
//! then hang, as over a black-holed network) or delayed.

use super::api::{Kv, LeaderKey, Lease, WatchEvent};
use super::{Etcd, WatchEvents};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Default)]
pub struct World {
    rev: i64,
    next_lease: i64,
    /// Lease id → (TTL s, expiry).
    leases: BTreeMap<i64, (i64, Instant)>,
    /// Key → kv.
    keys: BTreeMap<Vec<u8>, Kv>,
    /// Every call, in order: (time, what) — for the tests' timelines.
    pub log: Vec<(Instant, String)>,
}

impl World {
    /// Drops expired leases and their keys (etcd's lessor; without its 500 ms check period,
    /// which only makes a real etcd later, never earlier).
    fn expire(&mut self) {
        let now = Instant::now();
        let gone: Vec<i64> = self.leases.iter().filter(|(_, (_, exp))| *exp <= now).map(|(id, _)| *id).collect();
        for id in gone {
            self.drop_lease(id, "expired");
        }
    }

    fn drop_lease(&mut self, id: i64, why: &str) {
        if self.leases.remove(&id).is_some() {
            self.rev += 1;
            self.keys.retain(|_, kv| kv.lease != id);
            self.log.push((Instant::now(), format!("lease {id} {why}")));
        }
    }

    pub fn put(&mut self, key: &str, value: &str, lease: i64) {
        self.rev += 1;
        let create = self.keys.get(key.as_bytes()).map_or(self.rev, |kv| kv.create_revision);
        let kv = Kv { key: key.into(), value: value.into(), create_revision: create, mod_revision: self.rev, lease };
        self.keys.insert(key.as_bytes().to_vec(), kv);
    }

    pub fn delete(&mut self, key: &[u8]) {
        if self.keys.remove(key).is_some() {
            self.rev += 1;
        }
    }

    /// The election's leader: its key with the lowest create revision.
    fn leader(&self, election: &[u8]) -> Option<Kv> {
        let prefix = [election, b"/"].concat();
        self.keys.values().filter(|kv| kv.key.starts_with(&prefix)).min_by_key(|kv| kv.create_revision).cloned()
    }

    pub fn grant_for_test(&mut self, ttl: i64) -> i64 {
        self.next_lease += 1;
        let id = self.next_lease;
        self.leases.insert(id, (ttl, Instant::now() + Duration::from_secs(ttl as u64)));
        id
    }
}

/// One node's view of the shared [`World`].
#[derive(Clone)]
pub struct FakeEtcd {
    pub world: Arc<Mutex<World>>,
    /// False: the node is cut from etcd (requests hang).
    pub up: Arc<AtomicBool>,
    /// The answers' way back, in µs (1 ms unless set): a slow way back must not stretch the
    /// fence, which counts from the request's sending.
    back_us: Arc<AtomicU64>,
    pub name: &'static str,
}

impl FakeEtcd {
    pub fn new(world: &Arc<Mutex<World>>, name: &'static str) -> FakeEtcd {
        let back_us = Arc::new(AtomicU64::new(1000));
        FakeEtcd { world: world.clone(), up: Arc::new(AtomicBool::new(true)), back_us, name }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn slow_back(&self, d: Duration) {
        self.back_us.store(d.as_micros() as u64, Ordering::SeqCst);
    }

    pub fn cut(&self, cut: bool) {
        self.up.store(!cut, Ordering::SeqCst);
    }

    /// A request's round trip: 1 ms there (the request acts at etcd then), 1 ms back; a cut
    /// link hangs for ever (the caller's timeout ends it).
    async fn reach(&self) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if !self.up.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    async fn back(&self) {
        tokio::time::sleep(Duration::from_micros(self.back_us.load(Ordering::SeqCst))).await;
        if !self.up.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    fn log(&self, what: String) {
        let mut w = self.world();
        w.log.push((Instant::now(), format!("{}: {what}", self.name)));
    }
}

pub struct FakeWatch(FakeEtcd, Vec<u8>, i64);

impl WatchEvents for FakeWatch {
    type Error = String;
    async fn next(&mut self) -> Result<Vec<WatchEvent>, String> {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if !self.0.up.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            let mut w = self.0.world();
            w.expire();
            if w.rev > self.2 {
                self.2 = w.rev;
                let kv = w.keys.get(&self.1).cloned();
                return Ok(vec![match kv {
                    Some(kv) => WatchEvent::Put(kv),
                    None => WatchEvent::Delete(Kv { key: self.1.clone(), ..Kv::default() }),
                }]);
            }
        }
    }
}

impl Etcd for FakeEtcd {
    type Error = String;
    type Watch = FakeWatch;

    async fn grant(&self, ttl_secs: i64) -> Result<Lease, String> {
        self.reach().await;
        let id = self.world().grant_for_test(ttl_secs.max(2));
        self.log(format!("grant {id}"));
        self.back().await;
        Ok(Lease { id, ttl: ttl_secs.max(2) })
    }

    async fn keep_alive(&self, id: i64) -> Result<i64, String> {
        self.reach().await;
        let ttl = {
            let mut w = self.world();
            w.expire();
            match w.leases.get_mut(&id) {
                Some((ttl, exp)) => {
                    *exp = Instant::now() + Duration::from_secs(*ttl as u64);
                    *ttl
                }
                None => 0,
            }
        };
        self.back().await;
        Ok(ttl)
    }

    async fn revoke(&self, id: i64) -> Result<(), String> {
        self.reach().await;
        self.world().drop_lease(id, "revoked");
        self.back().await;
        Ok(())
    }

    async fn time_to_live(&self, id: i64) -> Result<i64, String> {
        self.reach().await;
        let left = {
            let mut w = self.world();
            w.expire();
            w.leases.get(&id).map_or(-1, |(_, exp)| exp.saturating_duration_since(Instant::now()).as_secs() as i64)
        };
        self.back().await;
        Ok(left)
    }

    async fn campaign(&self, election: &[u8], lease: i64, value: &[u8]) -> Result<LeaderKey, String> {
        self.reach().await;
        let key = [election, format!("/{lease:x}").as_bytes()].concat();
        let rev = {
            let mut w = self.world();
            w.expire();
            if !w.leases.contains_key(&lease) {
                return Err("etcdserver: requested lease not found".into());
            }
            if !w.keys.contains_key(&key) {
                let k = String::from_utf8_lossy(&key).to_string();
                w.put(&k, &String::from_utf8_lossy(value), lease);
            }
            w.keys.get(&key).map_or(0, |kv| kv.create_revision)
        };
        // As etcd's election does: wait until every key created before ours is deleted,
        // without looking at ours again (a key deleted meanwhile still "wins").
        let prefix = [election, b"/"].concat();
        loop {
            let won = {
                let mut w = self.world();
                w.expire();
                !w.keys.values().any(|kv| kv.key.starts_with(&prefix) && kv.create_revision < rev)
            };
            if won {
                self.log(format!("won with lease {lease}"));
                self.back().await;
                return Ok(LeaderKey { name: election.to_vec(), key, rev, lease });
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn leader(&self, election: &[u8]) -> Result<Option<Kv>, String> {
        self.reach().await;
        let l = {
            let mut w = self.world();
            w.expire();
            w.leader(election)
        };
        self.back().await;
        Ok(l)
    }

    async fn get(&self, key: &[u8]) -> Result<(Option<Kv>, i64), String> {
        self.reach().await;
        let r = {
            let mut w = self.world();
            w.expire();
            (w.keys.get(key).cloned(), w.rev)
        };
        self.back().await;
        Ok(r)
    }

    async fn watch(&self, key: &[u8], start_revision: i64) -> Result<FakeWatch, String> {
        self.reach().await;
        Ok(FakeWatch(self.clone(), key.to_vec(), start_revision - 1))
    }

    fn endpoint(&self) -> Option<String> {
        Some("fake".into())
    }
}
