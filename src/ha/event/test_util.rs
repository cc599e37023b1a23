//! What the watcher tests share: waiting for a wake, bounded.

use super::{Wake, Watch};
use std::time::Duration;
use tokio::time::timeout;

/// The next wake within `ms` milliseconds (a panic naming `what` otherwise).
pub(super) async fn within(w: &mut Watch, ms: u64, what: &str) -> Wake {
    timeout(Duration::from_millis(ms), w.next()).await.unwrap_or_else(|_| panic!("no wake within {ms} ms: {what}"))
}

/// Reads the wakes of the last 20 ms.
pub(super) async fn drain(w: &mut Watch) {
    while timeout(Duration::from_millis(20), w.next()).await.is_ok() {}
}

/// Prints the p50 and p99 of `lat` (sorted here), as "`what` latency: p50 …, p99 …".
pub(super) fn print_latency(what: &str, lat: &mut [Duration]) {
    lat.sort();
    eprintln!("{what} latency: p50 {:?}, p99 {:?}", lat[lat.len() / 2], lat[lat.len() * 99 / 100]);
}

/// The detail of a failed outcome the wake carries.
pub(super) fn failed(w: &Wake) -> Option<&str> {
    w.outcome.as_ref().filter(|o| !o.ok).map(|o| o.detail.as_str())
}

/// The detail of the first failed outcome within `ms` milliseconds, wakes without an outcome
/// (other events about the same thing) passed over.
pub(super) async fn failure_within(w: &mut Watch, ms: u64, what: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        let wake = tokio::time::timeout_at(deadline, w.next())
            .await
            .unwrap_or_else(|_| panic!("no failure within {ms} ms: {what}"));
        if let Some(o) = wake.outcome {
            assert!(!o.ok, "{what}: a healthy outcome {o:?}");
            return o.detail;
        }
    }
}
