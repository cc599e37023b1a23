//! systemd integration without a library: `sd_notify` datagrams to `$NOTIFY_SOCKET` (READY,
//! STATUS, WATCHDOG, STOPPING) and the watchdog interval from `$WATCHDOG_USEC`. Outside systemd
//! (no `NOTIFY_SOCKET`) every call is a no-op.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

fn target() -> Option<SocketAddr> {
    let p = std::env::var_os("NOTIFY_SOCKET")?;
    let b = std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str());
    match b.split_first() {
        Some((b'@', name)) => SocketAddr::from_abstract_name(name).ok(),
        Some(_) => SocketAddr::from_pathname(std::path::Path::new(&p)).ok(),
        None => None,
    }
}

/// Sends one notification ("READY=1", "STATUS=…", "WATCHDOG=1", "STOPPING=1"). Returns
/// whether a systemd socket was there to receive it.
pub fn notify(state: &str) -> bool {
    let Some(addr) = target() else { return false };
    let Ok(sock) = UnixDatagram::unbound() else { return false };
    sock.send_to_addr(state.as_bytes(), &addr).is_ok()
}

/// Half the watchdog period systemd expects (`WatchdogSec=`), if it set one for us.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_the_notify_socket() {
        let dir = std::env::temp_dir().join(format!("acd-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        // SAFETY of the test: this test is the only one touching NOTIFY_SOCKET in this binary.
        unsafe_env_set("NOTIFY_SOCKET", path.to_str().unwrap());
        assert!(notify("READY=1"));
        let mut b = [0u8; 64];
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"READY=1");
        unsafe_env_set("WATCHDOG_USEC", "5000000");
        assert_eq!(watchdog_interval(), Some(Duration::from_millis(2500)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[allow(unsafe_code)]
    fn unsafe_env_set(k: &str, v: &str) {
        // SAFETY: called from a single test before any other thread reads these variables.
        unsafe { std::env::set_var(k, v) }
    }
}
