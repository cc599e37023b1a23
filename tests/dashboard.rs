//! The Grafana dashboard (configs/grafana-anycastd.json) against the real daemon: every metric
//! name in a query (`expr`, and the template variable's query) is a series `anycastd run`
//! really serves on /metrics.
//!
//! ```text
//!   anycastd run 127.0.0.81 (BGP active, BFD 50 ms × 3)  ──BGP :17981──▶  Speaker 127.0.0.82 (passive)
//!   /metrics 127.0.0.1:17982      UDP 3784 ◀────────BFD────────▶ UDP 3784
//! ```
//!
//! prometheus-client leaves out a family with no series, so the test makes the daemon produce
//! each one before it scrapes: the session and BFD come Up, the check fails once (a failover,
//! a decision and its decision → UPDATE latency), the peer resets the session (a Cease
//! NOTIFICATION received). A name is matched against the series names as served (a counter
//! is `…_total`, a histogram `…_bucket`/`…_sum`/`…_count`): that is the name PromQL sees.
//!
//! Every process started here is ended by its PID; every wait is bounded.

use anycastd::config::Config;
use anycastd::control::NeighborAction;
use anycastd::ha::Advert;
use anycastd::speaker::Speaker;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_anycastd");
const DASHBOARD: &str = include_str!("../configs/grafana-anycastd.json");
const BGP_PORT: u16 = 17981;
const METRICS: &str = "127.0.0.1:17982";
const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 81);
const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 82);

/// Names the dashboard may use although the test cannot make the daemon serve them (none
/// today): each with the reason.
const ALLOWED_ABSENT: &[(&str, &str)] = &[];

/// Every `anycastd_…` identifier in the dashboard's queries: the panels' `expr` and the
/// template variables' `definition`/`query`.
fn dashboard_metrics(json: &str) -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, in_var: bool, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                        ("definition" | "query", serde_json::Value::String(s)) if in_var => out.push(s.clone()),
                        _ => walk(x, in_var || k == "templating", out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, in_var, out)),
            _ => {}
        }
    }
    let doc: serde_json::Value = serde_json::from_str(json).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    walk(&doc, false, &mut exprs);
    exprs.iter().flat_map(|e| metric_names(e)).collect()
}

