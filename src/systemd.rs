//! systemd integration without a library: `sd_notify` datagrams to `$NOTIFY_SOCKET` (READY,
//! STATUS, WATCHDOG, STOPPING) and the watchdog interval from `$WATCHDOG_USEC`. Outside systemd
//! (no `NOTIFY_SOCKET`) every call is a no-op.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

fn target() -> Option<SocketAddr> {
    target_of(std::env::var_os("NOTIFY_SOCKET")?)
}

fn target_of(p: std::ffi::OsString) -> Option<SocketAddr> {
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
    target().is_some_and(|addr| send(&addr, state))
}

fn send(addr: &SocketAddr, state: &str) -> bool {
    let Ok(sock) = UnixDatagram::unbound() else { return false };
    sock.send_to_addr(state.as_bytes(), addr).is_ok()
}

/// Half the watchdog period systemd expects (`WatchdogSec=`), if it set one for us.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_of(std::env::var("WATCHDOG_USEC").ok(), std::env::var("WATCHDOG_PID").ok())
}

fn watchdog_of(usec: Option<String>, pid: Option<String>) -> Option<Duration> {
    let usec: u64 = usec?.parse().ok()?;
    if let Some(pid) = pid {
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
        let addr = target_of(path.clone().into_os_string()).unwrap();
        assert!(send(&addr, "READY=1"));
        let mut b = [0u8; 64];
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"READY=1");
        assert!(target_of("@anycastd-test".into()).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn watchdog_is_half_the_period_and_ours_only() {
        assert_eq!(watchdog_of(Some("5000000".into()), None), Some(Duration::from_millis(2500)));
        assert_eq!(
            watchdog_of(Some("5000000".into()), Some(std::process::id().to_string())),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(watchdog_of(Some("5000000".into()), Some("1".into())), None);
        assert_eq!(watchdog_of(Some("0".into()), None), None);
        assert_eq!(watchdog_of(None, None), None);
    }
}
