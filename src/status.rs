//! The status document: what the control socket answers to `status`, what
//! `anycastd status --json` prints, and what `anycastd status` (text) and `/metrics` read.
//! One typed serde document for all of them, so a renamed or retyped field is a compile error
//! in every reader instead of a silent "unknown" or 0; the readers destructure it without `..`,
//! so a new field makes each of them decide what to do with it. The JSON keys are the API
//! (README, "control protocol"): fields are only ever added, never renamed. Reading is
//! tolerant: a key a daemon does not send takes its default. No I/O here.

use crate::ha::status::HaStatus;
use crate::ha::track::TrackStatus;
use crate::session::State;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

mod session;
pub use session::SessionStatus;

/// The daemon's state: the HA decision and every neighbor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusDoc {
    /// anycastd's version.
    pub version: String,
    /// Role, health, drain and what is advertised (keys at the top level of the document).
    #[serde(flatten)]
    pub ha: HaStatus,
    pub neighbors: Vec<NeighborStatus>,
    /// Inbound BGP connections refused by the listeners, by reason.
    pub inbound: InboundStatus,
    /// `[role] track_file`: the value anycastd keeps there for keepalived, and why; `None`
    /// when there is none.
    pub track: Option<TrackStatus>,
    /// Every service (the implicit `default` first), each with its own decision; the top-level
    /// HA keys repeat the first one's, as before services existed.
    pub services: Vec<ServiceStatus>,
    /// The kernel's TCP-MD5 drop counters for the daemon's network namespace since it started;
    /// `None` when they cannot be read (no `/proc/net/netstat`, no TCP-MD5 in the kernel).
    pub tcp_md5: Option<Md5Counters>,
}

/// Segments the kernel dropped for TCP-MD5 (`TcpExt` in `/proc/net/netstat`): counted for the
/// whole network namespace, not per peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Md5Counters {
    /// `TCPMD5Failure`: the MD5 digest did not verify (the keys differ).
    pub failure: u64,
    /// `TCPMD5NotFound`: a key is set for the sender, its segment had no MD5 option.
    pub not_found: u64,
    /// `TCPMD5Unexpected`: the segment had an MD5 option, no key is set for its sender.
    pub unexpected: u64,
}

/// One anycast service (`[[service]]`, or the implicit `default`): its prefixes and its own
/// decision (role, checks, drain, what is advertised).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceStatus {
    pub name: String,
    /// Every prefix of the service, advertised or not.
    pub prefixes: Vec<String>,
    /// Transitions of this service from advertising to withdrawn.
    pub failovers: u64,
    /// The service's own `[service.role] track_file`; `None` when it follows the node's role
    /// (whose track file is the document's `track`) or has none.
    pub track: Option<TrackStatus>,
    #[serde(flatten)]
    pub ha: HaStatus,
}

/// What the BGP listeners refused since start: every connection closed without a word
/// (RFC 4271 §8.2.1.1) is counted under one reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InboundStatus {
    /// From an address that is no configured neighbor.
    pub refused_unconfigured: u64,
    /// From a neighbor's address, but to a local address (listener) other than its `local_ip`
    /// and port: never adopted, whatever that listener's keys.
    pub refused_wrong_listener: u64,
    /// From a neighbor whose MD5 key or GTSM this listener does not hold, or that is
    /// disabled (its key could not be installed): never adopted unsigned.
    pub refused_unprotected: u64,
    /// The neighbor's task had connections queued already (or was stopping).
    pub refused_busy: u64,
    /// `accept()` failures (EMFILE, ENFILE, …), each followed by a back-off.
    pub accept_errors: u64,
}

/// A neighbor's state: one of the six of RFC 4271 §8.2.2, `Disabled` for a neighbor that
/// could not start (the kernel refused its MD5 key, …; `last_error` says why), or `AdminDown`
/// for one the operator stopped (`anycastd neighbor disable`) until `neighbor enable`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NeighborState {
    #[default]
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
    Disabled,
    AdminDown,
}

impl NeighborState {
    /// The BGP states, in RFC order (what `/metrics` labels).
    pub const BGP: [NeighborState; 6] = [
        NeighborState::Idle,
        NeighborState::Connect,
        NeighborState::Active,
        NeighborState::OpenSent,
        NeighborState::OpenConfirm,
        NeighborState::Established,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NeighborState::Idle => "Idle",
            NeighborState::Connect => "Connect",
            NeighborState::Active => "Active",
            NeighborState::OpenSent => "OpenSent",
            NeighborState::OpenConfirm => "OpenConfirm",
            NeighborState::Established => "Established",
            NeighborState::Disabled => "Disabled",
            NeighborState::AdminDown => "AdminDown",
        }
    }
}

