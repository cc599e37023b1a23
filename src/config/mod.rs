//! anycastd's configuration: the typed `Config` the daemon runs on and the one way to get it,
//! `Config::from_str` / `Config::load`, which parse the TOML file into raw serde structs
//! (`raw`), then check and convert every value into a type that cannot hold an illegal value
//! (`validate` for `[bgp]`/`[anycast]`, `bfd` for a neighbor's `bfd` table, `ha` for
//! `[role]`/`[[health.check]]`, `endpoints` for
//! `[control]`/`[metrics]`, on the helpers of `values` and the value types of `crate::types`).
//! Every problem is reported as `file:line:col: key = value: what is wrong; example: right
//! value`, all of them where practical. Editing the file for `anycastd bgp set` lives in
//! `edit`. The only I/O here is reading the file and key files.

mod bfd;
pub mod edit;
mod endpoints;
mod error;
mod etcd;
mod ha;
mod raw;
mod spans;
mod tcp_ao;
mod validate;
mod values;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU8;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

pub use crate::types::{Asn, HoldTime, Md5Key, RouterId, ValueError};
pub use crate::wire::community::{Community, LargeCommunity};
pub use endpoints::DEFAULT_SOCKET;
pub use ha::DEFAULT_ROLE_PATH;
pub use tcp_ao::{TcpAo, TcpAoAlgorithm};

/// The configuration file the daemon and the client commands read when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/anycastd/anycastd.toml";
pub use error::{ConfigError, Diagnostic, DiagnosticKind};

use error::Reporter;
use spans::SpanIndex;

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[bgp]`.
    pub bgp: Bgp,
    /// `[anycast]`.
    pub anycast: Anycast,
    /// `[role]`; `Static` when absent.
    pub role: RoleSource,
    /// `[role] track_file`: the role engine's health input, written by anycastd (on by
    /// default for `source = "keepalived"`, `None` when off).
    pub track: Option<TrackFile>,
    /// `[[health.check]]`, in file order; may be empty (always healthy).
    pub health: Vec<HealthCheck>,
    /// `[control]`.
    pub control: Control,
    /// `[metrics]`; `None` when absent (no metrics endpoint).
    pub metrics: Option<Metrics>,
    /// `[[service]]`, in file order (see [`Config::services`] for every service, the implicit
    /// `default` one included).
    pub services: Vec<Service>,
    /// `[anycast] on_change`: the hook of the implicit `default` service.
    pub on_change: Option<Vec<String>>,
    /// Things that load but probably do not do what was meant; log them at `warn`.
    pub warnings: Vec<Diagnostic>,
}

/// The name of the implicit service made of `[anycast] prefixes`, `[[health.check]]` and
/// `[role]`.
pub const DEFAULT_SERVICE: &str = "default";

/// One anycast service: prefixes announced and withdrawn together, on their own checks and
/// role (`[[service]]`, or the implicit `default` one).
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// 1-32 characters of a-z 0-9 _ -; unique; `default` only for the implicit one.
    pub name: String,
    /// Non-empty, no prefix claimed by two services.
    pub prefixes: Vec<IpNet>,
    pub standby: Standby,
    /// `[[service.check]]` (names unique within the service); empty: always healthy.
    pub checks: Vec<HealthCheck>,
    /// `[service.role]`; `None`: the node's `[role]` (and its track file).
    pub role: Option<ServiceRole>,
    /// `on_change = ["/path/cmd", "arg"]`: run with SERVICE, STATE and REASON in the
    /// environment on every change of this service's advert state.
    pub on_change: Option<Vec<String>>,
}

/// A service's own role source, with its own track file.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRole {
    pub source: RoleSource,
    pub track: Option<TrackFile>,
}

/// `[bgp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bgp {
    pub local_as: Asn,
    pub router_id: RouterId,
    /// Default session source address; each neighbour's own is in [`Neighbor::local_ip`].
    pub local_ip: Option<IpAddr>,
    /// Default hold time offered in OPEN (90 s unless set).
    pub hold_time: HoldTime,
    /// ConnectRetryTimer (5 s unless set).
    pub connect_retry: Duration,
    /// Listen port and default remote port (179 unless set).
    pub port: u16,
    /// Accept passive (incoming) connections.
    pub listen: bool,
    /// Advertise the Graceful Restart capability (RFC 4724); off unless set.
    pub graceful_restart: bool,
    /// Next hop for IPv4 prefixes sent over IPv6 sessions, and for IPv6 prefixes sent over
    /// IPv4 sessions (MP-BGP). A session's own family uses its local_ip.
    pub next_hop_ipv4: Option<std::net::Ipv4Addr>,
    pub next_hop_ipv6: Option<std::net::Ipv6Addr>,
    /// At least one, distinct remote addresses.
    pub neighbors: Vec<Neighbor>,
}

/// How the IP TTL of a session is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlMode {
    /// Neither `multihop` nor `ttl_security`: the speaker's default (1 for eBGP).
    Default,
    /// `multihop = n`: send with TTL n.
    Multihop(NonZeroU8),
    /// `ttl_security = true`: GTSM, send 255 and require at least 255 (RFC 5082).
    Security,
}

