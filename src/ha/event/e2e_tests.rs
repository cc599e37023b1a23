//! `process` and `address` checks through the controller: with a 10 s poll, only the
//! watcher's event can explain a withdrawal within 100 ms.

use crate::config::{HealthCheck, Probe, ProcessTarget, RoleSource};
use crate::ha::controller_tests::cfg;
use crate::ha::{AdvertState, Decision, HaController};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::timeout;

fn slow_check(probe: Probe) -> HealthCheck {
    HealthCheck {
        name: "svc".into(),
        probe,
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(1),
        rise: 1,
        fall: 1,
    }
}

async fn reach(rx: &mut watch::Receiver<Decision>, state: AdvertState, within: Duration) -> Decision {
    let found = timeout(within, rx.wait_for(|d| d.state == state)).await;
    found.unwrap_or_else(|_| panic!("{state:?} not reached within {within:?}")).expect("controller alive").clone()
}

#[tokio::test]
async fn a_killed_process_withdraws_at_once() {
    let dir = crate::test_env::fresh_dir("event", "e2e-process");
    let pf = dir.join("svc.pid");
    let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(&pf, format!("{}\n", child.id())).unwrap();
    let probe = Probe::Process { target: ProcessTarget::Pidfile(pf.clone()) };
    let ha = HaController::start(cfg(&dir, RoleSource::Static, vec![slow_check(probe)]), None);
    let mut rx = ha.subscribe();
    reach(&mut rx, AdvertState::Advertising, Duration::from_secs(2)).await;
    let t = Instant::now();
    child.kill().unwrap();
    let d = reach(&mut rx, AdvertState::Withdrawn, Duration::from_millis(100)).await;
    eprintln!("process killed -> withdrawn in {:?}", t.elapsed());
    // The watcher's outcome ("pid N (sleep) exited"), or the probe's ("pid N from … is gone")
    // when a wake without one was queued before it.
    assert!(d.reason.contains(&format!("check `svc` failed 1/1: pid {} ", child.id())), "{}", d.reason);
    child.wait().unwrap();
    ha.stop();
}

#[test]
fn a_deleted_address_withdraws_at_once() {
    let _ = crate::ha::loopback::tests::in_throwaway_netns(|| async {
        let dir = crate::test_env::fresh_dir("event", "e2e-address");
        let lo = crate::ha::loopback::Loopback::open("lo").await.unwrap();
        // A new namespace's lo is down.
        let (conn, handle, _) = rtnetlink::new_connection().unwrap();
        let _conn = tokio::spawn(conn);
        handle.link().set(rtnetlink::LinkUnspec::new_with_index(lo.index()).up().build()).execute().await.unwrap();
        let p: ipnet::IpNet = "203.0.113.77/32".parse().unwrap();
        lo.add(&[p]).await.unwrap();
        let probe = Probe::Address { address: p.addr(), interface: "lo".into() };
        let ha = HaController::start(cfg(&dir, RoleSource::Static, vec![slow_check(probe)]), None);
        let mut rx = ha.subscribe();
        reach(&mut rx, AdvertState::Advertising, Duration::from_secs(2)).await;
        let t = Instant::now();
        lo.remove(&[p]).await.unwrap();
        let d = reach(&mut rx, AdvertState::Withdrawn, Duration::from_millis(100)).await;
        eprintln!("address deleted -> withdrawn in {:?}", t.elapsed());
        // The watcher's outcome, or the probe's when a wake without one (lo's own addresses
        // appear after it is up) was queued before it.
        let why = ["203.0.113.77 was removed from lo", "203.0.113.77 is not on lo"];
        assert!(why.iter().any(|w| d.reason.ends_with(&format!("check `svc` failed 1/1: {w}"))), "{}", d.reason);
        ha.stop();
    });
}
