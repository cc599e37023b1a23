//! The one writer of the HA controller's files (the keepalived state, the drain): a tokio task
//! that carries out queued writes *in queue order*, each on the blocking pool (two fsyncs must
//! never stall the runtime thread, which every BGP session shares). A change is applied first
//! and queued under the same lock, so the queue order is the order the changes took effect and
//! the file always ends with the last one, never an older write overtaking a newer one. Writes
//! to a path still waiting in the queue are coalesced (only the newest is written). The
//! writer outlives a stopped controller, so a reload never loses a queued write.
//! What is written and when is the controller's decision; this module only writes.

use super::state;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Replaces `path` by the bytes, or removes it for `None` (already absent is fine). Blocking.
pub type WriteFn = Arc<dyn Fn(&Path, Option<&[u8]>) -> Result<(), String> + Send + Sync>;

/// Writes queued for the same path coalesce only within one batch; a batch is at most this
/// many jobs (a bound on one loop turn, not on the queue).
const BATCH: usize = 64;

type Done = oneshot::Sender<Result<(), String>>;

struct Job {
    path: PathBuf,
    bytes: Option<Vec<u8>>,
    done: Done,
}

/// A handle on the writer task; clones share it. The task ends when the last clone is dropped,
/// after finishing what was queued.
#[derive(Clone)]
pub struct Persister {
    tx: mpsc::UnboundedSender<Job>,
    /// Writes queued or in progress, per path.
    pending: Arc<Mutex<HashMap<PathBuf, usize>>>,
    /// Counts finished writes: wakes whoever waits for a path to settle.
    settled: watch::Receiver<u64>,
    /// When it was started (tokio's clock): the daemon starts one and keeps it across
    /// reloads, so this is the daemon's start (a saved keepalived state's grace runs from it).
    started: std::time::Instant,
}

/// The outcome of one queued write, to await (with a bound) or drop.
pub struct Ticket(oneshot::Receiver<Result<(), String>>);

impl Ticket {
    /// A ticket answered through `rx` (for a waiter that passes a write's outcome on).
    pub fn from_receiver(rx: oneshot::Receiver<Result<(), String>>) -> Ticket {
        Ticket(rx)
    }

    /// `Ok` once written; `Err` with the reason when the write failed or is still not done
    /// after `limit` (it goes on in the background and still lands in order).
    pub async fn wait(self, limit: Duration) -> Result<(), String> {
        match tokio::time::timeout(limit, self.0).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the state writer stopped".into()),
            Err(_) => Err(format!("not yet saved after {} ms (slow disk?)", limit.as_millis())),
        }
    }
}

/// The real write: [`state::write_atomic`] or a removal.
pub fn write_file(path: &Path, bytes: Option<&[u8]>) -> Result<(), String> {
    match bytes {
        Some(b) => state::write_atomic(path, b),
        None => match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
        },
    }
}

fn lock(m: &Mutex<HashMap<PathBuf, usize>>) -> std::sync::MutexGuard<'_, HashMap<PathBuf, usize>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Persister {
    /// Starts the writer with the real file writes. Needs a tokio runtime.
    pub fn start() -> Persister {
        Persister::with_writer(Arc::new(write_file))
    }

    /// Starts the writer with `write` doing the blocking work (a test seam).
    pub fn with_writer(write: WriteFn) -> Persister {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending: Arc<Mutex<HashMap<PathBuf, usize>>> = Arc::default();
        let (settled_tx, settled) = watch::channel(0u64);
        tokio::spawn(run(rx, write, pending.clone(), settled_tx));
        Persister { tx, pending, settled, started: tokio::time::Instant::now().into_std() }
    }

    /// When the writer (the daemon) was started.
    pub fn started(&self) -> std::time::Instant {
        self.started
    }

    /// Queues a write of `bytes` to `path` (`None`: remove it). Call it under the lock that
    /// ordered the change, so queue order is apply order.
    pub fn queue(&self, path: &Path, bytes: Option<Vec<u8>>) -> Ticket {
        let (done, rx) = oneshot::channel();
        *lock(&self.pending).entry(path.to_path_buf()).or_insert(0) += 1;
        if let Err(mpsc::error::SendError(job)) = self.tx.send(Job { path: path.to_path_buf(), bytes, done }) {
            self.finished(&job.path, 1);
            let _ = job.done.send(Err("the state writer stopped".into()));
        }
        Ticket(rx)
    }

    /// Whether a write to `path` is queued or in progress (the file may hold an older state).
    pub fn pending(&self, path: &Path) -> bool {
        lock(&self.pending).get(path).is_some_and(|n| *n > 0)
    }

    /// Changes after every finished write.
    pub fn settled(&self) -> watch::Receiver<u64> {
        self.settled.clone()
    }

    fn finished(&self, path: &Path, n: usize) {
        finish(&self.pending, path, n);
    }
}

fn finish(pending: &Mutex<HashMap<PathBuf, usize>>, path: &Path, n: usize) {
    let mut p = lock(pending);
    if let Some(c) = p.get_mut(path) {
        *c = c.saturating_sub(n);
        if *c == 0 {
            p.remove(path);
        }
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Job>,
    write: WriteFn,
    pending: Arc<Mutex<HashMap<PathBuf, usize>>>,
    settled: watch::Sender<u64>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        // Per path, in order of first appearance: the newest content and every waiter.
        let mut order: Vec<(PathBuf, Option<Vec<u8>>, Vec<Done>)> = Vec::new();
        for j in batch {
            match order.iter_mut().find(|(p, _, _)| *p == j.path) {
                Some(slot) => {
                    slot.1 = j.bytes;
                    slot.2.push(j.done);
                }
                None => order.push((j.path, j.bytes, vec![j.done])),
            }
        }
        for (path, bytes, waiters) in order {
            let (w, p) = (write.clone(), path.clone());
            let r = tokio::task::spawn_blocking(move || w(&p, bytes.as_deref()))
                .await
                .unwrap_or_else(|e| Err(format!("cannot write {}: the writer failed: {e}", path.display())));
            if let Err(e) = &r {
                tracing::warn!("{e}");
            }
            finish(&pending, &path, waiters.len());
            settled.send_modify(|n| *n = n.wrapping_add(1));
            for w in waiters {
                let _ = w.send(r.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_land_in_queue_order_and_pending_clears() {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let l2 = log.clone();
        let p = Persister::with_writer(Arc::new(move |path: &Path, b: Option<&[u8]>| {
            let shown = b.map_or("-".to_string(), |b| String::from_utf8_lossy(b).into_owned());
            l2.lock().unwrap().push(format!("{}={shown}", path.display()));
            Ok(())
        }));
        let a = Path::new("/nonexistent/a");
        let t1 = p.queue(a, Some(b"1".to_vec()));
        let t2 = p.queue(a, Some(b"2".to_vec()));
        let t3 = p.queue(Path::new("/nonexistent/b"), None);
        assert!(p.pending(a));
        for t in [t1, t2, t3] {
            t.wait(Duration::from_secs(5)).await.unwrap();
        }
        assert!(!p.pending(a));
        // Queued together: the older write to `a` is coalesced away, never written after "2".
        assert_eq!(*log.lock().unwrap(), vec!["/nonexistent/a=2", "/nonexistent/b=-"]);
    }
}
