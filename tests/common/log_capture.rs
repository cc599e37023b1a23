//! Captured tracing output for tests: a writer into a shared buffer that wakes the test at
//! every event, installed as the thread's default subscriber (a current-thread runtime runs
//! the speaker's tasks on that thread, under it).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Clone, Default)]
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    wrote: Arc<Notify>,
}

impl Capture {
    /// Makes this capture the thread's subscriber (INFO and up, no colours) until the guard drops.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let w = self.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(sub)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// The captured lines containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits (at most `limit`) until the log holds `needle`; panics with the log otherwise.
    pub async fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let t = self.text();
            if t.contains(needle) {
                return t;
            }
            if tokio::time::timeout_at(end, self.wrote.notified()).await.is_err() {
                panic!("no log line with {needle:?} within {limit:?}:\n{t}");
            }
        }
    }
}

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(b);
        // notify_one keeps a permit when nobody waits yet: no wake-up is lost.
        self.wrote.notify_one();
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
