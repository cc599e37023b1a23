//! Probe tests against real processes, sockets and files on this machine (loopback only),
//! each bounded well under a second.

use super::http::parse_status_line;
use super::probe::*;
use crate::config::{HttpUrl, Probe};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

pub(super) fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn sh(script: &str) -> Vec<String> {
    argv(&["/bin/sh", "-c", script])
}

const T: Duration = Duration::from_millis(200);

/// Gone, or a zombie waiting for init to reap it.
pub(super) fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn all_dead(pids: &[String]) -> bool {
    for _ in 0..50 {
        if pids.iter().all(|p| is_dead(p)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn exec_true_and_false() {
    let ok = exec(&argv(&["/bin/true"]), T).await;
    assert!(ok.success());
    assert_eq!(ok.detail(), "exit 0");
    let bad = exec(&argv(&["/bin/false"]), T).await;
    assert_eq!(bad.status, ExecStatus::Exited(1));
    assert_eq!(bad.detail(), "exit 1");
}

#[tokio::test]
async fn exec_detail_is_first_line_of_output() {
    let o = exec(&sh("echo; echo '  hello world  '; echo second"), T).await;
    assert_eq!(o.detail(), "hello world");
    let o = exec(&sh("echo out; echo 'db is down' >&2; echo more >&2; exit 3"), T).await;
    assert_eq!(o.detail(), "exit 3: db is down");
    let o = exec(&sh("kill -TERM $$"), T).await;
    assert_eq!(o.status, ExecStatus::Signaled(15));
    assert_eq!(o.detail(), "killed by signal 15 (SIGTERM)");
}

/// A local service must not colour, retitle or clear the operator's terminal, nor forge a log
/// line, through its health-check output: the first line reaches logs and `status -v` escaped.
#[tokio::test]
async fn exec_output_is_escaped() {
    let o = exec(&sh(r"printf 'up\033[31m red\033]0;owned\007 \302\205x\342\200\256y\377\r\nnext'"), T).await;
    assert_eq!(o.detail(), r"up\x1b[31m red\x1b]0;owned\x07 \u{85}x\u{202e}y\xff");
    let o = exec(&sh(r"printf 'down\033[2J\tnow\n' >&2; exit 2"), T).await;
    assert_eq!(o.detail(), r"exit 2: down\x1b[2J\tnow");
    assert!(!o.detail().chars().any(char::is_control));
}

/// A cut at [`DETAIL_CHARS`] never leaves half an escape.
#[test]
fn first_line_is_cut_before_escaping() {
    let mut line = "a".repeat(199).into_bytes();
    line.extend_from_slice(b"\x1b[31mtail");
    assert_eq!(first_line(&line), Some(format!("{}\\x1b", "a".repeat(199))));
}

#[tokio::test]
async fn exec_missing_binary_says_so() {
    let o = exec(&argv(&["/nonexistent/anycastd-probe", "x"]), T).await;
    assert!(!o.success());
    assert_eq!(o.detail(), "cannot run /nonexistent/anycastd-probe: No such file or directory");
    let o = exec(&[], T).await;
    assert_eq!(o.detail(), "cannot run an empty command");
}

#[tokio::test]
async fn exec_timeout_kills_the_whole_process_group() {
    let start = Instant::now();
    // The shell prints its own pid and its background child's, then waits.
    let o = exec(&sh("sleep 30 & echo $$ $!; sleep 30"), T).await;
    let took = start.elapsed();
    assert_eq!(o.status, ExecStatus::TimedOut(T));
    let pids: Vec<String> = String::from_utf8_lossy(&o.stdout).split_whitespace().map(String::from).collect();
    assert_eq!(o.detail(), format!("timed out after 200 ms: {}", pids.join(" ")));
    assert!(took >= T && took < Duration::from_millis(700), "took {took:?}");
    assert_eq!(pids.len(), 2, "stdout {:?}", o.stdout);
    assert!(all_dead(&pids).await, "left alive: {pids:?}");
}

#[tokio::test]
async fn exec_sleep_is_killed_at_timeout() {
    let start = Instant::now();
    let o = exec(&sh("sleep 5"), T).await;
    assert_eq!(o.status, ExecStatus::TimedOut(T));
    assert_eq!(o.detail(), "timed out after 200 ms");
    assert!(start.elapsed() < Duration::from_millis(700));
}

#[tokio::test]
async fn exec_leftover_background_process_is_killed_on_exit() {
    let start = Instant::now();
    let o = exec(&sh("sleep 30 & echo $!"), Duration::from_secs(2)).await;
    assert!(o.success(), "{o:?}");
    // Did not wait for the background sleep holding stdout.
    assert!(start.elapsed() < Duration::from_millis(500), "took {:?}", start.elapsed());
    let pid = o.detail();
    assert!(all_dead(std::slice::from_ref(&pid)).await, "background pid {pid} still alive");
}

#[tokio::test]
async fn exec_output_flood_is_bounded_and_drained() {
    let start = Instant::now();
    let o = exec(&sh("yes | head -c 10000000; yes err | head -c 100000 >&2"), Duration::from_secs(3)).await;
    assert!(o.success(), "{:?}", o.status);
    assert_eq!(o.stdout.len(), OUTPUT_LIMIT);
    assert_eq!(o.stderr.len(), OUTPUT_LIMIT);
    assert!(o.truncated);
    assert_eq!(o.detail(), "y");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

#[tokio::test]
async fn tcp_probe_connects_or_says_refused() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = l.local_addr().unwrap();
    let o = run(&Probe::Tcp { address }, T).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, format!("connected to {address}"));
    drop(l);
    let o = run(&Probe::Tcp { address }, T).await;
    assert!(!o.ok);
    assert_eq!(o.detail, format!("connect to {address}: Connection refused"));
}

/// Answers each connection with the next of `replies`, then closes.
async fn http_server(replies: Vec<&'static str>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        for r in replies {
            let Ok((mut s, _)) = l.accept().await else { return };
            answer(&mut s, r).await;
        }
    });
    port
}