/// The identifiers `anycastd_[a-z0-9_]+` in a PromQL expression (not inside a longer word).
fn metric_names(expr: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("anycastd_") {
        let before = rest[..i].chars().next_back();
        let tail = &rest[i..];
        let end =
            tail.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(tail.len());
        if !before.is_some_and(word) {
            out.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

/// The series names in an OpenMetrics text (the name before `{` or the value).
fn served_series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The dashboard's names that are not served nor allowed to be absent.
fn missing(dashboard: &BTreeSet<String>, served: &BTreeSet<String>) -> Vec<String> {
    dashboard.iter().filter(|n| !served.contains(*n) && !ALLOWED_ABSENT.iter().any(|(a, _)| a == n)).cloned().collect()
}

#[test]
fn the_checker_finds_a_name_the_daemon_does_not_serve() {
    let served = served_series(
        "# TYPE anycastd_failovers counter\nanycastd_failovers_total 3\n\
         anycastd_role{role=\"primary\"} 1.0\nanycastd_check_run_duration_seconds_bucket{le=\"+Inf\"} 4\n# EOF\n",
    );
    let names: BTreeSet<String> = metric_names(
        "sum(increase(anycastd_failovers_total{x=\"anycastd_not_me\"}[5m])) / max(anycastd_role) + \
         histogram_quantile(0.9, rate(anycastd_check_run_duration_seconds_bucket[1m])) + anycastd_failovers + \
         my_anycastd_other + anycastd_typo_total",
    )
    .into_iter()
    .collect();
    // A label value starting with the prefix is picked up too: stricter, never looser.
    assert_eq!(missing(&names, &served), ["anycastd_failovers", "anycastd_not_me", "anycastd_typo_total"]);
    let d = dashboard_metrics(
        r#"{"panels": [{"targets": [{"expr": "anycastd_role == 1", "legendFormat": "anycastd_legend"}]}],
            "templating": {"list": [{"definition": "label_values(anycastd_build_info, instance)"}]}}"#,
    );
    assert_eq!(d.into_iter().collect::<Vec<_>>(), ["anycastd_build_info", "anycastd_role"]);
}

/// What a Grafana import needs and what makes the datasource a choice: a uid and title, the
/// `datasource` variable (type datasource, Prometheus), every panel and query on it, panel ids
/// unique, every query with a refId unique in its panel and an expression.
#[test]
fn the_dashboard_imports_with_a_prometheus_datasource_variable() {
    let d: serde_json::Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert_eq!(d["uid"], "anycastd");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()) && d["schemaVersion"].as_u64().is_some());
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    assert!(
        vars.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"),
        "no Prometheus datasource variable: {vars:?}"
    );
    let on_var = |ds: &serde_json::Value| ds["type"] == "prometheus" && ds["uid"] == "${datasource}";
    let mut ids = BTreeSet::new();
    let mut queries = 0;
    for p in d["panels"].as_array().expect("panels") {
        assert!(ids.insert(p["id"].as_u64().expect("a panel id")), "panel id {} twice", p["id"]);
        assert!(p["gridPos"]["w"].as_u64().is_some_and(|w| w > 0 && w <= 24), "gridPos of {}", p["title"]);
        if p["type"] == "row" {
            continue;
        }
        assert!(on_var(&p["datasource"]), "panel {} is not on $datasource", p["title"]);
        let targets = p["targets"].as_array().filter(|t| !t.is_empty()).expect("a panel without queries");
        let mut refs = BTreeSet::new();
        for t in targets {
            assert!(on_var(&t["datasource"]), "a query of {} is not on $datasource", p["title"]);
            assert!(refs.insert(t["refId"].as_str().expect("refId")), "refId twice in {}", p["title"]);
            assert!(t["expr"].as_str().is_some_and(|e| e.contains("anycastd_")), "expr of {}", p["title"]);
            queries += 1;
        }
    }
    assert!(queries >= 20, "{queries} queries");
}

