//! `anycastd status [-v] [--json]`: the daemon's state at a glance, read like `escadm status -v`
//! ("anycastd PRIMARY — advertising 203.0.113.124/32 to 2/2 neighbors"). Exit status: 0 all well,
//! 1 degraded (unhealthy, a neighbor down, role unknown, drained), 2 daemon unreachable.
//!
//! It reads the typed [`StatusDoc`], destructured without `..`: a field renamed or added in the
//! document does not compile here until this view has decided what to show of it.

use crate::ha::engine::EngineStatus;
use crate::ha::status::{CheckStatus, DrainStatus, HaStatus};
use crate::ha::track::TrackStatus;
use crate::ha::vrrp::{SplitBrainStatus, VrrpWatchStatus};
use crate::status::{InboundStatus, Md5Counters, NeighborState, NeighborStatus, ServiceStatus, StatusDoc};
use std::fmt::Write as _;

/// Exit status for a status document: 0 only when all is well: healthy, every neighbor Established, every role known and nothing
/// drained. 1 (degraded) otherwise: a role `unknown` or a drain is not "all well" either,
/// though the node may be doing exactly what it should.
pub fn exit_code(s: &StatusDoc) -> u8 {
    let well = |h: &crate::ha::HaStatus| h.healthy && h.role != crate::ha::Role::Unknown && !h.drained;
    if well(&s.ha) && s.services.iter().all(|v| well(&v.ha)) && s.all_established() {
        0
    } else {
        1
    }
}