/// Reads the GET of `/health?x=1` on `s` and sends `reply`.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, reply: &str) {
    let mut req = [0u8; 1024];
    let n = s.read(&mut req).await.unwrap_or(0);
    let req = String::from_utf8_lossy(&req[..n]).to_string();
    assert!(req.starts_with("GET /health?x=1 HTTP/1.1\r\nHost: 127.0.0.1:"), "{req}");
    let _ = s.write_all(reply.as_bytes()).await;
}

#[tokio::test]
async fn http_probe_checks_the_status_range() {
    let port = http_server(vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 503 Service Unavailable\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n",
        "HTTP/1.1 503 Down\x1b[8m\r\n\r\n",
        "\x1b[31mHELLO\r\n",
    ])
    .await;
    let probe = http_probe(false, port, None, None);
    let o = run(&probe, T).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "HTTP 200 OK");
    let o = run(&probe, T).await;
    assert!(!o.ok);
    assert_eq!(o.detail, "HTTP 503 Service Unavailable (expected 200-299)");
    let o = run(&probe, T).await;
    assert!(!o.ok);
    assert_eq!(
        o.detail,
        format!("GET http://127.0.0.1:{port}/health?x=1: not an HTTP/1.x status line: \"SSH-2.0-OpenSSH\"")
    );
    let o = run(&probe, T).await;
    assert_eq!(o.detail, r"HTTP 503 Down\x1b[8m (expected 200-299)");
    let o = run(&probe, T).await;
    assert_eq!(
        o.detail,
        format!(r#"GET http://127.0.0.1:{port}/health?x=1: not an HTTP/1.x status line: "\x1b[31mHELLO""#)
    );
}

#[tokio::test]
async fn http_probe_times_out_on_a_silent_server() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let probe = Probe::Http {
        url: HttpUrl { tls: false, host: "127.0.0.1".into(), port, path: "/".into() },
        status: 200..=200,
        body: None,
        ca: None,
    };
    let o = run(&probe, Duration::from_millis(100)).await;
    assert!(!o.ok);
    assert_eq!(o.detail, format!("GET http://127.0.0.1:{port}/ timed out after 100 ms"));
    drop(l);
}

fn http_probe(tls: bool, port: u16, body: Option<&str>, ca: Option<&std::path::Path>) -> Probe {
    Probe::Http {
        url: HttpUrl { tls, host: "127.0.0.1".into(), port, path: "/health?x=1".into() },
        status: 200..=299,
        body: body.map(str::to_string),
        ca: ca.map(std::path::Path::to_path_buf),
    }
}

