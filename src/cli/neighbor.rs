//! `anycastd status --neighbor IP`: one neighbor in detail — its state, the negotiated hold
//! and keepalive times, the peer's router id and capabilities, what we advertise and sent, its
//! counters, last error and last NOTIFICATION each way. Exit status: 0 the neighbor serves
//! (Established, and its BFD Up where it has BFD), 1 it does not, or the daemon has no such
//! neighbor (only the running daemon knows its neighbors: the config on disk may differ, so
//! this is an answer, not a usage error; a malformed address is one, 64, from the argument
//! parser), 2 the daemon is unreachable.
//!
//! Every string shown is escaped once more here ([`shown`]): the daemon escapes peer text
//! where it enters, but this view must not pass a control character to the terminal whatever
//! answers on the socket. The [`NeighborStatus`] is destructured without `..`, so a new field
//! does not compile here until this view has decided what to show of it.

use super::Outcome;
use crate::status::{Md5Counters, NeighborStatus, SessionStatus};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

/// `status --neighbor IP [--json]`.
pub fn status(path: &Path, ip: IpAddr, json: bool) -> Outcome {
    let doc = match super::client::fetch_status(path) {
        Ok(d) => d,
        Err(o) => return o,
    };
    let Some(n) = doc.neighbors.iter().find(|n| n.remote_ip == Some(ip)) else {
        let all: Vec<String> = doc.neighbors.iter().filter_map(|n| n.remote_ip).map(|i| i.to_string()).collect();
        let all = if all.is_empty() { "none".to_string() } else { all.join(", ") };
        return Outcome::err(1, format!("no neighbor {ip} in the running daemon; its neighbors are: {all}"));
    };
    let stdout = if json {
        format!("{}\n", serde_json::to_string_pretty(n).unwrap_or_default())
    } else {
        render(n, doc.tcp_md5.as_ref())
    };
    Outcome { stdout, stderr: String::new(), code: if n.serving() { 0 } else { 1 } }
}

/// Escapes what would reach the terminal as a control character (C0, DEL, C1, bidi), keeping
/// backslashes and quotes as they are (text the daemon escaped already stays readable).
pub fn shown(s: &str) -> String {
    let mut buf = [0u8; 4];
    s.chars()
        .map(|c| match c {
            '\\' | '"' => c.to_string(),
            c => crate::wire::text::escape(c.encode_utf8(&mut buf).as_bytes()),
        })
        .collect()
}

