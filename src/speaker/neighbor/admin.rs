//! `anycastd neighbor reset|disable|enable` in the neighbor's task: the operator's Ceases
//! (RFC 4486 Administrative Reset and Administrative Shutdown, with an RFC 9003 shutdown
//! communication) and the AdminDown state, which fails closed: no connection made or accepted,
//! no route wanted, no restart by BFD, until `enable`.

use super::{now, Task, BFD_SETTLE};
use crate::control::NeighborAction;
use crate::session::PeerEvent;
use tokio::time::Instant;
use tracing::info;

/// The RFC 9003 shutdown communications of `neighbor reset` and `neighbor disable`.
pub const RESET_MESSAGE: &str = "session reset by the operator (anycastd neighbor reset)";
pub const DISABLE_MESSAGE: &str = "neighbor disabled by the operator (anycastd neighbor disable)";

impl Task {
    /// `neighbor reset|disable|enable`: what was done, or why nothing was.
    pub(super) fn on_admin(&mut self, action: NeighborAction) -> Result<String, String> {
        let ip = self.spec.remote.ip();
        match action {
            NeighborAction::Reset if self.admin_down => {
                Err(format!("neighbor {ip} is disabled: `anycastd neighbor enable {ip}` starts it again"))
            }
            NeighborAction::Reset => {
                info!("session reset by the operator: Cease / Administrative Reset, connecting again");
                let acts = self.peer.handle(now(), PeerEvent::AdminReset { reason: Some(RESET_MESSAGE.into()) });
                self.apply(acts);
                Ok(format!(
                    "neighbor {ip}: reset (Cease / Administrative Reset sent where a session was up), connecting again"
                ))
            }
            NeighborAction::Disable if self.admin_down => Ok(format!("neighbor {ip}: already disabled")),
            NeighborAction::Disable => {
                info!("neighbor disabled by the operator: Cease / Administrative Shutdown, staying down");
                self.admin_down = true;
                self.bfd_restart_at = None;
                let acts = self.peer.handle(now(), PeerEvent::ManualStop { reason: Some(DISABLE_MESSAGE.into()) });
                self.apply(acts);
                // Fail closed: nothing stays wanted for it, whatever starts it by mistake.
                let acts = self.peer.set_routes(now(), self.desired_routes());
                self.apply(acts);
                Ok(format!("neighbor {ip}: disabled (Cease / Administrative Shutdown sent where a session was up); it stays down until `anycastd neighbor enable {ip}`"))
            }
            NeighborAction::Enable if !self.admin_down => Ok(format!("neighbor {ip}: not disabled, nothing to do")),
            NeighborAction::Enable => {
                info!("neighbor enabled by the operator");
                self.admin_down = false;
                self.last_error = None;
                let acts = self.peer.set_routes(now(), self.desired_routes());
                self.apply(acts);
                if self.held_by_bfd {
                    // BFD may have come Up while the neighbor was disabled.
                    if self.bfd_link.up {
                        self.bfd_restart_at = Some(Instant::now() + BFD_SETTLE);
                    }
                    return Ok(format!("neighbor {ip}: enabled; BGP starts once BFD is Up"));
                }
                let acts = self.peer.handle(now(), PeerEvent::ManualStart);
                self.apply(acts);
                Ok(format!("neighbor {ip}: enabled, connecting"))
            }
        }
    }
}