#[tokio::test]
async fn http_probe_checks_the_body() {
    let port = http_server(vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nall OK\n",
        "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nDOWN\x1b[31m since 3\r\nmore",
        "HTTP/1.1 200 OK\r\ncontent-length:  2\r\n\r\nnoOK",
        "HTTP/1.1 503 Down\r\nContent-Length: 2\r\n\r\nOK",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nup OK\r\n0\r\n\r\n",
    ])
    .await;
    let probe = http_probe(false, port, Some("OK"), None);
    let o = run(&probe, T).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "HTTP 200 OK");
    let o = run(&probe, T).await;
    assert!(!o.ok);
    assert_eq!(o.detail, r#"HTTP 200 OK but the body lacks "OK" (it starts "DOWN\x1b[31m since 3\r\nmore")"#);
    let o = run(&probe, T).await;
    assert!(!o.ok, "only Content-Length bytes are the body: {o:?}");
    assert_eq!(o.detail, r#"HTTP 200 OK but the body lacks "OK" (it starts "no")"#);
    let o = run(&probe, T).await;
    assert_eq!((o.ok, o.detail.as_str()), (false, "HTTP 503 Down (expected 200-299)"));
    let o = run(&probe, T).await;
    assert_eq!((o.ok, o.detail.as_str()), (false, r#"HTTP 200 OK but the body lacks "OK" (the body is empty)"#));
    let o = run(&probe, T).await;
    assert!(o.ok, "a chunked body is searched as it comes: {o:?}");
}

/// The body is read up to 64 KiB, not to the end: text past it does not count, and a server
/// that never stops sending does not keep the check reading.
#[tokio::test]
async fn http_body_is_bounded() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        for tail in ["OK", ""] {
            let Ok((mut s, _)) = l.accept().await else { return };
            let _ = s.read(&mut [0u8; 1024]).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
            let _ = s.write_all(&vec![b'x'; super::http::BODY_LIMIT]).await;
            let _ = s.write_all(tail.as_bytes()).await;
            // The second one sends forever (bounded here at 64 MiB).
            for _ in 0..if tail.is_empty() { 1024 } else { 0 } {
                if s.write_all(&[b'y'; 65536]).await.is_err() {
                    break;
                }
            }
        }
    });
    let probe = http_probe(false, port, Some("OK"), None);
    let o = run(&probe, Duration::from_secs(2)).await;
    assert!(!o.ok && o.detail.contains("lacks"), "{o:?}");
    let o = run(&probe, Duration::from_secs(2)).await;
    assert!(!o.ok && o.detail.contains("lacks"), "{o:?}");
    assert!(o.duration < Duration::from_millis(500), "{o:?}");
}

/// A self-signed certificate for `names` with the subject CN `cn`, its PEM and the server's
/// TLS acceptor.
fn tls_identity(cn: &str, names: &[&str]) -> (String, tokio_rustls::TlsAcceptor) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let signing_key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&signing_key).unwrap();
    let ck = rcgen::CertifiedKey { cert, signing_key };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    (ck.cert.pem(), tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Like [`http_server`] over TLS; a failed handshake (the client refusing the certificate)
/// uses up a reply.
async fn https_server(acceptor: tokio_rustls::TlsAcceptor, replies: Vec<&'static str>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        for r in replies {
            let Ok((tcp, _)) = l.accept().await else { return };
            let Ok(mut s) = acceptor.accept(tcp).await else { continue };
            answer(&mut s, r).await;
            let _ = s.shutdown().await;
        }
    });
    port
}

