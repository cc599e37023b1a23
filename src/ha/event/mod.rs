//! Event-driven health checks: what wakes a check's task the moment the thing it checks may
//! have changed, so that a failure is seen at once instead of at the next poll. The poll stays
//! (every `interval_ms`) as the safety net for lost events. One module per check type, each with
//! its probe (what `probe::run` calls) and its watcher:
//! - `file`: inotify on the file and its directory (create, delete, rename, attributes);
//! - `process`: pidfd of the process (its exit), and inotify on its pidfile;
//! - `systemd`: the unit's ActiveState over D-Bus (PropertiesChanged signals);
//! - `address`: netlink address and link notifications for the interface.
//!
//! A watcher sends a [`Wake`] per event: with an outcome when the event itself says what
//! happened (a pidfd that became readable: the process exited), else the check's probe runs at
//! once. Either way the result goes through the check's `rise`/`fall` like a polled one.

pub mod address;
pub mod file;
pub mod process;
pub mod systemd;

#[cfg(test)]
mod address_tests;
#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod process_tests;
#[cfg(test)]
mod systemd_tests;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

use super::probe::ProbeOutcome;
use crate::config::Probe;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Events queued per check before the watcher waits (a burst collapses: one wake is enough).
pub const QUEUE: usize = 4;

/// One event: the check should look again now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    /// What the event itself says, when it says enough (`None`: run the probe).
    pub outcome: Option<ProbeOutcome>,
}

/// A running watcher; dropping it stops it.
pub struct Watch {
    pub rx: mpsc::Receiver<Wake>,
    task: JoinHandle<()>,
}

impl Watch {
    /// Wraps a watcher task that sends on the other end of `rx`.
    pub fn new(rx: mpsc::Receiver<Wake>, task: JoinHandle<()>) -> Self {
        Watch { rx, task }
    }

    /// The next event; pending forever once the watcher has ended.
    pub async fn next(&mut self) -> Wake {
        match self.rx.recv().await {
            Some(w) => w,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Queues a wake for the check: one without an outcome is dropped when the queue is full (it
/// holds a wake already); one with an outcome waits for room, so that it is not lost behind
/// plain wakes. `false` when the check is gone.
async fn send(tx: &mpsc::Sender<Wake>, outcome: Option<ProbeOutcome>) -> bool {
    match outcome {
        Some(_) => tx.send(Wake { outcome }).await.is_ok(),
        None => !matches!(tx.try_send(Wake { outcome }), Err(mpsc::error::TrySendError::Closed(_))),
    }
}

/// The directory a watcher puts its inotify watch on (`.` for a bare name) and the name to
/// filter its events on.
fn dir_and_name(path: &std::path::Path) -> (std::path::PathBuf, Option<std::ffi::OsString>) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    (dir, path.file_name().map(|n| n.to_os_string()))
}

/// What an event says by itself (no probe ran: no duration).
fn said(ok: bool, detail: String) -> ProbeOutcome {
    ProbeOutcome { ok, detail, duration: std::time::Duration::ZERO }
}

/// The watcher for `probe`, for the types that have one; `None` for exec, tcp and http
/// (polled only). Must be called inside a tokio runtime.
pub fn watch(probe: &Probe) -> Option<Watch> {
    match probe {
        Probe::File { path, invert } => file::watch(path, *invert),
        Probe::Process { target } => process::watch(target),
        Probe::Systemd { unit } => systemd::watch(unit),
        Probe::Address { address, interface } => address::watch(*address, interface),
        Probe::Exec { .. } | Probe::Tcp { .. } | Probe::Http { .. } => None,
    }
}
