//! The optional Prometheus endpoint (`[metrics] listen = "127.0.0.1:9179"`): a fresh registry
//! is filled from the daemon's status at each scrape and encoded by `prometheus-client` (the
//! reference client) in the OpenMetrics text format. The HTTP side is the least a scraper
//! needs: `GET /metrics`, bounded request, one response, close.

use crate::ha::status::{CheckStatus, DurationsStatus, HaStatus};
use crate::ha::Role;
use crate::status::{InboundStatus, NeighborState, NeighborStatus, StatusDoc};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Labels = Vec<(String, String)>;

/// Counters the daemon keeps between scrapes.
#[derive(Default)]
pub struct Counters {
    /// Transitions from advertising to withdrawn (failovers away from this node).
    pub failovers: AtomicU64,
    /// Every change of the advertisement decision.
    pub decisions: AtomicU64,
    /// Metrics connections closed at once because [`MAX_CONNECTIONS`] were being served.
    pub metrics_refused: Arc<AtomicU64>,
}

fn family_gauge(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge<f64, AtomicU64>> {
    let f = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    reg.register(name, help, f.clone());
    f
}

fn family_counter(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

/// A histogram counted elsewhere (a check's [`DurationsStatus`]), encoded as one:
/// prometheus-client's own `Histogram` can only observe, not be set from counts.
#[derive(Debug, Default)]
struct Counted(std::sync::Mutex<Option<DurationsStatus>>);

impl Counted {
    fn set(&self, d: &DurationsStatus) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(d.clone());
    }
}

impl TypedMetric for Counted {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Counted {
    fn encode(&self, mut e: MetricEncoder) -> Result<(), std::fmt::Error> {
        let d = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default();
        // Per bucket (the encoder accumulates), seconds; what lies beyond the last bound is +Inf.
        let mut buckets = Vec::with_capacity(d.le_us.len() + 1);
        let mut below = 0u64;
        for (le, c) in d.le_us.iter().zip(&d.count) {
            buckets.push((*le as f64 / 1e6, c.saturating_sub(below)));
            below = (*c).max(below);
        }
        buckets.push((f64::INFINITY, d.total.saturating_sub(below)));
        e.encode_histogram::<NoLabelSet>(d.sum_us as f64 / 1e6, d.total, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

fn plain_gauge(reg: &mut Registry, name: &str, help: &str, v: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(v);
    reg.register(name, help, g);
}

fn plain_counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn l(k: &str, v: impl Into<String>) -> Labels {
    vec![(k.to_string(), v.into())]
}

/// Encodes the status document (as served by the control socket) and the counters. The
/// document is destructured without `..`: a field renamed or added there does not compile here
/// until this exporter has decided what to make of it.
pub fn render(status: &StatusDoc, counters: &Counters) -> String {
    let StatusDoc { version: _, ha, neighbors, inbound, track, services, tcp_md5 } = status;
    let HaStatus {
        role,
        role_detail: _,
        healthy,
        drained,
        drain: _,
        advertising,
        advert_state: _,
        prepend: _,
        med: _,
        communities: _,
        reason: _,
        checks: _,
        role_engine,
        split_brain,
        vrrp_watch: _,
        etcd: _,
        decisions: _,
    } = ha;
    let mut reg = Registry::with_prefix("anycastd");
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    plain_gauge(&mut reg, "advertising", "1 while the anycast prefixes are advertised", b(!advertising.is_empty()));
    plain_gauge(&mut reg, "healthy", "1 while every health check is healthy", b(*healthy));
    plain_gauge(&mut reg, "drained", "1 while drained or draining", b(*drained));
    if let Some(crate::ha::track::TrackStatus { path: _, value, why: _, error: _ }) = track {
        let help = "the value in the keepalived track_file: 0 can serve, the weight not";
        plain_gauge(&mut reg, "track_value", help, f64::from(*value));
    }
    plain_counter(
        &mut reg,
        "failovers",
        "transitions from advertising to withdrawn",
        counters.failovers.load(Ordering::Relaxed),
    );
    plain_counter(
        &mut reg,
        "decisions",
        "changes of the advertisement decision",
        counters.decisions.load(Ordering::Relaxed),
    );
    plain_counter(
        &mut reg,
        "metrics_connections_refused",
        "metrics connections closed at once because too many were open",
        counters.metrics_refused.load(Ordering::Relaxed),
    );
    if let Some(e) = role_engine {
        plain_gauge(&mut reg, "role_engine_up", "1 while keepalived's VRRP process is running", b(e.up));
    }
    plain_gauge(
        &mut reg,
        "split_brain_suspected",
        "1 while VRRP adverts from another node are seen while keepalived reports MASTER here",
        b(split_brain.is_some()),
    );
    if let Some(crate::status::Md5Counters { failure, not_found, unexpected }) = tcp_md5 {
        let drops = family_counter(
            &mut reg,
            "tcp_md5_drops",
            "segments the kernel dropped for TCP-MD5 since the daemon started, whole network namespace (TcpExt TCPMD5*)",
        );
        for (reason, v) in
            [("bad_digest", failure), ("no_md5_option", not_found), ("unexpected_md5_option", unexpected)]
        {
            drops.get_or_create(&l("reason", reason)).inc_by(*v);
        }
    }
    let build = family_gauge(&mut reg, "build_info", "always 1; the labels name the build");
    build.get_or_create(&l("version", env!("CARGO_PKG_VERSION"))).set(1.0);
    let role_g = family_gauge(&mut reg, "role", "1 for the current role, 0 for the others");
    let check_ok = family_gauge(&mut reg, "check_healthy", "1 while the check is healthy");
    let check_dur = family_gauge(&mut reg, "check_duration_seconds", "duration of the check's last run");
    let check_runs = Family::<Labels, Counted>::default();
    reg.register(
        "check_run_duration_seconds",
        "durations of the check's runs since it was created",
        check_runs.clone(),
    );
    let state = family_gauge(&mut reg, "neighbor_state", "1 for the neighbor's current BGP state");
    let up = family_gauge(&mut reg, "neighbor_up", "1 while the session is Established");
    let md5_stuck = family_gauge(
        &mut reg,
        "neighbor_md5_mismatch",
        "1 while the session cannot connect and the kernel's TCP-MD5 counters say why (status shows the diagnosis)",
    );
    let latency = family_gauge(
        &mut reg,
        "neighbor_update_latency_seconds",
        "decision to UPDATE written, last advertisement change",
    );
    let rx = family_gauge(&mut reg, "neighbor_prefixes_received", "prefixes the neighbor announced (net)");
    let established = family_counter(&mut reg, "neighbor_established", "times the session reached Established");
    let flaps = family_counter(&mut reg, "neighbor_flaps", "times the session left Established");
    let msgs_in = family_counter(&mut reg, "neighbor_messages_received", "BGP messages received");
    let msgs_out = family_counter(&mut reg, "neighbor_messages_sent", "BGP messages sent");
    let upd_in = family_counter(&mut reg, "neighbor_updates_received", "BGP UPDATE messages received");
    let upd_out = family_counter(&mut reg, "neighbor_updates_sent", "BGP UPDATE messages sent");
    let adv = family_gauge(&mut reg, "neighbor_prefixes_advertised", "prefixes the neighbor has from us now");
    let uptime = family_gauge(
        &mut reg,
        "neighbor_session_uptime_seconds",
        "time since the session reached Established (0 when not)",
    );
    let notif = family_counter(
        &mut reg,
        "neighbor_notifications",
        "BGP NOTIFICATIONs by direction, error code and subcode (other: beyond 16 distinct pairs)",
    );
    let bfd_m = BfdMetrics::new(&mut reg);
    for r in [Role::Primary, Role::Standby, Role::Unknown] {
        role_g.get_or_create(&l("role", r.name())).set(b(r == *role));
    }
    let InboundStatus {
        refused_unconfigured,
        refused_wrong_listener,
        refused_unprotected,
        refused_busy,
        accept_errors,
    } = inbound;
    let refused =
        family_counter(&mut reg, "bgp_connections_refused", "inbound BGP connections closed unread, by reason");
    for (reason, v) in [
        ("unconfigured", refused_unconfigured),
        ("wrong_listener", refused_wrong_listener),
        ("unprotected", refused_unprotected),
        ("busy", refused_busy),
    ] {
        refused.get_or_create(&l("reason", reason)).inc_by(*v);
    }
    plain_counter(&mut reg, "bgp_accept_errors", "failed accept() calls on the BGP listeners", *accept_errors);
    let svc_adv = family_gauge(&mut reg, "service_advertising", "1 while the service's prefixes are advertised");
    let svc_ok = family_gauge(&mut reg, "service_healthy", "1 while every check of the service is healthy");
    let svc_drained = family_gauge(&mut reg, "service_drained", "1 while the service is drained or draining");
    let svc_fail =
        family_counter(&mut reg, "service_failovers", "transitions of the service from advertising to withdrawn");
    let etcd_leader = family_gauge(
        &mut reg,
        "etcd_leader",
        "1 while this node leads the service's etcd election (or the key names it)",
    );
    let etcd_fence = family_gauge(
        &mut reg,
        "etcd_fence_seconds",
        "time left before the service withdraws on its own unless etcd confirms the lease again",
    );
    let etcd_won = family_counter(&mut reg, "etcd_elections_won", "etcd elections won (or key takeovers) by this node");
    // A document without services (an older daemon's) is one `default` service.
    let implicit;
    let services = if services.is_empty() {
        implicit = [crate::status::ServiceStatus {
            name: crate::config::DEFAULT_SERVICE.into(),
            ha: ha.clone(),
            ..Default::default()
        }];
        &implicit[..]
    } else {
        &services[..]
    };
    for s in services {
        let crate::status::ServiceStatus { name: svc, prefixes: _, failovers, track: _, ha } = s;
        let sl = l("service", svc.as_str());
        svc_adv.get_or_create(&sl).set(b(!ha.advertising.is_empty()));
        svc_ok.get_or_create(&sl).set(b(ha.healthy));
        svc_drained.get_or_create(&sl).set(b(ha.drained));
        svc_fail.get_or_create(&sl).inc_by(*failovers);
        if let Some(e) = &ha.etcd {
            etcd_leader.get_or_create(&sl).set(b(e.fencing_token.is_some()));
            etcd_fence.get_or_create(&sl).set(e.fence_in_ms.map_or(0.0, |ms| ms as f64 / 1000.0));
            etcd_won.get_or_create(&sl).inc_by(e.won);
        }
        for c in &ha.checks {
            let CheckStatus {
                name,
                healthy,
                stalled: _,
                consecutive_ok: _,
                consecutive_fail: _,
                rise: _,
                fall: _,
                interval_ms: _,
                ok: _,
                detail: _,
                duration_ms,
                age_ms: _,
                durations,
            } = c;
            let labels = vec![("service".to_string(), svc.clone()), ("check".to_string(), name.clone())];
            check_ok.get_or_create(&labels).set(b(*healthy));
            if let Some(ms) = duration_ms {
                check_dur.get_or_create(&labels).set(*ms as f64 / 1000.0);
            }
            if durations.total > 0 {
                check_runs.get_or_create(&labels).set(durations);
            }
        }
    }
    for n in neighbors {
        let NeighborStatus {
            remote_ip,
            remote_as: _,
            state: cur,
            established_secs,
            md5: _,
            md5_diagnosis,
            session: _,
            last_error: _,
            last_notification_sent: _,
            last_notification_received: _,
            msgs_in: m_in,
            msgs_out: m_out,
            updates_in,
            updates_out,
            prefixes_received_v4,
            prefixes_received_v6,
            update_errors: _,
            advertised,
            last_update_latency_us,
            established_count,
            flaps: n_flaps,
            bfd,
            notifications,
        } = n;
        let peer = remote_ip.map(|i| i.to_string()).unwrap_or_else(|| "?".into());
        for s in NeighborState::BGP {
            let labels = vec![("neighbor".to_string(), peer.clone()), ("state".to_string(), s.name().to_string())];
            state.get_or_create(&labels).set(b(s == *cur));
        }
        up.get_or_create(&l("neighbor", &peer)).set(b(*cur == NeighborState::Established));
        md5_stuck.get_or_create(&l("neighbor", &peer)).set(b(md5_diagnosis.is_some()));
        if let Some(us) = last_update_latency_us {
            latency.get_or_create(&l("neighbor", &peer)).set(*us as f64 / 1e6);
        }
        for (fam, v) in [("ipv4", prefixes_received_v4), ("ipv6", prefixes_received_v6)] {
            let labels = vec![("neighbor".to_string(), peer.clone()), ("family".to_string(), fam.to_string())];
            rx.get_or_create(&labels).set(*v as f64);
        }
        established.get_or_create(&l("neighbor", &peer)).inc_by(*established_count);
        flaps.get_or_create(&l("neighbor", &peer)).inc_by(*n_flaps);
        msgs_in.get_or_create(&l("neighbor", &peer)).inc_by(*m_in);
        msgs_out.get_or_create(&l("neighbor", &peer)).inc_by(*m_out);
        upd_in.get_or_create(&l("neighbor", &peer)).inc_by(*updates_in);
        upd_out.get_or_create(&l("neighbor", &peer)).inc_by(*updates_out);
        adv.get_or_create(&l("neighbor", &peer)).set(advertised.len() as f64);
        let up_secs = if *cur == NeighborState::Established { established_secs.unwrap_or(0) } else { 0 };
        uptime.get_or_create(&l("neighbor", &peer)).set(up_secs as f64);
        for crate::status::NotificationCount { direction, code, subcode, count } in notifications {
            let num = |v: &Option<u8>| v.map_or_else(|| "other".to_string(), |v| v.to_string());
            let labels = vec![
                ("neighbor".to_string(), peer.clone()),
                ("direction".to_string(), direction.name().to_string()),
                ("code".to_string(), num(code)),
                ("subcode".to_string(), num(subcode)),
            ];
            notif.get_or_create(&labels).inc_by(*count);
        }
        if let Some(b) = bfd {
            bfd_m.record(&peer, b);
        }
    }
    let mut out = String::new();
    if encode(&mut out, &reg).is_err() {
        out = "# encoding failed\n".into();
    }
    out
}

/// The BFD families, one series per neighbor that has BFD.
struct BfdMetrics {
    state: Family<Labels, Gauge<f64, AtomicU64>>,
    up: Family<Labels, Gauge<f64, AtomicU64>>,
    detection: Family<Labels, Gauge<f64, AtomicU64>>,
    tx_interval: Family<Labels, Gauge<f64, AtomicU64>>,
    transitions: Family<Labels, Counter>,
    packets: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
    suppressed: Family<Labels, Counter>,
}

impl BfdMetrics {
    fn new(reg: &mut Registry) -> Self {
        BfdMetrics {
            state: family_gauge(reg, "bfd_state", "1 for the neighbor's current BFD session state"),
            up: family_gauge(reg, "bfd_up", "1 while the neighbor's BFD session is Up"),
            detection: family_gauge(reg, "bfd_detection_time_seconds", "BFD Detection Time in force"),
            tx_interval: family_gauge(reg, "bfd_tx_interval_seconds", "negotiated BFD transmission interval"),
            transitions: family_counter(
                reg,
                "bfd_transitions",
                "BFD session transitions into Up (up) and out of it (down)",
            ),
            packets: family_counter(reg, "bfd_packets", "BFD Control packets, by direction"),
            dropped: family_counter(reg, "bfd_packets_dropped", "received BFD packets discarded, by reason"),
            suppressed: family_counter(
                reg,
                "bfd_tx_suppressed",
                "BFD packets not sent because the decision loop had stalled",
            ),
        }
    }

    /// Destructured without `..`, like the document's other readers.
    fn record(&self, peer: &str, b: &crate::status::BfdStatus) {
        let crate::status::BfdStatus {
            state,
            remote_state: _,
            local_diag: _,
            remote_diag: _,
            my_discriminator: _,
            remote_discriminator: _,
            multihop: _,
            strict: _,
            auth: _,
            interval_ms: _,
            multiplier: _,
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
            problem: _,
        } = b;
        let two = |k: &str, v: &str| vec![("neighbor".to_string(), peer.to_string()), (k.to_string(), v.to_string())];
        for s in ["AdminDown", "Down", "Init", "Up"] {
            self.state.get_or_create(&two("state", s)).set(if state == s { 1.0 } else { 0.0 });
        }
        self.up.get_or_create(&l("neighbor", peer)).set(if state == "Up" { 1.0 } else { 0.0 });
        if let Some(us) = detection_time_us {
            self.detection.get_or_create(&l("neighbor", peer)).set(*us as f64 / 1e6);
        }
        if let Some(us) = tx_interval_us {
            self.tx_interval.get_or_create(&l("neighbor", peer)).set(*us as f64 / 1e6);
        }
        self.transitions.get_or_create(&two("direction", "up")).inc_by(*up_count);
        self.transitions.get_or_create(&two("direction", "down")).inc_by(*down_count);
        self.packets.get_or_create(&two("direction", "in")).inc_by(*packets_in);
        self.packets.get_or_create(&two("direction", "out")).inc_by(*packets_out);
        for (reason, n) in drops {
            self.dropped.get_or_create(&two("reason", reason)).inc_by(*n);
        }
        self.suppressed.get_or_create(&l("neighbor", peer)).inc_by(*tx_suppressed);
    }
}

/// Connections served at once; more are closed at once (a scraper needs one).
pub const MAX_CONNECTIONS: usize = 16;
/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a client has to take the response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` until the task is dropped; `status` is called at each scrape.
/// At most [`MAX_CONNECTIONS`] at once, each bounded in size and time, so no client can hold
/// the daemon's fds (which its health checks and BGP sockets need); the connections closed
/// because of the cap are counted in `refused`. Accept errors back off.
pub async fn serve(
    listener: TcpListener,
    refused: Arc<AtomicU64>,
    status: impl Fn() -> String + Send + Sync + 'static,
) {
    let status = Arc::new(status);
    let mut gate = crate::accept::Gate::new("metrics", MAX_CONNECTIONS, refused);
    let l = &listener;
    loop {
        let (s, permit) = gate.next(|| async { l.accept().await.map(|(s, _)| s) }).await;
        let status = status.clone();
        tokio::spawn(async move {
            let _permit = permit;
            serve_one(s, &*status).await;
        });
    }
}

async fn serve_one(mut s: TcpStream, status: &(dyn Fn() -> String + Send + Sync)) {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    // Read the request head, bounded in size and time.
    let head = tokio::time::timeout(HEAD_TIMEOUT, async {
        while n < buf.len() {
            match s.read(&mut buf[n..]).await {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    if head.is_err() {
        return;
    }
    let req = String::from_utf8_lossy(&buf[..n]);
    let resp = if req.starts_with("GET /metrics ") || req.starts_with("GET / ") {
        let body = status();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, s.write_all(resp.as_bytes())).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_openmetrics_from_status() {
        let s: StatusDoc = serde_json::from_value(json!({
            "role": "primary", "healthy": true, "drained": false, "advertising": ["203.0.113.124/32"],
            "checks": [{"name": "svc", "healthy": true, "duration_ms": 12,
                        "durations": {"le_us": [1000, 25000], "count": [1, 3], "total": 4, "sum_us": 12040500}}],
            "neighbors": [{"remote_ip": "192.0.2.1", "state": "Established", "established_count": 2, "flaps": 1,
                           "msgs_in": 10, "msgs_out": 12, "prefixes_received_v4": 0, "prefixes_received_v6": 0,
                           "updates_in": 4, "updates_out": 5, "established_secs": 75,
                           "advertised": ["203.0.113.124/32", "2001:db8::124/128"],
                           "last_update_latency_us": 85,
                           "notifications": [{"direction": "sent", "code": 6, "subcode": 2, "count": 1},
                                             {"direction": "received", "code": 4, "subcode": 0, "count": 3},
                                             {"direction": "received", "count": 2}],
                           "bfd": {"state": "Up", "detection_time_us": 150000, "tx_interval_us": 50000,
                                   "up_count": 2, "down_count": 1, "packets_in": 40, "packets_out": 41,
                                   "drops": {"bad_digest": 3}, "tx_suppressed": 5}}],
           "inbound": {"refused_unconfigured": 7, "refused_wrong_listener": 1, "accept_errors": 2},
           "track": {"path": "/run/anycastd/track", "value": -254, "why": "check `svc` is not healthy"},
           "etcd": {"mode": "election", "name": "/anycastd/dns", "candidacy": "leader", "fencing_token": 42,
                    "fence_in_ms": 2100, "won": 2},
           "tcp_md5": {"failure": 9, "not_found": 4}
        }))
        .unwrap();
        let c = Counters::default();
        c.failovers.store(3, Ordering::Relaxed);
        let t = render(&s, &c);
        for want in [
            "anycastd_advertising 1.0",
            "anycastd_role{role=\"primary\"} 1.0",
            "anycastd_role{role=\"standby\"} 0.0",
            "anycastd_role{role=\"unknown\"} 0.0",
            concat!("anycastd_build_info{version=\"", env!("CARGO_PKG_VERSION"), "\"} 1.0"),
            "anycastd_neighbor_updates_received_total{neighbor=\"192.0.2.1\"} 4",
            "anycastd_neighbor_updates_sent_total{neighbor=\"192.0.2.1\"} 5",
            "anycastd_neighbor_prefixes_advertised{neighbor=\"192.0.2.1\"} 2.0",
            "anycastd_neighbor_session_uptime_seconds{neighbor=\"192.0.2.1\"} 75.0",
            "anycastd_check_healthy{service=\"default\",check=\"svc\"} 1.0",
            "anycastd_check_duration_seconds{service=\"default\",check=\"svc\"} 0.012",
            "# TYPE anycastd_check_run_duration_seconds histogram",
            "anycastd_check_run_duration_seconds_sum{service=\"default\",check=\"svc\"} 12.0405",
            "anycastd_check_run_duration_seconds_count{service=\"default\",check=\"svc\"} 4",
            "anycastd_check_run_duration_seconds_bucket{le=\"0.001\",service=\"default\",check=\"svc\"} 1",
            "anycastd_check_run_duration_seconds_bucket{le=\"0.025\",service=\"default\",check=\"svc\"} 3",
            "anycastd_check_run_duration_seconds_bucket{le=\"+Inf\",service=\"default\",check=\"svc\"} 4",
            "anycastd_service_advertising{service=\"default\"} 1.0",
            "anycastd_service_healthy{service=\"default\"} 1.0",
            "anycastd_etcd_leader{service=\"default\"} 1.0",
            "anycastd_etcd_fence_seconds{service=\"default\"} 2.1",
            "anycastd_etcd_elections_won_total{service=\"default\"} 2",
            "anycastd_neighbor_state{neighbor=\"192.0.2.1\",state=\"Established\"} 1.0",
            "anycastd_neighbor_state{neighbor=\"192.0.2.1\",state=\"Idle\"} 0.0",
            "anycastd_neighbor_flaps_total{neighbor=\"192.0.2.1\"} 1",
            "anycastd_neighbor_notifications_total{neighbor=\"192.0.2.1\",direction=\"sent\",code=\"6\",subcode=\"2\"} 1",
            "anycastd_neighbor_notifications_total{neighbor=\"192.0.2.1\",direction=\"received\",code=\"4\",subcode=\"0\"} 3",
            "anycastd_neighbor_notifications_total{neighbor=\"192.0.2.1\",direction=\"received\",code=\"other\",subcode=\"other\"} 2",
            "anycastd_failovers_total 3",
            "anycastd_tcp_md5_drops_total{reason=\"bad_digest\"} 9",
            "anycastd_tcp_md5_drops_total{reason=\"no_md5_option\"} 4",
            "anycastd_tcp_md5_drops_total{reason=\"unexpected_md5_option\"} 0",
            "anycastd_neighbor_md5_mismatch{neighbor=\"192.0.2.1\"} 0.0",
            "anycastd_track_value -254.0",
            "anycastd_bgp_connections_refused_total{reason=\"unconfigured\"} 7",
            "anycastd_bgp_connections_refused_total{reason=\"wrong_listener\"} 1",
            "anycastd_bgp_connections_refused_total{reason=\"busy\"} 0",
            "anycastd_bgp_accept_errors_total 2",
            "anycastd_neighbor_update_latency_seconds{neighbor=\"192.0.2.1\"} 0.000085",
            "anycastd_bfd_up{neighbor=\"192.0.2.1\"} 1.0",
            "anycastd_bfd_state{neighbor=\"192.0.2.1\",state=\"Up\"} 1.0",
            "anycastd_bfd_state{neighbor=\"192.0.2.1\",state=\"Down\"} 0.0",
            "anycastd_bfd_detection_time_seconds{neighbor=\"192.0.2.1\"} 0.15",
            "anycastd_bfd_tx_interval_seconds{neighbor=\"192.0.2.1\"} 0.05",
            "anycastd_bfd_transitions_total{neighbor=\"192.0.2.1\",direction=\"down\"} 1",
            "anycastd_bfd_packets_total{neighbor=\"192.0.2.1\",direction=\"out\"} 41",
            "anycastd_bfd_packets_dropped_total{neighbor=\"192.0.2.1\",reason=\"bad_digest\"} 3",
            "anycastd_bfd_tx_suppressed_total{neighbor=\"192.0.2.1\"} 5",
            "anycastd_split_brain_suspected 0.0",
            "# EOF",
        ] {
            assert!(t.contains(want), "missing {want} in\n{t}");
        }
        assert!(!t.contains("role_engine_up"), "no role engine watched: no metric\n{t}");
    }

    #[test]
    fn role_engine_and_split_brain_metrics() {
        let s: StatusDoc = serde_json::from_value(json!({
            "role": "primary",
            "role_engine": {"up": false, "detail": "not running (no /run/vrrp.pid)"},
            "split_brain": {"vrid": 124, "source": "192.0.2.12", "priority": 100}
        }))
        .unwrap();
        let t = render(&s, &Counters::default());
        assert!(t.contains("anycastd_role_engine_up 0.0"), "{t}");
        assert!(t.contains("anycastd_split_brain_suspected 1.0"), "{t}");
    }
}