impl From<State> for NeighborState {
    fn from(s: State) -> Self {
        match s {
            State::Idle => NeighborState::Idle,
            State::Connect => NeighborState::Connect,
            State::Active => NeighborState::Active,
            State::OpenSent => NeighborState::OpenSent,
            State::OpenConfirm => NeighborState::OpenConfirm,
            State::Established => NeighborState::Established,
        }
    }
}

impl fmt::Display for NeighborState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What `status` shows for one neighbor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NeighborStatus {
    pub remote_ip: Option<IpAddr>,
    pub remote_as: u32,
    pub state: NeighborState,
    /// How long the session has been Established.
    pub established_secs: Option<u64>,
    pub md5: bool,
    /// Why a neighbor stuck in Connect/Active cannot connect, read from the kernel's TCP-MD5
    /// counters ("segments from 192.0.2.1 fail MD5 verification: the keys differ"); `None`
    /// when they counted nothing that concerns it.
    pub md5_diagnosis: Option<String>,
    /// The session's detail (`status --neighbor IP`); `None` from a daemon that does not send
    /// it, or for a neighbor that never started.
    pub session: Option<SessionStatus>,
    pub last_error: Option<String>,
    pub last_notification_sent: Option<String>,
    pub last_notification_received: Option<String>,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
    /// Exact when `max_prefixes` keeps the set; otherwise announcements minus withdrawals.
    pub prefixes_received_v4: u64,
    pub prefixes_received_v6: u64,
    pub update_errors: u64,
    /// Prefixes the neighbor has from us.
    pub advertised: Vec<String>,
    /// Decision → UPDATE written to the socket, for the latest advertisement change (µs).
    pub last_update_latency_us: Option<u64>,
    pub established_count: u64,
    pub flaps: u64,
    /// BFD with this neighbor; `None` when it has no `bfd` configured.
    pub bfd: Option<BfdStatus>,
    /// Every NOTIFICATION sent and received since start, by direction and (code, subcode).
    pub notifications: Vec<NotificationCount>,
}

/// Which way a NOTIFICATION went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Sent,
    Received,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

/// NOTIFICATIONs of one (code, subcode) in one direction. `code` and `subcode` are `None` for
/// the ones counted together once a peer had sent too many distinct pairs (`/metrics` labels
/// them `other`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationCount {
    pub direction: Direction,
    pub code: Option<u8>,
    pub subcode: Option<u8>,
    pub count: u64,
}

impl NotificationCount {
    /// The status entries for a session's two tables, sent first.
    pub fn list(
        sent: &crate::session::NotificationCounts,
        received: &crate::session::NotificationCounts,
    ) -> Vec<NotificationCount> {
        let mut v = Vec::new();
        for (direction, t) in [(Direction::Sent, sent), (Direction::Received, received)] {
            for &(code, subcode, count) in &t.by_kind {
                v.push(NotificationCount { direction, code: Some(code), subcode: Some(subcode), count });
            }
            if t.other > 0 {
                v.push(NotificationCount { direction, code: None, subcode: None, count: t.other });
            }
        }
        v
    }
}

/// One neighbor's BFD session (RFC 5880 §6.8.1 variables, as `status` shows them). States and
/// Diagnostics are the RFC's names ("Up", "Control Detection Time Expired").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BfdStatus {
    /// bfd.SessionState: "AdminDown", "Down", "Init" or "Up".
    pub state: String,
    /// bfd.RemoteSessionState.
    pub remote_state: String,
    /// bfd.LocalDiag: the Diagnostic we send (why our session last went down).
    pub local_diag: String,
    /// The Diagnostic in the remote's last packet.
    pub remote_diag: String,
    pub my_discriminator: u32,
    /// 0 while nothing valid was heard within a Detection Time.
    pub remote_discriminator: u32,
    /// RFC 5883 multihop (UDP 4784) rather than RFC 5881 single hop (UDP 3784).
    pub multihop: bool,
    /// BGP advertises nothing to this neighbor until BFD is Up.
    pub strict: bool,
    /// The authentication type ("meticulous-keyed-sha1", …), `None` without.
    pub auth: Option<String>,
    /// Configured interval (Desired Min TX = Required Min RX) and multiplier.
    pub interval_ms: u64,
    pub multiplier: u8,
    /// The negotiated transmission interval (before jitter), µs; `None` while not sending.
    pub tx_interval_us: Option<u64>,
    /// The Detection Time: how long the remote may stay silent before we declare it down, µs.
    pub detection_time_us: Option<u64>,
    /// The remote's Required Min RX, Desired Min TX and Detect Mult, from its last packet.
    pub remote_min_rx_us: u64,
    pub remote_min_tx_us: u64,
    pub remote_multiplier: u8,
    /// Transitions into Up and out of it.
    pub up_count: u64,
    pub down_count: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Received packets discarded, by reason: the RFC 5880 §6.8.6 checks in snake case
    /// (`bad_digest`, `key_id_mismatch`, `auth_missing`, `unknown_your_discriminator`, …), and
    /// the transport's `bad_ttl` (not 255 on a single hop) and `oversize`.
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Packets not sent because the decision loop had stalled (liveness, see README).
    pub tx_suppressed: u64,
    /// Why the session is not Up, when something tells (e.g. "authentication failed: …").
    pub problem: Option<String>,
}

