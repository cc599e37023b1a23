//! Health feeds the role engine: whether this node *can serve* (every check healthy, not
//! drained — a drain in progress counts —, and at least one BGP neighbor serving), and the
//! keepalived `track_file` that carries it (`[role] track_file`): `0` while it can, the
//! configured negative weight otherwise (-254 puts the VRRP instance into FAULT, so the peer
//! takes MASTER). The same rule answers `anycastd check --quiet` (keepalived's `vrrp_script`,
//! which also catches a dead or hung anycastd that cannot update the file).
//!
//! [`can_serve`] is pure. [`TrackWriter`] only decides *when* to write (at start: the weight,
//! fail closed; on every change of value; at stop: the weight) and hands the bytes to the
//! [`Persister`], which writes atomically, off the runtime thread, in order. It never reads
//! the clock or the speaker itself: the daemon feeds it, event-driven.

use super::decision::{Decider, Drain};
use super::persist::{Persister, Ticket};
use crate::config::TrackFile;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::info;

/// The HA controller's part of "can serve": which checks are unhealthy, and the drain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fitness {
    /// The names of the checks not healthy now (not yet risen, fallen or stalled).
    pub failing: Vec<String>,
    /// Drained or draining (`anycastd drain`).
    pub drained: bool,
}

impl Fitness {
    /// The fitness of `d` at `now`.
    pub fn of(d: &Decider, now: Instant) -> Fitness {
        let failing = d.checks().iter().filter(|(_, c)| !c.is_healthy(now)).map(|(n, _)| n.clone()).collect();
        Fitness { failing, drained: d.drain() != Drain::None }
    }
}

/// The speaker's part: how many neighbors serve (Established, and BFD Up where BFD is
/// strict: `NeighborStatus::serving`), of how many.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Serving {
    pub serving: usize,
    pub total: usize,
}

/// Whether the node can serve, and why (or why not) in one line.
pub fn can_serve(f: &Fitness, s: Serving, stopping: bool) -> (bool, String) {
    let mut why = Vec::new();
    if stopping {
        why.push("anycastd is stopping".to_string());
    }
    if f.drained {
        why.push("drained (anycastd drain)".to_string());
    }
    if !f.failing.is_empty() {
        let names: Vec<String> = f.failing.iter().map(|n| format!("`{n}`")).collect();
        let verb = if names.len() == 1 { "is" } else { "are" };
        why.push(format!("check {} {verb} not healthy", names.join(", ")));
    }
    if s.serving == 0 {
        why.push(format!("no BGP neighbor serving (0/{} Established, with BFD Up where strict)", s.total));
    }
    if why.is_empty() {
        (true, format!("healthy, not drained, {}/{} neighbors serving", s.serving, s.total))
    } else {
        (false, why.join("; "))
    }
}

/// What `status` shows of the track file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackStatus {
    /// The file keepalived reads.
    pub path: String,
    /// The value last written (or being written): 0, or the weight.
    pub value: i32,
    /// Why that value.
    pub why: String,
    /// The last write's error, if it failed.
    pub error: Option<String>,
}

/// Keeps the track file in step with [`can_serve`]. Writes only when the value changes (or
/// when the last write failed), each write logged once at info with its reason.
pub struct TrackWriter {
    cfg: TrackFile,
    persister: Persister,
    shown: Arc<Mutex<TrackStatus>>,
    /// The value queued last; `None` before the first write.
    last: Option<i32>,
}

fn lock(m: &Mutex<TrackStatus>) -> std::sync::MutexGuard<'_, TrackStatus> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TrackWriter {
    /// Writes the weight at once (fail closed: not healthy until proven); needs a runtime.
    /// Returns the writer and that first write.
    pub fn start(cfg: TrackFile, persister: Persister) -> (TrackWriter, Option<Ticket>) {
        let shown = Arc::new(Mutex::new(TrackStatus { path: cfg.path.display().to_string(), ..Default::default() }));
        let mut w = TrackWriter { cfg, persister, shown, last: None };
        let first = w.set(false, "starting: not yet known to be healthy".into());
        (w, first)
    }

    /// The status cell (`anycastd status`, metrics).
    pub fn status(&self) -> TrackStatus {
        lock(&self.shown).clone()
    }

    /// The value for `ok`.
    pub fn value(&self, ok: bool) -> i32 {
        if ok {
            0
        } else {
            self.cfg.weight
        }
    }

    /// Follows a new evaluation: queues a write when the value changes; the reason shown is
    /// kept current either way. Returns the ticket of a write queued.
    pub fn set(&mut self, ok: bool, why: String) -> Option<Ticket> {
        let value = self.value(ok);
        let failed = lock(&self.shown).error.is_some();
        if self.last == Some(value) && !failed {
            lock(&self.shown).why = why;
            return None;
        }
        info!(track_file = %self.cfg.path.display(), value, "track file: {value} ({why})");
        self.last = Some(value);
        {
            let mut s = lock(&self.shown);
            s.value = value;
            s.why = why;
            s.error = None;
        }
        let ticket = self.persister.queue(&self.cfg.path, Some(format!("{value}\n").into_bytes()));
        let (done, keep) = oneshot_result();
        let shown = self.shown.clone();
        tokio::spawn(async move {
            let r = ticket.wait(super::PERSIST_WAIT).await;
            let mut s = lock(&shown);
            // Only the write of the value still shown reports on it.
            if s.value == value {
                s.error = r.as_ref().err().cloned();
            }
            drop(s);
            let _ = done.send(r);
        });
        Some(keep)
    }

    /// At a clean stop: the weight, so the peer takes MASTER; returns the write to wait for.
    pub fn stop(&mut self) -> Option<Ticket> {
        self.set(false, "anycastd is stopping".into())
    }
}

