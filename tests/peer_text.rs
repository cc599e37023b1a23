//! Text a BGP peer chose never reaches a log line, `status` or JSON raw (the lesson of ExaBGP
//! 5.0.13's security fix). A scripted raw peer on loopback brings a real [`Speaker`] to
//! Established and sends Cease / Administrative Shutdown with an RFC 9003 shutdown
//! communication that tries to forge a log line (`\n` + a timestamp), colour the terminal
//! (ESC), reorder what the operator reads (U+202E) and smuggle a byte that is not UTF-8:
//!
//! ```text
//!   anycastd Speaker 127.77.0.1 (AS 65124, active)  ──connects to──▶  raw peer 127.77.0.2:<os port>
//! ```
//!
//! The tracing output of the run (captured in a buffer), the `anycastd status` text rendered
//! from the speaker's real status, and that status as JSON must all show the text escaped, as
//! decoded by the one constructor, [`anycastd::wire::PeerText`]. The offline decoder's JSON
//! (`anycastd decode`) of the same NOTIFICATION and of an OPEN with a hostile FQDN capability
//! is checked too. Every wait is bounded.

use anycastd::cli::decode::decode_stream;
use anycastd::status::{NeighborStatus, StatusDoc};
use anycastd::wire::SessionParams;
use common::bgp_bytes::{cap_param, msg, open_with, std_caps};
use common::log_capture::Capture;
use common::one_peer::established;
use common::raw_peer::STEP;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::time::Instant;

#[allow(dead_code)]
mod common;

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 2);

/// What the peer sends: a forged log line, an ANSI colour, a byte that is not UTF-8, RLO.
const HOSTILE: &[u8] = b"bye\n2026-12-01T00:00:00Z  INFO forged line\x1b[31m\xff\xe2\x80\xae";
/// How anycastd must show it, everywhere.
const ESCAPED: &str = r"bye\n2026-12-01T00:00:00Z  INFO forged line\x1b[31m\xff\u{202e}";

/// Fails with what `where_` shows if it carries the text raw, replaced or not at all.
fn assert_escaped(where_: &str, shown: &str) {
    assert!(shown.contains(ESCAPED), "{where_}: escaped text missing:\n{shown}");
    for (i, line) in shown.lines().enumerate() {
        assert!(!line.starts_with("2026-12-01T00:00:00Z"), "{where_}: line {i} forged by the peer:\n{shown}");
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{202e}' || c == '\u{fffd}'),
            "{where_}: line {i} carries a raw or silently replaced character: {line:?}"
        );
    }
}

/// Cease (6) / Administrative Shutdown (2) with `text` as its RFC 9003 communication.
fn shutdown_notification(text: &[u8]) -> Vec<u8> {
    let mut body = vec![6, 2, u8::try_from(text.len()).unwrap()];
    body.extend_from_slice(text);
    msg(3, &body)
}

/// The peer's NOTIFICATION, shown in the log, the status text and the status JSON.
#[tokio::test(flavor = "current_thread")]
async fn shutdown_communication_is_escaped_in_log_status_and_json() {
    let log = Capture::default();
    // Current-thread runtime: the speaker's tasks run on this thread, under this subscriber.
    let _guard = log.install();

    let (sp, mut p) = established(LOCAL, PEER).await;
    log.wait_for("session established", STEP).await;
    p.send(&shutdown_notification(HOSTILE)).await.unwrap();

    // Log: the warning and the state change both carry the text.
    let text = log.wait_for("received NOTIFICATION", STEP).await;
    assert_escaped("log", &text);

    // Status: the Speaker publishes no change event; poll its status, bounded.
    let end = Instant::now() + STEP;
    let n: NeighborStatus = loop {
        let s = sp.status().into_iter().find(|s| s.remote_ip == Some(IpAddr::V4(PEER))).unwrap();
        if s.last_notification_received.is_some() {
            break s;
        }
        assert!(Instant::now() < end, "status never showed the NOTIFICATION: {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let doc = StatusDoc { version: "test".into(), neighbors: vec![n], ..StatusDoc::default() };
    let rendered = anycastd::cli::status::render(&doc, true);
    assert!(rendered.contains("last notification received: Cease (6) / Administrative Shutdown (2)"), "{rendered}");
    assert_escaped("status text", &rendered);

    // JSON: the decoded string values, not just the escaped wire form.
    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
    let neighbor = &json["neighbors"][0];
    for key in ["last_notification_received", "last_error"] {
        let v = neighbor[key].as_str().unwrap_or_else(|| panic!("no {key} in {neighbor}"));
        assert_escaped(&format!("status JSON {key}"), v);
    }
    sp.shutdown("test over", Duration::from_secs(1)).await;
}

/// `anycastd decode` prints peer text escaped in its JSON: the shutdown communication and the
/// FQDN capability's hostname and domain.
#[test]
fn decode_json_shows_peer_text_escaped() {
    let mut stream = shutdown_notification(HOSTILE);
    let (host, domain): (&[u8], &[u8]) = (b"node\n\x1b[2Jforged", b"ex\xffmp\x07");
    let len = |b: &[u8]| u8::try_from(b.len()).unwrap();
    let fqdn = [&[73, len(host) + len(domain) + 2, len(host)][..], host, &[len(domain)], domain].concat();
    let params = [std_caps(65000), cap_param(&[&fqdn])].concat();
    stream.extend(open_with(4, 65000, 9, [198, 51, 100, 2], &params));
    let out = decode_stream(&stream, &SessionParams::default());
    assert_eq!(out.lines.len(), 2, "{:?}", out.lines);
    let sc = out.lines[0]["shutdown_communication"].as_str().unwrap();
    assert_escaped("decode shutdown_communication", sc);
    let caps = out.lines[1]["capabilities"].as_array().unwrap();
    let fqdn = caps.iter().find(|c| c["code"] == 73).unwrap_or_else(|| panic!("no FQDN in {caps:?}"));
    assert_eq!(fqdn["hostname"], r"node\n\x1b[2Jforged", "{fqdn}");
    assert_eq!(fqdn["domainname"], r"ex\xffmp\x07", "{fqdn}");
}
