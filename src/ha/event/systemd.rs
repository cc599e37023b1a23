//! `systemd` checks: a unit's ActiveState over D-Bus. (To be written.)

use super::Watch;
use std::time::Duration;

/// Whether `unit` is active. (Stub.)
pub async fn probe(_unit: &str, _timeout: Duration) -> (bool, String) {
    (false, "systemd checks are not implemented yet".into())
}

/// The watcher of `unit`. (Stub: polled only.)
pub fn watch(_unit: &str) -> Option<Watch> {
    None
}
