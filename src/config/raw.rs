//! The configuration file exactly as TOML spells it: serde structs with
//! `deny_unknown_fields`, holding only TOML primitives (integers as `i64`, addresses and enum
//! names as `String`) so that every range and syntax check, with its message and example, is
//! done by the validation code rather than by serde. Also owns the table of right examples
//! shown in error messages. No validation happens here.

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub bgp: Option<RawBgp>,
    pub anycast: Option<RawAnycast>,
    pub role: Option<RawRole>,
    pub health: Option<RawHealth>,
    pub control: Option<RawControl>,
    pub metrics: Option<RawMetrics>,
    #[serde(default)]
    pub service: Vec<RawService>,
}

/// `[[service]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: String,
    pub prefixes: Vec<String>,
    pub standby: Option<String>,
    pub prepend: Option<i64>,
    pub standby_med: Option<i64>,
    #[serde(default)]
    pub check: Vec<RawCheck>,
    pub role: Option<RawRole>,
    pub on_change: Option<Vec<String>>,
}

/// `[bgp]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBgp {
    pub local_as: i64,
    pub router_id: Option<String>,
    pub local_ip: Option<String>,
    pub hold_time: Option<i64>,
    pub connect_retry: Option<i64>,
    pub port: Option<i64>,
    pub listen: Option<bool>,
    pub graceful_restart: Option<bool>,
    pub next_hop_ipv4: Option<String>,
    pub next_hop_ipv6: Option<String>,
    #[serde(default)]
    pub neighbor: Vec<RawNeighbor>,
}

/// `[[bgp.neighbor]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNeighbor {
    pub remote_ip: String,
    pub remote_as: i64,
    pub local_ip: Option<String>,
    pub md5: Option<String>,
    pub md5_file: Option<String>,
    pub passive: Option<bool>,
    pub ttl_security: Option<bool>,
    pub multihop: Option<i64>,
    pub hold_time: Option<i64>,
    pub max_prefixes: Option<i64>,
    pub port: Option<i64>,
    pub med: Option<i64>,
    pub communities: Option<Vec<String>>,
    pub large_communities: Option<Vec<String>>,
    pub bfd: Option<RawBfd>,
    pub tcp_ao: Option<RawTcpAo>,
}

/// `tcp_ao = { … }` (or `[bgp.neighbor.tcp_ao]`): one TCP-AO Master Key Tuple (RFC 5925 §3.1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcpAo {
    pub send_id: Option<i64>,
    pub recv_id: Option<i64>,
    pub algorithm: Option<String>,
    pub key: Option<String>,
    pub key_file: Option<String>,
}

/// `bfd = { … }` (or `[bgp.neighbor.bfd]`) in a `[[bgp.neighbor]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBfd {
    pub interval_ms: Option<i64>,
    pub multiplier: Option<i64>,
    pub auth: Option<String>,
    pub key_id: Option<i64>,
    pub key: Option<String>,
    pub key_file: Option<String>,
    pub strict: Option<bool>,
}

/// `[anycast]` (all defaults when absent from a file with `[[service]]`s).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnycast {
    #[serde(default)]
    pub prefixes: Vec<String>,
    pub standby: Option<String>,
    pub prepend: Option<i64>,
    pub standby_med: Option<i64>,
    pub manage_loopback: Option<bool>,
    pub interface: Option<String>,
    pub preference: Option<i64>,
    pub preference_via: Option<String>,
    pub on_change: Option<Vec<String>>,
}

/// `[role]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub source: String,
    pub path: Option<String>,
    pub command: Option<Vec<String>>,
    pub interval_ms: Option<i64>,
    pub track_file: Option<String>,
    pub track_weight: Option<i64>,
    pub pidfile: Option<String>,
    pub grace_ms: Option<i64>,
    pub instance: Option<String>,
    pub vrid: Option<i64>,
    // source = "etcd" / "etcd-key" (config::etcd).
    pub endpoints: Option<Vec<String>>,
    pub election: Option<String>,
    pub candidate: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub lease_ttl_ms: Option<i64>,
    pub fence_margin_ms: Option<i64>,
    pub campaign_delay_ms: Option<i64>,
    pub request_timeout_ms: Option<i64>,
    pub tls: Option<RawEtcdTls>,
    pub username: Option<String>,
    pub password_file: Option<String>,
}

/// `[role] tls = { ca, cert, key }` of an etcd role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEtcdTls {
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// `[health]`, which only holds the `[[health.check]]` array.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    #[serde(default)]
    pub check: Vec<RawCheck>,
}

