//! `address` checks: the address on its interface, the interface up. (To be written.)

use super::Watch;
use std::net::IpAddr;
use std::time::Duration;

/// Whether `address` is on `interface` and the interface is up. (Stub.)
pub async fn probe(_address: IpAddr, _interface: &str, _timeout: Duration) -> (bool, String) {
    (false, "address checks are not implemented yet".into())
}

/// The watcher of `address` on `interface`. (Stub: polled only.)
pub fn watch(_address: IpAddr, _interface: &str) -> Option<Watch> {
    None
}
