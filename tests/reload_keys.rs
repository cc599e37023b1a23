//! MD5 key changes on reload, in process over loopback (issue 16 item 2): speaker A with two
//! neighbors, B1 and B2 (passive speakers on 127.0.0.2 and 127.0.0.3). Adding, changing and
//! removing B1's key resets only B1's session, each time with Cease / Other Configuration
//! Change (RFC 4486 subcode 6) as B1 receives it, and the session comes back with the new key
//! (or none); B2 keeps its one session throughout. Removing B2 sends it Peer De-configured (3).

#[allow(dead_code)]
mod common;

use anycastd::config::Config;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use anycastd::status::{NeighborState, NeighborStatus};
use common::speaker_status::eventually as wait_for;
use std::path::Path;
use std::time::Duration;

const PORT: u16 = 17951;

fn neighbor(remote: &str, asn: u32, key: Option<&str>, passive: bool) -> String {
    let key = key.map(|k| format!("md5 = \"{k}\"\n")).unwrap_or_default();
    let passive = if passive { "passive = true\n" } else { "" };
    format!("[[bgp.neighbor]]\nremote_ip = \"{remote}\"\nremote_as = {asn}\nport = {PORT}\n{key}{passive}")
}

fn config(local: &str, asn: u32, neighbors: &[String]) -> Config {
    let text = format!(
        "[bgp]\nlocal_as = {asn}\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = 9\nconnect_retry = 1\n\
         port = {PORT}\n{}[anycast]\nprefixes = [\"203.0.113.124/32\"]\n",
        neighbors.concat()
    );
    Config::from_str(&text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Speaker A's config: B1 with `key`, and B2 unless `without_b2`.
fn a_config(key: Option<&str>, without_b2: bool) -> Config {
    let mut ns = vec![neighbor("127.0.0.2", 65000, key, false)];
    if !without_b2 {
        ns.push(neighbor("127.0.0.3", 65000, None, false));
    }
    config("127.0.0.1", 65124, &ns)
}

/// A passive peer of A at `local`, with `key`.
fn b_config(local: &str, key: Option<&str>) -> Config {
    config(local, 65000, &[neighbor("127.0.0.1", 65124, key, true)])
}

fn one(s: &Speaker) -> NeighborStatus {
    s.status().into_iter().next().expect("one neighbor")
}

/// A reloads B1's key to `key` (B1 leaves Established on the Cease it receives), then B1
/// reloads to the same key and is Established again (a restarted neighbor counts anew).
async fn change_key(a: &Speaker, b1: &Speaker, key: Option<&str>) {
    let r = a.reload(&a_config(key, false)).await.unwrap();
    assert_eq!((r.restarted.len(), r.kept.len()), (1, 1), "{r:?}");
    assert!(wait_for(Duration::from_secs(5), || one(b1).state != NeighborState::Established).await);
    let got = one(b1).last_notification_received.unwrap_or_default();
    assert!(got.contains("Cease (6) / Other Configuration Change (6)"), "B1 received {got:?} (key {key:?})");
    b1.reload(&b_config("127.0.0.2", key)).await.unwrap();
    let back = wait_for(Duration::from_secs(20), || {
        let s = one(b1);
        s.state == NeighborState::Established && s.established_count == 1
    });
    assert!(back.await, "B1 not back with key {key:?}: {:?}", one(b1));
    assert_eq!(one(b1).md5, key.is_some());
}

#[tokio::test(flavor = "current_thread")]
async fn md5_key_added_changed_removed_resets_only_that_neighbor_with_other_configuration_change() {
    let b1 = Speaker::start(&b_config("127.0.0.2", None), Advert::nothing()).await.unwrap();
    let b2 = Speaker::start(&b_config("127.0.0.3", None), Advert::nothing()).await.unwrap();
    let a = Speaker::start(&a_config(None, false), Advert::nothing()).await.unwrap();
    let up = |s: &Speaker| one(s).state == NeighborState::Established;
    assert!(wait_for(Duration::from_secs(10), || up(&b1) && up(&b2)).await, "{:?} {:?}", b1.status(), b2.status());

    change_key(&a, &b1, Some("anycast-lab-key")).await; // added
    change_key(&a, &b1, Some("anycast-lab-key-2")).await; // changed
    change_key(&a, &b1, None).await; // removed: unsigned again, on both sides

    let s2 = one(&b2);
    assert_eq!((s2.state, s2.established_count, s2.flaps), (NeighborState::Established, 1, 0), "{s2:?}");
    assert_eq!(s2.last_notification_received, None, "B2 was reset by B1's key changes");

    // B2 removed from A's configuration: Peer De-configured.
    let r = a.reload(&a_config(None, true)).await.unwrap();
    assert_eq!(r.removed.len(), 1, "{r:?}");
    assert!(wait_for(Duration::from_secs(5), || one(&b2).last_notification_received.is_some()).await);
    let got = one(&b2).last_notification_received.unwrap_or_default();
    assert!(got.contains("Cease (6) / Peer De-configured (3)"), "B2 received {got:?}");

    a.shutdown("test over", Duration::from_secs(1)).await;
    b1.shutdown("bye", Duration::from_secs(1)).await;
    b2.shutdown("bye", Duration::from_secs(1)).await;
}

/// Issue 16 item 4: a neighbor with `tcp_ao` never starts (anycastd has no TCP-AO, and never
/// falls back to TCP-MD5 or unsigned): `Disabled`, the kernel probe's reason in status; the
/// other neighbor runs.
#[tokio::test(flavor = "current_thread")]
async fn a_tcp_ao_neighbor_is_disabled_with_the_reason_and_the_others_run() {
    let ao = neighbor("127.0.0.4", 65000, None, false) + "tcp_ao = { send_id = 1, recv_id = 2, key = \"s3cret-ao\" }\n";
    let mut cfg = config("127.0.0.1", 65124, &[neighbor("127.0.0.5", 65000, None, false), ao]);
    cfg.bgp.listen = false; // the other test listens on 127.0.0.1:PORT meanwhile
    let a = Speaker::start(&cfg, Advert::nothing()).await.unwrap();
    let st = a.status();
    let n = st.iter().find(|n| n.remote_ip == Some("127.0.0.4".parse().unwrap())).expect("the TCP-AO neighbor");
    assert_eq!(n.state, NeighborState::Disabled, "{n:?}");
    let why = n.last_error.clone().unwrap_or_default();
    assert!(why.contains("TCP-AO") && why.ends_with("CONFIG_TCP_AO") || why.contains("use md5"), "{why}");
    let other = st.iter().find(|n| n.remote_ip == Some("127.0.0.5".parse().unwrap())).expect("the other neighbor");
    assert_ne!(other.state, NeighborState::Disabled, "{other:?}");
    a.shutdown("test over", Duration::from_secs(1)).await;
}