/// `[[health.check]]`: one flat struct for every type; fields foreign to the `type` are
/// refused by validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub command: Option<Vec<String>>,
    pub shell: Option<bool>,
    pub address: Option<String>,
    pub url: Option<String>,
    pub status: Option<Vec<i64>>,
    pub path: Option<String>,
    pub invert: Option<bool>,
    pub pidfile: Option<String>,
    pub pattern: Option<String>,
    pub full: Option<bool>,
    pub unit: Option<String>,
    pub interface: Option<String>,
    pub body: Option<String>,
    pub ca: Option<String>,
    pub interval_ms: Option<i64>,
    pub timeout_ms: Option<i64>,
    pub rise: Option<i64>,
    pub fall: Option<i64>,
}

/// `[control]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawControl {
    pub socket: Option<String>,
    pub state_dir: Option<String>,
    pub group: Option<String>,
}

/// `[metrics]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: String,
}

/// The keys that must hold a single table (a `[[name]]` or `name = [...]` there is an error),
/// by key path with array indices removed.
pub const TABLES: [&str; 8] =
    ["bgp", "anycast", "role", "health", "control", "metrics", "bgp.neighbor.bfd", "service.role"];

/// A right value for a key, by key path with array indices removed (`bgp.neighbor.remote_as`),
/// shown after `example:` in error messages.
pub fn example(path: &str) -> Option<&'static str> {
    // A service's checks and role take the same keys as `[[health.check]]` and `[role]`.
    if let Some(k) = path.strip_prefix("service.check") {
        return example(&format!("health.check{k}"));
    }
    if let Some(k) = path.strip_prefix("service.role.") {
        return example(&format!("role.{k}"));
    }
    Some(match path {
        "service" => "[[service]] with name = \"dns\" and prefixes = [\"203.0.113.53/32\"]",
        "service.name" => "name = \"dns\"",
        "service.prefixes" => "prefixes = [\"203.0.113.53/32\", \"2001:db8:53::53/128\"]",
        "service.standby" => "standby = \"withdraw\"",
        "service.prepend" => "prepend = 3",
        "service.standby_med" => "standby_med = 1000",
        "service.role" => "[service.role] with source = \"keepalived\" and instance = \"VI_DNS\"",
        "service.on_change" | "anycast.on_change" => "on_change = [\"/usr/local/bin/anycast-changed\"]",
        "health.check.pidfile" => "pidfile = \"/run/unbound.pid\"",
        "health.check.pattern" => "pattern = \"^unbound$\"",
        "health.check.full" => "full = false",
        "health.check.unit" => "unit = \"unbound.service\"",
        "health.check.interface" => "interface = \"lo\"",
        "health.check.body" => "body = \"OK\"",
        "health.check.ca" => "ca = \"/etc/anycastd/health-ca.pem\"",
        "bgp" => "[bgp] with local_as = 65124 and at least one [[bgp.neighbor]]",
        "bgp.local_as" => "local_as = 65124",
        "bgp.router_id" => "router_id = \"198.51.100.124\"",
        "bgp.local_ip" => "local_ip = \"198.51.100.124\"",
        "bgp.hold_time" | "bgp.neighbor.hold_time" => "hold_time = 9",
        "bgp.connect_retry" => "connect_retry = 5",
        "bgp.port" | "bgp.neighbor.port" => "port = 179",
        "bgp.listen" => "listen = true",
        "bgp.graceful_restart" => "graceful_restart = false",
        "bgp.next_hop_ipv4" => "next_hop_ipv4 = \"192.0.2.11\"",
        "bgp.next_hop_ipv6" => "next_hop_ipv6 = \"2001:db8:2::11\"",
        "bgp.neighbor" => "[[bgp.neighbor]] with remote_ip = \"192.0.2.1\" and remote_as = 65000",
        "bgp.neighbor.remote_ip" => "remote_ip = \"192.0.2.1\"",
        "bgp.neighbor.remote_as" => "remote_as = 65000",
        "bgp.neighbor.local_ip" => "local_ip = \"198.51.100.124\"",
        "bgp.neighbor.md5" => "md5 = \"a-shared-secret\"",
        "bgp.neighbor.md5_file" => "md5_file = \"/etc/anycastd/bgp.key\"",
        "bgp.neighbor.passive" => "passive = false",
        "bgp.neighbor.ttl_security" => "ttl_security = true",
        "bgp.neighbor.multihop" => "multihop = 2",
        "bgp.neighbor.max_prefixes" => "max_prefixes = 1000",
        "bgp.neighbor.med" => "med = 0",
        "bgp.neighbor.communities" => "communities = [\"65124:100\", \"NO_EXPORT\"]",
        "bgp.neighbor.large_communities" => "large_communities = [\"65124:1:2\"]",
        "bgp.neighbor.bfd" => "bfd = { interval_ms = 300, multiplier = 3 }",
        "bgp.neighbor.bfd.interval_ms" => "interval_ms = 300",
        "bgp.neighbor.bfd.multiplier" => "multiplier = 3",
        "bgp.neighbor.bfd.auth" => "auth = \"meticulous-keyed-sha1\"",
        "bgp.neighbor.bfd.key_id" => "key_id = 1",
        "bgp.neighbor.bfd.key" => "key = \"a-bfd-secret\"",
        "bgp.neighbor.bfd.key_file" => "key_file = \"/etc/anycastd/bfd.key\"",
        "bgp.neighbor.bfd.strict" => "strict = true",
        "bgp.neighbor.tcp_ao" => "tcp_ao = { send_id = 1, recv_id = 1, key_file = \"/etc/anycastd/ao.key\" }",
        "bgp.neighbor.tcp_ao.send_id" | "bgp.neighbor.tcp_ao.recv_id" => "send_id = 1",
        "bgp.neighbor.tcp_ao.algorithm" => "algorithm = \"hmac-sha1\"",
        "bgp.neighbor.tcp_ao.key" => "key = \"a-tcp-ao-secret\"",
        "bgp.neighbor.tcp_ao.key_file" => "key_file = \"/etc/anycastd/ao.key\"",
        "anycast" => "[anycast] with prefixes = [\"203.0.113.124/32\"]",
        "anycast.prefixes" => "prefixes = [\"203.0.113.124/32\", \"2001:db8:124::1/128\"]",
        "anycast.standby" => "standby = \"withdraw\"",
        "anycast.prepend" => "prepend = 3",
        "anycast.standby_med" => "standby_med = 1000",
        "anycast.manage_loopback" => "manage_loopback = false",
        "anycast.interface" => "interface = \"lo\"",
        "anycast.preference" => "preference = 200",
        "anycast.preference_via" => "preference_via = \"med\"",
        "role" => "[role] with source = \"keepalived\"",
        "health" | "health.check" => {
            "[[health.check]] with name = \"service\", type = \"tcp\", address = \"127.0.0.1:8080\""
        }
        "control" => "[control] with socket = \"/run/anycastd/anycastd.sock\"",
        "metrics" => "[metrics] with listen = \"127.0.0.1:9179\"",
        "role.source" => "source = \"keepalived\"",
        "role.path" => "path = \"/run/anycastd/role\"",
        "role.track_file" => "track_file = \"/run/anycastd/track\"",
        "role.track_weight" => "track_weight = -254",
        "role.pidfile" => "pidfile = \"/run/vrrp.pid\"",
        "role.grace_ms" => "grace_ms = 3000",
        "role.instance" => "instance = \"anycast\"",
        "role.vrid" => "vrid = 124",
        "role.endpoints" => "endpoints = [\"http://192.0.2.101:2379\", \"http://192.0.2.102:2379\"]",
        "role.election" => "election = \"/anycastd/dns\"",
        "role.candidate" => "candidate = \"nodea\"",
        "role.key" => "key = \"/service/pg/leader\"",
        "role.value" => "value = \"nodea\"",
        "role.lease_ttl_ms" => "lease_ttl_ms = 3000",
        "role.fence_margin_ms" => "fence_margin_ms = 500",
        "role.campaign_delay_ms" => "campaign_delay_ms = 0",
        "role.request_timeout_ms" => "request_timeout_ms = 1000",
        "role.tls" => "tls = { ca = \"/etc/anycastd/etcd-ca.pem\" }",
        "role.tls.ca" => "ca = \"/etc/anycastd/etcd-ca.pem\"",
        "role.tls.cert" => "cert = \"/etc/anycastd/etcd-client.pem\"",
        "role.tls.key" => "key = \"/etc/anycastd/etcd-client.key\"",
        "role.username" => "username = \"anycastd\"",
        "role.password_file" => "password_file = \"/etc/anycastd/etcd.password\"",
        "role.command" => "command = [\"/usr/local/bin/am-i-primary\"]",
        "role.interval_ms" | "health.check.interval_ms" => "interval_ms = 1000",
        "health.check.name" => "name = \"service\"",
        "health.check.type" => "type = \"tcp\"",
        "health.check.command" => "command = [\"/usr/local/bin/health.sh\"]",
        "health.check.shell" => "shell = false",
        "health.check.address" => "address = \"127.0.0.1:8080\"",
        "health.check.url" => "url = \"http://127.0.0.1:8080/health\"",
        "health.check.status" => "status = [200, 299]",
        "health.check.path" => "path = \"/run/service.ok\"",
        "health.check.invert" => "invert = false",
        "health.check.timeout_ms" => "timeout_ms = 500",
        "health.check.rise" => "rise = 3",
        "health.check.fall" => "fall = 3",
        "control.socket" => "socket = \"/run/anycastd/anycastd.sock\"",
        "control.state_dir" => "state_dir = \"/var/lib/anycastd\"",
        "control.group" => "group = \"anycastd-ops\"",
        "metrics.listen" => "listen = \"127.0.0.1:9179\"",
        _ => return None,
    })
}
