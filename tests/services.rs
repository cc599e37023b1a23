//! Several anycast services on one node (issue 13), in process against a second speaker over
//! loopback: each service's checks and drain move only its own prefix — the other's route gets
//! no UPDATE at all — and a reload that removes a service withdraws only its prefix.

#[allow(dead_code)]
mod common;

use anycastd::config::Config;
use anycastd::daemon::Daemon;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use anycastd::status::NeighborState;
use common::speaker_status::eventually;
use std::path::Path;
use std::time::Duration;

const DNS: &str = "203.0.113.53/32";
const WEB: &str = "203.0.113.80/32";

fn base(local: &str, remote: &str, port: u16, asn: u32, peer_as: u32, passive: bool) -> String {
    format!(
        "[bgp]\nlocal_as = {asn}\nrouter_id = \"{local}\"\nlocal_ip = \"{local}\"\nhold_time = 9\nconnect_retry = 1\nport = {port}\n\
         [[bgp.neighbor]]\nremote_ip = \"{remote}\"\nremote_as = {peer_as}\nport = {port}\npassive = {passive}\n"
    )
}

fn service(name: &str, prefix: &str, flag: &Path) -> String {
    // The on_change hook appends "SERVICE STATE" to `flag`.changes.
    let log = flag.with_extension("changes");
    let hook = format!(r#"["/bin/sh", "-c", "echo \"$SERVICE $STATE\" >> {}"]"#, log.display());
    format!(
        "[[service]]\nname = \"{name}\"\nprefixes = [\"{prefix}\"]\non_change = {hook}\n\
         [[service.check]]\nname = \"up\"\ntype = \"file\"\npath = \"{}\"\ninterval_ms = 50\nrise = 1\nfall = 1\n",
        flag.display()
    )
}

#[tokio::test(flavor = "current_thread")]
async fn each_service_moves_only_its_own_prefix() {
    let port = 17951;
    let dir = std::env::temp_dir().join(format!("acd-services-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (path, dns_up, web_up) = (dir.join("a.toml"), dir.join("dns.up"), dir.join("web.up"));
    std::fs::write(&dns_up, "").unwrap();
    std::fs::write(&web_up, "").unwrap();
    let two = format!(
        "{}[control]\nstate_dir = \"{}\"\n{}{}",
        base("127.0.0.1", "127.0.0.2", port, 65124, 65000, false),
        dir.display(),
        service("dns", DNS, &dns_up),
        service("web", WEB, &web_up)
    );
    std::fs::write(&path, &two).unwrap();
    let a = Daemon::start(Config::load(&path).unwrap(), path.clone()).await.unwrap();
    let b_cfg = Config::from_str(
        &format!(
            "{}[anycast]\nprefixes = [\"198.51.100.0/24\"]\n",
            base("127.0.0.2", "127.0.0.1", port, 65000, 65124, true)
        ),
        Path::new("b.toml"),
    )
    .unwrap();
    let b = Speaker::start(&b_cfg, Advert::nothing()).await.unwrap();
    let rx = |n: u64| b.status()[0].state == NeighborState::Established && b.status()[0].prefixes_received_v4 == n;
    assert!(eventually(Duration::from_secs(10), || rx(2)).await, "both services never arrived: {:?}", b.status());
    let s = a.status();
    assert_eq!(s.services.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["dns", "web"]);
    // Settle: no UPDATE in flight.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let updates = b.status()[0].updates_in;

    // dns's check fails: exactly one UPDATE (dns's withdraw), nothing for web.
    std::fs::remove_file(&dns_up).unwrap();
    assert!(eventually(Duration::from_secs(3), || rx(1)).await, "dns was not withdrawn: {:?}", b.status());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.status()[0].updates_in, updates + 1, "more than dns's withdraw went out");
    let s = a.status();
    let (dns, web) = (&s.services[0], &s.services[1]);
    assert!(dns.ha.advertising.is_empty() && !dns.ha.healthy, "{dns:?}");
    assert_eq!(web.ha.advertising, [WEB], "{web:?}");
    assert_eq!((dns.failovers, web.failovers), (1, 0));
    assert_eq!(a.speaker_adverts().get("web").prefixes, [WEB.parse::<ipnet::IpNet>().unwrap()]);
    // Each service's on_change hook was told its own changes, and only those.
    let changes = |f: &Path| std::fs::read_to_string(f.with_extension("changes")).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(3), || changes(&dns_up).ends_with("dns withdrawn\n")).await,
        "{}",
        changes(&dns_up)
    );
    assert_eq!(changes(&web_up), "web withdrawn\nweb advertising\n");

    // dns back: one UPDATE announcing it.
    std::fs::write(&dns_up, "").unwrap();
    assert!(eventually(Duration::from_secs(3), || rx(2)).await, "dns never came back");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.status()[0].updates_in, updates + 2);

    // Drain of web alone (0 s: withdraw now): only web leaves; an unknown service is refused.
    let r = a.handle(anycastd::control::Request::Drain { seconds: Some(0), service: Some("web".into()) }).await;
    assert!(r.ok, "{r:?}");
    assert!(eventually(Duration::from_secs(3), || rx(1)).await, "web was not drained");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.status()[0].updates_in, updates + 3);
    assert_eq!(a.status().services[0].ha.advertising, [DNS]);
    assert!(dir.join("drain.web").exists() && !dir.join("drain.dns").exists());
    let r = a.handle(anycastd::control::Request::Drain { seconds: Some(0), service: Some("mail".into()) }).await;
    assert!(!r.ok && r.error.as_deref().unwrap_or_default().contains("no service \"mail\""), "{r:?}");
    let r = a.handle(anycastd::control::Request::Undrain { service: Some("web".into()) }).await;
    assert!(r.ok, "{r:?}");
    assert!(eventually(Duration::from_secs(3), || rx(2)).await, "web never came back from the drain");

    // A reload that removes dns withdraws dns only; the session stays.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let updates = b.status()[0].updates_in;
    let one = format!(
        "{}[control]\nstate_dir = \"{}\"\n{}",
        base("127.0.0.1", "127.0.0.2", port, 65124, 65000, false),
        dir.display(),
        service("web", WEB, &web_up)
    );
    std::fs::write(&path, &one).unwrap();
    let m = a.reload().await.unwrap();
    assert!(m.contains("services stopped [\"dns\"]"), "{m}");
    assert!(eventually(Duration::from_secs(3), || rx(1)).await, "the removed service stayed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.status()[0].updates_in, updates + 1);
    assert_eq!(b.status()[0].established_count, 1, "the reload reset the session");
    assert_eq!(a.status().services.len(), 1);

    a.shutdown("test over").await;
    b.shutdown("bye", Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// keepalived per service: `notify MASTER --instance VI_DNS` makes only dns primary; web, on
/// VI_WEB, stays withdrawn until its own instance says MASTER. No BGP peer: the speaker's
/// advertisements show it.
#[tokio::test(flavor = "current_thread")]
async fn a_keepalived_state_moves_only_the_services_of_its_instance() {
    let dir = std::env::temp_dir().join(format!("acd-services-ka-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.toml");
    let role = |name: &str| {
        format!(
            "[service.role]\nsource = \"keepalived\"\ninstance = \"VI_{}\"\npath = \"{}\"\npidfile = \"\"\ntrack_file = \"{}\"\n",
            name.to_uppercase(),
            dir.join(format!("role.{name}")).display(),
            dir.join(format!("track.{name}")).display()
        )
    };
    let text = format!(
        "{}[control]\nstate_dir = \"{}\"\n\
         [[service]]\nname = \"dns\"\nprefixes = [\"{DNS}\"]\n{}\
         [[service]]\nname = \"web\"\nprefixes = [\"{WEB}\"]\n{}",
        base("127.0.0.1", "127.0.0.2", 17952, 65124, 65000, true),
        dir.display(),
        role("dns"),
        role("web")
    );
    std::fs::write(&path, &text).unwrap();
    let a = Daemon::start(Config::load(&path).unwrap(), path.clone()).await.unwrap();
    let advertised = |svc: &str| !a.speaker_adverts().get(svc).prefixes.is_empty();
    assert!(!advertised("dns") && !advertised("web"), "advertised before keepalived spoke");
    let notify = |state: &str, instance: &str| anycastd::control::Request::Notify {
        state: state.into(),
        instance: Some(instance.into()),
    };
    let r = a.handle(notify("MASTER", "VI_DNS")).await;
    assert!(r.ok, "{r:?}");
    assert!(advertised("dns") && !advertised("web"), "{:?}", a.speaker_adverts());
    assert!(std::fs::read_to_string(dir.join("role.dns")).unwrap().starts_with("MASTER\n"));
    assert!(!dir.join("role.web").exists(), "VI_DNS's state was saved for web");
    let r = a.handle(notify("MASTER", "VI_WEB")).await;
    assert!(r.ok && advertised("web"), "{r:?}");
    // An instance no service follows is ignored, with a word why.
    let r = a.handle(notify("BACKUP", "VI_OTHER")).await;
    assert!(r.ok && r.message.as_deref().unwrap_or_default().contains("ignored"), "{r:?}");
    assert!(advertised("dns") && advertised("web"));
    let r = a.handle(notify("BACKUP", "VI_DNS")).await;
    assert!(r.ok && !advertised("dns") && advertised("web"), "{r:?}");
    // Each service has its own track file, each following its own checks.
    let s = a.status();
    assert_eq!(s.services.iter().map(|v| v.track.is_some()).collect::<Vec<_>>(), [true, true], "{s:?}");
    a.shutdown("test over").await;
    let _ = std::fs::remove_dir_all(&dir);
}