struct Lab {
    dir: PathBuf,
    cfg: PathBuf,
    ok: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let dir = std::env::temp_dir().join(format!("acd-dash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok");
        let cfg = dir.join("anycastd.toml");
        let text = format!(
            "[bgp]\nlocal_as = 65124\nrouter_id = \"{LOCAL}\"\nlocal_ip = \"{LOCAL}\"\nhold_time = 9\nconnect_retry = 1\nport = {BGP_PORT}\n\
             [[bgp.neighbor]]\nremote_ip = \"{PEER}\"\nremote_as = 65000\nport = {BGP_PORT}\n\
             bfd = {{ interval_ms = 50, multiplier = 3, strict = false }}\n\
             [anycast]\nprefixes = [\"203.0.113.124/32\"]\n\
             [[health.check]]\nname = \"svc\"\ntype = \"file\"\npath = \"{ok}\"\ninterval_ms = 50\nrise = 1\nfall = 1\n\
             [control]\nsocket = \"{sock}\"\nstate_dir = \"{state}\"\n\
             [metrics]\nlisten = \"{METRICS}\"\n",
            ok = ok.display(),
            sock = dir.join("run").join("ctl.sock").display(),
            state = dir.join("state").display(),
        );
        std::fs::write(&cfg, text).unwrap();
        Config::load(&cfg).expect("the test config loads");
        Lab { dir, cfg, ok }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The daemon child; killed by its PID when dropped.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The router stand-in: a passive speaker with BFD at 127.0.0.82.
async fn peer() -> Speaker {
    let text = format!(
        "[bgp]\nlocal_as = 65000\nrouter_id = \"{PEER}\"\nlocal_ip = \"{PEER}\"\nhold_time = 9\nport = {BGP_PORT}\n\
         [[bgp.neighbor]]\nremote_ip = \"{LOCAL}\"\nremote_as = 65124\nport = {BGP_PORT}\npassive = true\n\
         bfd = {{ interval_ms = 50, multiplier = 3, strict = false }}\n\
         [anycast]\nprefixes = [\"198.51.100.0/24\"]\n"
    );
    let cfg = Config::from_str(&text, Path::new("peer.toml")).unwrap();
    Speaker::start(&cfg, Advert::nothing()).await.unwrap()
}

/// One GET /metrics: the body, or why not (bounded at 5 s).
async fn scrape() -> Result<String, String> {
    let get = async {
        let mut s = tokio::net::TcpStream::connect(METRICS).await.map_err(|e| e.to_string())?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8(buf).map_err(|e| e.to_string())?;
        match text.split_once("\r\n\r\n") {
            Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
            _ => Err(format!("not a 200: {text:?}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), get).await.map_err(|_| "scrape timed out".to_string())?
}

/// Scrapes until `f` holds on the body; the last body on success.
async fn scrape_until(limit: Duration, what: &str, f: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + limit;
    let mut last = Err("no scrape yet".to_string());
    while Instant::now() < end {
        last = scrape().await;
        if let Ok(t) = &last {
            if f(t) {
                return t.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within {limit:?}: {what}; last scrape: {last:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn every_metric_the_dashboard_queries_is_served_by_the_daemon() {
    // BFD binds UDP 3784 (as in bfd_coupling.rs): root, or an explicit, printed skip.
    if anycastd::test_env::skip_unprivileged("dashboard: a live daemon with BFD") {
        return;
    }
    let dashboard = dashboard_metrics(DASHBOARD);
    assert!(dashboard.len() >= 20, "the dashboard queries only {dashboard:?}");
    let lab = Lab::new();
    std::fs::write(&lab.ok, "").unwrap();
    let peer = peer().await;
    let child = std::process::Command::new(BIN)
        .args(["run", "--config"])
        .arg(&lab.cfg)
        .env("ANYCASTD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _daemon = Daemon(child);
    let n = format!("{{neighbor=\"{PEER}\"}}");
    let up = format!("anycastd_neighbor_up{n} 1");
    let bfd_up = format!("anycastd_bfd_up{n} 1");
    let adv = format!("anycastd_neighbor_prefixes_advertised{n} 1");
    scrape_until(Duration::from_secs(20), "session Established, BFD Up, the prefix advertised", |t| {
        t.contains(&up) && t.contains(&bfd_up) && t.contains(&adv)
    })
    .await;
    // A failing check: withdrawn (a failover, a decision, the decision → UPDATE latency).
    std::fs::remove_file(&lab.ok).unwrap();
    scrape_until(Duration::from_secs(10), "withdrawn after the check failed", |t| {
        t.contains("anycastd_failovers_total 1") && t.contains("anycastd_neighbor_update_latency_seconds{")
    })
    .await;
    // The router resets the session: a Cease NOTIFICATION received.
    peer.neighbor_admin(IpAddr::V4(LOCAL), NeighborAction::Reset).await.expect("the peer resets the session");
    let text = scrape_until(Duration::from_secs(20), "a NOTIFICATION counted, the session and BFD back", |t| {
        t.contains("anycastd_neighbor_notifications_total{") && t.contains(&up) && t.contains(&bfd_up)
    })
    .await;
    let served = served_series(&text);
    let absent = missing(&dashboard, &served);
    assert!(
        absent.is_empty(),
        "configs/grafana-anycastd.json queries metrics the daemon does not serve: {absent:?}\nserved: {served:?}"
    );
    for (name, why) in ALLOWED_ABSENT {
        assert!(!why.is_empty() && dashboard.contains(*name), "stale allowed-absent entry {name}");
    }
    peer.shutdown("test over", Duration::from_secs(2)).await;
}