/// A ticket of our own for the caller, answered when the spawned waiter has seen the write.
fn oneshot_result() -> (tokio::sync::oneshot::Sender<Result<(), String>>, Ticket) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    (tx, Ticket::from_receiver(rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn can_serve_needs_health_no_drain_and_a_serving_neighbor() {
        let fit = Fitness::default();
        let one = Serving { serving: 1, total: 2 };
        assert_eq!(can_serve(&fit, one, false), (true, "healthy, not drained, 1/2 neighbors serving".into()));
        let (ok, why) = can_serve(&fit, Serving { serving: 0, total: 2 }, false);
        assert!(!ok);
        assert_eq!(why, "no BGP neighbor serving (0/2 Established, with BFD Up where strict)");
        let sick = Fitness { failing: vec!["svc".into(), "db".into()], drained: true };
        let (ok, why) = can_serve(&sick, one, true);
        assert!(!ok);
        assert_eq!(why, "anycastd is stopping; drained (anycastd drain); check `svc`, `db` are not healthy");
        let (ok, why) = can_serve(&Fitness { failing: vec!["svc".into()], drained: false }, one, false);
        assert_eq!((ok, why.as_str()), (false, "check `svc` is not healthy"));
    }

    #[tokio::test]
    async fn writes_the_weight_at_start_then_only_changes_and_the_weight_at_stop() {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let l2 = log.clone();
        let p = Persister::with_writer(Arc::new(move |_: &std::path::Path, b: Option<&[u8]>| {
            l2.lock().unwrap().push(String::from_utf8_lossy(b.unwrap_or_default()).into_owned());
            Ok(())
        }));
        let cfg = TrackFile { path: PathBuf::from("/nonexistent/track"), weight: -254 };
        let (mut w, first) = TrackWriter::start(cfg, p);
        let wait = Duration::from_secs(5);
        first.unwrap().wait(wait).await.unwrap();
        assert_eq!(w.status().value, -254);
        w.set(true, "fine".into()).unwrap().wait(wait).await.unwrap();
        assert!(w.set(true, "still fine".into()).is_none(), "same value: not rewritten");
        assert_eq!(w.status().why, "still fine");
        w.set(false, "check `svc` is not healthy".into()).unwrap().wait(wait).await.unwrap();
        w.set(true, "fine".into()).unwrap().wait(wait).await.unwrap();
        w.stop().unwrap().wait(wait).await.unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["-254\n", "0\n", "-254\n", "0\n", "-254\n"]);
        assert_eq!(
            w.status(),
            TrackStatus {
                path: "/nonexistent/track".into(),
                value: -254,
                why: "anycastd is stopping".into(),
                error: None
            }
        );
    }

    #[tokio::test]
    async fn a_failed_write_is_shown_and_retried_at_the_next_evaluation() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let f2 = fail.clone();
        let p = Persister::with_writer(Arc::new(move |_: &std::path::Path, _: Option<&[u8]>| {
            if f2.load(std::sync::atomic::Ordering::SeqCst) {
                Err("cannot write /nonexistent/track: read-only".to_string())
            } else {
                Ok(())
            }
        }));
        let cfg = TrackFile { path: PathBuf::from("/nonexistent/track"), weight: -100 };
        let (mut w, first) = TrackWriter::start(cfg, p);
        let wait = Duration::from_secs(5);
        assert!(first.unwrap().wait(wait).await.is_err());
        let t = w.set(true, "ok".into()).unwrap();
        assert!(t.wait(wait).await.is_err());
        assert_eq!(w.status().error.as_deref(), Some("cannot write /nonexistent/track: read-only"));
        fail.store(false, std::sync::atomic::Ordering::SeqCst);
        w.set(true, "ok".into()).expect("retried after a failure").wait(wait).await.unwrap();
        assert_eq!(w.status().error, None);
        assert_eq!(w.status().value, 0);
    }
}
