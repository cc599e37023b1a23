//! `anycastd status [-v] [--json]`: the daemon's state at a glance, read like `escadm status -v`
//! ("anycastd PRIMARY — advertising 203.0.113.124/32 to 2/2 neighbors"). Exit status: 0 healthy
//! and every neighbor Established, 1 unhealthy or a neighbor down, 2 daemon unreachable.

use serde_json::Value;
use std::fmt::Write as _;

/// Exit status for a status document.
pub fn exit_code(s: &Value) -> u8 {
    let healthy = s["healthy"].as_bool().unwrap_or(false);
    let all_up = s["neighbors"].as_array().is_some_and(|n| n.iter().all(|n| n["state"] == "Established"));
    if healthy && all_up {
        0
    } else {
        1
    }
}

fn secs(s: u64) -> String {
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Human-readable rendering; `verbose` adds checks, counters and last errors.
pub fn render(s: &Value, verbose: bool) -> String {
    let mut out = String::new();
    let role = s["role"].as_str().unwrap_or("unknown").to_uppercase();
    let adv: Vec<&str> =
        s["advertising"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let ns = s["neighbors"].as_array().cloned().unwrap_or_default();
    let up = ns.iter().filter(|n| n["state"] == "Established").count();
    let what =
        if adv.is_empty() { "advertising nothing".to_string() } else { format!("advertising {}", adv.join(", ")) };
    let _ = writeln!(out, "anycastd {role} — {what} to {up}/{} neighbors", ns.len());
    if let Some(r) = s["reason"].as_str() {
        let _ = writeln!(out, "  decision: {r}");
    }
    let health = if s["healthy"].as_bool().unwrap_or(false) { "healthy" } else { "UNHEALTHY" };
    let drained = if s["drained"].as_bool().unwrap_or(false) { ", DRAINED" } else { "" };
    let _ = writeln!(out, "  health: {health}{drained}; role source: {}", s["role_detail"].as_str().unwrap_or("-"));
    for c in s["checks"].as_array().into_iter().flatten() {
        let state = if c["healthy"].as_bool().unwrap_or(false) { "ok  " } else { "FAIL" };
        let _ = write!(out, "  check {state} {}", c["name"].as_str().unwrap_or("?"));
        if verbose {
            let _ = write!(
                out,
                "  last: {} ({} ms)  ok {} / fail {} in a row",
                c["detail"].as_str().unwrap_or("-"),
                c["duration_ms"].as_u64().unwrap_or(0),
                c["consecutive_ok"].as_u64().unwrap_or(0),
                c["consecutive_fail"].as_u64().unwrap_or(0)
            );
        }
        out.push('\n');
    }
    for n in &ns {
        let state = n["state"].as_str().unwrap_or("?");
        let up = n["established_secs"].as_u64().map(|s| format!(" {}", secs(s))).unwrap_or_default();
        let md5 = if n["md5"].as_bool().unwrap_or(false) { " md5" } else { "" };
        let _ = write!(
            out,
            "  neighbor {} AS{} {state}{up}{md5}",
            n["remote_ip"].as_str().unwrap_or("?"),
            n["remote_as"].as_u64().unwrap_or(0)
        );
        if verbose {
            let _ = write!(
                out,
                "  msgs in {} out {}  updates in {} out {}  prefixes received v4 {} v6 {}",
                n["msgs_in"],
                n["msgs_out"],
                n["updates_in"],
                n["updates_out"],
                n["prefixes_received_v4"],
                n["prefixes_received_v6"]
            );
        }
        out.push('\n');
        for k in ["last_error", "last_notification_sent", "last_notification_received"] {
            if let Some(e) = n[k].as_str() {
                if verbose || state != "Established" {
                    let _ = writeln!(out, "    {}: {e}", k.replace('_', " "));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_like_escadm() {
        let s = json!({
            "role": "primary", "role_detail": "static", "healthy": true, "drained": false,
            "advertising": ["203.0.113.124/32"],
            "checks": [],
            "neighbors": [
                {"remote_ip": "192.0.2.1", "remote_as": 65000, "state": "Established", "established_secs": 3725, "md5": true},
                {"remote_ip": "192.0.2.2", "remote_as": 65000, "state": "Active", "md5": true, "last_error": "connect to 192.0.2.2:179 timed out after 5 s"}
            ]
        });
        let t = render(&s, false);
        assert!(t.starts_with("anycastd PRIMARY — advertising 203.0.113.124/32 to 1/2 neighbors\n"), "{t}");
        assert!(t.contains("neighbor 192.0.2.1 AS65000 Established 01:02:05 md5"), "{t}");
        assert!(t.contains("last error: connect to 192.0.2.2:179 timed out"), "{t}");
        assert_eq!(exit_code(&s), 1);
        let mut ok = s.clone();
        ok["neighbors"].as_array_mut().unwrap().pop();
        assert_eq!(exit_code(&ok), 0);
        ok["healthy"] = json!(false);
        assert_eq!(exit_code(&ok), 1);
    }
}