/// `[[bgp.neighbor]]`, with defaults from `[bgp]` already applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbor {
    pub remote_ip: IpAddr,
    pub remote_as: Asn,
    /// Session source address, same family as `remote_ip`.
    pub local_ip: IpAddr,
    /// TCP-MD5 key from `md5`, or read from `md5_file` at load.
    pub md5: Option<Md5Key>,
    /// Never initiate; wait for the peer to connect.
    pub passive: bool,
    pub ttl: TtlMode,
    pub hold_time: HoldTime,
    /// Maximum prefixes accepted from the peer (RFC 4486 Cease/1 beyond it).
    pub max_prefixes: Option<u32>,
    /// Remote port to connect to.
    pub port: u16,
    /// MULTI_EXIT_DISC on our announcements.
    pub med: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    /// BFD with this neighbor (`bfd = { … }`), off when absent.
    pub bfd: Option<Bfd>,
    /// TCP-AO (`tcp_ao = { … }`, RFC 5925), never together with `md5`. Not implemented: a
    /// neighbor with it never starts, and says why (see [`TcpAo`]).
    pub tcp_ao: Option<TcpAo>,
}

/// BFD for one neighbor (RFC 5880; single hop, RFC 5881, or multihop, RFC 5883, when the
/// neighbor is `multihop`): `bfd = { interval_ms, multiplier, auth, key_id, key | key_file,
/// strict }`. Every key is optional: an operator writing `bfd = {}` gets a sane session,
/// 300 ms × 3, unauthenticated, strict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bfd {
    /// Desired Min TX Interval = Required Min RX Interval (`interval_ms`, [`BFD_INTERVAL_MS`];
    /// 300 ms unless set).
    pub interval: Duration,
    /// Detect Mult (`multiplier`, 1–255; 3 unless set).
    pub multiplier: NonZeroU8,
    /// Authentication (`auth`, `key_id` (1 unless set), `key` or `key_file`); `None`: no
    /// authentication. The key never shows in `Debug`.
    pub auth: Option<crate::bfd::AuthConfig>,
    /// `strict` (default true): BGP advertises nothing to this neighbor until BFD is Up.
    /// `false` lets BGP run while BFD is down (with a status warning).
    pub strict: bool,
}

/// The shortest BFD interval accepted (`interval_ms`).
pub const BFD_MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The `interval_ms` values accepted (`bfd.interval_ms`, `bgp set --bfd-interval-ms`).
pub const BFD_INTERVAL_MS: RangeInclusive<u16> = 10..=60_000;

impl Bgp {
    /// The next hops to announce to `n`: its own local_ip for its family, the configured
    /// next_hop_ipv4 / next_hop_ipv6 for the other.
    pub fn next_hops(&self, n: &Neighbor) -> (Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>) {
        match n.local_ip {
            IpAddr::V4(a) => (Some(a), self.next_hop_ipv6),
            IpAddr::V6(a) => (self.next_hop_ipv4, Some(a)),
        }
    }
}

