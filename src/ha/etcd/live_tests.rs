//! The etcd role source end to end: HA controllers on a real etcd (3.4, started by the test)
//! through the real client. One leads and advertises, the other names it; a drain hands over
//! at once; with etcd gone the leader withdraws on its own within the fence; etcd
//! unreachable from the start is never advertised, and says why; a follower follows the key.

use super::client_tests::{url, Etcd};
use crate::config::{EtcdConn, EtcdMode, EtcdRole, HttpUrl, RoleSource};
use crate::ha::controller_tests::cfg;
use crate::ha::decision::AdvertState;
use crate::ha::HaController;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(2);
const MARGIN: Duration = Duration::from_millis(400);

fn role(endpoints: Vec<HttpUrl>, candidate: &str) -> RoleSource {
    let conn =
        EtcdConn { endpoints, ca: None, cert: None, key: None, username: None, password_file: None, timeout: TTL / 3 };
    let mode = EtcdMode::Election { election: "/anycastd/live".into(), candidate: candidate.into() };
    RoleSource::Etcd(EtcdRole { conn, mode, lease_ttl: TTL, margin: MARGIN, campaign_delay: Duration::ZERO })
}

/// Waits (at most `limit`) until `f` holds; the time it took.
async fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t0.elapsed()
}

fn advertising(c: &HaController) -> bool {
    c.current().state == AdvertState::Advertising
}

#[tokio::test]
async fn controllers_on_a_real_etcd_lead_hand_over_and_fence() {
    let Some(etcd) = Etcd::start("controllers_on_a_real_etcd", "live", false, &[]) else { return };
    let dir = crate::test_env::fresh_dir("etcd-live", "ctl");
    let (da, db) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&da).unwrap();
    std::fs::create_dir_all(&db).unwrap();
    let a = HaController::start(cfg(&da, role(vec![etcd.url(false)], "nodea"), vec![]), None);
    // etcd listens before it serves: allow its start-up.
    until(Duration::from_secs(10), "a leads", || advertising(&a)).await;
    let b = HaController::start(cfg(&db, role(vec![etcd.url(false)], "nodeb"), vec![]), None);
    until(Duration::from_secs(3), "b names the leader", || {
        b.status().etcd.and_then(|e| e.leader).as_deref() == Some("nodea")
    })
    .await;
    assert!(!advertising(&b));
    let sa = a.status().etcd.expect("etcd status");
    assert_eq!(sa.candidacy, "leader");
    assert!(sa.fencing_token.is_some() && sa.fence_in_ms.is_some(), "{sa:?}");
    assert!(b.status().etcd.unwrap().candidacy == "campaigning");

    // Drained: a resigns, b takes over without waiting for a's lease.
    a.drain(0).await;
    // Waiting for a's lease would take the TTL at least; half of it proves b did not, and
    // leaves room for a loaded machine (826 ms seen in CI beside the release build).
    let took = until(TTL, "b takes over after a's drain", || advertising(&b)).await;
    assert!(!advertising(&a));
    assert!(took < TTL / 2, "hand-over took {took:?}");
    a.undrain().await;
    until(Duration::from_secs(2), "a campaigns again", || a.status().etcd.unwrap().candidacy == "campaigning").await;

    // etcd dies: b withdraws on its own once the fence closes, with no etcd to tell it.
    let gone = Instant::now();
    drop(etcd);
    let fenced = until(TTL + Duration::from_secs(1), "b withdraws on its own", || !advertising(&b)).await;
    assert!(fenced <= TTL - MARGIN + Duration::from_millis(100), "fenced after {fenced:?}");
    assert!(gone.elapsed() >= Duration::ZERO);
    let reason = b.current().reason;
    assert!(reason.contains("not confirmed"), "{reason}");
    assert!(!advertising(&a));
}

#[tokio::test]
async fn a_follower_on_a_real_etcd_follows_the_key_through_its_watch() {
    let Some(etcd) = Etcd::start("a_follower_on_a_real_etcd", "follow", false, &[]) else { return };
    let dir = crate::test_env::fresh_dir("etcd-live", "follow");
    let writer = super::client::Client::new(&super::client_tests::conn(vec![etcd.url(false)]));
    let key = b"/service/pg/leader";
    let t0 = Instant::now();
    while writer.put(key, b"nodea", 0).await.is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "etcd not ready: {}", etcd.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut r = role(vec![etcd.url(false)], "unused");
    if let RoleSource::Etcd(e) = &mut r {
        e.mode = EtcdMode::Follow { key: "/service/pg/leader".into(), value: "nodea".into() };
    }
    let c = HaController::start(cfg(&dir, r, vec![]), None);
    until(Duration::from_secs(3), "primary while the key names this node", || advertising(&c)).await;
    assert!(c.status().etcd.unwrap().fencing_token.is_some());
    writer.put(key, b"nodeb", 0).await.expect("put");
    let took = until(Duration::from_secs(1), "standby once it names another", || !advertising(&c)).await;
    assert!(took < Duration::from_millis(300), "the watch, not the {} ms poll: {took:?}", TTL.as_millis() / 3);
    assert_eq!(c.status().etcd.unwrap().leader.as_deref(), Some("nodeb"));
    writer.put(key, b"nodea", 0).await.expect("put");
    until(Duration::from_secs(1), "primary again", || advertising(&c)).await;
}

#[tokio::test]
async fn etcd_unreachable_at_start_advertises_nothing_and_says_why() {
    let dir = crate::test_env::fresh_dir("etcd-live", "down");
    // A port nothing listens on.
    let port = super::client_tests::free_port();
    let c = HaController::start(cfg(&dir, role(vec![url(port, false)], "nodea"), vec![]), None);
    until(Duration::from_secs(2), "the reason names etcd", || c.current().reason.contains("etcd unreachable")).await;
    tokio::time::sleep(TTL).await;
    assert!(!advertising(&c), "{}", c.current().reason);
    let e = c.status().etcd.expect("etcd status");
    assert!(e.candidacy.starts_with("etcd unreachable"), "{e:?}");
    assert!(e.error.is_some());
}
