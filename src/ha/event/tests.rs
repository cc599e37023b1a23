//! Watcher tests: the event arrives at once, without any poll.

use super::file;
use std::time::{Duration, Instant};

#[tokio::test]
async fn file_removal_wakes_within_100_ms() {
    let d = crate::test_env::fresh_dir("event", "file");
    let path = d.join("healthy");
    std::fs::write(&path, b"").unwrap();
    let mut w = file::watch(&path, false).expect("a file watcher");
    // The initial wake (watch in place).
    tokio::time::timeout(Duration::from_secs(2), w.next()).await.expect("initial wake");
    // Unrelated names do not wake.
    std::fs::write(d.join("other"), b"x").unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(100), w.next()).await.is_err(), "woke for another file");
    let mut lat = Vec::new();
    for i in 0..50 {
        if i > 0 {
            std::fs::write(&path, b"").unwrap();
            let _ = tokio::time::timeout(Duration::from_millis(500), w.next()).await.expect("wake on create");
            // drain the close-write / attrib wakes of the create
            while tokio::time::timeout(Duration::from_millis(20), w.next()).await.is_ok() {}
        }
        let t = Instant::now();
        std::fs::remove_file(&path).unwrap();
        let wake =
            tokio::time::timeout(Duration::from_millis(100), w.next()).await.expect("wake on removal within 100 ms");
        lat.push(t.elapsed());
        // The removal says it all: a failure, no second look needed.
        let o = wake.outcome.expect("the removal carries its outcome");
        assert!(!o.ok && o.detail.ends_with("healthy is missing"), "{o:?}");
    }
    lat.sort();
    eprintln!("file removal -> wake latency: p50 {:?}, p99 {:?}", lat[lat.len() / 2], lat[lat.len() * 99 / 100]);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn an_inverted_file_check_is_healthy_once_removed() {
    let d = crate::test_env::fresh_dir("event", "file-invert");
    let path = d.join("maintenance");
    std::fs::write(&path, b"").unwrap();
    let mut w = file::watch(&path, true).expect("a file watcher");
    tokio::time::timeout(Duration::from_secs(2), w.next()).await.expect("initial wake");
    std::fs::rename(&path, d.join("maintenance.old")).unwrap();
    let o = tokio::time::timeout(Duration::from_millis(500), w.next()).await.expect("wake").outcome.expect("outcome");
    assert!(o.ok && o.detail.ends_with("maintenance is absent"), "{o:?}");
    let _ = std::fs::remove_dir_all(&d);
}