impl Neighbor {
    /// True when the peer is in another AS.
    pub fn is_ebgp(&self, local_as: Asn) -> bool {
        self.remote_as != local_as
    }
}

/// What a standby node does with the anycast prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standby {
    /// Withdraw them (the default).
    Withdraw,
    /// Keep announcing with the local AS prepended `count` (1-10) extra times, and the MED.
    Prepend { count: u8, med: Option<u32> },
}

/// `[anycast]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Anycast {
    /// Non-empty, no host bits set, no duplicates.
    pub prefixes: Vec<IpNet>,
    pub standby: Standby,
    /// Add/remove the prefixes as addresses on `interface`.
    pub manage_loopback: bool,
    pub interface: String,
    /// `preference` (0-255, higher = more preferred): the split-brain guard. `None` when unset.
    pub preference: Option<Preference>,
}

/// This node's preference among the nodes that may announce the same prefixes
/// (`[anycast] preference`, `preference_via`): when two nodes both believe they are primary,
/// every router still prefers the one with the higher preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    /// 0-255, higher = more preferred.
    pub value: u8,
    pub via: PreferVia,
}

/// Which path attributes carry the preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferVia {
    /// MED = 255 - preference (the default; compared between paths from the same AS).
    Med,
    /// (255 - preference) / 64 extra AS prepends (0-3; for nodes in different ASes).
    AsPath,
    /// Both.
    Both,
}

impl Preference {
    /// The MED this preference puts on an announcement, if it is carried by the MED.
    pub fn med(&self) -> Option<u32> {
        matches!(self.via, PreferVia::Med | PreferVia::Both).then(|| 255 - u32::from(self.value))
    }

    /// The extra AS prepends this preference puts on an announcement (0-3).
    pub fn prepend(&self) -> u8 {
        if matches!(self.via, PreferVia::AsPath | PreferVia::Both) {
            (255 - self.value) / 64
        } else {
            0
        }
    }
}

/// `[role] track_file` and `track_weight`: a keepalived `track_file` that anycastd keeps at `0`
/// while the node is healthy and not drained, and at `weight` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    pub path: PathBuf,
    /// Negative; -254 (the default) puts the VRRP instance into FAULT.
    pub weight: i32,
}

/// Default `[role] track_file` for `source = "keepalived"`.
pub const DEFAULT_TRACK_FILE: &str = "/run/anycastd/track";
/// keepalived's VRRP-process pid files, tried in order when `[role] pidfile` is not set
/// (keepalived 2.2 writes `/run/vrrp.pid`; `-r`/`--vrrp_pid` changes it).
pub const DEFAULT_KEEPALIVED_PIDFILES: [&str; 2] = ["/run/keepalived/vrrp.pid", "/run/vrrp.pid"];

/// `[role] source = "keepalived"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepalivedRole {
    /// Where the last state keepalived reported is saved (`path`), with the boot it was
    /// reported in.
    pub path: PathBuf,
    /// How keepalived's liveness is watched (`pidfile`).
    pub pidfile: EnginePid,
    /// How long, after a start, a saved state from this boot is honoured when keepalived's
    /// process cannot confirm it (`grace_ms`, default 3000).
    pub grace: Duration,
    /// The VRRP instance followed (`instance`): `notify-fifo` lines of other instances are
    /// ignored. `None`: every instance.
    pub instance: Option<String>,
    /// The VRRP router id (`vrid`) whose adverts from other nodes mean "split brain suspected"
    /// while keepalived reports MASTER here. `None`: not watched.
    pub vrid: Option<u8>,
}

impl KeepalivedRole {
    /// The defaults of `[role] source = "keepalived"` with the state saved at `path`.
    pub fn at(path: PathBuf) -> Self {
        KeepalivedRole { path, pidfile: EnginePid::Default, grace: Duration::from_secs(3), instance: None, vrid: None }
    }

