//! `process` checks: a pidfile or a name pattern; pidfd for the exit. (To be written.)

use super::Watch;
use crate::config::ProcessTarget;

/// Whether the process runs. (Stub.)
pub async fn probe(_target: &ProcessTarget) -> (bool, String) {
    (false, "process checks are not implemented yet".into())
}

/// The watcher of `target`. (Stub: polled only.)
pub fn watch(_target: &ProcessTarget) -> Option<Watch> {
    None
}