fn hms(s: u64) -> String {
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn secs(v: Option<u16>) -> String {
    v.map_or_else(|| "-".to_string(), |s| format!("{s} s"))
}

/// The detail text of one neighbor; `tcp_md5`, the kernel's drop counters of the daemon's
/// namespace, shown for a keyed neighbor or when they count signed segments nobody expects.
pub fn render(n: &NeighborStatus, tcp_md5: Option<&Md5Counters>) -> String {
    let NeighborStatus {
        remote_ip,
        remote_as,
        state,
        established_secs,
        md5,
        md5_diagnosis,
        session,
        last_error,
        last_notification_sent,
        last_notification_received,
        msgs_in,
        msgs_out,
        updates_in,
        updates_out,
        prefixes_received_v4,
        prefixes_received_v6,
        update_errors,
        advertised,
        last_update_latency_us,
        established_count,
        flaps,
        bfd,
        notifications,
    } = n;
    let mut out = String::new();
    let ip = remote_ip.map_or_else(|| "?".to_string(), |i| i.to_string());
    let up = established_secs.map(|s| format!(" for {}", hms(s))).unwrap_or_default();
    let md5 = if *md5 { ", TCP-MD5" } else { "" };
    let _ = writeln!(out, "neighbor {ip} AS{remote_as}: {state}{up}{md5}");
    if let Some(d) = md5_diagnosis {
        let _ = writeln!(out, "  diagnosis: {}", shown(d));
    }
    if let Some(c) = tcp_md5.filter(|c| n.md5 || c.unexpected > 0) {
        super::status::md5_counters_line(&mut out, c);
    }
    if let Some(s) = session {
        session_lines(&mut out, s);
    }
    let adv = if advertised.is_empty() { "nothing".to_string() } else { shown(&advertised.join(", ")) };
    let _ = writeln!(out, "  advertised now ({}): {adv}", advertised.len());
    let _ = writeln!(
        out,
        "  prefixes received: v4 {prefixes_received_v4} v6 {prefixes_received_v6}; UPDATE errors (RFC 7606) {update_errors}"
    );
    let _ = writeln!(out, "  messages: in {msgs_in} out {msgs_out}; UPDATEs in {updates_in} out {updates_out}");
    let latency = last_update_latency_us.map_or_else(|| "-".to_string(), |us| format!("{us} µs"));
    let _ =
        writeln!(out, "  established {established_count} times, flaps {flaps}; last decision → wire latency {latency}");
    for (k, v) in [
        ("last error", last_error),
        ("last NOTIFICATION sent", last_notification_sent),
        ("last NOTIFICATION received", last_notification_received),
    ] {
        let v = v.as_deref().map_or_else(|| "none".to_string(), shown);
        let _ = writeln!(out, "  {k}: {v}");
    }
    if !notifications.is_empty() {
        let by_code: Vec<String> = notifications
            .iter()
            .map(|c| {
                let code = |v: Option<u8>| v.map_or_else(|| "other".to_string(), |v| v.to_string());
                format!("{} {}/{} ×{}", c.direction.name(), code(c.code), code(c.subcode), c.count)
            })
            .collect();
        let _ = writeln!(out, "  NOTIFICATIONs by code/subcode: {}", by_code.join(", "));
    }
    if let Some(b) = bfd {
        super::status::bfd_line(&mut out, b, true);
    }
    out
}

fn session_lines(out: &mut String, s: &SessionStatus) {
    let SessionStatus {
        hold_time_offered,
        hold_time,
        keepalive,
        peer_hold_time,
        peer_router_id,
        peer_as,
        peer_capabilities,
        families,
        four_octet_as,
        route_refresh,
        enhanced_route_refresh,
        extended_message,
        graceful_restart,
        prefixes_announced_v4,
        prefixes_announced_v6,
        prefixes_withdrawn_v4,
        prefixes_withdrawn_v6,
        notifications_sent,
        notifications_received,
    } = s;
    let _ = writeln!(
        out,
        "  hold time: {} negotiated (we offer {hold_time_offered} s, the peer {}); keepalive {}",
        secs(*hold_time),
        secs(*peer_hold_time),
        secs(*keepalive)
    );
    match (peer_router_id, peer_as) {
        (Some(id), Some(asn)) => {
            let _ = writeln!(out, "  peer: router id {id}, AS {asn}");
        }
        _ => {
            let _ = writeln!(out, "  peer: no OPEN exchanged on a live connection");
        }
    }
    if hold_time.is_some() {
        let mut neg: Vec<String> = families.iter().map(|f| shown(f)).collect();
        for (on, name) in [
            (four_octet_as, "four-octet-as"),
            (route_refresh, "route-refresh"),
            (enhanced_route_refresh, "enhanced-route-refresh"),
            (extended_message, "extended-message"),
            (graceful_restart, "graceful-restart"),
        ] {
            if *on {
                neg.push(name.to_string());
            }
        }
        let _ = writeln!(out, "  negotiated: {}", neg.join(", "));
        let caps: Vec<String> = peer_capabilities.iter().map(|c| shown(c)).collect();
        let _ = writeln!(out, "  peer capabilities: {}", if caps.is_empty() { "none".into() } else { caps.join(", ") });
    }
    let _ = writeln!(
        out,
        "  prefixes sent: announced v4 {prefixes_announced_v4} v6 {prefixes_announced_v6}, withdrawn v4 {prefixes_withdrawn_v4} v6 {prefixes_withdrawn_v6}"
    );
    let _ = writeln!(out, "  NOTIFICATIONs: sent {notifications_sent}, received {notifications_received}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Direction, NeighborState, NotificationCount};

    fn established() -> NeighborStatus {
        NeighborStatus {
            remote_ip: Some("192.0.2.1".parse().unwrap()),
            remote_as: 65000,
            state: NeighborState::Established,
            established_secs: Some(3725),
            md5: true,
            session: Some(SessionStatus {
                hold_time_offered: 9,
                hold_time: Some(9),
                keepalive: Some(3),
                peer_hold_time: Some(90),
                peer_router_id: Some("192.0.2.1".parse().unwrap()),
                peer_as: Some(65000),
                peer_capabilities: vec!["multiprotocol ipv4-unicast".into(), "fqdn rtr\x1b[2J".into()],
                families: vec!["ipv4-unicast".into()],
                four_octet_as: true,
                route_refresh: true,
                prefixes_announced_v4: 3,
                prefixes_withdrawn_v4: 2,
                notifications_received: 1,
                ..Default::default()
            }),
            last_notification_received: Some("Cease (6) / Administrative Reset (4): \"bye\\n\x1b[31m\"".into()),
            advertised: vec!["203.0.113.124/32".into()],
            notifications: vec![
                NotificationCount { direction: Direction::Received, code: Some(6), subcode: Some(4), count: 1 },
                NotificationCount { direction: Direction::Sent, code: None, subcode: None, count: 2 },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn shows_the_negotiated_session_the_peer_and_what_was_sent() {
        let t = render(&established(), None);
        for want in [
            "neighbor 192.0.2.1 AS65000: Established for 01:02:05, TCP-MD5\n",
            "  hold time: 9 s negotiated (we offer 9 s, the peer 90 s); keepalive 3 s\n",
            "  peer: router id 192.0.2.1, AS 65000\n",
            "  negotiated: ipv4-unicast, four-octet-as, route-refresh\n",
            "  advertised now (1): 203.0.113.124/32\n",
            "  prefixes sent: announced v4 3 v6 0, withdrawn v4 2 v6 0\n",
            "  NOTIFICATIONs: sent 0, received 1\n",
            "  last NOTIFICATION sent: none\n",
            "  NOTIFICATIONs by code/subcode: received 6/4 ×1, sent other/other ×2\n",
        ] {
            assert!(t.contains(want), "{want:?} missing in:\n{t}");
        }
    }

    #[test]
    fn no_control_character_reaches_the_terminal() {
        let t = render(&established(), None);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        // What the daemon escaped already is shown as it is, not escaped twice.
        assert!(t.contains(r#"Administrative Reset (4): "bye\n\x1b[31m""#), "{t}");
        assert!(t.contains(r"fqdn rtr\x1b[2J"), "{t}");
    }

    #[test]
    fn a_neighbor_without_a_session_says_so() {
        let n = NeighborStatus {
            remote_ip: Some("192.0.2.2".parse().unwrap()),
            remote_as: 65000,
            state: NeighborState::AdminDown,
            session: Some(SessionStatus { hold_time_offered: 90, ..Default::default() }),
            ..Default::default()
        };
        let t = render(&n, None);
        assert!(t.starts_with("neighbor 192.0.2.2 AS65000: AdminDown\n"), "{t}");
        assert!(t.contains("  hold time: - negotiated (we offer 90 s, the peer -); keepalive -\n"), "{t}");
        assert!(t.contains("  peer: no OPEN exchanged on a live connection\n"), "{t}");
        assert!(!t.contains("negotiated:"), "{t}");
        assert!(!n.serving());
    }
}
