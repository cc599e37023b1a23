//! Raw → typed conversion of the daemon's local endpoints: `[control]` (the control socket, its
//! read-only group and the state directory) and `[metrics]` (the Prometheus listener). Pure
//! apart from the `Reporter` and the group-database lookup of `[control] group`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::error::{DiagnosticKind as K, Reporter};
use super::raw::{RawControl, RawMetrics};
use super::values::abs_path;
use super::{Control, ControlGroup, Metrics};

/// The control socket when `[control] socket` is not set.
pub const DEFAULT_SOCKET: &str = "/run/anycastd/anycastd.sock";
/// Where drain state and the keepalived role are kept when `[control] state_dir` is not set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/anycastd";

/// `[control]` with defaults.
pub fn control(raw: Option<RawControl>, r: &mut Reporter<'_>) -> Option<Control> {
    let raw = raw.unwrap_or(RawControl { socket: None, state_dir: None, group: None });
    let socket = match raw.socket {
        Some(s) => abs_path(r, "control.socket", &s),
        None => Some(PathBuf::from(DEFAULT_SOCKET)),
    };
    let state_dir = match raw.state_dir {
        Some(s) => abs_path(r, "control.state_dir", &s),
        None => Some(PathBuf::from(DEFAULT_STATE_DIR)),
    };
    let group = match raw.group {
        Some(name) => control_group(r, &name).map(Some),
        None => Some(None),
    };
    Some(Control { socket: socket?, state_dir: state_dir?, group: group? })
}

/// `[control] group`: resolved here (getgrnam_r), so a group missing on this host stops the
/// load (and `check-config`) with its line and column rather than the daemon's start.
fn control_group(r: &mut Reporter<'_>, name: &str) -> Option<ControlGroup> {
    const KEY: &str = "control.group";
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control() || c == ':') {
        r.error(KEY, K::InvalidValue, "not a group name");
        return None;
    }
    let what = match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => return Some(ControlGroup { name: name.to_string(), gid: g.gid.as_raw() }),
        Ok(None) => {
            format!("no group named {name} on this host; create it (groupadd {name}) or remove [control] group")
        }
        Err(e) => format!("cannot look up group {name}: {e}"),
    };
    // The fix is in the message; an example of another name would not help.
    let d = r.at(r.index.offset(KEY), KEY, K::InvalidValue, format!("{}: {what}", r.shown(KEY)));
    r.errors.push(d);
    None
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
