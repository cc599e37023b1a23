//! The daemon's log sink: each formatted log line goes into a bounded queue drained by one
//! writer thread, so a slow or blocked stderr (journald applying back-pressure, a full pipe)
//! never stalls the runtime thread that runs every BGP session, timer and health check
//! (review M7). When the queue is full the line is dropped and counted, never waited for; the
//! writer says "N log lines dropped" as soon as it catches up. `tracing`'s fmt layer writes
//! each event with one `write`, so a queued item is one whole line.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Lines queued before new ones are dropped.
pub const CAPACITY: usize = 4096;
/// How long [`Flush`] waits at exit for the queue to drain.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);

enum Msg {
    Line(Vec<u8>),
    /// Answered once everything queued before it is written.
    Flush(mpsc::Sender<()>),
}

/// The sending side, for `tracing_subscriber::fmt().with_writer(sink)`.
#[derive(Clone)]
pub struct LogSink {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

/// Drains the queue when dropped (at most [`FLUSH_LIMIT`]), so the last lines before exit are
/// written; keep it alive as long as the program logs.
pub struct Flush {
    tx: SyncSender<Msg>,
}

/// Starts the writer thread over `out` with room for `capacity` lines.
pub fn spawn<W: Write + Send + 'static>(mut out: W, capacity: usize) -> std::io::Result<(LogSink, Flush)> {
    let (tx, rx) = mpsc::sync_channel::<Msg>(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    std::thread::Builder::new().name("anycastd-log".into()).spawn(move || {
        for msg in rx {
            match msg {
                Msg::Line(line) => {
                    let _ = out.write_all(&line);
                    let lost = counter.swap(0, Ordering::Relaxed);
                    if lost > 0 {
                        let _ = writeln!(out, "anycastd: {lost} log lines dropped (log output too slow)");
                    }
                }
                Msg::Flush(ack) => {
                    let _ = out.flush();
                    let _ = ack.send(());
                }
            }
        }
    })?;
    Ok((LogSink { tx: tx.clone(), dropped }, Flush { tx }))
}

impl LogSink {
    /// Lines dropped since the writer last reported them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Write for LogSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self.tx.try_send(Msg::Line(b.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The writer is gone (exiting): nothing left to write to.
            Err(TrySendError::Disconnected(_)) => {}
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LogSink;
    fn make_writer(&'a self) -> LogSink {
        self.clone()
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        // The subscriber keeps its sender in a global, so the writer never sees the channel
        // close: ask it to answer once what is queued now is written, and wait, bounded (a
        // stuck output must not hold the exit).
        let end = std::time::Instant::now() + FLUSH_LIMIT;
        let (ack, done) = mpsc::channel();
        let mut msg = Msg::Flush(ack);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if std::time::Instant::now() < end => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return,
            }
        }
        let _ = done.recv_timeout(end.saturating_duration_since(std::time::Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Receiver;
    use std::sync::Mutex;

    /// An output that blocks every write until the test lets it go.
    struct Stuck {
        gate: Receiver<()>,
        out: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stuck {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let _ = self.gate.recv();
            self.out.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_output_never_blocks_the_logger_and_drops_are_reported() {
        let (gate_tx, gate) = mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let (mut sink, flush) = spawn(Stuck { gate, out: out.clone() }, 4).unwrap();
        // The writer thread takes one line and blocks in it; 4 more fill the queue; the rest
        // are dropped. None of these writes waits (a blocking one would hang the test here).
        for i in 0..100 {
            sink.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        let dropped = sink.dropped();
        assert!((95..=96).contains(&dropped), "dropped {dropped}");
        for _ in 0..200 {
            let _ = gate_tx.send(());
        }
        drop(flush);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("line 0\n"), "{text}");
        assert!(text.contains(&format!("anycastd: {dropped} log lines dropped")), "{text}");
    }

    #[test]
    fn lines_come_out_whole_and_in_order() {
        let out = Arc::new(Mutex::new(Vec::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (sink, flush) = spawn(Shared(out.clone()), CAPACITY).unwrap();
        let sub = tracing_subscriber::fmt().with_ansi(false).with_writer(sink).finish();
        tracing::subscriber::with_default(sub, || {
            for i in 0..50 {
                tracing::info!(n = i, "event");
            }
        });
        drop(flush);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let ns: Vec<String> = text.lines().map(|l| l.rsplit("n=").next().unwrap_or("").to_string()).collect();
        assert_eq!(ns, (0..50).map(|i| i.to_string()).collect::<Vec<_>>(), "{text}");
    }
}