    /// [`at`](Self::at) without the liveness watch (tests with no keepalived).
    pub fn unwatched(path: PathBuf) -> Self {
        KeepalivedRole { pidfile: EnginePid::Off, ..KeepalivedRole::at(path) }
    }
}

/// Where keepalived's VRRP process id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePid {
    /// `pidfile` not set: the first of [`DEFAULT_KEEPALIVED_PIDFILES`] that exists.
    Default,
    /// `pidfile = "/path"`.
    File(PathBuf),
    /// `pidfile = ""`: not watched (keepalived's silent death goes unseen; check-config warns).
    Off,
}

/// Where the primary/standby role comes from (`[role]`).
#[derive(Debug, Clone, PartialEq)]
pub enum RoleSource {
    /// Always primary.
    Static,
    /// keepalived reports its state through `anycastd notify` / `notify-fifo`.
    Keepalived(KeepalivedRole),
    /// A file holding `primary` or `standby`.
    File { path: PathBuf },
    /// A command run every `interval`; exit status 0 means primary.
    Exec { command: Vec<String>, interval: Duration },
    /// etcd decides (`source = "etcd"`: an election; `"etcd-key"`: follow a key), fenced by
    /// the lease: primary only while this node knows it still holds (sees) it.
    Etcd(EtcdRole),
}

/// `[role] source = "etcd"` or `"etcd-key"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdRole {
    pub conn: EtcdConn,
    pub mode: EtcdMode,
    /// The lease's TTL (`lease_ttl_ms`, whole seconds, at least 2 s, default 3 s); in follow
    /// mode how long a confirmed value is believed.
    pub lease_ttl: Duration,
    /// Withdrawn this long before the lease could expire at etcd (`fence_margin_ms`, default
    /// 500 ms, less than a third of the TTL).
    pub margin: Duration,
    /// How long a fresh candidate waits before it campaigns (`campaign_delay_ms`, default 0):
    /// a node that should lead this service when all start together campaigns first.
    pub campaign_delay: Duration,
}

/// How to reach etcd (its JSON gRPC gateway, `/v3/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConn {
    /// `endpoints`, tried in turn; all `http://` or all `https://`, path `/`.
    pub endpoints: Vec<HttpUrl>,
    /// `tls = { ca, cert, key }`: the server verified against `ca` (else the system roots),
    /// and a client certificate when `cert` and `key` are set.
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `username` and `password_file` (0600, read at each authentication).
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// One request's time limit (`request_timeout_ms`, default: a third of the TTL).
    pub timeout: Duration,
}

/// Election or follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdMode {
    /// Campaign in `election` as `candidate` (default: the router id): primary while leader.
    Election { election: String, candidate: String },
    /// Primary while `key` holds `value`.
    Follow { key: String, value: String },
}

/// One `[[health.check]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// Unique among checks.
    pub name: String,
    pub probe: Probe,
    /// At least 50 ms.
    pub interval: Duration,
    /// More than 0 and at most `interval`.
    pub timeout: Duration,
    /// Consecutive successes to become healthy.
    pub rise: u32,
    /// Consecutive failures to become unhealthy.
    pub fall: u32,
}

/// What a health check does.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Run `argv` (already `["/bin/sh", "-c", cmd]` when `shell = true`); exit 0 is healthy.
    Exec { argv: Vec<String> },
    /// TCP connect succeeds.
    Tcp { address: SocketAddr },
    /// HTTP GET answers with a status in `status` (and, with `body`, a body holding that
    /// text within its first 64 KiB); `ca`: a PEM file of trusted roots for https.
    Http { url: HttpUrl, status: RangeInclusive<u16>, body: Option<String>, ca: Option<PathBuf> },
    /// The file exists (or, with `invert`, does not). Event-driven (inotify).
    File { path: PathBuf, invert: bool },
    /// The process runs. Event-driven: its exit (pidfd) is a failure at once.
    Process { target: ProcessTarget },
    /// The systemd unit's ActiveState is `active` or `reloading` (`ha::event::systemd`).
    /// Event-driven (D-Bus PropertiesChanged): failed, inactive, deactivating fail at once.
    Systemd { unit: String },
    /// The address is on the interface and the interface is up. Event-driven (netlink).
    Address { address: IpAddr, interface: String },
}