impl NeighborStatus {
    /// Established and not held back by a strict BFD session that is not Up: the neighbor
    /// has (or is sent) the advertisement.
    pub fn serving(&self) -> bool {
        self.state == NeighborState::Established && self.bfd.as_ref().is_none_or(|b| b.state == "Up" || !b.strict)
    }
}

impl StatusDoc {
    /// Every neighbor Established, and its BFD session (if it has one) Up.
    pub fn all_established(&self) -> bool {
        self.neighbors
            .iter()
            .all(|n| n.state == NeighborState::Established && n.bfd.as_ref().is_none_or(|b| b.state == "Up"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::decision::{AdvertState, Role};
    use crate::ha::status::{CheckStatus, DrainState, DrainStatus};

    /// A document with every field set, as a daemon with one check and one neighbor sends it.
    fn full() -> StatusDoc {
        StatusDoc {
            version: "0.1.0".into(),
            ha: HaStatus {
                role: Role::Primary,
                role_detail: "static".into(),
                healthy: true,
                drained: false,
                drain: DrainStatus { state: DrainState::None, remaining_ms: None },
                advertising: vec!["203.0.113.124/32".into()],
                advert_state: AdvertState::Standby(3),
                prepend: 3,
                med: Some(50),
                communities: vec![],
                reason: "advertising".into(),
                checks: vec![CheckStatus {
                    name: "svc".into(),
                    healthy: true,
                    ok: Some(true),
                    detail: Some("ok".into()),
                    duration_ms: Some(3),
                    age_ms: Some(40),
                    ..Default::default()
                }],
                role_engine: Some(crate::ha::engine::EngineStatus {
                    up: true,
                    pid: Some(1234),
                    pidfile: "/run/vrrp.pid".into(),
                    detail: "pid 1234 alive (watching /run/vrrp.pid)".into(),
                }),
                split_brain: Some(crate::ha::vrrp::SplitBrainStatus {
                    vrid: 124,
                    source: "192.0.2.12".into(),
                    priority: 100,
                    version: 3,
                    interval_ms: 1000,
                    age_ms: 300,
                    message: "split brain suspected: …".into(),
                }),
                vrrp_watch: Some(crate::ha::vrrp::VrrpWatchStatus {
                    vrid: 124,
                    listening: true,
                    note: None,
                    adverts_from_others: 5,
                    adverts_while_master: 2,
                }),
                etcd: Some(crate::ha::etcd::EtcdStatus {
                    mode: "election".into(),
                    name: "/anycastd/dns".into(),
                    candidate: "nodea".into(),
                    candidacy: "leader".into(),
                    leader: Some("nodea".into()),
                    fencing_token: Some(42),
                    lease_id: Some(0x694d),
                    lease_ttl_ms: 3000,
                    fence_margin_ms: 500,
                    fence_in_ms: Some(2100),
                    endpoint: Some("http://192.0.2.101:2379/".into()),
                    error: None,
                    won: 1,
                }),
                decisions: vec![crate::ha::history::DecisionRecord {
                    at: "2026-12-03T10:40:49.123Z".into(),
                    at_unix_ms: 1_796_294_449_123,
                    state: AdvertState::Advertising,
                    advertised: vec!["203.0.113.124/32".into()],
                    cause: "role primary: static".into(),
                    reason: "advertising".into(),
                }],
            },
            neighbors: vec![NeighborStatus {
                remote_ip: Some("192.0.2.1".parse().unwrap()),
                remote_as: 65000,
                state: NeighborState::Established,
                established_secs: Some(12),
                md5: true,
                advertised: vec!["203.0.113.124/32".into()],
                ..Default::default()
            }],
            inbound: InboundStatus::default(),
            track: Some(TrackStatus {
                path: "/run/anycastd/track".into(),
                value: 0,
                why: "healthy, not drained, 1/1 neighbors serving".into(),
                error: None,
            }),
            services: Vec::new(),
            tcp_md5: Some(Md5Counters { failure: 3, not_found: 0, unexpected: 0 }),
        }
    }

    /// The keys of the document before it was typed (main at 9943d7c, `Daemon::status`'s
    /// `json!`): every one is still there, at the same place, with the same JSON type (and
    /// `inbound`, `role_engine`, `split_brain`, `vrrp_watch`, `services`, added since).
    #[test]
    fn json_keys_are_those_of_the_untyped_document() {
        let v = serde_json::to_value(full()).unwrap();
        let top = [
            "version",
            "role",
            "role_detail",
            "healthy",
            "drained",
            "drain",
            "advertising",
            "advert_state",
            "prepend",
            "med",
            "communities",
            "reason",
            "checks",
            "neighbors",
            "inbound",
            "track",
            "role_engine",
            "split_brain",
            "vrrp_watch",
            "etcd",
            "services",
            "decisions",
            "tcp_md5",
        ];
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = top.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        let check = &v["checks"][0];
        for k in [
            "name",
            "healthy",
            "stalled",
            "consecutive_ok",
            "consecutive_fail",
            "rise",
            "fall",
            "interval_ms",
            "ok",
            "detail",
            "duration_ms",
            "age_ms",
        ] {
            assert!(check.get(k).is_some(), "check key {k} missing in {check}");
        }
        let e = &v["etcd"];
        for k in [
            "mode",
            "name",
            "candidate",
            "candidacy",
            "leader",
            "fencing_token",
            "lease_id",
            "lease_ttl_ms",
            "fence_margin_ms",
            "fence_in_ms",
            "endpoint",
            "error",
            "won",
        ] {
            assert!(e.get(k).is_some(), "etcd key {k} missing in {e}");
        }
        let n = &v["neighbors"][0];
        for k in [
            "remote_ip",
            "remote_as",
            "state",
            "established_secs",
            "md5",
            "last_error",
            "last_notification_sent",
            "last_notification_received",
            "msgs_in",
            "msgs_out",
            "updates_in",
            "updates_out",
            "prefixes_received_v4",
            "prefixes_received_v6",
            "update_errors",
            "advertised",
            "last_update_latency_us",
            "established_count",
            "flaps",
        ] {
            assert!(n.get(k).is_some(), "neighbor key {k} missing in {n}");
        }
        assert_eq!(v["role"], "primary");
        assert_eq!(v["drain"], serde_json::json!({"state": "none", "remaining_ms": null}));
        assert_eq!(v["advert_state"], serde_json::json!({"standby": 3}));
        assert_eq!(n["state"], "Established");
        assert_eq!(
            v["inbound"],
            serde_json::json!({"refused_unconfigured": 0, "refused_wrong_listener": 0,
                               "refused_unprotected": 0, "refused_busy": 0, "accept_errors": 0})
        );
        assert_eq!(n["remote_ip"], "192.0.2.1");
    }

    #[test]
    fn round_trips_and_reads_documents_with_missing_or_extra_keys() {
        let d = full();
        let text = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<StatusDoc>(&text).unwrap(), d);
        // An older daemon's document without some keys, a newer one's with extra keys.
        let old: StatusDoc = serde_json::from_str(
            r#"{"role":"standby","healthy":true,"neighbors":[{"state":"Disabled","future":1}],"later":{}}"#,
        )
        .unwrap();
        assert_eq!(old.ha.role, Role::Standby);
        assert!(old.ha.advertising.is_empty());
        assert_eq!(old.neighbors[0].state, NeighborState::Disabled);
        assert!(!old.all_established());
    }

    #[test]
    fn bgp_states_match_the_session_states() {
        for (s, n) in
            [State::Idle, State::Connect, State::Active, State::OpenSent, State::OpenConfirm, State::Established]
                .into_iter()
                .zip(NeighborState::BGP)
        {
            assert_eq!(NeighborState::from(s), n);
            assert_eq!(n.name(), s.name());
        }
    }
}
