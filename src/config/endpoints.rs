//! Raw → typed conversion of the daemon's local endpoints: `[control]` (the control socket and
//! the state directory) and `[metrics]` (the Prometheus listener). Pure apart from the
//! `Reporter`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::error::{DiagnosticKind as K, Reporter};
use super::raw::{RawControl, RawMetrics};
use super::values::abs_path;
use super::{Control, Metrics};

/// The control socket when `[control] socket` is not set.
pub const DEFAULT_SOCKET: &str = "/run/anycastd/anycastd.sock";
/// Where drain state and the keepalived role are kept when `[control] state_dir` is not set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/anycastd";

/// `[control]` with defaults.
pub fn control(raw: Option<RawControl>, r: &mut Reporter<'_>) -> Option<Control> {
    let raw = raw.unwrap_or(RawControl { socket: None, state_dir: None });
    let socket = match raw.socket {
        Some(s) => abs_path(r, "control.socket", &s),
        None => Some(PathBuf::from(DEFAULT_SOCKET)),
    };
    let state_dir = match raw.state_dir {
        Some(s) => abs_path(r, "control.state_dir", &s),
        None => Some(PathBuf::from(DEFAULT_STATE_DIR)),
    };
    Some(Control { socket: socket?, state_dir: state_dir? })
}

/// `[metrics]`: `Some(None)` when absent.
pub fn metrics(raw: Option<RawMetrics>, r: &mut Reporter<'_>) -> Option<Option<Metrics>> {
    let Some(m) = raw else { return Some(None) };
    match m.listen.trim().parse::<SocketAddr>() {
        Ok(listen) => Some(Some(Metrics { listen })),
        Err(_) => {
            r.error("metrics.listen", K::InvalidValue, "not an address:port");
            None
        }
    }
}