fn write_pem(dir: &std::path::Path, name: &str, pem: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

#[tokio::test]
async fn https_probe_verifies_the_server_against_the_ca() {
    let dir = crate::test_env::fresh_dir("https", "ca");
    let (pem, acceptor) = tls_identity("test", &["127.0.0.1"]);
    let (other_pem, _) = tls_identity("other", &["127.0.0.1"]);
    let (same_name_pem, _) = tls_identity("test", &["127.0.0.1"]);
    let right = write_pem(&dir, "right.pem", &pem);
    let wrong = write_pem(&dir, "wrong.pem", &other_pem);
    let forged = write_pem(&dir, "forged.pem", &same_name_pem);
    let port = https_server(acceptor, vec!["HTTP/1.1 200 OK\r\n\r\n", "unused", "unused", "unused"]).await;
    let o = run(&http_probe(true, port, None, Some(&right)), T).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(o.detail, "HTTP 200 OK");
    let o = run(&http_probe(true, port, None, Some(&wrong)), T).await;
    assert!(!o.ok);
    assert_eq!(
        o.detail,
        format!("GET https://127.0.0.1:{port}/health?x=1: TLS: invalid peer certificate: UnknownIssuer")
    );
    // Without `ca`, the system roots, which do not hold this test CA (or are missing): refused too.
    let o = run(&http_probe(true, port, None, None), Duration::from_secs(2)).await;
    assert!(!o.ok);
    assert!(o.detail.ends_with("UnknownIssuer") || o.detail.contains("no system root certificates"), "{o:?}");
    // A CA of the same name but another key.
    let o = run(&http_probe(true, port, None, Some(&forged)), T).await;
    assert!(!o.ok);
    assert_eq!(
        o.detail,
        format!("GET https://127.0.0.1:{port}/health?x=1: TLS: invalid peer certificate: BadSignature")
    );
}

#[tokio::test]
async fn https_probe_checks_the_host_name_against_the_certificate() {
    let dir = crate::test_env::fresh_dir("https", "name");
    let (pem, acceptor) = tls_identity("test", &["localhost", "192.0.2.1"]);
    let ca = write_pem(&dir, "ca.pem", &pem);
    let port = https_server(acceptor, vec!["unused"]).await;
    let o = run(&http_probe(true, port, None, Some(&ca)), T).await;
    assert!(!o.ok);
    assert_eq!(
        o.detail,
        format!(
            "GET https://127.0.0.1:{port}/health?x=1: TLS: invalid peer certificate: certificate not valid for name \"127.0.0.1\"; \
             certificate is only valid for DnsName(\"localhost\") or IpAddress(192.0.2.1)"
        )
    );
}

#[tokio::test]
async fn https_probe_checks_the_body() {
    let dir = crate::test_env::fresh_dir("https", "body");
    let (pem, acceptor) = tls_identity("test", &["127.0.0.1"]);
    let ca = write_pem(&dir, "ca.pem", &pem);
    let port = https_server(
        acceptor,
        vec!["HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nstatus OK", "HTTP/1.1 200 OK\r\n\r\nstatus: degraded\n"],
    )
    .await;
    let probe = http_probe(true, port, Some("OK"), Some(&ca));
    let o = run(&probe, T).await;
    assert!(o.ok, "{o:?}");
    let o = run(&probe, T).await;
    assert!(!o.ok);
    assert_eq!(o.detail, r#"HTTP 200 OK but the body lacks "OK" (it starts "status: degraded")"#);
}

#[tokio::test]
async fn https_probe_says_what_is_wrong_with_the_ca_file() {
    let dir = crate::test_env::fresh_dir("https", "cafile");
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let missing = dir.join("missing.pem");
    let o = run(&http_probe(true, port, None, Some(&missing)), T).await;
    assert_eq!(
        (o.ok, o.detail),
        (
            false,
            format!("GET https://127.0.0.1:{port}/health?x=1: ca {}: No such file or directory", missing.display())
        )
    );
    let empty = write_pem(&dir, "empty.pem", "not a certificate\n");
    let o = run(&http_probe(true, port, None, Some(&empty)), T).await;
    assert!(!o.ok && o.detail.contains("no certificate in the file"), "{o:?}");
    let big = write_pem(&dir, "big.pem", &"x".repeat(1024 * 1024 + 1));
    let o = run(&http_probe(true, port, None, Some(&big)), T).await;
    assert!(!o.ok && o.detail.ends_with("larger than 1024 KiB"), "{o:?}");
    // A silent server: the handshake is bounded by the check's timeout.
    let (pem, _) = tls_identity("test", &["127.0.0.1"]);
    let ca = write_pem(&dir, "ca.pem", &pem);
    let o = run(&http_probe(true, port, None, Some(&ca)), Duration::from_millis(100)).await;
    assert_eq!(o.detail, format!("GET https://127.0.0.1:{port}/health?x=1 timed out after 100 ms"));
    drop(l);
}

#[test]
fn status_line_parsing() {
    assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some((200, "HTTP 200 OK".into())));
    assert_eq!(parse_status_line(b"HTTP/1.0 503\r\nx"), Some((503, "HTTP 503".into())));
    assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), None, "no line end yet");
    assert_eq!(parse_status_line(b"HTTP/2 200 OK\r\n"), None);
    assert_eq!(parse_status_line(b"HTTP/1.1 20 OK\r\n"), None);
    assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK\r\n"), None);
    assert_eq!(parse_status_line(b"\xff\xfe\n"), None);
    assert_eq!(parse_status_line(b""), None);
    // The reason phrase is the server's text: escaped.
    assert_eq!(
        parse_status_line(b"HTTP/1.1 200 OK\x1b[2J\x1b[31m \xc2\x9b\t!\r\n"),
        Some((200, r"HTTP 200 OK\x1b[2J\x1b[31m \u{9b}\t!".into()))
    );
}

#[tokio::test]
async fn file_probe_exists_absent_and_invert() {
    let path = std::env::temp_dir().join(format!("anycastd-probe-test-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let p = path.display().to_string();
    let present = Probe::File { path: path.clone(), invert: false };
    let absent = Probe::File { path: path.clone(), invert: true };
    let o = run(&present, T).await;
    assert_eq!((o.ok, o.detail), (false, format!("{p} is missing")));
    assert_eq!(run(&absent, T).await.detail, format!("{p} is absent"));
    std::fs::write(&path, b"maintenance").unwrap();
    let o = run(&present, T).await;
    assert_eq!((o.ok, o.detail), (true, format!("{p} exists")));
    let o = run(&absent, T).await;
    assert_eq!((o.ok, o.detail), (false, format!("{p} exists (expected absent)")));
    std::fs::remove_file(&path).unwrap();
}
