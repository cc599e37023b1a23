//! `anycastd reload` in process, against a second speaker over loopback: an unchanged neighbor
//! keeps its session (no NOTIFICATION, no new Established), a prefix added by reload is
//! announced as an UPDATE, and an invalid config leaves the daemon on the previous one.

#[allow(dead_code)]
mod common;

use anycastd::config::{Config, DEFAULT_SERVICE};
use anycastd::daemon::Daemon;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use anycastd::status::NeighborState;
use common::speaker_status::eventually as wait_for;
use std::path::Path;
use std::time::Duration;

fn text(local: &str, remote: &str, port: u16, asn: u32, peer_as: u32, prefixes: &[&str], hold: u16) -> String {
    let p: Vec<String> = prefixes.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[bgp]\nlocal_as = {asn}\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = {hold}\nconnect_retry = 1\nport = {port}\n\
         [[bgp.neighbor]]\nremote_ip = \"{remote}\"\nremote_as = {peer_as}\nport = {port}\n\
         [anycast]\nprefixes = [{}]\n",
        p.join(", ")
    )
}

#[tokio::test(flavor = "current_thread")]
async fn reload_keeps_sessions_announces_diffs_and_rejects_bad_configs() {
    let port = 17931;
    let dir = std::env::temp_dir().join(format!("acd-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.toml");
    let a_text = text("127.0.0.1", "127.0.0.2", port, 65124, 65000, &["203.0.113.124/32"], 9);
    std::fs::write(&path, &a_text).unwrap();
    let a_cfg = Config::load(&path).unwrap();
    // B only waits for A's connection: no collision race, so exactly one Established.
    let b_text = text("127.0.0.2", "127.0.0.1", port, 65000, 65124, &["198.51.100.0/24"], 9)
        .replace(&format!("port = {port}\n[anycast]"), &format!("port = {port}\npassive = true\n[anycast]"));
    assert!(b_text.contains("passive = true"), "{b_text}");
    let b_cfg = Config::from_str(&b_text, Path::new("b.toml")).unwrap();
    let a = Daemon::start(a_cfg, path.clone()).await.unwrap();
    let b = Speaker::start(&b_cfg, Advert::nothing()).await.unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || b.status()[0].state == NeighborState::Established
            && b.status()[0].prefixes_received_v4 == 1)
        .await,
        "{:?}",
        b.status()
    );
    let before = b.status()[0].clone();
    assert_eq!(before.established_count, 1);

    // Same config: nothing changes.
    let m = a.reload().await.unwrap();
    assert!(m.contains("kept [127.0.0.2]"), "{m}");

    // A prefix added by reload goes out as an UPDATE on the same session.
    let updated = text("127.0.0.1", "127.0.0.2", port, 65124, 65000, &["203.0.113.124/32", "203.0.113.125/32"], 9);
    std::fs::write(&path, updated).unwrap();
    let m = a.reload().await.unwrap();
    assert!(m.contains("kept [127.0.0.2]") && m.contains("203.0.113.125/32"), "{m}");
    assert!(wait_for(Duration::from_secs(3), || b.status()[0].prefixes_received_v4 == 2).await, "{:?}", b.status());
    let after = b.status()[0].clone();
    assert_eq!(after.established_count, 1, "the session was reset by reload");
    assert_eq!(after.flaps, 0);
    assert_eq!(after.last_notification_received, None, "a NOTIFICATION was sent on reload");
    assert!(after.updates_in > before.updates_in);

    // An invalid config is refused; the daemon keeps running the previous one.
    std::fs::write(&path, text("127.0.0.1", "127.0.0.2", port, 65124, 65000, &["203.0.113.124/32"], 2)).unwrap();
    let e = a.reload().await.unwrap_err();
    assert!(e.contains("still running the previous one") && e.contains("hold_time"), "{e}");
    let s = a.status();
    assert_eq!(s.ha.advertising.len(), 2, "{s:?}");
    assert_eq!(s.neighbors[0].state, NeighborState::Established);

    // What is set up at start ([metrics], [control], loopback) is refused by name, not ignored.
    for (extra, names) in [
        ("[metrics]\nlisten = \"127.0.0.1:9\"\n", "[metrics] listen (off → 127.0.0.1:9)"),
        ("manage_loopback = true\n", "[anycast] manage_loopback (false → true)"),
        ("[control]\nsocket = \"/run/anycastd-elsewhere.sock\"\n", "[control]"),
    ] {
        std::fs::write(&path, format!("{a_text}{extra}")).unwrap();
        let e = a.reload().await.unwrap_err();
        assert!(e.starts_with("reload refused, still running the previous config:") && e.contains(names), "{e}");
        assert!(e.contains("restart the daemon"), "{e}");
    }
    assert_eq!(a.status().ha.advertising.len(), 2, "a refused reload changed what is advertised");

    // Removing the prefix again withdraws it, still on the same session.
    std::fs::write(&path, &a_text).unwrap();
    a.reload().await.unwrap();
    assert!(wait_for(Duration::from_secs(3), || b.status()[0].prefixes_received_v4 == 1).await);
    assert_eq!(b.status()[0].established_count, 1);

    a.shutdown("test over").await;
    b.shutdown("bye", Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Review M3: a controller replaced by a reload but still alive (an `anycastd check` holding
/// it) must never reach the speaker again. The old controller's check passes *after* a reload
/// that put this node on standby; on the old code its "advertise" stuck on the speaker.
#[tokio::test(flavor = "current_thread")]
async fn a_replaced_controller_cannot_make_the_speaker_advertise() {
    let dir = std::env::temp_dir().join(format!("acd-reload-m3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (path, up, role) = (dir.join("a.toml"), dir.join("up"), dir.join("role"));
    std::fs::write(&role, "standby\n").unwrap();
    // Nothing listens on 127.0.0.2:17941: the speaker only holds the advert.
    let base = text("127.0.0.1", "127.0.0.2", 17941, 65124, 65000, &["203.0.113.124/32"], 9);
    let check = format!(
        "[[health.check]]\nname = \"up\"\ntype = \"file\"\npath = \"{}\"\ninterval_ms = 86400000\nrise = 1\nfall = 1\n",
        up.display()
    );
    std::fs::write(&path, format!("{base}{check}")).unwrap();
    let a = Daemon::start(Config::load(&path).unwrap(), path.clone()).await.unwrap();
    let old = a.ha(DEFAULT_SERVICE).unwrap();
    // The new config: same check, role from a file that says standby.
    let standby = format!("{base}[role]\nsource = \"file\"\npath = \"{}\"\n{check}", role.display());
    std::fs::write(&path, standby).unwrap();
    let m = a.reload().await.unwrap();
    assert!(m.contains("HA controller restarted"), "{m}");
    assert!(!std::sync::Arc::ptr_eq(&old, &a.ha(DEFAULT_SERVICE).unwrap()));
    // The old controller (static role) now sees its check pass: it would advertise.
    std::fs::write(&up, "").unwrap();
    let reports = old.check_now().await;
    assert!(reports[0].ok, "{reports:?}");
    assert!(a.speaker_advert().prefixes.is_empty(), "a replaced controller made the speaker advertise");
    assert_eq!(old.current().state, anycastd::ha::AdvertState::Withdrawn, "a stopped controller recorded a check");
    // The current controller is unaffected: standby, withdrawn.
    a.ha(DEFAULT_SERVICE).unwrap().check_now().await;
    assert!(a.speaker_advert().prefixes.is_empty());
    assert!(a.status().ha.reason.contains("standby"), "{}", a.status().ha.reason);
    a.shutdown("test over").await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Chaos finding (issue 12): a reload that only retunes a check (its interval) restarted the HA
/// controller with every check unhealthy, so the MASTER withdrew for a rise's worth of probes
/// (64-75 ms in the lab) and keepalived moved MASTER. The replacement now takes over the role
/// and every check whose probe is unchanged; a new or changed check still starts unhealthy.
#[tokio::test(flavor = "current_thread")]
async fn a_reload_that_retunes_a_check_keeps_advertising() {
    let dir = std::env::temp_dir().join(format!("acd-reload-carry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (path, up, other) = (dir.join("a.toml"), dir.join("up"), dir.join("other"));
    std::fs::write(&up, "").unwrap();
    let base = text("127.0.0.1", "127.0.0.2", 17942, 65124, 65000, &["203.0.113.124/32"], 9);
    let check = |file: &std::path::Path, interval: u32| {
        format!(
            "[[health.check]]\nname = \"up\"\ntype = \"file\"\npath = \"{}\"\ninterval_ms = {interval}\nrise = 2\nfall = 1\n",
            file.display()
        )
    };
    std::fs::write(&path, format!("{base}{}", check(&up, 100))).unwrap();
    let a = Daemon::start(Config::load(&path).unwrap(), path.clone()).await.unwrap();
    assert!(wait_for(Duration::from_secs(3), || !a.speaker_advert().prefixes.is_empty()).await, "never advertised");
    let old = a.ha(DEFAULT_SERVICE).unwrap();
    // Only the interval changes: a new controller, but no withdraw, not even for a moment.
    std::fs::write(&path, format!("{base}{}", check(&up, 150))).unwrap();
    let mut decisions = {
        let m = a.reload().await.unwrap();
        assert!(m.contains("HA controller restarted"), "{m}");
        assert!(!std::sync::Arc::ptr_eq(&old, &a.ha(DEFAULT_SERVICE).unwrap()));
        a.ha(DEFAULT_SERVICE).unwrap().subscribe()
    };
    assert_eq!(decisions.borrow_and_update().state, anycastd::ha::AdvertState::Advertising);
    assert!(!a.speaker_advert().prefixes.is_empty(), "the reload withdrew");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!decisions.has_changed().unwrap(), "the decision moved after the reload: {:?}", *decisions.borrow());
    // A changed probe (another file) is a new check: withdrawn until it rises.
    std::fs::write(&other, "").unwrap();
    std::fs::write(&path, format!("{base}{}", check(&other, 100))).unwrap();
    a.reload().await.unwrap();
    assert!(a.speaker_advert().prefixes.is_empty(), "a changed check was trusted before it passed");
    assert!(wait_for(Duration::from_secs(3), || !a.speaker_advert().prefixes.is_empty()).await, "never rose");
    a.shutdown("test over").await;
    let _ = std::fs::remove_dir_all(&dir);
}
