//! The speaker's view of one neighbor, for the loopback suites: its status, and a bounded poll
//! until the status shows something (status changes publish no event a test could await).

use super::raw_peer::R;
use anycastd::speaker::Speaker;
use anycastd::status::NeighborStatus;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::time::Instant;

pub fn status_of(sp: &Speaker, ip: Ipv4Addr) -> R<NeighborStatus> {
    sp.status()
        .into_iter()
        .find(|s| s.remote_ip == Some(IpAddr::V4(ip)))
        .ok_or_else(|| format!("no status for neighbor {ip}"))
}

/// Polls the neighbor's status until `f` holds; the last status is in the error.
pub async fn wait_status(
    sp: &Speaker,
    ip: Ipv4Addr,
    limit: Duration,
    what: &str,
    f: impl Fn(&NeighborStatus) -> bool,
) -> R<NeighborStatus> {
    let end = Instant::now() + limit;
    loop {
        let s = status_of(sp, ip)?;
        if f(&s) {
            return Ok(s);
        }
        if Instant::now() >= end {
            return Err(format!("{what} not reached within {limit:?}; status: {s:?}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `f` every 10 ms until it holds (true) or `limit` passes (false).
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
