//! A keyed peer cannot flood the log at its own message rate (review M7): 1,000 UPDATEs with an
//! RFC 7606 treat-as-withdraw error and 1,000 ROUTE-REFRESH messages for a family that was not
//! negotiated, from a scripted raw peer on loopback toward a real [`Speaker`], are all handled
//! and counted, but print at most one line per kind.
//!
//! ```text
//!   anycastd Speaker 127.78.0.1 (AS 65124, active)  ──connects to──▶  raw peer 127.78.0.2:<os port>
//! ```

use common::bgp_bytes::{msg, update_attrs, AS_PATH, NEXT_HOP};
use common::log_capture::Capture;
use common::one_peer::established;
use common::raw_peer::STEP;
use common::speaker_status::wait_status;
use std::net::Ipv4Addr;
use std::time::Duration;

#[allow(dead_code)]
mod common;

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 78, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(127, 78, 0, 2);
const N: u64 = 1000;

#[tokio::test(flavor = "current_thread")]
async fn a_peer_repeating_errors_logs_one_line_per_kind() {
    let log = Capture::default();
    let _guard = log.install();
    let (sp, mut p) = established(LOCAL, PEER).await;
    let before = wait_status(&sp, PEER, STEP, "Established", |s| s.established_count == 1).await.unwrap();

    // ORIGIN value 7: treat-as-withdraw (RFC 7606 §7.1). ROUTE-REFRESH for AFI 25 (L2VPN),
    // SAFI 65 (VPLS): never negotiated, ignored with a warning.
    let bad_update = update_attrs(&[&[0x40, 1, 1, 7], AS_PATH, NEXT_HOP]);
    let refresh = msg(5, &[0, 25, 0, 65]);
    let burst: Vec<u8> = (0..N).flat_map(|_| [bad_update.clone(), refresh.clone()].concat()).collect();
    p.send(&burst).await.unwrap();
    let want_in = before.msgs_in + 2 * N;
    let s = wait_status(&sp, PEER, Duration::from_secs(20), "every message handled", |s| s.msgs_in == want_in)
        .await
        .unwrap();
    assert_eq!(s.update_errors, before.update_errors + N, "{s:?}");
    assert_eq!(s.established_count, 1, "the session was kept: {s:?}");

    let (updates, refreshes) = (log.count("malformed UPDATE"), log.count("which was not negotiated"));
    assert_eq!((updates, refreshes), (1, 1), "one line per kind, got:\n{}", log.text());
    sp.shutdown("test over", Duration::from_secs(1)).await;
}
