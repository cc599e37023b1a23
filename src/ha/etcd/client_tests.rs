//! The etcd client against a real etcd (Debian package etcd-server, `/usr/bin/etcd`) started
//! on loopback by each test, on free ports and in a fresh directory, killed by PID at the end;
//! and against tiny hostile servers.

use super::api::WatchEvent;
use super::client::{Client, ErrorKind};
use crate::config::{EtcdConn, HttpUrl};
use crate::test_env::{fresh_dir, skip_missing, TestDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long something quick may take before the test fails.
const QUICK: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(2);
/// Longer than an auth token of `--auth-token-ttl 1` lives unused.
const EXPIRE: Duration = Duration::from_millis(2500);

pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

pub(crate) fn url(port: u16, tls: bool) -> HttpUrl {
    HttpUrl { tls, host: "127.0.0.1".into(), port, path: "/".into() }
}

pub(crate) fn conn(endpoints: Vec<HttpUrl>) -> EtcdConn {
    EtcdConn { endpoints, ca: None, cert: None, key: None, username: None, password_file: None, timeout: TIMEOUT }
}

/// The etcd binary, or `None` when the test should skip (it panics when it must not).
fn etcd_bin(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/etcd");
    if p.exists() {
        return Some(p);
    }
    match skip_missing(test, "etcd", "apt-get install etcd-server") {
        true => None,
        false => unreachable!("skip_missing panics"),
    }
}

/// An etcd of a test's own, killed (by PID) when dropped.
pub(crate) struct Etcd {
    child: Child,
    pub port: u16,
    pub dir: TestDir,
}

impl Etcd {
    /// Starts etcd with `extra` arguments (`scheme` for its client URL) and waits until it
    /// listens.
    pub(crate) fn start(test: &str, tag: &str, tls: bool, extra: &[&str]) -> Option<Etcd> {
        let bin = etcd_bin(test)?;
        let dir = fresh_dir("etcd", tag);
        let (port, peer) = (free_port(), free_port());
        let scheme = if tls { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.join("etcd.log")).expect("etcd log");
        let child = Command::new(bin)
            .args(["--name", "t", "--data-dir"])
            .arg(dir.join("data"))
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("t={peer_url}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        let e = Etcd { child, port, dir };
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "etcd did not listen: {}", e.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(e)
    }

    pub(crate) fn url(&self, tls: bool) -> HttpUrl {
        url(self.port, tls)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of `e`, once etcd serves (it listens before it has elected itself).
async fn ready(e: &Etcd, c: EtcdConn) -> Client {
    let client = Client::new(&c);
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match client.get(b"ready").await {
            Ok(_) => return client,
            Err(err) => assert!(Instant::now() < until, "etcd not ready: {err}\n{}", e.log()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn quick<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(QUICK, f).await.unwrap_or_else(|_| panic!("{what}: not within {QUICK:?}"))
}

#[tokio::test]
async fn grant_keep_alive_revoke() {
    let Some(e) = Etcd::start("grant_keep_alive_revoke", "lease", false, &[]) else { return };
    let c = ready(&e, conn(vec![e.url(false)])).await;
    let lease = c.grant(3).await.unwrap();
    assert_eq!(lease.ttl, 3);
    assert_ne!(lease.id, 0);
    // A TTL below 2 is raised to 2.
    assert_eq!(c.grant(1).await.unwrap().ttl, 2);
    assert_eq!(c.keep_alive(lease.id).await.unwrap(), 3);
    let left = c.time_to_live(lease.id).await.unwrap();
    assert!((1..=3).contains(&left), "{left}");
    c.revoke(lease.id).await.unwrap();
    assert_eq!(c.keep_alive(lease.id).await.unwrap(), 0, "a revoked lease");
    assert_eq!(c.time_to_live(lease.id).await.unwrap(), -1);
    // Revoking again is no error; an unknown lease is gone too.
    c.revoke(lease.id).await.unwrap();
    assert_eq!(c.keep_alive(12345).await.unwrap(), 0);
    assert_eq!(c.last_endpoint().as_deref(), Some(format!("http://127.0.0.1:{}/", e.port).as_str()));
}

#[tokio::test]
async fn campaign_waits_for_the_leader_to_go_and_resign_hands_over() {
    let Some(e) = Etcd::start("campaign_waits", "campaign", false, &[]) else { return };
    let c1 = ready(&e, conn(vec![e.url(false)])).await;
    let c2 = Client::new(&conn(vec![e.url(false)]));
    let (l1, l2) = (c1.grant(10).await.unwrap(), c2.grant(10).await.unwrap());
    assert_eq!(c1.leader(b"el").await.unwrap(), None, "no one leads yet");
    let k1 = quick("first campaign", c1.campaign(b"el", l1.id, b"one")).await.unwrap();
    assert_eq!((k1.name.as_slice(), k1.lease), (&b"el"[..], l1.id));
    let lead = c2.leader(b"el").await.unwrap().unwrap();
    assert_eq!((lead.value.as_slice(), lead.lease, lead.key.as_slice()), (&b"one"[..], l1.id, k1.key.as_slice()));

    // The second blocks while the first leads, well past the request timeout...
    let second = c2.campaign(b"el", l2.id, b"two");
    tokio::pin!(second);
    assert!(
        tokio::time::timeout(TIMEOUT + Duration::from_millis(500), &mut second).await.is_err(),
        "the second won early"
    );
    // ... and wins once the first's lease is revoked.
    c1.revoke(l1.id).await.unwrap();
    let k2 = quick("second campaign", &mut second).await.unwrap();
    assert_eq!(k2.lease, l2.id);
    assert_eq!(c1.leader(b"el").await.unwrap().unwrap().value, b"two");

    // Resign hands over to the next candidate.
    let l3 = c1.grant(10).await.unwrap();
    let third = c1.campaign(b"el", l3.id, b"three");
    tokio::pin!(third);
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut third).await.is_err());
    c2.resign(&k2).await.unwrap();
    let k3 = quick("third campaign", &mut third).await.unwrap();
    assert_eq!(c2.leader(b"el").await.unwrap().unwrap().value, b"three");
    c1.resign(&k3).await.unwrap();
    assert_eq!(c1.leader(b"el").await.unwrap(), None);
    // Resigning again is no error.
    c1.resign(&k3).await.unwrap();
}

#[tokio::test]
async fn a_dropped_campaign_withdraws() {
    let Some(e) = Etcd::start("a_dropped_campaign_withdraws", "drop", false, &[]) else { return };
    let c = ready(&e, conn(vec![e.url(false)])).await;
    let (la, lb, lc) = (c.grant(10).await.unwrap(), c.grant(10).await.unwrap(), c.grant(10).await.unwrap());
    let ka = quick("a", c.campaign(b"el", la.id, b"a")).await.unwrap();
    // b waits, then gives up (drops its future).
    assert!(tokio::time::timeout(Duration::from_millis(300), c.campaign(b"el", lb.id, b"b")).await.is_err());
    let cc = c.campaign(b"el", lc.id, b"c");
    tokio::pin!(cc);
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut cc).await.is_err());
    c.resign(&ka).await.unwrap();
    // Had b stayed a candidate it would lead now, before c.
    quick("c", &mut cc).await.unwrap();
    assert_eq!(c.leader(b"el").await.unwrap().unwrap().value, b"c");
}

#[tokio::test]
async fn get_and_watch_see_a_put_and_a_delete() {
    let Some(e) = Etcd::start("get_and_watch", "watch", false, &[]) else { return };
    let c = ready(&e, conn(vec![e.url(false)])).await;
    let (none, rev) = c.get(b"k").await.unwrap();
    assert_eq!(none, None);
    assert!(rev >= 1);
    let mut w = c.watch(b"k", rev + 1).await.unwrap();
    let lease = c.grant(5).await.unwrap();
    let put = c.put(b"k", b"v1", lease.id).await.unwrap();
    let (kv, rev2) = c.get(b"k").await.unwrap();
    let kv = kv.unwrap();
    assert_eq!((kv.value.as_slice(), kv.mod_revision, kv.lease, rev2), (&b"v1"[..], put, lease.id, put));
    let got = quick("put event", w.next()).await.unwrap();
    assert!(matches!(got.as_slice(), [WatchEvent::Put(kv)] if kv.value == b"v1" && kv.key == b"k"), "{got:?}");
    let del = c.delete(b"k").await.unwrap();
    let got = quick("delete event", w.next()).await.unwrap();
    assert!(matches!(got.as_slice(), [WatchEvent::Delete(kv)] if kv.mod_revision == del), "{got:?}");
    // A watch from an old revision replays what happened since.
    let mut w = c.watch(b"k", put).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.extend(quick("replay", w.next()).await.unwrap());
    }
    assert!(matches!(seen.as_slice(), [WatchEvent::Put(_), WatchEvent::Delete(_)]), "{seen:?}");
    // A watch's stream ending (etcd gone) is an error, not a hang.
    drop(e);
    let err = quick("the stream's end", w.next()).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
}

#[tokio::test]
async fn failover_past_a_dead_and_a_silent_endpoint() {
    let Some(e) = Etcd::start("failover", "failover", false, &[]) else { return };
    // A closed port, and one that accepts and never answers.
    let closed = free_port();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            conns.push(s);
        }
    });
    let _ = ready(&e, conn(vec![e.url(false)])).await;
    let c = Client::new(&conn(vec![url(closed, false), url(silent_port, false), e.url(false)]));
    let t = Instant::now();
    let lease = c.grant(5).await.unwrap();
    let took = t.elapsed();
    assert!(took < TIMEOUT, "{took:?}");
    assert_eq!(c.last_endpoint(), Some(format!("http://127.0.0.1:{}/", e.port)));
    // The next call starts with the endpoint that answered: quick.
    let t = Instant::now();
    assert_eq!(c.keep_alive(lease.id).await.unwrap(), 5);
    assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
    // A campaign fails over too.
    let c = Client::new(&conn(vec![url(closed, false), e.url(false)]));
    quick("campaign", c.campaign(b"el", lease.id, b"x")).await.unwrap();
    // All endpoints dead: Unreachable, within the timeout.
    drop(e);
    let t = Instant::now();
    let err = c.get(b"k").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(t.elapsed() < TIMEOUT + Duration::from_millis(300));
    held.abort();
}