/// Which process a `process` check follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessTarget {
    /// `pidfile = "/run/unbound.pid"`: the process whose id the file holds.
    Pidfile(PathBuf),
    /// `pattern = "^unbound$"`: a regular expression matched against the process name
    /// (`/proc/PID/comm`, like `pgrep`), or against the whole command line with `full = true`
    /// (like `pgrep -f`). Any matching process (other than anycastd's own) is healthy.
    Pattern { regex: Pattern, full: bool },
}

/// A `process` check's pattern, compiled once when the config is read; compared and shown by
/// its text.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex_lite::Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, regex_lite::Error> {
        Ok(Pattern { source: source.to_string(), regex: regex_lite::Regex::new(source)? })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn regex(&self) -> &regex_lite::Regex {
        &self.regex
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

/// An `http://` or `https://` URL split for a minimal client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https://`: TLS (rustls), the server certificate verified against `ca` or the system
    /// roots, for `host`.
    pub tls: bool,
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    /// `group`: its members may read `status` through the socket (directory 0750, socket
    /// 0660, both owned by this group); `None`: root and the daemon's uid only (0700/0600).
    pub group: Option<ControlGroup>,
}

/// `[control] group`, resolved on this host when the config is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlGroup {
    pub name: String,
    pub gid: u32,
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    pub listen: SocketAddr,
}

impl Config {
    /// Every service: the implicit `default` one first (when `[anycast] prefixes` is not
    /// empty), then `[[service]]` in file order.
    pub fn services(&self) -> Vec<Service> {
        let mut out = Vec::with_capacity(self.services.len() + 1);
        if !self.anycast.prefixes.is_empty() {
            out.push(Service {
                name: DEFAULT_SERVICE.to_string(),
                prefixes: self.anycast.prefixes.clone(),
                standby: self.anycast.standby,
                checks: self.health.clone(),
                role: None,
                on_change: self.on_change.clone(),
            });
        }
        out.extend(self.services.iter().cloned());
        out
    }

    /// Every prefix of every service (what `manage_loopback` puts on the interface).
    pub fn all_prefixes(&self) -> Vec<IpNet> {
        let mut out = self.anycast.prefixes.clone();
        for s in &self.services {
            out.extend(s.prefixes.iter().copied());
        }
        out
    }
}

/// Most deserialization passes made to collect several unknown keys.
const MAX_PASSES: usize = 32;

impl Config {
    /// Parses and validates `text`; `file` is used in messages only.
    ///
    /// Reads the `md5_file` and `bfd.key_file` key files it names. All errors found are returned, in file order;
    /// if a value has the wrong type or a required key is missing, later checks are skipped.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let doc = match toml_edit::Document::parse(text) {
            Ok(d) => d,
            Err(e) => {
                let index = SpanIndex::default();
                let r = Reporter::new(file, text, &index);
                let span = e.span().unwrap_or(0..0);
                let msg = format!("TOML syntax error: {}", e.message().trim_end());
                let d = r.at(span.start, "", DiagnosticKind::Syntax, msg);
                return Err(ConfigError::Invalid(vec![d]));
            }
        };
        let index = SpanIndex::build(&doc);
        let mut r = Reporter::new(file, text, &index);
        let raw = deserialize(&mut r);
        let config = raw.and_then(|raw| validate::config(raw, &mut r));
        match config {
            Some(mut c) if r.errors.is_empty() => {
                r.warnings.sort_by_key(|d| (d.line, d.column));
                c.warnings = r.warnings;
                Ok(c)
            }
            _ => {
                r.errors.sort_by_key(|d| (d.line, d.column));
                Err(ConfigError::Invalid(r.errors))
            }
        }
    }

    /// Reads and validates the file at `path`. Adds a warning when the file holds an inline
    /// `md5` or `bfd.key` key yet is readable by group or others.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
        let bytes = std::fs::read(path).map_err(io)?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let good = e.as_bytes().get(..e.utf8_error().valid_up_to()).unwrap_or_default();
                let prefix = String::from_utf8_lossy(good);
                let (line, column) = spans::line_col(&prefix, prefix.len());
                return Err(ConfigError::Invalid(vec![Diagnostic {
                    file: path.to_path_buf(),
                    line,
                    column,
                    key: String::new(),
                    kind: DiagnosticKind::Syntax,
                    message: "the file is not valid UTF-8".into(),
                }]));
            }
        };
        let mut config = Config::from_str(&text, path)?;
        if let Some(w) = open_key_warning(path, &text) {
            config.warnings.push(w);
        }
        Ok(config)
    }
}