fn secs(s: u64) -> String {
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Human-readable rendering; `verbose` adds checks, counters and last errors. Several services:
/// a headline for the node, then each service's decision, role, health and checks.
pub fn render(s: &StatusDoc, verbose: bool) -> String {
    let StatusDoc { version: _, ha, neighbors, inbound, track, services, tcp_md5 } = s;
    let mut out = String::new();
    let up = neighbors.iter().filter(|n| n.serving()).count();
    if services.len() > 1 {
        let on = services.iter().filter(|v| !v.ha.advertising.is_empty()).count();
        let _ = writeln!(
            out,
            "anycastd — {on}/{} services advertising to {up}/{} neighbors",
            services.len(),
            neighbors.len()
        );
        for ServiceStatus { name, prefixes, failovers, track: own_track, ha } in services {
            let what = if ha.advertising.is_empty() {
                format!("withdrawn ({})", prefixes.join(", "))
            } else {
                format!("advertising {}", ha.advertising.join(", "))
            };
            let _ = writeln!(out, "service {name}: {} — {what}", ha.role.name().to_uppercase());
            decision_lines(&mut out, ha, Some(*failovers), verbose);
            track_line(&mut out, own_track.as_ref());
        }
    } else {
        let what = if ha.advertising.is_empty() {
            "advertising nothing".to_string()
        } else {
            format!("advertising {}", ha.advertising.join(", "))
        };
        let role = ha.role.name().to_uppercase();
        let _ = writeln!(out, "anycastd {role} — {what} to {up}/{} neighbors", neighbors.len());
        decision_lines(&mut out, ha, None, verbose);
    }
    track_line(&mut out, track.as_ref());
    for n in neighbors {
        neighbor_lines(&mut out, n, tcp_md5.as_ref(), verbose);
    }
    inbound_line(&mut out, inbound, verbose);
    out
}

/// One decision: why, health and role source (and the service's failovers), keepalived's
/// liveness, the checks.
fn decision_lines(out: &mut String, ha: &HaStatus, failovers: Option<u64>, verbose: bool) {
    let HaStatus {
        role: _,
        role_detail,
        healthy,
        drained,
        drain: DrainStatus { state: _, remaining_ms: _ },
        advertising: _,
        advert_state: _,
        prepend: _,
        med: _,
        communities: _,
        reason,
        checks,
        role_engine,
        split_brain,
        vrrp_watch,
        etcd,
        decisions,
    } = ha;
    if !reason.is_empty() {
        let _ = writeln!(out, "  decision: {reason}");
    }
    let health = if *healthy { "healthy" } else { "UNHEALTHY" };
    let drained = if *drained { ", DRAINED" } else { "" };
    let detail = if role_detail.is_empty() { "-" } else { role_detail };
    let failovers = failovers.map(|n| format!("; failovers: {n}")).unwrap_or_default();
    let _ = writeln!(out, "  health: {health}{drained}; role source: {detail}{failovers}");
    role_engine_lines(out, role_engine.as_ref(), split_brain.as_ref(), vrrp_watch.as_ref(), verbose);
    if let Some(e) = etcd {
        etcd_line(out, e, verbose);
    }
    for c in checks {
        check_line(out, c, verbose);
    }
    if verbose {
        history_lines(out, decisions);
    }
}

/// The failover timeline (`-v`): one line per decision, oldest first, with its time, state,
/// cause and reason.
fn history_lines(out: &mut String, decisions: &[crate::ha::history::DecisionRecord]) {
    if decisions.is_empty() {
        return;
    }
    let _ = writeln!(out, "  last {} decisions (oldest first):", decisions.len());
    for crate::ha::history::DecisionRecord { at, at_unix_ms: _, state, advertised: _, cause, reason } in decisions {
        let state = match state {
            crate::ha::AdvertState::Advertising => "advertising".to_string(),
            crate::ha::AdvertState::Standby(n) => format!("standby+{n}"),
            crate::ha::AdvertState::Draining => "draining".to_string(),
            crate::ha::AdvertState::Withdrawn => "withdrawn".to_string(),
        };
        let _ = writeln!(out, "    {at}  {state:<11}  {cause} → {reason}");
    }
}

/// The etcd election (or followed key): the leader, this node's candidacy, the fence. Names
/// and errors from etcd arrive escaped (`ha::etcd`).
fn etcd_line(out: &mut String, e: &crate::ha::etcd::EtcdStatus, verbose: bool) {
    let crate::ha::etcd::EtcdStatus {
        mode,
        name,
        candidate,
        candidacy,
        leader,
        fencing_token,
        lease_id,
        lease_ttl_ms,
        fence_margin_ms,
        fence_in_ms,
        endpoint,
        error,
        won,
    } = e;
    let leader = leader.as_deref().unwrap_or("none known");
    let what = if mode == "follow" { "key" } else { "election" };
    let holder = if mode == "follow" { "holds" } else { "leader" };
    let mut line = format!("  etcd {what} {name}: {holder} {leader}; this node ({candidate}): {candidacy}");
    if let Some(t) = fencing_token {
        line.push_str(&format!("; fencing token {t}"));
    }
    if let Some(ms) = fence_in_ms {
        line.push_str(&format!("; withdraws on its own in {ms} ms unless etcd confirms"));
    }
    if verbose {
        let lease = lease_id.map_or("none".to_string(), |l| format!("{l:x}"));
        let via = endpoint.as_deref().unwrap_or("-");
        line.push_str(&format!(
            "; lease {lease} (TTL {lease_ttl_ms} ms, margin {fence_margin_ms} ms); won {won} times; via {via}"
        ));
    }
    if let Some(err) = error {
        line.push_str(&format!("; last error: {err}"));
    }
    let _ = writeln!(out, "{line}");
}

fn track_line(out: &mut String, track: Option<&TrackStatus>) {
    if let Some(TrackStatus { path, value, why, error }) = track {
        let error = error.as_ref().map(|e| format!("; WRITE FAILED: {e}")).unwrap_or_default();
        let _ = writeln!(out, "  track file: {value} in {path} ({why}){error}");
    }
}

/// keepalived's liveness, the split-brain warning and, when it is off (or with `-v`), the
/// VRRP advert watch. Every string here is anycastd's own (peer data is only parsed numbers
/// and an address).
fn role_engine_lines(
    out: &mut String,
    engine: Option<&EngineStatus>,
    split: Option<&SplitBrainStatus>,
    watch: Option<&VrrpWatchStatus>,
    verbose: bool,
) {
    if let Some(EngineStatus { up: _, pid: _, pidfile: _, detail }) = engine {
        let _ = writeln!(out, "  keepalived: {detail}");
    }
    if let Some(SplitBrainStatus { vrid: _, source: _, priority: _, version: _, interval_ms: _, age_ms: _, message }) =
        split
    {
        let _ = writeln!(out, "  warning: {message}");
    }
    if let Some(VrrpWatchStatus { vrid, listening, note, adverts_from_others, adverts_while_master }) = watch {
        match note {
            Some(n) if !listening => {
                let _ = writeln!(out, "  vrrp watch: off: {n}");
            }
            _ if verbose => {
                let _ = writeln!(
                    out,
                    "  vrrp watch: vrid {vrid}, listening; adverts from other nodes: {adverts_from_others} \
                     ({adverts_while_master} while MASTER here)"
                );
            }
            _ => {}
        }
    }
}

/// Refused inbound connections: shown when there are any (or with `-v`).
fn inbound_line(out: &mut String, i: &InboundStatus, verbose: bool) {
    let InboundStatus {
        refused_unconfigured,
        refused_wrong_listener,
        refused_unprotected,
        refused_busy,
        accept_errors,
    } = i;
    let all = [refused_unconfigured, refused_wrong_listener, refused_unprotected, refused_busy, accept_errors];
    if !verbose && all.iter().all(|n| **n == 0) {
        return;
    }
    let _ = writeln!(
        out,
        "  inbound refused: {refused_unconfigured} unconfigured, {refused_wrong_listener} wrong listener, \
         {refused_unprotected} unprotected, {refused_busy} busy; accept errors {accept_errors}"
    );
}

fn check_line(out: &mut String, c: &CheckStatus, verbose: bool) {
    let CheckStatus {
        name,
        healthy,
        stalled: _,
        consecutive_ok,
        consecutive_fail,
        rise: _,
        fall: _,
        interval_ms: _,
        ok: _,
        detail,
        duration_ms,
        age_ms: _,
        durations: _,
    } = c;
    let state = if *healthy { "ok  " } else { "FAIL" };
    let _ = write!(out, "  check {state} {name}");
    if verbose {
        let _ = write!(
            out,
            "  last: {} ({} ms)  ok {consecutive_ok} / fail {consecutive_fail} in a row",
            detail.as_deref().unwrap_or("-"),
            duration_ms.unwrap_or(0),
        );
    }
    out.push('\n');
}

/// `    tcp-md5 drops (kernel, whole namespace, since start): 3 bad digest, 0 no MD5 option, 0
/// unexpected MD5 option`.
pub(super) fn md5_counters_line(out: &mut String, c: &Md5Counters) {
    let Md5Counters { failure, not_found, unexpected } = c;
    let _ = writeln!(
        out,
        "    tcp-md5 drops (kernel, whole namespace, since start): {failure} bad digest, {not_found} no MD5 option, \
         {unexpected} unexpected MD5 option"
    );
}

fn neighbor_lines(out: &mut String, n: &NeighborStatus, tcp_md5: Option<&Md5Counters>, verbose: bool) {
    let NeighborStatus {
        remote_ip,
        remote_as,
        state,
        established_secs,
        md5,
        md5_diagnosis,
        session: _,
        last_error,
        last_notification_sent,
        last_notification_received,
        msgs_in,
        msgs_out,
        updates_in,
        updates_out,
        prefixes_received_v4,
        prefixes_received_v6,
        update_errors: _,
        advertised: _,
        last_update_latency_us: _,
        established_count: _,
        flaps: _,
        bfd,
        notifications: _,
    } = n;
    let ip = remote_ip.map(|i| i.to_string()).unwrap_or_else(|| "?".into());
    let up = established_secs.map(|s| format!(" {}", secs(s))).unwrap_or_default();
    let md5 = if *md5 { " md5" } else { "" };
    let _ = write!(out, "  neighbor {ip} AS{remote_as} {state}{up}{md5}");
    if verbose {
        let _ = write!(
            out,
            "  msgs in {msgs_in} out {msgs_out}  updates in {updates_in} out {updates_out}  prefixes received v4 {prefixes_received_v4} v6 {prefixes_received_v6}",
        );
    }
    out.push('\n');
    if let Some(b) = bfd {
        bfd_line(out, b, verbose);
    }
    if let Some(d) = md5_diagnosis {
        let _ = writeln!(out, "    diagnosis: {d}");
    }
    let down = *state != NeighborState::Established;
    if let Some(c) = tcp_md5.filter(|c| (verbose || down) && (n.md5 || c.unexpected > 0)) {
        md5_counters_line(out, c);
    }
    for (k, v) in [
        ("last error", last_error),
        ("last notification sent", last_notification_sent),
        ("last notification received", last_notification_received),
    ] {
        if let Some(e) = v {
            if verbose || *state != NeighborState::Established {
                let _ = writeln!(out, "    {k}: {e}");
            }
        }
    }
}

/// `    bfd Up  tx 50 ms  detect 150 ms  remote discr 0x…  up 1 down 0` and, when it is not Up
/// or something weakens it, why.
pub(super) fn bfd_line(out: &mut String, b: &crate::status::BfdStatus, verbose: bool) {
    let crate::status::BfdStatus {
        state,
        remote_state,
        local_diag,
        remote_diag,
        my_discriminator,
        remote_discriminator,
        multihop,
        strict,
        auth,
        interval_ms,
        multiplier,
        tx_interval_us,
        detection_time_us,
        remote_min_rx_us: _,
        remote_min_tx_us: _,
        remote_multiplier: _,
        up_count,
        down_count,
        packets_in,
        packets_out,
        drops,
        tx_suppressed,
        problem,
    } = b;
    let ms = |us: &Option<u64>| us.map(|u| format!("{} ms", u as f64 / 1000.0)).unwrap_or_else(|| "-".into());
    let _ = write!(
        out,
        "    bfd {state}  tx {}  detect {}  remote discr {remote_discriminator:#x}  up {up_count} down {down_count}",
        ms(tx_interval_us),
        ms(detection_time_us)
    );
    if local_diag != "No Diagnostic" {
        let _ = write!(out, "  diag {local_diag}");
    }
    if !strict {
        out.push_str("  strict off");
    }
    out.push('\n');
    if verbose {
        let hop = if *multihop { "multihop" } else { "single hop" };
        let auth = auth.as_deref().unwrap_or("none");
        let _ = writeln!(
            out,
            "      configured {interval_ms} ms x {multiplier} ({hop}, auth {auth})  my discr {my_discriminator:#x}  remote {remote_state} ({remote_diag})  packets in {packets_in} out {packets_out}  not sent (stalled) {tx_suppressed}",
        );
        if !drops.is_empty() {
            let d: Vec<String> = drops.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(out, "      dropped: {}", d.join(", "));
        }
    }
    if let Some(p) = problem {
        let _ = writeln!(out, "    bfd problem: {p}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> StatusDoc {
        serde_json::from_value(serde_json::json!({
            "role": "primary", "role_detail": "static", "healthy": true, "drained": false,
            "advertising": ["203.0.113.124/32"],
            "checks": [],
            "neighbors": [
                {"remote_ip": "192.0.2.1", "remote_as": 65000, "state": "Established", "established_secs": 3725, "md5": true},
                {"remote_ip": "192.0.2.2", "remote_as": 65000, "state": "Active", "md5": true, "last_error": "connect to 192.0.2.2:179 timed out after 5 s"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_stuck_keyed_neighbor_shows_the_diagnosis_and_the_kernel_counters() {
        let mut s = doc();
        s.neighbors[1].md5_diagnosis =
            Some("segments from 192.0.2.2 fail MD5 verification: the keys differ (4 segments failed since the session went down)".into());
        s.tcp_md5 = Some(Md5Counters { failure: 4, not_found: 0, unexpected: 0 });
        let t = render(&s, false);
        assert!(
            t.contains("  neighbor 192.0.2.2 AS65000 Active md5\n    diagnosis: segments from 192.0.2.2 fail MD5 verification: the keys differ (4 segments failed since the session went down)\n    tcp-md5 drops (kernel, whole namespace, since start): 4 bad digest, 0 no MD5 option, 0 unexpected MD5 option\n"),
            "{t}"
        );
        // The Established neighbor shows the counters only in the verbose view.
        assert_eq!(t.matches("tcp-md5 drops").count(), 1, "{t}");
        assert_eq!(render(&s, true).matches("tcp-md5 drops").count(), 2);
        // Not read (no /proc/net/netstat): no line, no made-up zeros.
        s.tcp_md5 = None;
        assert!(!render(&s, true).contains("tcp-md5 drops"));
    }

    #[test]
    fn several_services_each_get_their_block() {
        let mut s = doc();
        s.services = serde_json::from_value(serde_json::json!([
            {"name": "dns", "prefixes": ["203.0.113.53/32"], "failovers": 2, "role": "primary", "healthy": false,
             "advertising": [], "reason": "withdrawn: check `unbound` failed 1/1",
             "checks": [{"name": "unbound", "healthy": false, "ok": false, "detail": "pid 7 from /run/unbound.pid is gone"}]},
            {"name": "web", "prefixes": ["203.0.113.80/32"], "role": "primary", "healthy": true,
             "advertising": ["203.0.113.80/32"], "reason": "advertising: primary, healthy"}
        ]))
        .unwrap();
        let t = render(&s, false);
        assert!(t.starts_with("anycastd — 1/2 services advertising to 1/2 neighbors\n"), "{t}");
        assert!(t.contains("service dns: PRIMARY — withdrawn (203.0.113.53/32)\n  decision: withdrawn: check `unbound` failed 1/1\n"), "{t}");
        assert!(t.contains("UNHEALTHY; role source: -; failovers: 2"), "{t}");
        assert!(t.contains("service web: PRIMARY — advertising 203.0.113.80/32"), "{t}");
        assert!(t.contains("unbound"), "{t}");
        // Unhealthy service: exit 1 even though the top-level keys (another service) are fine.
        s.ha.healthy = true;
        assert_eq!(exit_code(&s), 1);
    }

    #[test]
    fn an_etcd_service_shows_its_leader_candidacy_token_and_fence() {
        let mut s = doc();
        s.services = serde_json::from_value(serde_json::json!([
            {"name": "dns", "prefixes": ["203.0.113.53/32"], "role": "primary", "healthy": true,
             "advertising": ["203.0.113.53/32"], "reason": "advertising: primary",
             "etcd": {"mode": "election", "name": "/anycastd/dns", "candidate": "nodea", "candidacy": "leader",
                      "leader": "nodea", "fencing_token": 42, "lease_id": 26957, "lease_ttl_ms": 3000,
                      "fence_margin_ms": 500, "fence_in_ms": 2100, "endpoint": "http://192.0.2.101:2379/", "won": 1}},
            {"name": "web", "prefixes": ["203.0.113.80/32"], "role": "standby", "healthy": true,
             "advertising": [], "reason": "standby",
             "etcd": {"mode": "election", "name": "/anycastd/web", "candidate": "nodea", "candidacy": "campaigning",
                      "leader": "nodeb", "lease_ttl_ms": 3000, "fence_margin_ms": 500, "fence_in_ms": 1900,
                      "error": "http://192.0.2.101:2379/: connection refused"}}
        ]))
        .unwrap();
        let t = render(&s, false);
        assert!(t.contains("\n  etcd election /anycastd/dns: leader nodea; this node (nodea): leader; fencing token 42; withdraws on its own in 2100 ms unless etcd confirms\n"), "{t}");
        assert!(t.contains("\n  etcd election /anycastd/web: leader nodeb; this node (nodea): campaigning; withdraws on its own in 1900 ms unless etcd confirms; last error: http://192.0.2.101:2379/: connection refused\n"), "{t}");
        let v = render(&s, true);
        assert!(
            v.contains("; lease 694d (TTL 3000 ms, margin 500 ms); won 1 times; via http://192.0.2.101:2379/"),
            "{v}"
        );
    }

    #[test]
    fn keepalived_liveness_and_split_brain_lines() {
        let mut s: StatusDoc = serde_json::from_value(serde_json::json!({
            "role": "primary", "role_detail": "keepalived MASTER", "healthy": true,
            "role_engine": {"up": true, "pid": 1234, "pidfile": "/run/vrrp.pid",
                            "detail": "pid 1234 alive (watching /run/vrrp.pid)"},
            "split_brain": {"vrid": 124, "source": "192.0.2.12", "priority": 100, "version": 3,
                            "interval_ms": 1000, "age_ms": 300,
                            "message": "split brain suspected: keepalived reports MASTER here but VRRP adverts for vrid 124 from 192.0.2.12 (priority 100) were seen 0.3 s ago"},
            "vrrp_watch": {"vrid": 124, "listening": true, "adverts_from_others": 9, "adverts_while_master": 4}
        }))
        .unwrap();
        let t = render(&s, false);
        assert!(t.contains("\n  keepalived: pid 1234 alive (watching /run/vrrp.pid)\n"), "{t}");
        assert!(t.contains("\n  warning: split brain suspected: keepalived reports MASTER here but VRRP adverts for vrid 124 from 192.0.2.12 (priority 100) were seen 0.3 s ago\n"), "{t}");
        assert!(!t.contains("vrrp watch"), "{t}");
        assert!(render(&s, true)
            .contains("vrrp watch: vrid 124, listening; adverts from other nodes: 9 (4 while MASTER here)"));
        s.ha.split_brain = None;
        s.ha.vrrp_watch = Some(VrrpWatchStatus {
            listening: false,
            note: Some("cannot open a raw VRRP socket".into()),
            ..Default::default()
        });
        let t = render(&s, false);
        assert!(!t.contains("split brain"), "{t}");
        assert!(t.contains("  vrrp watch: off: cannot open a raw VRRP socket\n"), "{t}");
    }

    #[test]
    fn reads_like_escadm() {
        let s = doc();
        let t = render(&s, false);
        assert!(t.starts_with("anycastd PRIMARY — advertising 203.0.113.124/32 to 1/2 neighbors\n"), "{t}");
        assert!(t.contains("neighbor 192.0.2.1 AS65000 Established 01:02:05 md5"), "{t}");
        assert!(t.contains("last error: connect to 192.0.2.2:179 timed out"), "{t}");
        assert_eq!(exit_code(&s), 1);
        let mut ok = s.clone();
        ok.neighbors.pop();
        assert_eq!(exit_code(&ok), 0);
        ok.ha.healthy = false;
        assert_eq!(exit_code(&ok), 1);
    }

    #[test]
    fn a_role_unknown_or_a_drain_is_degraded_exit_1() {
        let mut ok = doc();
        ok.neighbors.pop();
        assert_eq!(exit_code(&ok), 0);
        let mut unknown = ok.clone();
        unknown.ha.role = crate::ha::Role::Unknown;
        assert_eq!(exit_code(&unknown), 1, "role unknown");
        let mut drained = ok.clone();
        drained.ha.drained = true;
        assert_eq!(exit_code(&drained), 1, "drained");
        let mut service = ok.clone();
        let mut v = crate::status::ServiceStatus { ha: ok.ha.clone(), ..Default::default() };
        v.ha.role = crate::ha::Role::Unknown;
        service.services.push(v);
        assert_eq!(exit_code(&service), 1, "one service's role unknown");
    }

    #[test]
    fn bfd_shows_its_state_timers_and_problem_and_counts_for_the_exit_code() {
        let mut s = doc();
        s.neighbors.pop();
        s.neighbors[0].bfd = Some(crate::status::BfdStatus {
            state: "Up".into(),
            local_diag: "No Diagnostic".into(),
            tx_interval_us: Some(50_000),
            detection_time_us: Some(150_000),
            remote_discriminator: 0x2a,
            up_count: 1,
            strict: true,
            ..Default::default()
        });
        let t = render(&s, false);
        assert!(t.contains("    bfd Up  tx 50 ms  detect 150 ms  remote discr 0x2a  up 1 down 0\n"), "{t}");
        assert_eq!(exit_code(&s), 0);
        let b = s.neighbors[0].bfd.as_mut().unwrap();
        b.state = "Down".into();
        b.local_diag = "Control Detection Time Expired".into();
        b.problem = Some("authentication failed: bad_digest (3 packets dropped)".into());
        let t = render(&s, false);
        assert!(t.contains("to 0/1 neighbors"), "held back by strict BFD: {t}");
        assert!(t.contains("diag Control Detection Time Expired"), "{t}");
        assert!(t.contains("    bfd problem: authentication failed: bad_digest (3 packets dropped)\n"), "{t}");
        assert_eq!(exit_code(&s), 1, "BGP Established but BFD Down is not all well");
    }

    #[test]
    fn refused_inbound_connections_show_when_there_are_any() {
        let mut s = doc();
        assert!(!render(&s, false).contains("inbound"));
        s.inbound.refused_wrong_listener = 2;
        s.inbound.refused_unconfigured = 10_000;
        let t = render(&s, false);
        assert!(
            t.contains(
                "  inbound refused: 10000 unconfigured, 2 wrong listener, 0 unprotected, 0 busy; accept errors 0\n"
            ),
            "{t}"
        );
    }

    #[test]
    fn verbose_shows_checks_and_counters() {
        let mut s = doc();
        s.ha.checks.push(CheckStatus {
            name: "dns".into(),
            healthy: false,
            consecutive_fail: 2,
            detail: Some("exit status 1".into()),
            duration_ms: Some(12),
            ..Default::default()
        });
        s.neighbors[0].msgs_in = 7;
        let t = render(&s, true);
        assert!(t.contains("  check FAIL dns  last: exit status 1 (12 ms)  ok 0 / fail 2 in a row\n"), "{t}");
        assert!(t.contains("msgs in 7 out 0"), "{t}");
    }
}
