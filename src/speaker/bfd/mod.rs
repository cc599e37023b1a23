//! The tokio edge of BFD: UDP sockets and timers around the pure `crate::bfd` sessions
//! (RFC 5881 single hop, RFC 5883 multihop), on a thread of its own.
//!
//! Why a thread: the daemon's runtime is single-threaded, and a neighbor task parsing a
//! full table holds it for milliseconds at a time; BFD packets must leave on time whatever BGP
//! does (a late packet is a false "node dead" at the router). The BFD thread runs its own
//! current-thread runtime with every session on it: one [`TxSocket`](socket::TxSocket) per
//! session (its own source port, RFC 5881 §4), one [`RxSocket`](socket::RxSocket) per local
//! address and port, shared by the sessions on it and demultiplexed by Your Discriminator, or
//! by addresses while that is zero (RFC 5880 §6.3).
//!
//! Why it still stops when anycastd hangs: it transmits only while the decision loop beats
//! its [`Liveness`] (see `crate::liveness`).
//!
//! The BGP coupling (RFC 5882) is the neighbor task's: it watches its session's
//! [`BfdLink`] (Up or not, and how often it went down) and reads the status cell for
//! `status`.

mod driver;
pub mod socket;

use crate::config;
use crate::liveness::Liveness;
use crate::status::BfdStatus;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// One neighbor's BFD session as the speaker asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdSpec {
    /// The neighbor's `local_ip`: packets leave from it and are received on it.
    pub local: IpAddr,
    pub remote: IpAddr,
    /// RFC 5883 (UDP 4784) for a `multihop` neighbor, RFC 5881 (UDP 3784) otherwise.
    pub multihop: bool,
    pub config: config::Bfd,
}

/// What the BGP coupling needs to know of a session: whether it is Up, and how often it left
/// Up (so a Down and Up between two looks is not missed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdLink {
    pub up: bool,
    /// Transitions out of Up so far.
    pub downs: u64,
    /// The Diagnostic of the last transition out of Up.
    pub diag: crate::bfd::Diag,
}

impl Default for BfdLink {
    fn default() -> Self {
        BfdLink { up: false, downs: 0, diag: crate::bfd::Diag::None }
    }
}

/// A running session, for as long as its neighbor holds this: dropping it takes the session
/// administratively down (AdminDown is sent, RFC 5882 §3.2) and removes it.
#[derive(Debug)]
pub struct BfdHandle {
    discriminator: u32,
    link: watch::Receiver<BfdLink>,
    status: Arc<Mutex<BfdStatus>>,
    cmds: Arc<driver::Mailbox>,
}

impl BfdHandle {
    /// The session's Up/Down, to wait on.
    pub fn link(&mut self) -> &mut watch::Receiver<BfdLink> {
        &mut self.link
    }

    /// A handle that changes the session's timers.
    pub fn control(&self) -> BfdControl {
        BfdControl { discriminator: self.discriminator, cmds: self.cmds.clone() }
    }

    /// The status cell the BFD thread keeps current (shared with the speaker's `status`).
    pub fn status_cell(&self) -> Arc<Mutex<BfdStatus>> {
        self.status.clone()
    }
}

/// Changes a running session's timers (a reload): cloneable, holds no session.
#[derive(Clone, Debug)]
pub struct BfdControl {
    discriminator: u32,
    cmds: Arc<driver::Mailbox>,
}

impl BfdControl {
    /// New Desired Min TX = Required Min RX and Detect Mult, applied with a Poll Sequence
    /// while Up (RFC 5880 §6.8.3).
    pub fn set_timers(&self, interval: Duration, multiplier: std::num::NonZeroU8) {
        let _ = self.cmds.send(driver::Cmd::SetTimers { discriminator: self.discriminator, interval, multiplier });
    }
}

impl Drop for BfdHandle {
    fn drop(&mut self) {
        let _ = self.cmds.send(driver::Cmd::Remove(self.discriminator));
    }
}

/// A snapshot of a status cell.
pub fn read_status(cell: &Mutex<BfdStatus>) -> BfdStatus {
    cell.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The BFD thread and the way to add sessions to it.
#[derive(Debug)]
pub struct BfdRunner {
    cmds: Arc<driver::Mailbox>,
    next_discriminator: AtomicU32,
    seed: u64,
}

impl BfdRunner {
    /// Starts the BFD thread. `seed` (from the OS in the daemon) picks the discriminators,
    /// jitter and initial authentication sequence numbers.
    pub fn start(liveness: Liveness, seed: u64) -> std::io::Result<BfdRunner> {
        let (tx, rx) = driver::mailbox()?;
        let tx = Arc::new(tx);
        std::thread::Builder::new().name("anycastd-bfd".into()).spawn(move || driver::run(liveness, rx))?;
        let first = (crate::splitmix::SplitMix64::new(seed).next_u64() as u32).max(1);
        Ok(BfdRunner { cmds: tx, next_discriminator: AtomicU32::new(first), seed })
    }

    /// Starts a session for `spec`: it sends its first (slow) packet at once.
    pub fn add(&self, spec: &BfdSpec) -> BfdHandle {
        let mut d = self.next_discriminator.fetch_add(1, Ordering::Relaxed);
        if d == 0 {
            d = self.next_discriminator.fetch_add(1, Ordering::Relaxed);
        }
        let (link_tx, link_rx) = watch::channel(BfdLink::default());
        let status = Arc::new(Mutex::new(driver::initial_status(spec)));
        let seed = self.seed ^ u64::from(d).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let _ = self.cmds.send(driver::Cmd::Add {
            discriminator: d,
            spec: Box::new(spec.clone()),
            link: link_tx,
            status: status.clone(),
            seed,
        });
        BfdHandle { discriminator: d, link: link_rx, status, cmds: self.cmds.clone() }
    }

    /// Takes every remaining session down (AdminDown sent) and ends the thread, waiting at
    /// most `limit`.
    pub async fn shutdown(&self, limit: Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.cmds.send(driver::Cmd::Shutdown(tx)) {
            let _ = tokio::time::timeout(limit, rx).await;
        }
    }
}
