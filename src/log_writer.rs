//! The daemon's log sink: each formatted log line goes into a bounded queue drained by one
//! writer thread, so a slow or blocked stderr (journald applying back-pressure, a full pipe)
//! never stalls the runtime thread that runs every BGP session, timer and health check
//! (review M7). When the queue is full the line is dropped and counted, never waited for; the
//! writer says "N log lines dropped" as soon as it catches up. `tracing`'s fmt layer writes
//! each event with one `write`, so a queued item is one whole line.
//!
//! Under systemd (stderr is the journal stream named by `JOURNAL_STREAM`), each line starts
//! with its sd-daemon priority (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug and trace:
//! `man sd-daemon`), which journald strips and stores as the entry's PRIORITY, so
//! `journalctl -p warning -u anycastd` shows the warnings and errors alone.

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
pub fn spawn<W: Write + Send + 'static>(out: W, capacity: usize) -> std::io::Result<(LogSink, Flush)> {
    spawn_for(out, capacity, false)
}

/// [`spawn`], its own "lines dropped" line a warning for journald (`<4>`) when `journal`.
pub fn spawn_for<W: Write + Send + 'static>(
    mut out: W,
    capacity: usize,
    journal: bool,
) -> std::io::Result<(LogSink, Flush)> {
    let warn = if journal { "<4>" } else { "" };
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
                        let _ = writeln!(out, "{warn}anycastd: {lost} log lines dropped (log output too slow)");
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

/// True when stderr is the journal stream systemd named in `JOURNAL_STREAM` (`DEV:INODE`):
/// set and equal to stderr's device and inode, as `man systemd.exec` asks (a child whose
/// stderr was redirected inherits the variable but not the stream).
pub fn under_journald() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(var) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata().ok())
        .map(|m| (m.dev(), m.ino()));
    journal_stream_is(var.to_str(), stderr)
}

/// `JOURNAL_STREAM`'s value names the stream `stderr` (device, inode).
pub fn journal_stream_is(var: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = var.and_then(|v| v.trim().split_once(':')) else {
        return false;
    };
    match (dev.parse::<u64>(), ino.parse::<u64>(), stderr) {
        (Ok(d), Ok(i), Some(s)) => (d, i) == s,
        _ => false,
    }
}

/// The sd-daemon priority of a level: `<3>` (SD_ERR) to `<7>` (SD_DEBUG).
pub fn priority(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

/// An event format that starts each line with its [`priority`] when `journal`, then formats
/// it as `inner` does (text or JSON).
pub struct Priority<E> {
    pub inner: E,
    pub journal: bool,
}

impl<S, N, E> tracing_subscriber::fmt::FormatEvent<S, N> for Priority<E>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    E: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut w: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        if self.journal {
            write!(w, "<{}>", priority(event.metadata().level()))?;
        }
        self.inner.format_event(ctx, w, event)
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

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    fn logged(journal: bool, json: bool) -> String {
        let out = Buf::default();
        let b = tracing_subscriber::fmt().with_ansi(false).with_max_level(tracing::Level::TRACE);
        let emit = || {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!("i");
            tracing::debug!("d");
            tracing::trace!("t");
        };
        if json {
            let sub = b.json().map_event_format(|inner| Priority { inner, journal }).with_writer(out.clone()).finish();
            tracing::subscriber::with_default(sub, emit);
        } else {
            let sub = b.map_event_format(|inner| Priority { inner, journal }).with_writer(out.clone()).finish();
            tracing::subscriber::with_default(sub, emit);
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text
    }

    #[test]
    fn journald_lines_carry_their_priority_and_others_none() {
        for json in [false, true] {
            let text = logged(true, json);
            let prios: Vec<&str> = text.lines().map(|l| l.get(..3).unwrap_or("")).collect();
            assert_eq!(prios, ["<3>", "<4>", "<6>", "<7>", "<7>"], "{text}");
            if json {
                for l in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(&l[3..]).unwrap();
                    assert!(v.get("level").is_some(), "{l}");
                }
            }
            let plain = logged(false, json);
            assert_eq!(plain.lines().count(), 5);
            assert!(plain.lines().all(|l| !l.starts_with('<')), "{plain}");
        }
    }

    #[test]
    fn journal_stream_must_name_stderr() {
        assert!(journal_stream_is(Some("8:12345"), Some((8, 12345))));
        assert!(!journal_stream_is(Some("8:12346"), Some((8, 12345))), "another stream");
        assert!(!journal_stream_is(None, Some((8, 12345))));
        assert!(!journal_stream_is(Some("8:12345"), None), "stderr closed");
        for bad in ["", "8", ":", "8:", "x:1", "8:12345:9"] {
            assert!(!journal_stream_is(Some(bad), Some((8, 12345))), "{bad:?}");
        }
    }

    #[test]
    fn the_dropped_lines_report_is_a_warning_for_journald() {
        let (gate_tx, gate) = mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let (mut sink, flush) = spawn_for(Stuck { gate, out: out.clone() }, 1, true).unwrap();
        for i in 0..10 {
            sink.write_all(format!("<6>line {i}\n").as_bytes()).unwrap();
        }
        for _ in 0..20 {
            let _ = gate_tx.send(());
        }
        drop(flush);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("<4>anycastd: ") && l.ends_with("log lines dropped (log output too slow)")),
            "{text}"
        );
    }

    #[test]
    fn lines_come_out_whole_and_in_order() {
        let out = Buf::default();
        let (sink, flush) = spawn(out.clone(), CAPACITY).unwrap();
        let sub = tracing_subscriber::fmt().with_ansi(false).with_writer(sink).finish();
        tracing::subscriber::with_default(sub, || {
            for i in 0..50 {
                tracing::info!(n = i, "event");
            }
        });
        drop(flush);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let ns: Vec<String> = text.lines().map(|l| l.rsplit("n=").next().unwrap_or("").to_string()).collect();
        assert_eq!(ns, (0..50).map(|i| i.to_string()).collect::<Vec<_>>(), "{text}");
    }
}