/// A server that answers every connection with `answer(stream)`.
async fn hostile<F, Fut>(answer: F) -> u16
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        for _ in 0..50 {
            let Ok((mut s, _)) = l.accept().await else { return };
            let mut req = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut req)).await;
            tokio::spawn(answer(s));
        }
    });
    port
}

async fn sends(mut s: tokio::net::TcpStream, bytes: &'static [u8]) {
    let _ = s.write_all(bytes).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
}

#[tokio::test]
async fn hostile_servers_give_errors_in_time() {
    let junk = hostile(|s| sends(s, b"SSH-2.0-OpenSSH_9.2\r\n\x1b[2J")).await;
    let big = hostile(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
        let chunk = format!("10000\r\n{}\r\n", "a".repeat(0x10000));
        for _ in 0..100 {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let length = hostile(|s| sends(s, b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{")).await;
    // Slowloris: a byte every 50 ms, within the head, and within the body.
    let drip = |prefix: &'static [u8]| {
        move |mut s: tokio::net::TcpStream| async move {
            let _ = s.write_all(prefix).await;
            for _ in 0..200 {
                if s.write_all(b"a").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let slow_head = hostile(drip(b"HTTP/1.1 200 OK\r\nX-Slow: ")).await;
    let slow_body = hostile(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")).await;
    let not_json = hostile(|s| sends(s, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\x1b]0;x")).await;
    let closes = hostile(|s| async move { drop(s) }).await;
    let cases = [
        (junk, ErrorKind::Garbled, "not an HTTP/1.x answer"),
        (big, ErrorKind::Garbled, "larger than 1024 KiB"),
        (length, ErrorKind::Garbled, "larger than 1024 KiB"),
        (slow_head, ErrorKind::Unreachable, "no answer in time"),
        (slow_body, ErrorKind::Unreachable, "no answer in time"),
        (not_json, ErrorKind::Garbled, "not a JSON object"),
        (closes, ErrorKind::Unreachable, "closed"),
    ];
    let timeout = Duration::from_millis(500);
    for (port, kind, says) in cases {
        let c = Client::new(&EtcdConn { timeout, ..conn(vec![url(port, false)]) });
        let t = Instant::now();
        let err = c.get(b"k").await.unwrap_err();
        assert!(t.elapsed() < timeout + Duration::from_millis(300), "{port}: {:?}", t.elapsed());
        assert_eq!(err.kind, kind, "{err}");
        assert!(err.to_string().contains(says), "{err}");
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        // A watch too.
        let err = tokio::time::timeout(timeout + Duration::from_millis(300), c.watch(b"k", 0)).await.unwrap();
        assert!(err.is_err());
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn auth_with_a_password_file() {
    let test = "auth_with_a_password_file";
    if !Path::new("/usr/bin/etcdctl").exists() && skip_missing(test, "etcdctl", "apt-get install etcd-client") {
        return;
    }
    // Tokens unused for a second expire: the client must authenticate again.
    let Some(e) = Etcd::start(test, "auth", false, &["--auth-token-ttl", "1"]) else { return };
    let plain = ready(&e, conn(vec![e.url(false)])).await;
    let ctl = |args: &[&str]| {
        let out = Command::new("/usr/bin/etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &format!("http://127.0.0.1:{}", e.port)])
            .args(args)
            .output()
            .expect("etcdctl (etcd-client)");
        assert!(out.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ctl(&["user", "add", "root:s3cret"]);
    ctl(&["auth", "enable"]);
    let err = plain.get(b"k").await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Server { .. }), "{err}");
    let mut c = conn(vec![e.url(false)]);
    c.username = Some("root".into());
    c.password_file = Some(write_file(&e.dir, "pw", "s3cret\n"));
    let client = Client::new(&c);
    let lease = client.grant(5).await.unwrap();
    client.put(b"k", b"v", 0).await.unwrap();
    assert_eq!(client.get(b"k").await.unwrap().0.unwrap().value, b"v");
    quick("campaign", client.campaign(b"el", lease.id, b"me")).await.unwrap();
    let mut w = client.watch(b"k", 0).await.unwrap();
    client.delete(b"k").await.unwrap();
    assert!(matches!(quick("watch", w.next()).await.unwrap().as_slice(), [WatchEvent::Delete(_)]));
    // The token expires: a call, a watch and a campaign authenticate again.
    tokio::time::sleep(EXPIRE).await;
    assert_eq!(client.get(b"k").await.unwrap().0, None);
    tokio::time::sleep(EXPIRE).await;
    let mut w = client.watch(b"k", 0).await.unwrap();
    client.put(b"k", b"w", 0).await.unwrap();
    assert!(matches!(quick("watch", w.next()).await.unwrap().as_slice(), [WatchEvent::Put(_)]));
    let other = client.grant(5).await.unwrap();
    tokio::time::sleep(EXPIRE).await;
    let c2 = client.campaign(b"el2", other.id, b"x");
    quick("campaign after expiry", c2).await.unwrap();
    c.password_file = Some(write_file(&e.dir, "bad", "wrong\n"));
    let err = Client::new(&c).get(b"k").await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Server { .. }), "{err}");
    assert!(err.to_string().contains("authenticate as \"root\""), "{err}");
}

/// A CA, and PEM certificate/key pairs it signed: (ca, (server cert, key), (client cert, key)).
type Pair = (String, String);
fn tls_files() -> (String, Pair, Pair) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "test ca");
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>, usage: Vec<ExtendedKeyUsagePurpose>| {
        let mut p = CertificateParams::new(names).unwrap();
        p.extended_key_usages = usage;
        let key = KeyPair::generate().unwrap();
        (p.signed_by(&key, &issuer).unwrap().pem(), key.serialize_pem())
    };
    // etcd's gateway presents the server certificate to etcd's own gRPC: client auth too.
    let both = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let server = leaf(vec!["127.0.0.1".into()], both);
    let client = leaf(vec!["anycastd".into()], vec![ExtendedKeyUsagePurpose::ClientAuth]);
    (ca_pem, server, client)
}

#[tokio::test]
async fn tls_with_a_client_certificate() {
    let (ca, (server_cert, server_key), (client_cert, client_key)) = tls_files();
    let files = fresh_dir("etcd", "tls-files");
    let f = |name: &str, text: &str| write_file(&files, name, text).display().to_string();
    let (ca_file, sc, sk) = (f("ca.pem", &ca), f("server.pem", &server_cert), f("server.key", &server_key));
    let args = ["--cert-file", &sc, "--key-file", &sk, "--client-cert-auth", "--trusted-ca-file", &ca_file];
    let Some(e) = Etcd::start("tls_with_a_client_certificate", "tls", true, &args) else { return };
    let mut c = conn(vec![e.url(true)]);
    c.ca = Some(ca_file.clone().into());
    c.cert = Some(f("client.pem", &client_cert).into());
    c.key = Some(f("client.key", &client_key).into());
    let client = ready(&e, c.clone()).await;
    let lease = client.grant(5).await.unwrap();
    quick("campaign", client.campaign(b"el", lease.id, b"tls")).await.unwrap();
    let mut w = client.watch(b"k", 0).await.unwrap();
    client.put(b"k", b"v", 0).await.unwrap();
    assert!(matches!(quick("watch", w.next()).await.unwrap().as_slice(), [WatchEvent::Put(_)]));
    assert_eq!(client.last_endpoint(), Some(format!("https://127.0.0.1:{}/", e.port)));
    // Without a client certificate etcd refuses; with another CA we refuse etcd.
    let no_cert = EtcdConn { cert: None, key: None, ..c.clone() };
    let err = Client::new(&no_cert).get(b"k").await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    let (other_ca, _, _) = tls_files();
    let wrong_ca = EtcdConn { ca: Some(f("other.pem", &other_ca).into()), ..c.clone() };
    let err = Client::new(&wrong_ca).get(b"k").await.unwrap_err();
    assert!(err.is_unreachable() && err.what.contains("TLS"), "{err}");
    // A missing key file is our side's error.
    let no_key = EtcdConn { key: Some(files.join("absent.key")), ..c };
    let err = Client::new(&no_key).get(b"k").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Local, "{err}");
}

/// The role source runs these on spawned tasks: they must be Send, and the client Sync.
#[test]
fn futures_are_send_and_the_client_is_shareable() {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Send + Sync>(_: &T) {}
    let c = Client::new(&conn(vec![url(1, false)]));
    sync(&c);
    send(&c.grant(3));
    send(&c.keep_alive(1));
    send(&c.campaign(b"el", 1, b"v"));
    send(&c.leader(b"el"));
    send(&c.watch(b"k", 0));
    send(&c.get(b"k"));
    fn next_is_send(w: &mut super::client::Watch) {
        fn send<T: Send>(_: &T) {}
        send(&w.next());
    }
    let _ = next_is_send;
}