/// Deserializes `RawConfig`; on an unknown key, blanks it out and tries again so that several
/// unknown keys are reported at once. Returns `None` on any other serde error.
fn deserialize(r: &mut Reporter<'_>) -> Option<raw::RawConfig> {
    let mut src = r.src.to_string();
    let mut last_span = None;
    for _ in 0..MAX_PASSES {
        let err = match toml::from_str::<raw::RawConfig>(&src) {
            Ok(raw) => return Some(raw),
            Err(e) => e,
        };
        if err.span().is_some() && err.span() == last_span {
            return None;
        }
        last_span = err.span();
        let path = r.serde_error(&err)?;
        let ranges = r.index.ranges_under(&path);
        if ranges.is_empty() {
            return None;
        }
        for range in ranges {
            blank(&mut src, range);
        }
        // Blanking a dotted key can leave stray dots: stop rather than report their errors.
        if toml_edit::Document::parse(src.as_str()).is_err() {
            return None;
        }
    }
    None
}

/// Replaces the characters in `range` by spaces, keeping line breaks and byte offsets.
fn blank(src: &mut String, range: std::ops::Range<usize>) {
    let Some(part) = src.get(range.clone()) else {
        return;
    };
    let replaced: String = part
        .chars()
        .map(|c| match c {
            '\n' | '\r' => c.to_string(),
            _ => " ".repeat(c.len_utf8()),
        })
        .collect();
    src.replace_range(range, &replaced);
}

/// A warning when `text` holds an inline `md5 =`, `bfd.key =` or `tcp_ao.key =` key but the file is
/// group/other readable.
fn open_key_warning(path: &Path, text: &str) -> Option<Diagnostic> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o077 == 0 {
        return None;
    }
    let doc = toml_edit::Document::parse(text).ok()?;
    let index = SpanIndex::build(&doc);
    let r = Reporter::new(path, text, &index);
    let neighbors = doc.get("bgp")?.get("neighbor")?.as_array_of_tables()?;
    let inline_key = |t: &toml_edit::Table, table: &str| {
        t.get(table).and_then(|b| b.as_table_like()).is_some_and(|b| b.contains_key("key"))
    };
    let (key, what) = neighbors.iter().enumerate().find_map(|(i, t)| {
        if t.contains_key("md5") {
            Some((format!("bgp.neighbor[{i}].md5"), "a TCP-MD5 key"))
        } else if inline_key(t, "bfd") {
            Some((format!("bgp.neighbor[{i}].bfd.key"), "a BFD key"))
        } else {
            inline_key(t, "tcp_ao").then(|| (format!("bgp.neighbor[{i}].tcp_ao.key"), "a TCP-AO key"))
        }
    })?;
    let msg =
        format!("{key}: this file holds {what} but has mode {:03o}; run `chmod 600 {}`", mode & 0o777, path.display());
    Some(r.at(index.offset(&key), &key, DiagnosticKind::Warning, msg))
}
