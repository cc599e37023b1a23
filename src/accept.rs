//! Accept-loop hygiene: a growing, capped back-off after an accept error (EMFILE/ENFILE leave
//! the listener readable, so retrying at once is a busy spin) with at most one log line per
//! period, used by every accept loop (BGP listeners, control socket, metrics); and a cap on the
//! connections a local endpoint serves at once (over it a connection is closed at once and
//! counted).
//!
//! Tokio edge, no protocol logic; the back-off arithmetic itself is plain and tested with a
//! paused clock.

use crate::log_limit::{LogLimiter, Verdict};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::warn;

/// First pause after an accept error.
pub const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The pause doubles up to this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one accept-error line per this period (with the count of those not logged).
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// At most one line per [`LOG_EVERY`], with the count of those left out.
fn one_line_per_period() -> LogLimiter<()> {
    LogLimiter::new(LOG_EVERY, 1, 1)
}

/// The back-off state of one accept loop.
#[derive(Debug)]
pub struct Backoff {
    what: &'static str,
    next: Duration,
    log: LogLimiter<()>,
}

impl Backoff {
    pub fn new(what: &'static str) -> Self {
        Backoff { what, next: BACKOFF_MIN, log: one_line_per_period() }
    }

    /// An accept succeeded: the next error starts from the shortest pause again.
    pub fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    /// The pause after this error (doubling, capped) and whether to log it now.
    fn on_error(&mut self, now: Instant) -> (Duration, Option<u64>) {
        let pause = self.next;
        self.next = self.next.saturating_mul(2).min(BACKOFF_MAX);
        let log = match self.log.check(&(), now.into_std()) {
            Verdict::Log { suppressed, .. } => Some(suppressed),
            Verdict::Suppress => None,
        };
        (pause, log)
    }

    /// Logs (rate-limited) and sleeps after an accept error.
    pub async fn pause(&mut self, err: &std::io::Error) {
        let (pause, log) = self.on_error(Instant::now());
        if let Some(suppressed) = log {
            warn!(
                endpoint = self.what,
                suppressed,
                "accept failed: {err}; retrying in {} ms (errors not logged since the last line: {suppressed})",
                pause.as_millis()
            );
        }
        tokio::time::sleep(pause).await;
    }
}

/// A cap on the connections an endpoint serves at once.
#[derive(Clone, Debug)]
pub struct Cap {
    what: &'static str,
    sem: Arc<Semaphore>,
    refused: Arc<AtomicU64>,
    log: Arc<std::sync::Mutex<LogLimiter<()>>>,
}

impl Cap {
    /// `refused` counts the connections closed because the cap was reached.
    pub fn new(what: &'static str, max: usize, refused: Arc<AtomicU64>) -> Self {
        Cap {
            what,
            sem: Arc::new(Semaphore::new(max)),
            refused,
            log: Arc::new(std::sync::Mutex::new(one_line_per_period())),
        }
    }

    /// A permit to serve one more connection, or `None` (counted, logged at most once per
    /// [`LOG_EVERY`]) when `max` are being served: the caller closes the connection.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        match self.sem.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                let n = self.refused.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                let verdict = self.log.lock().unwrap_or_else(|p| p.into_inner()).check(&(), Instant::now().into_std());
                if let Verdict::Log { .. } = verdict {
                    warn!(endpoint = self.what, refused_total = n, "too many connections: closing new ones at once");
                }
                None
            }
        }
    }
}

/// An accept loop's gate: accept errors backed off, connections over the cap closed.
#[derive(Debug)]
pub struct Gate {
    backoff: Backoff,
    cap: Cap,
}

impl Gate {
    pub fn new(what: &'static str, max: usize, refused: Arc<AtomicU64>) -> Self {
        Gate { backoff: Backoff::new(what), cap: Cap::new(what, max, refused) }
    }

    /// The next connection that may be served, with the permit to hold while serving it.
    pub async fn next<S, Fut>(&mut self, mut accept: impl FnMut() -> Fut) -> (S, OwnedSemaphorePermit)
    where
        Fut: std::future::Future<Output = std::io::Result<S>>,
    {
        loop {
            match accept().await {
                Ok(s) => {
                    self.backoff.reset();
                    if let Some(p) = self.cap.admit() {
                        return (s, p);
                    }
                    // Over the cap: `s` is dropped here, which closes it at once.
                }
                Err(e) => self.backoff.pause(&e).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_logs_once_per_period() {
        let mut b = Backoff::new("test");
        let t = Instant::now();
        let mut pauses = Vec::new();
        let mut logged = Vec::new();
        for i in 0..12u64 {
            let (p, log) = b.on_error(t + Duration::from_millis(i * 100));
            pauses.push(p.as_millis());
            logged.push(log);
        }
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000, 1000]);
        assert_eq!(logged[0], Some(0));
        assert!(logged[1..].iter().all(Option::is_none), "{logged:?}");
        // After the period: one line, with the count of the lines left out.
        assert_eq!(b.on_error(t + LOG_EVERY).1, Some(11));
        b.reset();
        assert_eq!(b.on_error(t + LOG_EVERY).0, BACKOFF_MIN);
    }

    #[tokio::test]
    async fn cap_refuses_over_max_counts_and_frees_on_drop() {
        let refused = Arc::new(AtomicU64::new(0));
        let cap = Cap::new("test", 2, refused.clone());
        let a = cap.admit().expect("first");
        let _b = cap.admit().expect("second");
        assert!(cap.admit().is_none());
        assert!(cap.admit().is_none());
        assert_eq!(refused.load(Ordering::Relaxed), 2);
        drop(a);
        assert!(cap.admit().is_some());
    }
}
