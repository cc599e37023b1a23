//! Watcher tests: the event arrives at once, without any poll.

use super::file;
use super::test_util::{drain, print_latency, within};
use std::time::{Duration, Instant};

#[tokio::test]
async fn file_removal_wakes_within_100_ms() {
    let d = crate::test_env::fresh_dir("event", "file");
    let path = d.join("healthy");
    std::fs::write(&path, b"").unwrap();
    let mut w = file::watch(&path, false).expect("a file watcher");
    // The initial wake (watch in place).
    within(&mut w, 2000, "initial").await;
    // Unrelated names do not wake.
    std::fs::write(d.join("other"), b"x").unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(100), w.next()).await.is_err(), "woke for another file");
    let mut lat = Vec::new();
    for i in 0..50 {
        if i > 0 {
            std::fs::write(&path, b"").unwrap();
            within(&mut w, 500, "create").await;
            // drain the close-write / attrib wakes of the create
            drain(&mut w).await;
        }
        let t = Instant::now();
        std::fs::remove_file(&path).unwrap();
        let wake = within(&mut w, 100, "removal").await;
        lat.push(t.elapsed());
        // The removal says it all: a failure, no second look needed.
        let o = wake.outcome.expect("the removal carries its outcome");
        assert!(!o.ok && o.detail.ends_with("healthy is missing"), "{o:?}");
    }
    print_latency("file removal -> wake", &mut lat);
}

#[tokio::test]
async fn an_inverted_file_check_is_healthy_once_removed() {
    let d = crate::test_env::fresh_dir("event", "file-invert");
    let path = d.join("maintenance");
    std::fs::write(&path, b"").unwrap();
    let mut w = file::watch(&path, true).expect("a file watcher");
    within(&mut w, 2000, "initial").await;
    std::fs::rename(&path, d.join("maintenance.old")).unwrap();
    let o = within(&mut w, 500, "rename").await.outcome.expect("outcome");
    assert!(o.ok && o.detail.ends_with("maintenance is absent"), "{o:?}");
}
