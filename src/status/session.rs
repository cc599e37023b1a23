//! The per-neighbor session detail of the status document (`anycastd status --neighbor IP`):
//! what the OPENs negotiated, who the peer says it is and what it can do, what we sent. Filled
//! by the speaker from the pure session; every string in it that came from the peer (a
//! capability's hostname) is escaped before it gets here. No I/O.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// One neighbor's session as the daemon knows it. The negotiated values are `None` until both
/// OPENs are exchanged (OpenConfirm, Established) and again once the connection is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionStatus {
    /// The Hold Time we offer in our OPEN, seconds.
    pub hold_time_offered: u16,
    /// The negotiated Hold Time (the smaller of both, RFC 4271 §4.2), seconds; 0 = no hold
    /// timer.
    pub hold_time: Option<u16>,
    /// KeepaliveTime: a third of the negotiated Hold Time (RFC 4271 §10), seconds; `None`
    /// when the Hold Time is 0 or nothing is negotiated.
    pub keepalive: Option<u16>,
    /// The Hold Time the peer offered, seconds.
    pub peer_hold_time: Option<u16>,
    /// The peer's BGP Identifier (router id) and AS, from its OPEN.
    pub peer_router_id: Option<Ipv4Addr>,
    pub peer_as: Option<u32>,
    /// The capabilities of the peer's OPEN, one line each (`multiprotocol ipv4-unicast`,
    /// `four-octet-as 65000`, `fqdn rtr1.example`…), peer text escaped.
    pub peer_capabilities: Vec<String>,
    /// Families both sides offered (`ipv4-unicast`, `ipv6-unicast`).
    pub families: Vec<String>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    pub extended_message: bool,
    pub graceful_restart: bool,
    /// Prefix announcements and withdrawals we sent since start, per family.
    pub prefixes_announced_v4: u64,
    pub prefixes_announced_v6: u64,
    pub prefixes_withdrawn_v4: u64,
    pub prefixes_withdrawn_v6: u64,
    /// NOTIFICATIONs sent and received since start.
    pub notifications_sent: u64,
    pub notifications_received: u64,
}
